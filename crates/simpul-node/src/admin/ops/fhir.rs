//! FHIR R4 export of the patients held here ([`simpul_fhir`]).

use std::path::Path;

use simpul_fhir::{Counts, Export, ResourceType};
use simpul_store::Store;

use super::{patient_ids, read_failure};
use crate::admin::protocol::{Failure, FailureKind};

/// Writes every patient as NDJSON files in `out`, loading one record at a time.
pub(super) fn export(store: &Store, out: &Path) -> Result<Counts, Failure> {
    let failed = |e: &dyn std::error::Error| {
        Failure::new(
            FailureKind::Failed,
            format!("FHIR export to {}: {}", out.display(), super::chain(e)),
        )
    };
    let mut export = Export::create(out).map_err(|e| failed(&e))?;
    for id in patient_ids(store, |_| true)? {
        if let Some((_, record)) = store.record(id).map_err(read_failure)? {
            export.add(&record).map_err(|e| failed(&e))?;
        }
    }
    export.finish().map_err(|e| failed(&e))
}

/// Every resource of one type, one JSON object per line.
pub(super) fn ndjson(store: &Store, resource_type: &str) -> Result<(String, u64), Failure> {
    let wanted = ResourceType::ALL
        .iter()
        .copied()
        .find(|t| t.as_str() == resource_type)
        .ok_or_else(|| {
            let known: Vec<&str> = ResourceType::ALL.iter().map(|t| t.as_str()).collect();
            Failure::new(
                FailureKind::BadRequest,
                format!(
                    "resource type `{resource_type}` is not one of {}",
                    known.join(", ")
                ),
            )
        })?;
    let (mut text, mut count) = (String::new(), 0);
    for id in patient_ids(store, |_| true)? {
        let Some((_, record)) = store.record(id).map_err(read_failure)? else {
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
