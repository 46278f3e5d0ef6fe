//! Two real stores sync over real QUIC on loopback: each ends up with exactly what it
//! should hold, at the same heads.

use std::time::Duration;

use simpul_model::{Activity, ActivityKind, Date, FacilityPath, Record, RecordBody, Scope};
use simpul_net::{DistrictCa, LinkTuning, NodeIdentity, accept, connect, endpoint};
use simpul_node::clock::Clock;
use simpul_node::{NodeLinks, SessionOptions, run_session};
use simpul_store::{Store, StoreOptions, StoreTrust};
use simpul_sync::{Role, SessionConfig};
use simpul_trust::{Authority, Signer};
use time::OffsetDateTime;

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::from_ymd(2026, 10, 31).expect("date")
}

/// 1 ms into `today()`'s day, as the node's clock counts days.
fn options() -> SessionOptions {
    let start = day_start_ms(today()) + 1;
    options_with(Clock::from_fn(move || start))
}

fn options_with(clock: Clock) -> SessionOptions {
    SessionOptions {
        config: SessionConfig::default(),
        round_every: Duration::from_secs(3600),
        clock,
    }
}

/// The first millisecond of `day` as the node's clock counts days (WIT, UTC+9).
fn day_start_ms(day: Date) -> u64 {
    (day.unix_days() as u64 * 86_400 - 9 * 3600) * 1000
}

fn links(
    writes: &tokio::sync::broadcast::Sender<simpul_node::admin::LocalChange>,
    local: &str,
) -> NodeLinks {
    links_with_rounds(writes, tokio::sync::broadcast::channel(1).1, local)
}

fn links_with_rounds(
    writes: &tokio::sync::broadcast::Sender<simpul_node::admin::LocalChange>,
    rounds: tokio::sync::broadcast::Receiver<Option<FacilityPath>>,
    local: &str,
) -> NodeLinks {
    NodeLinks {
        writes: writes.subscribe(),
        rounds,
        board: simpul_node::board::Board::new(path(local), []),
        revocations: tokio::sync::watch::channel(None).0,
    }
}

/// A district CA and the certificates of the pustu and the posyandu (valid from
/// yesterday, for 30 days).
fn district() -> (DistrictCa, NodeIdentity, NodeIdentity) {
    let now = OffsetDateTime::now_utc() - time::Duration::days(1);
    let ca = DistrictCa::create(&path("3273"), now, 30).expect("ca");
    let pu_id = ca.issue(&path(PUSTU), now, 30).expect("issue");
    let py_id = ca.issue(&path(PY), now, 30).expect("issue");
    (ca, pu_id, py_id)
}

/// A store for the node of `identity` that trusts `ca` and seals with the node's key.
fn store(dir: &std::path::Path, ca: &DistrictCa, identity: &NodeIdentity, instance: u8) -> Store {
    Store::create(dir, &identity.path, [instance; 4], trusted(ca, identity)).expect("store")
}

/// Options for a store of the node of `identity` that trusts `ca` and seals with its key.
fn trusted(ca: &DistrictCa, identity: &NodeIdentity) -> StoreOptions {
    let authority = std::sync::Arc::new(Authority::from_pem(&ca.cert_pem).expect("ca"));
    let signer = Signer::from_pem(&authority, &identity.cert_pem, &identity.key_pem).expect("key");
    StoreOptions {
        trust: Some(StoreTrust {
            authority,
            signer: Some(std::sync::Arc::new(signer)),
        }),
        ..StoreOptions::default()
    }
}

/// Runs one session between the posyandu (dialling) and the pustu until both end or
/// `until` holds (then both are stopped); how each ended.
async fn one_session(
    ca: &DistrictCa,
    py: (&NodeIdentity, &Store),
    pu: (&NodeIdentity, &Store),
    until: impl Fn() -> bool,
) -> (simpul_node::SessionEnd, simpul_node::SessionEnd) {
    let writes = tokio::sync::broadcast::channel(16).0;
    one_session_with(ca, py, pu, links(&writes, PY), until).await
}

/// A session running between the posyandu (dialling) and the pustu over real QUIC on
/// loopback, and how to stop it.
struct Running {
    client: tokio::task::JoinHandle<simpul_node::SessionEnd>,
    server: tokio::task::JoinHandle<simpul_node::SessionEnd>,
    stop: tokio::sync::watch::Sender<bool>,
}

