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
mod requests;

use std::collections::{BTreeMap, HashMap};

use simpul_fhir::encounter::VisitContext;
use simpul_model::submission::{clip_error, ledger_id};
use simpul_model::{
    Date, FacilityEntry, FacilityPath, Level, Patient, Record, RecordBody, RecordError, RecordId,
    RecordKind, Submission, SubmissionLedger, SubmissionStatus,
};
use simpul_store::{Store, WriteError};

pub use bundle::{IMMUNIZATION_REASON, Parties, ROUTINE_TIMING, VisitBundle};
pub use codes::SubmissionCodes;

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
            SubmissionStatus::Refused => self.refused += 1,
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

/// A visit's new ledger entry, and whether the round must stop after it.
struct Step {
    entry: Option<Submission>,
    stop: Option<RoundError>,
}

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
            // The survivor holds (and submits) the duplicate's visits.
            return Ok(());
        }
        let node = self.store.node().path.clone();
        let ledger_id = ledger_id(id, &node, self.store.key_prefix());
        let before = match self.read(ledger_id)? {
            Some(Record {
                body: RecordBody::Submission(l),
                ..
            }) => Some(l),
            _ => None,
        };
        let mut ledger = before.clone().unwrap_or_else(|| SubmissionLedger {
            patient: id,
            submitter: node.clone(),
            visits: BTreeMap::new(),
        });
        let mut stop = None;
        for v in simpul_fhir::encounter::visits(id, p) {
            if !node.is_ancestor_or_self(&v.visit.facility) {
                continue;
            }
            let step = self.visit(p, &v, ledger.visits.get(v.key));
            if let Some(entry) = step.entry {
                self.report.count(entry.status);
                ledger.visits.insert(v.key.to_string(), entry);
            }
            if step.stop.is_some() {
                stop = step.stop;
                break;
            }
        }
        if before.as_ref() != Some(&ledger) && !ledger.visits.is_empty() {
            self.write_ledger(ledger_id, ledger)?;
        }
        stop.map_or(Ok(()), Err)
    }

    /// What to do for one visit, given its ledger entry.
    fn visit(&mut self, p: &Patient, v: &VisitContext<'_>, held: Option<&Submission>) -> Step {
        use SubmissionStatus::*;
        let status = held.map(|s| s.status);
        let unsent = matches!(status, None | Some(Waiting | Retry | Refused));
        if v.in_error && unsent {
            return self.settle(v, held, NotSent, Vec::new(), None, false);
        }
        if v.visit.transcribed && unsent {
            let why = "transcribed from the KIA book: a service given elsewhere, not sent";
            return self.settle(v, held, NotSent, Vec::new(), Some(why.into()), false);
        }
        match (status, v.in_error) {
            (Some(Sent), true) => {
                let ids = held.map(|h| h.platform_ids.clone()).unwrap_or_default();
                self.withdraw(p, v, held, &ids)
            }
            (Some(Uncertain), in_error) => match self.look_up(v) {
                Ok(Some(encounter)) if in_error => self.withdraw(p, v, held, &[encounter]),
                Ok(Some(encounter)) => self.settle(v, held, Sent, vec![encounter], None, false),
                Ok(None) if in_error => self.settle(v, held, NotSent, Vec::new(), None, false),
                Ok(None) => self.send(p, v, held),
                Err(Lack::Here(why)) => {
                    self.settle(v, held, Uncertain, Vec::new(), Some(why), false)
                }
                Err(Lack::Stop(e)) => Step {
                    entry: None,
                    stop: Some(e),
                },
            },
            (None | Some(Waiting | Retry), false) => self.send(p, v, held),
            _ => Step {
                entry: None,
                stop: None,
            },
        }
    }

    /// Sends a visit not on the platform yet.
    fn send(&mut self, p: &Patient, v: &VisitContext<'_>, held: Option<&Submission>) -> Step {
        use SubmissionStatus::*;
        let parties = match self.parties(p, v) {
            Ok(parties) => parties,
            Err(Lack::Here(why)) => {
                return self.settle(v, held, Waiting, Vec::new(), Some(why), false);
            }
            Err(Lack::Stop(e)) => {
                return Step {
                    entry: None,
                    stop: Some(e),
                };
            }
        };
        let built = match bundle::create(v, &parties.as_parties(p), self.codes) {
            Ok(built) => built,
            Err(why) => return self.settle(v, held, Waiting, Vec::new(), Some(why), false),
        };
        match self.platform.transaction(&built.bundle) {
            Ok(ids) => self.settle(v, held, Sent, ids, None, true),
            Err(e) if is_duplicate(&e) => {
                match self.platform.find_by_identifier(
                    "Encounter",
                    &built.encounter_system,
                    &built.encounter_value,
                ) {
                    Ok(Some(id)) => {
                        self.settle(v, held, Sent, vec![format!("Encounter/{id}")], None, true)
                    }
                    Ok(None) => {
                        self.settle(v, held, Refused, Vec::new(), Some(e.to_string()), true)
                    }
                    Err(found) => self.failed(v, held, found, true),
                }
            }
            Err(e) => self.failed(v, held, e, true),
        }
    }

    /// Marks a sent visit `entered-in-error` on the platform.
    fn withdraw(
        &mut self,
        p: &Patient,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        ids: &[String],
    ) -> Step {
        use SubmissionStatus::*;
        let sent = held.map(|h| h.status).unwrap_or(Sent);
        let bundle = self.parties(p, v).and_then(|parties| {
            bundle::withdraw(v, &parties.as_parties(p), self.codes, ids).map_err(Lack::Here)
        });
        match bundle {
            Ok(bundle) => match self.platform.transaction(&bundle) {
                Ok(_) => self.settle(v, held, Withdrawn, ids.to_vec(), None, true),
                Err(e) => {
                    let mut step = self.failed(v, held, e, true);
                    // Still on the platform as sent: the ledger says so, with the error.
                    if let Some(entry) = step.entry.as_mut() {
                        entry.status = sent;
                        entry.platform_ids = ids.to_vec();
                    }
                    step
                }
            },
            Err(Lack::Here(why)) => self.settle(v, held, sent, ids.to_vec(), Some(why), false),
            Err(Lack::Stop(e)) => Step {
                entry: None,
                stop: Some(e),
            },
        }
    }

    /// A request that failed: refused (kept with the platform's words), or the platform
    /// unavailable (the round stops; the visit is `uncertain` when it may have been
    /// taken), or its answer unreadable (`uncertain`: it may hold it).
    fn failed(
        &mut self,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        e: PlatformError,
        sent: bool,
    ) -> Step {
        use SubmissionStatus::*;
        match e {
            PlatformError::Refused {
                status: 401 | 403,
                outcome,
            } => Step {
                entry: None,
                stop: Some(PlatformError::Credentials(outcome).into()),
            },
            PlatformError::Refused { .. } => {
                self.settle(v, held, Refused, Vec::new(), Some(e.to_string()), sent)
            }
            PlatformError::Malformed(_) => {
                self.settle(v, held, Uncertain, Vec::new(), Some(e.to_string()), sent)
            }
            PlatformError::Unavailable { .. } => {
                let mut step =
                    self.settle(v, held, Uncertain, Vec::new(), Some(e.to_string()), sent);
                step.stop = Some(e.into());
                step
            }
            PlatformError::Credentials(_) => Step {
                entry: None,
                stop: Some(e.into()),
            },
        }
    }

    /// The entry a visit gets, or none when it says what the held one says.
    fn settle(
        &self,
        v: &VisitContext<'_>,
        held: Option<&Submission>,
        status: SubmissionStatus,
        platform_ids: Vec<String>,
        error: Option<String>,
        sent: bool,
    ) -> Step {
        let entry = Submission {
            status,
            facility: v.visit.facility.clone(),
            date: v.visit.date,
            platform_ids,
            error: error.as_deref().map(clip_error),
            attempts: held.map_or(0, |h| h.attempts) + u32::from(sent),
            updated_ms: self.now_ms,
        };
        let same = held.is_some_and(|h| {
            h.status == entry.status
                && h.platform_ids == entry.platform_ids
                && h.error == entry.error
                && h.attempts == entry.attempts
        });
        Step {
            entry: (!same).then_some(entry),
            stop: None,
        }
    }

    /// The platform's Encounter for a visit that may have reached it, as `Encounter/id`.
    fn look_up(&mut self, v: &VisitContext<'_>) -> Result<Option<String>, Lack> {
        let organization = self.organization(&v.visit.facility)?;
        let system = format!("http://sys-ids.kemkes.go.id/encounter/{organization}");
        match self
            .platform
            .find_by_identifier("Encounter", &system, v.key)
        {
            Ok(found) => Ok(found.map(|id| format!("Encounter/{id}"))),
            Err(e @ (PlatformError::Unavailable { .. } | PlatformError::Credentials(_))) => {
                Err(e.into())
            }
            Err(e) => Err(Lack::Here(format!(
                "looking the visit up on SATUSEHAT: {e}"
            ))),
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
        let organization = self.organization(facility)?;
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
        let nik = self.practitioner_nik(v)?;
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
                        return Err(Lack::Here(format!(
                            "looking up the practitioner with NIK {nik}: {e}"
                        )));
                    }
                };
                self.practitioners.insert(nik.clone(), found.clone());
                found
            }
        }
        .ok_or_else(|| {
            Lack::Here(format!(
                "SATUSEHAT holds no Practitioner with NIK {nik}: the health worker must be \
                 registered there (SISDMK) first"
            ))
        })?;
        Ok(Held {
            ihs,
            organization,
            location,
            location_name,
            practitioner,
        })
    }

    /// The Organization of the puskesmas a facility belongs to: its registry entry, or
    /// this node's own when this node is that puskesmas.
    fn organization(&self, facility: &FacilityPath) -> Result<String, Lack> {
        let puskesmas = facility.at_level(Level::Puskesmas);
        if let Some(org) = self
            .registry
            .get(&puskesmas)
            .and_then(|e| e.satusehat.organization.clone())
        {
            return Ok(org);
        }
        if self.store.node().path == puskesmas {
            return Ok(self.platform.config().organization.clone());
        }
        Err(Lack::Here(format!(
            "no SATUSEHAT Organization for {puskesmas}: at the district, `simpul facility \
             set {puskesmas} --organization ID`"
        )))
    }

    /// The health worker a visit names: who recorded it, else (a kader's visit) the one
    /// the registry names for its facility or the nearest one above it.
    fn practitioner_nik(&self, v: &VisitContext<'_>) -> Result<String, Lack> {
        if let Some(nik) = &v.visit.recorder_nik {
            return Ok(nik.clone());
        }
        let facility = &v.visit.facility;
        let mut at = Some(facility.clone());
        while let Some(path) = at {
            if let Some(nik) = self
                .registry
                .get(&path)
                .and_then(|e| e.satusehat.practitioner_nik.clone())
            {
                return Ok(nik);
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

    fn write_ledger(&self, id: RecordId, ledger: SubmissionLedger) -> Result<(), RoundError> {
        write_ledger(self.store, id, ledger, self.today, self.now_ms)
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

/// Stores a ledger: created, or written over the one held.
pub fn write_ledger(
    store: &Store,
    id: RecordId,
    ledger: SubmissionLedger,
    today: Date,
    now_ms: u64,
) -> Result<(), RoundError> {
    let actor = store.node().actor.clone();
    store.write(id, now_ms, move |doc| {
        let record = Record {
            id,
            scope: ledger.scope(),
            body: RecordBody::Submission(ledger),
        };
        match doc {
            None => *doc = Some(record.create_document(actor, today, now_ms)?),
            Some(doc) => {
                let before = Record::from_document(doc)?;
                if before.kind() != RecordKind::Submission {
                    return Err(WriteError::Rejected(RecordError::Shape(format!(
                        "record {id} should be a submission ledger"
                    ))));
                }
                record.write_over(&before, doc, today, now_ms)?;
            }
        }
        Ok(record)
    })?;
    Ok(())
}
