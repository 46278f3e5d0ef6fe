//! Real nodes under stress: local writes pushed live, a node killed in the middle of a
//! large transfer, and peers that send garbage.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::nodes::*;
use common::*;

/// Every record of the node on `dir` (running or not): id -> heads digest.
fn heads(dir: &Path) -> BTreeMap<String, String> {
    ok(dir, &["patient", "list", "--all", "--json"])
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).expect("json");
            let field = |k: &str| row[k].as_str().expect("string field").to_string();
            (field("id"), field("heads_digest"))
        })
        .collect()
}

#[test]
fn a_write_at_a_running_node_is_pushed_to_its_peer_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    // An hour between reconciliations: only a live push can move a write sooner.
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config_with_rounds(d, "pu", PUSTU, pu_port, &[], 3600);
    let py_cfg = config_with_rounds(d, "py", PY, py_port, &[(pu_port, PUSTU)], 3600);
    let (pustu, _pu_logs) = start(&pu_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    let connected = wait_for(&py_logs, "in sync: nothing to move", &mut seen);

    // The store is held by the running node, so these go through its admin socket.
    let written = Instant::now();
    let id = register_child(&d.join("py"), "Bayu Saputra", 2);
    let arrived = eventually(Duration::from_secs(20), || {
        heads(&d.join("pu")).contains_key(&id)
    });
    let record_lag = written.elapsed();
    let visit = ok(
        &d.join("py"),
        &[
            "visit",
            "add",
            &id,
            "--date",
            "2026-11-20",
            "--klaster",
            "ibu-anak",
            "--by",
            "kader Sri",
            "--weight-kg",
            "11.2",
        ],
    );
    let visit_written = Instant::now();
    let visit_arrived = eventually(Duration::from_secs(20), || {
        heads(&d.join("pu")).get(&id) == heads(&d.join("py")).get(&id)
    });
    let visit_lag = visit_written.elapsed();
    let statuses = [terminate(posyandu), terminate(pustu)];

    assert!(connected, "the nodes never connected:\n{}", seen.join("\n"));
    assert!(arrived, "a new record was not pushed");
    assert!(
        visit_arrived,
        "a new visit ({}) was not pushed",
        visit.trim()
    );
    eprintln!("live push: record arrived after {record_lag:?}, visit after {visit_lag:?}");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    let shown = show_json(&d.join("pu"), &id);
    assert_eq!(
        shown["patient"]["visits"].as_object().map(|v| v.len()),
        Some(1)
    );
}

