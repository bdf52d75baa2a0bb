//! The HTTP endpoints over a real socket, and the scrape output through the
//! real `promtool check metrics`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

const REQUIRED: &[&str] = &[
    "driftwatch_position_size{",
    "driftwatch_position_drift{",
    "driftwatch_position_in_sync{",
    "driftwatch_source_up{",
    "driftwatch_ws_connected{",
    "driftwatch_ws_reconnects_total{",
    "driftwatch_ws_last_event_timestamp_seconds{",
    "driftwatch_rest_request_duration_seconds_bucket{",
    "driftwatch_rest_errors_total{",
    "driftwatch_db_poll_duration_seconds_bucket{",
    "driftwatch_last_reconcile_timestamp_seconds ",
    "driftwatch_build_info{",
    // The process collector's standard series.
    "process_resident_memory_bytes ",
    "process_cpu_seconds_total ",
    "process_open_fds ",
    "process_start_time_seconds ",
];

#[tokio::test]
async fn endpoints_serve_and_metrics_pass_promtool() {
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "150");
    let dir = TempDir::new("http");
    let db = sqlite_db(&dir, &[("VIRTUAL", "bid", 49.5)]).await;
    let app = start_app(&fast_config(&sim.addrs, &db, NEXWAVE_MAPPING), true).await;
    let base = format!("http://{}", app.http_addr.unwrap());
    wait_for(&app, "drift", Duration::from_secs(10), |s| {
        state(s, "SOL") == Some(driftwatch::reconcile::State::DbMissing)
            && state(s, "VIRTUAL") == Some(driftwatch::reconcile::State::DbStale)
    })
    .await;

    assert_eq!(get(&format!("{base}/healthz")).await, (200, "ok\n".into()));
    assert_eq!(get(&format!("{base}/readyz")).await.0, 200);
    let (status, page) = get(&format!("{base}/")).await;
    assert_eq!(status, 200);
    assert!(page.contains("VIRTUAL") && page.contains("/metrics"));
    assert_eq!(get(&format!("{base}/nope")).await.0, 404);

    let (status, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    for name in REQUIRED {
        assert!(metrics.contains(name), "missing {name}");
    }
    // The build says which source it is: a revision, never an empty label.
    let build = metrics
        .lines()
        .find(|l| l.starts_with("driftwatch_build_info{"))
        .unwrap();
    assert!(
        build.contains("revision=\"") && !build.contains("revision=\"\""),
        "{build}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"driftwatch_position_drift{account="main",pair="ws_db",symbol="SOL",venue="pacifica"}"#
        ),
        Some(0.5)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"driftwatch_position_state{account="main",state="db_stale",symbol="VIRTUAL",venue="pacifica"}"#
        ),
        Some(1.0)
    );
    // Every watched position shows its close results, zero until one happens.
    assert_eq!(
        sample(
            &metrics,
            r#"driftwatch_emergency_closes_total{account="main",result="failed",symbol="VIRTUAL",venue="pacifica"}"#
        ),
        Some(0.0)
    );
    promtool_check_metrics(&metrics);
    app.shutdown_within(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn healthz_does_not_depend_on_the_exchange_or_the_database() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = format!(
        r#"listen: 127.0.0.1:0
bot_db:
  url: {{value: "postgres://nobody@{closed}/none"}}
  timeout: 500ms
accounts:
  - name: main
    venue: pacifica
    address: {ACCOUNT}
    rest_url: "http://{closed}/api/v1"
    ws_url: "ws://{closed}/ws"
    mapping:
      preset: nexwave
"#
    );
    let app = start_app(&text, true).await;
    let base = format!("http://{}", app.http_addr.unwrap());
    assert_eq!(get(&format!("{base}/healthz")).await.0, 200);
    let s = wait_for(&app, "a reconciliation", Duration::from_secs(5), |_| true).await;
    assert!(s.accounts[0].report.sources.iter().all(|s| !s.trusted));
    let metrics = get(&format!("{base}/metrics")).await.1;
    assert_eq!(
        sample(
            &metrics,
            r#"driftwatch_source_up{account="main",source="ws",venue="pacifica"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &metrics,
            r#"driftwatch_ws_reconnects_total{account="main",venue="pacifica"}"#
        ),
        Some(0.0),
        "counters are pre-initialised"
    );
    promtool_check_metrics(&metrics);
    app.shutdown_within(Duration::from_secs(2)).await;
}

fn promtool_check_metrics(text: &str) {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return skip_or_fail("promtool", e),
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
