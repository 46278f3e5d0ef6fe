//! A hostile enrolled node against a real `simpul run` pustu, over real QUIC, with a
//! genuine certificate of the district: every attack of the trust issue is refused,
//! nothing stored changes, the victim's copy is never purged, and the session's close
//! reason names what was refused. Then its certificate is revoked (its open session
//! ends, its handshakes fail), and a certificate that expires mid-session ends its
//! session.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::nodes::*;
use common::{fails, ok, simpul};
use simpul_model::automerge::{ActorId, Automerge};
use simpul_model::{Date, FacilityPath, Record, RecordBody, RecordId, Scope};
use simpul_sync::{FrameReader, Message, PROTOCOL_VERSION};
use simpul_trust::{Authority, Seal, SealKind, Signer, signing_actor};

const ATTACKER: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY02";
const LATE: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY03";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn today() -> Date {
    simpul_node::clock::today()
}

/// A node of the district as the attacker holds it: certificate, key, signer.
struct Identity {
    net: simpul_net::NodeIdentity,
    signer: Signer,
}

impl Identity {
    fn load(pki: &Path, name: &str) -> Identity {
        let net = simpul_net::NodeIdentity::load(
            &pki.join(name).join("node.crt"),
            &pki.join(name).join("node.key"),
        )
        .expect("identity");
        Identity::of(pki, net)
    }

    fn of(pki: &Path, net: simpul_net::NodeIdentity) -> Identity {
        let ca = std::fs::read_to_string(pki.join("ca.crt")).expect("ca");
        let authority = Authority::from_pem(&ca).expect("authority");
        let signer = Signer::from_pem(&authority, &net.cert_pem, &net.key_pem).expect("signer");
        Identity { net, signer }
    }

    fn actor(&self, instance: u8) -> ActorId {
        signing_actor(&self.net.path, self.signer.key(), [instance, 0, 0, 9])
    }

    fn seal(&self, id: RecordId, doc: &Automerge) -> Seal {
        self.signer.seal(id, SealKind::Author, &doc.get_heads())
    }
}

/// The attacker's end of a session: a real QUIC connection on the plain (uncompressed)
/// protocol, so that the test reads every frame the pustu sends.
struct Session {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    reader: FrameReader,
}

impl Session {
    async fn open(
        pki: &Path,
        who: &simpul_net::NodeIdentity,
        port: u16,
    ) -> Result<Session, String> {
        let ca = std::fs::read_to_string(pki.join("ca.crt")).expect("ca");
        let mut tls = simpul_net::client_config(who, &ca, None).expect("tls");
        tls.alpn_protocols = vec![simpul_net::ALPN.to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
        let mut endpoint =
            quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
        endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
        let addr = format!("127.0.0.1:{port}").parse().expect("addr");
        let conn = endpoint
            .connect(addr, simpul_net::SERVER_NAME)
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        // Refused as soon as the handshake is over, the first stream or write fails with
        // a bare "connection lost": the reason is in how the connection was closed.
        let lost = |e: String| match conn.close_reason() {
            Some(quinn::ConnectionError::ApplicationClosed(close)) => {
                String::from_utf8_lossy(&close.reason).into_owned()
            }
            Some(reason) => reason.to_string(),
            None => e,
        };
        let (mut send, recv) = conn.open_bi().await.map_err(|e| lost(e.to_string()))?;
        let hello = Message::Hello {
            protocol: PROTOCOL_VERSION,
            max_frame: 4 << 20,
            node: who.path.to_string(),
            revocations: 0,
        };
        send.write_all(&hello.encode())
            .await
            .map_err(|e| lost(e.to_string()))?;
        Ok(Session {
            endpoint,
            conn,
            send,
            recv,
            reader: FrameReader::new(8 << 20),
        })
    }

    async fn send(&mut self, msgs: &[Message]) {
        for m in msgs {
            self.send.write_all(&m.encode()).await.expect("send");
        }
    }

    /// Every message until the pustu says goodbye (its reason) or `limit` passes.
    async fn until_bye(&mut self, limit: Duration) -> (Vec<Message>, Option<String>) {
        let mut seen = Vec::new();
        let read = async {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                while let Ok(Some(m)) = self.reader.next_message() {
                    if let Message::Bye { reason } = &m {
                        let reason = reason.clone();
                        seen.push(m);
                        return Some(reason);
                    }
                    seen.push(m);
                }
                match self.recv.read(&mut buf).await {
                    Ok(Some(n)) => self.reader.push(&buf[..n]),
                    // The pustu closed the connection: its reason is in the close frame.
                    Err(quinn::ReadError::ConnectionLost(
                        quinn::ConnectionError::ApplicationClosed(close),
                    )) => return Some(String::from_utf8_lossy(&close.reason).into_owned()),
                    // Or refused in the handshake (a TLS alert).
                    Err(quinn::ReadError::ConnectionLost(e)) => return Some(e.to_string()),
                    _ => return None,
                }
            }
        };
        let bye = tokio::time::timeout(limit, read).await.ok().flatten();
        (seen, bye)
    }

