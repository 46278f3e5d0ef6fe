//! `simpul gen`: fill a store with a deterministic ILP dataset.
//!
//! Two threads build documents (the CPU-heavy part); the store's writer commits them in
//! batches. At most [`IN_FLIGHT`] writes per thread wait for their commit at a time.

mod authors;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use simpul_gen::{Generator, Step};
use simpul_model::{Date, Record, RecordId};
use simpul_store::{Store, WriteError, WriteOutcome};

use authors::Authors;

use crate::cli::GenArgs;

const IN_FLIGHT: usize = 256;
const THREADS: u64 = 2;

pub(crate) type Pending = oneshot::Receiver<Result<WriteOutcome, WriteError>>;

/// The store to fill (with the node's key when `--identity` is given) and who writes.
pub(crate) fn open(dir: &std::path::Path, args: &GenArgs) -> Result<(Store, Authors)> {
    let trust = match (&args.identity, &args.ca) {
        (Some(identity), Some(ca)) => {
            let read = |f: &std::path::Path| {
                std::fs::read_to_string(f)
                    .with_context(|| format!("failed to read {}", f.display()))
            };
            let authority = std::sync::Arc::new(simpul_trust::Authority::from_pem(&read(ca)?)?);
            let signer = std::sync::Arc::new(simpul_trust::Signer::from_pem(
                &authority,
                &read(&identity.join("node.crt"))?,
                &read(&identity.join("node.key"))?,
            )?);
            Some(simpul_store::StoreTrust {
                authority,
                signer: Some(signer),
            })
        }
        _ => None,
    };
    let signer = trust.as_ref().and_then(|t| t.signer.clone());
    let issuer = match (&args.authors_ca, &trust) {
        (Some(dir), Some(t)) => Some((
            simpul_net::DistrictCa::load(dir)
                .with_context(|| format!("failed to read the CA in {}", dir.display()))?,
            t.authority.clone(),
        )),
        _ => None,
    };
    let options = simpul_store::StoreOptions {
        trust,
        ..simpul_store::StoreOptions::default()
    };
    let store = Store::open(dir, options)
        .with_context(|| format!("failed to open the store in {}", dir.display()))?;
    let authors = Authors::new(&store, signer, issuer);
    Ok((store, authors))
}

