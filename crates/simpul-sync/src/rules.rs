//! Scope rules for two peers: what they exchange, and what a receiver refuses.

use simpul_model::{Envelope, FacilityPath, Scope};

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
}

/// A first look at a whole record a peer sent, from its envelope alone: this node and
/// the sender should both hold it. What decides is the store's judgement of the record
/// as merged with what it holds (`simpul_trust::admit`): who wrote each change, and
/// whether its author may make it.
pub fn check_incoming(
    record: &Envelope,
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
    Ok(())
}
