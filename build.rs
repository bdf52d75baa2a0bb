//! Stamps the build with its source revision, for `driftwatch_build_info`:
//! `DRIFTWATCH_REVISION` when set (packagers, container builds without
//! `.git`), else `git rev-parse --short=12 HEAD`, else `unknown`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DRIFTWATCH_REVISION");
    let revision = std::env::var("DRIFTWATCH_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DRIFTWATCH_REVISION={revision}");
}

fn git_revision() -> Option<String> {
    let head = std::fs::read_to_string(".git/HEAD").ok()?;
    println!("cargo:rerun-if-changed=.git/HEAD");
    if let Some(r) = head.strip_prefix("ref: ") {
        let r = format!(".git/{}", r.trim());
        if std::path::Path::new(&r).exists() {
            println!("cargo:rerun-if-changed={r}");
        }
    }
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()?;
    let rev = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !rev.is_empty()).then_some(rev)
}
