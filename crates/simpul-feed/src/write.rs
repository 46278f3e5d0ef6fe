//! One batch: read from the store, written to PostgreSQL in one transaction with the
//! position it reached.

use simpul_store::{ReadError, Store};
use tokio_postgres::{Client, Transaction};

use crate::FeedError;
use crate::rows::{Flattened, Table};

/// The rows of up to `batch` entries of the change sequence after `after`, the last
/// entry's number (`None` when there were none), and how many records were left out
/// because they would not load.
pub(crate) fn read_batch(
    store: &Store,
    after: u64,
    batch: usize,
) -> Result<(Flattened, Option<u64>, u64), ReadError> {
    let entries = store.changes_after(after, batch)?;
    let mut flat = Flattened::default();
    let mut skipped = 0;
    for entry in &entries {
        if entry.removed {
            flat.remove(entry.id);
            continue;
        }
        match store.record(entry.id) {
            Ok(Some((_, record))) => flat.add(&record, entry.seq),
            // Let go since the sequence was read: its removal is a later entry.
            Ok(None) => {}
            Err(e @ ReadError::Corrupt { .. }) => {
                tracing::warn!(id = %entry.id, error = %e, "analytics feed: record left out");
                skipped += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((flat, entries.last().map(|e| e.seq), skipped))
}

/// What an insert does when the row is there already.
#[derive(Clone, Copy)]
enum OnConflict {
    /// Replace it (a person whose record changed).
    Replace,
    /// Keep it (an audit entry, never changed; a facility).
    Keep,
}

/// Where a batch leaves the feed.
pub(crate) struct Position<'a> {
    /// The node fed from.
    pub(crate) node: &'a str,
    /// The store's epoch.
    pub(crate) epoch: &'a str,
    /// The last change number the batch holds.
    pub(crate) seq: u64,
    /// The database holds rows of another history of the store: delete every fed row
    /// first (one database per node: see docs/feed.md).
    pub(crate) reset: bool,
}

/// Writes a batch and its position in one transaction.
pub(crate) async fn write_batch(
    client: &mut Client,
    flat: &Flattened,
    at: &Position<'_>,
) -> Result<(), FeedError> {
    let tx = client.transaction().await?;
    if at.reset {
        tx.batch_execute(
            "DELETE FROM people; DELETE FROM audit; DELETE FROM facilities;
             DELETE FROM pws_month; DELETE FROM pws_doses; UPDATE simpul_cursor SET pws_seq = NULL;",
        )
        .await?;
    }
    insert(&tx, &flat.facility_rows(), OnConflict::Keep).await?;
    insert(&tx, &flat.people, OnConflict::Replace).await?;
    // A person's visits are written again whole: what a correction or a merge removed
    // goes with them (measurements, doses and screenings by cascade).
    let people: Vec<&str> = flat.people.iter().map(|p| p.id.as_str()).collect();
    if !people.is_empty() {
        tx.execute(
            "DELETE FROM visits WHERE person_id = ANY($1::text[])",
            &[&people],
        )
        .await?;
    }
    insert(&tx, &flat.visits, OnConflict::Keep).await?;
    insert(&tx, &flat.measurements, OnConflict::Keep).await?;
    insert(&tx, &flat.immunisations, OnConflict::Keep).await?;
    insert(&tx, &flat.screenings, OnConflict::Keep).await?;
    insert(&tx, &flat.audit, OnConflict::Keep).await?;
    if !flat.removed.is_empty() {
        tx.execute(
            "DELETE FROM people WHERE id = ANY($1::text[])",
            &[&flat.removed],
        )
        .await?;
        tx.execute(
            "DELETE FROM audit WHERE log_id = ANY($1::text[])",
            &[&flat.removed],
        )
        .await?;
    }
    tx.execute(
        "INSERT INTO simpul_cursor (node, epoch, seq, fed_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (node) DO UPDATE
         SET epoch = EXCLUDED.epoch, seq = EXCLUDED.seq, fed_at = EXCLUDED.fed_at",
        &[&at.node, &at.epoch, &(at.seq as i64)],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts `rows` into their table in one statement: the rows go as one JSON array,
/// read back into columns by `jsonb_to_recordset`.
async fn insert<T: Table>(
    tx: &Transaction<'_>,
    rows: &[T],
    on_conflict: OnConflict,
) -> Result<(), FeedError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = serde_json::to_string(rows)?;
    tx.execute(&insert_sql::<T>(on_conflict), &[&json]).await?;
    Ok(())
}

fn insert_sql<T: Table>(on_conflict: OnConflict) -> String {
    let columns: Vec<&str> = T::COLUMNS.iter().map(|(name, _)| *name).collect();
    let typed: Vec<String> = T::COLUMNS
        .iter()
        .map(|(name, ty)| format!("{name} {ty}"))
        .collect();
    let key = T::KEY.join(", ");
    let conflict = match on_conflict {
        OnConflict::Keep => format!("ON CONFLICT ({key}) DO NOTHING"),
        OnConflict::Replace => {
            let set: Vec<String> = columns
                .iter()
                .filter(|c| !T::KEY.contains(c))
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect();
            format!("ON CONFLICT ({key}) DO UPDATE SET {}", set.join(", "))
        }
    };
    format!(
        "INSERT INTO {table} ({cols}) SELECT {cols} FROM jsonb_to_recordset($1::text::jsonb) AS x({typed}) {conflict}",
        table = T::NAME,
        cols = columns.join(", "),
        typed = typed.join(", "),
    )
}
