//! Bundle files, insides and signed bodies, applied to a pustu's store
//! (`simpul_fuzz::bundle`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    simpul_fuzz::bundle::apply(data);
});
