//! Stamps the build with its source revision, for `driftwatch_build_info`:
//! `DRIFTWATCH_REVISION` when set (packagers, container builds without
//! `.git`), else `git rev-parse --short=12 HEAD`, else `unknown`.
//!
//! And lays out the release binary's code: the functions `run` executes
//! (`deploy/text-order.txt`, made by `scripts/order-text`) go together at
//! the front, so the few MiB of them stay resident instead of every 64 KiB
//! window they are scattered over (BENCHMARKS.md, fourteenth session).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DRIFTWATCH_REVISION");
    let revision = std::env::var("DRIFTWATCH_REVISION")
        .ok()
        .filter(|r| !r.is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=DRIFTWATCH_REVISION={revision}");
    order_text();
}

/// Hands `deploy/text-order.txt` to the linker for the `driftwatch` binary
/// of a release build, where the linker is known to be lld: Rust 1.90 and
/// later link `x86_64-unknown-linux-gnu` with its own lld unless told
/// otherwise. Names the file does not find (a function added since it was
/// made) are left where the linker puts them; nothing else changes.
/// `DRIFTWATCH_TEXT_ORDER=0` turns it off.
fn order_text() {
    println!("cargo:rerun-if-env-changed=DRIFTWATCH_TEXT_ORDER");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/text-order.txt");
    println!("cargo:rerun-if-changed={}", file.display());
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let rustflags = env("CARGO_ENCODED_RUSTFLAGS");
    let wanted = env("PROFILE") == "release"
        && env("TARGET") == "x86_64-unknown-linux-gnu"
        && env("DRIFTWATCH_TEXT_ORDER") != "0"
        && std::env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_none()
        && !rustflags.contains("linker")
        && !rustflags.contains("fuse-ld")
        && rustc_minor().is_some_and(|m| m >= 90)
        && file.is_file();
    if wanted {
        println!(
            "cargo:rustc-link-arg-bin=driftwatch=-Wl,--symbol-ordering-file={}",
            file.display()
        );
        println!("cargo:rustc-link-arg-bin=driftwatch=-Wl,--no-warn-symbol-ordering");
    }
}

/// The compiler's minor version (`rustc 1.95.0 (...)` → 95).
fn rustc_minor() -> Option<u32> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc).arg("-V").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace().nth(1)?.split('.').nth(1)?.parse().ok()
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
