//! Seals, certificates, revocations and quarantine in the store: what travels with a
//! record to a peer, and what this node keeps to judge what peers send.

use std::collections::HashSet;
use std::sync::Arc;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use simpul_model::RecordId;
use simpul_model::automerge::Automerge;
use simpul_trust::{KeyBook, KeyId, Quarantined, Revocations, Seal, Sealed};

use crate::error::{OpenError, ReadError, WriteError};
use crate::meta::RecordMeta;
use crate::read::{load_in, read_meta, stored_bytes};
use crate::store::{Store, StoreTrust};
use crate::tables::{CERTS, CHANGES, META, PENDING_SEALS, QUARANTINE, SNAPSHOTS, meta_keys};
use crate::writer::{Op, SealsTable};

/// Flags of a [`PENDING_SEALS`] row.
pub(crate) mod pending {
    /// This node wrote the record without its key: seal its changes.
    pub(crate) const AUTHOR: u8 = 1;
    /// History from before seals existed: endorse it (if this node may move the record).
    pub(crate) const ENDORSE: u8 = 2;
}

/// Most quarantined changes kept (one row each, a few hundred bytes): a node flooding
/// equivocations fills this and no more.
pub const MAX_QUARANTINE: u64 = 10_000;

/// A change set aside as equivocating, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    /// The actor of both changes (as text where it is text).
    pub actor: String,
    /// Their sequence number.
    pub seq: u64,
    /// The change this node holds (hex).
    pub kept: String,
    /// The change it set aside (hex).
    pub refused: String,
    /// Changes set aside with it (built on it).
    pub set_aside: u32,
    /// When (Unix ms).
    pub at_ms: u64,
    /// The peer it came from.
    pub from: String,
}

impl QuarantineEntry {
    pub(crate) fn new(
        q: &Quarantined,
        at_ms: u64,
        from: Option<&simpul_model::FacilityPath>,
    ) -> Self {
        Self {
            actor: String::from_utf8_lossy(q.actor.to_bytes()).into_owned(),
            seq: q.seq,
            kept: q.kept.to_string(),
            refused: q.refused.to_string(),
            set_aside: q.set_aside.len() as u32,
            at_ms,
            from: from.map(ToString::to_string).unwrap_or_default(),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }
}

/// The key book of a store: the certificates it keeps, each checked again against the
/// CA (one that no longer checks is left out), and its revocation list.
pub(crate) fn load_keybook(
    txn: &redb::WriteTransaction,
    trust: &StoreTrust,
) -> Result<KeyBook, OpenError> {
    let mut book = KeyBook::new(trust.authority.clone());
    let certs = txn.open_table(CERTS)?;
    for row in certs.iter()? {
        let (_, der) = row?;
        if let Ok(cert) = trust.authority.certify(der.value()) {
            book.insert(cert);
        }
    }
    if let Some(signer) = &trust.signer {
        book.insert(signer.certified().clone());
    }
    let meta = txn.open_table(META)?;
    if let Some(der) = meta.get(meta_keys::REVOCATIONS)?
        && let Ok(list) = trust.authority.revocations(der.value())
    {
        book.set_revocations(list);
    }
    Ok(book)
}

/// The CA the node last ran with, if any.
pub(crate) fn stored_authority(
    txn: &redb::WriteTransaction,
) -> Result<Option<Arc<simpul_trust::Authority>>, OpenError> {
    let meta = txn.open_table(META)?;
    let Some(der) = meta.get(meta_keys::CA_CERT)? else {
        return Ok(None);
    };
    Ok(simpul_trust::Authority::from_der(der.value().to_vec())
        .ok()
        .map(Arc::new))
}

/// The keys whose certificates the certs table holds.
pub(crate) fn persisted_keys(db: &Database, _book: &KeyBook) -> Result<HashSet<KeyId>, OpenError> {
    let txn = db.begin_read().map_err(redb::Error::from)?;
    let certs = txn.open_table(CERTS).map_err(redb::Error::from)?;
    let mut keys = HashSet::new();
    for row in certs.iter().map_err(redb::Error::from)? {
        let (key, _) = row.map_err(redb::Error::from)?;
        keys.insert(KeyId(*key.value()));
    }
    Ok(keys)
}

impl Store {
    /// The certificate (DER) of each seal's key that this node knows.
    pub fn certs_for(&self, seals: &[Seal]) -> Vec<(KeyId, Arc<[u8]>)> {
        let Some(keys) = &self.inner().keys else {
            return Vec::new();
        };
        let Ok(book) = keys.read() else {
            return Vec::new();
        };
        let mut out: Vec<(KeyId, Arc<[u8]>)> = Vec::new();
        for seal in seals {
            if let Some(cert) = book.get(&seal.key)
                && !out.iter().any(|(k, _)| *k == seal.key)
            {
                out.push((seal.key, cert.der.clone()));
            }
        }
        out
    }

    /// A record as it goes to a peer: its stored bytes (snapshot then change chunks,
    /// loadable by any Automerge implementation as one document), its seals and their
    /// keys' certificates.
    pub fn outgoing(&self, id: RecordId) -> Result<Option<Sealed>, ReadError> {
        let txn = self.db().begin_read()?;
        let Some(meta) = read_meta(&txn, id)? else {
            return Ok(None);
        };
        let bytes = stored_bytes(
            &txn.open_table(SNAPSHOTS)?,
            &txn.open_table(CHANGES)?,
            id,
            &meta,
        )?;
        let seals = seals_of(&txn, id)?;
        let certs = self.certs_for(&seals);
        Ok(Some(Sealed {
            bytes,
            seals,
            certs,
        }))
    }

