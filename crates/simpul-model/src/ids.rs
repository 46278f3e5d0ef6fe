//! Record and visit identifiers.
//!
//! Identifiers are random, never derived from a NIK (NIKs get typed wrong and corrected).
//! The caller supplies the random bytes: this crate has no randomness of its own.

use std::fmt;
use std::str::FromStr;

/// Identifies one record (one Automerge document) across every node.
///
/// Sixteen bytes, written as 32 lowercase hex digits. A record created by a node that
/// holds a key has a **bound** id ([`RecordId::bound`]): the first four bytes of the
/// creator's key id, nine random bytes, and a three-byte mark. Only that key can create
/// the record, so a node that learns another's record id cannot create a record of its
/// own under it and get there first ("squatting" an id a receiver does not hold yet).
/// Other ids (random, from before keys, or from a store without one) are not bound.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId([u8; 16]);

impl RecordId {
    /// Wraps sixteen bytes (normally from a random source).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, as used for storage keys.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// An id bound to the key that creates the record: the first four bytes of its key
    /// id, then `unique` (random), then [`BOUND_MARK`].
    pub fn bound(key_prefix: [u8; 4], unique: [u8; 9]) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&key_prefix);
        bytes[4..13].copy_from_slice(&unique);
        bytes[13..].copy_from_slice(&BOUND_MARK);
        Self(bytes)
    }

    /// The key prefix of a bound id; `None` for an unbound one.
    pub fn bound_key(&self) -> Option<[u8; 4]> {
        (self.0[13..] == BOUND_MARK).then(|| {
            let mut prefix = [0u8; 4];
            prefix.copy_from_slice(&self.0[..4]);
            prefix
        })
    }

    /// This id bound to `key_prefix`, keeping its own bytes as the unique part (an id
    /// already bound is returned as it is).
    pub fn bind(self, key_prefix: [u8; 4]) -> Self {
        if self.bound_key().is_some() {
            return self;
        }
        let mut unique = [0u8; 9];
        unique.copy_from_slice(&self.0[..9]);
        Self::bound(key_prefix, unique)
    }

    /// The id every node derives from the same `digest` (its first 16 bytes), bound to
    /// `key_prefix` when given: for records found by what they are (a day's audit, a
    /// facility's registry entry), not by an index.
    pub fn derived(digest: &[u8], key_prefix: Option<[u8; 4]>) -> Self {
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        let id = Self::from_bytes(bytes);
        match key_prefix {
            Some(prefix) => id.bind(prefix),
            None => id,
        }
    }
}

/// The last three bytes of a bound record id. A random id ends in them once in 16.7
/// million; such an old record can then only be created by the key its first bytes name.
pub const BOUND_MARK: [u8; 3] = [0x5e, 0x1d, 0xb0];

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({self})")
    }
}

/// A string that is not a well-formed identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a record id (32 hex digits): {0:?}")]
pub struct BadId(pub String);

impl FromStr for RecordId {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 16];
        if s.len() != 32 || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(BadId(s.to_string()));
        }
        Ok(Self(bytes))
    }
}

impl serde::Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RecordId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl autosurgeon::Reconcile for RecordId {
    type Key<'a> = autosurgeon::reconcile::NoKey;
    fn reconcile<R: autosurgeon::Reconciler>(&self, mut r: R) -> Result<(), R::Error> {
        r.str(self.to_string())
    }
}

impl autosurgeon::Hydrate for RecordId {
    fn hydrate_string(s: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
        s.parse()
            .map_err(|e: BadId| autosurgeon::HydrateError::unexpected("record id", e.to_string()))
    }
}

/// Identifies one visit inside a patient record: the key of the visit in the record's
/// visit map, so concurrent visits from different facilities never collide.
///
/// Eight random bytes, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VisitId([u8; 8]);

impl VisitId {
    /// Wraps eight bytes (normally from a random source).
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(bytes)
    }
}

impl fmt::Display for VisitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for VisitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VisitId({self})")
    }
}

impl FromStr for VisitId {
    type Err = BadId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 8];
        if s.len() != 16 || hex::decode_to_slice(s, &mut bytes).is_err() {
            return Err(BadId(s.to_string()));
        }
        Ok(Self(bytes))
    }
}

impl serde::Serialize for VisitId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for VisitId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_id_round_trips_through_text() {
        let id = RecordId::from_bytes([0xab; 16]);
        assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
        assert!("xyz".parse::<RecordId>().is_err());
        assert!("ab".repeat(15).parse::<RecordId>().is_err());
    }
}
