//! Submitting visits to the platform, each as one transaction Bundle, and keeping the
//! ledger of what was sent (docs/satusehat.md, "Submission").
//!
//! A round follows the store's change sequence from its mark, like matching: a patient
//! record that changed (a new visit, a correction, an IHS number found) has each of its
//! visits recorded in this node's subtree looked at; a ledger that changed (someone
//! asked for a retry) has its patient's. What a visit needs and lacks here (the
//! patient's IHS number, a Location, a practitioner, a vaccine code) leaves it
//! `waiting`, saying what to fix; a refusal leaves it `refused` with the platform's
//! words until someone asks for a retry.
//!
//! **Never twice.** The platform does not document conditional create; it refuses a
//! second resource with the same business identifier ("duplicate"). So every resource
//! carries its facility-scoped identifier (and `ifNoneExist`, for a platform that
//! honours it); a Bundle is sent once per attempt and never repeated blindly: after a
//! 5xx or a lost answer the visit is `uncertain`, and before it is sent again its
//! Encounter is looked up by identifier. A "duplicate" refusal is answered the same way.

mod bundle;
pub mod codes;
mod ledger;
mod requests;

use std::collections::{BTreeMap, HashMap};

use simpul_fhir::encounter::VisitContext;
use simpul_model::submission::clip_error;
use simpul_model::{
    Date, FacilityEntry, FacilityPath, Level, Patient, Record, RecordBody, RecordId, Submission,
    SubmissionStatus,
};
use simpul_store::Store;

pub use bundle::{ICD_10, IMMUNIZATION_REASON, Identified, Parties, ROUTINE_TIMING, VisitBundle};
pub use codes::SubmissionCodes;
pub use ledger::update_ledger;

use crate::client::Platform;
use crate::error::{PlatformError, RoundError};
use requests::is_duplicate;

/// The store mark: the last change sequence number looked at.
const MARK: &str = "satusehat-submitted";

/// Records looked at per round at most.
const ROUND: usize = 500;

/// What a round of submission did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitReport {
    /// Visits now on the platform.
    pub sent: u32,
    /// Visits marked entered-in-error on the platform.
    pub withdrawn: u32,
    /// Visits the platform refused.
    pub refused: u32,
    /// Visits waiting for something here.
    pub waiting: u32,
    /// Visits sent whose answer was lost (looked up before any new attempt).
    pub uncertain: u32,
    /// Records looked at (a full round means more may be waiting).
    pub looked_at: u32,
}

impl SubmitReport {
    /// True when the round stopped at its limit: more records may be waiting.
    pub fn more_waiting(&self) -> bool {
        self.looked_at as usize >= ROUND
    }

    /// True when any visit's submission changed.
    pub fn any(&self) -> bool {
        self.sent + self.withdrawn + self.refused + self.waiting + self.uncertain > 0
    }

    fn count(&mut self, status: SubmissionStatus) {
        match status {
            SubmissionStatus::Sent => self.sent += 1,
            SubmissionStatus::Withdrawn => self.withdrawn += 1,
            SubmissionStatus::Refused | SubmissionStatus::WithdrawalRefused => self.refused += 1,
            SubmissionStatus::Waiting => self.waiting += 1,
            SubmissionStatus::Uncertain => self.uncertain += 1,
            SubmissionStatus::Retry | SubmissionStatus::NotSent => {}
        }
    }
}

/// Sends the visits of the records changed since the last round (up to a few hundred)
/// that are not on the platform yet, and the `entered-in-error` updates of those
/// corrected since they were sent. Whatever stops the round early (the platform
/// unavailable, the credentials refused) leaves the records not reached for the next.
pub fn submit_round(
    store: &Store,
    platform: &Platform,
    codes: &SubmissionCodes,
    today: Date,
    now_ms: u64,
) -> Result<SubmitReport, RoundError> {
    let mut after = store.mark(MARK)?.unwrap_or(0);
    if after > store.last_sequence()? {
        // The store was replaced (a restore): look at everything again.
        after = 0;
    }
    let changes = store.changes_after(after, ROUND)?;
    let mut round = Round {
        store,
        platform,
        codes,
        today,
        now_ms,
        registry: store
            .facility_registry()?
            .into_iter()
            .map(|(_, e)| (e.path.clone(), e))
            .collect(),
        practitioners: HashMap::new(),
        report: SubmitReport {
            looked_at: changes.len() as u32,
            ..SubmitReport::default()
        },
    };
    for change in changes {
        if !change.removed
            && let Err(e) = round.changed(change.id)
        {
            store.set_mark(MARK, after)?;
            return Err(e);
        }
        after = change.seq;
    }
    store.set_mark(MARK, after)?;
    Ok(round.report)
}

