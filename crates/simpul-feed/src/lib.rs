//! An analytics feed: keeps a PostgreSQL database up to date with flattened tables of
//! what a node holds (people, visits, measurements with growth z-scores, immunisations,
//! screenings, audit, facilities) and the PWS by month, for analysts' SQL and BI tools.
//!
//! The feed reads the store's change sequence ([`simpul_store::Store::changes_after`])
//! from the position the database records for this node (`simpul_cursor`), a batch at a
//! time. Each batch is written in one PostgreSQL transaction together with the new
//! position, and every write replaces what it writes (a person's rows are deleted and
//! written again whole; audit entries are inserted once): a feed killed at any moment
//! and run again repeats at most the batch it was writing, and repeating it changes
//! nothing. A store restored from a backup renumbers its sequence; the feed sees the
//! store's epoch change and feeds everything again.
//!
//! The tables and their columns: `docs/feed.md`.

mod error;
mod pws;
mod rows;
pub mod schema;
#[cfg(feature = "testing")]
pub mod testing;
mod write;

use std::time::{Duration, Instant};

use simpul_store::Store;
use tokio_postgres::{Client, NoTls};

pub use error::FeedError;
pub use rows::{
    AuditRow, FacilityRow, Flattened, ImmunisationRow, MeasurementRow, Person, ScreeningRow, Table,
    VisitRow,
};
pub use schema::SCHEMA_VERSION;

/// The tables of fed rows (not the feed's own bookkeeping), parents first.
pub const TABLES: &[&str] = &[
    "facilities",
    "people",
    "visits",
    "measurements",
    "immunisations",
    "screenings",
    "audit",
    "pws_month",
    "pws_doses",
];

/// Records read from the store and written to PostgreSQL in one transaction, unless
/// the feed is told otherwise.
pub const DEFAULT_BATCH: usize = 1_000;

/// How often a feed that follows the store computes the PWS months again, at most:
/// they cost a pass over every person (seconds at a district).
pub const DEFAULT_PWS_EVERY: Duration = Duration::from_secs(15 * 60);

pub use pws::MONTHS as PWS_MONTHS;

/// How a feed runs.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// Records per batch (one PostgreSQL transaction each).
    pub batch: usize,
    /// How many months of PWS are kept up to date (0: none).
    pub pws_months: u32,
    /// The last of those months; the current month (in WIT) when `None`.
    pub pws_until: Option<simpul_model::pws::Month>,
    /// A following feed computes the PWS months again at most this often.
    pub pws_every: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            batch: DEFAULT_BATCH,
            pws_months: PWS_MONTHS,
            pws_until: None,
            pws_every: DEFAULT_PWS_EVERY,
        }
    }
}

/// How far a feed has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// The position reached in the store's change sequence.
    pub seq: u64,
    /// The store's newest position when the run began: what the run feeds up to.
    pub target: u64,
    /// Records fed in this run.
    pub records: u64,
    /// Rows written in this run, all tables.
    pub rows: u64,
    /// Records that would not load (damaged: `simpul verify` names them), left out.
    pub skipped: u64,
}

/// A connection to the database, its schema brought up to date, feeding one store.
pub struct Feed {
    client: Client,
    store: Store,
    node: String,
    options: FeedOptions,
    /// When this feed last computed the PWS months.
    pws_at: Option<Instant>,
}

