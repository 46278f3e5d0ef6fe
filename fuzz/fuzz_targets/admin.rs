//! Lines on the admin socket: decoded as the node does, and carried out against a store
//! in memory. A bad request is an error that names what is wrong; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_fuzz::node::{run, touches_files, with_node};
use simpul_node::admin::Request;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Ok(request) = serde_json::from_slice::<Request>(data) else {
        return;
    };
    if touches_files(&request) {
        return;
    }
    with_node(|node| {
        let _ = run(&node.store, request);
    });
});
