//! Keeping a store healthy: verify it, copy it while it is in use, compact its file.

use std::path::{Path, PathBuf};

use redb::{
    Database, MultimapTableHandle, ReadableDatabase, ReadableMultimapTable, ReadableTable,
    ReadableTableMetadata, TableDefinition, TableHandle,
};
use serde::{Deserialize, Serialize};
use simpul_model::{Record, RecordId, content_time};

use crate::error::{OpenError, ReadError};
use crate::meta::{RecordMeta, scope_keys};
use crate::read::load_document;
use crate::store::{DB_FILE, Store};
use crate::tables::{
    AUDIT_BY_RECORD, AUDIT_BY_TIME, AUDIT_BY_WHO, CONFLICTS, COUNTS, DUPLICATE_KEYS_OF,
    DUPLICATE_MEMBERS, DUPLICATES, HEARD, HOMES, KINDS, REPORT_FACTS, SEQUENCE, SEQUENCE_OF,
};
use crate::tables::{
    CERTS, CHANGES, DAMAGED, INDEX, LOOKUP, LOOKUP_KEYS, META, MOVED, PENDING_SEALS, QUARANTINE,
    RECORDS, SEALS, SNAPSHOTS, TOKENS, TOMBSTONES,
};

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Index rows checked.
    pub index_rows: u64,
    /// Everything wrong, one line each.
    pub problems: Vec<String>,
    /// Records marked damaged (left out of sync), those this check found among them.
    #[serde(default)]
    pub damaged: u64,
}

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The target exists; a backup never overwrites.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// The backup file could not be made.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading the store or writing the copy failed.
    #[error("database")]
    Db(#[from] redb::Error),
    /// Another backup is running (one at a time).
    #[error("another backup is running; try {0} again when it has finished")]
    Busy(PathBuf),
    /// The caller asked to stop: the partial copy was removed.
    #[error("stopped before the end: no backup was written; run it again")]
    Stopped,
}

macro_rules! backup_from {
    ($($t:ty),*) => {$(
        impl From<$t> for BackupError { fn from(e: $t) -> Self { BackupError::Db(e.into()) } }
    )*};
}
backup_from!(
    redb::TableError,
    redb::StorageError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);

