//! Making, applying and showing bundles against a store: what goes in one, and how one
//! is judged — by the rules a live session with its sender would use.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngExt;
use simpul_model::{Date, FacilityPath, Record, RecordId, RecordKind};
use simpul_store::{Offer, Offered, PeerData, ReadError, Store, WriteError};
use simpul_trust::{Certified, KeyId, Signer};

use crate::format::{self, Body, Carried, Header};
use crate::summary::Summary;

/// The oldest bundle applied: a year and a month (a kader's bundle may wait a season in
/// a drawer; older is far more likely a replay of a copy than news).
pub const MAX_AGE_MS: u64 = 400 * 86_400_000;
/// How far ahead of this node's clock a bundle's time may be.
pub const MAX_AHEAD_MS: u64 = 86_400_000;
/// The smallest `--max-bytes` (a summary, certificates and a record or two).
pub const MIN_PART_BYTES: usize = 32 * 1024;
/// What a part holds besides its records, at most (header, certificate, summary, seals'
/// certificates).
const PART_OVERHEAD: usize = 24 * 1024;

/// Why a bundle could not be made or applied. Nothing stored changes on any of these
/// (records the store refuses one by one are reported in [`Applied::refused`] instead).
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle file.
    #[error("not a simpul bundle (a bundle starts with SIMPULBN)")]
    NotABundle,
    /// A format this code does not read.
    #[error("a bundle of format version {0}; this simpul reads version {v}", v = format::VERSION)]
    Version(u8),
    /// Encrypted to another key.
    #[error("this bundle is for another node (encrypted to key {key}); this node's key is {ours}")]
    NotForUs {
        /// The key it is for.
        key: KeyId,
        /// This node's.
        ours: KeyId,
    },
    /// Changed or cut short.
    #[error(
        "the bundle is damaged or was altered: it does not decrypt with this node's key (a changed byte, or a file cut short)"
    )]
    Damaged,
    /// Decrypted but not what a bundle holds.
    #[error("the bundle's contents are malformed: {0}")]
    Malformed(String),
    /// The signature does not verify.
    #[error("the bundle's signature does not verify against {from}'s certificate: it was altered")]
    BadSignature {
        /// Who it claims to be from.
        from: String,
    },
    /// The sender may not send it.
    #[error("the sender: {reason}")]
    Sender {
        /// Why.
        reason: String,
    },
    /// The addressee: unknown certificate, or another facility.
    #[error("the addressee: {reason}")]
    Addressee {
        /// Why.
        reason: String,
    },
    /// Too old or from the future.
    #[error("the bundle was made {when}: {reason}")]
    Stale {
        /// When, in words.
        when: String,
        /// Why that is refused.
        reason: &'static str,
    },
    /// Already applied.
    #[error(
        "this bundle (from {from}) was already applied here at {at_ms} (Unix ms): a bundle is applied once"
    )]
    Replayed {
        /// Its sender.
        from: FacilityPath,
        /// When it was applied.
        at_ms: u64,
    },
    /// It carries a record outside what the sender or this node may hold: a sender that
    /// breaks the scope rules is not trusted with the rest (a live session closes).
    #[error("record {id} refused: {reason}; nothing of the bundle was stored")]
    Refused {
        /// The record.
        id: String,
        /// Why.
        reason: String,
    },
    /// The store has no signing key.
    #[error(
        "this node's key is not loaded: give the node's config (--config) to make, open or apply bundles"
    )]
    NoKey,
    /// A record too big for one part.
    #[error(
        "record {id} alone is {bytes} bytes, more than a part of --max-bytes holds besides its header and summary ({max} bytes)"
    )]
    TooBig {
        /// The record.
        id: RecordId,
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Encoding or encryption failed.
    #[error("writing the bundle: {0}")]
    Encode(String),
    /// Reading the store.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing the store.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// What `create` made.
#[derive(Debug)]
pub struct Created {
    /// The bundle files, in part order.
    pub files: Vec<Vec<u8>>,
    /// Records carried.
    pub records: usize,
    /// Their stored size (what a session would move before compression).
    pub stored_bytes: u64,
    /// The summary's encoded size.
    pub summary_bytes: usize,
    /// How the records were chosen.
    pub basis: Basis,
}

/// How a bundle's records were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Basis {
    /// From the peer's summary, exactly what it lacked.
    Exact,
    /// From the peer's summary, the ranges that differ (a superset).
    Ranges,
    /// Everything shared (nothing known of the peer).
    Everything,
}

impl Basis {
    /// In words: exact, ranges, since-sync, everything.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Exact => "exact",
            Basis::Ranges => "ranges",
            Basis::Everything => "everything",
        }
    }
}

