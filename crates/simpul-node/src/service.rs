//! Telling systemd how the node is, for a `Type=notify` unit with a watchdog
//! (`packaging/debian/simpul.service`): ready once it serves, stopping when it stops,
//! and a heartbeat for as long as the store answers. Outside systemd (no
//! `NOTIFY_SOCKET`) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use simpul_store::Store;

use crate::store_health::StoreHealth;

/// The node serves: systemd starts what waits for it.
pub fn ready() {
    notify(&[NotifyState::Ready, NotifyState::Status("running")]);
}

/// The node is stopping.
pub fn stopping() {
    notify(&[NotifyState::Stopping]);
}

fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(error = %e, "telling systemd the node's state");
    }
}

/// Sends the watchdog's heartbeat at half its interval while the store is healthy and
/// answers a read: a node whose store hangs or failed stops beating, and systemd
/// restarts it. Returns at once when the unit has no watchdog.
pub async fn watchdog(store: Store, health: StoreHealth) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    loop {
        let probe = store.clone();
        let answered = tokio::time::timeout(
            every,
            tokio::task::spawn_blocking(move || probe.mark("watchdog")),
        )
        .await;
        let alive = matches!(answered, Ok(Ok(Ok(_)))) && health.failure().is_none();
        if alive {
            notify(&[NotifyState::Watchdog]);
        } else {
            tracing::error!("the store did not answer: no watchdog heartbeat");
        }
        tokio::time::sleep(every).await;
    }
}
