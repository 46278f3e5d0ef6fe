//! Seed inputs for each target, made from the real thing (a real exchange between the
//! posyandu and the pustu, real certificates, the shipped configs), so that the fuzzer
//! starts from bytes that reach deep and mutates from there. Made afresh on every run,
//! so they follow the protocol as it changes.

use std::path::Path;

use simpul_model::Record;
use simpul_node::admin::Request;
use simpul_sim::memstore::MemStore;
use simpul_sync::{Message, Role, Session, SessionConfig};

use crate::session::{Rig, sealed_record, settle, shared_store};
use crate::{POSYANDU, PUSTU, keys, path};

/// Round trips at most, in the seed exchange.
const MAX_TRIPS: usize = 64;

/// The frames a posyandu with three records sends the pustu in a real session after its
/// hello, and the frames the pustu sends back.
pub fn exchange() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let k = keys();
    let mut store = MemStore::new(k.district.keybook(&[&k.pustu, &k.posyandu]));
    for n in 1..=3 {
        let (record, doc, _) = sealed_record(&k.posyandu.signer, n);
        store
            .put_local(&path(POSYANDU), &doc, record, &k.posyandu.signer)
            .expect("the posyandu holds what it wrote");
    }
    let mut posyandu = Session::new(
        SessionConfig {
            max_frame: 1 << 20,
            ..SessionConfig::default()
        },
        Role::Initiator,
        path(POSYANDU),
        path(PUSTU),
    );
    let mut pustu = Rig::new(shared_store().clone());
    let (mut sent, mut answers) = (Vec::new(), Vec::new());
    for _ in 0..MAX_TRIPS {
        let frames = settle(&mut posyandu, &mut store, None, POSYANDU, PUSTU);
        if frames.is_empty() && pustu.sent.is_empty() {
            break;
        }
        for frame in frames {
            if matches!(
                Message::decode(&frame[4..], u32::MAX),
                Ok(Message::Hello { .. })
            ) {
                continue;
            }
            pustu.feed(&frame);
            sent.push(frame);
        }
        for message in pustu.sent.drain(..) {
            let frame = message.encode();
            posyandu.handle_bytes(&frame);
            answers.push(frame);
        }
    }
    (sent, answers)
}

fn prefixed(first: u8, rest: &[u8]) -> Vec<u8> {
    [&[first][..], rest].concat()
}

/// Every target's seeds: `(target, inputs)`.
pub fn all(configs: &Path) -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let k = keys();
    let (sent, answers) = exchange();
    let stream: Vec<u8> = sent.concat();
    let (record, doc, seals) = sealed_record(&k.posyandu.signer, 1);
    let saved = doc.save();

    let session = (1..=sent.len())
        .map(|n| prefixed(0xff, &sent[..n].concat()))
        .collect();
    let frames = vec![
        prefixed(0xff, &stream),
        prefixed(7, &stream),
        prefixed(0xff, &answers.concat()),
    ];
    let reconcile = sent
        .iter()
        .chain(&answers)
        .filter_map(|f| match Message::decode(&f[4..], u32::MAX) {
            Ok(Message::Reconcile { payload, .. }) => Some(prefixed(0, &payload)),
            Ok(Message::ReconcileRecent { payload, .. }) => Some(prefixed(1, &payload)),
            Ok(Message::ReconcileOlder { payload, .. }) => Some(prefixed(2, &payload)),
            _ => None,
        })
        .collect();
    let record_seeds = vec![
        prefixed(0, &saved),
        prefixed(1, &saved),
        prefixed(2, &saved),
    ];
    let zstd = {
        let mut deflate = simpul_node::codec::Deflate::new(true).expect("encoder");
        for frame in &sent {
            deflate.push(frame).expect("compress");
        }
        vec![prefixed(0xff, &deflate.take().expect("compress"))]
    };
    let admin = admin_requests(&record, &saved)
        .iter()
        .map(|r| serde_json::to_vec(r).expect("requests encode"))
        .collect();
    let http = http_requests();
    let config = std::fs::read_dir(configs)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    let revoked = k.district.revoke(1, &[&k.posyandu.certified]);
    let certificate = vec![
        k.posyandu.certified.der.to_vec(),
        k.district.authority.der().to_vec(),
        revoked.der.to_vec(),
    ];
    let import = vec![saved.clone()];
    let bundle = {
        let body = simpul_bundle::format::Body {
            records: vec![simpul_bundle::format::Carried {
                bytes: saved.clone(),
                seals: seals.clone(),
            }],
            certs: Vec::new(),
            summary: simpul_bundle::Summary::of(&[]),
            revocations: Some(k.district.revoke(1, &[]).der.to_vec().into()),
        };
        let plain = postcard::to_allocvec(&body).expect("a body encodes");
        let mut header = crate::bundle::header(&plain);
        header.records = 1;
        let file =
            simpul_bundle::format::seal(header, &body, &k.posyandu.signer, &k.pustu.certified)
                .expect("a bundle seals");
        let summary =
            postcard::to_allocvec(&simpul_bundle::Summary::of(&[])).expect("a summary encodes");
        vec![
            [&[0u8, 1][..], &plain].concat(),
            prefixed(2, &file),
            prefixed(3, &summary),
        ]
    };
    vec![
        ("frames", frames),
        ("session", session),
        ("reconcile", reconcile),
        ("record", record_seeds),
        ("zstd", zstd),
        ("admin", admin),
        ("http", http),
        ("config", config),
        ("certificate", certificate),
        ("import", import),
        ("bundle", bundle),
    ]
}