/// What `apply` did.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    /// The sender.
    pub from: FacilityPath,
    /// The bundle's id (hex).
    pub id: String,
    /// Which part of how many.
    pub part: (u16, u16),
    /// Records carried.
    pub records: usize,
    /// Stored or changed here.
    pub changed: usize,
    /// Already held as sent.
    pub unchanged: usize,
    /// Let go here after they moved away (not stored).
    pub moved_away: usize,
    /// Refused by the store's judgement, each with why (the rest were stored).
    pub refused: Vec<RefusedRecord>,
    /// Whether the district revocation list it carried was newer and is now held.
    pub revocations_taken: bool,
    /// The bundle's id, raw, for an answer.
    #[serde(skip)]
    pub raw_id: [u8; 16],
}

/// A record of a bundle the store refused.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RefusedRecord {
    /// The record.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// What a bundle holds, as `bundle show` tells it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Shown {
    /// Its id (hex).
    pub id: String,
    /// The sender, checked against the district CA.
    pub from: FacilityPath,
    /// The addressee.
    pub to: String,
    /// When it was made (Unix ms).
    pub created_ms: u64,
    /// Which part of how many.
    pub part: (u16, u16),
    /// The bundle it answers (hex), if any.
    pub answers: Option<String>,
    /// Records, with their kind and label.
    pub records: Vec<ShownRecord>,
    /// Items the sender's summary covers.
    pub summary_items: u64,
    /// When it was applied here, if it was.
    pub applied_ms: Option<u64>,
    /// The file's size.
    pub bytes: usize,
}

/// One record in a bundle.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShownRecord {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// The facility it belongs to.
    pub facility: String,
    /// Held here already in this version, or newer.
    pub held: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signer(store: &Store) -> Result<&Arc<Signer>, BundleError> {
    store.signer().ok_or(BundleError::NoKey)
}

/// The addressee's certificate: the one given (PEM or DER), checked against the district
/// CA; else the newest known here.
fn addressee_cert(
    store: &Store,
    peer: &FacilityPath,
    given: Option<&[u8]>,
    now_ms: u64,
) -> Result<Certified, BundleError> {
    let authority = store.authority().ok_or(BundleError::NoKey)?;
    let cert = match given {
        Some(bytes) => {
            let der = match x509_parser::pem::parse_x509_pem(bytes) {
                Ok((_, pem)) => pem.contents,
                Err(_) => bytes.to_vec(),
            };
            authority.certify(&der).map_err(|e| BundleError::Addressee {
                reason: format!("the certificate given: {e}"),
            })?
        }
        None => store
            .certificate_of(peer)
            .or_else(|| {
                // The one its last bundle came with (kept with the exchange's state).
                let state = store.bundle_state(peer).ok()??;
                authority.certify(&state.cert?).ok()
            })
            .ok_or_else(|| BundleError::Addressee {
                reason: format!(
                    "no certificate of {peer} is known here (it never synced or sent a bundle here): give its node.crt with --peer-cert"
                ),
            })?,
    };
    if cert.facility != *peer {
        return Err(BundleError::Addressee {
            reason: format!("the certificate given is {}'s, not {peer}'s", cert.facility),
        });
    }
    if store.revocations().is_some_and(|r| r.revokes(&cert)) {
        return Err(BundleError::Addressee {
            reason: format!("{peer}'s certificate is revoked"),
        });
    }
    if (now_ms / 1000) as i64 > cert.not_after {
        return Err(BundleError::Addressee {
            reason: format!(
                "the certificate of {peer} known here has expired: give its renewed node.crt with --peer-cert"
            ),
        });
    }
    Ok(cert)
}

/// Which shared records `peer` lacks, as far as this node knows.
fn lacking(
    store: &Store,
    peer: &FacilityPath,
    items: &[simpul_store::SyncItem],
) -> Result<(Vec<RecordId>, Basis), BundleError> {
    let state = store.bundle_state(peer)?;
    if let Some((bytes, _)) = state.and_then(|s| s.summary)
        && let Ok(summary) = postcard::from_bytes::<Summary>(&bytes)
    {
        let told = summary.lacking(items);
        let basis = if told.exact {
            Basis::Exact
        } else {
            Basis::Ranges
        };
        return Ok((told.records, basis));
    }
    // No summary: everything (a live session's content-time mark orders its work but
    // is no proof of what the peer holds: a record that arrived late with an old time
    // would be left out).
    Ok((items.iter().map(|i| i.id).collect(), Basis::Everything))
}

