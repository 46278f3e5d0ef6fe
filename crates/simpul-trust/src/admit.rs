//! Admission: what a node takes in from a peer.
//!
//! What a peer sends is never stored as it came. It is merged into the stored document
//! (or becomes the document, for a record new here), and the **new changes** decide:
//!
//! 1. every new change is by an actor that names a facility, and a valid seal covers it
//!    (an author seal of the actor's own key, or for an unbound actor an endorsement);
//! 2. a record has one creation (one change without dependencies);
//! 3. each change's author may make it *where it was made*: write the record as it stood
//!    at the change's dependencies, create or move it only if every path before and after
//!    is in its subtree; scopes are replaced whole, never edited inside; the envelope
//!    (`schema`, `id`, `kind`) is written only by the creation; op counters stay within
//!    what the history could have used;
//! 4. the merged record is one this node should hold, and one the peer should hold unless
//!    the peer is a descendant the record has moved away from.
//!
//! Judging each change at its own position, not against what the receiver happens to
//! hold, gives every node the same answer whatever order changes reach it in.
//!
//! Two different changes with one actor and sequence number cannot both be in a document.
//! The one that arrives second, and everything built on it, is set aside
//! ([`Quarantined`]); the rest is taken.

use std::collections::{HashMap, HashSet};

use simpul_model::automerge::legacy::{Key, ObjectId, OpType};
use simpul_model::automerge::{
    ActorId, Automerge, AutomergeError, Change, ChangeHash, ChangeMetadata, Prop, ReadDoc,
};
use simpul_model::scope_doc::{SCOPE_KEY, read_scope, scope_values};
use simpul_model::validate::Check;
use simpul_model::{
    Date, FacilityPath, Incoming, Record, RecordError, RecordId, Scope, check_history,
};

use crate::actor::{ActorKind, classify};
use crate::authority::Certified;
use crate::chunks;
use crate::error::Refusal;
use crate::keybook::KeyBook;
use crate::seal::{MAX_SEALS, Seal, SealKind};

/// Who judges, and between which two nodes.
#[derive(Debug, Clone, Copy)]
pub struct Judge<'a> {
    /// The keys this node knows and the revocations it holds.
    pub keys: &'a KeyBook,
    /// This node.
    pub local: &'a FacilityPath,
    /// The node that sent what is judged.
    pub peer: &'a FacilityPath,
    /// Today, for validating the merged record.
    pub today: Date,
    /// Why the judging: to store what the peer sent, or to check its evidence that a
    /// record moved away from this node.
    pub purpose: Purpose,
}

/// What an admission is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Storing what a peer sent: the merged record must be this node's to hold.
    Store,
    /// Checking an ancestor's evidence of a move (`Moved`): the merged record is expected
    /// not to be this node's any more ([`Admitted::held_here`] says whether it is).
    Evidence,
}

/// What was taken in.
#[derive(Debug)]
pub struct Admitted {
    /// The record as it now stands.
    pub record: Record,
    /// The seals to keep beside it: those held before and the valid new ones, less those
    /// another seal of the same key covers.
    pub seals: Vec<Seal>,
    /// Changes set aside as equivocating.
    pub quarantined: Vec<Quarantined>,
    /// Changes new here.
    pub new_changes: usize,
    /// The record's whole history, with the new changes, is one line of changes
    /// ([`simpul_model::history::extends_in_line`] from nothing): it holds no competing
    /// values, and a writer need not walk it to know.
    pub in_line: bool,
    /// The record is no longer the peer's to hold, and the peer is a descendant of this
    /// node: answer `Moved`, so it can let its copy go.
    pub moved_from_peer: bool,
    /// The merged record is this node's to hold (always, for [`Purpose::Store`]).
    pub held_here: bool,
}

/// A change set aside: another change with the same actor and sequence number was here
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// The actor.
    pub actor: ActorId,
    /// The sequence number.
    pub seq: u64,
    /// The change this node holds.
    pub kept: ChangeHash,
    /// The change it set aside.
    pub refused: ChangeHash,
    /// Every change set aside with it: the refused one and those built on it.
    pub set_aside: Vec<ChangeHash>,
}

