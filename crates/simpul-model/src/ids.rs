//! Record and visit identifiers.
//!
//! Identifiers are random, never derived from a NIK (NIKs get typed wrong and corrected).
//! The caller supplies the random bytes: this crate has no randomness of its own.

use std::fmt;
use std::str::FromStr;

/// Identifies one record (one Automerge document) across every node.
///
/// Sixteen random bytes, written as 32 lowercase hex digits.
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
}

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
