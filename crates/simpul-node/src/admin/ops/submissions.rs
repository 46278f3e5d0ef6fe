//! The SATUSEHAT submission ledger as this node holds it (its own, and those of the
//! nodes below that travelled up), and retries asked by a person.

use simpul_model::{RecordBody, RecordId, RecordKind, SubmissionLedger, SubmissionStatus};
use simpul_store::Store;

use super::{read_failure, write_failure};
use crate::admin::protocol::{Failure, FailureKind};

/// The most ledgers listed: one per patient with a visit submitted.
const MAX_LEDGERS: usize = 1_000_000;

/// Every ledger held, in record id order. A damaged one is left out (the store's
/// `damaged` list names it).
pub(super) fn list(store: &Store) -> Result<Vec<SubmissionLedger>, Failure> {
    Ok(held(store)?.into_iter().map(|(_, l)| l).collect())
}

fn held(store: &Store) -> Result<Vec<(RecordId, SubmissionLedger)>, Failure> {
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
            ))) => out.push((id, l)),
            Ok(_) => {}
            Err(e) if e.is_record_damage() => {}
            Err(e) => return Err(read_failure(e)),
        }
    }
    Ok(out)
}

/// True when a retry moves a visit in `status` (with `resend`, a sent one too).
fn again(status: SubmissionStatus, resend: bool) -> bool {
    match status {
        SubmissionStatus::Refused
        | SubmissionStatus::Waiting
        | SubmissionStatus::Uncertain
        | SubmissionStatus::WithdrawalRefused => true,
        SubmissionStatus::Sent => resend,
        SubmissionStatus::Retry | SubmissionStatus::Withdrawn | SubmissionStatus::NotSent => false,
    }
}

/// Asks for visits to be sent again: every refused, waiting or set-aside one (or only
/// `visit`), and with `resend` a sent one too (looked up on the platform first: one it
/// holds is not sent twice). Only this node's own ledgers: the submitter sends. Each
/// entry is changed on the ledger as it stands when written, so a round running
/// meanwhile loses nothing. Returns the ledgers changed.
pub(super) fn retry(
    store: &Store,
    visit: Option<&str>,
    resend: bool,
    today: simpul_model::Date,
    now_ms: u64,
) -> Result<Vec<SubmissionLedger>, Failure> {
    let node = store.node().path.clone();
    let mut changed = Vec::new();
    for (id, mut ledger) in held(store)? {
        if ledger.submitter != node {
            continue;
        }
        let keys: Vec<String> = ledger
            .visits
            .iter()
            .filter(|(key, s)| visit.is_none_or(|v| v == *key) && again(s.status, resend))
            .map(|(key, _)| key.clone())
            .collect();
        if keys.is_empty() {
            continue;
        }
        for key in &keys {
            if let Some(s) = ledger.visits.get_mut(key) {
                s.status = SubmissionStatus::Retry;
            }
        }
        simpul_satusehat::submission::update_ledger(
            store,
            id,
            ledger.patient,
            today,
            now_ms,
            move |l| {
                for key in keys {
                    if let Some(s) = l.visits.get_mut(&key)
                        && again(s.status, resend)
                    {
                        s.status = SubmissionStatus::Retry;
                        s.updated_ms = now_ms;
                    }
                }
            },
        )
        .map_err(write_failure)?;
        changed.push(ledger);
    }
    if changed.is_empty()
        && let Some(v) = visit
    {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!(
                "visit {v}: nothing of it here to send again{}",
                if resend {
                    ""
                } else {
                    " (a sent one needs `resend`)"
                }
            ),
        ));
    }
    Ok(changed)
}
