//! Scope rules for two peers: what they exchange, and what a receiver refuses.

use simpul_model::automerge::{Automerge, ChangeHash};
use simpul_model::{Envelope, FacilityPath, Scope, actor_facility};

/// True when both nodes should hold a record with this scope: exactly what they exchange.
pub fn shared(scope: &Scope, local: &FacilityPath, peer: &FacilityPath) -> bool {
    scope.held_by(local) && scope.held_by(peer)
}

/// Why a record from a peer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeViolation {
    /// This node should not hold the record.
    #[error("record {id} is outside what this node ({local}) should hold")]
    NotForUs {
        /// The record.
        id: String,
        /// This node.
        local: FacilityPath,
    },
    /// The sender should not hold the record, so it cannot be sending it.
    #[error("record {id} is outside what the sender ({peer}) should hold")]
    NotTheSenders {
        /// The record.
        id: String,
        /// The sender.
        peer: FacilityPath,
    },
    /// The sender wrote a change to a record outside its own subtree.
    #[error("the sender ({peer}) changed record {id}, which is outside its subtree")]
    NotWritable {
        /// The record.
        id: String,
        /// The sender.
        peer: FacilityPath,
    },
}

/// Checks a record as it stands after applying what a peer sent: this node and the
/// sender should both hold it, and changes the sender authored itself (new since
/// `known_heads`) must be to a record inside the sender's subtree.
///
/// Changes relayed from other facilities are attributed by their actor id, which the
/// sender could forge; binding actors to certificates is future work (see DESIGN.md).
pub fn check_incoming(
    record: &Envelope,
    doc: &Automerge,
    known_heads: &[ChangeHash],
    local: &FacilityPath,
    peer: &FacilityPath,
) -> Result<(), ScopeViolation> {
    let id = record.id.to_string();
    if !record.scope.held_by(local) {
        return Err(ScopeViolation::NotForUs {
            id,
            local: local.clone(),
        });
    }
    if !record.scope.held_by(peer) {
        return Err(ScopeViolation::NotTheSenders {
            id,
            peer: peer.clone(),
        });
    }
    if !record.scope.writable_by(peer) {
        let authored_by_peer = doc
            .get_changes_meta(known_heads)
            .iter()
            .any(|c| actor_facility(&c.actor).as_ref() == Some(peer));
        if authored_by_peer {
            return Err(ScopeViolation::NotWritable {
                id,
                peer: peer.clone(),
            });
        }
    }
    Ok(())
}
