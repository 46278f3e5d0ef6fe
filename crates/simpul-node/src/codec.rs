//! The session's bytes on the wire: as the session writes them, or zstd-compressed each
//! way when both peers agreed on it during the handshake ([`simpul_net::ALPN_ZSTD`]).
//!
//! One compression context lives for the whole session, so field names and values that
//! repeat across records are sent about once; each batch of frames is flushed as a zstd
//! block, so nothing waits for more data.

use std::io::{self, Write};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

/// zstd level 3: most of the gain, a few hundred MB/s per core.
const LEVEL: i32 = 3;

/// The largest window a peer's stream may ask the receiver to keep: 2^23 = 8 MiB (the
/// library's default limit is 128 MiB per session). Level 3 uses 2^21 at most.
const WINDOW_LOG_MAX: u32 = 23;

/// Flush a batch once this much is waiting, whatever else the session has to do.
pub(crate) const BATCH_BYTES: usize = 256 << 10;

/// The sending side.
pub struct Deflate {
    encoder: Option<zstd::stream::write::Encoder<'static, Vec<u8>>>,
    plain: Vec<u8>,
}

impl Deflate {
    /// A compressing sender, or a plain one.
    pub fn new(compressed: bool) -> io::Result<Self> {
        let encoder = compressed
            .then(|| zstd::stream::write::Encoder::new(Vec::new(), LEVEL))
            .transpose()?;
        Ok(Self {
            encoder,
            plain: Vec::new(),
        })
    }

    /// Adds a frame to the batch.
    pub fn push(&mut self, frame: &[u8]) -> io::Result<()> {
        match &mut self.encoder {
            Some(e) => e.write_all(frame),
            None => {
                self.plain.extend_from_slice(frame);
                Ok(())
            }
        }
    }

    /// Bytes pushed and not yet taken (before compression).
    pub fn waiting(&self) -> usize {
        match &self.encoder {
            // The encoder buffers internally; its output so far is a lower bound.
            Some(e) => e.get_ref().len(),
            None => self.plain.len(),
        }
    }

    /// Ends the batch: the bytes to send for everything pushed since the last call.
    pub fn take(&mut self) -> io::Result<Vec<u8>> {
        match &mut self.encoder {
            Some(e) => {
                e.flush()?;
                Ok(std::mem::take(e.get_mut()))
            }
            None => Ok(std::mem::take(&mut self.plain)),
        }
    }
}

/// The receiving side.
pub struct Inflate {
    decoder: Option<Decoder<'static>>,
    out: Vec<u8>,
}

impl Inflate {
    /// A decompressing receiver, or a plain one.
    pub fn new(compressed: bool) -> io::Result<Self> {
        let decoder = match compressed {
            true => {
                let mut d = Decoder::new()?;
                d.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(WINDOW_LOG_MAX))?;
                Some(d)
            }
            false => None,
        };
        Ok(Self {
            decoder,
            out: vec![0; 64 << 10],
        })
    }

    /// Passes the bytes `input` stands for to `sink`, at most 64 KiB at a time (a
    /// peer's small input that inflates hugely reaches the session's frame limits in
    /// pieces, never as one allocation). Malformed compressed input is an error.
    pub fn feed(&mut self, input: &[u8], sink: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        let Some(decoder) = &mut self.decoder else {
            sink(input);
            return Ok(());
        };
        let mut inb = InBuffer::around(input);
        loop {
            let mut outb = OutBuffer::around(&mut self.out[..]);
            decoder.run(&mut inb, &mut outb)?;
            let produced = outb.pos();
            if produced > 0 {
                sink(&self.out[..produced]);
            }
            // Done once every input byte is consumed and the output did not fill up
            // (a full buffer may mean more is waiting inside the decoder).
            if inb.pos() == input.len() && produced < self.out.len() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(compressed: bool, batches: &[Vec<Vec<u8>>]) -> (Vec<u8>, usize) {
        let mut deflate = Deflate::new(compressed).expect("deflate");
        let mut inflate = Inflate::new(compressed).expect("inflate");
        let (mut received, mut wire) = (Vec::new(), 0);
        for batch in batches {
            for frame in batch {
                deflate.push(frame).expect("push");
            }
            let bytes = deflate.take().expect("take");
            wire += bytes.len();
            // Arrives in arbitrary pieces.
            for piece in bytes.chunks(7) {
                inflate
                    .feed(piece, &mut |b| received.extend_from_slice(b))
                    .expect("feed");
            }
        }
        (received, wire)
    }

    #[test]
    fn batches_arrive_whole_and_in_order_and_repetitive_records_shrink() {
        let record = |i: usize| {
            format!(r#"{{"name":"Pasien {i}","village":"3273010001","sex":"F","visits":{{}}}}"#)
                .into_bytes()
        };
        let batches: Vec<Vec<Vec<u8>>> = (0..20)
            .map(|b| (0..50).map(|i| record(b * 50 + i)).collect())
            .collect();
        let sent: Vec<u8> = batches.iter().flatten().flatten().copied().collect();
        let (plain, plain_wire) = round_trip(false, &batches);
        let (inflated, zstd_wire) = round_trip(true, &batches);
        assert_eq!(plain, sent);
        assert_eq!(inflated, sent);
        assert_eq!(plain_wire, sent.len());
        assert!(zstd_wire * 4 < sent.len(), "{zstd_wire} of {}", sent.len());
    }

    #[test]
    fn garbage_is_an_error_and_a_bomb_arrives_in_pieces() {
        let mut inflate = Inflate::new(true).expect("inflate");
        assert!(inflate.feed(b"definitely not zstd", &mut |_| {}).is_err());

        let zeros = vec![0u8; 8 << 20];
        let bomb = zstd::bulk::compress(&zeros, 19).expect("compress");
        assert!(bomb.len() < 4096);
        let mut inflate = Inflate::new(true).expect("inflate");
        let (mut largest, mut total) = (0, 0);
        inflate
            .feed(&bomb, &mut |b| {
                largest = largest.max(b.len());
                total += b.len();
            })
            .expect("feed");
        assert_eq!(total, zeros.len());
        assert!(largest <= 64 << 10);
    }

    #[test]
    fn a_stream_asking_for_a_window_larger_than_the_limit_is_refused() {
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), LEVEL).expect("encoder");
        encoder
            .set_parameter(zstd::stream::raw::CParameter::WindowLog(27))
            .expect("window");
        encoder.write_all(&[7u8; 1024]).expect("write");
        encoder.flush().expect("flush");
        let asks_128_mib = std::mem::take(encoder.get_mut());
        let mut inflate = Inflate::new(true).expect("inflate");
        let err = inflate
            .feed(&asks_128_mib, &mut |_| {})
            .expect_err("refused");
        assert!(err.to_string().contains("memory"), "{err}");
        // What this node's own sender writes is within it.
        let (received, _) = round_trip(true, &[vec![vec![7u8; 20 << 20]]]);
        assert_eq!(received.len(), 20 << 20);
    }
}
