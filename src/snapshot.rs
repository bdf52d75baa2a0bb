//! What the core publishes after every input: the reconciled state of every
//! account at one moment. The table, the HTTP endpoints and the tests read
//! it; only the core (`app`) makes one.

use std::sync::Arc;

use crate::domain::Timestamp;
use crate::reconcile::AccountReport;

/// The reconciled state of every account at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Timestamp,
    /// What this replica may do (with `leadership:`, one of several).
    pub acting: Acting,
    pub accounts: Vec<AccountSnapshot>,
}

/// Whether this process acts on what it sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acting {
    /// No leadership configured: it acts alone.
    Alone,
    /// The leader of this epoch: it acts.
    Leader { epoch: i64 },
    /// A standby: it watches; another replica acts.
    Standby,
}

impl Acting {
    /// One line for the table and the status page.
    pub fn describe(self) -> Option<String> {
        match self {
            Acting::Alone => None,
            Acting::Leader { epoch } => Some(format!("this replica leads (epoch {epoch}): it corrects and closes")),
            Acting::Standby => Some("this replica is a STANDBY: it watches; the leader corrects and closes".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccountSnapshot {
    pub name: String,
    pub venue: String,
    pub report: Arc<AccountReport>,
    /// The last correction cycle's summary, if any.
    pub corrections: Option<String>,
    /// The last emergency close's outcome, if any.
    pub closes: Option<String>,
    /// The rule conditions that hold on the account.
    pub conditions: Vec<crate::rules::Holding>,
    /// Bot rows whose symbol the mapping does not place (last DB read).
    pub unmapped: Vec<crate::domain::UnmappedRow>,
}

impl Snapshot {
    /// Every source of every account is trusted.
    pub fn all_sources_trusted(&self) -> bool {
        self.accounts.iter().all(|a| a.report.sources.iter().all(|s| s.trusted))
    }
}
