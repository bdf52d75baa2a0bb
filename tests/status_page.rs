//! The live status page (issue [operator] part 3) over a real socket and in
//! a real browser: Debian's headless Chromium loads `/` at a phone's width
//! and a desktop's, its DOM is checked for the table's content, its
//! screenshots are read back by OCR for the same content, and the markup
//! gets an accessibility pass. `/api/v1/state` is checked as the page's JSON twin.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use driftwatch::reconcile::State;

const T: Duration = Duration::from_secs(15);

fn chromium() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Runs headless Chromium with `args` then `url`; its stdout.
fn browse(bin: &str, args: &[&str], url: &str, profile: &Path) -> String {
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Accessibility and self-containment checks on the served markup.
fn markup_pass(html: &str) {
    let must = [
        ("<html lang=\"en\">", "a document language"),
        ("<meta charset=\"utf-8\">", "a character set"),
        (
            "name=\"viewport\" content=\"width=device-width",
            "a viewport for phones",
        ),
        ("<title>driftwatch: ", "a title that says what is wrong"),
        ("<h1>", "a top heading"),
        ("<caption>", "captioned tables"),
        ("<th scope=\"col\">", "column headers"),
        ("<th scope=\"row\">", "row headers"),
        ("<main>", "a main landmark"),
        ("aria-labelledby=", "labelled sections"),
    ];
    for (needle, what) in must {
        assert!(html.contains(needle), "no {what} ({needle})");
    }
    // Every state is written out, not only coloured.
    assert!(!html.contains("class=\"bad\"></"), "an empty coloured cell");
    // Nothing from outside the binary: no script, no external URL.
    for banned in ["<script", "src=", "http://", "https://", "@import", "url("] {
        assert!(!html.contains(banned), "the page loads something: {banned}");
    }
    assert_eq!(html.matches("<h1>").count(), 1, "one top heading");
}

// Chromium is run with blocking calls: the app keeps serving on the other worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_the_table_in_a_real_browser_and_as_json() {
    let Some(bin) = chromium() else {
        skip_or_fail("Chromium (Debian's chromium package)", "not installed");
        return;
    };
    let sim = start_sim(Default::default()).await;
    sim.sim.open(ACCOUNT, "SOL", "bid", "0.5", "150");
    sim.sim.open(ACCOUNT, "BTC", "ask", "0.01", "90000");
    let dir = TempDir::new("status");
    let db = sqlite_db(&dir, &[("VIRTUAL", "bid", 49.5), ("BTC", "ask", 0.01)]).await;
    let app = start_app(&fast_config(&sim.addrs, &db, NEXWAVE_MAPPING), true).await;
    let base = format!("http://{}", app.http_addr.unwrap());
    wait_for(&app, "drift on two rows, BTC in sync", T, |s| {
        state(s, "SOL") == Some(State::DbMissing)
            && state(s, "VIRTUAL") == Some(State::DbStale)
            && state(s, "BTC") == Some(State::InSync)
    })
    .await;

    // The JSON twin.
    let json: serde_json::Value = reqwest::get(format!("{base}/api/v1/state"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = &json["accounts"][0];
    assert_eq!(account["name"], "main");
    assert_eq!(account["venue"], "pacifica");
    let rows = account["rows"].as_array().unwrap();
    let row = |key: &str| {
        rows.iter()
            .find(|r| r["key"] == key)
            .unwrap_or_else(|| panic!("{key}: {json}"))
    };
    assert_eq!(row("VIRTUAL")["state"], "db_stale");
    assert_eq!(row("VIRTUAL")["db"], "49.5");
    assert_eq!(row("SOL")["ws"], "0.5");
    assert_eq!(row("BTC")["state"], "in_sync");
    assert_eq!(account["sources"].as_array().unwrap().len(), 3);
    assert!(json["at"].is_string());

    // The page as served.
    let html = reqwest::get(format!("{base}/")).await.unwrap().text().await.unwrap();
    markup_pass(&html);

    // The page in a real browser: its DOM...
    let profile = dir.path().join("chromium");
    let dom = tokio::task::block_in_place(|| browse(bin, &["--dump-dom"], &format!("{base}/"), &profile));
    for needle in ["VIRTUAL", "db_stale", "db_missing", "in_sync", "Bot DB", "main"] {
        assert!(dom.contains(needle), "{needle} not in the rendered page:\n{dom}");
    }
    // ...and drawn at a phone's width and a desktop's: each screenshot is
    // a page with content, far heavier than a blank one.
    let shot = |name: &str, size: &str, url: &str| {
        let path = dir.path().join(name);
        browse(
            bin,
            &[
                &format!("--screenshot={}", path.display()),
                &format!("--window-size={size}"),
            ],
            url,
            &profile,
        );
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name} is a PNG");
        bytes.len()
    };
    let (blank, phone, desktop) = tokio::task::block_in_place(|| {
        (
            shot("blank.png", "390,844", "data:text/html,<html><body></body></html>"),
            shot("phone.png", "390,844", &format!("{base}/")),
            shot("desktop.png", "1280,800", &format!("{base}/")),
        )
    });
    assert!(
        phone > blank * 4 && desktop > blank * 4,
        "screenshots look blank: phone {phone} B, desktop {desktop} B, blank {blank} B"
    );
    // What the screenshots show, read back by OCR (Debian's tesseract):
    // the account and the drifting rows with their states, on both screens.
    for shot in ["phone.png", "desktop.png"] {
        let path = dir.path().join(shot);
        let read = tokio::task::block_in_place(|| Command::new("tesseract").arg(&path).arg("-").output());
        let Ok(read) = read.map_err(|e| skip_or_fail("tesseract (Debian's tesseract-ocr)", e)) else {
            break;
        };
        // OCR may read an underscore as a space.
        let text = String::from_utf8_lossy(&read.stdout).replace('_', " ");
        for needle in ["pacifica / main", "VIRTUAL", "db stale", "db missing", "trusted"] {
            assert!(text.contains(needle), "{shot}: {needle:?} not on the screen:\n{text}");
        }
    }
    // Kept for a look by hand: STATUS_SHOTS=dir.
    if let Ok(keep) = std::env::var("STATUS_SHOTS") {
        for f in ["phone.png", "desktop.png"] {
            let _ = std::fs::copy(dir.path().join(f), Path::new(&keep).join(f));
        }
    }
    app.shutdown_within(Duration::from_secs(5)).await;
}
