//! Prometheus and Alertmanager as the tests run them: real processes on
//! free ports, the shipped rules with their holds shortened, the shipped
//! Alertmanager example pointed at the test's SMTP server.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use super::{free_port, root, skip_or_fail};

pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn(cmd: &str, args: &[String], log: &Path) -> Option<Proc> {
    let out = std::fs::File::create(log).unwrap();
    match Command::new(cmd).args(args).stdout(Stdio::null()).stderr(out).spawn() {
        Ok(c) => Some(Proc(c)),
        Err(e) => {
            skip_or_fail(cmd, e);
            None
        }
    }
}

pub async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

pub async fn wait_ready(what: &str, url: &str, log: &Path) {
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} not ready: {}", std::fs::read_to_string(log).unwrap_or_default());
}

/// The shipped rules with every `for:` shortened, expressions untouched.
pub fn fast_rules(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("alerts/driftwatch.rules.yaml")).unwrap();
    let fast: String = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 2s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let p = dir.join("rules.yaml");
    std::fs::write(&p, fast).unwrap();
    p
}

/// The shipped Alertmanager example, pointed at the test's SMTP server with
/// one-second grouping.
pub fn test_alertmanager_config(dir: &Path, smtp_port: u16) -> PathBuf {
    let text = std::fs::read_to_string(root().join("alerts/alertmanager.yml")).unwrap();
    let mut v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let g = v["global"].as_mapping_mut().unwrap();
    g.insert("smtp_smarthost".into(), format!("127.0.0.1:{smtp_port}").into());
    g.insert("smtp_require_tls".into(), false.into());
    g.remove("smtp_auth_username");
    g.remove("smtp_auth_password_file");
    let route = v["route"].as_mapping_mut().unwrap();
    route.insert("group_wait".into(), "1s".into());
    route.insert("group_interval".into(), "1s".into());
    for r in v["route"]["routes"].as_sequence_mut().unwrap() {
        r.as_mapping_mut().unwrap().insert("group_wait".into(), "1s".into());
    }
    let p = dir.join("alertmanager.yml");
    std::fs::write(&p, serde_yaml::to_string(&v).unwrap()).unwrap();
    p
}

/// The real Alertmanager with the shipped example (see
/// [`test_alertmanager_config`]) on a free port: the process, its port and
/// its log.
pub fn alertmanager(dir: &Path, smtp_port: u16) -> Option<(Proc, u16, PathBuf)> {
    let port = free_port();
    let log = dir.join("alertmanager.log");
    let config = test_alertmanager_config(dir, smtp_port);
    let proc = spawn(
        "prometheus-alertmanager",
        &[
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("am").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".into(),
        ],
        &log,
    )?;
    Some((proc, port, log))
}
