//! The admin socket: requests carried out against the store, bad requests answered with
//! a named error and nothing stored, and every stored write announced for live pushes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use simpul_model::{Date, FacilityPath, Scope};
use simpul_node::admin::{self, AdminClient, CallError, FailureKind, Reply, Request};
use simpul_store::{Store, StoreOptions};

const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY01";
const OTHER_PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY02";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    Date::from_ymd(2026, 10, 31).expect("date")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_serves_requests_and_refuses_bad_ones_storing_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::create(dir.path(), &path(PY), [1; 4], StoreOptions::default()).expect("store");
    let listener = admin::server::bind(dir.path()).expect("bind");
    let (changes, mut announced) = tokio::sync::broadcast::channel(16);
    let node = admin::server::NodeHandle {
        store: store.clone(),
        changes,
        board: simpul_node::board::Board::new(path(PY), []),
        rounds: tokio::sync::broadcast::channel(1).0,
        started_ms: 0,
        revocations: tokio::sync::watch::channel(None).0,
        health: simpul_node::store_health::StoreHealth::new(),
    };
    tokio::spawn(admin::server::serve(listener, node));

    let generator = simpul_gen::Generator::new(3, &path(PY), 2, today());
    let (mine, mut foreign) = (generator.patient(0), generator.patient(1));
    foreign.scope = Scope::up(path(OTHER_PY));
    let data_dir = dir.path().to_path_buf();
    let replies = tokio::task::spawn_blocking(move || {
        let mut client = AdminClient::connect(&data_dir).expect("node answers");
        let insert = |record| Request::Insert {
            record,
            confirm_implausible: false,
        };
        let stored = client.call(&insert(mine.clone()));
        let again = client.call(&insert(mine));
        let out_of_scope = client.call(&insert(foreign));
        let missing = client.call(&Request::Get {
            id: simpul_model::RecordId::from_bytes([9; 16]),
        });
        let not_hex = client.call(&Request::Import {
            document: "zz".into(),
        });
        let not_automerge = client.call(&Request::Import {
            document: "00ff00ff".into(),
        });
        // Raw garbage on a second connection: answered, and the connection stays usable.
        let raw = UnixStream::connect(admin::socket_path(&data_dir)).expect("connect");
        let mut writer = raw.try_clone().expect("clone");
        let mut reader = BufReader::new(raw);
        let mut answers = Vec::new();
        for line in [
            "this is not json\n",
            "{\"op\":\"launch_missiles\"}\n",
            "{\"op\":\"node\"}\n",
        ] {
            writer.write_all(line.as_bytes()).expect("write");
            let mut answer = String::new();
            reader.read_line(&mut answer).expect("read");
            answers.push(answer);
        }
        (
            stored,
            again,
            out_of_scope,
            missing,
            not_hex,
            not_automerge,
            answers,
        )
    })
    .await
    .expect("client");
    let (stored, again, out_of_scope, missing, not_hex, not_automerge, answers) = replies;

    let kind = |r: &Result<Reply, CallError>| match r {
        Err(CallError::Failed(f)) => Some(f.kind),
        _ => None,
    };
    let Ok(Reply::Written(w)) = stored else {
        panic!("insert failed: {stored:?}");
    };
    assert!(w.created && w.changed);
    assert_eq!(kind(&again), Some(FailureKind::Rejected), "{again:?}");
    assert_eq!(
        kind(&out_of_scope),
        Some(FailureKind::Rejected),
        "{out_of_scope:?}"
    );
    assert!(format!("{out_of_scope:?}").contains("outside the scope"));
    assert_eq!(kind(&missing), Some(FailureKind::NotFound));
    assert_eq!(kind(&not_hex), Some(FailureKind::BadRequest), "{not_hex:?}");
    assert_eq!(
        kind(&not_automerge),
        Some(FailureKind::Rejected),
        "{not_automerge:?}"
    );
    assert!(
        answers[0].contains("bad_request") && answers[0].contains("not a request"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("launch_missiles"),
        "the unknown op is named: {}",
        answers[1]
    );
    assert!(answers[2].contains(PY), "{}", answers[2]);

    let census = tokio::task::spawn_blocking(move || store.census().expect("census"))
        .await
        .expect("census");
    assert_eq!(
        census.by_kind.get("patient"),
        Some(&1),
        "only the good insert was stored"
    );
    assert_eq!(census.by_kind.get("audit"), Some(&1), "and its audit entry");
    let change = announced.try_recv().expect("the insert was announced");
    assert_eq!(change.id, w.id);
    assert!(change.created && !change.bytes.is_empty());
    let audit = announced.try_recv().expect("the audit entry was announced");
    assert_ne!(audit.id, w.id);
    assert!(
        announced.try_recv().is_err(),
        "refused writes are not announced"
    );
}
