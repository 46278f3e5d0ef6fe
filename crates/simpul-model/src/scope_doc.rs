//! The scope as a record's document holds it.
//!
//! A scope is only ever replaced whole: a write that changes it puts a new map at the
//! root key `scope` ([`write_scope`]), never edits inside the old one, so each scope value
//! belongs to exactly one change and that change's author can be judged for it.
//!
//! Two nodes may replace a scope concurrently (two moves made offline). Automerge keeps
//! both puts and would pick the winner by op counter, which the writer chooses: a
//! descendant could then undo its ancestor's move by writing with a large counter. The
//! record's scope is instead settled by authority ([`read_scope`]): of the values the
//! document holds, the one written by the highest facility (the shortest path) wins, and
//! Automerge's order only decides between writers at the same level.

use automerge::transaction::Transactable;
use automerge::{ActorId, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::facility::FacilityPath;
use crate::record::{RecordError, actor_facility};
use crate::scope::{Audience, Scope};

/// The root key that holds the scope.
pub const SCOPE_KEY: &str = "scope";

/// One scope value the document holds (several while two moves conflict).
#[derive(Debug, Clone)]
pub struct ScopeValue {
    /// The map object (its id is the op that put it).
    pub obj: ObjId,
    /// The op that put it: counter and actor.
    pub op: (u64, ActorId),
    /// What it says, or why it does not read as a scope.
    pub scope: Result<Scope, String>,
}

impl ScopeValue {
    /// The facility that wrote this value, if its actor names one.
    pub fn writer(&self) -> Option<FacilityPath> {
        actor_facility(&self.op.1)
    }
}

/// Every scope value the document holds at `at` (its current heads when `None`), in
/// Automerge's op order.
pub fn scope_values(
    doc: &impl ReadDoc,
    at: Option<&[ChangeHash]>,
) -> Result<Vec<ScopeValue>, RecordError> {
    let values = match at {
        Some(heads) => doc.get_all_at(ROOT, SCOPE_KEY, heads)?,
        None => doc.get_all(ROOT, SCOPE_KEY)?,
    };
    let mut out = Vec::with_capacity(values.len());
    for (value, obj) in values {
        let ObjId::Id(counter, actor, _) = &obj else {
            continue;
        };
        let op = (*counter, actor.clone());
        let scope = match value {
            Value::Object(ObjType::Map) => read_scope_map(doc, &obj, at),
            _ => Err("`scope` is not a map".to_string()),
        };
        out.push(ScopeValue { obj, op, scope });
    }
    Ok(out)
}

/// The value that decides the record's scope: the one written by the highest facility,
/// Automerge's winner among writers at one level. `None` when the document holds none.
pub fn deciding_value(values: &[ScopeValue]) -> Option<&ScopeValue> {
    // Later values win ties: get_all lists conflicting ops in Automerge's order, winner last.
    values
        .iter()
        .enumerate()
        .max_by_key(|(i, v)| (std::cmp::Reverse(rank(v)), *i))
        .map(|(_, v)| v)
}

/// Smaller is higher: the depth of the writer's facility; below every key-bound actor
/// (`<path>#<key>.<instance>`) an unbound one (`<path>#<instance>`, written before actors
/// were bound to keys); below all an actor that names no facility.
fn rank(value: &ScopeValue) -> usize {
    let key_bound = std::str::from_utf8(value.op.1.to_bytes())
        .ok()
        .and_then(|text| text.rsplit_once('#'))
        .is_some_and(|(_, tail)| tail.contains('.'));
    match value.writer() {
        Some(f) if key_bound => f.depth(),
        Some(f) => UNBOUND_RANK + f.depth(),
        None => usize::MAX,
    }
}

/// Added to the rank of an unbound writer: below every facility level.
const UNBOUND_RANK: usize = 16;

/// The record's scope at `at` (its current heads when `None`), settled by authority.
pub fn read_scope(doc: &impl ReadDoc, at: Option<&[ChangeHash]>) -> Result<Scope, RecordError> {
    let values = scope_values(doc, at)?;
    let value =
        deciding_value(&values).ok_or_else(|| RecordError::Shape("missing `scope`".into()))?;
    value
        .scope
        .clone()
        .map_err(|e| RecordError::Shape(format!("scope: {e}")))
}

fn read_scope_map(
    doc: &impl ReadDoc,
    obj: &ObjId,
    at: Option<&[ChangeHash]>,
) -> Result<Scope, String> {
    let get = |prop: &str| match at {
        Some(heads) => doc.get_at(obj, prop, heads),
        None => doc.get(obj, prop),
    };
    let audience = match get("audience") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(text) => text
                .parse::<Audience>()
                .map_err(|e| format!("audience: {e}"))?,
            _ => return Err("`audience` is not a string".into()),
        },
        _ => return Err("`audience` is missing".into()),
    };
    let paths_obj = match get("paths") {
        Ok(Some((Value::Object(ObjType::List), id))) => id,
        _ => return Err("`paths` is missing or not a list".into()),
    };
    let items: Vec<(Value<'_>, ObjId)> = match at {
        Some(heads) => doc
            .list_range_at(&paths_obj, .., heads)
            .map(|i| {
                let id = i.id();
                (i.value.into(), id)
            })
            .collect(),
        None => doc
            .list_range(&paths_obj, ..)
            .map(|i| {
                let id = i.id();
                (i.value.into(), id)
            })
            .collect(),
    };
    let mut paths = Vec::with_capacity(items.len());
    for (value, _) in items {
        let Value::Scalar(s) = value else {
            return Err("a scope path is not a string".into());
        };
        let ScalarValue::Str(text) = s.as_ref() else {
            return Err("a scope path is not a string".into());
        };
        paths.push(FacilityPath::parse(text).map_err(|e| e.to_string())?);
    }
    Ok(Scope { audience, paths })
}

/// Replaces the record's scope with `scope`: a new map at the root key, with its
/// audience and paths, all in the caller's transaction (one change).
pub fn write_scope(tx: &mut impl Transactable, scope: &Scope) -> Result<(), RecordError> {
    let map = tx.put_object(ROOT, SCOPE_KEY, ObjType::Map)?;
    tx.put(&map, "audience", scope.audience.as_str())?;
    let paths = tx.put_object(&map, "paths", ObjType::List)?;
    for (i, path) in scope.paths.iter().enumerate() {
        tx.insert(&paths, i, path.as_str())?;
    }
    Ok(())
}