/// How many shared records `peer` lacks as far as this node knows (for `status`).
pub fn pending(store: &Store, peer: &FacilityPath) -> Result<(u64, Basis), BundleError> {
    let (ids, basis) = lacking(store, peer, &store.sync_items(peer)?)?;
    Ok((ids.len() as u64, basis))
}

/// One file's records, with the certificates their seals need, and their size.
#[derive(Default)]
struct Part {
    records: Vec<Carried>,
    certs: BTreeMap<KeyId, Arc<[u8]>>,
    size: usize,
}

/// Makes the bundle for `peer`: every shared record it lacks as far as this node knows,
/// and this node's summary; split into parts of at most `max_bytes` when given.
/// `answers` names the bundle this one answers.
pub fn create(
    store: &Store,
    peer: &FacilityPath,
    peer_cert: Option<&[u8]>,
    max_bytes: Option<usize>,
    answers: Option<[u8; 16]>,
    now_ms: u64,
) -> Result<Created, BundleError> {
    let signer = signer(store)?;
    let here = store.node().path.clone();
    if *peer == here {
        return Err(BundleError::Addressee {
            reason: "a bundle for this node itself".into(),
        });
    }
    let to = addressee_cert(store, peer, peer_cert, now_ms)?;
    let items = store.sync_items(peer)?;
    let summary = Summary::of(&items);
    let summary_bytes = postcard::to_allocvec(&summary)
        .map_err(|e| BundleError::Encode(e.to_string()))?
        .len();
    let (ids, basis) = lacking(store, peer, &items)?;
    let budget = max_bytes.map(|m| m.max(MIN_PART_BYTES) - PART_OVERHEAD);
    let mut parts = vec![Part::default()];
    let mut stored_bytes = 0u64;
    for id in &ids {
        let Some(sealed) = store.outgoing(*id)? else {
            continue;
        };
        // Its bytes, its seals, and the certificates they need (counted in full: a
        // part may already hold some).
        let size = sealed.bytes.len()
            + sealed
                .seals
                .iter()
                .map(|s| 64 + 32 * s.heads.len() + s.signature.len())
                .sum::<usize>()
            + sealed
                .certs
                .iter()
                .map(|(_, der)| der.len() + 16)
                .sum::<usize>();
        stored_bytes += sealed.bytes.len() as u64;
        if let Some(budget) = budget {
            if size > budget {
                return Err(BundleError::TooBig {
                    id: *id,
                    bytes: size,
                    max: budget,
                });
            }
            if parts.last().is_some_and(|p| p.size + size > budget) {
                if parts.len() >= usize::from(u16::MAX) {
                    return Err(BundleError::Encode(format!(
                        "more than {} parts: give a larger --max-bytes",
                        u16::MAX
                    )));
                }
                parts.push(Part::default());
            }
        }
        let part = parts.last_mut().expect("a part");
        part.size += size;
        for (key, der) in sealed.certs {
            part.certs.insert(key, der);
        }
        part.records.push(Carried {
            bytes: sealed.bytes,
            seals: sealed.seals,
        });
    }
    let mut rng = rand::rng();
    let set: [u8; 16] = rng.random();
    let count = parts.len() as u16;
    let mut files = Vec::with_capacity(parts.len());
    let mut records = 0;
    for (
        n,
        Part {
            records: carried,
            certs,
            ..
        },
    ) in parts.into_iter().enumerate()
    {
        records += carried.len();
        let header = Header {
            id: rng.random(),
            set,
            part: n as u16 + 1,
            parts: count,
            from: here.to_string(),
            from_cert: signer.certified().der.to_vec(),
            to: peer.to_string(),
            to_key: to.key,
            created_ms: now_ms,
            answers,
            records: carried.len() as u32,
            body_sha256: [0; 32],
        };
        let body = Body {
            records: carried,
            certs: certs
                .into_iter()
                .map(|(k, der)| (k, serde_bytes::ByteBuf::from(der.to_vec())))
                .collect(),
            summary: summary.clone(),
            revocations: store
                .revocations()
                .map(|r| serde_bytes::ByteBuf::from(r.der.to_vec())),
        };
        files.push(format::seal(header, &body, signer, &to)?);
    }
    store.note_bundle_created(peer, now_ms)?;
    Ok(Created {
        files,
        records,
        stored_bytes,
        summary_bytes,
        basis,
    })
}

/// A bundle opened and checked: the sender's certificate is the district CA's, not
/// revoked and valid when it was made; the signature holds; it is for this facility and
/// key; it is neither too old nor from the future.
struct Checked {
    header: Header,
    sender: Certified,
    body: Body,
    body_bytes: usize,
}