impl Store {
    /// Checks every record: its bytes load, its metadata agrees with its document (heads,
    /// scope, content time), it belongs at this node, and the index holds exactly its
    /// rows. Reports `progress(done, total)` as it goes, and stops
    /// ([`ReadError::Stopped`]) when that returns `false`. Reads one consistent
    /// snapshot, so it can run while the node writes.
    pub fn verify(&self, progress: &dyn Fn(u64, u64) -> bool) -> Result<VerifyReport, ReadError> {
        let txn = self.db().begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let snapshots = txn.open_table(SNAPSHOTS)?;
        let changes = txn.open_table(CHANGES)?;
        let index = txn.open_table(INDEX)?;
        let total = records.len()?;
        let mut report = VerifyReport::default();
        let derived = DerivedTables::open(&txn)?;
        let mut census = crate::Census::default();
        let mut expected_rows = 0u64;
        let mut audit_entries = 0u64;
        let mut duplicate_keys = 0u64;
        let mut conflicted = 0u64;
        let mut found_damaged = Vec::new();
        for row in records.iter()? {
            let (key, value) = row?;
            let id = RecordId::from_bytes(*key.value());
            report.records += 1;
            if report.records % 256 == 0 && !progress(report.records, total) {
                return Err(ReadError::Stopped);
            }
            let meta = match RecordMeta::decode(value.value()) {
                Ok(m) => m,
                Err(e) => {
                    report
                        .problems
                        .push(format!("record {id}: metadata unreadable: {e}"));
                    continue;
                }
            };
            let mut entry = [0u8; 40];
            entry[..8].copy_from_slice(&meta.content_time.to_be_bytes());
            entry[8..].copy_from_slice(&meta.heads_digest);
            for scope_key in scope_keys(&meta.scope) {
                expected_rows += 1;
                match index.get((scope_key.as_str(), key.value()))? {
                    Some(row) if row.value() == &entry => {}
                    Some(_) => report
                        .problems
                        .push(format!("index row {scope_key} {id} is stale")),
                    None => report
                        .problems
                        .push(format!("record {id} has no index row for {scope_key}")),
                }
            }
            derived.check(id, &meta, &mut report.problems)?;
            *census.by_kind.entry(meta.kind.to_string()).or_default() += 1;
            *census
                .by_facility
                .entry(
                    meta.scope
                        .paths
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                )
                .or_default() += 1;
            let doc = match load_document(&snapshots, &changes, id, &meta) {
                Ok(doc) => doc,
                Err(e) => {
                    report.problems.push(e.to_string());
                    if let ReadError::Corrupt { reason, .. } = &e {
                        found_damaged.push((id, reason.clone()));
                    }
                    continue;
                }
            };
            match Record::from_document(&doc) {
                Ok(record) => {
                    derived.check_facts(id, &record, &mut report.problems)?;
                    if let Some(patient) = record.patient() {
                        derived.check_duplicates(id, patient, &mut report.problems)?;
                        duplicate_keys += crate::duplicates::keys_of(patient).len() as u64;
                    }
                    audit_entries += derived.check_audit(id, &record, &mut report.problems)?;
                    if record.id != id {
                        report
                            .problems
                            .push(format!("record {id}: document says it is {}", record.id));
                    }
                    if record.scope != meta.scope {
                        report.problems.push(format!(
                            "record {id}: metadata scope differs from the document's"
                        ));
                    }
                    if !record.scope.held_by(&self.node().path) {
                        report
                            .problems
                            .push(format!("record {id}: outside this node's scope"));
                    }
                }
                Err(e) => report.problems.push(format!("record {id}: {e}")),
            }
            conflicted += u64::from(derived.check_conflicts(id, &doc, &mut report.problems)?);
            if content_time(&doc) != meta.content_time {
                report.problems.push(format!(
                    "record {id}: metadata content time differs from the document's"
                ));
            }
            if let Some(problems) = self.check_seals(&txn, id, &doc) {
                report.problems.extend(problems);
            }
        }
        report.index_rows = index.len()?;
        // Rows beyond those of the records: find them (a second pass, only then).
        if report.index_rows != expected_rows {
            for row in index.iter()? {
                let (key, _) = row?;
                let (scope_key, id) = key.value();
                let held = match records.get(id)? {
                    Some(meta) => RecordMeta::decode(meta.value())
                        .is_ok_and(|m| scope_keys(&m.scope).any(|k| k == scope_key)),
                    None => false,
                };
                if !held {
                    report.problems.push(format!(
                        "index row {scope_key} {} has no record",
                        RecordId::from_bytes(*id)
                    ));
                }
            }
        }
        // The kept census of the same snapshot: writes go on while verify reads.
        let kept = crate::sequence::census_in(&txn)?;
        derived.check_totals(total, &census, &kept, &mut report.problems)?;
        derived.check_duplicate_list(duplicate_keys, &mut report.problems)?;
        let listed = derived.conflicts.len()?;
        if listed != conflicted {
            report.problems.push(format!(
                "{listed} records are listed with competing values, {conflicted} hold them"
            ));
        }
        let filed = derived.audit.len()?;
        if filed != audit_entries {
            report.problems.push(format!(
                "the audit index holds {filed} entries, the audit records {audit_entries}"
            ));
        }
        if !progress(report.records, total) {
            return Err(ReadError::Stopped);
        }
        drop((records, snapshots, changes, index, derived, txn));
        // What failed its check is left out of sync from now on, as if a session had
        // found it.
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for (id, reason) in found_damaged {
            if let Err(e) = self.mark_damaged(id, &reason, at_ms) {
                report
                    .problems
                    .push(format!("record {id}: could not be marked damaged: {e}"));
            }
        }
        report.damaged = self.damaged()?.len() as u64;
        Ok(report)
    }

