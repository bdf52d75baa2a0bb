//! Direct email paging against a real SMTP server (aiosmtpd) on loopback:
//! plain, STARTTLS and TLS with a CA generated here, with and without
//! authentication; pages from a live rule with their resolution; and a dead
//! mail server that must not slow reconciliation.

mod common;

use std::time::Duration;

use common::smtp::{subject, SmtpMode, SmtpSink, TestCa};
use common::*;
use driftwatch::config::{EmailConfig, SmtpTls};
use driftwatch::notify::email::Mailer;
use driftwatch::notify::{Mail, PagerPolicy};

const T: Duration = Duration::from_secs(15);

fn email(port: u16, tls: SmtpTls, ca: Option<&TestCa>, auth: Option<(&str, &str)>) -> EmailConfig {
    EmailConfig {
        host: if tls == SmtpTls::None { "127.0.0.1" } else { "localhost" }.into(),
        port,
        tls,
        username: auth.map(|a| a.0.to_owned()),
        password: auth.map(|a| driftwatch::config::Secret::new(a.1)),
        ca_pem: ca.map(|c| std::fs::read(&c.ca_pem).unwrap()),
        timeout: Duration::from_secs(3),
        from: "driftwatch <driftwatch@example.com>".parse().unwrap(),
        to: vec!["oncall@example.com".parse().unwrap()],
        policy: PagerPolicy {
            repeat_interval: Duration::from_secs(3600),
            max_per_hour: 10,
        },
        queue: 8,
    }
}

fn mail(subject: &str) -> Mail {
    Mail {
        subject: subject.into(),
        body: "body line\n".into(),
    }
}

#[tokio::test]
async fn delivers_in_plain_text_to_a_local_relay() {
    let dir = TempDir::new("smtp-plain");
    let Some(sink) = SmtpSink::start(&dir, SmtpMode::Plain, None) else {
        return;
    };
    let mailer = Mailer::new(email(sink.port, SmtpTls::None, None, None)).unwrap();
    mailer.deliver(&mail("[driftwatch] plain")).await.unwrap();
    let m = sink.wait_for("plain", T, |m| subject(m) == "[driftwatch] plain").await;
    assert!(m.contains("To: oncall@example.com"), "{m}");
    assert!(m.contains("From: driftwatch <driftwatch@example.com>"), "{m}");
    assert!(m.contains("body line"), "{m}");
}

#[tokio::test]
async fn delivers_over_starttls_with_a_private_ca_and_a_password() {
    let dir = TempDir::new("smtp-starttls");
    let ca = TestCa::generate(dir.path());
    let auth = Some(("driftwatch", "s3cret"));
    let Some(sink) = SmtpSink::start(&dir, SmtpMode::Starttls(&ca), auth) else {
        return;
    };
    let mailer = Mailer::new(email(sink.port, SmtpTls::Starttls, Some(&ca), auth)).unwrap();
    mailer.deliver(&mail("[driftwatch] starttls")).await.unwrap();
    sink.wait_for("over STARTTLS", T, |m| subject(m) == "[driftwatch] starttls")
        .await;

    // The server insists on STARTTLS: a plain client is refused.
    let plain = Mailer::new(email(sink.port, SmtpTls::None, None, None)).unwrap();
    assert!(plain.deliver(&mail("never")).await.is_err());
    // A wrong password is refused.
    let wrong = Mailer::new(email(
        sink.port,
        SmtpTls::Starttls,
        Some(&ca),
        Some(("driftwatch", "nope")),
    ))
    .unwrap();
    assert!(wrong.deliver(&mail("never")).await.is_err());
    // Without the private CA the certificate is not trusted.
    let untrusting = Mailer::new(email(sink.port, SmtpTls::Starttls, None, auth)).unwrap();
    let err = untrusting.deliver(&mail("never")).await.unwrap_err();
    assert!(format!("{err:#}").to_lowercase().contains("certificate"), "{err:#}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn delivers_over_implicit_tls() {
    let dir = TempDir::new("smtp-tls");
    let ca = TestCa::generate(dir.path());
    let Some(sink) = SmtpSink::start(&dir, SmtpMode::Tls(&ca), None) else {
        return;
    };
    let mailer = Mailer::new(email(sink.port, SmtpTls::Tls, Some(&ca), None)).unwrap();
    mailer.deliver(&mail("[driftwatch] tls")).await.unwrap();
    sink.wait_for("over TLS", T, |m| subject(m) == "[driftwatch] tls").await;
}

#[tokio::test]
async fn a_server_that_is_down_is_an_error_not_a_hang() {
    let mut cfg = email(free_port(), SmtpTls::None, None, None);
    cfg.timeout = Duration::from_millis(500);
    let mailer = Mailer::new(cfg).unwrap();
    let started = std::time::Instant::now();
    assert!(mailer.deliver(&mail("x")).await.is_err());
    // Three attempts, two pauses (1 s + 3 s): bounded.
    assert!(started.elapsed() < Duration::from_secs(10));
}

const STALE_ROW_ALERT: &str = "rules:
  - id: db-stale-row
    condition: {stale_db_row: {}}
    severity: warning
    actions: [alert]
";

fn paging_config(sim: &SimHandle, dir: &TempDir, db: &str, smtp_port: u16, extra_email: &str) -> String {
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("r.yaml"), STALE_ROW_ALERT).unwrap();
    format!(
        "{}rules: {{dir: {}}}\nnotify:\n  email:\n    smtp: 127.0.0.1:{smtp_port}\n    tls: none\n    from: driftwatch@example.com\n    to: [oncall@example.com]\n{extra_email}",
        fast_config(&sim.addrs, db, NEXWAVE_MAPPING),
        rules_dir.display()
    )
}

