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
    let per_record = |start: Instant| start.elapsed().as_secs_f64() * 1e6 / n as f64;
    let start = Instant::now();
    let docs = saved
        .iter()
        .map(|bytes| Ok(Automerge::load(bytes)?))
        .collect::<Result<Vec<_>>>()?;
    let load = per_record(start);
    let start = Instant::now();
    for doc in &docs {
        Record::envelope(doc)?;
    }
    let envelope = per_record(start);
    let start = Instant::now();
    let records = docs
        .iter()
        .map(|doc| Ok(Record::from_document(doc)?))
        .collect::<Result<Vec<_>>>()?;
    let read_whole = per_record(start);
    let start = Instant::now();
    for record in &records {
        record.validate(today)?;
    }
    let validate = per_record(start);
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
