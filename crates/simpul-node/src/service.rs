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

/// Sends the watchdog's heartbeat at half its interval while the store is healthy:
/// a node whose store hangs or failed stops beating, and systemd restarts it. Returns
/// at once when the unit has no watchdog.
pub async fn watchdog(store: Store, health: StoreHealth) {
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec / 2);
    loop {
        match store_alive(&store, &health, every, HUNG_WRITER_AFTER).await {
            Ok(()) => notify(&[NotifyState::Watchdog]),
            Err(why) => tracing::error!(%why, "no watchdog heartbeat"),
        }
        tokio::time::sleep(every).await;
    }
}

/// How long the writer may be at one batch before the node counts as hung. A batch of
/// 512 records on a slow SD card can take tens of seconds; a disk hung in `fsync` stays
/// hung, so minutes lose nothing (and a restart loop on a slow but working disk would
/// roll the same batch back again and again).
pub const HUNG_WRITER_AFTER: Duration = Duration::from_secs(300);

/// Whether the store works: it answers a read within `limit`, its writer has not been
/// at one batch for longer than `writer_limit` (a disk hung in `fsync` leaves reads
/// answering from the last snapshot, so the read alone would not tell), and it has not
/// failed.
pub async fn store_alive(
    store: &Store,
    health: &StoreHealth,
    limit: Duration,
    writer_limit: Duration,
) -> Result<(), String> {
    let probe = store.clone();
    let answered = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || probe.mark("watchdog")),
    )
    .await;
    if !matches!(answered, Ok(Ok(Ok(_)))) {
        return Err(format!("the store did not answer a read within {limit:?}"));
    }
    if let Some(busy) = store.writer_busy_for().filter(|b| *b > writer_limit) {
        return Err(format!(
            "the store's writer has been at one batch for {} s (a hung disk?)",
            busy.as_secs()
        ));
    }
    match health.failure() {
        Some(failure) => Err(format!("the store failed: {failure}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simpul_model::{FacilityPath, Patient, Record, RecordBody, Scope};

    const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_heartbeat_while_the_writer_hangs_or_the_store_failed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = FacilityPath::parse(PY).expect("path");
        let store = Store::create(dir.path(), &path, [1; 4], Default::default()).expect("store");
        let health = StoreHealth::new();
        let limit = Duration::from_millis(100);
        let record = Record {
            id: simpul_model::RecordId::from_bytes([5; 16]),
            scope: Scope::up(path.clone()),
            body: RecordBody::Patient(Patient::example("Siti", &path)),
        };
        let today = simpul_model::Date::parse("2026-12-06").expect("date");
        store
            .insert_record(record.clone(), today, 1_000)
            .expect("insert");
        assert_eq!(store_alive(&store, &health, limit, limit).await, Ok(()));

        // A write that hangs, as a commit stuck in fsync would.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let writer = store.clone();
        let writing = std::thread::spawn(move || {
            writer.update_record(record.id, today, 2_000, move |_| {
                hold.recv().expect("released");
                Ok(())
            })
        });
        tokio::time::sleep(limit * 3).await;
        let hung = store_alive(&store, &health, limit, limit).await;
        // A busy writer within its own (longer) allowance still beats.
        let slow = store_alive(&store, &health, limit, Duration::from_secs(60)).await;
        release.send(()).expect("release");
        writing.join().expect("join").expect("update");
        assert_eq!(slow, Ok(()));
        let said = hung.expect_err("a hung writer");
        assert!(said.contains("writer"), "{said}");

        health.failed("disk full");
        let said = store_alive(&store, &health, limit, limit)
            .await
            .expect_err("failed");
        assert!(said.contains("disk full"), "{said}");
    }
}
