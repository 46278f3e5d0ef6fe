//! Reading a record's Automerge history for people: who changed what and when, and
//! where concurrent writes left competing values (Automerge keeps them all; readers see
//! a deterministic winner). Facilities come from the actor ids (`<path>#<instance>`).

use std::collections::HashMap;

use automerge::{
    ActorId, Automerge, ChangeHash, ChangeMetadata, ObjId, ObjType, Prop, ROOT, ReadDoc,
    ScalarValue, Value, transaction::Transactable,
};
use serde::{Deserialize, Serialize};

use crate::facility::FacilityPath;
use crate::record::{RecordError, actor_facility};

/// One change of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// The change hash (hex).
    pub hash: String,
    /// The facility that wrote it.
    pub facility: Option<FacilityPath>,
    /// The Automerge actor.
    pub actor: String,
    /// When it was written (Unix ms, to the second).
    pub time_ms: u64,
    /// The fields it set, as dotted paths (`patient.name`, `patient.visits.<id>`).
    pub fields: Vec<String>,
}

/// A field with competing values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Its dotted path.
    pub field: String,
    /// Every value; the one readers see today is marked `shown`.
    pub values: Vec<ConflictValue>,
}

/// One of the competing values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// The value, as text.
    pub value: String,
    /// The facility that wrote it.
    pub facility: Option<FacilityPath>,
    /// When (Unix ms, to the second).
    pub time_ms: u64,
    /// True for the value readers see today (Automerge's winner), until it is settled.
    #[serde(default)]
    pub shown: bool,
}

/// Fields listed per change before the rest is summarised.
const FIELDS_SHOWN: usize = 12;

/// Every change of `doc`, oldest first (causal order), with the fields each one set.
pub fn history(doc: &Automerge) -> Vec<ChangeEntry> {
    doc.get_changes(&[])
        .into_iter()
        .map(|change| {
            let mut fields: Vec<String> = doc
                .diff(change.deps(), &[change.hash()])
                .iter()
                .map(|patch| {
                    let mut path: Vec<String> =
                        patch.path.iter().map(|(_, p)| prop_text(p)).collect();
                    if let Some(key) = action_key(&patch.action) {
                        path.push(key);
                    }
                    path.join(".")
                })
                .collect();
            fields.sort();
            fields.dedup();
            let mut shown = collapse(fields);
            if shown.len() > FIELDS_SHOWN {
                let more = shown.len() - FIELDS_SHOWN;
                shown.truncate(FIELDS_SHOWN);
                shown.push(format!("... and {more} more"));
            }
            ChangeEntry {
                hash: change.hash().to_string(),
                facility: actor_facility(change.actor_id()),
                actor: change.actor_id().to_string(),
                time_ms: change.timestamp().max(0) as u64 * 1000,
                fields: shown,
            }
        })
        .collect()
}

/// Drops paths inside another listed path (`patient.visits.x` covers its fields).
fn collapse(sorted: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in sorted {
        if let Some(last) = out.last()
            && f.starts_with(&format!("{last}."))
        {
            continue;
        }
        out.push(f);
    }
    out
}

fn prop_text(p: &Prop) -> String {
    match p {
        Prop::Map(k) => k.clone(),
        Prop::Seq(i) => i.to_string(),
    }
}

fn action_key(action: &automerge::PatchAction) -> Option<String> {
    use automerge::PatchAction as A;
    match action {
        A::PutMap { key, .. } | A::DeleteMap { key } => Some(key.clone()),
        A::PutSeq { index, .. } | A::Insert { index, .. } | A::DeleteSeq { index, .. } => {
            Some(index.to_string())
        }
        A::Increment { prop, .. } | A::Conflict { prop } => Some(prop_text(prop)),
        _ => None,
    }
}

/// When each actor's operations were made: actor -> (first op, op count, time ms).
fn op_times(doc: &Automerge) -> HashMap<ActorId, Vec<(u64, u64, u64)>> {
    let mut times: HashMap<ActorId, Vec<(u64, u64, u64)>> = HashMap::new();
    for change in doc.get_changes(&[]) {
        times.entry(change.actor_id().clone()).or_default().push((
            change.start_op().get(),
            change.len() as u64,
            change.timestamp().max(0) as u64 * 1000,
        ));
    }
    times
}

