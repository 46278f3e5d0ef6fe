//! Reading a whole record out of its document in one pass per object.
//!
//! autosurgeon hydrates a struct by looking up each field with `get`, and each lookup
//! in Automerge 0.12 seeks through the object's operations: a patient with a year of
//! visits costs hundreds of seeks (~380 µs, twice the cost of loading the document).
//! [`OnePass`] answers `get` on a map from the object's entries, read once with
//! `map_range` (the same winning values `get` returns), and passes every other read
//! through to the document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::RangeBounds;

use automerge::{self as am, Automerge, AutomergeError, ObjId, ObjType, Prop, ReadDoc, Value};

/// One map's entries: key → (current value, its id).
type Entries = HashMap<String, (Value<'static>, ObjId)>;

/// A read-only view of a document for hydrating whole records ([`crate::Record::from_document`]).
pub(crate) struct OnePass<'a> {
    doc: &'a Automerge,
    maps: RefCell<HashMap<ObjId, Entries>>,
}

impl<'a> OnePass<'a> {
    /// A view of `doc`.
    pub(crate) fn new(doc: &'a Automerge) -> Self {
        Self {
            doc,
            maps: RefCell::new(HashMap::new()),
        }
    }

    /// The current value at `key` of `obj`, from its entries read in one pass, if `obj`
    /// is a map (`None` otherwise: the document answers).
    fn map_get(&self, obj: &ObjId, key: &str) -> Option<Option<(Value<'static>, ObjId)>> {
        let mut maps = self.maps.borrow_mut();
        if let Some(entries) = maps.get(obj) {
            return Some(entries.get(key).cloned());
        }
        if !matches!(ReadDoc::object_type(self.doc, obj), Ok(ObjType::Map)) {
            return None;
        }
        let entries: Entries = ReadDoc::map_range(self.doc, obj, ..)
            .map(|item| {
                let id = item.id();
                (item.key.to_string(), (item.value.into_value(), id))
            })
            .collect();
        let value = entries.get(key).cloned();
        maps.insert(obj.clone(), entries);
        Some(value)
    }
}

impl autosurgeon::ReadDoc for OnePass<'_> {
    type Parents<'b>
        = am::Parents<'b>
    where
        Self: 'b;

    fn get_heads(&self) -> Vec<am::ChangeHash> {
        self.doc.get_heads()
    }

    fn get<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        let prop = prop.into();
        if let Prop::Map(key) = &prop
            && let Some(value) = self.map_get(obj, key)
        {
            return Ok(value);
        }
        ReadDoc::get(self.doc, obj, prop)
    }

    fn object_type<O: AsRef<ObjId>>(&self, obj: O) -> Option<ObjType> {
        ReadDoc::object_type(self.doc, obj).ok()
    }

    fn map_range<'b, O, R>(&'b self, obj: O, range: R) -> am::iter::MapRange<'b>
    where
        R: RangeBounds<String> + 'b,
        O: AsRef<ObjId>,
        R: RangeBounds<String>,
    {
        ReadDoc::map_range(self.doc, obj, range)
    }

    fn list_range<O: AsRef<ObjId>, R: RangeBounds<usize>>(
        &self,
        obj: O,
        range: R,
    ) -> am::iter::ListRange<'_> {
        ReadDoc::list_range(self.doc, obj, range)
    }

    fn length<O: AsRef<ObjId>>(&self, obj: O) -> usize {
        ReadDoc::length(self.doc, obj)
    }

    fn text<O: AsRef<ObjId>>(&self, obj: O) -> Result<String, AutomergeError> {
        ReadDoc::text(self.doc, obj)
    }

    fn parents<O: AsRef<ObjId>>(&self, obj: O) -> Result<Self::Parents<'_>, AutomergeError> {
        ReadDoc::parents(self.doc, obj)
    }

    fn is_empty(&self) -> bool {
        ReadDoc::keys(self.doc, am::ROOT).next().is_none()
    }
}