#[tokio::test]
async fn a_rule_pages_by_mail_once_and_mails_its_resolution() {
    let dir = TempDir::new("smtp-rule");
    let Some(sink) = SmtpSink::start(&dir, SmtpMode::Plain, None) else {
        return;
    };
    let sim = start_sim(Default::default()).await;
    let db = sqlite_db(&dir, &[("VIRTUAL", "bid", 49.5)]).await;
    let app = start_app(&paging_config(&sim, &dir, &db, sink.port, ""), true).await;
    let firing = sink
        .wait_for("firing", T, |m| {
            subject(m).starts_with("[driftwatch] WARNING db-stale-row pacifica/main VIRTUAL")
        })
        .await;
    assert!(firing.contains("DB holds 49.5 the exchange does not"), "{firing}");

    // The bot deletes its stale row: the condition clears and one RESOLVED mail follows.
    exec(&db, "DELETE FROM positions WHERE symbol = 'VIRTUAL'").await;
    sink.wait_for("resolved", T, |m| {
        subject(m).starts_with("[driftwatch] RESOLVED db-stale-row pacifica/main VIRTUAL")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    let metrics = reqwest::get(format!("http://{}/metrics", app.http_addr.unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&metrics, r#"driftwatch_pages_total{channel="email",result="sent"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&metrics, r#"driftwatch_pages_total{channel="email",result="failed"}"#),
        Some(0.0)
    );
    app.shutdown_within(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_dead_mail_server_never_delays_reconciliation() {
    // Accepts connections and never says a word: the worst kind of server.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = TempDir::new("smtp-dead");
    let sim = start_sim(Default::default()).await;
    let db = sqlite_db(
        &dir,
        &[("VIRTUAL", "bid", 49.5), ("ETH", "bid", 1.0), ("BTC", "bid", 1.0)],
    )
    .await;
    let extra = "    timeout: 1s\n    queue: 1\n";
    let app = start_app(&paging_config(&sim, &dir, &db, port, extra), true).await;
    let url = format!("http://{}/metrics", app.http_addr.unwrap());
    let scrape = || async { reqwest::get(&url).await.unwrap().text().await.unwrap() };
    // Three stale rows page at once; the mailer is stuck on the first, the
    // queue holds one, the third is dropped and counted.
    eventually("a page dropped", T, || async {
        sample(
            &scrape().await,
            r#"driftwatch_pages_total{channel="email",result="dropped"}"#,
        ) >= Some(1.0)
    })
    .await;
    // Reconciliation goes on regardless.
    let first = sample(&scrape().await, "driftwatch_last_reconcile_timestamp_seconds").unwrap();
    eventually("reconciliation advancing", T, || async {
        sample(&scrape().await, "driftwatch_last_reconcile_timestamp_seconds").unwrap() > first + 0.5
    })
    .await;
    // And the stuck conversation is abandoned and counted, not waited on forever
    // (3 attempts of at most 4 timeouts each, with 1 s and 3 s pauses).
    eventually("a failed delivery", Duration::from_secs(30), || async {
        sample(
            &scrape().await,
            r#"driftwatch_pages_total{channel="email",result="failed"}"#,
        ) >= Some(1.0)
    })
    .await;
    app.shutdown_within(Duration::from_secs(2)).await;
    drop(silent);
}