/// Every field of `doc` holding competing values.
pub fn conflicts(doc: &Automerge) -> Vec<Conflict> {
    let times = op_times(doc);
    let mut found = Vec::new();
    walk(doc, &ROOT, &mut Vec::new(), &mut |path, all, winner| {
        let values = all
            .iter()
            .map(|(value, id)| {
                let shown = Some(id) == winner;
                let (facility, time_ms) = match id {
                    automerge::ObjId::Id(counter, actor, _) => (
                        actor_facility(actor),
                        times
                            .get(actor)
                            .and_then(|spans| {
                                spans.iter().find(|(start, len, _)| {
                                    (*start..*start + *len).contains(counter)
                                })
                            })
                            .map_or(0, |(_, _, t)| *t),
                    ),
                    automerge::ObjId::Root => (None, 0),
                };
                ConflictValue {
                    value: value_text(value),
                    facility,
                    time_ms,
                    shown,
                }
            })
            .collect();
        found.push(Conflict {
            field: path.join("."),
            values,
        });
    });
    found
}

/// How many fields of `doc` hold competing values: [`conflicts`] without reading who
/// wrote them (a walk of the document, a fraction of a millisecond for a patient).
pub fn conflict_count(doc: &Automerge) -> usize {
    let mut count = 0;
    walk(doc, &ROOT, &mut Vec::new(), &mut |_, _, _| count += 1);
    count
}

