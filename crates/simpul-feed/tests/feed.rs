//! The feed against a real PostgreSQL server: what it writes equals what the store
//! holds, incrementally as from scratch, and it refuses what it must.

use simpul_feed::testing::Postgres;
use simpul_feed::{Feed, FeedError, FeedOptions, Table};
use simpul_model::audit::audit_log_id;
use simpul_model::pws::{Month, PwsReport};
use simpul_model::{
    AuditAction, AuditEntry, AuditLog, Date, ErrorMark, FacilityPath, Klaster, Record, RecordBody,
    RecordId, Role, Scope, Setting, Visit,
};
use simpul_store::{Store, StoreOptions};

const PUSKESMAS: &str = "3273/P3273010201";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::parse("2026-11-20").expect("date")
}

/// A puskesmas store with `n` generated people and three days of audit.
fn district_store(dir: &std::path::Path, n: u64) -> (Store, Vec<RecordId>) {
    let node = path(PUSKESMAS);
    let store = Store::create(dir, &node, [1, 2, 3, 4], StoreOptions::default()).expect("store");
    let generator = simpul_gen::Generator::new(17, &node, n, today());
    let mut ids = Vec::new();
    for i in 0..n {
        let record = generator.patient(i);
        ids.push(record.id);
        store.insert_record(record, today(), 1_000).expect("insert");
    }
    for day in 0..3 {
        let date = today().add_days(-day);
        let mut log = AuditLog {
            facility: node.clone(),
            date,
            part: 0,
            entries: Default::default(),
        };
        for k in 0..5u64 {
            log.append(AuditEntry {
                at_ms: 1_790_000_000_000 + day as u64 * 86_400_000 + k,
                who: format!("bidan-{k}"),
                role: Role::Bidan,
                action: AuditAction::Read,
                record: ids.get(k as usize).copied(),
                detail: None,
                via: "api".into(),
            });
        }
        let record = Record {
            id: audit_log_id(&node, None, date, 0),
            scope: Scope::up(node.clone()),
            body: RecordBody::Audit(log),
        };
        store.insert_record(record, today(), 2_000).expect("audit");
    }
    (store, ids)
}

async fn feed(pg: &Postgres, db: &str, store: &Store, batch: usize) -> simpul_feed::Progress {
    let options = FeedOptions {
        batch,
        pws_until: Some(Month::of(today())),
        ..FeedOptions::default()
    };
    let mut feed = Feed::connect(&pg.url(db), store.clone(), options)
        .await
        .expect("connect");
    feed.run_once(|_| {}).await.expect("feed")
}

