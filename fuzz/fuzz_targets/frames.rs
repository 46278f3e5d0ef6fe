//! Frames and messages as they arrive from a peer, in any pieces: every frame either
//! decodes into a message that encodes back to the same bytes, or is an error, and the
//! reader never holds more than one frame's worth beyond what it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simpul_sync::{FrameReader, Message};

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut reader = FrameReader::new(1 << 16);
    for chunk in bytes.chunks(usize::from(cut).max(1)) {
        reader.push(chunk);
        loop {
            match reader.next_message() {
                Ok(Some(message)) => {
                    let frame = message.encode();
                    let again = Message::decode(&frame[4..], u32::MAX)
                        .expect("an encoded message decodes");
                    assert_eq!(again, message, "a message survives encode and decode");
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});