/// One round's state: the registry and the practitioners looked up, read once.
struct Round<'a> {
    store: &'a Store,
    platform: &'a Platform,
    codes: &'a SubmissionCodes,
    today: Date,
    now_ms: u64,
    registry: BTreeMap<FacilityPath, FacilityEntry>,
    /// NIK to Practitioner id (`None`: the platform holds none).
    practitioners: HashMap<String, Option<String>>,
    report: SubmitReport,
}

/// What a visit lacks before it can be sent.
enum Lack {
    /// Something here: the visit waits, saying what to fix.
    Here(String),
    /// The platform cannot be used now: the round stops.
    Stop(RoundError),
}

impl From<PlatformError> for Lack {
    fn from(e: PlatformError) -> Self {
        Lack::Stop(e.into())
    }
}

/// What becomes of one visit.
enum Decision {
    /// Nothing new.
    Nothing,
    /// Its entry changes to this.
    Settle(Submission),
    /// Its Bundle goes to the platform (written ahead as `uncertain`).
    Send(VisitBundle),
    /// The round stops (after writing the entry, if one).
    Stop(Option<Submission>, RoundError),
}

/// After this many sends without an answer a visit is set aside (`uncertain`, until a
/// retry), so that one Bundle the platform always fails on does not hold up the rest.
const PARK_AFTER: u32 = 5;