#[test]
fn a_node_killed_mid_transfer_resumes_without_resending_what_it_stored() {
    const PEOPLE: usize = 1500;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &[
            "gen",
            "--seed",
            "9",
            "--patients",
            &PEOPLE.to_string(),
            "--no-activities",
        ],
    );
    let expected = heads(&d.join("py"));
    assert_eq!(expected.len(), PEOPLE);

    // A 2 Mbit/s link makes the transfer take several seconds, so the kill lands inside it.
    let (pu_port, py_port, relay_port) = (free_port(), free_port(), free_port());
    let relay = Relay::start(
        relay_port,
        pu_port,
        &["--rate-kbit", "2000", "--delay-ms", "20"],
    );
    let pu_cfg = config_with_rounds(d, "pu", PUSTU, pu_port, &[], 3600);
    let py_cfg = config_with_rounds(d, "py", PY, py_port, &[(relay_port, PUSTU)], 3600);
    let (posyandu, py_logs) = start(&py_cfg);
    let (mut pustu, pu_logs) = start(&pu_cfg);
    let mut pu_seen = Vec::new();
    assert!(
        wait_for(&pu_logs, "node running", &mut pu_seen),
        "{}",
        pu_seen.join("\n")
    );
    let started = eventually(Duration::from_secs(60), || {
        let n = ok(&d.join("pu"), &["patient", "list", "--all", "--json"])
            .lines()
            .count();
        n >= 100
    });
    pustu.kill_hard();
    // Offline now: what the pustu had made durable before it died.
    let kept = heads(&d.join("pu"));
    let mut early = Vec::new();
    while let Ok(line) = py_logs.try_recv() {
        early.push(line);
    }
    assert!(started, "the transfer never started:\n{}", early.join("\n"));
    assert!(
        kept.len() < PEOPLE,
        "the kill landed after the transfer ended ({} of {PEOPLE})",
        kept.len()
    );
    for (id, digest) in &kept {
        assert_eq!(expected.get(id), Some(digest), "{id} was stored whole");
    }

    let (pustu, _pu_logs) = start(&pu_cfg);
    let mut seen = Vec::new();
    // The restarted pustu resets the posyandu's old connection; it redials and resumes.
    let moved = wait_for(&py_logs, "reconciled and moved", &mut seen);
    let converged = eventually(Duration::from_secs(60), || heads(&d.join("pu")) == expected);
    let statuses = [terminate(posyandu), terminate(pustu)];
    let report = relay.stop();
    assert!(
        moved,
        "no resumed sync:\n{}\nrelay: {report}",
        seen.join("\n")
    );
    assert!(converged, "every record at the same heads at the pustu");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");

    // The first plan after the restart sends exactly what the pustu had not stored.
    let plan = seen
        .iter()
        .find(|l| l.contains("reconciled and moved"))
        .expect("plan line");
    let sending = field(plan, "sending");
    assert_eq!(
        sending,
        PEOPLE - kept.len(),
        "re-sent only what was missing ({} were kept): {plan}",
        kept.len()
    );
    assert_eq!(field(plan, "differing"), 0, "{plan}");
}

/// The number after `name=` in a log line.
fn field(line: &str, name: &str) -> usize {
    let at = line.find(&format!("{name}=")).expect("field in line") + name.len() + 1;
    line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("number")
}

