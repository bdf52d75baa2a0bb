//! The one place that reads the wall clock. Pure code receives `now`.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::Timestamp;

/// The current wall-clock time.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    Timestamp(ms)
}
