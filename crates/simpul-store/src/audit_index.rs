//! The audit trail indexed (schema 9): every entry of the audit records held, by time,
//! by the record it concerns and by who acted, filed by the writer in the transaction
//! that stores the audit record. A question about one person or one health worker reads
//! their entries, newest first, a page at a time, and no audit document.

use std::fmt;
use std::str::FromStr;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use simpul_model::{AuditEntry, AuditLog, FacilityPath, Record, RecordBody, RecordId};

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::{AUDIT_BY_RECORD, AUDIT_BY_TIME, AUDIT_BY_WHO};

/// An entry as filed: plain fields, for postcard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Filed {
    node: String,
    who: String,
    role: String,
    action: String,
    record: Option<[u8; 16]>,
    detail: Option<String>,
    via: String,
}

impl Filed {
    fn of(node: &FacilityPath, e: &AuditEntry) -> Self {
        Self {
            node: node.to_string(),
            who: e.who.clone(),
            role: e.role.to_string(),
            action: e.action.to_string(),
            record: e.record.map(|r| *r.as_bytes()),
            detail: e.detail.clone(),
            via: e.via.clone(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_else(|e| unreachable!("postcard encodes: {e}"))
    }
}

/// One entry of the trail and where it is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditHit {
    /// The node where it happened.
    pub node: FacilityPath,
    /// What happened.
    pub entry: AuditEntry,
    /// Where it stands in the trail (what a page after it starts from).
    pub at: AuditCursor,
}

/// A place in the trail: an entry's time, audit record and key. Shown as
/// `<ms>.<record id>.<entry key>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditCursor {
    at_ms: u64,
    log: [u8; 16],
    key: String,
}

impl fmt::Display for AuditCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.at_ms,
            RecordId::from_bytes(self.log),
            self.key
        )
    }
}

impl FromStr for AuditCursor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("{s:?} is not a place in the audit trail (<ms>.<record id>.<entry key>)");
        let mut parts = s.splitn(3, '.');
        let (Some(at), Some(log), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let at_ms = at.parse().map_err(|_| bad())?;
        let log: RecordId = log.parse().map_err(|_| bad())?;
        if key.is_empty() || key.len() > 64 {
            return Err(bad());
        }
        Ok(Self {
            at_ms,
            log: *log.as_bytes(),
            key: key.to_string(),
        })
    }
}

/// A place in the trail as the index keys it: time, audit record, entry key.
type Place = (u64, [u8; 16], String);

/// Which entries an audit question wants.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries about this record.
    pub record: Option<RecordId>,
    /// Entries by this person (exact name).
    pub who: Option<String>,
    /// Entries kept by this facility or below it.
    pub facility: Option<FacilityPath>,
    /// Entries from this time on (Unix ms).
    pub since_ms: Option<u64>,
}

/// What the index holds for an entry (for `verify` to compare).
pub(crate) fn filed_bytes(node: &FacilityPath, e: &AuditEntry) -> Vec<u8> {
    Filed::of(node, e).encode()
}

/// Files the entries of audit record `id` not filed yet. `filed` is how many entries
/// the record held when it was last stored (all of them filed then).
pub(crate) fn file(
    txn: &WriteTransaction,
    id: RecordId,
    record: &Record,
    filed: usize,
) -> Result<(), redb::Error> {
    let RecordBody::Audit(log) = &record.body else {
        return Ok(());
    };
    file_log(txn, id, log, filed)
}

/// Only the owner appends to its trail, in time order, so the entries not filed yet
/// are usually the newest ones: those are tried first, and the whole log is walked only
/// when one of them was filed already (a clock set back at the owner). Without this,
/// each append looked up every entry of its part.
fn file_log(
    txn: &WriteTransaction,
    id: RecordId,
    log: &AuditLog,
    filed: usize,
) -> Result<(), redb::Error> {
    let mut tables = Tables {
        by_time: txn.open_table(AUDIT_BY_TIME)?,
        by_record: txn.open_table(AUDIT_BY_RECORD)?,
        by_who: txn.open_table(AUDIT_BY_WHO)?,
    };
    let log_id = id.as_bytes();
    let unfiled = log.entries.len().saturating_sub(filed);
    let newest = log.entries.iter().rev().take(unfiled);
    if filed > log.entries.len() || !file_each(&mut tables, log, log_id, newest)? {
        file_each(&mut tables, log, log_id, log.entries.iter())?;
    }
    Ok(())
}

