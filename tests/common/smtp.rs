//! A real SMTP server for tests: aiosmtpd (tests/support/smtp_sink.py)
//! writing each message to a Maildir, and a test CA made with rcgen.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::TempDir;

/// A CA and a leaf for `localhost`, written as PEM files.
pub struct TestCa {
    pub ca_pem: PathBuf,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl TestCa {
    pub fn generate(dir: &Path) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "driftwatch test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let ca = TestCa {
            ca_pem: dir.join("ca.pem"),
            cert_pem: dir.join("leaf.pem"),
            key_pem: dir.join("leaf.key"),
        };
        std::fs::write(&ca.ca_pem, ca_cert.pem()).unwrap();
        std::fs::write(&ca.cert_pem, leaf.pem()).unwrap();
        std::fs::write(&ca.key_pem, leaf_key.serialize_pem()).unwrap();
        ca
    }
}

pub enum SmtpMode<'a> {
    Plain,
    Starttls(&'a TestCa),
    Tls(&'a TestCa),
}

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// Starts the server; `None` (after `skip_or_fail`) when Python or
    /// aiosmtpd is missing.
    pub fn start(dir: &TempDir, mode: SmtpMode<'_>, auth: Option<(&str, &str)>) -> Option<SmtpSink> {
        let port = super::free_port();
        let maildir = dir.path().join(format!("maildir-{port}"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(port.to_string()).arg(&maildir);
        match mode {
            SmtpMode::Plain => {}
            SmtpMode::Starttls(ca) => {
                cmd.arg("--starttls").arg(&ca.cert_pem).arg(&ca.key_pem);
            }
            SmtpMode::Tls(ca) => {
                cmd.arg("--tls").arg(&ca.cert_pem).arg(&ca.key_pem);
            }
        }
        if let Some((u, p)) = auth {
            cmd.args(["--auth", u, p]);
        }
        let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn() {
            Ok(c) => c,
            Err(e) => {
                super::skip_or_fail("python3", e);
                return None;
            }
        };
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            super::skip_or_fail("aiosmtpd (pip install aiosmtpd)", "the SMTP sink did not start");
            return None;
        }
        Some(SmtpSink { child, port, maildir })
    }

    /// Every message received so far, as raw RFC 5322 text, oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in rd.flatten() {
                    let t = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                    files.push((t, e.path()));
                }
            }
        }
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, p)| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits until a message satisfying `pred` arrives.
    pub async fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(m) = self.messages().into_iter().find(|m| pred(m)) {
                return m;
            }
            if Instant::now() > deadline {
                panic!("no mail {what} within {timeout:?}; got: {:#?}", self.messages());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The decoded Subject header of a raw message (lettre folds and may
/// encode long subjects).
pub fn subject(raw: &str) -> String {
    let mut out = String::new();
    let mut in_subject = false;
    for line in raw.lines() {
        if in_subject && (line.starts_with(' ') || line.starts_with('\t')) {
            out.push_str(line.trim_start());
            continue;
        }
        in_subject = false;
        if let Some(rest) = line.strip_prefix("Subject: ") {
            out.push_str(rest);
            in_subject = true;
        }
        if line.is_empty() {
            break;
        }
    }
    out
}
