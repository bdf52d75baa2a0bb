//! Pages: events a human must hear about. They are broadcast by whoever
//! raises them (rules, the corrections task, the closes task); the `pager`
//! task logs every one and offers it to a [`Pager`], which decides what is
//! mailed directly (see [`email`]). Alertmanager delivery needs nothing from
//! here: it reads the same facts from the metrics.
//!
//! [`Pager`] is pure: it takes `now` and pages, and returns what to send.

pub mod email;

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::Serialize;

use crate::domain::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
        }
    }
}

/// Whether a page opens or closes a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Firing,
    /// The condition that paged no longer holds.
    Resolved,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Stable id of what is paging: a rule id, or e.g. `correction_refused`.
    pub id: String,
    pub severity: Severity,
    pub status: Status,
    pub venue: String,
    pub account: String,
    /// The symbol, group or source concerned; empty for the whole account.
    pub subject: String,
    pub summary: String,
    pub detail: String,
    pub at: Timestamp,
}

impl Page {
    fn key(&self) -> Key {
        (
            self.id.clone(),
            self.venue.clone(),
            self.account.clone(),
            self.subject.clone(),
        )
    }
}

/// (id, venue, account, subject): pages with the same key are one problem.
type Key = (String, String, String, String);

/// How often the direct channel may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagerPolicy {
    /// The same problem with the same summary is re-sent at most this often.
    pub repeat_interval: Duration,
    /// Mails over any sliding hour, all problems together.
    pub max_per_hour: u32,
}

/// One mail, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// What the pager decided for one page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Send(Mail),
    /// Already sent within the repeat interval, or a resolution of a problem
    /// that never paged.
    Deduplicated,
    /// Over `max_per_hour`; counted and mentioned in the next mail.
    RateLimited,
}

#[derive(Debug, Clone)]
struct Open {
    last_sent: Option<Timestamp>,
    summary: String,
}

/// Dedup, repeat interval, resolution notices and a rate limit for the
/// direct channel, as Alertmanager does them for its own.
#[derive(Debug)]
pub struct Pager {
    policy: PagerPolicy,
    open: BTreeMap<Key, Open>,
    sent: VecDeque<Timestamp>,
    suppressed: u32,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Pager {
    pub fn new(policy: PagerPolicy) -> Pager {
        Pager {
            policy,
            open: BTreeMap::new(),
            sent: VecDeque::new(),
            suppressed: 0,
        }
    }

    /// Problems paged and not yet resolved.
    pub fn open_problems(&self) -> usize {
        self.open.len()
    }

    pub fn offer(&mut self, page: &Page, now: Timestamp) -> Verdict {
        let key = page.key();
        match page.status {
            Status::Firing => {
                if let Some(open) = self.open.get(&key) {
                    let recent = open
                        .last_sent
                        .is_some_and(|t| now.since(t) < self.policy.repeat_interval);
                    if recent && open.summary == page.summary {
                        return Verdict::Deduplicated;
                    }
                }
                let verdict = self.admit(page, now);
                let sent = matches!(verdict, Verdict::Send(_));
                let open = self.open.entry(key).or_insert(Open {
                    last_sent: None,
                    summary: String::new(),
                });
                if sent {
                    open.last_sent = Some(now);
                    open.summary = page.summary.clone();
                }
                verdict
            }
            Status::Resolved => {
                let Some(open) = self.open.remove(&key) else {
                    return Verdict::Deduplicated;
                };
                if open.last_sent.is_none() {
                    // Never got through: nothing to take back.
                    return Verdict::Deduplicated;
                }
                self.admit(page, now)
            }
        }
    }

    fn admit(&mut self, page: &Page, now: Timestamp) -> Verdict {
        while self.sent.front().is_some_and(|t| now.since(*t) >= HOUR) {
            self.sent.pop_front();
        }
        if self.sent.len() >= self.policy.max_per_hour as usize {
            self.suppressed += 1;
            return Verdict::RateLimited;
        }
        self.sent.push_back(now);
        let suppressed = std::mem::take(&mut self.suppressed);
        Verdict::Send(render(page, suppressed))
    }
}

/// The mail for a page. The subject says what, where and how bad; the body
/// says why and since when.
pub fn render(page: &Page, suppressed: u32) -> Mail {
    let what = match page.status {
        Status::Firing => page.severity.as_str().to_uppercase(),
        Status::Resolved => "RESOLVED".to_owned(),
    };
    let subject_part = if page.subject.is_empty() {
        String::new()
    } else {
        format!(" {}", page.subject)
    };
    let mut summary: String = page.summary.chars().take(120).collect();
    if summary.len() < page.summary.len() {
        summary.push('…');
    }
    let subject = format!(
        "[driftwatch] {what} {} {}/{}{subject_part}: {summary}",
        page.id, page.venue, page.account
    );
    let mut body = format!(
        "{what}: {}\n\nrule/event: {}\nvenue:      {}\naccount:    {}\nsubject:    {}\nseverity:   {}\nat:         {}\n\n{}\n",
        page.summary,
        page.id,
        page.venue,
        page.account,
        if page.subject.is_empty() { "-" } else { &page.subject },
        page.severity.as_str(),
        page.at.to_utc_string(),
        page.detail,
    );
    if suppressed > 0 {
        body.push_str(&format!(
            "\n{suppressed} earlier page(s) were not mailed: over the hourly limit. See the logs.\n"
        ));
    }
    body.push_str("\nSent directly by driftwatch (independent of Prometheus and Alertmanager).\n");
    Mail { subject, body }
}

#[cfg(test)]
mod tests;
