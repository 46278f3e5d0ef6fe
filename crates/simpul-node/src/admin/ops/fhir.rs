//! FHIR R4 export of the patients held here ([`simpul_fhir`]).

use std::path::Path;

use simpul_fhir::{Counts, Export, ResourceType};
use simpul_store::Store;

use simpul_model::{RecordId, RecordKind};

use super::read_failure;
use crate::admin::protocol::{Failure, FailureKind};

/// Patients read per page: a fresh read per page, so memory stays bounded however
/// many the store holds.
const EXPORT_PAGE: usize = 256;

/// Pages between checkpoints (the files synced, where to go on recorded), or less when
/// [`CHECKPOINT_EVERY`] passes first: a stopped export repeats at most this many pages.
const CHECKPOINT_PAGES: usize = 16;

/// The longest a page goes without a checkpoint after it.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes every patient as NDJSON files in `out`, a page of ids at a time from the
/// store's patient list, one record loaded at a time; goes on from the checkpoint of
/// an export stopped in `out`. Reports `progress(patients, of)`; when that returns
/// `false`, checkpoints and returns what it wrote, stopped.
pub(super) fn export(
    store: &Store,
    out: &Path,
    progress: &dyn Fn(u64, u64) -> bool,
) -> Result<(Counts, bool), Failure> {
    let failed = |e: &dyn std::error::Error| {
        Failure::new(
            FailureKind::Failed,
            format!("FHIR export to {}: {}", out.display(), super::chain(e)),
        )
    };
    // A stopped export goes on only from the same store (a restored one numbers its
    // records' sequence anew: its epoch differs).
    let epoch = store.sequence_epoch().map_err(read_failure)?;
    let source = format!("{}#{}", store.node().path, hex::encode(epoch));
    let (mut export, resumed) = Export::resume_or_create(out, &source).map_err(|e| failed(&e))?;
    let mut after: Option<RecordId> = resumed
        .map(|a| {
            a.parse().map_err(|e| {
                Failure::new(
                    FailureKind::Failed,
                    format!(
                        "FHIR export to {}: its checkpoint names {a:?}: {e}",
                        out.display()
                    ),
                )
            })
        })
        .transpose()?;
    let total = store
        .census()
        .map_err(read_failure)?
        .by_kind
        .get(RecordKind::Patient.as_str())
        .copied()
        .unwrap_or(0);
    let mut pages = 0;
    let mut checkpointed = std::time::Instant::now();
    loop {
        let ids = store
            .ids_of_kind(RecordKind::Patient, after, EXPORT_PAGE)
            .map_err(read_failure)?;
        let Some(last) = ids.last().copied() else {
            break;
        };
        for id in ids {
            if let Some((_, record)) = store.record(id).map_err(read_failure)? {
                export.add(&record).map_err(|e| failed(&e))?;
            }
        }
        after = Some(last);
        pages += 1;
        let go_on = progress(export.counts().patient, total);
        if pages % CHECKPOINT_PAGES == 0 || checkpointed.elapsed() >= CHECKPOINT_EVERY || !go_on {
            let at = last.to_string();
            export.checkpoint(Some(&at)).map_err(|e| failed(&e))?;
            checkpointed = std::time::Instant::now();
        }
        if !go_on {
            return Ok((export.counts(), true));
        }
    }
    Ok((export.finish().map_err(|e| failed(&e))?, false))
}

/// The resource type named `name`, or a failure naming the known ones.
pub(crate) fn resource_type(name: &str) -> Result<ResourceType, Failure> {
    ResourceType::ALL
        .iter()
        .copied()
        .find(|t| t.as_str() == name)
        .ok_or_else(|| {
            let known: Vec<&str> = ResourceType::ALL.iter().map(|t| t.as_str()).collect();
            Failure::new(
                FailureKind::BadRequest,
                format!("resource type `{name}` is not one of {}", known.join(", ")),
            )
        })
}

/// The resources of type `wanted` of up to `patients` patients after `after`, one JSON
/// object per line; how many; and where the next page starts (none at the end).
pub fn ndjson_page(
    store: &Store,
    wanted: ResourceType,
    after: Option<RecordId>,
    patients: usize,
) -> Result<(String, u64, Option<RecordId>), Failure> {
    let (ids, next) = page_ids(store, after, patients)?;
    let (text, count) = ndjson_of(store, wanted, &ids)?;
    Ok((text, count, next))
}

/// Up to `patients` patient ids after `after`, and where the next page starts.
pub fn page_ids(
    store: &Store,
    after: Option<RecordId>,
    patients: usize,
) -> Result<(Vec<RecordId>, Option<RecordId>), Failure> {
    let ids = store
        .ids_of_kind(RecordKind::Patient, after, patients)
        .map_err(read_failure)?;
    let next = super::page::next(&ids, patients);
    Ok((ids, next))
}

/// The resources of type `wanted` of the patients `ids`, one JSON object per line, and
/// how many.
pub fn ndjson_of(
    store: &Store,
    wanted: ResourceType,
    ids: &[RecordId],
) -> Result<(String, u64), Failure> {
    let (mut text, mut count) = (String::new(), 0);
    for id in ids {
        let Some((_, record)) = store.record(*id).map_err(read_failure)? else {
            continue;
        };
        for (t, json) in simpul_fhir::typed_resources(&record) {
            if t == wanted {
                text.push_str(&json.to_string());
                text.push('\n');
                count += 1;
            }
        }
    }
    Ok((text, count))
}
