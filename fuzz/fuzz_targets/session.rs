//! A peer's bytes after its hello, through the pustu's whole session: messages,
//! Negentropy, Automerge loads, admission and merges. The session must never panic or
//! hang, send a frame that does not decode, or store a record outside its scope.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| simpul_fuzz::session::run(data));