    fn close(self) {
        self.conn.close(0u32.into(), b"done");
        self.endpoint.close(0u32.into(), b"done");
    }
}

fn cert(id: &Identity) -> Message {
    Message::Cert {
        der: id.signer.certified().der.to_vec(),
    }
}

fn record_msg(id: RecordId, doc: &Automerge, seals: Vec<Seal>) -> Message {
    Message::Record {
        id: *id.as_bytes(),
        bytes: doc.save(),
        seals,
    }
}

/// The record `id` as `dir`'s store holds it (an export): what an attacker who knows a
/// record could hold of it.
fn export(dir: &Path, id: &str) -> Automerge {
    let file = dir.join(format!("{id}.automerge"));
    let _ = std::fs::remove_file(&file);
    ok(
        dir,
        &["doc", "export", id, "--out", file.to_str().expect("utf-8")],
    );
    Automerge::load(&std::fs::read(&file).expect("read")).expect("load")
}

fn heads(dir: &Path) -> std::collections::BTreeMap<String, String> {
    ok(dir, &["patient", "list", "--all", "--json"])
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("json");
            let field = |k: &str| row[k].as_str().expect("string field").to_string();
            (field("id"), field("heads_digest"))
        })
        .collect()
}

/// `doc` with one more change by `actor` (a visit written over `before`).
fn with_visit(doc: &Automerge, actor: ActorId, at: &str) -> Automerge {
    with_visit_weighing(doc, actor, at, 10.0)
}

/// [`with_visit`] of a child weighing `kg`.
fn with_visit_weighing(doc: &Automerge, actor: ActorId, at: &str, kg: f64) -> Automerge {
    let mut copy = doc.fork().with_actor(actor);
    let before = Record::from_document(&copy).expect("record");
    let mut after = before.clone();
    if let RecordBody::Patient(p) = &mut after.body {
        let v = simpul_model::Visit::new(
            today(),
            path(at),
            simpul_model::Klaster::DewasaLansia,
            simpul_model::Setting::Posyandu,
            "intruder",
        );
        let mut v = v;
        v.measurements.weight_kg = Some(kg);
        p.visits.insert(
            simpul_model::VisitId::from_bytes([p.visits.len() as u8 + 1; 8]).to_string(),
            v,
        );
    }
    after
        .write_over(&before, &mut copy, today(), 5_000)
        .expect("write");
    copy
}