/// Merges `incoming` (with the seals that came with it) into the stored document in
/// `slot` (empty for a record new here) and judges the result. On success `slot` holds
/// the merged document. On error `slot` may hold a half-merged one: the caller discards it.
pub fn admit(
    judge: &Judge<'_>,
    id: RecordId,
    slot: &mut Option<Automerge>,
    stored_seals: &[Seal],
    incoming: Incoming,
    incoming_seals: &[Seal],
) -> Result<Admitted, Refusal> {
    let before = match slot.as_ref() {
        Some(doc) => Some((doc.get_heads(), Record::from_document(doc)?)),
        None => None,
    };
    // Automerge panics on some crafted changes (an op counter past 2^32, an object id its
    // change does not create): a peer's bytes must not take the writer thread down.
    let set_aside =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(slot, incoming)))
            .map_err(|_| RecordError::Shape("the changes do not apply (malformed)".into()))??;
    // Set aside either way; reported only when the key that owns the actor signed the
    // change set aside (a real equivocation, not an unsigned forgery blaming someone).
    let quarantined: Vec<Quarantined> = set_aside
        .into_iter()
        .filter(|q| signed_by_its_actor(judge.keys, id, q, incoming_seals))
        .collect();
    let doc = slot
        .as_ref()
        .ok_or_else(|| RecordError::Shape("the merge left no document".into()))?;
    // Changes whose dependencies are missing sit in Automerge's queue, unapplied and
    // unjudged; kept, they would be saved and passed on, and one could claim an actor's
    // next sequence number ahead of the real change. Refuse the lot.
    if !doc.get_missing_deps(&[]).is_empty() {
        return Err(
            RecordError::Shape("changes depend on changes this node does not have".into()).into(),
        );
    }
    let record = Record::from_document(doc)?;
    if record.id != id {
        return Err(
            RecordError::Shape(format!("document is record {}, not {id}", record.id)).into(),
        );
    }
    if let Some((_, old)) = &before {
        if old.kind() != record.kind() {
            return Err(RecordError::Shape("record id and kind never change".into()).into());
        }
        check_history(old, &record)?;
    }
    // Structure and scope, never plausibility: a validly signed record a peer holds
    // must not get stuck here over a value this node finds odd (or a date its clock
    // has not reached yet).
    record
        .validate_as(judge.today, Check::Structure)
        .map_err(RecordError::from)?;
    let all = doc.get_changes_meta(&[]);
    let new = match &before {
        Some((heads, _)) => doc.get_changes_meta(heads),
        None => all.clone(),
    };
    let seals = Seals::gather(judge, id, doc, stored_seals, incoming_seals)?;
    if !new.is_empty() {
        Changes {
            keys: Some(judge.keys),
            id,
            doc,
            all: &all,
            seals: &seals,
            local_author: None,
        }
        .check(before.as_ref().map(|(heads, _)| heads.as_slice()), &new)?;
    }
    let (held_here, moved_from_peer) = match judge.purpose {
        Purpose::Store => (
            true,
            check_holders(judge, id, &record.scope, before.is_some())?,
        ),
        Purpose::Evidence => (record.scope.held_by(judge.local), false),
    };
    Ok(Admitted {
        record,
        seals: seals.keep(id)?,
        quarantined,
        new_changes: new.len(),
        in_line: simpul_model::history::extends_in_line(&[], &all),
        moved_from_peer,
        held_here,
    })
}

/// Applies what arrived; equivocating changes are set aside and the rest applied.
fn apply(slot: &mut Option<Automerge>, incoming: Incoming) -> Result<Vec<Quarantined>, Refusal> {
    let shape = |e: String| Refusal::Record(RecordError::Shape(e));
    match (slot.as_mut(), incoming) {
        (None, Incoming::Document(doc)) => {
            *slot = Some(doc);
            Ok(Vec::new())
        }
        (None, Incoming::Changes { .. }) => {
            Err(shape("changes for a record this node does not hold".into()))
        }
        (Some(existing), Incoming::Document(mut doc)) => match existing.merge(&mut doc) {
            Ok(_) => Ok(Vec::new()),
            Err(AutomergeError::DuplicateSeqNumber(..)) => sort_out(existing, doc.get_changes(&[])),
            Err(e) => Err(RecordError::from(e).into()),
        },
        (Some(existing), Incoming::Changes { bytes, heads }) => {
            simpul_model::inflation::check(&bytes, simpul_model::inflation::MAX_INFLATED)
                .map_err(|e| shape(e.to_string()))?;
            let quarantined = match existing.load_incremental(&bytes) {
                Ok(_) => Vec::new(),
                Err(AutomergeError::DuplicateSeqNumber(..)) => {
                    sort_out(existing, chunks::changes(&bytes).map_err(shape)?)?
                }
                Err(e) => return Err(RecordError::from(e).into()),
            };
            // A change whose dependencies are missing is queued by Automerge, not applied:
            // acknowledging it would lose it. Refuse; the sender's next reconciliation
            // fills the gap. Heads set aside as equivocating are not expected.
            let aside: HashSet<&ChangeHash> =
                quarantined.iter().flat_map(|q| &q.set_aside).collect();
            let missing = heads
                .iter()
                .filter(|h| !aside.contains(h) && existing.get_change_meta_by_hash(h).is_none())
                .count();
            if missing > 0 {
                return Err(shape(format!(
                    "changes depend on changes this node does not have \
                     ({missing} of their heads did not apply)"
                )));
            }
            Ok(quarantined)
        }
    }
}