#[test]
fn peers_sending_garbage_are_cut_off_and_the_node_keeps_serving() {
    const ROGUE: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY02";
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = district(d, &[("pu", PUSTU), ("py", PY), ("rogue", ROGUE)]);
    let (pu_port, py_port) = (free_port(), free_port());
    let pu_cfg = config_with_rounds(d, "pu", PUSTU, pu_port, &[], 3600);
    let py_cfg = config_with_rounds(d, "py", PY, py_port, &[(pu_port, PUSTU)], 3600);
    let (pustu, pu_logs) = start(&pu_cfg);
    let (posyandu, py_logs) = start(&py_cfg);
    let mut seen = Vec::new();
    let connected = wait_for(&py_logs, "in sync: nothing to move", &mut seen);

    // A certified peer that speaks nonsense: an oversized length prefix, then (on a new
    // connection) a well-sized frame that is not a message.
    let oversized = [0xff_u8; 16].to_vec();
    let mut malformed = 8_u32.to_be_bytes().to_vec();
    malformed.extend_from_slice(&[1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Both as a peer that agreed on the compressed stream would send them (compressed),
    // and, on a third connection, bytes that are not zstd at all.
    let cut_off: Vec<bool> = [
        (oversized, true),
        (malformed, true),
        (b"not zstd".to_vec(), false),
    ]
    .into_iter()
    .map(|(bytes, compress)| runtime.block_on(send_garbage(&pki, pu_port, bytes, compress)))
    .collect();

    // The honest posyandu's session is still served: a new record is pushed through it.
    let id = register_child(&d.join("py"), "Dewi Anggraini", 2);
    let arrived = eventually(Duration::from_secs(20), || {
        heads(&d.join("pu")).contains_key(&id)
    });
    let mut pu_seen = Vec::new();
    let logged = wait_for(&pu_logs, "exceeds the limit", &mut pu_seen)
        && (pu_seen
            .iter()
            .any(|l| l.contains("undecodable compressed stream"))
            || wait_for(&pu_logs, "undecodable compressed stream", &mut pu_seen));
    let statuses = [terminate(posyandu), terminate(pustu)];
    assert!(connected, "{}", seen.join("\n"));
    assert_eq!(
        cut_off,
        [true, true, true],
        "each rogue connection was closed by the node"
    );
    assert!(logged, "the pustu logged why:\n{}", pu_seen.join("\n"));
    assert!(arrived, "the honest peer was not served after the rogues");
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
    assert_eq!(
        heads(&d.join("pu")).len(),
        1,
        "nothing of the rogues was stored"
    );
}

/// Connects to the pustu as the rogue posyandu, sends `bytes` on a stream (compressed
/// first if `compress` and the connection agreed on it), and reports whether the pustu
/// closed the connection within ten seconds.
async fn send_garbage(pki: &Path, port: u16, bytes: Vec<u8>, compress: bool) -> bool {
    let identity =
        simpul_net::NodeIdentity::load(&pki.join("rogue/node.crt"), &pki.join("rogue/node.key"))
            .expect("rogue identity");
    let ca = std::fs::read_to_string(pki.join("ca.crt")).expect("ca");
    let local = "127.0.0.1:0".parse().expect("addr");
    let endpoint = simpul_net::endpoint(
        local,
        &identity,
        &ca,
        &simpul_net::LinkTuning::default(),
        None,
    )
    .expect("endpoint");
    let pustu = simpul_model::FacilityPath::parse(PUSTU).expect("path");
    let addr = format!("127.0.0.1:{port}").parse().expect("addr");
    let conn = simpul_net::connect(&endpoint, addr, &pustu)
        .await
        .expect("a certified peer connects");
    assert!(
        conn.compressed,
        "current nodes agree on the compressed stream"
    );
    let bytes = if compress {
        zstd::bulk::compress(&bytes, 3).expect("compress")
    } else {
        bytes
    };
    let (mut send, mut recv) = conn.connection.open_bi().await.expect("stream");
    send.write_all(&bytes).await.expect("send");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        // The node's Hello and Bye may arrive first; then the stream or connection ends.
        while let Ok(Some(_)) = recv.read(&mut buf).await {}
        conn.connection.closed().await
    })
    .await;
    endpoint.close(0u32.into(), b"done");
    closed.is_ok()
}

#[test]
fn the_admin_socket_is_for_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU)]);
    let pu_cfg = config_with_rounds(d, "pu", PUSTU, free_port(), &[], 3600);
    let (pustu, logs) = start(&pu_cfg);
    let mut seen = Vec::new();
    let running = wait_for(&logs, "node running", &mut seen);
    let socket = d.join("pu").join("admin.sock");
    let mode = std::fs::metadata(&socket).map(|m| m.permissions().mode() & 0o777);
    let dir_mode = std::fs::metadata(d.join("pu")).map(|m| m.permissions().mode() & 0o777);
    let status = terminate(pustu);
    assert!(running, "{}", seen.join("\n"));
    assert_eq!(mode.ok(), Some(0o600), "socket mode");
    assert_eq!(dir_mode.ok(), Some(0o700), "data directory mode");
    assert!(status.success());
    assert!(!socket.exists(), "the socket is removed on a clean stop");
}

