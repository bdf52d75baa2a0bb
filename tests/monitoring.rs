//! dashboards/ and alerts/ checked for real: the linter rules Grafana's
//! dashboard-linter applies, every PromQL expression parsed and every metric
//! it names exported by driftwatch; promtool and amtool on the rule and
//! Alertmanager files; and end to end on loopback with the real Prometheus
//! and Alertmanager and an SMTP server: a drift alert fires, is mailed, and
//! is resolved by driftwatch's correction; every dashboard query returns data.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use common::alerting::*;
use common::smtp::{subject, SmtpMode, SmtpSink};
use common::*;
use promql_parser::parser::{self, Expr};
use serde_json::Value;

fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(root().join("dashboards")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            out.push((p.file_name().unwrap().to_string_lossy().into_owned(), v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 2, "the overview and the account dashboards");
    out
}

/// Every (panel title, expr) of a dashboard.
fn queries(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or("?").to_owned(),
                t["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// Grafana's variables filled in, as a dashboard would send the query.
fn fill(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$job", "driftwatch")
        .replace("$venue", "pacifica")
        .replace("$account", "main")
        .replace("$symbol", ".*")
}

fn metric_names(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out);
            if let Some(p) = &a.param {
                metric_names(p, out);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out),
        Expr::Binary(b) => {
            metric_names(&b.lhs, out);
            metric_names(&b.rhs, out);
        }
        Expr::Paren(p) => metric_names(&p.expr, out),
        Expr::Subquery(s) => metric_names(&s.expr, out),
        Expr::VectorSelector(v) => {
            out.insert(v.name.clone().expect("a metric name in every selector"));
        }
        Expr::MatrixSelector(m) => {
            out.insert(m.vs.name.clone().expect("a metric name in every selector"));
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| metric_names(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// The families driftwatch registers, with the series names a histogram
/// family adds.
fn exported() -> BTreeSet<String> {
    let m = driftwatch::metrics::Metrics::new(&[]);
    let mut names = BTreeSet::new();
    for n in m.family_names() {
        names.insert(n.clone());
        for suffix in ["_bucket", "_sum", "_count"] {
            names.insert(format!("{n}{suffix}"));
        }
    }
    names
}

/// Parses `expr` and checks that every metric it names exists.
fn check_expr(what: &str, expr: &str, allowed: &BTreeSet<String>) {
    let parsed = parser::parse(expr).unwrap_or_else(|e| panic!("{what}: {expr:?} does not parse: {e}"));
    let mut names = BTreeSet::new();
    metric_names(&parsed, &mut names);
    assert!(!names.is_empty(), "{what}: {expr:?} names no metric");
    for n in names {
        assert!(
            allowed.contains(&n),
            "{what}: {expr:?} names {n}, which driftwatch does not export"
        );
    }
}

#[test]
fn dashboards_follow_the_linter_rules() {
    let mut uids = BTreeSet::new();
    for (file, d) in dashboards() {
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(!uid.is_empty() && uid.len() <= 40, "{file}: uid {uid:?}");
        assert!(uids.insert(uid.to_owned()), "{file}: duplicate uid {uid}");
        assert!(d["id"].is_null(), "{file}: id must be null in files");
        assert!(d["schemaVersion"].as_u64().is_some(), "{file}: schemaVersion");
        assert!(d.get("__inputs").is_none(), "{file}: import placeholders");
        let text = d.to_string();
        assert!(!text.contains("${DS_"), "{file}: ${{DS_...}} placeholder");
        let vars = d["templating"]["list"].as_array().unwrap();
        assert!(
            vars.iter()
                .any(|v| v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus"),
            "{file}: no datasource variable"
        );
        for name in ["job", "venue", "account", "symbol"] {
            assert!(vars.iter().any(|v| v["name"] == name), "{file}: no {name} variable");
        }
        let mut ids = BTreeSet::new();
        for p in d["panels"].as_array().unwrap() {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{file}: duplicate panel id");
            assert!(p["gridPos"]["w"].as_u64().is_some(), "{file}/{title}: gridPos");
            if p["type"] == "row" {
                continue;
            }
            assert!(!title.is_empty(), "{file}: a panel without a title");
            assert!(
                p["description"].as_str().is_some_and(|s| s.len() > 10),
                "{file}/{title}: description"
            );
            assert!(
                p["fieldConfig"]["defaults"]["unit"].as_str().is_some(),
                "{file}/{title}: unit"
            );
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{file}/{title}: panel datasource"
            );
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}/{title}: no targets");
            for t in targets {
                assert_eq!(
                    t["datasource"]["uid"], "${datasource}",
                    "{file}/{title}: target datasource"
                );
                let expr = t["expr"].as_str().unwrap();
                for f in ["rate(", "increase("] {
                    for (i, _) in expr.match_indices(f) {
                        let window = &expr[i..expr[i..].find(']').map_or(expr.len(), |j| i + j + 1)];
                        assert!(
                            window.contains("[$__rate_interval]") || window.contains("[24h]"),
                            "{file}/{title}: {f} without $__rate_interval: {expr}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_dashboard_query_parses_and_names_exported_metrics() {
    let allowed = exported();
    for (file, d) in dashboards() {
        for (title, expr) in queries(&d) {
            check_expr(&format!("{file}/{title}"), &fill(&expr), &allowed);
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["definition"].as_str() {
                // label_values(metric{...}, label): the selector must name an exported metric.
                let inner = q.trim_start_matches("label_values(").rsplit_once(',').unwrap().0;
                check_expr(&format!("{file}/${}", v["name"]), &fill(inner), &allowed);
            }
        }
    }
}

fn alert_rules() -> Vec<serde_yaml::Value> {
    let text = std::fs::read_to_string(root().join("alerts/driftwatch.rules.yaml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    doc["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .collect()
}

#[test]
fn alert_rules_are_annotated_and_name_exported_metrics() {
    let mut allowed = exported();
    allowed.insert("up".into());
    let runbook = std::fs::read_to_string(root().join("alerts/RUNBOOK.md")).unwrap();
    let headings: BTreeSet<String> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .map(|h| h.trim().to_lowercase())
        .collect();
    let tests = std::fs::read_to_string(root().join("alerts/tests/driftwatch_test.yaml")).unwrap();
    let mut names = BTreeSet::new();
    for r in alert_rules() {
        let name = r["alert"].as_str().expect("only alerting rules").to_owned();
        assert!(
            name.starts_with("Driftwatch") && !name.contains('_') && names.insert(name.clone()),
            "{name}: CamelCase, one prefix, unique"
        );
        let severity = r["labels"]["severity"].as_str().unwrap_or_default();
        assert!(["critical", "warning", "info"].contains(&severity), "{name}: severity");
        for a in ["summary", "description", "runbook_url"] {
            assert!(
                r["annotations"][a].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: {a}"
            );
        }
        let url = r["annotations"]["runbook_url"].as_str().unwrap();
        let anchor = url.split_once("RUNBOOK.md#").map(|x| x.1).unwrap_or_default();
        assert_eq!(anchor, name.to_lowercase(), "{name}: runbook anchor");
        assert!(headings.contains(anchor), "{name}: no section in RUNBOOK.md");
        check_expr(&name, r["expr"].as_str().unwrap(), &allowed);
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name}: no promtool test fires it"
        );
    }
    for required in [
        "DriftwatchBotDatabaseDrift",
        "DriftwatchStreamRestDrift",
        "DriftwatchStreamStale",
        "DriftwatchStreamDisconnected",
        "DriftwatchSourceDown",
        "DriftwatchReconcileStalled",
        "DriftwatchCorrectionRefused",
        "DriftwatchEmergencyCloseSent",
        "DriftwatchEmergencyCloseFailed",
        "DriftwatchPagingFailing",
        "DriftwatchDown",
        "DriftwatchAbsent",
    ] {
        assert!(names.contains(required), "missing alert {required}");
    }
}

/// Runs a tool; `None` (after skip_or_fail) when it is not installed.
fn tool(cmd: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(cmd).args(args).current_dir(root()).output() {
        Ok(o) => Some(o),
        Err(e) => {
            skip_or_fail(cmd, e);
            None
        }
    }
}

fn ok(o: &std::process::Output) -> bool {
    if !o.status.success() {
        eprintln!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    o.status.success()
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    let Some(check) = tool("promtool", &["check", "rules", "alerts/driftwatch.rules.yaml"]) else {
        return;
    };
    assert!(ok(&check));
    let test = tool("promtool", &["test", "rules", "alerts/tests/driftwatch_test.yaml"]).unwrap();
    assert!(ok(&test));
}

#[test]
fn the_alertmanager_example_checks_and_routes_as_documented() {
    let Some(check) = tool("amtool", &["check-config", "alerts/alertmanager.yml"]) else {
        return;
    };
    assert!(ok(&check));
    // (expected receiver, labels)
    let table: &[(&str, &[&str])] = &[
        (
            "oncall-email",
            &["alertname=DriftwatchEmergencyCloseFailed", "severity=critical"],
        ),
        ("oncall-email", &["alertname=DriftwatchDown", "severity=critical"]),
        (
            "team-email",
            &["alertname=DriftwatchBotDatabaseDrift", "severity=warning"],
        ),
        ("team-email", &["alertname=DriftwatchPagingFailing", "severity=warning"]),
        // Not ours: the default receiver.
        ("team-email", &["alertname=SomethingElse", "severity=critical"]),
    ];
    for (receiver, labels) in table {
        let verify = format!("--verify.receivers={receiver}");
        let mut args = vec![
            "config",
            "routes",
            "test",
            "--config.file=alerts/alertmanager.yml",
            verify.as_str(),
        ];
        args.extend_from_slice(labels);
        let out = tool("amtool", &args).unwrap();
        assert!(ok(&out), "{labels:?} should route to {receiver}");
    }
    // And a wrong expectation is caught (the check is not vacuous).
    let out = tool(
        "amtool",
        &[
            "config",
            "routes",
            "test",
            "--config.file=alerts/alertmanager.yml",
            "--verify.receivers=oncall-email",
            "alertname=DriftwatchBotDatabaseDrift",
            "severity=warning",
        ],
    )
    .unwrap();
    assert!(!out.status.success());
}

// ---------------------------------------------------------------- end to end

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_alert_is_mailed_by_alertmanager_and_resolved_by_the_correction() {
    let dir = TempDir::new("e2e");
    let Some(sink) = SmtpSink::start(&dir, SmtpMode::Plain, None) else {
        return;
    };

    // driftwatch beside the simulated venue: SOL agrees everywhere; the bot's
    // database still holds VIRTUAL, long closed on the exchange.
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "150");
    let db = sqlite_db(&dir, &[("SOL", "bid", 0.5), ("VIRTUAL", "bid", 49.5)]).await;
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(
        rules_dir.join("r.yaml"),
        "rules:\n  - id: db-stale-row\n    condition: {stale_db_row: {}}\n    severity: warning\n    actions: [alert]\n",
    )
    .unwrap();
    // Corrections apply only after 160 distinct REST/DB reads (~30 s), so the alert fires first.
    let config = format!(
        "{}rules: {{dir: {}}}\nnotify:\n  email:\n    smtp: 127.0.0.1:{}\n    tls: none\n    from: driftwatch@example.com\n    to: [oncall@example.com]\n",
        fast_config_with(
            &sim.addrs,
            &db,
            NEXWAVE_MAPPING,
            "    correct: {mode: apply, confirmations: 160}\n",
            "sqlite::memory:"
        )
        .replace("db_poll: 300ms", "db_poll: 500ms"),
        rules_dir.display(),
        sink.port,
    );
    let app = start_app(&config, true).await;
    let target = app.http_addr.unwrap();

    let Some((_am, am_port, am_log)) = alertmanager(dir.path(), sink.port) else {
        return;
    };
    let prom_port = free_port();
    let prom_log = dir.path().join("prometheus.log");
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\nscrape_configs:\n  - job_name: driftwatch\n    static_configs: [{{targets: ['{target}']}}]\n",
            fast_rules(dir.path()).display()
        ),
    )
    .unwrap();
    let Some(_prom) = spawn(
        "prometheus",
        &[
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ],
        &prom_log,
    ) else {
        return;
    };
    wait_ready("alertmanager", &format!("http://127.0.0.1:{am_port}/-/ready"), &am_log).await;
    wait_ready(
        "prometheus",
        &format!("http://127.0.0.1:{prom_port}/-/ready"),
        &prom_log,
    )
    .await;
    let prom = format!("http://127.0.0.1:{prom_port}");

    // Prometheus scrapes driftwatch, the alert fires, Alertmanager mails it
    // to the warning route's receiver.
    let firing = sink
        .wait_for("from Alertmanager: firing", Duration::from_secs(40), |m| {
            let s = subject(m);
            s.starts_with("[FIRING") && s.contains("DriftwatchBotDatabaseDrift")
        })
        .await;
    assert!(firing.contains("To: trading-team@example.com"), "{firing}");
    assert!(firing.contains("VIRTUAL"), "{firing}");
    // driftwatch's own direct page went out too, independently.
    sink.wait_for("direct page", Duration::from_secs(5), |m| {
        subject(m).starts_with("[driftwatch] WARNING db-stale-row pacifica/main VIRTUAL")
    })
    .await;
    // Still there: the alert fired before any correction.
    assert_eq!(
        texts(&db, "SELECT symbol FROM positions WHERE symbol = 'VIRTUAL'")
            .await
            .len(),
        1
    );

    // The correction deletes (and archives) the stale row; the alert resolves
    // and Alertmanager says so.
    sink.wait_for("from Alertmanager: resolved", Duration::from_secs(60), |m| {
        let s = subject(m);
        s.starts_with("[RESOLVED") && s.contains("DriftwatchBotDatabaseDrift")
    })
    .await;
    assert!(texts(&db, "SELECT symbol FROM positions WHERE symbol = 'VIRTUAL'")
        .await
        .is_empty());
    let alerts = get_json(&format!("{prom}/api/v1/alerts")).await;
    assert!(!alerts.to_string().contains("DriftwatchBotDatabaseDrift"), "{alerts}");
    sink.wait_for("direct resolution", Duration::from_secs(10), |m| {
        subject(m).starts_with("[driftwatch] RESOLVED db-stale-row pacifica/main VIRTUAL")
    })
    .await;

    // Every dashboard query, variables filled in, returns data from this Prometheus.
    let client = reqwest::Client::new();
    for (file, d) in dashboards() {
        for (title, expr) in queries(&d) {
            let q = fill(&expr);
            let v: Value = client
                .get(format!("{prom}/api/v1/query"))
                .query(&[("query", q.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(v["status"], "success", "{file}/{title}: {q}: {v}");
            let result = v["data"]["result"].as_array().unwrap();
            assert!(!result.is_empty(), "{file}/{title}: no data for {q}");
        }
    }
    app.shutdown_within(Duration::from_secs(2)).await;
}

/// Issue [ha] part 4 on the real Alertmanager with the shipped example: with
/// two driftwatch instances on one account, the instance that is down
/// (`DriftwatchDown`) mutes its own alerts, not the other instance's, and
/// never an emergency close, its own included.
#[tokio::test]
async fn a_down_instance_mutes_only_its_own_alerts_and_never_a_close() {
    let dir = TempDir::new("inhibit");
    let Some((_am, am_port, am_log)) = alertmanager(dir.path(), free_port()) else {
        return;
    };
    let am = format!("http://127.0.0.1:{am_port}");
    wait_ready("alertmanager", &format!("{am}/-/ready"), &am_log).await;
    let alert = |name: &str, instance: &str, severity: &str, extra: Value| {
        let mut labels = serde_json::json!({"alertname": name, "job": "driftwatch", "instance": instance,
            "severity": severity, "venue": "pacifica", "account": "main"});
        for (k, v) in extra.as_object().unwrap() {
            labels[k] = v.clone();
        }
        serde_json::json!({"labels": labels})
    };
    let alerts = serde_json::json!([
        alert(
            "DriftwatchDown",
            "a:9733",
            "critical",
            serde_json::json!({"venue": "", "account": ""})
        ),
        alert(
            "DriftwatchSourceDown",
            "a:9733",
            "warning",
            serde_json::json!({"source": "rest"})
        ),
        alert(
            "DriftwatchSourceDown",
            "b:9733",
            "warning",
            serde_json::json!({"source": "rest"})
        ),
        alert(
            "DriftwatchEmergencyCloseSent",
            "a:9733",
            "critical",
            serde_json::json!({"symbol": "SOL"})
        ),
    ]);
    let posted = reqwest::Client::new()
        .post(format!("{am}/api/v2/alerts"))
        .json(&alerts)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.text().await.unwrap());
    // Alertmanager marks inhibitions after it takes the alerts in: wait
    // until all four are in and an inhibition has been marked (the positive
    // signal), then check which.
    let mut seen = Value::Null;
    for _ in 0..100 {
        seen = get_json(&format!("{am}/api/v2/alerts")).await;
        let marked = |alerts: &Vec<Value>| {
            alerts.iter().any(|alert| {
                alert["status"]["inhibitedBy"]
                    .as_array()
                    .is_some_and(|by| !by.is_empty())
            })
        };
        if seen.as_array().is_some_and(|a| a.len() == 4 && marked(a)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let inhibited = |name: &str, instance: &str| -> bool {
        let a = seen
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["labels"]["alertname"] == name && a["labels"]["instance"] == instance)
            .unwrap_or_else(|| panic!("{name} on {instance} not in {seen}"));
        !a["status"]["inhibitedBy"].as_array().unwrap().is_empty()
    };
    assert!(
        inhibited("DriftwatchSourceDown", "a:9733"),
        "the down instance's own alert is muted"
    );
    assert!(
        !inhibited("DriftwatchSourceDown", "b:9733"),
        "another instance's alert is not"
    );
    assert!(
        !inhibited("DriftwatchEmergencyCloseSent", "a:9733"),
        "a close is never muted"
    );
}
