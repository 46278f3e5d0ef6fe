//! `Record::from_document` reads each object in one pass instead of one lookup per field;
//! on realistic records, edited and merged with conflicting concurrent edits, it reads
//! exactly what field-by-field hydration reads.

use simpul_gen::Generator;
use simpul_model::automerge::{Automerge, ROOT};
use simpul_model::{Date, FacilityPath, Record, RecordBody, node_actor};

fn field_by_field(doc: &Automerge) -> Record {
    let envelope = Record::envelope(doc).expect("envelope");
    let body = match envelope.kind {
        simpul_model::RecordKind::Patient => {
            RecordBody::Patient(autosurgeon::hydrate_prop(doc, ROOT, "patient").expect("patient"))
        }
        simpul_model::RecordKind::Activity => RecordBody::Activity(
            autosurgeon::hydrate_prop(doc, ROOT, "activity").expect("activity"),
        ),
        simpul_model::RecordKind::Audit => {
            RecordBody::Audit(autosurgeon::hydrate_prop(doc, ROOT, "audit").expect("audit"))
        }
        simpul_model::RecordKind::Facility => RecordBody::Facility(
            autosurgeon::hydrate_prop(doc, ROOT, "facility").expect("facility"),
        ),
        simpul_model::RecordKind::Submission => RecordBody::Submission(
            autosurgeon::hydrate_prop(doc, ROOT, "submission").expect("submission"),
        ),
    };
    Record {
        id: envelope.id,
        scope: envelope.scope,
        body,
    }
}

#[test]
fn one_pass_reads_what_field_by_field_hydration_reads() {
    let node =
        FacilityPath::parse("3273/P3273010201/3273010201-PU1/3273010201-PY01").expect("path");
    let today = Date::parse("2026-10-31").expect("date");
    let generator = Generator::new(11, &node, 300, today);
    let mut docs = Vec::new();
    let mut ids = Vec::new();
    for i in 0..300 {
        let record = generator.patient(i);
        ids.push(record.id);
        let doc = record
            .create_document(node_actor(&node, [1; 4]), today, 1)
            .expect("doc");
        docs.push((record, doc));
    }
    for months_back in 0..3 {
        let record = generator.hari_buka(0, months_back, &ids[..40]);
        let doc = record
            .create_document(node_actor(&node, [1; 4]), today, 1)
            .expect("doc");
        docs.push((record, doc));
    }
    // Two nodes change the same fields of some patients concurrently: the merged
    // documents hold conflicts, and both readings must pick the same winner.
    let mut conflicted = 0;
    for (record, doc) in docs.iter_mut().take(60) {
        let RecordBody::Patient(p) = &record.body else {
            continue;
        };
        let mut left = doc.fork().with_actor(node_actor(&node, [2; 4]));
        let mut right = doc.fork().with_actor(node_actor(&node, [3; 4]));
        for (side, name) in [(&mut left, "Kiri"), (&mut right, "Kanan")] {
            let mut edited = record.clone();
            if let RecordBody::Patient(q) = &mut edited.body {
                q.name = format!("{} {name}", p.name);
                q.address.rt = Some(format!("{:03}", name.len()));
            }
            edited.write_into(side, today, 2).expect("edit");
        }
        left.merge(&mut right).expect("merge");
        doc.merge(&mut left).expect("merge");
        conflicted += 1;
    }
    assert_eq!(conflicted, 60);
    for (_, doc) in &docs {
        let fast = Record::from_document(doc).expect("one pass");
        assert_eq!(fast, field_by_field(doc));
    }
}