struct Tables<'txn> {
    by_time: redb::Table<'txn, (u64, &'static [u8; 16], &'static str), &'static [u8]>,
    by_record: redb::Table<'txn, crate::tables::AuditByRecordKey, ()>,
    by_who: redb::Table<'txn, (&'static str, u64, &'static [u8; 16], &'static str), ()>,
}

/// Files `entries` not filed yet; says whether none of them was.
fn file_each<'a>(
    t: &mut Tables<'_>,
    log: &AuditLog,
    log_id: &[u8; 16],
    entries: impl Iterator<Item = (&'a String, &'a AuditEntry)>,
) -> Result<bool, redb::Error> {
    let mut all_new = true;
    for (key, e) in entries {
        let at = (e.at_ms, log_id, key.as_str());
        if t.by_time.get(at)?.is_some() {
            all_new = false;
            continue;
        }
        t.by_time
            .insert(at, Filed::of(&log.facility, e).encode().as_slice())?;
        if let Some(r) = e.record {
            t.by_record
                .insert((r.as_bytes(), e.at_ms, log_id, key.as_str()), ())?;
        }
        t.by_who
            .insert((e.who.as_str(), e.at_ms, log_id, key.as_str()), ())?;
    }
    Ok(all_new)
}

/// Removes the entries of audit record `id` (let go) from the index.
pub(crate) fn unfile(
    txn: &WriteTransaction,
    id: RecordId,
    record: &Record,
) -> Result<(), redb::Error> {
    let RecordBody::Audit(log) = &record.body else {
        return Ok(());
    };
    let mut by_time = txn.open_table(AUDIT_BY_TIME)?;
    let mut by_record = txn.open_table(AUDIT_BY_RECORD)?;
    let mut by_who = txn.open_table(AUDIT_BY_WHO)?;
    let log_id = id.as_bytes();
    for (key, e) in &log.entries {
        by_time.remove((e.at_ms, log_id, key.as_str()))?;
        if let Some(r) = e.record {
            by_record.remove((r.as_bytes(), e.at_ms, log_id, key.as_str()))?;
        }
        by_who.remove((e.who.as_str(), e.at_ms, log_id, key.as_str()))?;
    }
    Ok(())
}

/// Schema 9: files the entries of every audit record held (loads each once).
pub(crate) fn backfill(txn: &WriteTransaction) -> Result<(), redb::Error> {
    txn.delete_table(AUDIT_BY_TIME)?;
    txn.delete_table(AUDIT_BY_RECORD)?;
    txn.delete_table(AUDIT_BY_WHO)?;
    txn.open_table(AUDIT_BY_TIME)?;
    txn.open_table(AUDIT_BY_RECORD)?;
    txn.open_table(AUDIT_BY_WHO)?;
    crate::migrate::each_record(txn, simpul_model::RecordKind::Audit, |id, record| {
        file(txn, id, record, 0)
    })
}

fn hit(at: Place, bytes: &[u8]) -> Result<AuditHit, ReadError> {
    let id = RecordId::from_bytes(at.1);
    let corrupt = |reason: String| ReadError::Corrupt { id, reason };
    let f: Filed = postcard::from_bytes(bytes).map_err(|e| corrupt(format!("audit index: {e}")))?;
    let entry = AuditEntry {
        at_ms: at.0,
        who: f.who,
        role: f
            .role
            .parse()
            .map_err(|e| corrupt(format!("audit index: {e}")))?,
        action: f
            .action
            .parse()
            .map_err(|e| corrupt(format!("audit index: {e}")))?,
        record: f.record.map(RecordId::from_bytes),
        detail: f.detail,
        via: f.via,
    };
    let node = FacilityPath::parse(&f.node).map_err(|e| corrupt(format!("audit index: {e}")))?;
    Ok(AuditHit {
        node,
        entry,
        at: AuditCursor {
            at_ms: at.0,
            log: at.1,
            key: at.2,
        },
    })
}