fn check(store: &Store, file: &[u8], now_ms: u64) -> Result<Checked, BundleError> {
    let signer = signer(store)?;
    let opened = format::open(file, signer)?;
    let header = opened.header.clone();
    let authority = store.authority().ok_or(BundleError::NoKey)?;
    let sender = authority
        .certify(&header.from_cert)
        .map_err(|e| BundleError::Sender {
            reason: format!("its certificate is not one of this district's: {e}"),
        })?;
    opened.verify(&sender)?;
    if sender.facility.as_str() != header.from {
        return Err(BundleError::Sender {
            reason: format!(
                "it says it is from {} but its certificate is {}'s",
                header.from, sender.facility
            ),
        });
    }
    if store.revocations().is_some_and(|r| r.revokes(&sender)) {
        return Err(BundleError::Sender {
            reason: format!("{}'s key {} is revoked", sender.facility, sender.key),
        });
    }
    // Expired now, as a live session would refuse it (by this node's clock, which a
    // sender cannot backdate).
    if (now_ms / 1000) as i64 > sender.not_after {
        return Err(BundleError::Sender {
            reason: format!(
                "{}'s certificate has expired: it must be renewed (simpul ca renew) before its bundles are taken",
                sender.facility
            ),
        });
    }
    let here = &store.node().path;
    // The signed addressee, not only the key the file was encrypted to: a bundle its
    // addressee re-encrypted to another node still says whom it was for.
    if header.to_key != signer.key() {
        return Err(BundleError::Addressee {
            reason: format!(
                "it was signed for key {}, this node's key is {}",
                header.to_key,
                signer.key()
            ),
        });
    }
    if header.to != here.as_str() {
        return Err(BundleError::Addressee {
            reason: format!("it is for {}, this node is {here}", header.to),
        });
    }
    if header.created_ms > now_ms + MAX_AHEAD_MS {
        return Err(BundleError::Stale {
            when: format!(
                "{} s after this node's clock",
                (header.created_ms - now_ms) / 1000
            ),
            reason: "a bundle from the future (is a clock wrong?)",
        });
    }
    if header.created_ms + MAX_AGE_MS < now_ms {
        return Err(BundleError::Stale {
            when: format!("{} days ago", (now_ms - header.created_ms) / 86_400_000),
            reason: "older than 400 days by this node's clock (if the sender's clock is wrong, set it and make a new bundle)",
        });
    }
    let body = opened.body()?;
    if body.records.len() != header.records as usize {
        return Err(BundleError::Malformed(format!(
            "the header counts {} records, the body holds {}",
            header.records,
            body.records.len()
        )));
    }
    Ok(Checked {
        header,
        sender,
        body,
        body_bytes: opened.body_bytes(),
    })
}