impl Round<'_> {
    /// A changed record: a patient, or this node's ledger of one.
    fn changed(&mut self, id: RecordId) -> Result<(), RoundError> {
        let Some(record) = self.read(id)? else {
            return Ok(());
        };
        match record.body {
            RecordBody::Patient(p) => self.patient(id, &p),
            RecordBody::Submission(l) if l.submitter == self.store.node().path => {
                match self.read(l.patient)? {
                    Some(Record {
                        body: RecordBody::Patient(p),
                        ..
                    }) => self.patient(l.patient, &p),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// A record, or `None` when it is not held or damaged (logged; the store's damaged
    /// list names it).
    fn read(&self, id: RecordId) -> Result<Option<Record>, RoundError> {
        match self.store.record(id) {
            Ok(found) => Ok(found.map(|(_, r)| r)),
            Err(e) if e.is_record_damage() => {
                tracing::warn!(record = %id, error = %e, "SATUSEHAT: a damaged record is not submitted");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn patient(&mut self, id: RecordId, p: &Patient) -> Result<(), RoundError> {
        if p.merged_into.is_some() {
            // The survivor holds the duplicate's visits (same ids) and submits them; the
            // platform's identifiers keep one sent from both from being doubled.
            return Ok(());
        }
        let Some((ledger, held)) = ledger::find(self.store, id)? else {
            tracing::warn!(patient = %id, "SATUSEHAT: no place for this patient's ledger; not submitted");
            return Ok(());
        };
        let held = held.map(|l| l.visits).unwrap_or_default();
        for v in simpul_fhir::encounter::visits(id, p) {
            let entry = held.get(v.key);
            let decision = match self.ours(&v.visit.facility) {
                Ok(false) => continue,
                Ok(true) => self.visit(p, &v, entry),
                Err(Lack::Here(why)) => self.settle(&v, entry, SubmissionStatus::Waiting, why),
                Err(Lack::Stop(e)) => Decision::Stop(None, e),
            };
            match decision {
                Decision::Nothing => {}
                Decision::Settle(new) => self.record(ledger, id, v.key, new).map(drop)?,
                Decision::Stop(new, e) => {
                    if let Some(new) = new {
                        self.record(ledger, id, v.key, new)?;
                    }
                    return Err(e);
                }
                Decision::Send(built) => {
                    let ahead = Submission {
                        status: SubmissionStatus::Uncertain,
                        attempts: entry.map_or(0, |e| e.attempts) + 1,
                        ..self.entry(&v, entry, SubmissionStatus::Uncertain, None)
                    };
                    // Written before the Bundle leaves: a crash in between leaves the
                    // visit `uncertain`, looked up before it is sent again.
                    if !self.record(ledger, id, v.key, ahead.clone())? {
                        continue;
                    }
                    match self.send(&v, &ahead, &built) {
                        Decision::Settle(new) => self.record(ledger, id, v.key, new).map(drop)?,
                        Decision::Stop(new, e) => {
                            if let Some(new) = new {
                                self.record(ledger, id, v.key, new)?;
                            }
                            return Err(e);
                        }
                        Decision::Nothing | Decision::Send(_) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether this node sends a visit recorded at `facility`: one in its subtree whose
    /// puskesmas is the Organization the node's credentials are for (the district's
    /// registry says which; this node's own puskesmas is its own).
    fn ours(&self, facility: &FacilityPath) -> Result<bool, Lack> {
        let node = &self.store.node().path;
        if !node.is_ancestor_or_self(facility) {
            return Ok(false);
        }
        let puskesmas = facility.at_level(Level::Puskesmas);
        let registered = self
            .registry
            .get(&puskesmas)
            .and_then(|e| e.satusehat.organization.as_deref());
        match registered {
            Some(org) => Ok(org == self.platform.config().organization),
            None if *node == puskesmas => Ok(true),
            None => Err(Lack::Here(format!(
                "no SATUSEHAT Organization for {puskesmas}: at the district, `simpul facility \
                 set {puskesmas} --organization ID`"
            ))),
        }
    }

    /// What to do for one visit, given its ledger entry.
    fn visit(&mut self, p: &Patient, v: &VisitContext<'_>, held: Option<&Submission>) -> Decision {
        use SubmissionStatus::*;
        match held.map(|h| h.status) {
            // Settled: only a retry (asked through the ledger) moves them.
            Some(Withdrawn | NotSent | Refused | WithdrawalRefused) => return Decision::Nothing,
            Some(Sent) if !v.in_error => return Decision::Nothing,
            _ => {}
        }
        // Ever sent: the platform may hold it.
        let tried = held.is_some_and(|h| h.attempts > 0);
        if (v.in_error || v.visit.transcribed) && !tried {
            let why = v.visit.transcribed.then(|| {
                "transcribed from the KIA book: a service given elsewhere, not sent".to_string()
            });
            return self.settle_as(v, held, NotSent, Vec::new(), why);
        }
        let parties = match self.parties(p, v) {
            Ok(parties) => parties,
            Err(Lack::Here(why)) => return self.settle(v, held, Waiting, why),
            Err(Lack::Stop(e)) => return Decision::Stop(None, e),
        };
        let built = match bundle::create(v, &parties.as_parties(p), self.codes) {
            Ok(built) => built,
            Err(why) => return self.settle(v, held, Waiting, why),
        };
        let found = if tried {
            match self.find_all(&built) {
                Ok(found) => found,
                Err(Lack::Here(why)) => return self.settle(v, held, Uncertain, why),
                Err(Lack::Stop(e)) => return Decision::Stop(None, e),
            }
        } else {
            Vec::new()
        };
        let on_platform = found.first().is_some_and(Option::is_some);
        match (v.in_error, on_platform) {
            (true, true) => self.withdraw(v, held, &built, &found),
            (true, false) => self.settle_as(v, held, NotSent, Vec::new(), None),
            (false, true) => {
                let ids = found.into_iter().flatten().collect();
                self.settle_as(v, held, Sent, ids, None)
            }
            (false, false) => Decision::Send(built),
        }
    }

    /// Sends a visit's Bundle (its entry already written ahead as `ahead`).
    fn send(&mut self, v: &VisitContext<'_>, ahead: &Submission, built: &VisitBundle) -> Decision {
        use SubmissionStatus::*;
        let held = Some(ahead);
        match self.platform.transaction(&built.bundle) {
            Ok(ids) => self.settle_as(v, held, Sent, ids, None),
            Err(e) if is_duplicate(&e) => match self.find_all(built) {
                Ok(found) if found.first().is_some_and(Option::is_some) => {
                    self.settle_as(v, held, Sent, found.into_iter().flatten().collect(), None)
                }
                Ok(_) => self.settle_as(v, held, Refused, Vec::new(), Some(e.to_string())),
                Err(Lack::Here(why)) => self.settle(v, held, Uncertain, why),
                Err(Lack::Stop(e)) => Decision::Stop(None, e),
            },
            Err(e @ PlatformError::Refused { .. }) => {
                self.settle_as(v, held, Refused, Vec::new(), Some(e.to_string()))
            }
            Err(e @ PlatformError::Malformed(_)) => self.settle(v, held, Uncertain, e.to_string()),
            Err(e @ PlatformError::Unavailable { .. }) if ahead.attempts >= PARK_AFTER => {
                tracing::warn!(visit = %v.key, error = %e, "SATUSEHAT: set aside after {PARK_AFTER} sends without an answer; `simpul satusehat retry` sends it again");
                self.settle(v, held, Uncertain, e.to_string())
            }
            Err(e) => {
                let entry = match self.settle(v, held, Uncertain, e.to_string()) {
                    Decision::Settle(entry) => Some(entry),
                    _ => None,
                };
                Decision::Stop(entry, e.into())
            }
        }
    }

    /// Marks a sent visit `entered-in-error` on the platform: every resource of it the
    /// platform holds (`found`) written again with that status.
    fn withdraw(
        &mut self,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        built: &VisitBundle,
        found: &[Option<String>],
    ) -> Decision {
        use SubmissionStatus::*;
        let ids: Vec<String> = found.iter().flatten().cloned().collect();
        let bundle = bundle::withdraw(built, found, &self.platform.config().fhir_url);
        match self.platform.transaction(&bundle) {
            Ok(_) => self.settle_as(v, held, Withdrawn, ids, None),
            Err(e @ (PlatformError::Refused { .. } | PlatformError::Malformed(_))) => {
                self.settle_as(v, held, WithdrawalRefused, ids, Some(e.to_string()))
            }
            // Writing the same again is harmless: tried again next round.
            Err(e) => Decision::Stop(None, e.into()),
        }
    }

    /// The platform's ids of a Bundle's resources, looked up by business identifier
    /// (`Type/id`, or none per entry).
    fn find_all(&self, built: &VisitBundle) -> Result<Vec<Option<String>>, Lack> {
        let mut found = Vec::with_capacity(built.entries.len());
        for what in &built.entries {
            match self
                .platform
                .find_by_identifier(what.kind, &what.system, &what.value)
            {
                Ok(id) => found.push(id.map(|id| format!("{}/{id}", what.kind))),
                Err(e @ (PlatformError::Unavailable { .. } | PlatformError::Credentials(_))) => {
                    return Err(e.into());
                }
                Err(e) => {
                    return Err(Lack::Here(format!(
                        "looking the visit up on SATUSEHAT: {e}"
                    )));
                }
            }
        }
        Ok(found)
    }

    /// The entry a visit gets with `status` and `error`, keeping the ids held.
    fn settle(
        &self,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        status: SubmissionStatus,
        error: String,
    ) -> Decision {
        let ids = held.map(|h| h.platform_ids.clone()).unwrap_or_default();
        self.settle_as(v, held, status, ids, Some(error))
    }

    /// The entry a visit gets, or nothing when it says what the held one says.
    fn settle_as(
        &self,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        status: SubmissionStatus,
        platform_ids: Vec<String>,
        error: Option<String>,
    ) -> Decision {
        let entry = Submission {
            platform_ids,
            ..self.entry(v, held, status, error)
        };
        let same = held.is_some_and(|h| {
            h.status == entry.status
                && h.platform_ids == entry.platform_ids
                && h.error == entry.error
        });
        if same {
            Decision::Nothing
        } else {
            Decision::Settle(entry)
        }
    }

    /// A visit's entry with `status` and `error`, the held ids and attempts.
    fn entry(
        &self,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        status: SubmissionStatus,
        error: Option<String>,
    ) -> Submission {
        Submission {
            status,
            facility: v.visit.facility.clone(),
            date: v.visit.date,
            platform_ids: held.map(|h| h.platform_ids.clone()).unwrap_or_default(),
            error: error.as_deref().map(clip_error),
            attempts: held.map_or(0, |h| h.attempts),
            updated_ms: self.now_ms,
        }
    }

    /// Writes a visit's entry into the patient's ledger. False when the ledger refused
    /// it (logged: a damaged or foreign ledger holds up this visit, not the round).
    fn record(
        &mut self,
        ledger: RecordId,
        patient: RecordId,
        visit: &str,
        entry: Submission,
    ) -> Result<bool, RoundError> {
        let status = entry.status;
        let key = visit.to_string();
        match ledger::update_ledger(
            self.store,
            ledger,
            patient,
            self.today,
            self.now_ms,
            move |l| {
                l.visits.insert(key, entry);
            },
        ) {
            Ok(()) => {
                self.report.count(status);
                Ok(true)
            }
            Err(e) if e.is_store_failure() => Err(e.into()),
            Err(e) => {
                tracing::warn!(patient = %patient, visit, error = %e, "SATUSEHAT: the ledger refused an entry; the visit is held back");
                Ok(false)
            }
        }
    }

    /// Who and where a visit names on the platform.
    fn parties(&mut self, p: &Patient, v: &VisitContext<'_>) -> Result<Held, Lack> {
        let ihs = p.identifiers.ihs.clone().ok_or_else(|| {
            Lack::Here(
                "the patient has no IHS number yet: matching finds it by NIK (a newborn by \
                 the mother's NIK), or register the person on SATUSEHAT"
                    .into(),
            )
        })?;
        let facility = &v.visit.facility;
        let place = self.registry.get(facility);
        let location = place
            .and_then(|e| e.satusehat.location.clone())
            .ok_or_else(|| {
                Lack::Here(format!(
                    "no SATUSEHAT Location for {facility}: at the district, `simpul facility \
                     set {facility} --location ID`"
                ))
            })?;
        let location_name = place.map(|e| e.name.clone()).unwrap_or_default();
        let (nik, whose) = self.practitioner_nik(v)?;
        let practitioner = match self.practitioners.get(&nik) {
            Some(found) => found.clone(),
            None => {
                let found = match self.platform.practitioner_by_nik(&nik) {
                    Ok(found) => found,
                    Err(
                        e @ (PlatformError::Unavailable { .. } | PlatformError::Credentials(_)),
                    ) => {
                        return Err(e.into());
                    }
                    Err(e) => {
                        return Err(Lack::Here(format!("looking up {whose} on SATUSEHAT: {e}")));
                    }
                };
                self.practitioners.insert(nik.clone(), found.clone());
                found
            }
        }
        .ok_or_else(|| {
            Lack::Here(format!(
                "SATUSEHAT holds no Practitioner with the NIK of {whose}: the health worker \
                 must be registered there (SISDMK) first"
            ))
        })?;
        Ok(Held {
            ihs,
            organization: self.platform.config().organization.clone(),
            location,
            location_name,
            practitioner,
        })
    }

    /// The health worker a visit names, and who that is in words (a ledger says whose
    /// NIK without holding it): who recorded it, else (a kader's visit) the one the
    /// registry names for its facility or the nearest one above it.
    fn practitioner_nik(&self, v: &VisitContext<'_>) -> Result<(String, String), Lack> {
        if let Some(nik) = &v.visit.recorder_nik {
            return Ok((
                nik.clone(),
                format!("{:?}, who recorded the visit", v.visit.recorded_by),
            ));
        }
        let facility = &v.visit.facility;
        let mut at = Some(facility.clone());
        while let Some(path) = at {
            if let Some(nik) = self
                .registry
                .get(&path)
                .and_then(|e| e.satusehat.practitioner_nik.clone())
            {
                return Ok((nik, format!("the practitioner registered for {path}")));
            }
            if path.level() == Level::Puskesmas {
                break;
            }
            at = path.parent();
        }
        Err(Lack::Here(format!(
            "recorded by {:?}, with no health worker's NIK, and the registry names no \
             practitioner for {facility}: at the district, `simpul facility set {facility} \
             --practitioner-nik NIK` (the bidan responsible)",
            v.visit.recorded_by
        )))
    }
}

/// What [`Round::parties`] found, owned.
struct Held {
    ihs: String,
    organization: String,
    location: String,
    location_name: String,
    practitioner: String,
}

impl Held {
    fn as_parties<'a>(&'a self, p: &'a Patient) -> Parties<'a> {
        Parties {
            ihs: &self.ihs,
            patient_name: &p.name,
            birth_date: p.birth_date,
            sex: p.sex,
            organization: &self.organization,
            location: &self.location,
            location_name: &self.location_name,
            practitioner: &self.practitioner,
        }
    }
}