/// True when an author seal of the key `q`'s actor names a change set aside with `q`
/// and verifies.
fn signed_by_its_actor(keys: &KeyBook, id: RecordId, q: &Quarantined, seals: &[Seal]) -> bool {
    let ActorKind::Keyed { key, .. } = classify(&q.actor) else {
        return false;
    };
    let Some(cert) = keys.get(&key) else {
        return false;
    };
    seals.iter().any(|s| {
        s.key == key
            && s.kind == SealKind::Author
            && s.heads
                .iter()
                .any(|h| q.set_aside.contains(&ChangeHash(*h)))
            && s.verifies(id, &cert.public)
    })
}

/// Applies `changes` one by one in their order, setting aside each whose actor and
/// sequence number the document holds under another hash, and every change built on one
/// set aside.
fn sort_out(doc: &mut Automerge, changes: Vec<Change>) -> Result<Vec<Quarantined>, Refusal> {
    let mut held: HashMap<(ActorId, u64), ChangeHash> = doc
        .get_changes_meta(&[])
        .iter()
        .map(|c| ((c.actor.clone().into_owned(), c.seq), c.hash))
        .collect();
    let mut quarantined: Vec<Quarantined> = Vec::new();
    let mut aside: HashMap<ChangeHash, usize> = HashMap::new();
    let mut rest: Vec<Change> = Vec::new();
    for change in changes {
        let hash = change.hash();
        if doc.get_change_meta_by_hash(&hash).is_some() {
            continue;
        }
        let key = (change.actor_id().clone(), change.seq());
        match held.get(&key) {
            Some(kept) if *kept == hash => continue,
            Some(kept) => {
                aside.insert(hash, quarantined.len());
                quarantined.push(Quarantined {
                    actor: key.0,
                    seq: key.1,
                    kept: *kept,
                    refused: hash,
                    set_aside: vec![hash],
                });
                continue;
            }
            None => {}
        }
        held.insert(key, hash);
        rest.push(change);
    }
    // Whatever depends on a change set aside goes with it, however the changes are
    // ordered: a walk down from each change set aside, through an index of dependents.
    let mut dependents: HashMap<ChangeHash, Vec<usize>> = HashMap::new();
    for (i, c) in rest.iter().enumerate() {
        for d in c.deps() {
            dependents.entry(*d).or_default().push(i);
        }
    }
    let mut removed = vec![false; rest.len()];
    let mut walk: std::collections::VecDeque<(ChangeHash, usize)> =
        aside.iter().map(|(h, i)| (*h, *i)).collect();
    while let Some((hash, q)) = walk.pop_front() {
        for &k in dependents.get(&hash).map(Vec::as_slice).unwrap_or_default() {
            if !removed[k] {
                removed[k] = true;
                let child = rest[k].hash();
                quarantined[q].set_aside.push(child);
                walk.push_back((child, q));
            }
        }
    }
    let rest: Vec<Change> = rest
        .into_iter()
        .zip(removed)
        .filter(|(_, gone)| !gone)
        .map(|(c, _)| c)
        .collect();
    doc.apply_changes(rest).map_err(RecordError::from)?;
    Ok(quarantined)
}

/// A seal that verified, with its key's certificate and the changes it does not cover.
struct Valid {
    seal: Seal,
    cert: Certified,
    uncovered: HashSet<ChangeHash>,
}

impl Valid {
    fn covers(&self, change: &ChangeHash) -> bool {
        !self.uncovered.contains(change)
    }
}

/// The seals that bear on a record: those stored, and those that came with what arrived.
struct Seals {
    valid: Vec<Valid>,
    /// Stored seals whose key this node does not know (kept, never used).
    unknown: Vec<Seal>,
}

