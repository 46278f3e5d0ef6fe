//! What one record costs to take in, step by step, on generated patients: loading the
//! saved document (which verifies every change hash), reading its envelope (the session's
//! scope check), reading it whole, validating it, checking its author's seal (one
//! signature), and the whole admission (`simpul_trust::admit`: all of these and the
//! rules on who wrote what). The steps W1's receiver repeats for every record; see
//! docs/benchmarks.md, "Where the rest goes".

use std::time::Instant;

use anyhow::Result;
use simpul_gen::Generator;
use simpul_model::automerge::Automerge;
use simpul_model::validate::Check;
use simpul_model::{Date, FacilityPath, Incoming, Record};
use simpul_trust::{Authority, Judge, KeyBook, Purpose, SealKind, Signer, signing_actor};

/// Prints one JSON line of microseconds per record for each step, over `n` patients.
/// Returns the microseconds one seal check took.
pub(crate) fn record_costs(n: u64, print: &mut dyn FnMut(serde_json::Value)) -> Result<f64> {
    let node = FacilityPath::parse("3273/P3273010201/3273010201-PU1/3273010201-PY01")?;
    let today = Date::from_ymd(2026, 10, 31).ok_or_else(|| anyhow::anyhow!("bad date"))?;
    let generator = Generator::new(1, &node, n, today);
    // A district CA and the posyandu's key, as `simpul ca` makes them.
    let not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let ca = simpul_net::DistrictCa::create(&FacilityPath::parse("3273")?, not_before, 30)?;
    let identity = ca.issue(&node, not_before, 30)?;
    let authority = std::sync::Arc::new(Authority::from_pem(&ca.cert_pem)?);
    let signer = Signer::from_pem(&authority, &identity.cert_pem, &identity.key_pem)?;
    let actor = signing_actor(&node, signer.key(), [1; 4]);
    let mut keys = KeyBook::new(authority);
    keys.insert(signer.certified().clone());
    let saved = (0..n)
        .map(|i| {
            let record = generator.patient(i);
            let doc = record.create_document(actor.clone(), today, 1)?;
            let seal = signer.seal(record.id, SealKind::Author, &doc.get_heads());
            Ok((record.id, doc.save(), seal))
        })
        .collect::<Result<Vec<_>>>()?;
    let (docs, load) = timed(n, || {
        saved
            .iter()
            .map(|(_, bytes, _)| Ok(Automerge::load(bytes)?))
            .collect::<Result<Vec<_>>>()
    })?;
    let ((), envelope) = timed(n, || {
        docs.iter().try_for_each(|doc| {
            Record::envelope(doc)?;
            Ok(())
        })
    })?;
    let (records, read_whole) = timed(n, || {
        docs.iter()
            .map(|doc| Ok(Record::from_document(doc)?))
            .collect::<Result<Vec<_>>>()
    })?;
    let ((), validate) = timed(n, || {
        records.iter().try_for_each(|record| {
            record.validate_as(today, Check::Structure)?;
            Ok(())
        })
    })?;
    let public = &signer.certified().public;
    let ((), verify) = timed(n, || {
        saved.iter().try_for_each(|(id, _, seal)| {
            anyhow::ensure!(seal.verifies(*id, public), "a seal does not verify");
            Ok(())
        })
    })?;
    // What the receiver's store does with a record new to it, seal check included.
    let pustu = node.parent().unwrap_or_else(|| node.clone());
    let judge = Judge {
        keys: &keys,
        local: &pustu,
        peer: &node,
        today,
        purpose: Purpose::Store,
    };
    let ((), admit) = timed(n, || {
        docs.into_iter()
            .zip(&saved)
            .try_for_each(|(doc, (id, _, seal))| {
                let incoming = Incoming::Document(doc);
                let seals = std::slice::from_ref(seal);
                simpul_trust::admit(&judge, *id, &mut None, &[], incoming, seals)?;
                Ok(())
            })
    })?;
    let mean_bytes = saved.iter().map(|(_, b, _)| b.len()).sum::<usize>() as u64 / n.max(1);
    print(serde_json::json!({
        "workload": "record-costs",
        "n": n,
        "mean_record_bytes": mean_bytes,
        "load_us": (load * 10.0).round() / 10.0,
        "envelope_us": (envelope * 10.0).round() / 10.0,
        "from_document_us": (read_whole * 10.0).round() / 10.0,
        "validate_us": (validate * 10.0).round() / 10.0,
        "verify_seal_us": (verify * 10.0).round() / 10.0,
        "admit_us": (admit * 10.0).round() / 10.0,
    }));
    Ok(verify)
}

/// Runs one step over `n` records: its result, and the microseconds it took per record.
fn timed<T>(n: u64, step: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = step()?;
    Ok((out, start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64))
}
