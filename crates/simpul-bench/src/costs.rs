//! What one record costs to take in, step by step, on generated patients: loading the
//! saved document (which verifies every change hash), reading its envelope (the session's
//! scope check), reading it whole, and validating it. The steps W1's receiver repeats for
//! every record; see docs/benchmarks.md, "Where the rest goes".

use std::time::Instant;

use anyhow::Result;
use simpul_gen::Generator;
use simpul_model::automerge::Automerge;
use simpul_model::{Date, FacilityPath, Record, node_actor};

/// Prints one JSON line of microseconds per record for each step, over `n` patients.
pub(crate) fn record_costs(n: u64, print: &mut dyn FnMut(serde_json::Value)) -> Result<()> {
    let node = FacilityPath::parse("3273/P3273010201/3273010201-PU1/3273010201-PY01")?;
    let today = Date::from_ymd(2026, 10, 31).ok_or_else(|| anyhow::anyhow!("bad date"))?;
    let generator = Generator::new(1, &node, n, today);
    let saved = (0..n)
        .map(|i| {
            let doc = generator
                .patient(i)
                .create_document(node_actor(&node, [1; 4]), today, 1)?;
            Ok(doc.save())
        })
        .collect::<Result<Vec<Vec<u8>>>>()?;
    let (docs, load) = timed(n, || {
        saved
            .iter()
            .map(|bytes| Ok(Automerge::load(bytes)?))
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
            record.validate(today)?;
            Ok(())
        })
    })?;
    let mean_bytes = saved.iter().map(Vec::len).sum::<usize>() as u64 / n.max(1);
    print(serde_json::json!({
        "workload": "record-costs",
        "n": n,
        "mean_record_bytes": mean_bytes,
        "load_us": (load * 10.0).round() / 10.0,
        "envelope_us": (envelope * 10.0).round() / 10.0,
        "from_document_us": (read_whole * 10.0).round() / 10.0,
        "validate_us": (validate * 10.0).round() / 10.0,
    }));
    Ok(())
}

/// Runs one step over `n` records: its result, and the microseconds it took per record.
fn timed<T>(n: u64, step: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = step()?;
    Ok((out, start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64))
}
