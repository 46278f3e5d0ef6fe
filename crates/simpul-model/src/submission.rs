//! The SATUSEHAT submission ledger: per patient record, what the node holding the
//! platform's credentials has sent of each visit, the ids the platform gave, and why a
//! visit is not there yet.
//!
//! One ledger record per patient record and submitting node ([`ledger_id`]), scoped
//! `up` from the submitting node: it travels to the district (who has reported what),
//! and only the submitting node and those above it may write it.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::date::Date;
use crate::facility::FacilityPath;
use crate::ids::{RecordId, VisitId};
use crate::scope::Scope;

/// The longest error text kept (an OperationOutcome can run long).
pub const MAX_ERROR_CHARS: usize = 2_000;

/// The most platform ids one visit's entry lists (an encounter and what hangs off it).
pub const MAX_PLATFORM_IDS: usize = 64;

crate::string_enum! {
    /// Where a visit's submission stands.
    pub enum SubmissionStatus {
        /// Not sent: something it needs is missing here (the patient's IHS number, the
        /// practitioner, the facility's Location); `error` says what to fix.
        Waiting => "waiting",
        /// Sent, and the answer was lost (a 5xx, a cut connection): the platform may
        /// hold it. Looked up by its identifier before it is sent again.
        Uncertain => "uncertain",
        /// On the platform; `platform_ids` lists what was created.
        Sent => "sent",
        /// The platform refused it (a 4xx); `error` holds its OperationOutcome. Sent
        /// again only when someone asks (`simpul satusehat retry`).
        Refused => "refused",
        /// Someone asked for it to be sent again (after fixing what was refused).
        Retry => "retry",
        /// Sent, then entered in error here, and the platform took the
        /// `entered-in-error` update.
        Withdrawn => "withdrawn",
        /// Sent, then entered in error here, and the platform refused the
        /// `entered-in-error` update; `error` holds why. Tried again only when someone
        /// asks (`simpul satusehat retry`).
        WithdrawalRefused => "withdrawal-refused",
        /// Entered in error (or corrected) before it was ever sent: nothing to send.
        NotSent => "not-sent",
    }
}

/// A patient record's submissions, per visit.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionLedger {
    /// The patient record whose visits these are.
    pub patient: RecordId,
    /// The node that submits them.
    pub submitter: FacilityPath,
    /// One entry per visit, keyed by visit id.
    #[serde(default)]
    #[autosurgeon(missing = "Default::default")]
    pub visits: BTreeMap<String, Submission>,
}

/// One visit's submission.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Where it stands.
    pub status: SubmissionStatus,
    /// The facility that recorded the visit.
    pub facility: FacilityPath,
    /// The visit's date.
    pub date: Date,
    /// What the platform created, as `Type/id` (the Encounter first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[autosurgeon(missing = "Default::default")]
    pub platform_ids: Vec<String>,
    /// Why it is not (or no longer) on the platform: the OperationOutcome's texts, or
    /// what is missing here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[autosurgeon(missing = "Default::default")]
    pub error: Option<String>,
    /// Times it was sent.
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u32",
        reconcile = "crate::number::reconcile_u32"
    )]
    pub attempts: u32,
    /// When the entry last changed (Unix milliseconds).
    #[autosurgeon(
        hydrate = "crate::number::hydrate_u64",
        reconcile = "crate::number::reconcile_u64"
    )]
    pub updated_ms: u64,
}

impl SubmissionLedger {
    /// The scope of every ledger: held by the submitting node and those above it.
    pub fn scope(&self) -> Scope {
        Scope::up(self.submitter.clone())
    }

    /// Checks the ledger's fields; names the one that is wrong.
    pub fn check(&self) -> Result<(), String> {
        for (key, s) in &self.visits {
            if key.parse::<VisitId>().is_err() {
                return Err(format!("submission.visits: {key:?} is not a visit id"));
            }
            if !self.submitter.is_ancestor_or_self(&s.facility) {
                return Err(format!(
                    "submission.visits.{key}.facility: {} is not below the submitter {}",
                    s.facility, self.submitter
                ));
            }
            if s.platform_ids.len() > MAX_PLATFORM_IDS {
                return Err(format!(
                    "submission.visits.{key}.platform_ids: more than {MAX_PLATFORM_IDS}"
                ));
            }
            if let Some(bad) = s.platform_ids.iter().find(|r| !is_platform_reference(r)) {
                return Err(format!(
                    "submission.visits.{key}.platform_ids: {bad:?} is not Type/id"
                ));
            }
            if s.error
                .as_ref()
                .is_some_and(|e| e.chars().count() > MAX_ERROR_CHARS)
            {
                return Err(format!(
                    "submission.visits.{key}.error: longer than {MAX_ERROR_CHARS} characters"
                ));
            }
        }
        Ok(())
    }
}

/// `Type/id` with a FHIR resource type and id.
fn is_platform_reference(r: &str) -> bool {
    r.split_once('/').is_some_and(|(kind, id)| {
        kind.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && kind.chars().all(|c| c.is_ascii_alphabetic())
            && crate::validate::is_fhir_id(id)
    })
}

