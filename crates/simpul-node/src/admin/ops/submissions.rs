//! The SATUSEHAT submission ledger as this node holds it (its own, and those of the
//! nodes below that travelled up), and retries asked by a person.

use simpul_model::{RecordBody, RecordKind, SubmissionLedger, SubmissionStatus};
use simpul_store::Store;

use super::{read_failure, write_failure};
use crate::admin::protocol::{Failure, FailureKind};

/// The most ledgers listed: one per patient with a visit submitted.
const MAX_LEDGERS: usize = 1_000_000;

/// Every ledger held, in record id order. A damaged one is left out (the store's
/// `damaged` list names it).
pub(super) fn list(store: &Store) -> Result<Vec<SubmissionLedger>, Failure> {
    let ids = store
        .ids_of_kind(RecordKind::Submission, None, MAX_LEDGERS)
        .map_err(read_failure)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match store.record(id) {
            Ok(Some((
                _,
                simpul_model::Record {
                    body: RecordBody::Submission(l),
                    ..
                },
            ))) => out.push(l),
            Ok(_) => {}
            Err(e) if e.is_record_damage() => {}
            Err(e) => return Err(read_failure(e)),
        }
    }
    Ok(out)
}

/// Asks for visits to be sent again: every refused or waiting one (or only `visit`),
/// and with `resend` a sent one too (the platform answers a resent visit with what it
/// holds: nothing is duplicated). Only this node's own ledgers: the submitter sends.
/// Returns the ledgers changed.
pub(super) fn retry(
    store: &Store,
    visit: Option<&str>,
    resend: bool,
    today: simpul_model::Date,
    now_ms: u64,
) -> Result<Vec<SubmissionLedger>, Failure> {
    let node = store.node().path.clone();
    let mut changed = Vec::new();
    for mut ledger in list(store)? {
        if ledger.submitter != node {
            continue;
        }
        let mut any = false;
        for (key, s) in ledger.visits.iter_mut() {
            if visit.is_some_and(|v| v != key) {
                continue;
            }
            let again = match s.status {
                SubmissionStatus::Refused | SubmissionStatus::Waiting => true,
                SubmissionStatus::Sent => resend,
                _ => false,
            };
            if again {
                s.status = SubmissionStatus::Retry;
                s.updated_ms = now_ms;
                any = true;
            }
        }
        if any {
            let id = simpul_model::submission::ledger_id(ledger.patient, &node, store.key_prefix());
            simpul_satusehat::submission::write_ledger(store, id, ledger.clone(), today, now_ms)
                .map_err(|e| match e {
                    simpul_satusehat::RoundError::Write(w) => write_failure(w),
                    other => Failure::new(FailureKind::Failed, other.to_string()),
                })?;
            changed.push(ledger);
        }
    }
    if changed.is_empty()
        && let Some(v) = visit
    {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!(
                "visit {v}: no submission of it here to send again{}",
                if resend {
                    ""
                } else {
                    " (a sent one needs --resend)"
                }
            ),
        ));
    }
    Ok(changed)
}