/// Corrections, error marks, new visits with measurements and doses, moves between
/// posyandu and a merge: what a year of use does to records.
fn edit(store: &Store, ids: &[RecordId]) -> usize {
    let generator = simpul_gen::Generator::new(17, &path(PUSKESMAS), 1, today());
    let posyandu: Vec<FacilityPath> = generator
        .posyandu()
        .iter()
        .map(|p| p.path.clone())
        .collect();
    let mut edited = 0;
    for (i, id) in ids.iter().enumerate().step_by(7) {
        let to = posyandu[i % posyandu.len()].clone();
        let merge_into = ids[0];
        let out = store
            .update_record(*id, today(), 5_000, move |r| {
                let RecordBody::Patient(p) = &mut r.body else {
                    unreachable!("a patient")
                };
                match i % 4 {
                    0 => p.name.push_str(" Putri"),
                    1 => {
                        if let Some(v) = p.visits.values_mut().next() {
                            v.entered_in_error = Some(ErrorMark {
                                reason: "wrong child".into(),
                                by: "bidan-1".into(),
                                at_ms: 5_000,
                            });
                        }
                    }
                    2 => {
                        let mut v = Visit::new(
                            today(),
                            to.clone(),
                            Klaster::IbuAnak,
                            Setting::Posyandu,
                            "kader-02",
                        );
                        v.measurements.weight_kg = Some(9.4);
                        v.measurements.length_cm = Some(74.0);
                        v.immunisations.push(simpul_model::Immunisation {
                            antigen: simpul_model::Antigen::Mr,
                            dose: 1,
                            lot: Some("MR-2611".into()),
                        });
                        p.visits.insert(format!("{:016x}", 0xfeed_0000 + i), v);
                    }
                    _ => {
                        if r.id != merge_into {
                            p.merged_into = Some(merge_into);
                        }
                    }
                }
                // Every fourth edit also moves the family to another posyandu.
                if i % 3 == 0 {
                    r.scope = Scope::up(to.clone());
                    p.home_facility = to;
                }
                Ok(())
            })
            .expect("edit");
        edited += usize::from(out.changed);
    }
    edited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_feed_equals_a_fresh_full_feed_after_a_year_of_edits() {
    let pg = Postgres::start();
    pg.create_database("incremental");
    pg.create_database("fresh");
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, ids) = district_store(dir.path(), 300);

    let first = feed(&pg, "incremental", &store, 64).await;
    assert_eq!(
        first.records, 300,
        "every person (audit records have no person)"
    );
    assert_eq!(first.seq, store.last_sequence().expect("last"));
    let people = pg.psql("incremental", "SELECT count(*) FROM people");
    assert_eq!(people.trim(), "300");
    let audit = pg.psql("incremental", "SELECT count(*) FROM audit");
    assert_eq!(audit.trim(), "15");

    let edited = edit(&store, &ids);
    let second = feed(&pg, "incremental", &store, 64).await;
    assert_eq!(
        second.records as usize, edited,
        "the second run feeds only what changed"
    );
    // Nothing new: nothing fed.
    assert_eq!(feed(&pg, "incremental", &store, 64).await.records, 0);

    feed(&pg, "fresh", &store, 1_000).await;
    let (incremental, fresh) = (pg.dump("incremental"), pg.dump("fresh"));
    for (n, table) in simpul_feed::TABLES.iter().enumerate() {
        assert_eq!(incremental[n], fresh[n], "table {table}");
    }
    // The edits show: error marks leave the visit but not current; merges and moves.
    let marked = pg.psql(
        "fresh",
        "SELECT count(*) FROM visits WHERE entered_in_error AND NOT current",
    );
    assert_ne!(marked.trim(), "0");
    let merged = pg.psql(
        "fresh",
        "SELECT count(*) FROM people WHERE merged_into IS NOT NULL",
    );
    assert_ne!(merged.trim(), "0");
    let doses = pg.psql(
        "fresh",
        "SELECT count(*) FROM immunisations WHERE antigen = 'MR' AND lot = 'MR-2611'",
    );
    assert_ne!(doses.trim(), "0");
}

/// Each month the feed keeps, as the database holds it: one line per facility, its
/// counts then its doses (`antigen-dose:given`, in the schedule's order, given ones only).
fn pws_in_database(pg: &Postgres, db: &str, month: Month) -> Vec<String> {
    let counts = simpul_model::pws::Counts::NAMES.join(" || '|' || ");
    let sql = format!(
        "SELECT m.facility || '|' || {counts} || '|' || coalesce((
             SELECT string_agg(d.antigen || '-' || d.dose || ':' || d.given, ',' ORDER BY d.antigen, d.dose)
             FROM pws_doses d WHERE d.month = m.month AND d.facility = m.facility), '')
         FROM pws_month m WHERE m.month = '{}' ORDER BY m.facility",
        month.first_day()
    );
    pg.psql(db, &sql).lines().map(str::to_string).collect()
}