#[test]
fn writes_on_both_sides_of_a_cut_link_meet_when_it_heals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("pu", PUSTU), ("py", PY)]);
    let link = CutLink::start(d, 1);
    let mut seen = Vec::new();
    let connected = wait_for(&link.py_logs, "in sync: nothing to move", &mut seen);
    let child = register_child(&d.join("py"), "Rina Wulandari", 2);
    let shared = eventually(Duration::from_secs(20), || {
        heads(&d.join("pu")).contains_key(&child)
    });

    link.cut();
    let visit = |node: &str, date: &str| {
        ok(
            &d.join(node),
            &[
                "visit",
                "add",
                &child,
                "--date",
                date,
                "--klaster",
                "ibu-anak",
                "--by",
                node,
                "--weight-kg",
                "9.5",
            ],
        )
    };
    visit("py", "2026-11-20");
    visit("pu", "2026-11-21");
    std::thread::sleep(Duration::from_secs(3));
    let visits = |node: &str| {
        show_json(&d.join(node), &child)["patient"]["visits"]
            .as_object()
            .map_or(0, |v| v.len())
    };
    let apart = (visits("py"), visits("pu"));
    link.heal();
    let healed = eventually(Duration::from_secs(60), || {
        visits("py") == 2 && visits("pu") == 2 && heads(&d.join("py")) == heads(&d.join("pu"))
    });
    let statuses = [terminate(link.posyandu), terminate(link.pustu)];
    let report = link.relay.stop();
    assert!(connected && shared, "{}", seen.join("\n"));
    assert_eq!(
        apart,
        (1, 1),
        "while cut, each side holds only its own visit"
    );
    assert!(
        healed,
        "both visits on both sides after the heal; relay: {report}"
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}

/// Sends the first flight of a QUIC handshake (a genuine node's, with its certificate
/// config) to `to` from a socket that never answers again: a half-open handshake. The
/// socket is returned so that it stays bound (the server's replies go unread).
fn half_open_handshake(pki: &Path, node: &str, to: u16) -> std::net::UdpSocket {
    use std::sync::Arc;
    let identity = simpul_net::NodeIdentity::load(
        &pki.join(node).join("node.crt"),
        &pki.join(node).join("node.key"),
    )
    .expect("identity");
    let ca = std::fs::read_to_string(pki.join("ca.crt")).expect("ca");
    let tls = simpul_net::client_config(&identity, &ca, None).expect("tls");
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let config = quinn::ClientConfig::new(Arc::new(quic));
    let mut endpoint = quinn_proto::Endpoint::new(
        Arc::new(quinn_proto::EndpointConfig::default()),
        None,
        false,
        None,
    );
    let server = std::net::SocketAddr::from(([127, 0, 0, 1], to));
    let (_, mut connection) = endpoint
        .connect(Instant::now(), config, server, simpul_net::SERVER_NAME)
        .expect("connect");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut buf = Vec::with_capacity(1500);
    let mut sent = 0;
    while let Some(t) = connection.poll_transmit(Instant::now(), 1, &mut buf) {
        socket.send_to(&buf[..t.size], t.destination).expect("send");
        buf.clear();
        sent += 1;
    }
    assert!(sent > 0, "an Initial was sent");
    socket
}

/// A client that starts handshakes with a pustu and goes silent holds up nobody: a
/// posyandu connects and syncs at once (before, the accept loop awaited each handshake
/// in turn, for up to the 120 s idle timeout).
#[test]
fn handshakes_left_half_open_delay_no_other_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = district(d, &[("pu", PUSTU), ("py", PY)]);
    ok(
        &d.join("py"),
        &["gen", "--seed", "5", "--patients", "20", "--no-activities"],
    );
    let (pu_port, py_port) = (free_port(), free_port());
    let (pustu, pu_logs) = start(&config(d, "pu", PUSTU, pu_port, &[]));
    let mut seen = Vec::new();
    assert!(wait_for(&pu_logs, "node running", &mut seen), "{seen:?}");
    let silent: Vec<_> = (0..3)
        .map(|_| half_open_handshake(&pki, "py", pu_port))
        .collect();
    let started = Instant::now();
    let (posyandu, py_logs) = start(&config(d, "py", PY, py_port, &[(pu_port, PUSTU)]));
    let mut seen = Vec::new();
    let synced = wait_for(&py_logs, "in sync: nothing to move", &mut seen);
    let took = started.elapsed();
    let statuses = [terminate(posyandu), terminate(pustu)];
    drop(silent);
    assert!(synced, "{}", seen.join("\n"));
    assert!(
        took < Duration::from_secs(30),
        "the posyandu waited {took:?} behind the silent handshakes"
    );
    assert!(statuses.iter().all(|s| s.success()), "{statuses:?}");
}

