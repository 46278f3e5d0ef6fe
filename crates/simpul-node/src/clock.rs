//! The wall clock: the daemon and the CLI read it only through these functions, or
//! through a [`Clock`] handed to what runs long (a session may outlive midnight).

use std::sync::Arc;
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
    date_at(now_ms())
}

/// The date (as [`today`] counts days) at `ms` since the Unix epoch.
pub fn date_at(ms: u64) -> Date {
    Date::in_indonesia_at(ms)
}

/// Where something that runs for hours reads the time: each time it needs it, never once
/// at the start. The wall clock in the node; any function of ours in tests.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Clock(Arc::new(now_ms))
    }

    /// A clock that reads `now` (milliseconds since the Unix epoch).
    pub fn from_fn(now: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }

    /// Today's date, now ([`today`]'s zone).
    pub fn today(&self) -> Date {
        date_at(self.now_ms())
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({} ms)", self.now_ms())
    }
}