/// The same month counted by the node from every record it holds (documents, not the
/// report facts), in the same shape.
fn pws_scanned(store: &Store, month: Month) -> Vec<String> {
    let mut report = PwsReport::new(month, &store.node().path);
    for (id, _) in store.list().expect("list") {
        let (_, record) = store.record(id).expect("read").expect("held");
        report.add_record(&record);
    }
    report
        .rows()
        .iter()
        .map(|row| {
            let mut doses: Vec<(String, u32, u32)> = simpul_model::pws::schedule::SCHEDULE
                .iter()
                .zip(row.doses)
                .filter(|(_, given)| *given > 0)
                .map(|((dose, _), given)| (dose.antigen.to_string(), dose.number, given))
                .collect();
            doses.sort();
            let doses: Vec<String> = doses
                .iter()
                .map(|(antigen, dose, given)| format!("{antigen}-{dose}:{given}"))
                .collect();
            let counts: Vec<String> = row.counts.values().iter().map(u32::to_string).collect();
            format!(
                "{}|{}|{}",
                row.group.clone().unwrap_or_default(),
                counts.join("|"),
                doses.join(",")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pws_months_in_the_database_are_the_nodes_report_and_follow_corrections() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, ids) = district_store(dir.path(), 300);
    let months: Vec<Month> = {
        let mut m = vec![Month::of(today())];
        for _ in 1..simpul_feed::PWS_MONTHS {
            let before = m[m.len() - 1].previous();
            m.push(before);
        }
        m
    };
    feed(&pg, "postgres", &store, 1_000).await;
    let columns = pg.psql(
        "postgres",
        "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
         FROM information_schema.columns WHERE table_name = 'pws_month'",
    );
    let declared: Vec<&str> = ["month", "facility"]
        .into_iter()
        .chain(simpul_model::pws::Counts::NAMES.iter().copied())
        .collect();
    assert_eq!(columns.trim(), declared.join(","), "a column per count");
    let kept = pg.psql("postgres", "SELECT count(DISTINCT month) FROM pws_month");
    assert_eq!(kept.trim(), simpul_feed::PWS_MONTHS.to_string());
    let mut weighed = 0;
    for month in &months {
        let fed = pws_in_database(&pg, "postgres", *month);
        assert_eq!(fed, pws_scanned(&store, *month), "{month:?}");
        weighed += pg
            .psql(
                "postgres",
                &format!(
                    "SELECT coalesce(sum(d), 0) FROM pws_month WHERE month = '{}'",
                    month.first_day()
                ),
            )
            .trim()
            .parse::<u64>()
            .expect("sum");
    }
    assert!(
        weighed > 50,
        "the generated district weighed only {weighed} children"
    );
    // Corrections, error marks, new visits, moves and merges: the months follow.
    edit(&store, &ids);
    let before = pws_in_database(&pg, "postgres", months[0]);
    feed(&pg, "postgres", &store, 1_000).await;
    for month in &months {
        assert_eq!(
            pws_in_database(&pg, "postgres", *month),
            pws_scanned(&store, *month),
            "{month:?} after edits"
        );
    }
    assert_ne!(
        before,
        pws_in_database(&pg, "postgres", months[0]),
        "the edits changed this month's counts"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn z_scores_in_the_database_are_the_nodes() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, ids) = district_store(dir.path(), 200);
    feed(&pg, "postgres", &store, 1_000).await;
    let rows = pg.psql(
        "postgres",
        "SELECT person_id, visit_id, waz, haz, whz, stunting FROM measurements
         WHERE waz IS NOT NULL ORDER BY person_id, visit_id",
    );
    let mut checked = 0;
    for line in rows.lines() {
        let cols: Vec<&str> = line.split('|').collect();
        let id: RecordId = cols[0].parse().expect("id");
        assert!(ids.contains(&id));
        let (_, record) = store.record(id).expect("read").expect("held");
        let p = record.patient().expect("patient");
        let v = &p.visits[cols[1]];
        let growth = simpul_model::growth::at_visit(p, v.date, &v.measurements).expect("growth");
        let shown = |s: Option<simpul_model::growth::Scored>| {
            s.map(|s| s.z.to_string()).unwrap_or_default()
        };
        assert_eq!(cols[2], shown(growth.weight_for_age), "{line}");
        assert_eq!(cols[3], shown(growth.length_height_for_age), "{line}");
        assert_eq!(cols[4], shown(growth.weight_for_length_height), "{line}");
        assert_eq!(
            cols[5],
            growth.status.stunting.unwrap_or_default(),
            "{line}"
        );
        checked += 1;
    }
    assert!(checked > 20, "only {checked} children's measurements");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_store_is_fed_again_and_what_it_lost_goes_from_the_database() {
    let pg = Postgres::start();
    pg.create_database("fresh");
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = district_store(&dir.path().join("node"), 50);
    assert_eq!(feed(&pg, "postgres", &store, 1_000).await.records, 50);
    let before = pg.dump("postgres");
    // A backup; then a person registered and fed, whom the backup does not hold.
    let copy = dir.path().join("restored");
    std::fs::create_dir_all(&copy).expect("dir");
    store
        .backup(&copy.join(simpul_store::DB_FILE))
        .expect("backup");
    let late = simpul_gen::Generator::new(99, &path(PUSKESMAS), 1, today()).patient(0);
    store
        .insert_record(late.clone(), today(), 3_000)
        .expect("insert");
    assert_eq!(feed(&pg, "postgres", &store, 1_000).await.records, 1);
    drop(store);
    // What `simpul restore` does: the backup in place, with a new actor instance.
    let restored = Store::open(&copy, StoreOptions::default()).expect("open the backup");
    restored.renew_instance([9, 9, 9, 9]).expect("renew");
    assert_eq!(
        feed(&pg, "postgres", &restored, 20).await.records,
        50,
        "a new epoch: everything again"
    );
    let gone = pg.psql(
        "postgres",
        &format!("SELECT count(*) FROM people WHERE id = '{}'", late.id),
    );
    assert_eq!(
        gone.trim(),
        "0",
        "the person the restored store lost is not in the tables"
    );
    assert_eq!(pg.dump("postgres"), before, "and nothing twice");
    // A position past the store's newest (a store put back by hand) is not trusted.
    pg.psql("postgres", "UPDATE simpul_cursor SET seq = 1000000000");
    assert_eq!(feed(&pg, "postgres", &restored, 1_000).await.records, 50);
    assert_eq!(pg.dump("postgres"), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_column_is_in_the_database_with_its_type() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = district_store(dir.path(), 1);
    feed(&pg, "postgres", &store, 1_000).await;
    fn columns<T: Table>(pg: &Postgres) {
        let rows = pg.psql(
            "postgres",
            &format!(
                "SELECT column_name, data_type FROM information_schema.columns
                 WHERE table_name = '{}' AND is_generated = 'NEVER'
                 ORDER BY ordinal_position",
                T::NAME
            ),
        );
        let found: Vec<(String, String)> = rows
            .lines()
            .map(|l| {
                let (c, t) = l.split_once('|').expect("two columns");
                (c.to_string(), t.to_string())
            })
            .collect();
        let declared: Vec<(String, String)> = T::COLUMNS
            .iter()
            .map(|(c, t)| (c.to_string(), t.to_string()))
            .collect();
        assert_eq!(found, declared, "table {}", T::NAME);
    }
    columns::<simpul_feed::Person>(&pg);
    columns::<simpul_feed::VisitRow>(&pg);
    columns::<simpul_feed::MeasurementRow>(&pg);
    columns::<simpul_feed::ImmunisationRow>(&pg);
    columns::<simpul_feed::ScreeningRow>(&pg);
    columns::<simpul_feed::AuditRow>(&pg);
    columns::<simpul_feed::FacilityRow>(&pg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_simpul_is_refused_and_left_alone() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = district_store(dir.path(), 3);
    feed(&pg, "postgres", &store, 1_000).await;
    pg.psql(
        "postgres",
        "UPDATE simpul_meta SET value = '99' WHERE key = 'schema_version'",
    );
    let before = pg.dump("postgres");
    let err = match Feed::connect(&pg.url("postgres"), store.clone(), FeedOptions::default()).await
    {
        Err(e) => e,
        Ok(_) => panic!("a newer schema must be refused"),
    };
    assert!(matches!(err, FeedError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade simpul"), "{err}");
    assert_eq!(pg.dump("postgres"), before);
    // A server that is not there is named as such.
    let gone = format!("host={} port=1 user=simpul dbname=x", dir.path().display());
    let err = match Feed::connect(&gone, store, FeedOptions::default()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("no server there"),
    };
    assert!(err.starts_with("PostgreSQL: "), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_district_questions_run_and_answer() {
    let pg = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _) = district_store(dir.path(), 400);
    feed(&pg, "postgres", &store, 1_000).await;
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/feed.md"))
        .expect("docs/feed.md");
    let queries: Vec<&str> = doc
        .split("```sql\n")
        .skip(1)
        .map(|rest| rest.split("```").next().expect("closed"))
        .collect();
    assert_eq!(queries.len(), 4, "the district questions");
    let answers: Vec<String> = queries.iter().map(|q| pg.psql("postgres", q)).collect();
    // Generated children measured in the generator's month, children born in 2025
    // with doses, and the month's PWS answer with rows; the third (silent facilities)
    // runs.
    for (n, (q, a)) in queries.iter().zip(&answers).enumerate() {
        if n != 2 {
            assert!(!a.trim().is_empty(), "no rows from\n{q}");
        }
    }
    println!("{}", answers.join("\n---\n"));
}