#[test]
fn a_hostile_enrolled_node_changes_nothing_it_may_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = district(d, &[("pu", PUSTU), ("py", PY), ("attacker", ATTACKER)]);
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config_with_rounds(d, "pu", PUSTU, pu_port, &[], 3600);
    let py_cfg = config_with_rounds(d, "py", PY, py_port, &[(pu_port, PUSTU)], 3600);
    let (pustu, pu_logs) = start(&pu_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    // The posyandu runs (so the registration goes through it, its id bound to its key).
    let mut seen = Vec::new();
    assert!(wait_for(&py_logs, "node running", &mut seen), "{seen:?}");
    // The honest posyandu registers a mother; she reaches the pustu.
    let victim = common::register_child(&d.join("py"), "Dewi Anggraini", 1);
    assert!(
        eventually(Duration::from_secs(30), || heads(&d.join("pu"))
            .contains_key(&victim)),
        "the victim's record reached the pustu"
    );
    let before_pu = heads(&d.join("pu"));
    let before_py = heads(&d.join("py"));
    let victim_doc = export(&d.join("py"), &victim);
    let victim_id: RecordId = victim.parse().expect("id");
    assert!(
        victim_id.bound_key().is_some(),
        "made by the running node, bound to its key"
    );
    let py_key = Identity::load(&pki, "py");
    let district_id = {
        let ca = simpul_net::DistrictCa::load(&pki).expect("ca");
        let not_before = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
        Identity::of(
            &pki,
            ca.issue(&path("3273"), not_before, 30).expect("issue"),
        )
    };
    let attacker = Identity::load(&pki, "attacker");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let attack = |msgs: Vec<Message>| {
        runtime.block_on(async {
            let mut s = Session::open(&pki, &attacker.net, pu_port)
                .await
                .expect("connects");
            s.send(&msgs).await;
            let (seen, bye) = s.until_bye(Duration::from_secs(15)).await;
            s.close();
            let bye = bye.unwrap_or_else(|| format!("no goodbye; saw {seen:?}"));
            (seen, bye)
        })
    };

    // 1. Whole-record takeover: a fresh document for the victim's id, scoped to the
    // attacker and signed by it.
    let mut fresh = Record::from_document(&victim_doc).expect("victim");
    fresh.scope = Scope::up(path(ATTACKER));
    if let RecordBody::Patient(p) = &mut fresh.body {
        p.home_facility = path(ATTACKER);
    }
    let takeover = fresh
        .create_document(attacker.actor(1), today(), 6_000)
        .expect("fresh document");
    let (_, bye) = attack(vec![
        cert(&attacker),
        record_msg(
            victim_id,
            &takeover,
            vec![attacker.seal(victim_id, &takeover)],
        ),
    ]);
    let logs: Vec<String> = pu_logs.try_iter().collect();
    assert!(
        bye.contains("its id belongs to another node's key"),
        "takeover: {bye}\n{}",
        logs.join("\n")
    );

    // 2. Scope widening: the victim's record with the attacker's path added, the
    // change signed by the attacker.
    let mut widened_record = Record::from_document(&victim_doc).expect("victim");
    widened_record.scope.paths.push(path(ATTACKER));
    let mut widened = victim_doc.fork().with_actor(attacker.actor(2));
    widened_record
        .write_over(
            &Record::from_document(&victim_doc).expect("victim"),
            &mut widened,
            today(),
            7_000,
        )
        .expect("widen");
    let seals = vec![
        py_key.seal(victim_id, &victim_doc),
        attacker.seal(victim_id, &widened),
    ];
    let (_, bye) = attack(vec![
        cert(&py_key),
        cert(&attacker),
        record_msg(victim_id, &widened, seals),
    ]);
    assert!(
        bye.contains("may not write a record of up"),
        "widening: {bye}"
    );

    // 3. Forged actors: on a record of its own (which the pustu takes), the attacker writes
    // visits as its sibling and as the district, signing with its own key.
    let own = {
        let mut r = Record::from_document(&victim_doc).expect("victim");
        r.id = RecordId::from_bytes([0x5a; 16]);
        r.scope = Scope::up(path(ATTACKER));
        if let RecordBody::Patient(p) = &mut r.body {
            p.home_facility = path(ATTACKER);
            p.identifiers = Default::default();
            p.visits.clear();
        }
        r
    };
    let own_doc = own
        .create_document(attacker.actor(3), today(), 8_000)
        .expect("own");
    let own_seal = attacker.seal(own.id, &own_doc);
    for (forged_as, actor) in [
        ("sibling", py_key.actor(1)),
        ("district", district_id.actor(1)),
    ] {
        let forged = with_visit(&own_doc, actor, ATTACKER);
        let (_, bye) = attack(vec![
            cert(&attacker),
            record_msg(
                own.id,
                &forged,
                vec![own_seal.clone(), attacker.seal(own.id, &forged)],
            ),
        ]);
        assert!(
            bye.contains("is not signed by its author"),
            "forged {forged_as}: {bye}"
        );
    }

    // 4. Equivocation: the attacker sends its own record, then two different visits under
    // one actor and sequence number. The second is set aside and reported; the session
    // and the record go on.
    let a = with_visit_weighing(&own_doc, attacker.actor(4), ATTACKER, 10.0);
    // A different change at the same sequence number: another weight.
    let b_only = with_visit_weighing(&own_doc, attacker.actor(4), ATTACKER, 11.5);
    let changes = |doc: &Automerge| Message::Changes {
        id: *own.id.as_bytes(),
        bytes: doc.save_after(&own_doc.get_heads()),
        heads: doc.get_heads().iter().map(|h| h.0).collect(),
        seals: vec![own_seal.clone(), attacker.seal(own.id, doc)],
    };
    let (seen, bye) = runtime.block_on(async {
        let mut s = Session::open(&pki, &attacker.net, pu_port)
            .await
            .expect("connects");
        s.send(&[
            cert(&attacker),
            record_msg(own.id, &own_doc, vec![own_seal.clone()]),
        ])
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.send(&[changes(&a)]).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.send(&[changes(&b_only)]).await;
        let (seen, bye) = s.until_bye(Duration::from_secs(3)).await;
        s.close();
        (seen, bye)
    });
    assert!(
        bye.is_none(),
        "an equivocating author is reported, not cut off: {bye:?}"
    );
    assert!(
        seen.iter().any(
            |m| matches!(m, Message::Refused { reason, .. } if reason.contains("equivocation"))
        ),
        "{seen:?}"
    );
    let quarantine = ok(&d.join("pu"), &["quarantine", "--json"]);
    assert_eq!(quarantine.lines().count(), 1, "{quarantine}");
    let status = ok(&d.join("pu"), &["status"]);
    assert!(status.contains("QUARANTINE 1"), "{status}");
    let mut seen_logs = Vec::new();
    assert!(wait_for(&pu_logs, "equivocation", &mut seen_logs));

    // Nothing of the victim's changed, anywhere; the attacker's own record is held (it may
    // write that one) with visit A, not B.
    let after_pu = heads(&d.join("pu"));
    assert_eq!(after_pu.get(&victim), before_pu.get(&victim));
    assert_eq!(
        heads(&d.join("py")),
        before_py,
        "the victim's copy is never purged"
    );
    let own_here = export(&d.join("pu"), &own.id.to_string());
    assert!(
        own_here
            .get_change_meta_by_hash(&a.get_heads()[0])
            .is_some()
    );
    assert!(
        own_here
            .get_change_meta_by_hash(&b_only.get_heads()[0])
            .is_none()
    );

    // 5. Revocation: with a session open, the attacker's certificate is revoked and the
    // list given to the pustu. The open session ends; a new handshake is refused.
    let closed_on_revocation = runtime.block_on(async {
        let mut s = Session::open(&pki, &attacker.net, pu_port)
            .await
            .expect("connects");
        ok(
            d,
            &[
                "ca",
                "revoke",
                "--ca",
                pki.to_str().expect("utf-8"),
                "--cert",
                pki.join("attacker/node.crt").to_str().expect("utf-8"),
            ],
        );
        ok(
            &d.join("pu"),
            &[
                "revocations",
                "add",
                pki.join("crl.pem").to_str().expect("utf-8"),
            ],
        );
        let (_, bye) = s.until_bye(Duration::from_secs(30)).await;
        s.close();
        bye
    });
    assert!(
        closed_on_revocation
            .as_deref()
            .is_some_and(|r| r.contains("revoked")),
        "{closed_on_revocation:?}"
    );
    let again = runtime.block_on(Session::open(&pki, &attacker.net, pu_port));
    let refused = match again {
        Err(e) => e,
        Ok(mut s) => runtime
            .block_on(s.until_bye(Duration::from_secs(5)))
            .1
            .unwrap_or_else(|| "not refused".into()),
    };
    assert!(
        refused.to_lowercase().contains("revoked"),
        "a revoked certificate's handshake: {refused}"
    );
    let status = ok(&d.join("pu"), &["revocations", "show"]);
    assert!(status.contains("revocation list 1"), "{status}");

    // 6. A certificate that expires mid-session: the session ends at its expiry.
    let late = {
        let ca = simpul_net::DistrictCa::load(&pki).expect("ca");
        let not_before =
            time::OffsetDateTime::now_utc() - time::Duration::days(1) + time::Duration::seconds(8);
        ca.issue(&path(LATE), not_before, 1).expect("issue")
    };
    let expired = runtime.block_on(async {
        let mut s = Session::open(&pki, &late, pu_port)
            .await
            .expect("connects before expiry");
        let (_, bye) = s.until_bye(Duration::from_secs(30)).await;
        s.close();
        bye
    });
    assert!(
        expired.as_deref().is_some_and(|r| r.contains("expired")),
        "{expired:?}"
    );

    // After all of it, the honest posyandu still syncs: a new registration arrives.
    let next = common::register_child(&d.join("py"), "Rina Marlina", 2);
    assert!(
        eventually(Duration::from_secs(30), || heads(&d.join("pu"))
            .contains_key(&next)),
        "the honest peer is still served"
    );
    assert_eq!(heads(&d.join("pu")).get(&victim), before_pu.get(&victim));
    let statuses = [terminate(posyandu), terminate(pustu)];
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}

