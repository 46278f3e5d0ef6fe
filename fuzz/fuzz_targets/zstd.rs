//! A peer's compressed stream: the decoder's window is bounded, output comes in bounded
//! pieces, and malformed input is an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_node::codec::Inflate;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut inflate = Inflate::new(true).expect("decoder");
    let mut total = 0usize;
    for chunk in bytes.chunks(usize::from(cut).max(1)) {
        let mut sink = |piece: &[u8]| {
            assert!(piece.len() <= 16 << 10, "pieces are at most 16 KiB");
            total += piece.len();
        };
        if inflate.feed(chunk, &mut sink).is_err() {
            return;
        }
        // Nothing here stops a stream that inflates without end; the session's frame
        // limits do, and the fuzzer's memory limit shows if the decoder does not.
        if total > 1 << 30 {
            return;
        }
    }
});
