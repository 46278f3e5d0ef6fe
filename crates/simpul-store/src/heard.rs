//! When this node last heard from each facility (schema 13): per facility that wrote a
//! change held here, when a change of it was last stored here, and the newest time its
//! changes carry by its own clock.
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

/// How far ahead of this node's clock a change's own time is believed.
const MAX_AHEAD_S: u64 = 86_400;

/// What this node holds of one facility's writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heard {
    /// The newest time its changes held here carry, by its own clock (Unix s; which may
    /// be wrong: believed at most a day ahead of this node's).
    pub written_s: u64,
    /// When a change of it was last stored here (Unix ms, this node's clock): the
    /// freshness `status`, the dashboard and the metrics go by.
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
    // A writer's clock may be wrong either way: it can claim no more than a day ahead
    // of this node's, so that one far-future change does not pin its newest time.
    let latest_plausible = at_ms / 1000 + MAX_AHEAD_S;
    for (facility, written_s) in writers {
        let written_s = written_s.min(latest_plausible);
        let known = table.get(facility.as_str())?.map(|v| v.value());
        // Any new change of it is news, whatever its own clock says (a posyandu whose
        // clock is behind still syncs); the newest time written is kept alongside.
        let newest = known.map_or(written_s, |(held, _)| held.max(written_s));
        let arrived = known.map_or(at_ms, |(_, held)| held.max(at_ms));
        table.insert(facility.as_str(), (newest, arrived))?;
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
