//! Matching the people a node holds to the platform's patient index, and writing the
//! IHS number found into each record (it then replicates like any field, so the
//! posyandu that registered the person learns it too).

use simpul_model::{Date, Patient, RecordBody};
use simpul_store::{ReadError, Store, WriteError};

use crate::client::Platform;
use crate::error::PlatformError;
use crate::patients::PatientMatch;

/// The store mark: the last change sequence number looked at.
const MARK: &str = "satusehat-matched";

/// Records looked at per round at most.
const ROUND: usize = 500;

/// What a round of matching did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchReport {
    /// Patients given their IHS number.
    pub matched: u32,
    /// Patients the platform does not know (yet).
    pub not_found: u32,
    /// Patients the platform holds more than one Patient for (its index has duplicates,
    /// or twins registered under their mother's NIK): left for a person to decide.
    pub ambiguous: u32,
    /// Patients whose search the platform refused (it says why; logged).
    pub refused: u32,
}

/// Why a round stopped short.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    /// The platform could not be used; the round resumes where it stopped next time.
    #[error(transparent)]
    Platform(#[from] PlatformError),
    /// The store could not be read.
    #[error("reading the store: {0}")]
    Read(#[from] ReadError),
    /// The store could not be written.
    #[error("writing the store: {0}")]
    Write(#[from] WriteError),
}

/// Looks at the records changed since the last round (up to a few hundred) and gives
/// each patient without an IHS number the one the platform holds for them. Whatever
/// stops the round early (the platform unavailable, the credentials refused) leaves the
/// records not reached for the next round.
pub fn match_round(
    store: &Store,
    platform: &Platform,
    today: Date,
    now_ms: u64,
) -> Result<MatchReport, MatchError> {
    let mut after = store.mark(MARK)?.unwrap_or(0);
    if after > store.last_sequence()? {
        // The store was replaced (a restore): look at everything again.
        after = 0;
    }
    let mut report = MatchReport::default();
    let changes = store.changes_after(after, ROUND)?;
    for change in changes {
        if !change.removed
            && let Some((_, record)) = store.record(change.id)?
            && let RecordBody::Patient(p) = &record.body
            && p.identifiers.ihs.is_none()
        {
            match find(platform, p) {
                Ok(Found::One(ihs)) => {
                    write_ihs(store, change.id, ihs, today, now_ms)?;
                    report.matched += 1;
                }
                Ok(Found::None) => report.not_found += 1,
                Ok(Found::Many(n)) => {
                    tracing::info!(record = %change.id, found = n, "SATUSEHAT holds more than one Patient for this person; not matched");
                    report.ambiguous += 1;
                }
                Ok(Found::Unsearchable) => {}
                Err(e @ PlatformError::Refused { .. }) => {
                    tracing::warn!(record = %change.id, error = %e, "SATUSEHAT refused the search for this person");
                    report.refused += 1;
                }
                Err(e) => {
                    store.set_mark(MARK, after)?;
                    return Err(e.into());
                }
            }
        }
        after = change.seq;
    }
    store.set_mark(MARK, after)?;
    Ok(report)
}

/// What the platform holds for a person.
enum Found {
    One(String),
    None,
    Many(usize),
    /// Neither a NIK nor a mother's NIK to search by.
    Unsearchable,
}

fn find(platform: &Platform, p: &Patient) -> Result<Found, PlatformError> {
    let found: Vec<PatientMatch> = match (&p.identifiers.nik, &p.identifiers.nik_ibu) {
        (Some(nik), _) => platform.patients_by_nik(nik)?,
        (None, Some(nik_ibu)) => platform.newborns(nik_ibu, &p.birth_date.to_string())?,
        (None, None) => return Ok(Found::Unsearchable),
    };
    Ok(match found.as_slice() {
        [] => Found::None,
        [one] => Found::One(one.ihs.clone()),
        many => Found::Many(many.len()),
    })
}

fn write_ihs(
    store: &Store,
    id: simpul_model::RecordId,
    ihs: String,
    today: Date,
    now_ms: u64,
) -> Result<(), WriteError> {
    store.update_record(id, today, now_ms, move |r| {
        if let RecordBody::Patient(p) = &mut r.body
            && p.identifiers.ihs.is_none()
        {
            p.identifiers.ihs = Some(ihs);
        }
        Ok(())
    })?;
    Ok(())
}
