//! A document file handed to `simpul doc import`: inflation bound, Automerge load,
//! validation, and the write over what is stored, which must keep every clinical fact.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_fuzz::node::{run, with_node};
use simpul_node::admin::Request;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    with_node(|node| {
        let before = node.store.load(node.patient.id).expect("readable");
        let request = Request::Import {
            document: hex::encode(data),
        };
        if run(&node.store, request).is_err() {
            let after = node.store.load(node.patient.id).expect("readable");
            let heads = |d: &Option<(_, simpul_model::automerge::Automerge)>| {
                d.as_ref().map(|(_, doc)| doc.get_heads())
            };
            assert_eq!(heads(&before), heads(&after), "a refused import changes nothing");
        }
    });
});