    /// What no seal covers of a stored record (`None` when the store knows no CA to check
    /// seals against: a store that never ran as a node).
    fn check_seals(
        &self,
        txn: &redb::ReadTransaction,
        id: RecordId,
        doc: &simpul_model::automerge::Automerge,
    ) -> Option<Vec<String>> {
        use crate::writer::SealsTable;
        let keys = self.inner().keys.as_ref()?.read().ok()?;
        let seals = match txn.seals_row(id) {
            Ok(s) => s,
            Err(e) => return Some(vec![format!("record {id}: {e}")]),
        };
        // A record this node wrote itself without its key is sealed when it next starts.
        if self.is_pending(txn, id) {
            return Some(Vec::new());
        }
        Some(simpul_trust::unsealed(&keys, id, doc, &seals))
    }

    /// Writes a consistent copy of the whole store to `out` (a new file, itself a store
    /// file) from one read snapshot, while the node goes on writing. Returns the records
    /// copied. See [`Store::backup_with`].
    pub fn backup(&self, out: &Path) -> Result<u64, BackupError> {
        self.backup_with(out, &|_, _| true)
    }

    /// [`Store::backup`], reporting `progress(rows copied, rows in all)` as it goes and
    /// stopping ([`BackupError::Stopped`]) when that returns `false`.
    ///
    /// The copy is written to `<out>.partial`, made readable by its owner only (it holds
    /// health records) in one step that fails if anything is there, and renamed to
    /// `out` once committed and synced: a backup stopped or cut off by a power cut
    /// leaves no file that looks like a backup. A partial file left by such a run is
    /// removed first (a link there is removed, never followed). One backup runs at a
    /// time in a process (every backup of a store goes through the process holding it):
    /// another is refused as busy. A file already at `out` is never replaced.
    pub fn backup_with(
        &self,
        out: &Path,
        progress: &dyn Fn(u64, u64) -> bool,
    ) -> Result<u64, BackupError> {
        use std::os::unix::fs::OpenOptionsExt;
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _running = match ONE_AT_A_TIME.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                return Err(BackupError::Busy(out.to_path_buf()));
            }
        };
        let exists = || BackupError::Exists(out.to_path_buf());
        if out.symlink_metadata().is_ok() {
            return Err(exists());
        }
        let mut partial = out.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let create = |source| BackupError::Create {
            path: partial.clone(),
            source,
        };
        match std::fs::remove_file(&partial) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(create(e)),
            _ => {}
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(create)?;
        let copied = self.copy_into(file, progress);
        let records = match copied {
            Ok(records) if out.symlink_metadata().is_err() => records,
            Ok(_) => {
                let _ = std::fs::remove_file(&partial);
                return Err(exists());
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        std::fs::rename(&partial, out)
            .and_then(|()| match out.parent() {
                Some(dir) => std::fs::File::open(dir)?.sync_all(),
                None => Ok(()),
            })
            .map_err(|source| BackupError::Create {
                path: out.to_path_buf(),
                source,
            })?;
        Ok(records)
    }

    /// Copies every table into a new store in `file`, committed durably.
    fn copy_into(
        &self,
        file: std::fs::File,
        progress: &dyn Fn(u64, u64) -> bool,
    ) -> Result<u64, BackupError> {
        let source = self.db().begin_read()?;
        let mut total = 0;
        for table in source.list_tables()? {
            total += source.open_untyped_table(table)?.len()?;
        }
        for table in source.list_multimap_tables()? {
            total += source.open_untyped_multimap_table(table)?.len()?;
        }
        let target =
            Database::builder().create_with_backend(redb::backends::FileBackend::new(file)?)?;
        let txn = target.begin_write()?;
        let mut c = Copier {
            source: &source,
            target: &txn,
            done: 0,
            total,
            progress,
        };
        // Every table (`backup_holds_every_table` fails when one is added and not here).
        c.copy(META)?;
        let records = c.copy(RECORDS)?;
        c.copy(SNAPSHOTS)?;
        c.copy(CHANGES)?;
        c.copy(INDEX)?;
        c.copy(TOMBSTONES)?;
        c.copy(LOOKUP_KEYS)?;
        c.copy(TOKENS)?;
        c.copy(SEALS)?;
        c.copy(CERTS)?;
        c.copy(QUARANTINE)?;
        c.copy(PENDING_SEALS)?;
        c.copy(MOVED)?;
        c.copy(DAMAGED)?;
        c.copy(SEQUENCE)?;
        c.copy(SEQUENCE_OF)?;
        c.copy(KINDS)?;
        c.copy(COUNTS)?;
        c.copy(HEARD)?;
        c.copy(REPORT_FACTS)?;
        c.copy(HOMES)?;
        c.copy(AUDIT_BY_TIME)?;
        c.copy(AUDIT_BY_RECORD)?;
        c.copy(AUDIT_BY_WHO)?;
        c.copy(DUPLICATE_KEYS_OF)?;
        c.copy(DUPLICATES)?;
        c.copy(CONFLICTS)?;
        c.copy_multimap(LOOKUP)?;
        c.copy_multimap(DUPLICATE_MEMBERS)?;
        c.tick(true)?;
        txn.commit()?;
        Ok(records)
    }

    /// The names of the store's tables (for checking that a backup holds them all).
    pub fn table_names(&self) -> Result<Vec<String>, ReadError> {
        let txn = self.db().begin_read()?;
        let mut names: Vec<String> = txn
            .list_tables()?
            .map(|t| t.name().to_string())
            .chain(txn.list_multimap_tables()?.map(|t| t.name().to_string()))
            .collect();
        names.sort();
        Ok(names)
    }
}

