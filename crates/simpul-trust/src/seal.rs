//! Seals: a node key's signature over a record id and a set of heads.
//!
//! ```text
//! message = "simpul seal v1" 0x00 | kind (1 byte) | record id (16 bytes)
//!         | number of heads (1 byte) | heads sorted bytewise (32 bytes each)
//! ```
//!
//! A change's hash covers its dependencies, so a seal over a document's heads covers its
//! whole history: one signature per author per record version, however many changes.

use serde::{Deserialize, Serialize};
use simpul_model::RecordId;
use simpul_model::automerge::ChangeHash;

use crate::key::{KeyId, PublicKey};

/// Most seals one record carries; more is refused. Of one key and kind only the newest
/// is kept (a node's writes to a record are one line of history), so a record has one
/// per key that wrote it or vouched for it: a posyandu, its pustu and its puskesmas over
/// years of key renewals stay far below this.
pub const MAX_SEALS: usize = 64;

/// Most heads one seal names (a document has several only while edits are concurrent).
pub const MAX_SEAL_HEADS: usize = 16;

/// Bytes of a signature (Ed25519, and ECDSA P-256 in fixed r || s form).
pub const SIGNATURE_LEN: usize = 64;

const DOMAIN: &[u8] = b"simpul seal v1\0";

/// What a seal vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SealKind {
    /// The changes in the history of the heads written by the key's own actors.
    Author,
    /// The changes in the history of the heads written before actors were bound to keys
    /// (unbound actors), by a node that held them and may move the record.
    Endorsement,
}

impl SealKind {
    fn byte(self) -> u8 {
        match self {
            SealKind::Author => 0,
            SealKind::Endorsement => 1,
        }
    }
}

/// A signature by `key` over a record's `heads`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Seal {
    /// The signing key.
    pub key: KeyId,
    /// What it vouches for.
    pub kind: SealKind,
    /// The heads it covers (with their whole history), sorted.
    pub heads: Vec<[u8; 32]>,
    /// The signature over [`Seal::message`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl Seal {
    /// The bytes a seal signs.
    pub fn message(record: RecordId, kind: SealKind, heads: &[[u8; 32]]) -> Vec<u8> {
        let mut sorted = heads.to_vec();
        sorted.sort_unstable();
        let mut m = Vec::with_capacity(DOMAIN.len() + 18 + 32 * sorted.len());
        m.extend_from_slice(DOMAIN);
        m.push(kind.byte());
        m.extend_from_slice(record.as_bytes());
        m.push(sorted.len() as u8);
        for h in &sorted {
            m.extend_from_slice(h);
        }
        m
    }

    /// The heads as change hashes.
    pub fn change_hashes(&self) -> Vec<ChangeHash> {
        self.heads.iter().map(|h| ChangeHash(*h)).collect()
    }

    /// True when the signature is `key`'s over this seal's heads of `record`.
    pub fn verifies(&self, record: RecordId, key: &PublicKey) -> bool {
        self.signature.len() == SIGNATURE_LEN
            && !self.heads.is_empty()
            && self.heads.len() <= MAX_SEAL_HEADS
            && key.verify(
                &Seal::message(record, self.kind, &self.heads),
                &self.signature,
            )
    }

    /// What identifies a seal whatever its signature bytes (an ECDSA signature has more
    /// than one valid form): key, kind and heads.
    pub fn identity(&self) -> (KeyId, SealKind, Vec<[u8; 32]>) {
        let mut heads = self.heads.clone();
        heads.sort_unstable();
        (self.key, self.kind, heads)
    }
}

/// Certificates (DER) of seal keys, by key: what goes ahead of the seals that need them.
pub type KeyCerts = Vec<(KeyId, std::sync::Arc<[u8]>)>;

/// A record's bytes with the seals that vouch for them and the certificates of the seals'
/// keys: what goes to a peer (a whole record, changes, or the evidence of a move).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sealed {
    /// A saved document, or changes.
    pub bytes: Vec<u8>,
    /// The seals.
    pub seals: Vec<Seal>,
    /// The certificate (DER) of each seal's key, where known.
    pub certs: KeyCerts,
}

/// Encodes a record's seals (as stored, and as messages carry them).
pub fn encode_seals(seals: &[Seal]) -> Vec<u8> {
    if seals.is_empty() {
        return Vec::new();
    }
    postcard::to_stdvec(seals).unwrap_or_else(|e| unreachable!("seals always encode: {e}"))
}

/// Decodes [`encode_seals`] output, refusing more than [`MAX_SEALS`] seals, more than
/// [`MAX_SEAL_HEADS`] heads in one, or trailing bytes.
pub fn decode_seals(bytes: &[u8]) -> Result<Vec<Seal>, String> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let (seals, rest): (Vec<Seal>, _) =
        postcard::take_from_bytes(bytes).map_err(|e| format!("seals do not decode: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} bytes after the seals", rest.len()));
    }
    if seals.len() > MAX_SEALS {
        return Err(format!("{} seals; at most {MAX_SEALS}", seals.len()));
    }
    if let Some(s) = seals
        .iter()
        .find(|s| s.heads.is_empty() || s.heads.len() > MAX_SEAL_HEADS)
    {
        return Err(format!(
            "a seal by key {} names {} heads (1 to {MAX_SEAL_HEADS})",
            s.key,
            s.heads.len()
        ));
    }
    Ok(seals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(n: u8, heads: usize) -> Seal {
        Seal {
            key: KeyId([n; 8]),
            kind: SealKind::Author,
            heads: vec![[n; 32]; heads],
            signature: vec![n; SIGNATURE_LEN],
        }
    }

    #[test]
    fn seals_round_trip_and_bounds_are_kept() {
        let seals = vec![seal(1, 1), seal(2, 3)];
        assert_eq!(decode_seals(&encode_seals(&seals)), Ok(seals));
        assert_eq!(decode_seals(&[]), Ok(Vec::new()));
        let many: Vec<Seal> = (0..=MAX_SEALS as u8).map(|n| seal(n, 1)).collect();
        assert!(decode_seals(&encode_seals(&many)).is_err());
        assert!(decode_seals(&encode_seals(&[seal(1, MAX_SEAL_HEADS + 1)])).is_err());
        assert!(decode_seals(&encode_seals(&[seal(1, 0)])).is_err());
        let mut trailing = encode_seals(&[seal(1, 1)]);
        trailing.push(0);
        assert!(decode_seals(&trailing).is_err());
        assert!(decode_seals(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }

    #[test]
    fn the_message_binds_kind_record_and_heads_in_any_order() {
        let id = RecordId::from_bytes([7; 16]);
        let a = Seal::message(id, SealKind::Author, &[[1; 32], [2; 32]]);
        assert_eq!(a, Seal::message(id, SealKind::Author, &[[2; 32], [1; 32]]));
        assert_ne!(
            a,
            Seal::message(id, SealKind::Endorsement, &[[1; 32], [2; 32]])
        );
        assert_ne!(
            a,
            Seal::message(
                RecordId::from_bytes([8; 16]),
                SealKind::Author,
                &[[1; 32], [2; 32]]
            )
        );
        assert_ne!(a, Seal::message(id, SealKind::Author, &[[1; 32]]));
    }
}
