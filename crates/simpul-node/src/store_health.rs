//! Whether the store still works. redb refuses everything after an I/O error (a full or
//! failing disk) until the database is opened again, so a node that carried on would
//! refuse every write and answer every read with an error. Whatever meets a failure of
//! the store reports it here; the daemon then stops with an error, the service manager
//! starts it again, and the store is opened afresh (which works once the disk has room
//! again, and otherwise says why it does not).

use tokio::sync::watch;

use crate::driver::SessionEnd;

/// The store's state, shared by everything that uses it.
#[derive(Debug, Clone)]
pub struct StoreHealth(watch::Sender<Option<String>>);

impl Default for StoreHealth {
    fn default() -> Self {
        StoreHealth(watch::channel(None).0)
    }
}

impl StoreHealth {
    /// A working store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The store failed: the first reason given is kept.
    pub fn failed(&self, reason: &str) {
        self.0.send_if_modified(|held| {
            if held.is_some() {
                return false;
            }
            *held = Some(reason.to_string());
            true
        });
    }

    /// A session that ended because the store failed under it.
    pub fn note_session_end(&self, end: &SessionEnd) {
        if end.store_failed {
            self.failed(&end.reason);
        }
    }

    /// Why the store failed, if it has.
    pub fn failure(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Waits until the store fails; why.
    pub async fn wait_failed(&self) -> String {
        let mut rx = self.0.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "the store's state is no longer watched".into();
            }
        }
    }
}
