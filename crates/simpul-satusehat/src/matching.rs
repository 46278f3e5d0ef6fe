//! Matching the people a node holds to the platform's patient index, and writing the
//! IHS number found into each record (it then replicates like any field, so the
//! posyandu that registered the person learns it too).

use simpul_model::{Date, Patient, RecordBody, RecordId, Sex};
use simpul_store::{Store, WriteError};

use crate::client::Platform;
use crate::error::{PlatformError, RoundError};
use crate::patients::{Newborn, PatientMatch};

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
    /// Patients skipped: their search refused or unreadable, their record damaged, or
    /// the number found refused by the record's checks (each logged with why).
    pub skipped: u32,
    /// Records looked at (a full round means more may be waiting).
    pub looked_at: u32,
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
) -> Result<MatchReport, RoundError> {
    let mut after = store.mark(MARK)?.unwrap_or(0);
    if after > store.last_sequence()? {
        // The store was replaced (a restore): look at everything again.
        after = 0;
    }
    let mut report = MatchReport::default();
    let changes = store.changes_after(after, ROUND)?;
    report.looked_at = changes.len() as u32;
    for change in changes {
        if !change.removed {
            match match_one(store, platform, change.id, today, now_ms) {
                Ok(outcome) => report.count(outcome),
                Err(Stop(e)) => {
                    store.set_mark(MARK, after)?;
                    return Err(e);
                }
            }
        }
        after = change.seq;
    }
    store.set_mark(MARK, after)?;
    Ok(report)
}

/// What became of one record.
enum Outcome {
    Matched,
    NotFound,
    Ambiguous,
    /// Not a patient, already matched, or nothing to search by.
    Nothing,
    /// The platform refused its search, its answer could not be read, or the record
    /// could not be read or written: logged, and the round goes on.
    Skipped,
}

/// The round cannot go on: the platform is unavailable, the credentials are refused,
/// or the store failed.
struct Stop(RoundError);

impl MatchReport {
    /// True when the round stopped at its limit: more records may be waiting.
    pub fn more_waiting(&self) -> bool {
        self.looked_at as usize >= ROUND
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Matched => self.matched += 1,
            Outcome::NotFound => self.not_found += 1,
            Outcome::Ambiguous => self.ambiguous += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Nothing => {}
        }
    }
}

fn match_one(
    store: &Store,
    platform: &Platform,
    id: RecordId,
    today: Date,
    now_ms: u64,
) -> Result<Outcome, Stop> {
    let record = match store.record(id) {
        Ok(Some((_, record))) => record,
        Ok(None) => return Ok(Outcome::Nothing),
        Err(e) if e.is_record_damage() => {
            tracing::warn!(record = %id, error = %e, "SATUSEHAT: a damaged record is not matched");
            return Ok(Outcome::Skipped);
        }
        Err(e) => return Err(Stop(e.into())),
    };
    let RecordBody::Patient(p) = &record.body else {
        return Ok(Outcome::Nothing);
    };
    if p.identifiers.ihs.is_some() {
        return Ok(Outcome::Nothing);
    }
    let ihs = match find(platform, p) {
        Ok(Found::One(ihs)) => ihs,
        Ok(Found::None) => return Ok(Outcome::NotFound),
        Ok(Found::Many(n)) => {
            tracing::info!(record = %id, found = n, "SATUSEHAT holds more than one Patient for this person; not matched");
            return Ok(Outcome::Ambiguous);
        }
        Ok(Found::Unsearchable) => return Ok(Outcome::Nothing),
        // Not allowed to search at all: nothing else would fare better.
        Err(PlatformError::Refused {
            status: 401 | 403,
            outcome,
            ..
        }) => {
            return Err(Stop(PlatformError::Credentials(outcome).into()));
        }
        Err(e @ (PlatformError::Refused { .. } | PlatformError::Malformed(_))) => {
            tracing::warn!(record = %id, error = %e, "SATUSEHAT: this person's search failed");
            return Ok(Outcome::Skipped);
        }
        Err(e) => return Err(Stop(e.into())),
    };
    match write_ihs(store, id, ihs, today, now_ms) {
        Ok(()) => Ok(Outcome::Matched),
        Err(e) if e.is_store_failure() => Err(Stop(e.into())),
        Err(e) => {
            tracing::warn!(record = %id, error = %e, "SATUSEHAT: the IHS number found could not be written");
            Ok(Outcome::Skipped)
        }
    }
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
        (None, Some(nik_ibu)) => {
            let birth_date = p.birth_date.to_string();
            let found = platform.newborns(nik_ibu, &birth_date)?;
            if found.is_empty() && platform.config().register_newborns {
                let child = Newborn {
                    nik_ibu,
                    name: &p.name,
                    gender: match p.sex {
                        Sex::Female => "female",
                        Sex::Male => "male",
                    },
                    birth_date: &birth_date,
                    birth_order: p.identifiers.birth_order,
                };
                return Ok(Found::One(platform.register_newborn(&child)?));
            }
            found
        }
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
    id: RecordId,
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
