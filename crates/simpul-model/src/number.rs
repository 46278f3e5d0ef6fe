//! Numbers as other Automerge implementations write them.
//!
//! JavaScript writes `12` as an integer and `12.5` as a float; a measurement field accepts
//! both so that a record made elsewhere imports. Whole numbers are written as signed
//! integers, which every implementation reads as a plain number (JavaScript reads
//! unsigned ones as `BigInt`), and read from either kind.

use automerge::{ObjId, ScalarValue, Value};
use autosurgeon::{HydrateError, Prop, ReadDoc};

/// An optional number from a value read in a map pass ([`automerge::ValueRef`]).
pub(crate) fn opt_f64_of(value: &automerge::ValueRef<'_>) -> Result<Option<f64>, HydrateError> {
    use automerge::ScalarValueRef as S;
    match value {
        automerge::ValueRef::Scalar(S::Null) => Ok(None),
        automerge::ValueRef::Scalar(S::F64(f)) => Ok(Some(*f)),
        automerge::ValueRef::Scalar(S::Int(i)) => Ok(Some(*i as f64)),
        automerge::ValueRef::Scalar(S::Uint(u)) => Ok(Some(*u as f64)),
        automerge::ValueRef::Scalar(other) => {
            Err(HydrateError::unexpected("a number", format!("{other}")))
        }
        automerge::ValueRef::Object(_) => {
            Err(HydrateError::unexpected("a number", "an object".into()))
        }
    }
}

/// A flag read in a map pass; null reads as `false`.
pub(crate) fn bool_of(value: &automerge::ValueRef<'_>) -> Result<bool, HydrateError> {
    use automerge::ScalarValueRef as S;
    match value {
        automerge::ValueRef::Scalar(S::Null) => Ok(false),
        automerge::ValueRef::Scalar(S::Boolean(b)) => Ok(*b),
        automerge::ValueRef::Scalar(other) => Err(HydrateError::unexpected(
            "true or false",
            format!("{other}"),
        )),
        automerge::ValueRef::Object(_) => Err(HydrateError::unexpected(
            "true or false",
            "an object".into(),
        )),
    }
}

fn scalar<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: &Prop<'_>,
) -> Result<Option<ScalarValue>, HydrateError> {
    let value = match prop {
        Prop::Key(key) => doc.get(obj, key.as_ref())?,
        Prop::Index(i) => doc.get(obj, *i as usize)?,
    };
    match value {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => Ok(Some(s.into_owned())),
        Some((Value::Object(_), _)) => {
            Err(HydrateError::unexpected("a number", "an object".into()))
        }
    }
}

fn whole(value: &ScalarValue, max: u64) -> Result<Option<u64>, HydrateError> {
    let n = match value {
        ScalarValue::Null => return Ok(None),
        ScalarValue::Uint(u) => *u,
        ScalarValue::Int(i) if *i >= 0 => *i as u64,
        ScalarValue::F64(f) if f.fract() == 0.0 && *f >= 0.0 && *f <= max as f64 => *f as u64,
        other => {
            return Err(HydrateError::unexpected(
                "a whole number",
                format!("{other}"),
            ));
        }
    };
    if n > max {
        return Err(HydrateError::unexpected("a smaller number", n.to_string()));
    }
    Ok(Some(n))
}

/// Hydrates an optional whole number stored as an unsigned or non-negative signed integer.
pub(crate) fn hydrate_opt_u32<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<u32>, HydrateError> {
    match scalar(doc, obj, &prop)? {
        None => Ok(None),
        Some(v) => Ok(whole(&v, u64::from(u32::MAX))?.map(|n| n as u32)),
    }
}

/// Hydrates a required whole number (`u32`).
pub(crate) fn hydrate_u32<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<u32, HydrateError> {
    hydrate_opt_u32(doc, obj, prop)?
        .ok_or_else(|| HydrateError::unexpected("a whole number", "nothing".into()))
}

/// Hydrates a required whole number (`u64`).
pub(crate) fn hydrate_u64<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<u64, HydrateError> {
    let v = scalar(doc, obj, &prop)?
        .ok_or_else(|| HydrateError::unexpected("a whole number", "nothing".into()))?;
    whole(&v, u64::MAX)?.ok_or_else(|| HydrateError::unexpected("a whole number", "null".into()))
}

/// Writes a `u32` as a signed integer.
pub(crate) fn reconcile_u32<R: autosurgeon::Reconciler>(v: &u32, mut r: R) -> Result<(), R::Error> {
    r.i64(i64::from(*v))
}

/// Writes an optional `u32` as a signed integer or null.
pub(crate) fn reconcile_opt_u32<R: autosurgeon::Reconciler>(
    v: &Option<u32>,
    mut r: R,
) -> Result<(), R::Error> {
    match v {
        Some(n) => r.i64(i64::from(*n)),
        None => r.none(),
    }
}

/// Writes a `u64` as a signed integer (values stored here, such as Unix milliseconds,
/// are far below `i64::MAX`).
pub(crate) fn reconcile_u64<R: autosurgeon::Reconciler>(v: &u64, mut r: R) -> Result<(), R::Error> {
    r.i64(i64::try_from(*v).unwrap_or(i64::MAX))
}
