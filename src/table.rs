//! The three-way table, as `snapshot`, `demo` and the landing page show it.
//!
//! A size that cannot be believed is shown with a `?` (the last value the
//! source gave); a source never read shows `-`.

use std::fmt::Write;

use crate::domain::{Pair, Timestamp};
use crate::reconcile::{Reading, Row, State};
use crate::snapshot::Snapshot;

pub fn size(r: Reading) -> String {
    match (r.size, r.trusted) {
        (None, _) => "-".into(),
        (Some(s), true) => s.normalize().to_string(),
        (Some(s), false) => format!("{}?", s.normalize()),
    }
}

pub fn drift(row: &Row) -> String {
    let pair = if row.state == State::StreamDrift {
        Pair::WsRest
    } else {
        Pair::WsDb
    };
    match row.drift(pair) {
        Some(d) if d.is_zero() => "0".into(),
        Some(d) => format!(
            "{}{} ({})",
            if d.is_sign_positive() { "+" } else { "" },
            d.normalize(),
            pair.as_str()
        ),
        None => "-".into(),
    }
}

pub fn state(row: &Row) -> String {
    let name = row.state.as_str();
    if row.state == State::InSync || row.confirmed {
        name.to_owned()
    } else {
        format!("{name} (pending {})", row.observations)
    }
}

pub fn age(now: Timestamp, at: Option<Timestamp>) -> String {
    match at {
        None => "never".into(),
        Some(at) => format!("{:.1}s ago", now.since(at).as_secs_f64()),
    }
}

/// Renders every account's rows and the freshness of each source.
/// Rows as text, each column as wide as its widest cell (by characters),
/// two spaces between columns, no trailing blanks; one line per row.
pub fn align<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let _ = write!(line, "{:<w$}  ", c, w = widths[i]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

pub fn render(snap: &Snapshot, now: Timestamp) -> String {
    let mut out = String::new();
    let header = ["ACCOUNT", "SYMBOL", "WS", "REST", "DB", "DRIFT", "STATE"];
    let mut lines: Vec<[String; 7]> = Vec::new();
    for a in &snap.accounts {
        for row in &a.report.rows {
            lines.push([
                format!("{}/{}", a.venue, a.name),
                row.key.to_string(),
                size(row.ws),
                size(row.rest),
                size(row.db),
                drift(row),
                state(row),
            ]);
        }
    }
    let mut rows = vec![header.map(str::to_owned)];
    let empty = lines.is_empty();
    rows.extend(lines);
    let text = align(&rows);
    match text.split_once('\n') {
        Some((head, body)) if empty => {
            let _ = writeln!(out, "{head}");
            let _ = writeln!(out, "(no open positions anywhere)");
            out.push_str(body);
        }
        _ => out.push_str(&text),
    }
    let _ = writeln!(out);
    if let Some(role) = snap.acting.describe() {
        let _ = writeln!(out, "{role}");
    }
    for a in &snap.accounts {
        let mut parts = Vec::new();
        for s in &a.report.sources {
            let status = if s.trusted {
                "trusted".to_owned()
            } else {
                format!("UNTRUSTED: {}", s.reason.clone().unwrap_or_default())
            };
            parts.push(format!(
                "{} {} (last good {})",
                s.source.as_str(),
                status,
                age(now, s.last_good_at)
            ));
        }
        let _ = writeln!(out, "{}/{}: {}", a.venue, a.name, parts.join(" | "));
        if !a.unmapped.is_empty() {
            let rows: Vec<String> = a
                .unmapped
                .iter()
                .map(|u| format!("{} (row {})", u.symbol, u.row_key))
                .collect();
            let _ = writeln!(
                out,
                "{}/{}: UNMAPPED rows (no venue symbol; never corrected or closed): {}",
                a.venue,
                a.name,
                rows.join(", ")
            );
        }
        if let Some(c) = &a.corrections {
            let _ = writeln!(out, "{}/{}: last correction cycle: {c}", a.venue, a.name);
        }
        if let Some(c) = &a.closes {
            let _ = writeln!(out, "{}/{}: last emergency close: {c}", a.venue, a.name);
        }
    }
    out
}