/// Starts a session: the pustu accepts, the posyandu dials with `py_links`; both run
/// with `options`.
async fn start_session(
    ca: &DistrictCa,
    (py_id, py_store): (&NodeIdentity, &Store),
    (pu_id, pu_store): (&NodeIdentity, &Store),
    py_links: NodeLinks,
    options: SessionOptions,
) -> Running {
    let local = "127.0.0.1:0".parse().expect("addr");
    let pu_end = endpoint(local, pu_id, &ca.cert_pem, &LinkTuning::default(), None).expect("ep");
    let py_end = endpoint(local, py_id, &ca.cert_pem, &LinkTuning::default(), None).expect("ep");
    let addr = pu_end.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    // The pustu writes nothing locally here; live pushes are tested on real processes.
    let writes = tokio::sync::broadcast::channel(16).0;
    let server = tokio::spawn({
        let (store, stop, links) = (pu_store.clone(), stop_rx.clone(), links(&writes, PUSTU));
        let options = options.clone();
        async move {
            let conn = accept(&pu_end).await.expect("incoming").expect("accepted");
            run_session(store, conn, Role::Responder, options, links, stop).await
        }
    });
    let conn = connect(&py_end, addr, &path(PUSTU))
        .await
        .expect("connected");
    let client = tokio::spawn(run_session(
        py_store.clone(),
        conn,
        Role::Initiator,
        options,
        py_links,
        stop_rx,
    ));
    Running {
        client,
        server,
        stop,
    }
}

