//! How long the writer's durable commits take: a histogram the node's metrics expose
//! (`simpul_store_commit_duration_seconds`), so that a slow or failing disk shows.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The buckets' upper bounds, in seconds (Prometheus' `le`).
pub const COMMIT_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Counts commits by duration, lock-free (the writer thread records, a scrape reads),
/// and says how long the batch in hand has been going (a watchdog reads).
#[derive(Debug)]
pub(crate) struct CommitClock {
    /// What `busy_since` counts from.
    origin: Instant,
    /// When the batch in hand began, in ms after `origin` plus one; 0 while idle.
    busy_since: AtomicU64,
    /// Commits no longer than each bound (not cumulative).
    buckets: [AtomicU64; COMMIT_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    records: AtomicU64,
}

impl Default for CommitClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            busy_since: AtomicU64::new(0),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
            records: AtomicU64::new(0),
        }
    }
}

impl CommitClock {
    /// The writer took up a batch.
    pub(crate) fn busy(&self) {
        let since = self.origin.elapsed().as_millis() as u64 + 1;
        self.busy_since.store(since, Ordering::Relaxed);
    }

    /// The writer finished its batch (committed, or failed).
    pub(crate) fn idle(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// How long the batch in hand has been going; None while the writer waits for work.
    pub(crate) fn busy_for(&self) -> Option<Duration> {
        match self.busy_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(
                self.origin
                    .elapsed()
                    .saturating_sub(Duration::from_millis(since - 1)),
            ),
        }
    }

    /// A commit of `records` writes took `took`.
    pub(crate) fn record(&self, took: Duration, records: usize) {
        let seconds = took.as_secs_f64();
        if let Some(i) = COMMIT_BUCKETS.iter().position(|le| seconds <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.records.fetch_add(records as u64, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> CommitTimings {
        let mut running = 0;
        let buckets = COMMIT_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(le, n)| {
                running += n.load(Ordering::Relaxed);
                (*le, running)
            })
            .collect();
        CommitTimings {
            buckets,
            count: self.count.load(Ordering::Relaxed),
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            records: self.records.load(Ordering::Relaxed),
        }
    }
}

/// The writer's commits since the store was opened.
#[derive(Debug, Clone, PartialEq)]
pub struct CommitTimings {
    /// Per bound (seconds), the commits that took no longer (cumulative, as Prometheus
    /// histograms are); the rest are counted in `count` only.
    pub buckets: Vec<(f64, u64)>,
    /// Commits.
    pub count: u64,
    /// Their total duration.
    pub sum_seconds: f64,
    /// Writes they made durable.
    pub records: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_fall_into_cumulative_buckets() {
        let clock = CommitClock::default();
        clock.record(Duration::from_micros(500), 3);
        clock.record(Duration::from_millis(30), 1);
        clock.record(Duration::from_secs(9), 2);
        let t = clock.snapshot();
        assert_eq!((t.count, t.records), (3, 6));
        assert_eq!(t.buckets[0], (0.001, 1));
        assert_eq!(t.buckets[4], (0.025, 1));
        assert_eq!(t.buckets[5], (0.05, 2));
        assert_eq!(
            t.buckets.last(),
            Some(&(5.0, 2)),
            "9 s is above every bound"
        );
        assert!((t.sum_seconds - 9.0305).abs() < 1e-9, "{}", t.sum_seconds);
    }
}