const PK: &str = "3273/P3273010201";

/// Opens a session as `who` with the node at `port`, sends `msgs`, and returns why the
/// node ended it.
fn bye_after(
    runtime: &tokio::runtime::Runtime,
    (pki, who, port): (&Path, &Identity, u16),
    msgs: &[Message],
) -> Option<String> {
    runtime.block_on(async {
        let mut s = Session::open(pki, &who.net, port).await.expect("connects");
        s.send(msgs).await;
        let (_, bye) = s.until_bye(Duration::from_secs(15)).await;
        s.close();
        bye
    })
}

/// A district office, puskesmas, pustu and posyandu, each dialling the one above it, all
/// running (and an attacker's certificate, for a posyandu beside them): the PKI, the four
/// nodes' ports and processes.
fn chain_of_four(d: &Path) -> (std::path::PathBuf, Vec<u16>, Vec<NodeProcess>) {
    let pki = district(
        d,
        &[
            ("dk", "3273"),
            ("pk", PK),
            ("pu", PUSTU),
            ("py", PY),
            ("attacker", ATTACKER),
        ],
    );
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let configs = [
        config(d, "dk", "3273", ports[0], &[]),
        config(d, "pk", PK, ports[1], &[(ports[0], "3273")]),
        config(d, "pu", PUSTU, ports[2], &[(ports[1], PK)]),
        config(d, "py", PY, ports[3], &[(ports[2], PUSTU)]),
    ];
    let started: Vec<_> = configs.iter().map(|c| start(c)).collect();
    let mut seen = Vec::new();
    for (_, logs) in &started {
        assert!(wait_for(logs, "node running", &mut seen), "{seen:?}");
    }
    (pki, ports, started.into_iter().map(|(n, _)| n).collect())
}

