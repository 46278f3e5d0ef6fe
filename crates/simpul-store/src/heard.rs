//! When this node last heard from each facility (schema 13): per facility that wrote a
//! change held here, the newest such change's own clock and when it was stored here.
//!
//! Kept by the writer in the transaction that stores the changes, so `status` and the
//! dashboard show how fresh each descendant is — the ones this node never dials too —
//! without reading every record. A change names its facility in its actor
//! ([`simpul_trust::classify`]); admission has checked that name against the change's
//! seal before it is stored, so a peer cannot make another facility look fresh.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, WriteTransaction};
use simpul_model::FacilityPath;
use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_trust::ActorKind;

use crate::error::ReadError;
use crate::store::Store;
use crate::tables::HEARD;

/// What this node holds of one facility's writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heard {
    /// The newest change it wrote that is held here: its own clock (Unix s; the writer's
    /// clock, which may be wrong).
    pub written_s: u64,
    /// When that change was stored here (Unix ms, this node's clock).
    pub stored_ms: u64,
}

/// The facilities that wrote the changes of `doc` after `before` (all of them for a new
/// document), each with its newest change's clock.
fn writers(doc: &Automerge, before: Option<&[ChangeHash]>) -> BTreeMap<FacilityPath, u64> {
    let mut newest: BTreeMap<FacilityPath, u64> = BTreeMap::new();
    for change in doc.get_changes_meta(before.unwrap_or(&[])) {
        let facility = match simpul_trust::classify(&change.actor) {
            ActorKind::Keyed { facility, .. } | ActorKind::Unbound { facility } => facility,
            ActorKind::Foreign => continue,
        };
        let at = change.timestamp.max(0) as u64;
        let entry = newest.entry(facility).or_default();
        *entry = (*entry).max(at);
    }
    newest
}

/// Files the changes `doc` gained since `before`, stored at `at_ms`.
pub(crate) fn file(
    txn: &WriteTransaction,
    doc: &Automerge,
    before: Option<&[ChangeHash]>,
    at_ms: u64,
) -> Result<(), redb::Error> {
    let writers = writers(doc, before);
    if writers.is_empty() {
        return Ok(());
    }
    let mut table = txn.open_table(HEARD)?;
    for (facility, written_s) in writers {
        let known = table.get(facility.as_str())?.map(|v| v.value());
        // A change older than one already held says nothing newer about its facility.
        if known.is_none_or(|(held, _)| written_s > held) {
            table.insert(facility.as_str(), (written_s, at_ms))?;
        }
    }
    Ok(())
}

/// Files every document held (the schema 13 migration): when each change arrived is not
/// known, so the record's last store stands for it.
pub(crate) fn backfill_one(
    txn: &WriteTransaction,
    doc: &Automerge,
    modified_ms: u64,
) -> Result<(), redb::Error> {
    file(txn, doc, None, modified_ms)
}

impl Store {
    /// Per facility that wrote a change held here, the newest such change's clock and
    /// when it was stored here.
    pub fn heard(&self) -> Result<BTreeMap<FacilityPath, Heard>, ReadError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(HEARD)?;
        let mut heard = BTreeMap::new();
        for row in table.iter()? {
            let (facility, value) = row?;
            let (written_s, stored_ms) = value.value();
            if let Ok(path) = FacilityPath::parse(facility.value()) {
                heard.insert(
                    path,
                    Heard {
                        written_s,
                        stored_ms,
                    },
                );
            }
        }
        Ok(heard)
    }
}
