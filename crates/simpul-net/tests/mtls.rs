//! Real TLS 1.3 handshakes, in memory: nodes of one district CA accept each other and
//! learn each other's facility path from the certificate; anything else is refused.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConnection, ServerConnection};
use simpul_model::FacilityPath;
use simpul_net::{
    DistrictCa, NodeIdentity, SERVER_NAME, client_config, facility_of, server_config,
};
use time::{Duration, OffsetDateTime};

const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
const PY05: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY05";
const PY04: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("path")
}

fn ca(district: &str) -> DistrictCa {
    DistrictCa::create(
        &path(district),
        OffsetDateTime::now_utc() - Duration::days(1),
        3650,
    )
    .expect("ca")
}

fn node(ca: &DistrictCa, p: &str) -> NodeIdentity {
    ca.issue(&path(p), OffsetDateTime::now_utc() - Duration::days(1), 365)
        .expect("issue")
}

/// Runs a handshake; returns each side's view of the other's facility path, or the
/// first error.
fn handshake(
    client: (&NodeIdentity, &str),
    server: (&NodeIdentity, &str),
) -> Result<(FacilityPath, FacilityPath), String> {
    handshake_with(client, server, None)
}

/// [`handshake`] with both sides holding the revocation list `crl` (DER).
fn handshake_with(
    client: (&NodeIdentity, &str),
    server: (&NodeIdentity, &str),
    crl: Option<&[u8]>,
) -> Result<(FacilityPath, FacilityPath), String> {
    let ccfg = Arc::new(client_config(client.0, client.1, crl).map_err(|e| e.to_string())?);
    let scfg = Arc::new(server_config(server.0, server.1, crl).map_err(|e| e.to_string())?);
    let name = ServerName::try_from(SERVER_NAME).expect("name");
    let mut c = ClientConnection::new(ccfg, name).map_err(|e| e.to_string())?;
    let mut s = ServerConnection::new(scfg).map_err(|e| e.to_string())?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).map_err(|e| e.to_string())?;
        if !buf.is_empty() {
            s.read_tls(&mut buf.as_slice()).map_err(|e| e.to_string())?;
            s.process_new_packets()
                .map_err(|e| format!("server: {e}"))?;
        }
        let mut buf = Vec::new();
        s.write_tls(&mut buf).map_err(|e| e.to_string())?;
        if !buf.is_empty() {
            c.read_tls(&mut buf.as_slice()).map_err(|e| e.to_string())?;
            c.process_new_packets()
                .map_err(|e| format!("client: {e}"))?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            let seen_by_server = facility_of(&s.peer_certificates().expect("client cert")[0])
                .map_err(|e| e.to_string())?;
            let seen_by_client = facility_of(&c.peer_certificates().expect("server cert")[0])
                .map_err(|e| e.to_string())?;
            assert_eq!(c.alpn_protocol(), Some(simpul_net::ALPN_ZSTD));
            assert_eq!(c.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            return Ok((seen_by_client, seen_by_server));
        }
    }
    Err("handshake did not finish".into())
}

#[test]
fn nodes_of_one_district_learn_each_others_path() {
    let ca = ca("3273");
    let (pustu, py) = (node(&ca, PUSTU), node(&ca, PY04));
    let (client_sees, server_sees) =
        handshake((&py, &ca.cert_pem), (&pustu, &ca.cert_pem)).expect("handshake");
    assert_eq!(client_sees, path(PUSTU));
    assert_eq!(server_sees, path(PY04));
}

#[test]
fn a_certificate_from_another_ca_is_refused_both_ways() {
    let ours = ca("3273");
    let theirs = ca("3273");
    let pustu = node(&ours, PUSTU);
    let intruder = node(&theirs, PY04);
    let err =
        handshake((&intruder, &theirs.cert_pem), (&pustu, &ours.cert_pem)).expect_err("refused");
    assert!(err.contains("certificate"), "{err}");
    let err =
        handshake((&pustu, &ours.cert_pem), (&intruder, &theirs.cert_pem)).expect_err("refused");
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn an_expired_certificate_is_refused() {
    let ca = ca("3273");
    let pustu = node(&ca, PUSTU);
    let old = ca
        .issue(
            &path(PY04),
            OffsetDateTime::now_utc() - Duration::days(400),
            365,
        )
        .expect("issue");
    let err = handshake((&old, &ca.cert_pem), (&pustu, &ca.cert_pem)).expect_err("refused");
    assert!(err.to_lowercase().contains("expired"), "{err}");
}

#[test]
fn a_ca_issues_only_inside_its_district_and_keeps_its_key_private() {
    let ca = ca("3273");
    assert!(
        ca.issue(&path("3201"), OffsetDateTime::now_utc(), 30)
            .is_err()
    );
    assert!(DistrictCa::create(&path(PUSTU), OffsetDateTime::now_utc(), 30).is_err());

    let dir = tempfile::tempdir().expect("tempdir");
    ca.save(dir.path()).expect("save");
    assert!(
        ca.save(dir.path()).is_err(),
        "never overwrites key material"
    );
    let loaded = DistrictCa::load(dir.path()).expect("load");
    assert_eq!(loaded.district, "3273");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("ca.key"))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "ca.key is owner-only");
    }
    let issued = loaded
        .issue(&path(PY04), OffsetDateTime::now_utc(), 30)
        .expect("issue from loaded CA");
    let node_dir = dir.path().join("py04");
    issued.save(&node_dir).expect("save node");
    let back = NodeIdentity::load(&node_dir.join("node.crt"), &node_dir.join("node.key"))
        .expect("load node");
    assert_eq!(back.path, path(PY04));
}

#[test]
fn a_revoked_certificate_is_refused_both_ways_and_the_list_grows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = ca("3273");
    ca.save(dir.path()).expect("save");
    let (pustu, py04, py05) = (node(&ca, PUSTU), node(&ca, PY04), node(&ca, PY05));
    let now = OffsetDateTime::now_utc();
    let (pem, number) = ca.revoke(dir.path(), &py04.cert_pem, now).expect("revoke");
    assert_eq!(number, 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("crl.pem")).expect("crl file"),
        pem
    );
    let der = rustls::pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .expect("crl pem");
    let crl = Some(der.as_ref());
    let err = handshake_with((&py04, &ca.cert_pem), (&pustu, &ca.cert_pem), crl)
        .expect_err("revoked client refused");
    assert!(err.to_lowercase().contains("revoked"), "{err}");
    let err = handshake_with((&pustu, &ca.cert_pem), (&py04, &ca.cert_pem), crl)
        .expect_err("revoked server refused");
    assert!(err.to_lowercase().contains("revoked"), "{err}");
    // Others are unaffected.
    handshake_with((&py05, &ca.cert_pem), (&pustu, &ca.cert_pem), crl).expect("handshake");
    // Revoking again is refused; revoking another makes list 2, which still names the first.
    assert!(ca.revoke(dir.path(), &py04.cert_pem, now).is_err());
    let (pem2, number) = ca.revoke(dir.path(), &py05.cert_pem, now).expect("revoke");
    assert_eq!(number, 2);
    let authority = simpul_trust::Authority::from_pem(&ca.cert_pem).expect("authority");
    let list = authority.revocations_pem(&pem2).expect("list");
    assert_eq!((list.number, list.serials.len()), (2, 2));
}