/// [`one_session`] with the posyandu's links given (to watch its board).
async fn one_session_with(
    ca: &DistrictCa,
    py: (&NodeIdentity, &Store),
    pu: (&NodeIdentity, &Store),
    py_links: NodeLinks,
    until: impl Fn() -> bool,
) -> (simpul_node::SessionEnd, simpul_node::SessionEnd) {
    let Running {
        client,
        server,
        stop: stop_tx,
    } = start_session(ca, py, pu, py_links, options()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(until() || (client.is_finished() && server.is_finished())) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session did not end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(true);
    (
        client.await.expect("client task"),
        server.await.expect("server task"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_posyandu_and_its_pustu_sync_over_quic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, pu_id, py_id) = district();
    let py_store = store(&dir.path().join("py"), &ca, &py_id, 1);
    let pu_store = store(&dir.path().join("pu"), &ca, &pu_id, 2);

    // The posyandu's people.
    let generator = simpul_gen::Generator::new(11, &path(PY), 30, today());
    for i in 0..30 {
        py_store
            .insert_record(generator.patient(i), today(), 1)
            .expect("insert");
    }
    // The pustu's own record (not for the posyandu) and a target list for its posyandu.
    let own = simpul_gen::Generator::new(12, &path(PUSTU), 1, today()).patient(0);
    let own = Record {
        scope: Scope::up(path(PUSTU)),
        ..own
    };
    let mut own = own;
    if let RecordBody::Patient(p) = &mut own.body {
        p.home_facility = path(PUSTU);
    }
    own.id = pu_store
        .insert_record(own.clone(), today(), 1)
        .expect("insert own")
        .id;
    let mut target = Record {
        id: simpul_model::RecordId::from_bytes([0xaa; 16]),
        scope: Scope::down(path(PUSTU)),
        body: RecordBody::Activity(Activity {
            kind: ActivityKind::FollowUp,
            facility: path(PUSTU),
            date: today(),
            attendance: Default::default(),
            note: Some("children not weighed this month".into()),
        }),
    };
    target.id = pu_store
        .insert_record(target.clone(), today(), 1)
        .expect("insert target list")
        .id;

    let writes = tokio::sync::broadcast::channel(16).0;
    let Running {
        client,
        server,
        stop: stop_tx,
    } = start_session(
        &ca,
        (&py_id, &py_store),
        (&pu_id, &pu_store),
        links(&writes, PY),
        options(),
    )
    .await;

    // Wait until the pustu holds all 30 people, the posyandu the target list, and the
    // posyandu (dialling) has kept when it was last in sync with the pustu.
    let since_mark = format!("sync-since/{PUSTU}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (pu, py, mark) = (pu_store.clone(), py_store.clone(), since_mark.clone());
        let done = tokio::task::spawn_blocking(move || {
            pu.count().expect("count") == 32
                && py.meta(target.id).expect("meta").is_some()
                && py.mark(&mark).expect("mark").is_some()
        })
        .await
        .expect("check");
        if done {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "sync did not finish in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).expect("stop");
    let client_end = client.await.expect("client task");
    let _ = server.await;
    assert!(
        !client_end.error,
        "client ended with an error: {}",
        client_end.reason
    );
    assert_eq!(
        client_end.stats.last_plan,
        Some((30, 1, 0)),
        "sent 30, fetched 1, none differing"
    );

    // Same heads on both sides for every shared record; nothing out of scope.
    let (pu, py) = (pu_store.clone(), py_store.clone());
    tokio::task::spawn_blocking(move || {
        for (id, meta) in py.list().expect("list") {
            let theirs = pu.meta(id).expect("meta").expect("pustu has it");
            assert_eq!(theirs.heads_digest, meta.heads_digest);
            // The author's seal arrived with the record, and is kept beside it.
            assert_eq!(pu.seals(id).expect("seals"), py.seals(id).expect("seals"));
            assert!(!pu.seals(id).expect("seals").is_empty());
        }
        assert_eq!(
            py.count().expect("count"),
            31,
            "30 people and the target list, not the pustu's own record"
        );
        assert!(py.meta(own.id).expect("meta").is_none());
        // Every record was written at second 0: in sync before second 1. Only the dialler
        // keeps the mark.
        assert_eq!(py.mark(&since_mark).expect("mark"), Some(1));
        assert_eq!(pu.mark(&format!("sync-since/{PY}")).expect("mark"), None);
    })
    .await
    .expect("checks");
}

/// A session open across midnight takes a record of the new day: the date a record is
/// validated against is read when it arrives, not when the session opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_open_across_midnight_takes_the_new_days_records() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, pu_id, py_id) = district();
    let py_store = store(&dir.path().join("py"), &ca, &py_id, 1);
    let pu_store = store(&dir.path().join("pu"), &ca, &pu_id, 2);
    let tomorrow = today().add_days(1);
    // One minute before midnight, on both nodes.
    let ms = Arc::new(AtomicU64::new(day_start_ms(tomorrow) - 60_000));
    let clock = Clock::from_fn({
        let ms = ms.clone();
        move || ms.load(Ordering::SeqCst)
    });
    assert_eq!(clock.today(), today());
    // A child born at the posyandu's area on the first day, and one born just after
    // midnight: a birth date after "today" is refused as in the future.
    let generator = simpul_gen::Generator::new(13, &path(PY), 2, today());
    let newborn = |i: u64, born: Date| {
        let mut record = generator.patient(i);
        if let RecordBody::Patient(p) = &mut record.body {
            p.birth_date = born;
            p.identifiers = simpul_model::Identifiers {
                nik_ibu: Some("3273015208900003".into()),
                birth_order: Some(i as u32 + 1),
                ..Default::default()
            };
            p.visits.clear();
        }
        record
    };
    py_store
        .insert_record(newborn(0, today()), today(), clock.now_ms())
        .expect("insert");

    let writes = tokio::sync::broadcast::channel(16).0;
    let (rounds, rounds_rx) = tokio::sync::broadcast::channel(4);
    let Running {
        client,
        server,
        stop: stop_tx,
    } = start_session(
        &ca,
        (&py_id, &py_store),
        (&pu_id, &pu_store),
        links_with_rounds(&writes, rounds_rx, PY),
        options_with(clock.clone()),
    )
    .await;
    let holds = |store: &Store, n: u64| {
        let store = store.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while tokio::time::Instant::now() < deadline {
                let s = store.clone();
                if tokio::task::spawn_blocking(move || s.count().expect("count"))
                    .await
                    .expect("count")
                    == n
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(holds(&pu_store, 1).await, "the first day's record arrived");

    // Midnight passes; the posyandu registers the new day's baby and reconciles on the
    // same connection.
    ms.store(day_start_ms(tomorrow) + 60_000, Ordering::SeqCst);
    assert_eq!(clock.today(), tomorrow);
    py_store
        .insert_record(newborn(1, tomorrow), tomorrow, clock.now_ms())
        .expect("insert");
    rounds.send(None).expect("round");
    let arrived = holds(&pu_store, 2).await;
    stop_tx.send(true).expect("stop");
    let client_end = client.await.expect("client task");
    let server_end = server.await.expect("server task");
    assert!(
        arrived,
        "the new day's record was refused: {} / {}",
        client_end.reason, server_end.reason
    );
    assert_eq!(client_end.stats.refused_by_peer, 0, "{}", client_end.reason);
}

/// A store that fails under a session ends the session with the reason: its failed read
/// is never taken for "holds nothing" (which had the peer resend every record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_store_ends_the_session_and_nothing_is_resent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, pu_id, py_id) = district();
    let py_store = store(&dir.path().join("py"), &ca, &py_id, 1);
    let disk = simpul_store::faults::Disk::new();
    let pu_store =
        Store::create_with_backend(disk.backend(), &pu_id.path, [2; 4], trusted(&ca, &pu_id))
            .expect("store");
    let generator = simpul_gen::Generator::new(14, &path(PY), 20, today());
    for i in 0..20 {
        py_store
            .insert_record(generator.patient(i), today(), 1)
            .expect("insert");
    }
    let pu = pu_store.clone();
    let (first, _) = one_session(&ca, (&py_id, &py_store), (&pu_id, &pu_store), move || {
        pu.count().expect("count") == 20
    })
    .await;
    assert_eq!(first.stats.last_plan, Some((20, 0, 0)));

    // The pustu's disk fails; its store is opened afresh, so reads go to the disk.
    drop(pu_store);
    let pu_store = Store::open_with_backend(disk.backend(), trusted(&ca, &pu_id)).expect("reopens");
    disk.fail_reads(true);
    let (client, server) =
        one_session(&ca, (&py_id, &py_store), (&pu_id, &pu_store), || false).await;
    assert!(server.error, "{}", server.reason);
    assert!(server.reason.contains("store failed"), "{}", server.reason);
    assert!(
        matches!(client.stats.last_plan, None | Some((0, _, _))),
        "the posyandu planned to resend: {:?}",
        client.stats.last_plan
    );
    assert_eq!(client.stats.records_sent, 0);
}

/// Flips a byte inside every copy of `needle` in the file (redb may still hold a page
/// from before the last commit); returns how many copies it found.
fn flip_in_file(file: &std::path::Path, needle: &[u8]) -> usize {
    let mut bytes = std::fs::read(file).expect("read store file");
    let mut found = 0;
    let mut at = 0;
    while let Some(pos) = bytes[at..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + at)
    {
        bytes[pos + needle.len() / 2] ^= 0x5a;
        found += 1;
        at = pos + needle.len();
    }
    std::fs::write(file, bytes).expect("write store file");
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_damaged_record_is_left_out_and_every_other_record_still_moves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, pu_id, py_id) = district();
    let py_dir = dir.path().join("py");
    let py_store = store(&py_dir, &ca, &py_id, 1);
    let generator = simpul_gen::Generator::new(15, &path(PY), 20, today());
    let mut ids = Vec::new();
    for i in 0..20 {
        let out = py_store
            .insert_record(generator.patient(i), today(), 1)
            .expect("insert");
        ids.push(out.id);
    }
    // A bit flips on the posyandu's disk, inside one record's stored snapshot.
    let victim = ids[7];
    let stored = py_store.stored_bytes(victim).expect("read").expect("held");
    drop(py_store);
    // The tail of the snapshot: its operations, not the actor ids other tables share.
    let tail = &stored[stored.len() - 40..stored.len() - 8];
    let copies = flip_in_file(&py_dir.join(simpul_store::DB_FILE), tail);
    assert!(copies >= 1, "the snapshot is in the file");
    let py_store = Store::open(&py_dir, trusted(&ca, &py_id)).expect("reopens");

    let pu_store = store(&dir.path().join("pu"), &ca, &pu_id, 2);
    let pu = pu_store.clone();
    let (client, server) = one_session(&ca, (&py_id, &py_store), (&pu_id, &pu_store), move || {
        pu.count().expect("count") == 19
    })
    .await;
    for end in [&client, &server] {
        assert!(
            !end.error,
            "the damaged record ended the session: {}",
            end.reason
        );
    }
    assert_eq!(
        pu_store.count().expect("count"),
        19,
        "every other record moved"
    );
    assert!(pu_store.meta(victim).expect("meta").is_none());
    assert!(client.stats.refused_by_peer >= 1);

    // The posyandu found out and keeps it out of sync; status and verify name it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while py_store.damaged().expect("damaged").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the record was never marked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let damaged = py_store.damaged().expect("damaged");
    assert_eq!(damaged.len(), 1, "{damaged:?}");
    assert_eq!(damaged[0].0, victim);
    let status = simpul_node::admin::ops::status(&py_store, 0).expect("status");
    assert_eq!(status.damaged.len(), 1);
    let report = py_store.verify(&|_, _| true).expect("verify");
    assert_eq!(report.damaged, 1);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains(&victim.to_string())),
        "{:?}",
        report.problems
    );

    // The next session has nothing to move and does not send the damaged record again.
    let writes = tokio::sync::broadcast::channel(16).0;
    let py_links = links(&writes, PY);
    let board = py_links.board.clone();
    let reconciled = move || board.peers().iter().any(|p| p.last_plan.is_some());
    let (again, _) = one_session_with(
        &ca,
        (&py_id, &py_store),
        (&pu_id, &pu_store),
        py_links,
        reconciled,
    )
    .await;
    assert_eq!(again.stats.records_sent, 0, "{:?}", again.stats);
    assert_eq!(again.stats.last_plan, Some((0, 0, 0)));
    assert_eq!(pu_store.count().expect("count"), 19);
}