/// Applies a bundle: checks it ([`check`]), refuses one applied before, then offers each
/// record to the store exactly as a live session with the sender would (the envelope's
/// scope first, then the store's judgement of the merged record). Keeps the sender's
/// summary, for the answer and the next bundle.
pub fn apply(
    store: &Store,
    file: &[u8],
    today: Date,
    now_ms: u64,
) -> Result<(Applied, Vec<simpul_store::WriteOutcome>), BundleError> {
    let checked = check(store, file, now_ms)?;
    let Checked {
        header,
        sender,
        body,
        ..
    } = checked;
    if let Some(at_ms) = store.bundle_applied(&sender.facility, &header.id)? {
        return Err(BundleError::Replayed {
            from: sender.facility,
            at_ms,
        });
    }
    let here = store.node().path.clone();
    // Every record is read and its scope checked before any is stored.
    let mut docs = Vec::with_capacity(body.records.len());
    for carried in body.records {
        let doc = simpul_sync::load::load_record(&carried.bytes)
            .map_err(|e| BundleError::Malformed(format!("a record does not load: {e}")))?;
        let envelope = Record::envelope(&doc).map_err(|e| BundleError::Malformed(e.to_string()))?;
        simpul_sync::check_incoming(&envelope, &here, &sender.facility).map_err(|e| {
            BundleError::Refused {
                id: envelope.id.to_string(),
                reason: e.to_string(),
            }
        })?;
        docs.push((envelope.id, doc, carried));
    }
    // The district's list it carries, if newer than the one held (checked against the
    // CA), is taken before any record is judged by the store: a key revoked there is revoked here.
    let mut revocations_taken = false;
    if let Some(der) = &body.revocations {
        match store.take_revocations(der) {
            Ok((_, taken)) => revocations_taken = taken,
            Err(e) if e.is_store_failure() => return Err(BundleError::Write(e)),
            Err(e) => {
                return Err(BundleError::Malformed(format!(
                    "the revocation list it carries: {e}"
                )));
            }
        }
    }
    let certs: Vec<(KeyId, Arc<[u8]>)> = body
        .certs
        .iter()
        .map(|(k, der)| (*k, Arc::from(der.as_slice())))
        .chain(std::iter::once((sender.key, sender.der.clone())))
        .collect();
    store.remember_certificates(&certs)?;
    let mut applied = Applied {
        from: sender.facility.clone(),
        id: hex(&header.id),
        part: (header.part, header.parts),
        records: docs.len(),
        changed: 0,
        unchanged: 0,
        moved_away: 0,
        refused: Vec::new(),
        revocations_taken,
        raw_id: header.id,
    };
    enum Waiting {
        Done(Box<simpul_store::WriteOutcome>),
        Commit(oneshot::Receiver<Result<simpul_store::WriteOutcome, WriteError>>),
    }
    // Queued together, so that the writer commits them in batches (one durable commit
    // per record would cost a disk flush each); waited for in order. Each record is
    // judged on its own, as in a live session: one refused (a key revoked here and not
    // yet at the sender, say) is reported, and the rest are stored.
    let mut outcomes = Vec::new();
    let mut queued = Vec::with_capacity(docs.len());
    let refuse = |applied: &mut Applied, id: RecordId, e: WriteError| {
        if e.is_store_failure() {
            return Err(BundleError::Write(e));
        }
        applied.refused.push(RefusedRecord {
            id: id.to_string(),
            reason: e.to_string(),
        });
        Ok(())
    };
    for (id, doc, carried) in docs {
        let from = PeerData {
            peer: sender.facility.clone(),
            seals: carried.seals,
            certs: certs.clone(),
        };
        match store.offer_queued(id, doc, Some(carried.bytes), from, today, now_ms) {
            Ok(Offer::Done(Offered::MovedAway(_))) => applied.moved_away += 1,
            Ok(Offer::Done(Offered::Stored(outcome))) => {
                queued.push((id, Waiting::Done(outcome)));
            }
            Ok(Offer::Queued(commit)) => queued.push((id, Waiting::Commit(commit))),
            Err(e) => refuse(&mut applied, id, e)?,
        }
    }
    for (id, waiting) in queued {
        let result = match waiting {
            Waiting::Done(outcome) => Ok(*outcome),
            Waiting::Commit(commit) => commit.recv().unwrap_or(Err(WriteError::Closed)),
        };
        match result {
            Ok(outcome) if outcome.changed => {
                applied.changed += 1;
                outcomes.push(outcome);
            }
            Ok(_) => applied.unchanged += 1,
            Err(e) => refuse(&mut applied, id, e)?,
        }
    }
    let summary =
        postcard::to_allocvec(&body.summary).map_err(|e| BundleError::Encode(e.to_string()))?;
    store.note_bundle_applied(
        &sender.facility,
        &header.id,
        now_ms,
        summary,
        header.created_ms,
        &sender.der,
    )?;
    Ok((applied, outcomes))
}

/// What a bundle holds, checked as `apply` checks it, without storing anything.
pub fn show(store: &Store, file: &[u8], now_ms: u64) -> Result<Shown, BundleError> {
    let checked = check(store, file, now_ms)?;
    let mut records = Vec::with_capacity(checked.body.records.len());
    for carried in &checked.body.records {
        let doc = simpul_sync::load::load_record(&carried.bytes)
            .map_err(|e| BundleError::Malformed(format!("a record does not load: {e}")))?;
        let envelope = Record::envelope(&doc).map_err(|e| BundleError::Malformed(e.to_string()))?;
        let held = store
            .meta(envelope.id)?
            .is_some_and(|m| m.heads_digest == simpul_model::heads_digest(&doc.get_heads()));
        records.push(ShownRecord {
            id: envelope.id.to_string(),
            kind: kind_name(envelope.kind),
            facility: envelope
                .scope
                .paths
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
            held,
        });
    }
    Ok(Shown {
        id: hex(&checked.header.id),
        applied_ms: store.bundle_applied(&checked.sender.facility, &checked.header.id)?,
        from: checked.sender.facility,
        to: checked.header.to,
        created_ms: checked.header.created_ms,
        part: (checked.header.part, checked.header.parts),
        answers: checked.header.answers.map(|a| hex(&a)),
        records,
        summary_items: checked.body.summary.items,
        bytes: file.len().max(checked.body_bytes),
    })
}

fn kind_name(kind: RecordKind) -> String {
    kind.to_string()
}