/// Cuts an error text to what a ledger keeps.
pub fn clip_error(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// The id of `submitter`'s ledger for `patient`: the same wherever it is computed, so
/// the submitting node finds it without an index. Bound to the node's key when it has
/// one, so that no other node can create it first.
pub fn ledger_id(
    patient: RecordId,
    submitter: &FacilityPath,
    key_prefix: Option<[u8; 4]>,
) -> RecordId {
    let digest = Sha256::new()
        .chain_update(b"simpul-satusehat-ledger\0")
        .chain_update(patient.to_string().as_bytes())
        .chain_update(b"\0")
        .chain_update(submitter.as_str().as_bytes())
        .finalize();
    RecordId::derived(&digest, key_prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FacilityPath {
        FacilityPath::parse(s).expect("path")
    }

    fn entry(facility: &str) -> Submission {
        Submission {
            status: SubmissionStatus::Sent,
            facility: p(facility),
            date: Date::from_ymd(2026, 11, 3).expect("date"),
            platform_ids: vec!["Encounter/2823ed1d-3e3e-434e-9a5b-9c579d192787".into()],
            error: None,
            attempts: 1,
            updated_ms: 1,
        }
    }

    #[test]
    fn a_ledger_names_what_is_wrong_with_it() {
        let pk = "3273/P3273010201";
        let mut ledger = SubmissionLedger {
            patient: RecordId::from_bytes([1; 16]),
            submitter: p(pk),
            visits: BTreeMap::from([(
                "00112233aabbccdd".into(),
                entry(&format!("{pk}/3273010201-PU1")),
            )]),
        };
        ledger.check().expect("valid");
        assert_eq!(ledger.scope(), Scope::up(p(pk)));

        let mut bad = ledger.clone();
        bad.visits.insert("visit".into(), entry(pk));
        assert!(bad.check().expect_err("key").contains("not a visit id"));

        let mut bad = ledger.clone();
        bad.visits
            .insert("0011223344556677".into(), entry("3273/P3273010202"));
        assert!(
            bad.check()
                .expect_err("elsewhere")
                .contains("not below the submitter")
        );

        let mut bad = ledger.clone();
        if let Some(s) = bad.visits.values_mut().next() {
            s.platform_ids.push("Encounter/../x".into());
        }
        assert!(bad.check().expect_err("ref").contains("platform_ids"));

        if let Some(s) = ledger.visits.values_mut().next() {
            s.error = Some("x".repeat(MAX_ERROR_CHARS + 1));
        }
        assert!(ledger.check().expect_err("long").contains("error"));
        assert_eq!(
            clip_error(&"é".repeat(5_000)).chars().count(),
            MAX_ERROR_CHARS
        );
    }

    #[test]
    fn a_hostile_ledger_is_refused_by_its_scope_and_by_the_history_rule() {
        use crate::record::{Record, RecordBody, check_history};
        let pk = "3273/P3273010201";
        let ledger = SubmissionLedger {
            patient: RecordId::from_bytes([1; 16]),
            submitter: p(pk),
            visits: BTreeMap::from([("00112233aabbccdd".into(), entry(pk))]),
        };
        let record = |l: SubmissionLedger, scope: Scope| Record {
            id: RecordId::from_bytes([9; 16]),
            scope,
            body: RecordBody::Submission(l),
        };
        let today = Date::from_ymd(2026, 12, 6).expect("date");
        let held = record(ledger.clone(), ledger.scope());
        held.validate(today).expect("valid");
        // Held down to every posyandu instead of up from its submitter: refused.
        let leaked = record(ledger.clone(), Scope::down(p(pk)));
        let err = leaked.validate(today).expect_err("scope");
        assert!(
            err.to_string().contains("held up from its submitter"),
            "{err}"
        );
        // What was sent is never dropped, and the ledger never changes hands.
        let mut emptied = ledger.clone();
        emptied.visits.clear();
        let err = check_history(&held, &record(emptied, ledger.scope())).expect_err("dropped");
        assert!(err.to_string().contains("removed from the ledger"), "{err}");
        let mut taken = ledger.clone();
        taken.submitter = p("3273");
        let err = check_history(&held, &record(taken, Scope::up(p("3273")))).expect_err("taken");
        assert!(err.to_string().contains("never change"), "{err}");
    }

    #[test]
    fn a_ledger_id_is_the_same_everywhere_and_differs_per_patient_and_submitter() {
        let a = RecordId::from_bytes([1; 16]);
        let b = RecordId::from_bytes([2; 16]);
        let pk = p("3273/P3273010201");
        assert_eq!(ledger_id(a, &pk, None), ledger_id(a, &pk, None));
        assert_ne!(ledger_id(a, &pk, None), ledger_id(b, &pk, None));
        assert_ne!(ledger_id(a, &pk, None), ledger_id(a, &p("3273"), None));
    }
}