impl Feed {
    /// Connects to `url` (a libpq connection string or `postgresql://` URL) and
    /// migrates the feed's tables.
    pub async fn connect(url: &str, store: Store, options: FeedOptions) -> Result<Feed, FeedError> {
        let (mut client, connection) = tokio_postgres::connect(url, NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "analytics feed: the PostgreSQL connection ended");
            }
        });
        schema::migrate(&mut client).await?;
        Ok(Feed {
            client,
            node: store.node().path.to_string(),
            store,
            options,
            pws_at: None,
        })
    }

    /// Feeds every change the store holds now, batch by batch, calling `progress` after
    /// each; returns where it got to.
    pub async fn run_once(
        &mut self,
        mut progress: impl FnMut(&Progress),
    ) -> Result<Progress, FeedError> {
        let epoch = self.epoch().await?;
        let target = self.blocking(|s| s.last_sequence()).await?;
        // A position this store never gave (another epoch of it, or numbers past its
        // newest) means the database holds rows of another history: they go, in the
        // transaction of the first batch, and everything is fed again.
        let (seq, mut reset) = match self.position(&epoch).await? {
            Some(seq) if seq <= target => (seq, false),
            Some(_) => {
                tracing::info!(
                    node = %self.node,
                    "analytics feed: the store's history is not the one fed; feeding everything again"
                );
                (0, true)
            }
            None => (0, false),
        };
        let mut done = Progress {
            seq,
            target,
            ..Progress::default()
        };
        loop {
            let (after, batch) = (done.seq, self.options.batch.max(1));
            let (flat, last, skipped) = self
                .blocking(move |s| write::read_batch(s, after, batch))
                .await?;
            let Some(last) = last.or(reset.then_some(0)) else {
                break;
            };
            let at = write::Position {
                node: &self.node,
                epoch: &epoch,
                seq: last,
                reset,
            };
            write::write_batch(&mut self.client, &flat, &at).await?;
            reset = false;
            if last == 0 {
                break;
            }
            done.seq = last;
            done.records += (flat.people.len() + flat.removed.len()) as u64;
            done.rows += flat.rows() as u64;
            done.skipped += skipped;
            progress(&done);
            if done.seq >= done.target {
                break;
            }
        }
        self.refresh_pws(&epoch, done.seq).await?;
        Ok(done)
    }

    /// Computes the PWS months again when the store changed since they were computed
    /// (or the months moved on), unless this feed computed them less than
    /// [`FeedOptions::pws_every`] ago. Returns whether it did.
    async fn refresh_pws(&mut self, epoch: &str, seq: u64) -> Result<bool, FeedError> {
        if self.options.pws_months == 0
            || self
                .pws_at
                .is_some_and(|at| at.elapsed() < self.options.pws_every)
        {
            return Ok(false);
        }
        let until = self.options.pws_until.unwrap_or_else(|| {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            simpul_model::pws::Month::of(simpul_model::Date::in_indonesia_at(now_ms))
        });
        let row = self
            .client
            .query_opt(
                "SELECT pws_seq, pws_until::text FROM simpul_cursor WHERE node = $1",
                &[&self.node],
            )
            .await?;
        let computed = row.map(|r| (r.get::<_, Option<i64>>(0), r.get::<_, Option<String>>(1)));
        if computed == Some((Some(seq as i64), Some(until.first_day().to_string()))) {
            // Current: not asked again before `pws_every` has passed.
            self.pws_at = Some(Instant::now());
            return Ok(false);
        }
        let months = pws::window(until, self.options.pws_months);
        let reports = self.blocking(move |s| pws::compute(s, &months)).await?;
        let at = write::Position {
            node: &self.node,
            epoch,
            seq,
            reset: false,
        };
        pws::write(&mut self.client, &reports, &at, until).await?;
        self.pws_at = Some(Instant::now());
        Ok(true)
    }

    /// Feeds, then looks for new changes every `every` (a read of the store's newest
    /// position), until `stop` resolves.
    pub async fn follow(
        &mut self,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), FeedError> {
        tokio::pin!(stop);
        let mut fed = self.run_once(|_| {}).await?.seq;
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                () = tokio::time::sleep(every) => {}
            }
            let newest = self.blocking(|s| s.last_sequence()).await?;
            if newest != fed {
                fed = self.run_once(|_| {}).await?.seq;
            } else {
                // Nothing new, but the PWS may be due (held back by `pws_every`, or a
                // new month began).
                let epoch = self.epoch().await?;
                self.refresh_pws(&epoch, fed).await?;
            }
        }
    }

    /// Where the database says this node's feed got to (0 when it never fed).
    pub async fn cursor(&self) -> Result<u64, FeedError> {
        let row = self
            .client
            .query_opt(
                "SELECT seq FROM simpul_cursor WHERE node = $1",
                &[&self.node],
            )
            .await?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    /// The store's sequence epoch, as recorded beside the position.
    async fn epoch(&self) -> Result<String, FeedError> {
        let bytes = self.blocking(|s| s.sequence_epoch()).await?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The position the database recorded for this node: `None` when it never fed
    /// from it, `Some(u64::MAX)` when it fed from another epoch of the store (a
    /// restored backup).
    async fn position(&self, epoch: &str) -> Result<Option<u64>, FeedError> {
        let row = self
            .client
            .query_opt(
                "SELECT epoch, seq FROM simpul_cursor WHERE node = $1",
                &[&self.node],
            )
            .await?;
        Ok(row.map(|r| {
            if r.get::<_, String>(0) == epoch {
                r.get::<_, i64>(1) as u64
            } else {
                u64::MAX
            }
        }))
    }

    /// Runs a store read off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Store) -> Result<T, simpul_store::ReadError> + Send + 'static,
    ) -> Result<T, FeedError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || read(&store))
            .await
            .map_err(|e| FeedError::Task(e.to_string()))?
            .map_err(FeedError::Store)
    }
}

/// A connection string or URL for PostgreSQL: it may hold a password, so `Debug` does
/// not show it (configs and command lines are debug-printed; logs must not carry it).
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct ConnectionUrl(String);

impl ConnectionUrl {
    /// The text, to connect with.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectionUrl(not shown)")
    }
}

impl std::str::FromStr for ConnectionUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}
