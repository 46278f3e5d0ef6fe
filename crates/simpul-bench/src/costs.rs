//! What one record costs to take in, step by step, on generated patients: loading the
//! saved document (which verifies every change hash), reading its envelope (the session's
//! scope check), reading it whole, validating it, checking its authors' seals (one
//! signature each), and the whole admission (`simpul_trust::admit`: all of these and the
//! rules on who wrote what). The steps W1's receiver repeats for every record; see
//! docs/benchmarks.md, "Where the rest goes".

use std::time::Instant;

use anyhow::Result;
use simpul_gen::Generator;
use simpul_model::automerge::Automerge;
use simpul_model::validate::Check;
use simpul_model::{Date, FacilityPath, Incoming, Record};
use simpul_trust::{Authority, Judge, KeyBook, Purpose, Seal, SealKind, Signer, signing_actor};

/// Prints one JSON line of microseconds per record for each step, over `n` patients.
/// Returns the microseconds checking a record's seals took.
pub(crate) fn record_costs(n: u64, print: &mut dyn FnMut(serde_json::Value)) -> Result<f64> {
    let node = FacilityPath::parse("3273/P3273010201/3273010201-PU1/3273010201-PY01")?;
    let today = Date::from_ymd(2026, 10, 31).ok_or_else(|| anyhow::anyhow!("bad date"))?;
    let generator = Generator::new(1, &node, n, today);
    // A district CA and the posyandu's key, as `simpul ca` makes them.
    let not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let ca = simpul_net::DistrictCa::create(&FacilityPath::parse("3273")?, not_before, 30)?;
    let authority = std::sync::Arc::new(Authority::from_pem(&ca.cert_pem)?);
    let mut keys = KeyBook::new(authority.clone());
    // Each facility that writes (the posyandu, its pustu and puskesmas) with its own key.
    let mut signers = std::collections::BTreeMap::new();
    let pustu = node.parent().unwrap_or_else(|| node.clone());
    for facility in [
        node.clone(),
        pustu.clone(),
        pustu.parent().unwrap_or(pustu.clone()),
    ] {
        let identity = ca.issue(&facility, not_before, 30)?;
        let signer = Signer::from_pem(&authority, &identity.cert_pem, &identity.key_pem)?;
        keys.insert(signer.certified().clone());
        let actor = signing_actor(&facility, signer.key(), [1; 4]);
        signers.insert(facility, (signer, actor));
    }
    let own = signers
        .get(&node)
        .map(|(s, _)| s.key())
        .ok_or_else(|| anyhow::anyhow!("no key for the posyandu"))?;
    let saved = (0..n)
        .map(|i| {
            // Histories as they grow: a change per visit by whoever saw the person, the
            // id bound to the registering posyandu's key.
            let history = generator.history(i);
            let id = history[0]
                .record
                .id
                .bind([own.0[0], own.0[1], own.0[2], own.0[3]]);
            let steps = history
                .into_iter()
                .map(|s| simpul_gen::Step {
                    record: Record { id, ..s.record },
                    ..s
                })
                .collect();
            let written = simpul_gen::write_history(steps, today, |f| {
                signers
                    .get(f)
                    .map(|(_, a)| a.clone())
                    .unwrap_or_else(|| unreachable!("{f} writes"))
            })?
            .ok_or_else(|| anyhow::anyhow!("an empty history"))?;
            let seals: Vec<Seal> = written
                .last_change_of
                .iter()
                .filter_map(|(f, head)| {
                    Some(signers.get(f)?.0.seal(id, SealKind::Author, &[*head]))
                })
                .collect();
            Ok((id, written.doc.save(), seals))
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
    let ((), verify) = timed(n, || {
        saved.iter().try_for_each(|(id, _, seals)| {
            for seal in seals {
                let key = &keys
                    .get(&seal.key)
                    .ok_or_else(|| anyhow::anyhow!("unknown key"))?
                    .public;
                anyhow::ensure!(seal.verifies(*id, key), "a seal does not verify");
            }
            Ok(())
        })
    })?;
    let seals_per_record =
        saved.iter().map(|(_, _, s)| s.len()).sum::<usize>() as f64 / n.max(1) as f64;
    // What the receiver's store does with a record new to it, seal checks included.
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
            .try_for_each(|(doc, (id, _, seals))| {
                let incoming = Incoming::Document(doc);
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
        "verify_seals_us": (verify * 10.0).round() / 10.0,
        "seals_per_record": (seals_per_record * 100.0).round() / 100.0,
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