impl Seals {
    fn gather(
        judge: &Judge<'_>,
        id: RecordId,
        doc: &Automerge,
        stored: &[Seal],
        incoming: &[Seal],
    ) -> Result<Seals, Refusal> {
        let mut seen = HashSet::new();
        let mut seals = Seals {
            valid: Vec::new(),
            unknown: Vec::new(),
        };
        let tagged = stored
            .iter()
            .map(|s| (s, true))
            .chain(incoming.iter().map(|s| (s, false)));
        for (seal, was_stored) in tagged {
            if !seen.insert(seal.identity()) {
                continue;
            }
            let Some(cert) = judge.keys.get(&seal.key) else {
                // An incoming seal of a key never certified here covers nothing (the
                // session sends each key's certificate before the first seal needing it).
                if was_stored {
                    seals.unknown.push(seal.clone());
                }
                continue;
            };
            // Stored seals were verified when they were stored.
            if !was_stored && !seal.verifies(id, &cert.public) {
                return Err(Refusal::BadSeal {
                    id,
                    key: seal.key,
                    reason: "does not verify".into(),
                });
            }
            let heads = seal.change_hashes();
            if heads
                .iter()
                .any(|h| doc.get_change_meta_by_hash(h).is_none())
            {
                // A version this node does not hold: it covers nothing here.
                continue;
            }
            let uncovered = doc
                .get_changes_meta(&heads)
                .iter()
                .map(|c| c.hash)
                .collect();
            seals.valid.push(Valid {
                seal: seal.clone(),
                cert: cert.clone(),
                uncovered,
            });
        }
        Ok(seals)
    }

    /// The seals to keep: of one key and kind, none another covers. More than
    /// [`MAX_SEALS`] is refused (never truncated: a seal dropped could be the only one
    /// covering some author's changes).
    fn keep(self, id: RecordId) -> Result<Vec<Seal>, Refusal> {
        let valid = &self.valid;
        let dominated = |i: usize| {
            let a = &valid[i];
            valid.iter().enumerate().any(|(j, b)| {
                j != i
                    && b.seal.key == a.seal.key
                    && b.seal.kind == a.seal.kind
                    && a.seal.change_hashes().iter().all(|h| b.covers(h))
                    // Of two that cover each other (equal heads), keep the first.
                    && (!b.seal.change_hashes().iter().all(|h| a.covers(h)) || j < i)
            })
        };
        let mut kept: Vec<Seal> = (0..valid.len())
            .filter(|&i| !dominated(i))
            .map(|i| valid[i].seal.clone())
            .chain(self.unknown)
            .collect();
        kept.sort_by_key(Seal::identity);
        if kept.len() > MAX_SEALS {
            return Err(Refusal::TooManySeals {
                id,
                seals: kept.len(),
            });
        }
        Ok(kept)
    }
}

/// The new changes of one admission, and what judges them.
struct Changes<'a> {
    /// The keys seals are checked against (none for this node's own write).
    keys: Option<&'a KeyBook>,
    id: RecordId,
    doc: &'a Automerge,
    all: &'a [ChangeMetadata<'a>],
    seals: &'a Seals,
    /// For this node's own write: the node, which every new change is judged as.
    local_author: Option<&'a FacilityPath>,
}

