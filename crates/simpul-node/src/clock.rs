//! The wall clock: the daemon and the CLI read it only through these two functions.

use std::time::{SystemTime, UNIX_EPOCH};

use simpul_model::Date;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Today's date in the easternmost Indonesian zone (WIT, UTC+9): no date that is
/// already today anywhere in Indonesia is refused as "in the future".
pub fn today() -> Date {
    Date::from_unix_days(((now_ms() / 1000 + 9 * 3600) / 86_400) as i64)
}
