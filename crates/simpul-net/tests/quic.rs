//! Real QUIC on loopback with real certificates: peers of one district connect and
//! exchange bytes; a peer naming another facility, or from another CA, is refused.

use std::net::SocketAddr;

use simpul_model::FacilityPath;
use simpul_net::{DistrictCa, LinkTuning, NetError, accept, connect, endpoint};
use time::{Duration, OffsetDateTime};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";
const PY05: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn ca() -> DistrictCa {
    DistrictCa::create(
        &path("3273"),
        OffsetDateTime::now_utc() - Duration::days(1),
        30,
    )
    .expect("ca")
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("addr")
}

/// An endpoint on a free loopback port for the node at `p`, certified by `ca`.
fn node_endpoint(ca: &DistrictCa, p: &str) -> quinn::Endpoint {
    let now = OffsetDateTime::now_utc() - Duration::days(1);
    let identity = ca.issue(&path(p), now, 30).expect("issue");
    endpoint(
        local(),
        &identity,
        &ca.cert_pem,
        &LinkTuning::default(),
        None,
    )
    .expect("endpoint")
}

#[tokio::test]
async fn peers_of_one_district_connect_and_talk() {
    let ca = ca();
    let server = node_endpoint(&ca, PUSTU);
    let client = node_endpoint(&ca, PY04);
    let addr = server.local_addr().expect("addr");
    let accepting = tokio::spawn({
        let server = server.clone();
        async move {
            let peer = accept(&server).await.expect("incoming").expect("accepted");
            let (mut send, mut recv) = peer.connection.accept_bi().await.expect("stream");
            let got = recv.read_to_end(1024).await.expect("read");
            send.write_all(&got).await.expect("echo");
            send.finish().expect("finish");
            let _ = send.stopped().await;
            peer.peer
        }
    });
    let peer = connect(&client, addr, &path(PUSTU))
        .await
        .expect("connected");
    assert_eq!(peer.peer, path(PUSTU));
    assert!(
        peer.compressed,
        "two current nodes agree on the compressed stream"
    );
    let (mut send, mut recv) = peer.connection.open_bi().await.expect("stream");
    send.write_all(b"hello pustu").await.expect("write");
    send.finish().expect("finish");
    assert_eq!(recv.read_to_end(1024).await.expect("echo"), b"hello pustu");
    assert_eq!(
        accepting.await.expect("task"),
        path(PY04),
        "the server learnt the client's path"
    );
}

#[tokio::test]
async fn a_peer_that_is_not_the_configured_facility_is_refused() {
    let ca = ca();
    let server = node_endpoint(&ca, PY05);
    let client = node_endpoint(&ca, PY04);
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move { while accept(&server).await.is_some() {} });
    let err = connect(&client, addr, &path(PUSTU))
        .await
        .expect_err("refused");
    assert!(matches!(err, NetError::WrongPeer { .. }), "{err}");
    assert!(err.to_string().contains(PY05), "{err}");
}

#[tokio::test]
async fn a_node_of_another_ca_is_refused() {
    let (ours, theirs) = (ca(), ca());
    let server = node_endpoint(&ours, PUSTU);
    let intruder = node_endpoint(&theirs, PY04);
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move { while accept(&server).await.is_some() {} });
    let err = connect(&intruder, addr, &path(PUSTU))
        .await
        .expect_err("refused");
    assert!(matches!(err, NetError::Connection(_)), "{err}");
}
