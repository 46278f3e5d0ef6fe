//! Scope: which nodes hold a record.
//!
//! Every record names one or more facility paths and an audience. `up` records (patients,
//! activities, audit) are held by each named facility and all its ancestors; `down` records
//! (facility registry, target lists, revocations) by each named facility and all its
//! descendants.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::facility::FacilityPath;

crate::string_enum! {
    /// Which direction through the hierarchy a record travels.
    pub enum Audience {
        /// Held by the facility and its ancestors.
        Up => "up",
        /// Held by the facility and its descendants.
        Down => "down",
    }
}

/// The facilities a record belongs to and the direction it travels.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Scope {
    /// Up or down.
    pub audience: Audience,
    /// One or more facility paths (a family registered at two posyandu has two).
    pub paths: Vec<FacilityPath>,
}

/// The most paths one record may name.
pub const MAX_SCOPE_PATHS: usize = 8;

impl Scope {
    /// A record held by `path` and its ancestors.
    pub fn up(path: FacilityPath) -> Self {
        Self {
            audience: Audience::Up,
            paths: vec![path],
        }
    }

    /// A record held by `path` and its descendants.
    pub fn down(path: FacilityPath) -> Self {
        Self {
            audience: Audience::Down,
            paths: vec![path],
        }
    }

    /// True when the node at `node` should hold a record with this scope.
    pub fn held_by(&self, node: &FacilityPath) -> bool {
        self.paths.iter().any(|p| match self.audience {
            Audience::Up => node.is_ancestor_or_self(p),
            Audience::Down => p.is_ancestor_or_self(node),
        })
    }

    /// True when a node at `writer` may change a record with this scope: the record
    /// lies inside the writer's subtree (or, for `down` records, the writer is one of
    /// the issuing facilities or their ancestors).
    pub fn writable_by(&self, writer: &FacilityPath) -> bool {
        self.paths.iter().any(|p| writer.is_ancestor_or_self(p))
    }

    /// True when a node at `mover` may create a record with this scope or move a record
    /// to or from it: every path lies inside the mover's subtree. A posyandu can create
    /// its own records but not move them to a sibling; their pustu (or anyone above
    /// both) can. Asked of the scope before a move and of the scope after it.
    pub fn movable_by(&self, mover: &FacilityPath) -> bool {
        !self.paths.is_empty() && self.paths.iter().all(|p| mover.is_ancestor_or_self(p))
    }

    /// Checks the shape: at least one path, at most [`MAX_SCOPE_PATHS`], all in one district.
    pub fn check(&self) -> Result<(), String> {
        let Some(first) = self.paths.first() else {
            return Err("a scope needs at least one facility path".into());
        };
        if self.paths.len() > MAX_SCOPE_PATHS {
            return Err(format!("a scope holds at most {MAX_SCOPE_PATHS} paths"));
        }
        if let Some(other) = self.paths.iter().find(|p| p.district() != first.district()) {
            return Err(format!(
                "paths {first} and {other} are in different districts"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> FacilityPath {
        FacilityPath::parse(s).expect("path")
    }

    const PY: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

    #[test]
    fn up_records_travel_to_ancestors_only() {
        let scope = Scope::up(p(PY));
        assert!(scope.held_by(&p(PY)));
        assert!(scope.held_by(&p("3273/P3273010201/3273010201-PU1")));
        assert!(scope.held_by(&p("3273")));
        assert!(!scope.held_by(&p("3273/P3273010201/3273010201-PU1/3273010201-PY05")));
        assert!(!scope.held_by(&p("3273/P3273010202")));
    }

    #[test]
    fn down_records_travel_to_descendants_only() {
        let scope = Scope::down(p("3273/P3273010201"));
        assert!(scope.held_by(&p(PY)));
        assert!(scope.held_by(&p("3273/P3273010201")));
        assert!(!scope.held_by(&p("3273")));
        assert!(!scope.held_by(&p("3273/P3273010202")));
    }

    #[test]
    fn only_a_node_above_every_path_may_move_a_record() {
        let shared = Scope {
            audience: Audience::Up,
            paths: vec![p(PY), p("3273/P3273010201/3273010201-PU1/3273010201-PY05")],
        };
        // A posyandu of a family registered at two may write the record, not move it.
        assert!(shared.writable_by(&p(PY)));
        assert!(!shared.movable_by(&p(PY)));
        assert!(shared.movable_by(&p("3273/P3273010201/3273010201-PU1")));
        assert!(shared.movable_by(&p("3273")));
        assert!(Scope::up(p(PY)).movable_by(&p(PY)));
        assert!(!Scope::up(p(PY)).movable_by(&p("3273/P3273010202")));
    }

    #[test]
    fn shape_is_checked() {
        let mut scope = Scope::up(p(PY));
        assert!(scope.check().is_ok());
        scope.paths.push(p("3201"));
        assert!(scope.check().is_err());
        scope.paths.clear();
        assert!(scope.check().is_err());
    }
}
