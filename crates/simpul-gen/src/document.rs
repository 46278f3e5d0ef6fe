//! A generated history as an Automerge document: one change per step, each by the
//! actor of the facility that wrote it, at the step's time.

use std::collections::BTreeMap;

use simpul_model::automerge::{ActorId, Automerge, ChangeHash};
use simpul_model::{Date, FacilityPath, Record, RecordError};

use crate::Step;

/// A history written out.
#[derive(Debug)]
pub struct Written {
    /// The document.
    pub doc: Automerge,
    /// The record as it stands after the last step.
    pub record: Record,
    /// Each author's last change: what its seal must cover.
    pub last_change_of: BTreeMap<FacilityPath, ChangeHash>,
}

/// Writes `steps` (oldest first) as one change each, by `actor_of(author)`, validated
/// as a writer validates on `today`. `None` for an empty history.
pub fn write_history(
    steps: Vec<Step>,
    today: Date,
    mut actor_of: impl FnMut(&FacilityPath) -> ActorId,
) -> Result<Option<Written>, RecordError> {
    let mut written: Option<Written> = None;
    for step in steps {
        let actor = actor_of(&step.author);
        let change = match &mut written {
            Some(w) => {
                w.doc.set_actor(actor);
                step.record
                    .write_over(&w.record, &mut w.doc, today, step.at_ms)?
            }
            None => {
                let doc = step.record.create_document(actor, today, step.at_ms)?;
                let head = doc.get_heads().into_iter().next();
                written = Some(Written {
                    doc,
                    record: step.record.clone(),
                    last_change_of: BTreeMap::new(),
                });
                head
            }
        };
        if let Some(w) = &mut written {
            if let Some(hash) = change {
                w.last_change_of.insert(step.author.clone(), hash);
            }
            w.record = step.record;
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Generator;

    #[test]
    fn a_written_history_is_one_line() {
        let node = FacilityPath::parse("3273/P3273010201").expect("path");
        let today = Date::from_ymd(2026, 10, 31).expect("date");
        let g = Generator::new(3, &node, 300, today);
        for i in 0..300 {
            let written = write_history(g.history(i), today, |f| {
                simpul_model::automerge::ActorId::from(format!("{f}#00").into_bytes())
            })
            .expect("valid")
            .expect("not empty");
            let all = written.doc.get_changes_meta(&[]);
            assert!(
                simpul_model::history::extends_in_line(&[], &all),
                "patient {i}: written by turns, one line"
            );
        }
    }
}
