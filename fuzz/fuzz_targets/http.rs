//! Requests to the data API with a valid bidan token: any path parameter, query and
//! body gets an answer below 500, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_fuzz::http::answer;
use simpul_fuzz::node::with_node;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Some((&route, rest)) = data.split_first() else {
        return;
    };
    with_node(|node| {
        if let Some(status) = answer(node, route, rest) {
            assert!(status < 500, "the API answered {status} to a request from outside");
        }
    });
});
