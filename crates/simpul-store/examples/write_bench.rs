//! Durable write throughput and latency of the store, on generated ILP records.
//!
//! `cargo run --release -p simpul-store --example write_bench -- DIR [N]` prints one JSON
//! line: one writer waiting for each commit (every write its own fsync), then many
//! writers at once (the writer thread batches them into shared commits).

use std::path::PathBuf;
use std::time::Instant;

use simpul_gen::Generator;
use simpul_model::{Date, FacilityPath, Klaster, Record, RecordBody, Setting, Visit, VisitId};
use simpul_store::{Store, StoreOptions, WriteError};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or_else(|| anyhow::anyhow!("usage: write_bench DIR [N]"))?,
    );
    let n: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2_000);
    let node = FacilityPath::parse("3273")?;
    let store = Store::create(&dir, &node, [1, 2, 3, 4], StoreOptions::default())?;
    let today = Date::from_ymd(2026, 10, 31).ok_or_else(|| anyhow::anyhow!("date"))?;
    let generator = Generator::new(9, &node, n * 2, today);

    // One at a time: each insert waits for its own durable commit.
    let mut latencies = Vec::with_capacity(n as usize);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        store.insert_record(generator.patient(i), today, 1)?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let sequential = n as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let p = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];

    // Many at once: documents built up front, 256 writes in flight.
    let records: Vec<Record> = (n..2 * n).map(|i| generator.patient(i)).collect();
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for record in records {
        let doc = record.create_document(store.node().actor.clone(), today, 1)?;
        pending.push_back(store.write_queued(record.id, 1, move |slot| {
            if slot.is_some() {
                return Err(WriteError::AlreadyExists(record.id));
            }
            *slot = Some(doc);
            Ok(record)
        }));
        if pending.len() >= 256
            && let Some(p) = pending.pop_front()
        {
            p.recv()??;
        }
    }
    for p in pending {
        p.recv()??;
    }
    let concurrent = n as f64 / started.elapsed().as_secs_f64();

    // Adding a visit to an existing record (load from cache, diff, one change chunk).
    let ids: Vec<_> = store
        .list()?
        .into_iter()
        .map(|(id, _)| id)
        .take(n as usize)
        .collect();
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    for (k, &id) in ids.iter().enumerate() {
        // A measurement that fits any age: ids are in id order, not generation order.
        let mut visit = Visit::new(
            today,
            node.clone(),
            Klaster::LintasKlaster,
            Setting::Puskesmas,
            "bench",
        );
        visit.measurements.systolic_mmhg = Some(110.0);
        visit.measurements.diastolic_mmhg = Some(70.0);
        let key = VisitId::from_bytes((k as u64 | 1 << 63).to_be_bytes()).to_string();
        let out = store.write_queued(id, 2, move |doc| {
            let doc = doc.as_mut().ok_or(WriteError::NotFound(id))?;
            let before = Record::from_document(doc)?;
            let mut record = before.clone();
            if let RecordBody::Patient(p) = &mut record.body {
                p.visits.insert(key, visit);
            }
            record.write_over(&before, doc, today, 2)?;
            Ok(record)
        });
        pending.push_back(out);
        if pending.len() >= 256
            && let Some(p) = pending.pop_front()
        {
            p.recv()??;
        }
    }
    for p in pending {
        p.recv()??;
    }
    let visit_rate = ids.len() as f64 / started.elapsed().as_secs_f64();

    let records = store.count()?;
    let stored: u64 = store.list()?.iter().map(|(_, m)| m.stored_len()).sum();
    println!(
        "{}",
        serde_json::json!({
            "bench": "store_writes",
            "records": records,
            "sequential_inserts_per_s": sequential.round(),
            "sequential_p50_ms": (p(0.5) * 100.0).round() / 100.0,
            "sequential_p99_ms": (p(0.99) * 100.0).round() / 100.0,
            "batched_inserts_per_s": concurrent.round(),
            "batched_visit_adds_per_s": visit_rate.round(),
            "mean_record_bytes": stored / records.max(1),
            "file_bytes_per_record": store.file_size()? / records.max(1),
        })
    );
    Ok(())
}