/// Copies tables from a read snapshot into a new store, counting the rows.
struct Copier<'a> {
    source: &'a redb::ReadTransaction,
    target: &'a redb::WriteTransaction,
    done: u64,
    total: u64,
    progress: &'a dyn Fn(u64, u64) -> bool,
}

impl Copier<'_> {
    /// Counts a row; every 4,096 rows (and at the end) reports progress, and stops when
    /// the caller asks to.
    fn tick(&mut self, end: bool) -> Result<(), BackupError> {
        if !end {
            self.done += 1;
        }
        if (end || self.done.is_multiple_of(4096)) && !(self.progress)(self.done, self.total) {
            return Err(BackupError::Stopped);
        }
        Ok(())
    }

    fn copy_multimap<K: redb::Key + 'static, V: redb::Key + 'static>(
        &mut self,
        table: redb::MultimapTableDefinition<K, V>,
    ) -> Result<(), BackupError> {
        let from = self.source.open_multimap_table(table)?;
        let mut to = self.target.open_multimap_table(table)?;
        for row in from.iter()? {
            let (k, values) = row?;
            for v in values {
                to.insert(k.value(), v?.value())?;
                self.tick(false)?;
            }
        }
        Ok(())
    }

    fn copy<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        table: TableDefinition<K, V>,
    ) -> Result<u64, BackupError> {
        let from = self.source.open_table(table)?;
        let mut to = self.target.open_table(table)?;
        let mut n = 0;
        for row in from.iter()? {
            let (k, v) = row?;
            to.insert(k.value(), v.value())?;
            n += 1;
            self.tick(false)?;
        }
        Ok(n)
    }
}

/// Rewrites the store file in `dir` without its free space (the node must be stopped).
/// Returns the file size before and after.
pub fn compact(dir: &Path) -> Result<(u64, u64), OpenError> {
    let file = dir.join(DB_FILE);
    if !file.exists() {
        return Err(OpenError::Missing(file));
    }
    let size = |f: &Path| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
    let before = size(&file);
    let mut db = Database::open(&file).map_err(|e| match e {
        redb::DatabaseError::DatabaseAlreadyOpen => OpenError::Locked(file.clone()),
        other => OpenError::Db(other.into()),
    })?;
    db.compact().map_err(|e| OpenError::Db(e.into()))?;
    drop(db);
    Ok((before, size(&file)))
}

