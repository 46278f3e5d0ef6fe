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

/// Writes every patient as NDJSON files in `out`, a page of ids at a time from the
/// store's patient list, one record loaded at a time.
pub(super) fn export(store: &Store, out: &Path) -> Result<Counts, Failure> {
    let failed = |e: &dyn std::error::Error| {
        Failure::new(
            FailureKind::Failed,
            format!("FHIR export to {}: {}", out.display(), super::chain(e)),
        )
    };
    let mut export = Export::create(out).map_err(|e| failed(&e))?;
    let mut after = None;
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
    }
    export.finish().map_err(|e| failed(&e))
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
