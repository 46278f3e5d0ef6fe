//! Actor ids bound to keys.
//!
//! A node writes with the Automerge actor `<facility path>#<key id>.<instance>`: the
//! facility, the key that seals its changes (16 hex digits, [`KeyId`]) and 8 hex digits
//! that tell installations apart (a node restored from a backup takes new ones, so it
//! never reuses a sequence number). An author seal covers only the changes of actors that
//! name its own key and facility: another key of the same facility cannot write as it.
//!
//! Actors of the form `<facility path>#<8 hex digits>` are not bound to a key
//! ([`ActorKind::Unbound`]): history from before keys bound actors, and writes a node
//! made without its key (a CLI command on a stopped node). Only an endorsement covers
//! them; once a record has key-bound history, only one by the actor's own facility.

use simpul_model::FacilityPath;
use simpul_model::automerge::ActorId;

use crate::key::KeyId;

/// The actor a node with `key` at `facility` writes with.
pub fn signing_actor(facility: &FacilityPath, key: KeyId, instance: [u8; 4]) -> ActorId {
    ActorId::from(format!("{facility}#{key}.{}", hex::encode(instance)).into_bytes())
}

/// What an actor id says about who wrote with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorKind {
    /// A node at `facility` holding `key`.
    Keyed {
        /// The facility.
        facility: FacilityPath,
        /// The key.
        key: KeyId,
    },
    /// A node at `facility`, before its writes were bound to a key.
    Unbound {
        /// The facility.
        facility: FacilityPath,
    },
    /// Not a simpul node's actor.
    Foreign,
}

impl ActorKind {
    /// The facility the actor names, if any.
    pub fn facility(&self) -> Option<&FacilityPath> {
        match self {
            ActorKind::Keyed { facility, .. } | ActorKind::Unbound { facility } => Some(facility),
            ActorKind::Foreign => None,
        }
    }
}

/// Reads an actor id.
pub fn classify(actor: &ActorId) -> ActorKind {
    let Ok(text) = std::str::from_utf8(actor.to_bytes()) else {
        return ActorKind::Foreign;
    };
    let Some((path, tail)) = text.rsplit_once('#') else {
        return ActorKind::Foreign;
    };
    let Ok(facility) = FacilityPath::parse(path) else {
        return ActorKind::Foreign;
    };
    let is_hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match tail.split_once('.') {
        Some((key, instance)) if is_hex(instance, 8) => match KeyId::parse_hex(key) {
            Some(key) => ActorKind::Keyed { facility, key },
            None => ActorKind::Foreign,
        },
        None if is_hex(tail, 8) => ActorKind::Unbound { facility },
        _ => ActorKind::Foreign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

    #[test]
    fn actors_name_their_facility_and_key() {
        let path = FacilityPath::parse(PY).expect("path");
        let key = KeyId([1, 2, 3, 4, 5, 6, 7, 8]);
        let actor = signing_actor(&path, key, [0xaa, 0, 0, 1]);
        assert_eq!(
            std::str::from_utf8(actor.to_bytes()).expect("utf-8"),
            format!("{PY}#0102030405060708.aa000001")
        );
        assert_eq!(
            classify(&actor),
            ActorKind::Keyed {
                facility: path.clone(),
                key
            }
        );
        let unbound = simpul_model::node_actor(&path, [1, 2, 3, 4]);
        assert_eq!(classify(&unbound), ActorKind::Unbound { facility: path });
        for foreign in [
            &b"\x01\x02"[..],
            b"3273#xyz",
            b"nowhere#01020304",
            b"3273#0102030405060708.zz000001",
            b"3273#01020304050607.aa000001",
        ] {
            assert_eq!(
                classify(&ActorId::from(foreign)),
                ActorKind::Foreign,
                "{foreign:?}"
            );
        }
    }
}