/// The tables the writer derives from each record's metadata (schema 7), opened for
/// [`Store::verify`] to check against the records.
struct DerivedTables {
    sequence: redb::ReadOnlyTable<u64, &'static [u8; 17]>,
    sequence_of: redb::ReadOnlyTable<&'static [u8; 16], u64>,
    kinds: redb::ReadOnlyTable<(&'static str, &'static [u8; 16]), ()>,
    facts: redb::ReadOnlyTable<&'static [u8; 16], &'static [u8]>,
    audit: redb::ReadOnlyTable<(u64, &'static [u8; 16], &'static str), &'static [u8]>,
    homes: redb::ReadOnlyTable<(&'static str, &'static [u8; 16]), ()>,
    conflicts: redb::ReadOnlyTable<&'static [u8; 16], u32>,
    duplicate_keys_of: redb::ReadOnlyTable<&'static [u8; 16], &'static str>,
    duplicate_members: redb::ReadOnlyMultimapTable<&'static str, &'static [u8; 16]>,
    duplicates: redb::ReadOnlyTable<&'static str, u64>,
}

impl DerivedTables {
    fn open(txn: &redb::ReadTransaction) -> Result<Self, ReadError> {
        Ok(Self {
            sequence: txn.open_table(SEQUENCE)?,
            sequence_of: txn.open_table(SEQUENCE_OF)?,
            kinds: txn.open_table(KINDS)?,
            facts: txn.open_table(REPORT_FACTS)?,
            audit: txn.open_table(AUDIT_BY_TIME)?,
            homes: txn.open_table(HOMES)?,
            conflicts: txn.open_table(CONFLICTS)?,
            duplicate_keys_of: txn.open_table(DUPLICATE_KEYS_OF)?,
            duplicate_members: txn.open_multimap_table(DUPLICATE_MEMBERS)?,
            duplicates: txn.open_table(DUPLICATES)?,
        })
    }

    /// The record is listed with competing values exactly when its document holds
    /// them; returns whether it is.
    fn check_conflicts(
        &self,
        id: RecordId,
        doc: &simpul_model::automerge::Automerge,
        problems: &mut Vec<String>,
    ) -> Result<bool, ReadError> {
        let expected = crate::conflicts::count_of(doc);
        let listed = self.conflicts.get(id.as_bytes())?.map(|v| v.value());
        match (expected, listed) {
            (0, None) => {}
            (0, Some(_)) => problems.push(format!(
                "record {id} is listed with competing values it does not hold"
            )),
            (n, Some(m)) if n == m => {}
            (n, _) => problems.push(format!(
                "record {id} holds {n} fields with competing values, not listed as such"
            )),
        }
        Ok(expected > 0)
    }

    /// A patient's duplicate keys are those of its document (none once merged away);
    /// that it is filed under each is checked from the other side, in
    /// [`DerivedTables::check_duplicate_list`].
    fn check_duplicates(
        &self,
        id: RecordId,
        patient: &simpul_model::Patient,
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let keys = crate::duplicates::keys_of(patient);
        let filed = self
            .duplicate_keys_of
            .get(id.as_bytes())?
            .map(|v| v.value().to_string())
            .unwrap_or_default();
        if filed != keys.join("\n") {
            problems.push(format!(
                "record {id} is filed for duplicates under stale keys"
            ));
        }
        Ok(())
    }

    /// Every record under a key is a patient whose keys (checked against its document)
    /// hold that key, and there are as many such entries as the patients' keys: the
    /// index holds exactly the patients' keys. Every key with two or more patients
    /// under it is listed as a duplicate, with their number, and no other. One pass
    /// over the index, a point read per entry.
    fn check_duplicate_list(
        &self,
        filed_keys: u64,
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let mut pairs = 0u64;
        let mut listed = 0u64;
        for row in self.duplicate_members.iter()? {
            let (key, values) = row?;
            let n = values.len();
            pairs += n;
            for value in values {
                let id = RecordId::from_bytes(*value?.value());
                let filed = self.duplicate_keys_of.get(id.as_bytes())?;
                let holds = filed
                    .as_ref()
                    .is_some_and(|k| k.value().split('\n').any(|k| k == key.value()));
                if !holds {
                    problems.push(format!(
                        "record {id} is under duplicate key {} it does not have",
                        key.value()
                    ));
                }
            }
            let kept = self.duplicates.get(key.value())?.map(|v| v.value());
            if n >= 2 {
                listed += 1;
            }
            if (n >= 2) != (kept == Some(n)) {
                problems.push(format!(
                    "duplicate key {} has {n} records, listed as {kept:?}",
                    key.value()
                ));
            }
        }
        if listed != self.duplicates.len()? {
            problems.push(format!(
                "{} duplicate keys are listed, {listed} have two records or more",
                self.duplicates.len()?
            ));
        }
        if pairs != filed_keys {
            problems.push(format!(
                "the duplicate index holds {pairs} entries, the patients' keys {filed_keys}"
            ));
        }
        Ok(())
    }