fn admin_requests(record: &Record, saved: &[u8]) -> Vec<Request> {
    vec![
        Request::Insert {
            record: record.clone(),
            confirm_implausible: false,
        },
        Request::Get { id: record.id },
        Request::History { id: record.id },
        Request::Import {
            document: hex::encode(saved),
        },
        Request::Pws {
            month: "2026-10".into(),
            by: Some("village".into()),
            year_to_date: true,
        },
        Request::Fhir {
            resource_type: "Patient".into(),
            after: None,
            limit: Some(2),
        },
        Request::List {
            after: Some(record.id),
            limit: Some(3),
        },
        Request::Audit {
            query: serde_json::from_str(
                r#"{"who": "uid 0", "limit": 5, "after": "1790000000000.00000000000000000000000000000001.001790000000000-0000"}"#,
            )
            .expect("an audit query"),
        },
        Request::Tokens,
        Request::UpdatePatient {
            id: record.id,
            edit: serde_json::from_str(
                r#"{"sex": "M", "birth_date": "1990-08-13", "died_on": null, "moved_out_on": "2026-10-01", "home_facility": "3273/P3273010201/3273010201-PU1/3273010201-PY02", "kia_book": true, "confirm_implausible": true}"#,
            )
            .expect("an edit"),
        },
        Request::Pws {
            month: "2026-10".into(),
            by: Some("district".into()),
            year_to_date: false,
        },
    ]
}

fn http_requests() -> Vec<Vec<u8>> {
    let patient = br#"{"name": "Siti Aminah", "sex": "F", "birth_date": "1990-08-12", "nik": "3273015208900001", "village": "3273010001", "rt": "002", "rw": "005", "address": "Jl. Melati 3"}"#;
    let visit = br#"{"date": "2026-10-30", "klaster": "dewasa-lansia", "setting": "posyandu", "measurements": {"systolic_mmhg": 150.0, "diastolic_mmhg": 95.0, "weight_kg": 61.5}}"#;
    vec![
        prefixed(0, patient),
        prefixed(1, br#"{"name": "Siti A."}"#),
        prefixed(2, visit),
        prefixed(3, visit),
        prefixed(4, br#"{"reason": "salah pasien"}"#),
        prefixed(6, b"q=Siti&limit=5"),
        prefixed(7, b"service=imunisasi"),
        prefixed(8, b"limit=10"),
        prefixed(9, b"month=2026-10"),
        prefixed(10, b"Patient"),
        // What the growth issue added: typed-as-people-type registration, corrections
        // of identity, status and home, oedema and transcribed visits, confirmations.
        prefixed(
            0,
            br#"{"name": " Ayu ", "sex": "F", "birth_date": "2025-03-04", "village": "32.73.01.0001", "rt": "3", "birth_date_estimated": true, "kia_book": true, "confirm_implausible": true}"#,
        ),
        prefixed(
            1,
            br#"{"sex": "M", "birth_date": "1990-08-13", "died_on": null, "moved_out_on": "2026-10-01", "home_facility": "3273/P3273010201/3273010201-PU1/3273010201-PY02", "kia_book": false, "birth_order": 2, "nik_ibu": "3273015208900001", "confirm_nik_mismatch": true, "confirm_implausible": true}"#,
        ),
        prefixed(
            2,
            br#"{"date": "2026-10-30", "klaster": "ibu-anak", "setting": "posyandu", "transcribed": true, "confirm_implausible": true, "measurements": {"weight_kg": 48.0, "length_cm": 70.0, "oedema": true}, "immunisations": [{"antigen": "MR", "dose": 1}]}"#,
        ),
        prefixed(7, b"facility=3273&month=2026-10&service=growth_follow_up"),
        prefixed(9, b"month=2026-10&by=village&period=year-to-date&format=csv"),
    ]
}