/// The node's disk fills up while it runs (a real tmpfs of 256 KiB, mounted in a user
/// and mount namespace made for the test): the write that does not fit is refused with
/// the disk's own words, the node stops with an error instead of running on a store redb
/// has shut, and once there is room again it starts, holds every acknowledged write and
/// takes new ones.
#[test]
fn a_full_disk_stops_the_node_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    district(d, &[("py", PY)]);
    let cfg = config(d, "py", PY, free_port(), &[]);
    let script = d.join("full.sh");
    std::fs::write(
        &script,
        format!(
            r#"set -u
S={simpul}
cd {dir}
mkdir -p mnt && mount -t tmpfs -o size=256k tmpfs mnt
mv py mnt/py && ln -s mnt/py py
until_running() {{ for _ in $(seq 100); do grep -q "node running" "$1" && return 0; sleep 0.1; done; return 1; }}
$S run --config {cfg} 2> node.log & pid=$!
until_running node.log || {{ echo "NOT RUNNING"; cat node.log; exit 1; }}
n=0
for i in $(seq 1 1000); do
  if $S --data-dir py patient add --name "Pasien $i" --sex F --birth-date 1990-01-01 --village 3273012001 >/dev/null 2>cli.err; then n=$((n+1)); else break; fi
done
echo "ACKED $n"
echo "REFUSED $(cat cli.err)"
for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if kill -0 $pid 2>/dev/null; then echo "STILL RUNNING"; kill $pid; fi
wait $pid; echo "EXIT $?"
mount -o remount,size=16m mnt
$S run --config {cfg} 2> node2.log & pid=$!
until_running node2.log || {{ echo "NOT RUNNING AGAIN"; cat node2.log; exit 1; }}
echo "LISTED $($S --data-dir py patient list --json | wc -l)"
$S --data-dir py patient add --name "Setelah" --sex F --birth-date 1990-01-01 --village 3273012001 >/dev/null && echo "WROTE AGAIN"
kill $pid; wait $pid; echo "EXIT2 $?"
$S --data-dir py verify >/dev/null && echo "VERIFIED"
"#,
            simpul = env!("CARGO_BIN_EXE_simpul"),
            dir = d.display(),
            cfg = cfg.display(),
        ),
    )
    .expect("script");
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "bash"])
        .arg(&script)
        .output()
        .expect("unshare runs (user and mount namespaces)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let log = std::fs::read_to_string(d.join("node.log")).unwrap_or_default();
    let says = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| {
                panic!(
                    "no {key} in:\n{stdout}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
    };
    let acked: usize = says("ACKED").parse().expect("count");
    assert!(acked > 10, "{stdout}");
    assert!(
        says("REFUSED").contains("No space left on device"),
        "{stdout}"
    );
    assert!(!stdout.contains("STILL RUNNING"), "{stdout}\n{log}");
    assert_ne!(says("EXIT"), "0", "{log}");
    assert!(log.contains("the store failed"), "{log}");
    // The write the disk refused is either not stored, or stored with the refusal saying
    // so (its audit entry is what did not fit): a retry must never be a surprise.
    let refused_but_stored =
        usize::from(says("REFUSED").contains("was stored, but its audit entry"));
    assert_eq!(
        says("LISTED").parse::<usize>().expect("count"),
        acked + refused_but_stored,
        "{stdout}"
    );
    assert!(stdout.contains("WROTE AGAIN"), "{stdout}");
    assert_eq!(says("EXIT2"), "0", "{stdout}");
    assert!(stdout.contains("VERIFIED"), "{stdout}");
}