#[test]
fn a_change_arrives_verified_over_three_hops_and_a_forgery_stops_at_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, ports, nodes) = chain_of_four(d);
    let id = common::register_child(&d.join("py"), "Dewi Anggraini", 1);
    // The attacker's own record goes up honestly; a visit it forges as PY01 on it does not.
    let attacker = Identity::load(&pki, "attacker");
    let py_key = Identity::load(&pki, "py");
    let own = {
        let mut r = Record::from_document(&export(&d.join("py"), &id)).expect("record");
        r.id = RecordId::from_bytes([0x6b; 16]);
        r.scope = Scope::up(path(ATTACKER));
        if let RecordBody::Patient(p) = &mut r.body {
            p.home_facility = path(ATTACKER);
            p.identifiers = Default::default();
        }
        r
    };
    let own_doc = own
        .create_document(attacker.actor(1), today(), 9_000)
        .expect("own");
    let own_seal = attacker.seal(own.id, &own_doc);
    let forged = with_visit(&own_doc, py_key.actor(7), ATTACKER);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let bye = runtime.block_on(async {
        let mut s = Session::open(&pki, &attacker.net, ports[2])
            .await
            .expect("connects");
        s.send(&[
            cert(&attacker),
            record_msg(own.id, &own_doc, vec![own_seal.clone()]),
        ])
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        s.send(&[Message::Changes {
            id: *own.id.as_bytes(),
            bytes: forged.save_after(&own_doc.get_heads()),
            heads: forged.get_heads().iter().map(|h| h.0).collect(),
            seals: vec![own_seal.clone(), attacker.seal(own.id, &forged)],
        }])
        .await;
        let (_, bye) = s.until_bye(Duration::from_secs(15)).await;
        s.close();
        bye
    });
    assert!(
        bye.as_deref()
            .is_some_and(|r| r.contains("is not signed by its author")),
        "{bye:?}"
    );
    let own_id = own.id.to_string();
    let arrived = eventually(Duration::from_secs(60), || {
        let at_district = heads(&d.join("dk"));
        at_district.get(&id) == heads(&d.join("py")).get(&id)
            && at_district.get(&own_id) == heads(&d.join("pu")).get(&own_id)
            && at_district.contains_key(&own_id)
    });
    let statuses: Vec<_> = nodes.into_iter().map(terminate).collect();
    assert!(
        arrived,
        "the posyandu's record and the attacker's own reached the district"
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    // Every change the district holds is covered by its author's seal, checked against
    // the certificates that came with them over three hops; no hop holds the forgery.
    let verified = ok(&d.join("dk"), &["verify", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&verified).expect("json");
    assert_eq!(report["problems"], serde_json::json!([]), "{verified}");
    for hop in ["pu", "pk", "dk"] {
        let held = export(&d.join(hop), &own_id);
        assert_eq!(
            held.get_heads(),
            own_doc.get_heads(),
            "{hop} holds only the honest creation"
        );
    }
}

#[test]
fn the_district_registers_its_facilities_and_no_one_below_can() {
    const LOCATION: &str = "b017aa54-f1df-4ec2-9d84-8823815d7228";
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let (pki, ports, nodes) = chain_of_four(d);
    let list = |at: &str| -> Vec<serde_json::Value> {
        ok(&d.join(at), &["facility", "list", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect()
    };

    // Bad input names what is wrong and stores nothing.
    let bad = [
        (
            "--organization",
            "100",
            "facility.satusehat.organization: a posyandu is not an Organization",
        ),
        ("--location", "a b", "is not a FHIR id"),
    ];
    for (flag, value, says) in bad {
        let args = [
            "facility",
            "set",
            PY,
            "--name",
            "Posyandu Melati",
            flag,
            value,
        ];
        let refused = fails(&d.join("dk"), &args, 3);
        assert!(refused.contains(says), "{refused}");
    }
    assert!(list("dk").is_empty());
    // Only the district registers.
    let refused = fails(
        &d.join("py"),
        &["facility", "set", PY, "--name", "Posyandu Melati"],
        3,
    );
    assert!(
        refused.contains("only the district registers facilities"),
        "{refused}"
    );

    ok(
        &d.join("dk"),
        &[
            "facility",
            "set",
            PK,
            "--name",
            "Puskesmas Sukajadi",
            "--organization",
            "10000004",
        ],
    );
    let set = simpul(
        &d.join("dk"),
        &[
            "facility",
            "set",
            PY,
            "--name",
            "Posyandu Melati",
            "--location",
            LOCATION,
        ],
    );
    let said = String::from_utf8_lossy(&set.stderr).into_owned();
    assert!(set.status.success(), "{said}");
    let entry_id = said
        .split("(record ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the record id is said")
        .to_string();
    // Set again with a new name: the entry is replaced, not duplicated.
    ok(
        &d.join("dk"),
        &[
            "facility",
            "set",
            PY,
            "--name",
            "Posyandu Melati 4",
            "--location",
            LOCATION,
        ],
    );
    let at_district = list("dk");
    assert_eq!(at_district.len(), 2, "{at_district:?}");
    // The entries travel down three hops to the posyandu, as the district wrote them.
    assert!(
        eventually(Duration::from_secs(60), || list("py") == at_district),
        "the registry reached the posyandu: {:?}",
        list("py")
    );
    let posyandu = &at_district[1];
    assert_eq!(posyandu["path"], PY);
    assert_eq!(posyandu["name"], "Posyandu Melati 4");
    assert_eq!(posyandu["satusehat"]["location"], LOCATION);

    // A posyandu that makes a registry entry of its own and sends it is refused as
    // hostile; nothing of it is stored above.
    let attacker = Identity::load(&pki, "attacker");
    let forged = Record {
        id: RecordId::from_bytes([0x7c; 16]),
        scope: Scope::down(path("3273")),
        body: RecordBody::Facility(simpul_model::FacilityEntry {
            path: path(PK),
            name: "Puskesmas Palsu".into(),
            satusehat: simpul_model::PlatformIds {
                organization: Some("666".into()),
                location: None,
                practitioner_nik: None,
            },
        }),
    };
    let forged_doc = forged
        .create_document(attacker.actor(1), today(), 9_000)
        .expect("forged");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let seal = attacker.seal(forged.id, &forged_doc);
    let bye = bye_after(
        &runtime,
        (&pki, &attacker, ports[2]),
        &[
            cert(&attacker),
            record_msg(forged.id, &forged_doc, vec![seal]),
        ],
    );
    assert!(
        bye.as_deref()
            .is_some_and(|r| r.contains("create a record of down [3273]")),
        "{bye:?}"
    );
    // Nor may it change the district's entry it holds: a change of its own to it is
    // refused the same way.
    let held = export(&d.join("py"), &entry_id);
    let mut changed = held.clone();
    changed.set_actor(attacker.actor(2));
    let before = Record::from_document(&held).expect("entry");
    let mut after = before.clone();
    if let RecordBody::Facility(e) = &mut after.body {
        e.satusehat.location = Some("d0d0d0d0-0000-4000-8000-000000000000".into());
    }
    after
        .write_over(&before, &mut changed, today(), 10_000)
        .expect("change");
    let bye = bye_after(
        &runtime,
        (&pki, &attacker, ports[2]),
        &[
            cert(&attacker),
            Message::Changes {
                id: *before.id.as_bytes(),
                bytes: changed.save_after(&held.get_heads()),
                heads: changed.get_heads().iter().map(|h| h.0).collect(),
                seals: vec![attacker.seal(before.id, &changed)],
            },
        ],
    );
    assert!(
        bye.as_deref()
            .is_some_and(|r| r.contains("write a record of down [3273]")),
        "{bye:?}"
    );
    let statuses: Vec<_> = nodes.into_iter().map(terminate).collect();
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    for hop in ["pu", "pk", "dk"] {
        assert_eq!(list(hop), at_district, "{hop}");
    }
}