    /// A record's document with its seals, loaded and checked against its stored digest.
    pub fn load_sealed(
        &self,
        id: RecordId,
    ) -> Result<Option<(RecordMeta, Automerge, Vec<Seal>)>, ReadError> {
        let txn = self.db().begin_read()?;
        let Some((meta, doc)) = load_in(&txn, id)? else {
            return Ok(None);
        };
        let seals = seals_of(&txn, id)?;
        Ok(Some((meta, doc, seals)))
    }

    /// A record's seals.
    pub fn seals(&self, id: RecordId) -> Result<Vec<Seal>, ReadError> {
        seals_of(&self.db().begin_read()?, id)
    }

    /// The revocation list this node holds, if any.
    pub fn revocations(&self) -> Option<Revocations> {
        let keys = self.inner().keys.as_ref()?;
        keys.read().ok()?.revocations().cloned()
    }

    /// Takes in a revocation list (DER): checked against the district CA, kept if newer
    /// than the one held (a larger CRL number). Returns the list now held and whether it
    /// is the new one.
    pub fn take_revocations(&self, der: &[u8]) -> Result<(Revocations, bool), WriteError> {
        let keys = self.inner().keys.as_ref().ok_or(WriteError::NoAuthority)?;
        // One list at a time, check to commit: two sessions bringing lists 5 and 6 at
        // once must leave 6 held, in memory and on disk.
        let mut book = keys.write().map_err(|_| WriteError::Closed)?;
        let list = book
            .authority()
            .revocations(der)
            .map_err(WriteError::Untrusted)?;
        if let Some(held) = book.revocations()
            && held.number >= list.number
        {
            return Ok((held.clone(), false));
        }
        let mut txn = self.db().begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(redb::Error::from)?;
        txn.open_table(META)?.insert(meta_keys::REVOCATIONS, der)?;
        txn.commit()?;
        book.set_revocations(list.clone());
        Ok((list, true))
    }

    /// Gives the node a new actor instance, in force from the next open. A store restored
    /// from a backup takes one: its old self may have written changes after the backup
    /// was taken, and writing again under the same actor would reuse their sequence
    /// numbers (equivocation).
    pub fn renew_instance(&self, instance: [u8; 4]) -> Result<(), WriteError> {
        let mut txn = self.db().begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(redb::Error::from)?;
        txn.open_table(META)?
            .insert(meta_keys::ACTOR_INSTANCE, instance.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// True when record `id` waits for this node's seal.
    pub(crate) fn is_pending(&self, txn: &redb::ReadTransaction, id: RecordId) -> bool {
        txn.open_table(PENDING_SEALS)
            .ok()
            .and_then(|t| t.get(id.as_bytes()).ok().flatten())
            .is_some()
    }

    /// Records waiting for this node's seal (written without its key, or held from
    /// before seals existed).
    pub fn pending_seals(&self) -> Result<u64, ReadError> {
        Ok(self.db().begin_read()?.open_table(PENDING_SEALS)?.len()?)
    }

    /// Seals what this node wrote without its key and endorses history from before
    /// seals, for every record waiting (see [`Store::pending_seals`]). Needs the node's
    /// key. Returns the records sealed.
    pub fn seal_pending(&self, now_ms: u64) -> Result<u64, WriteError> {
        let ids: Vec<RecordId> = {
            let txn = self.db().begin_read()?;
            let table = txn.open_table(PENDING_SEALS)?;
            let mut ids = Vec::new();
            for row in table.iter()? {
                ids.push(RecordId::from_bytes(*row?.0.value()));
            }
            ids
        };
        let mut sealed = 0;
        for chunk in ids.chunks(crate::MAX_BATCH) {
            let waits: Vec<_> = chunk
                .iter()
                .map(|&id| self.queue_op(id, now_ms, Op::Seal))
                .collect();
            for wait in waits {
                match wait.recv().map_err(|_| WriteError::Closed)? {
                    Ok(_) | Err(WriteError::NotFound(_)) => sealed += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(sealed)
    }

    /// Changes set aside as equivocating, newest first, at most `limit`; and how many
    /// there are.
    pub fn quarantine(
        &self,
        limit: usize,
    ) -> Result<(Vec<(RecordId, QuarantineEntry)>, u64), ReadError> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(QUARANTINE)?;
        let total = table.len()?;
        let mut out = Vec::new();
        for row in table.iter()? {
            let (key, value) = row?;
            let (id, _) = key.value();
            let entry: QuarantineEntry =
                postcard::from_bytes(value.value()).map_err(|e| ReadError::CorruptTable {
                    table: "quarantine",
                    reason: e.to_string(),
                })?;
            out.push((RecordId::from_bytes(*id), entry));
        }
        out.sort_by_key(|(_, e)| std::cmp::Reverse(e.at_ms));
        out.truncate(limit);
        Ok((out, total))
    }
}

fn seals_of(txn: &redb::ReadTransaction, id: RecordId) -> Result<Vec<Seal>, ReadError> {
    txn.seals_row(id).map_err(|e| match e {
        WriteError::Read(r) => *r,
        other => ReadError::Corrupt {
            id,
            reason: other.to_string(),
        },
    })
}
