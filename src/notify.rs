//! Pages: events a human must hear about (a guard refused a correction, a
//! correction failed). They are broadcast to whoever listens; the `pager`
//! task logs each at error level. Email and Alertmanager delivery hang off
//! the same broadcast.

use serde::Serialize;

use crate::domain::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Critical,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// Stable id of what is paging: a rule id, or e.g. `correction_refused`.
    pub id: String,
    pub severity: Severity,
    pub venue: String,
    pub account: String,
    pub summary: String,
    pub detail: String,
    pub at: Timestamp,
}