    /// An audit record's entries are filed in the audit index; returns how many it has.
    fn check_audit(
        &self,
        id: RecordId,
        record: &Record,
        problems: &mut Vec<String>,
    ) -> Result<u64, ReadError> {
        let simpul_model::RecordBody::Audit(log) = &record.body else {
            return Ok(0);
        };
        for (key, e) in &log.entries {
            let expected = crate::audit_index::filed_bytes(&log.facility, e);
            match self.audit.get((e.at_ms, id.as_bytes(), key.as_str()))? {
                Some(row) if row.value() == expected.as_slice() => {}
                _ => problems.push(format!("audit record {id}: entry {key} is not indexed")),
            }
        }
        Ok(log.entries.len() as u64)
    }

    /// A patient's report facts are those of its document.
    fn check_facts(
        &self,
        id: RecordId,
        record: &Record,
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let Some(patient) = record.patient() else {
            return Ok(());
        };
        let expected = crate::facts::encode(&simpul_model::pws::ReportFacts::of(patient));
        match self.facts.get(id.as_bytes())? {
            Some(row) if row.value() == expected.as_slice() => {}
            Some(_) => problems.push(format!("record {id}: its report facts are stale")),
            None => problems.push(format!("record {id} has no report facts")),
        }
        if self
            .homes
            .get((patient.home_facility.as_str(), id.as_bytes()))?
            .is_none()
        {
            problems.push(format!("record {id} is not filed under its home facility"));
        }
        Ok(())
    }

    /// The record's entry in the change sequence and in its kind's list.
    fn check(
        &self,
        id: RecordId,
        meta: &RecordMeta,
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let entry = match self.sequence_of.get(id.as_bytes())? {
            Some(seq) => self.sequence.get(seq.value())?.map(|e| *e.value()),
            None => None,
        };
        match entry {
            Some(e) if e[..16] == *id.as_bytes() && e[16] == 0 => {}
            _ => problems.push(format!("record {id} has no entry in the change sequence")),
        }
        if self
            .kinds
            .get((meta.kind.as_str(), id.as_bytes()))?
            .is_none()
        {
            problems.push(format!(
                "record {id} is missing from the {} list",
                meta.kind
            ));
        }
        Ok(())
    }

    /// Row counts against the records, and the kept census against the one counted.
    fn check_totals(
        &self,
        records: u64,
        counted: &crate::Census,
        kept: &crate::Census,
        problems: &mut Vec<String>,
    ) -> Result<(), ReadError> {
        let listed = self.kinds.len()?;
        if listed != records {
            problems.push(format!(
                "the kinds' lists hold {listed} records, the store {records}"
            ));
        }
        let patients = counted.by_kind.get("patient").copied().unwrap_or(0);
        let facts = self.facts.len()?;
        let homes = self.homes.len()?;
        if homes != patients {
            problems.push(format!(
                "{homes} patients are filed under a home facility, the store holds {patients}"
            ));
        }
        if facts != patients {
            problems.push(format!(
                "report facts are kept for {facts} records, the store holds {patients} patients"
            ));
        }
        if counted != kept {
            problems.push(format!(
                "the kept census ({kept:?}) differs from the records ({counted:?})"
            ));
        }
        Ok(())
    }
}