impl Changes<'_> {
    /// Judges the changes `new`: those after `have` (the stored heads; `None` for a
    /// record new here).
    fn check(
        &self,
        have: Option<&[ChangeHash]>,
        new: &[ChangeMetadata<'_>],
    ) -> Result<(), Refusal> {
        let id = self.id;
        let existed = have.is_some();
        // A change's first op follows the last op of its history, as Automerge numbers
        // them: a counter picked higher would win every concurrent conflict, or overflow.
        let max_op: HashMap<ChangeHash, u64> =
            self.all.iter().map(|c| (c.hash, c.max_op)).collect();
        for c in new {
            let expected = 1 + c
                .deps
                .iter()
                .filter_map(|d| max_op.get(d))
                .max()
                .copied()
                .unwrap_or(0);
            if c.start_op != expected {
                return Err(Refusal::OpCounter {
                    id,
                    change: c.hash.to_string(),
                    start_op: c.start_op,
                });
            }
        }
        // A bound id is created by the key it names, and no other.
        if let (Some(prefix), Some(creation)) =
            (id.bound_key(), new.iter().find(|c| c.deps.is_empty()))
        {
            let by_its_key = matches!(
                classify(&creation.actor),
                ActorKind::Keyed { key, .. } if key.0[..4] == prefix
            );
            if !by_its_key {
                return Err(self.not_authorised(
                    creation,
                    format!("create record {id}: its id belongs to another node's key"),
                ));
            }
        }
        let roots = new.iter().filter(|c| c.deps.is_empty()).count();
        if (existed && roots > 0) || (!existed && roots != 1) {
            return Err(Refusal::SecondCreation { id });
        }
        let mut scopes = ScopeAt::new(self.doc, self.all)?;
        // The new changes whole, collected in one pass over the document (Automerge
        // collects one change by walking every op in its counter range, so a change at a
        // time costs the document once per change).
        let whole: HashMap<ChangeHash, Change> = if new.iter().any(|c| !c.deps.is_empty()) {
            self.doc
                .get_changes(have.unwrap_or(&[]))
                .into_iter()
                .map(|c| (c.hash(), c))
                .collect()
        } else {
            HashMap::new()
        };
        for change in new {
            let legacy = matches!(classify(&change.actor), ActorKind::Unbound { .. });
            let mut ops = if change.deps.is_empty() {
                OpSummary::default()
            } else {
                let whole = whole.get(&change.hash).ok_or_else(|| {
                    RecordError::Shape(format!("change {} is missing", change.hash))
                })?;
                OpSummary::of(self.doc, whole)?
            };
            let judged = self.judge_change(&mut scopes, change, &mut ops, legacy);
            // History from before seals can come from an honest node whose endorsement
            // this node does not count: refused, not held against the sender.
            match judged {
                Err(Refusal::NotAuthorised { author, what, .. }) if legacy => {
                    return Err(Refusal::Unvouched {
                        id,
                        change: change.hash.to_string(),
                        reason: format!("{author} may not {what}"),
                    });
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Judges one new change: what it touches, then whether its author (and for history
    /// from before seals, an endorser too) may make it where it was made.
    fn judge_change(
        &self,
        scopes: &mut ScopeAt<'_>,
        change: &ChangeMetadata<'_>,
        ops: &mut OpSummary,
        legacy: bool,
    ) -> Result<(), Refusal> {
        if let Some(key) = ops.envelope_key {
            return Err(self.not_authorised(change, format!("change the record's `{key}`")));
        }
        if let Some(what) = &ops.history {
            return Err(self.not_authorised(change, what.clone()));
        }
        if ops.scope_edited {
            if !legacy {
                return Err(self.not_authorised(
                    change,
                    "edit a scope in place (a scope is replaced whole)".into(),
                ));
            }
            // Before scopes were replaced whole, a move edited the map: judged as a move.
            ops.scope_put = true;
        }
        let (named, vouching) = self.authorities(change)?;
        // The author the change names must be allowed it; for history from before seals
        // (which nobody signed), an endorser that vouches for it must be allowed it too.
        if let Some(author) = &named {
            self.authorise(scopes, change, ops, author)?;
        }
        if vouching.is_empty() {
            return Ok(());
        }
        let mut first_error = None;
        for endorser in &vouching {
            match self.authorise(scopes, change, ops, endorser) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(Refusal::SecondCreation { id: self.id }))
    }

    fn not_authorised(&self, change: &ChangeMetadata<'_>, what: String) -> Refusal {
        match classify(&change.actor).facility() {
            Some(author) => Refusal::NotAuthorised {
                id: self.id,
                author: author.clone(),
                what,
            },
            None => self.foreign(change),
        }
    }

    fn foreign(&self, change: &ChangeMetadata<'_>) -> Refusal {
        Refusal::ForeignActor {
            id: self.id,
            change: change.hash.to_string(),
            actor: String::from_utf8_lossy(change.actor.to_bytes()).into_owned(),
        }
    }

    /// Who a change is judged as: the facility its actor names (when an author seal of
    /// that actor's key covers it, or for history from before seals), and for history
    /// from before seals the facilities of the endorsements that cover it (one of which
    /// must also be allowed the change). A local write is judged as this node.
    fn authorities(
        &self,
        change: &ChangeMetadata<'_>,
    ) -> Result<(Option<FacilityPath>, Vec<FacilityPath>), Refusal> {
        let id = self.id;
        if let Some(local) = self.local_author {
            return Ok((Some(local.clone()), Vec::new()));
        }
        let unsigned = |author: &FacilityPath, legacy: bool| Refusal::Unsigned {
            id,
            change: change.hash.to_string(),
            author: author.clone(),
            legacy,
        };
        let keys = self
            .keys
            .ok_or_else(|| RecordError::Shape("no keys to check seals against".into()))?;
        match classify(&change.actor) {
            ActorKind::Foreign => Err(self.foreign(change)),
            ActorKind::Keyed { facility, key } => {
                let mut revoked = false;
                for v in &self.seals.valid {
                    if v.seal.kind == SealKind::Author
                        && v.seal.key == key
                        && v.cert.facility == facility
                        && v.covers(&change.hash)
                    {
                        if !keys.is_revoked(&v.cert) {
                            return Ok((Some(facility), Vec::new()));
                        }
                        revoked = true;
                    }
                }
                if revoked {
                    return Err(Refusal::Revoked {
                        id,
                        change: change.hash.to_string(),
                        key,
                    });
                }
                Err(unsigned(&facility, false))
            }
            ActorKind::Unbound { facility } => {
                // Built on signed history, an unbound change is a node's own write made
                // without its key (a CLI command on a stopped node), endorsed by that
                // node when it next starts. Only its own facility vouches for it: anyone
                // else's endorsement could name any facility as the author (and a higher
                // one wins scope conflicts).
                let own_only = builds_on_keyed(self.doc, self.all, change);
                let mut revoked = None;
                let mut endorsers = Vec::new();
                for v in &self.seals.valid {
                    if v.seal.kind != SealKind::Endorsement
                        || !v.covers(&change.hash)
                        || (own_only && v.cert.facility != facility)
                    {
                        continue;
                    }
                    if keys.is_revoked(&v.cert) {
                        revoked = Some(v.seal.key);
                    } else {
                        endorsers.push(v.cert.facility.clone());
                    }
                }
                if endorsers.is_empty() {
                    return Err(match revoked {
                        Some(key) if own_only => Refusal::Revoked {
                            id,
                            change: change.hash.to_string(),
                            key,
                        },
                        _ => unsigned(&facility, !own_only),
                    });
                }
                Ok((Some(facility), endorsers))
            }
        }
    }

    fn authorise(
        &self,
        scopes: &mut ScopeAt<'_>,
        change: &ChangeMetadata<'_>,
        ops: &OpSummary,
        authority: &FacilityPath,
    ) -> Result<(), Refusal> {
        let refuse = |what: String| Refusal::NotAuthorised {
            id: self.id,
            author: authority.clone(),
            what,
        };
        if change.deps.is_empty() {
            let created = scopes.at(&[change.hash])?;
            if !created.movable_by(authority) {
                return Err(refuse(format!("create a record of {}", paths(&created))));
            }
            return Ok(());
        }
        let at = scopes.at(&change.deps)?;
        if !at.writable_by(authority) {
            return Err(refuse(format!("write a record of {}", paths(&at))));
        }
        if ops.scope_put {
            let to = scopes.at(&[change.hash])?;
            if !at.movable_by(authority) || !to.movable_by(authority) {
                return Err(refuse(format!(
                    "move a record from {} to {}",
                    paths(&at),
                    paths(&to)
                )));
            }
        }
        Ok(())
    }
}

fn paths(scope: &Scope) -> String {
    let paths: Vec<&str> = scope.paths.iter().map(FacilityPath::as_str).collect();
    format!("{} [{}]", scope.audience, paths.join(", "))
}

/// What a change's operations touch: the scope, the envelope, and clinical history.
/// Judged op by op from the change itself and the objects it writes into, so every node
/// judges a change the same way whatever else it holds.
#[derive(Debug, Default)]
struct OpSummary {
    /// It puts a new scope.
    scope_put: bool,
    /// It edits inside a scope map it did not create.
    scope_edited: bool,
    /// A root key only the creation writes.
    envelope_key: Option<&'static str>,
    /// How it would erase or rewrite a clinical fact (a visit, an audit entry), if it does.
    history: Option<String>,
}

/// Where an object sits, as the map keys from the root down (`[patient, visits, <id>]`).
type Path = Vec<String>;

impl OpSummary {
    fn of(doc: &Automerge, change: &Change) -> Result<OpSummary, Refusal> {
        let full = change.decode();
        let mut summary = OpSummary::default();
        let mut created = HashSet::new();
        let mut paths: HashMap<(u64, ActorId), Path> = HashMap::new();
        for (i, op) in full.operations.iter().enumerate() {
            if matches!(op.action, OpType::Make(_)) {
                created.insert((full.start_op.get() + i as u64, full.actor_id.clone()));
            }
            let key = match &op.key {
                Key::Map(k) => Some(k.as_str()),
                Key::Seq(_) => None,
            };
            let overwrites = !op.pred.is_empty() || matches!(op.action, OpType::Delete);
            match &op.obj {
                ObjectId::Root => match key {
                    Some(SCOPE_KEY) => summary.scope_put = true,
                    Some(k @ ("schema" | "id" | "kind")) => {
                        summary.envelope_key = Some(match k {
                            "schema" => "schema",
                            "id" => "id",
                            _ => "kind",
                        })
                    }
                    Some(k @ ("patient" | "audit")) if overwrites => {
                        summary.history = Some(format!("replace the record's `{k}`"));
                    }
                    _ => {}
                },
                ObjectId::Id(obj) => {
                    let obj = (obj.0, obj.1.clone());
                    if created.contains(&obj) {
                        continue;
                    }
                    let path = paths
                        .entry(obj.clone())
                        .or_insert_with(|| path_of(doc, &obj))
                        .clone();
                    summary.note(&path, key, overwrites, &op.action);
                }
            }
        }
        Ok(summary)
    }

    /// Notes what an op on an object at `path` (one this change did not create) does.
    fn note(&mut self, path: &[String], key: Option<&str>, overwrites: bool, action: &OpType) {
        let at = |p: &[&str]| path.len() >= p.len() && path.iter().zip(p).all(|(a, b)| a == b);
        if at(&[SCOPE_KEY]) {
            self.scope_edited = true;
        } else if path == ["patient"] && key == Some("visits") && overwrites {
            self.history = Some("replace the visits".into());
        } else if path == ["patient", "visits"] && overwrites {
            self.history = Some(format!(
                "remove or rewrite visit {}",
                key.unwrap_or_default()
            ));
        } else if at(&["patient", "visits"]) && path.len() >= 3 {
            // An existing visit only gains its entered-in-error mark (a new map).
            let marking = path.len() == 3
                && key == Some("entered_in_error")
                && matches!(action, OpType::Make(_));
            if !marking {
                self.history = Some(format!(
                    "rewrite visit {} (a wrong visit is marked entered in error, never changed)",
                    path[2]
                ));
            }
        } else if path == ["audit"] && key == Some("entries") && overwrites
            || path == ["audit", "entries"] && overwrites
            || at(&["audit", "entries"]) && path.len() >= 3
        {
            self.history = Some("remove or rewrite an audit entry".into());
        }
    }
}

/// The map keys from the root down to the object `obj` (its creating op). List indexes
/// are written `#`.
fn path_of(doc: &Automerge, obj: &(u64, ActorId)) -> Path {
    let Ok(id) = doc.import_obj(&format!("{}@{}", obj.0, obj.1)) else {
        return Vec::new();
    };
    let Ok(parents) = doc.parents(&id) else {
        return Vec::new();
    };
    let mut path: Path = parents
        .map(|p| match p.prop {
            Prop::Map(k) => k,
            Prop::Seq(_) => "#".to_string(),
        })
        .collect();
    path.reverse();
    path
}

/// The record's scope at points in its history, read once each.
struct ScopeAt<'a> {
    doc: &'a Automerge,
    /// The scope everywhere, when no change but the creation ever put one.
    fixed: Option<Scope>,
    cache: HashMap<Vec<ChangeHash>, Scope>,
}

impl<'a> ScopeAt<'a> {
    fn new(doc: &'a Automerge, all: &[ChangeMetadata<'_>]) -> Result<Self, Refusal> {
        let values = scope_values(doc, None)?;
        let creation = all.iter().find(|c| c.deps.is_empty());
        let fixed = match (values.as_slice(), creation) {
            ([only], Some(c))
                if only.op.1 == *c.actor && c.start_op <= only.op.0 && only.op.0 <= c.max_op =>
            {
                only.scope.clone().ok()
            }
            _ => None,
        };
        Ok(Self {
            doc,
            fixed,
            cache: HashMap::new(),
        })
    }

    fn at(&mut self, heads: &[ChangeHash]) -> Result<Scope, Refusal> {
        if let Some(scope) = &self.fixed {
            return Ok(scope.clone());
        }
        let mut key = heads.to_vec();
        key.sort_unstable();
        if let Some(scope) = self.cache.get(&key) {
            return Ok(scope.clone());
        }
        let scope = read_scope(self.doc, Some(&key))?;
        self.cache.insert(key, scope.clone());
        Ok(scope)
    }
}

/// The merged record must be this node's to hold, and the peer's unless the peer is a
/// descendant it has moved away from (returns true then). A record new here is what the
/// peer sent: it must be the peer's.
fn check_holders(
    judge: &Judge<'_>,
    id: RecordId,
    scope: &Scope,
    existed: bool,
) -> Result<bool, Refusal> {
    if !scope.held_by(judge.local) {
        return Err(Refusal::OutOfScope {
            id,
            reason: format!("outside what this node ({}) should hold", judge.local),
        });
    }
    if scope.held_by(judge.peer) {
        return Ok(false);
    }
    let descendant = judge.local.is_ancestor_or_self(judge.peer) && judge.local != judge.peer;
    if existed && descendant {
        return Ok(true);
    }
    Err(Refusal::OutOfScope {
        id,
        reason: format!("outside what the sender ({}) should hold", judge.peer),
    })
}

/// The changes that show a holder of `sent` (heads it holds) why the record moved away
/// from it: those after `sent` up to and including the change that put the deciding
/// scope, and nothing made after the move (which the old holder may not see). Empty when
/// the deciding scope is older than `sent`. Concatenated change chunks, in causal order.
pub fn evidence_of_move(doc: &Automerge, sent: &[ChangeHash]) -> Vec<u8> {
    let Ok(values) = scope_values(doc, None) else {
        return Vec::new();
    };
    let Some(deciding) = simpul_model::scope_doc::deciding_value(&values) else {
        return Vec::new();
    };
    let (counter, actor) = &deciding.op;
    let known: Vec<ChangeHash> = sent
        .iter()
        .filter(|h| doc.get_change_meta_by_hash(h).is_some())
        .copied()
        .collect();
    let after_sent = doc.get_changes_meta(&known);
    let Some(put) = after_sent
        .iter()
        .find(|c| *c.actor == *actor && c.start_op <= *counter && *counter <= c.max_op)
    else {
        return Vec::new();
    };
    let after_put: HashSet<ChangeHash> = doc
        .get_changes_meta(&[put.hash])
        .iter()
        .map(|c| c.hash)
        .collect();
    let mut bytes = Vec::new();
    for c in after_sent.iter().filter(|c| !after_put.contains(&c.hash)) {
        if let Some(change) = doc.get_change_by_hash(&c.hash) {
            bytes.extend_from_slice(change.raw_bytes());
        }
    }
    bytes
}

/// True when a change by a key-bound actor is in `change`'s history (`all`: every change
/// of `doc`).
fn builds_on_keyed(
    doc: &Automerge,
    all: &[ChangeMetadata<'_>],
    change: &ChangeMetadata<'_>,
) -> bool {
    if change.deps.is_empty() {
        return false;
    }
    let after: HashSet<ChangeHash> = doc
        .get_changes_meta(&change.deps)
        .iter()
        .map(|c| c.hash)
        .collect();
    all.iter()
        .any(|c| !after.contains(&c.hash) && matches!(classify(&c.actor), ActorKind::Keyed { .. }))
}

/// Every change of a stored record that no seal it keeps covers: for each, the change and
/// why. A key-bound change needs an author seal of its own key (revoked or not: this
/// checks what was admitted, not what would be now); an unbound one, an endorsement (by
/// its own facility when it builds on key-bound history).
/// Seals are checked against their keys' certificates in `keys`.
pub fn unsealed(keys: &KeyBook, id: RecordId, doc: &Automerge, seals: &[Seal]) -> Vec<String> {
    let (local, peer) = match Record::envelope(doc) {
        Ok(e) => (e.scope.paths[0].clone(), e.scope.paths[0].clone()),
        Err(e) => return vec![format!("record {id}: {e}")],
    };
    let judge = Judge {
        keys,
        local: &local,
        peer: &peer,
        today: Date::from_unix_days(0),
        purpose: Purpose::Evidence,
    };
    // Stored seals are checked here as if they had just arrived.
    let seals = match Seals::gather(&judge, id, doc, &[], seals) {
        Ok(s) => s,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    let all = doc.get_changes_meta(&[]);
    for change in &all {
        let covered = match classify(&change.actor) {
            ActorKind::Keyed { facility, key } => seals.valid.iter().any(|v| {
                v.seal.kind == SealKind::Author
                    && v.seal.key == key
                    && v.cert.facility == facility
                    && v.covers(&change.hash)
            }),
            ActorKind::Unbound { facility } => {
                let own_only = builds_on_keyed(doc, &all, change);
                seals.valid.iter().any(|v| {
                    v.seal.kind == SealKind::Endorsement
                        && v.covers(&change.hash)
                        && (!own_only || v.cert.facility == facility)
                })
            }
            ActorKind::Foreign => false,
        };
        if !covered {
            problems.push(format!(
                "record {id}: change {} by {} is not covered by a seal of its author",
                change.hash,
                String::from_utf8_lossy(change.actor.to_bytes())
            ));
        }
    }
    problems
}

/// Judges a write this node made itself (`author`: this node) by the rules a peer would
/// judge it by, before it is stored: one creation, a bound id created only by its key,
/// each change allowed to `author` where it was made, no envelope rewrite, no in-place
/// scope edit, no clinical fact erased or rewritten. What passes here passes at every
/// peer once sealed; what fails would be refused there as hostile, cutting the link.
/// Returns whether the record's whole history is one line (as [`Admitted::in_line`]).
pub fn authorise_local(
    id: RecordId,
    doc: &Automerge,
    before: Option<&[ChangeHash]>,
    author: &FacilityPath,
) -> Result<bool, Refusal> {
    let all = doc.get_changes_meta(&[]);
    let new = match before {
        Some(heads) => doc.get_changes_meta(heads),
        None => all.clone(),
    };
    let in_line = simpul_model::history::extends_in_line(&[], &all);
    if new.is_empty() {
        return Ok(in_line);
    }
    let seals = Seals {
        valid: Vec::new(),
        unknown: Vec::new(),
    };
    Changes {
        keys: None,
        id,
        doc,
        all: &all,
        seals: &seals,
        local_author: Some(author),
    }
    .check(before, &new)?;
    Ok(in_line)
}