impl Store {
    /// A page of the audit trail, newest first: up to `limit` entries `filter` wants,
    /// older than `before` (from the newest without it). Reads the index of the record
    /// or the person asked about, else the trail by time; stops after examining
    /// `budget` entries. Returns the page and where the next starts (none at the end).
    pub fn audit_page(
        &self,
        filter: &AuditFilter,
        before: Option<&AuditCursor>,
        limit: usize,
        budget: usize,
    ) -> Result<(Vec<AuditHit>, Option<AuditCursor>), ReadError> {
        let txn = self.db().begin_read()?;
        let by_time = txn.open_table(AUDIT_BY_TIME)?;
        let since = filter.since_ms.unwrap_or(0);
        let top = before.map_or((u64::MAX, [0xff; 16], String::new()), |c| {
            (c.at_ms, c.log, c.key.clone())
        });
        // Candidates newest first, as (time, audit record, key), from one index.
        let mut candidates: Box<dyn Iterator<Item = Result<Place, ReadError>>> =
            if let Some(record) = filter.record {
                let table = txn.open_table(AUDIT_BY_RECORD)?;
                let r = *record.as_bytes();
                let rows = table
                    .range((&r, since, &[0u8; 16], "")..(&r, top.0, &top.1, top.2.as_str()))?
                    .rev()
                    .take(budget)
                    .map(|row| {
                        let (k, _) = row?;
                        let (_, at, log, key) = k.value();
                        Ok((at, *log, key.to_string()))
                    });
                Box::new(rows.collect::<Vec<_>>().into_iter())
            } else if let Some(who) = &filter.who {
                let table = txn.open_table(AUDIT_BY_WHO)?;
                let rows = table
                    .range(
                        (who.as_str(), since, &[0u8; 16], "")
                            ..(who.as_str(), top.0, &top.1, top.2.as_str()),
                    )?
                    .rev()
                    .take(budget)
                    .map(|row| {
                        let (k, _) = row?;
                        let (_, at, log, key) = k.value();
                        Ok((at, *log, key.to_string()))
                    });
                Box::new(rows.collect::<Vec<_>>().into_iter())
            } else {
                let rows = by_time
                    .range((since, &[0u8; 16], "")..(top.0, &top.1, top.2.as_str()))?
                    .rev()
                    .take(budget)
                    .map(|row| {
                        let (k, _) = row?;
                        let (at, log, key) = k.value();
                        Ok((at, *log, key.to_string()))
                    });
                Box::new(rows.collect::<Vec<_>>().into_iter())
            };
        let mut page = Vec::new();
        let mut examined = 0;
        let mut last = None;
        for candidate in candidates.by_ref() {
            let at = candidate?;
            examined += 1;
            last = Some(at.clone());
            let Some(bytes) = by_time.get((at.0, &at.1, at.2.as_str()))? else {
                continue;
            };
            let h = hit(at, bytes.value())?;
            let wanted = filter.record.is_none_or(|r| h.entry.record == Some(r))
                && filter.who.as_ref().is_none_or(|w| *w == h.entry.who)
                && filter
                    .facility
                    .as_ref()
                    .is_none_or(|f| f.is_ancestor_or_self(&h.node));
            if wanted {
                page.push(h);
                if page.len() == limit {
                    break;
                }
            }
            if examined >= budget {
                break;
            }
        }
        let more = candidates.next().is_some();
        let next = match (more || examined >= budget, last) {
            (true, Some((at_ms, log, key))) => Some(AuditCursor { at_ms, log, key }),
            _ => None,
        };
        Ok((page, next))
    }

    /// Audit entries filed, all records (a check for `verify` and tests).
    pub fn audit_entries_filed(&self) -> Result<u64, ReadError> {
        use redb::ReadableTableMetadata;
        let txn = self.db().begin_read()?;
        Ok(txn.open_table(AUDIT_BY_TIME)?.len()?)
    }
}
