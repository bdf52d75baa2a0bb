//! The live status page at `/` and its JSON twin at `/api/v1/state`: per
//! account the three-way table (stream, REST, the bot's database) with each
//! row's state, drift and pending confirmations; each source's trust and last
//! good time; the rule conditions that hold; the last correction cycle and
//! close; and the journal's recent actions. Built from the core's snapshot
//! and entries the caller read; pure. The page is one self-contained HTML
//! document (inline style, no script, no outside asset) that reloads itself
//! and reads on a phone.

use serde::Serialize;

use crate::domain::Timestamp;
use crate::reconcile::State as RowKind;
use crate::snapshot::Snapshot;

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECS: u32 = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// When the core published the snapshot (UTC); `None` before the first.
    pub at: Option<String>,
    pub version: &'static str,
    /// With leadership: whether this replica leads or stands by.
    pub role: Option<String>,
    pub accounts: Vec<AccountStatus>,
    /// The journal's latest entries, newest first.
    pub recent: Vec<Action>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountStatus {
    pub venue: String,
    pub name: String,
    pub sources: Vec<SourceStatus>,
    pub rows: Vec<RowStatus>,
    pub rules: Vec<RuleStatus>,
    pub last_correction: Option<String>,
    pub last_close: Option<String>,
    /// Bot rows the mapping does not place on the venue: `SYMBOL (row KEY)`.
    pub unmapped: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub source: &'static str,
    pub trusted: bool,
    pub reason: Option<String>,
    pub last_good: Option<String>,
    pub last_good_age: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowStatus {
    pub key: String,
    pub ws: String,
    pub rest: String,
    pub db: String,
    pub drift: String,
    pub state: &'static str,
    /// Distinct readings the state has been seen in so far.
    pub observations: u32,
    /// Whether the state is confirmed (else it is pending).
    pub confirmed: bool,
    pub since: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleStatus {
    pub rule: String,
    pub subject: String,
    pub since: String,
    /// Held for its `for` (else pending).
    pub firing: bool,
}

/// One journal entry as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub at: String,
    pub account: String,
    pub symbol: String,
    pub kind: &'static str,
    pub op: String,
    pub status: String,
}

/// The status of every account at the snapshot's moment (`None`: the core
/// has published none yet).
pub fn status(snap: Option<&Snapshot>, recent: Vec<Action>) -> Status {
    let Some(snap) = snap else {
        return Status {
            at: None,
            version: env!("CARGO_PKG_VERSION"),
            role: None,
            accounts: Vec::new(),
            recent,
        };
    };
    let now = snap.at;
    let accounts = snap
        .accounts
        .iter()
        .map(|a| AccountStatus {
            venue: a.venue.clone(),
            name: a.name.clone(),
            sources: a
                .report
                .sources
                .iter()
                .map(|s| SourceStatus {
                    source: s.source.as_str(),
                    trusted: s.trusted,
                    reason: s.reason.clone(),
                    last_good: s.last_good_at.map(Timestamp::to_utc_string),
                    last_good_age: crate::table::age(now, s.last_good_at),
                })
                .collect(),
            rows: a
                .report
                .rows
                .iter()
                .map(|r| RowStatus {
                    key: r.key.to_string(),
                    ws: crate::table::size(r.ws),
                    rest: crate::table::size(r.rest),
                    db: crate::table::size(r.db),
                    drift: crate::table::drift(r),
                    state: r.state.as_str(),
                    observations: r.observations,
                    confirmed: r.state == RowKind::InSync || r.confirmed,
                    since: r.since.to_utc_string(),
                })
                .collect(),
            rules: a
                .conditions
                .iter()
                .map(|c| RuleStatus {
                    rule: c.rule.clone(),
                    subject: c.subject.clone(),
                    since: c.since.to_utc_string(),
                    firing: c.firing,
                })
                .collect(),
            last_correction: a.corrections.clone(),
            last_close: a.closes.clone(),
            unmapped: a
                .unmapped
                .iter()
                .map(|u| format!("{} (row {})", u.symbol, u.row_key))
                .collect(),
        })
        .collect();
    Status {
        at: Some(now.to_utc_string()),
        version: env!("CARGO_PKG_VERSION"),
        role: snap.acting.describe(),
        accounts,
        recent,
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "\
body{font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:0 12px 24px;color:#111;background:#fff}\
header{border-bottom:1px solid #bbb;margin-bottom:8px}h1{font-size:1.3em;margin:10px 0 2px}h2{font-size:1.1em;margin:18px 0 6px}\
h3{font-size:1em;margin:12px 0 4px}a{color:#0645ad}.scroll{overflow-x:auto}\
table{border-collapse:collapse;min-width:100%}caption{text-align:left;font-weight:600;padding:4px 0;white-space:normal}\
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #ddd;white-space:nowrap;font-variant-numeric:tabular-nums}\
th{background:#f2f2f2}.ok{color:#0a5d1a}.bad{color:#9b1111;font-weight:600}.wait{color:#6b4e00}\
ul{padding-left:20px;margin:4px 0}@media (max-width:600px){body{font-size:14px}th,td{padding:3px 5px}}";

/// The page: one self-contained document.
pub fn html(s: &Status) -> String {
    use std::fmt::Write;
    let drifting: usize = s
        .accounts
        .iter()
        .map(|a| a.rows.iter().filter(|r| r.state != RowKind::InSync.as_str()).count())
        .sum();
    let mut o = String::new();
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>driftwatch: {} account(s), {drifting} position(s) not in sync</title><style>{STYLE}</style></head><body>\
         <header><h1>driftwatch {}</h1><p>{}; this page reloads every {REFRESH_SECS} s. \
         <a href=\"/api/v1/state\">JSON</a> · <a href=\"/metrics\">metrics</a></p></header><main>",
        s.accounts.len(),
        esc(s.version),
        s.at.as_deref().map_or("No reconciliation yet".to_owned(), |at| format!("As of {} UTC", esc(at)))
    );
    if let Some(role) = &s.role {
        let _ = write!(o, "<p><strong>{}</strong></p>", esc(role));
    }
    if s.accounts.is_empty() {
        o.push_str("<p>No reconciliation yet.</p>");
    }
    for (i, a) in s.accounts.iter().enumerate() {
        let _ = write!(
            o,
            "<section aria-labelledby=\"a{i}\"><h2 id=\"a{i}\">{} / {}</h2><ul>",
            esc(&a.venue),
            esc(&a.name)
        );
        for src in &a.sources {
            let (class, word) = if src.trusted {
                ("ok", "trusted".to_owned())
            } else {
                (
                    "bad",
                    format!("untrusted: {}", src.reason.as_deref().unwrap_or("unknown")),
                )
            };
            let _ = write!(
                o,
                "<li>{}: <span class=\"{class}\">{}</span> (last good {})</li>",
                src.source,
                esc(&word),
                esc(&src.last_good_age)
            );
        }
        let _ = write!(
            o,
            "</ul><div class=\"scroll\"><table><caption>Positions: the stream, REST and the bot's database</caption>\
             <thead><tr><th scope=\"col\">Position</th><th scope=\"col\">State</th><th scope=\"col\">Drift</th>\
             <th scope=\"col\">Stream</th><th scope=\"col\">REST</th><th scope=\"col\">Bot DB</th>\
             <th scope=\"col\">Seen in</th></tr></thead><tbody>"
        );
        if a.rows.is_empty() {
            o.push_str("<tr><td colspan=\"7\">No open position anywhere.</td></tr>");
        }
        for r in &a.rows {
            let (class, state) = if r.state == RowKind::InSync.as_str() {
                ("ok", r.state.to_owned())
            } else if r.confirmed {
                ("bad", r.state.to_owned())
            } else {
                ("wait", format!("{} (pending)", r.state))
            };
            let _ = write!(
                o,
                "<tr><th scope=\"row\">{}</th><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{} reading(s)</td></tr>",
                esc(&r.key),
                esc(&state),
                esc(&r.drift),
                esc(&r.ws),
                esc(&r.rest),
                esc(&r.db),
                r.observations
            );
        }
        o.push_str("</tbody></table></div><h3>Rules</h3>");
        if a.rules.is_empty() {
            o.push_str("<p>No rule condition holds.</p>");
        } else {
            o.push_str("<ul>");
            for r in &a.rules {
                let _ = write!(
                    o,
                    "<li><span class=\"{}\">{}</span> {} on {} since {} UTC</li>",
                    if r.firing { "bad" } else { "wait" },
                    if r.firing { "firing" } else { "pending" },
                    esc(&r.rule),
                    esc(&r.subject),
                    esc(&r.since)
                );
            }
            o.push_str("</ul>");
        }
        if !a.unmapped.is_empty() {
            let _ = write!(
                o,
                "<p class=\"bad\">Unmapped bot rows (no venue market; never corrected or closed): {}</p>",
                esc(&a.unmapped.join(", "))
            );
        }
        let _ = write!(
            o,
            "<p>Last correction cycle: {}</p><p>Last emergency close: {}</p></section>",
            esc(a.last_correction.as_deref().unwrap_or("none")),
            esc(a.last_close.as_deref().unwrap_or("none"))
        );
    }
    o.push_str("<section aria-labelledby=\"recent\"><h2 id=\"recent\">Recent actions (journal)</h2>");
    if s.recent.is_empty() {
        o.push_str("<p>None in the last 24 hours.</p>");
    } else {
        o.push_str(
            "<div class=\"scroll\"><table><caption>Corrections and closes, newest first</caption><thead><tr>\
             <th scope=\"col\">At (UTC)</th><th scope=\"col\">Account</th><th scope=\"col\">Symbol</th>\
             <th scope=\"col\">Kind</th><th scope=\"col\">Op</th><th scope=\"col\">Status</th></tr></thead><tbody>",
        );
        for e in &s.recent {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.at),
                esc(&e.account),
                esc(&e.symbol),
                e.kind,
                esc(&e.op),
                esc(&e.status)
            );
        }
        o.push_str("</tbody></table></div>");
    }
    o.push_str("</section></main></body></html>\n");
    o
}
