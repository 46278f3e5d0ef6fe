//! The invariants checked after the final heal (and, for durability, at every restart).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use simpul_model::automerge::ChangeHash;
use simpul_model::{RecordId, Scope};

use crate::storage::Storage;
use crate::world::Sim;

/// True when `store` holds record `id` with every change in `heads`.
pub(crate) fn holds(store: &Storage, id: RecordId, heads: &[ChangeHash]) -> bool {
    match store.load(id) {
        Some(doc) => heads
            .iter()
            .all(|h| doc.get_change_meta_by_hash(h).is_some()),
        None => false,
    }
}

/// A digest of what a store holds (ids and heads), to tell whether anything moved.
pub(crate) fn fingerprint(store: &Storage) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    for (id, s) in store.records() {
        id.hash(&mut h);
        let mut heads = s.heads.clone();
        heads.sort();
        heads.hash(&mut h);
    }
    h.finish()
}

/// After the final heal: every node holds exactly the records it should, at the same
/// heads as every other holder; no node holds a record outside its scope; every
/// acknowledged write is still there; every created record exists.
pub(crate) fn final_checks(sim: &mut Sim) {
    let mut found: Vec<String> = Vec::new();
    let mut scopes: BTreeMap<RecordId, Scope> = BTreeMap::new();
    for node in &sim.nodes {
        for (id, s) in node.store.records() {
            if !s.record.scope.held_by(&node.path) {
                found.push(format!(
                    "node {} stores record {id}, outside its scope",
                    node.path
                ));
            }
            scopes.entry(*id).or_insert_with(|| s.record.scope.clone());
        }
    }
    // Every change a node holds is signed by its author, checked against the district's
    // certificates: nothing forged, unsigned or re-signed got in anywhere.
    let mut book = simpul_trust::KeyBook::new(crate::keys::keys().district.authority.clone());
    for n in &crate::keys::keys().nodes {
        book.insert(n.certified.clone());
    }
    for node in &sim.nodes {
        for (id, s) in node.store.records() {
            let Some(doc) = node.store.load(*id) else {
                continue;
            };
            for problem in simpul_trust::unsealed(&book, *id, &doc, &s.seals) {
                found.push(format!("node {} holds {problem}", node.path));
            }
        }
    }
    // A record where an author equivocated stays split between the nodes that took one
    // change or the other (contained, reported, not resolved): it is left out of the
    // convergence check.
    let split: std::collections::BTreeSet<RecordId> = sim
        .nodes
        .iter()
        .flat_map(|n| n.store.quarantined().iter().copied())
        .collect();
    for (id, scope) in &scopes {
        if split.contains(id) {
            continue;
        }
        let mut versions: BTreeMap<Vec<ChangeHash>, Vec<String>> = BTreeMap::new();
        for (n, node) in sim.nodes.iter().enumerate() {
            // The Byzantine node's own copy is not held to convergence: it forges changes
            // under its own actor that its own store never saw (equivocating against
            // itself), so the honest nodes may rightly hold what it refuses. Every honest
            // holder must agree.
            if !scope.held_by(&node.path) || Some(n) == sim.byzantine {
                continue;
            }
            match node.store.records().get(id) {
                Some(s) => {
                    let mut heads = s.heads.clone();
                    heads.sort();
                    versions
                        .entry(heads)
                        .or_default()
                        .push(node.path.to_string());
                }
                None => found.push(format!("node {} is missing record {id}", node.path)),
            }
        }
        if versions.len() > 1 {
            found.push(format!(
                "record {id} did not converge: {} versions among {:?}",
                versions.len(),
                versions.values().collect::<Vec<_>>()
            ));
        }
    }
    for (n, id, heads) in &sim.acked {
        if holds(&sim.nodes[*n].store, *id, heads) {
            continue;
        }
        // A record that moved away may be purged, but only once its holders have it all.
        let scope = scopes.get(id);
        let moved_away = scope.is_some_and(|s| !s.held_by(&sim.nodes[*n].path));
        let held_elsewhere = sim
            .nodes
            .iter()
            .filter(|m| scope.is_some_and(|s| s.held_by(&m.path)))
            .all(|m| holds(&m.store, *id, heads));
        let purged = sim.purged.contains(&(*n, *id));
        if !(moved_away && held_elsewhere && purged) {
            let held_here = sim.nodes[*n].store.records().contains_key(id);
            found.push(format!(
                "node {} lost acknowledged changes of record {id} (held here {held_here}, \
                 moved away {moved_away}, purged {purged}, all holders have them {held_elsewhere})",
                sim.nodes[*n].path
            ));
        }
    }
    for id in &sim.created {
        if !scopes.contains_key(id) {
            found.push(format!("record {id} was created but no node holds it"));
        }
    }
    found.sort();
    found.dedup();
    sim.violations.extend(found);
}