pub(crate) fn run((store, authors): (Store, Authors), args: GenArgs) -> Result<()> {
    let (store, authors) = (&store, &authors);
    let as_of = match &args.as_of {
        Some(d) => Date::parse(d).map_err(|e| super::bad_value("as-of", e))?,
        None => {
            let (y, m, d) = simpul_gen::DEFAULT_AS_OF;
            Date::from_ymd(y, m, d).unwrap_or_else(|| unreachable!("default date exists"))
        }
    };
    let generator = Generator::new(args.seed, &store.node().path, args.patients, as_of);
    let started = Instant::now();
    let bar = progress(args.patients, "people");
    // (posyandu, months back) -> under-fives weighed that month, for opening-day records.
    let attendance: Mutex<BTreeMap<(usize, i32), Vec<RecordId>>> = Mutex::default();
    let stored_bytes = Mutex::new(0u64);
    std::thread::scope(|s| -> Result<()> {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (g, bar, attendance, stored_bytes) =
                    (&generator, &bar, &attendance, &stored_bytes);
                s.spawn(move || -> Result<()> {
                    let mut pending = VecDeque::new();
                    let mut i = t;
                    while i < args.patients {
                        let history = g.history(i);
                        if let Some(now) = history.last() {
                            let id = authors.bound_id(store, &now.record)?;
                            note_attendance(g, id, &now.record, i, attendance);
                        }
                        pending.push_back(authors.submit(store, history, as_of)?);
                        while pending.len() >= IN_FLIGHT {
                            finish(pending.pop_front(), bar, stored_bytes)?;
                        }
                        i += THREADS;
                    }
                    while !pending.is_empty() {
                        finish(pending.pop_front(), bar, stored_bytes)?;
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
        }
        Ok(())
    })?;
    bar.finish_and_clear();

    let mut activities = 0u64;
    if !args.no_activities {
        let attendance = attendance.into_inner().unwrap_or_default();
        let bar = progress(attendance.len() as u64, "opening days");
        let mut pending = VecDeque::new();
        for ((posyandu, months_back), ids) in attendance {
            let record = generator.hari_buka(posyandu, months_back, &ids);
            pending.push_back(authors.submit(store, one_step(record, as_of), as_of)?);
            while pending.len() >= IN_FLIGHT {
                finish(pending.pop_front(), &bar, &stored_bytes)?;
            }
            activities += 1;
        }
        while !pending.is_empty() {
            finish(pending.pop_front(), &bar, &stored_bytes)?;
        }
        bar.finish_and_clear();
    }
    let audits = audit_days(store, authors, &generator, &args, as_of, &stored_bytes)?;
    let secs = started.elapsed().as_secs_f64();
    let records = args.patients + activities + audits;
    let bytes = stored_bytes.into_inner().unwrap_or_default();
    let summary = serde_json::json!({
        "patients": args.patients,
        "activities": activities,
        "audit_records": audits,
        "posyandu": generator.posyandu().len(),
        "seconds": (secs * 100.0).round() / 100.0,
        "records_per_second": (records as f64 / secs).round(),
        "stored_record_bytes": bytes,
        "mean_record_bytes": bytes.checked_div(records).unwrap_or(0),
    });
    if args.json {
        println!("{summary}");
    } else {
        eprintln!(
            "generated {} people and {activities} opening days at {} posyandu in {secs:.1} s ({} records/s, {} bytes per record on average)",
            args.patients,
            generator.posyandu().len(),
            summary["records_per_second"],
            summary["mean_record_bytes"],
        );
    }
    Ok(())
}

/// `--audit-days`: each pustu's audit record of each day, about people of the
/// district (ids regenerated from their indices, a sample of them). Returns how many.
fn audit_days(
    store: &Store,
    authors: &Authors,
    generator: &Generator,
    args: &GenArgs,
    as_of: Date,
    stored_bytes: &Mutex<u64>,
) -> Result<u64> {
    if args.audit_days == 0 {
        return Ok(0);
    }
    let sample: Vec<RecordId> = (0..args.patients.min(5_000))
        .map(|i| {
            authors.bound_id(
                store,
                &generator.patient(i * (args.patients / 5_000).max(1)),
            )
        })
        .collect::<Result<_>>()?;
    let pustu = generator.pustu();
    let total = pustu.len() as u64 * u64::from(args.audit_days);
    let bar = progress(total, "audit days");
    let mut pending = VecDeque::new();
    for day in 0..args.audit_days {
        for facility in &pustu {
            let record = generator.audit_day(facility, day, &sample);
            pending.push_back(authors.submit(store, one_step(record, as_of), as_of)?);
            while pending.len() >= IN_FLIGHT {
                finish(pending.pop_front(), &bar, stored_bytes)?;
            }
        }
    }
    while !pending.is_empty() {
        finish(pending.pop_front(), &bar, stored_bytes)?;
    }
    bar.finish_and_clear();
    Ok(total)
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}}, {{eta}} left)"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// A record written at once, by the facility that keeps it, at midnight of `today` (so
/// that a seed always gives byte-identical documents).
fn one_step(record: Record, today: Date) -> Vec<Step> {
    let author = record.scope.paths[0].clone();
    let at_ms = today.unix_days().max(0) as u64 * 86_400_000;
    vec![Step {
        record,
        author,
        at_ms,
    }]
}

fn finish(pending: Option<Pending>, bar: &ProgressBar, stored_bytes: &Mutex<u64>) -> Result<()> {
    let Some(pending) = pending else {
        return Ok(());
    };
    let outcome = pending
        .recv()
        .map_err(|_| WriteError::Closed)?
        .context("failed to store a generated record")?;
    if let Ok(mut b) = stored_bytes.lock() {
        *b += outcome.meta.stored_len();
    }
    bar.inc(1);
    Ok(())
}

fn note_attendance(
    g: &Generator,
    id: RecordId,
    record: &Record,
    index: u64,
    attendance: &Mutex<BTreeMap<(usize, i32), Vec<RecordId>>>,
) {
    let Some(p) = record.patient() else { return };
    if p.age_months(g.as_of()) >= 60 {
        return;
    }
    let posyandu = (index % g.posyandu().len() as u64) as usize;
    let Ok(mut map) = attendance.lock() else {
        return;
    };
    for v in p.visits.values() {
        let months_back = v.date.months_until(g.as_of()).max(0);
        map.entry((posyandu, months_back)).or_default().push(id);
    }
}