/// True when `new` (the changes a document gained over `before`, its heads then) extends
/// it in one line: the first depends on every head of `before`, each other on the one
/// before it, and no two on the same one. A change may also list older changes it
/// already saw (Automerge always lists its actor's previous change, so a record written
/// in turn by a posyandu and a pustu names both): those are in the line already. From
/// nothing (`before` empty, `new` every change), it says the whole history is one line:
/// no change was made without seeing every other, so, as Automerge makes changes (each
/// op supersedes every value it saw), no field holds competing values and nobody need
/// walk the document for [`conflict_count`]. A change crafted with an op that leaves a
/// value it saw in place could still make two; the store lists neither that nor any
/// other value of a one-line history as competing (readers see one value, as always),
/// the same way when writing and when verifying.
pub fn extends_in_line(before: &[ChangeHash], new: &[ChangeMetadata<'_>]) -> bool {
    let in_new: HashMap<ChangeHash, usize> =
        new.iter().enumerate().map(|(i, c)| (c.hash, i)).collect();
    // Changes by a dependency among `new`; the first of the line depends on none of them.
    let mut after: HashMap<ChangeHash, Vec<usize>> = HashMap::new();
    let mut first = Vec::new();
    for (i, change) in new.iter().enumerate() {
        let mut within = change
            .deps
            .iter()
            .filter(|d| in_new.contains_key(d))
            .peekable();
        if within.peek().is_none() {
            // Depending only on stored changes: there must be some, and every head.
            let extends = if before.is_empty() {
                change.deps.is_empty()
            } else {
                before.iter().all(|h| change.deps.contains(h))
            };
            if !extends {
                return false;
            }
            first.push(i);
        }
        for dep in within {
            after.entry(*dep).or_default().push(i);
        }
    }
    let mut seen = vec![false; new.len()];
    let mut next = match first.as_slice() {
        [only] => *only,
        _ => return new.is_empty(),
    };
    for _ in 1..new.len() {
        seen[next] = true;
        // The one change that builds on the head and on nothing not yet in the line.
        let mut candidates = after
            .get(&new[next].hash)
            .into_iter()
            .flatten()
            .filter(|&&i| {
                !seen[i]
                    && new[i]
                        .deps
                        .iter()
                        .all(|d| in_new.get(d).is_none_or(|&j| seen[j]))
            });
        match (candidates.next(), candidates.next()) {
            (Some(&only), None) => next = only,
            _ => return false,
        }
    }
    // Every change in the line, none left beside it.
    seen[next] = true;
    seen.iter().all(|s| *s)
}

/// Calls `found` with the path and values of every field holding more than one value.
fn walk(
    doc: &Automerge,
    obj: &ObjId,
    path: &mut Vec<String>,
    found: &mut impl FnMut(&[String], &[(Value<'_>, ObjId)], Option<&ObjId>),
) {
    let props: Vec<Prop> = match doc.object_type(obj) {
        Ok(ObjType::Map | ObjType::Table) => doc.keys(obj).map(Prop::Map).collect(),
        Ok(ObjType::List) => (0..doc.length(obj)).map(Prop::Seq).collect(),
        _ => return,
    };
    for prop in props {
        let all = doc.get_all(obj, prop.clone()).unwrap_or_default();
        path.push(prop_text(&prop));
        if all.len() > 1 {
            let winner = doc.get(obj, prop.clone()).ok().flatten().map(|(_, id)| id);
            found(path, &all, winner.as_ref());
        }
        if let Some((Value::Object(_), child)) = all.into_iter().next_back() {
            walk(doc, &child, path, found);
        }
        path.pop();
    }
}

fn value_text(value: &Value<'_>) -> String {
    match value {
        Value::Scalar(s) => scalar_text(s),
        Value::Object(t) => format!("({t})"),
    }
}

/// A scalar as people read it: a number in its shortest exact form (`12.4`, not
/// Automerge's 324 digits).
fn scalar_text(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Null => "null".into(),
        ScalarValue::F64(f) => format!("{f}"),
        other => other.to_string(),
    }
}

/// What a settlement may choose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Settlement {
    /// One of the competing values, as [`conflicts`] shows it.
    #[default]
    OneOfThem,
    /// A new value, replacing all of them (said so explicitly).
    New,
}

/// Settles the conflict at `field` (a dotted path from [`conflicts`]) on `value`, as a
/// new change that supersedes every competing value. The value takes the type of the
/// values it replaces. The caller validates the record afterwards.
pub fn settle(
    doc: &mut Automerge,
    field: &str,
    value: &str,
    settlement: Settlement,
    at_ms: u64,
) -> Result<(), RecordError> {
    let shape = RecordError::NotApplicable;
    let parts: Vec<&str> = field.split('.').collect();
    let (last, parents) = parts
        .split_last()
        .ok_or_else(|| shape("empty field".into()))?;
    let mut obj = ROOT;
    for part in parents {
        obj = match doc.get(&obj, *part)? {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => return Err(shape(format!("{field}: no such field"))),
        };
    }
    let all = doc.get_all(&obj, *last)?;
    if all.len() < 2 {
        return Err(shape(format!("{field} has no competing values")));
    }
    if all.iter().any(|(v, _)| matches!(v, Value::Object(_))) {
        return Err(shape(format!(
            "{field} holds competing objects, which cannot be settled here"
        )));
    }
    if settlement == Settlement::OneOfThem {
        // The very value chosen, as it is (its type included): not the text retyped.
        let chosen = all.iter().find_map(|(v, _)| match v {
            Value::Scalar(s) if same_value(s, value) => Some(s.as_ref().clone()),
            _ => None,
        });
        let Some(scalar) = chosen else {
            let competing: Vec<String> = all
                .iter()
                .map(|(v, _)| format!("{:?}", value_text(v)))
                .collect();
            return Err(shape(format!(
                "{field}: {value:?} is none of the competing values ({}): give one of them, \
                 or settle on a new value knowingly (--new)",
                competing.join(", ")
            )));
        };
        return put(doc, &obj, last, scalar, at_ms);
    }
    let scalar = match &all[all.len() - 1].0 {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(_) => ScalarValue::Str(value.into()),
            ScalarValue::F64(_) => ScalarValue::F64(
                value
                    .parse()
                    .map_err(|_| shape(format!("{field}: {value:?} is not a number")))?,
            ),
            ScalarValue::Int(_) => ScalarValue::Int(
                value
                    .parse()
                    .map_err(|_| shape(format!("{field}: {value:?} is not a whole number")))?,
            ),
            ScalarValue::Boolean(_) => ScalarValue::Boolean(
                value
                    .parse()
                    .map_err(|_| shape(format!("{field}: {value:?} is not true or false")))?,
            ),
            _ => {
                return Err(shape(format!(
                    "{field}: cannot settle a value of this type"
                )));
            }
        },
        Value::Object(_) => {
            return Err(shape(format!(
                "{field} holds competing objects; settle the fields inside it"
            )));
        }
    };
    put(doc, &obj, last, scalar, at_ms)
}

/// Writes `scalar` at `key` of `obj` as one change at `at_ms`.
fn put(
    doc: &mut Automerge,
    obj: &ObjId,
    key: &str,
    scalar: ScalarValue,
    at_ms: u64,
) -> Result<(), RecordError> {
    let obj_for_tx = obj.clone();
    doc.transact_with(
        |_| automerge::transaction::CommitOptions::default().with_time((at_ms / 1000) as i64),
        |tx| tx.put(&obj_for_tx, key, scalar.clone()),
    )
    .map_err(|f| RecordError::from(f.error))?;
    Ok(())
}

/// True when `typed` names `value`: its text as [`conflicts`] shows it, or, for a
/// number, the same number however written (`12.4`, `12.40`).
fn same_value(value: &ScalarValue, typed: &str) -> bool {
    if scalar_text(value) == typed {
        return true;
    }
    let number = match value {
        ScalarValue::F64(f) => Some(*f),
        ScalarValue::Int(i) => Some(*i as f64),
        ScalarValue::Uint(u) => Some(*u as f64),
        _ => None,
    };
    matches!((number, typed.trim().parse::<f64>()), (Some(a), Ok(b)) if a == b)
}
