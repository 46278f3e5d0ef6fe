//! Numbers as other Automerge implementations write them.
//!
//! JavaScript writes `12` as an integer and `12.5` as a float; a measurement field accepts
//! both so that a record made elsewhere imports.

use automerge::{ObjId, ScalarValue, Value};
use autosurgeon::{HydrateError, Prop, ReadDoc};

/// Hydrates an optional number stored as a float, a signed or an unsigned integer.
pub(crate) fn hydrate_opt_f64<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    prop: Prop<'_>,
) -> Result<Option<f64>, HydrateError> {
    let value = match prop {
        Prop::Key(key) => doc.get(obj, key.as_ref())?,
        Prop::Index(i) => doc.get(obj, i as usize)?,
    };
    match value {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Null => Ok(None),
            ScalarValue::F64(f) => Ok(Some(*f)),
            ScalarValue::Int(i) => Ok(Some(*i as f64)),
            ScalarValue::Uint(u) => Ok(Some(*u as f64)),
            other => Err(HydrateError::unexpected("a number", format!("{other}"))),
        },
        Some((Value::Object(_), _)) => {
            Err(HydrateError::unexpected("a number", "an object".into()))
        }
    }
}
