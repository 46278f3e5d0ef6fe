//! The session's bytes on the wire: as the session writes them, or zstd-compressed each
//! way when both peers agreed on it during the handshake ([`simpul_net::ALPN_ZSTD`]).
//!
//! One compression context lives for the whole session, so field names and values that
//! repeat across records are sent about once; each batch of frames is flushed as a zstd
//! block, so nothing waits for more data.
//!
//! Most sessions carry little (a few visits, acknowledgements), and a district holds a
//! session per facility: level 3's match tables (768 KiB, zeroed at the stream's start)
//! were most of a connected peer's memory. A stream therefore starts as a frame with
//! small tables, and once it has carried [`FULL_TABLES_AFTER`] ends that frame and goes
//! on in one with level 3's own (a zstd stream may hold any number of frames). Once the
//! peers are in sync again the stream goes back to a small-table frame
//! ([`Deflate::rest`]), and the receiver renews its decoder after a frame of
//! [`FULL_TABLES_AFTER`] or more: an idle session holds neither side's large buffers.

use std::io::{self, Write};

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

/// zstd level 3: most of the gain, a few hundred MB/s per core.
const LEVEL: i32 = 3;

/// The largest window a peer's stream may ask the receiver to keep: 2^23 = 8 MiB (the
/// library's default limit is 128 MiB per session). Level 3 uses 2^21 at most.
const WINDOW_LOG_MAX: u32 = 23;

/// Flush a batch once this much is waiting, whatever else the session has to do.
pub(crate) const BATCH_BYTES: usize = 256 << 10;

/// The match tables of a stream's first frame: 2^12 entries each (16 KiB apiece), against
/// level 3's 2^17 and 2^16. Measured on W1 (10,000 records) with small tables throughout:
/// 10% more on the wire; for W2 and W3 the same bytes.
const SMALL_TABLES_LOG: u32 = 12;

/// Bytes (before compression) a stream carries in its small-table frame before it goes
/// on with level 3's full tables: more than a session of a few changed records sends,
/// a twentieth of a first sync of 10,000 records.
pub(crate) const FULL_TABLES_AFTER: usize = 1 << 20;

type Encoder = zstd::stream::write::Encoder<'static, Vec<u8>>;

/// A level 3 encoder, with small match tables when `small`.
fn encoder(small: bool) -> io::Result<Encoder> {
    let mut e = Encoder::new(Vec::new(), LEVEL)?;
    if small {
        e.set_parameter(zstd::stream::raw::CParameter::HashLog(SMALL_TABLES_LOG))?;
        e.set_parameter(zstd::stream::raw::CParameter::ChainLog(SMALL_TABLES_LOG))?;
    }
    Ok(e)
}

/// The sending side.
pub struct Deflate {
    encoder: Option<Encoder>,
    plain: Vec<u8>,
    /// Bytes pushed into the small-table frame; `None` once the stream has gone on with
    /// full tables.
    in_small_frame: Option<usize>,
}

impl Deflate {
    /// A compressing sender, or a plain one.
    pub fn new(compressed: bool) -> io::Result<Self> {
        let encoder = compressed.then(|| encoder(true)).transpose()?;
        Ok(Self {
            encoder,
            plain: Vec::new(),
            in_small_frame: Some(0),
        })
    }

    /// Adds a frame to the batch.
    pub fn push(&mut self, frame: &[u8]) -> io::Result<()> {
        match &mut self.encoder {
            Some(e) => {
                if let Some(n) = &mut self.in_small_frame {
                    *n += frame.len();
                }
                e.write_all(frame)
            }
            None => {
                self.plain.extend_from_slice(frame);
                Ok(())
            }
        }
    }

    /// Ends a full-table frame (whose context holds level 3's tables and a window of what
    /// was sent), so that what follows goes in a small-table one: for a session in sync
    /// again, with nothing waiting. Returns the bytes that end the frame (none for a
    /// small-table frame or a plain stream).
    pub fn rest(&mut self) -> io::Result<Vec<u8>> {
        match &mut self.encoder {
            Some(e) if self.in_small_frame.is_none() => {
                let small = encoder(true)?;
                self.in_small_frame = Some(0);
                std::mem::replace(e, small).finish()
            }
            _ => Ok(Vec::new()),
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
            Some(e) if self.in_small_frame.is_some_and(|n| n >= FULL_TABLES_AFTER) => {
                // End the small-table frame; what follows goes in a full-table one.
                let full = encoder(false)?;
                self.in_small_frame = None;
                std::mem::replace(e, full).finish()
            }
            Some(e) => {
                e.flush()?;
                Ok(std::mem::take(e.get_mut()))
            }
            None => Ok(std::mem::take(&mut self.plain)),
        }
    }
}

/// The most a decoder hands on at once: a buffer every compressed session holds (16 KiB,
/// not 64: a district holds a session per connected facility).
const OUT_BYTES: usize = 16 << 10;

/// A decoder that refuses windows over [`WINDOW_LOG_MAX`].
fn decoder() -> io::Result<Decoder<'static>> {
    let mut d = Decoder::new()?;
    d.set_parameter(zstd::stream::raw::DParameter::WindowLogMax(WINDOW_LOG_MAX))?;
    Ok(d)
}

/// The receiving side.
pub struct Inflate {
    decoder: Option<Decoder<'static>>,
    out: Vec<u8>,
    /// Bytes decoded from the current frame.
    in_frame: usize,
}

impl Inflate {
    /// A decompressing receiver, or a plain one.
    pub fn new(compressed: bool) -> io::Result<Self> {
        let decoder = compressed.then(decoder).transpose()?;
        Ok(Self {
            decoder,
            out: vec![0; OUT_BYTES],
            in_frame: 0,
        })
    }

    /// Passes the bytes `input` stands for to `sink`, at most [`OUT_BYTES`] at a time (a
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
            let frame_ended = decoder.run(&mut inb, &mut outb)? == 0;
            let produced = outb.pos();
            self.in_frame += produced;
            if frame_ended {
                // The window a large frame filled stays allocated in its decoder: a fresh
                // one for the next. (Not after every frame: a peer's stream of tiny frames
                // must not cost a decoder each.)
                if self.in_frame >= FULL_TABLES_AFTER {
                    *decoder = self::decoder()?;
                }
                self.in_frame = 0;
            }
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
    fn a_long_stream_goes_on_in_a_full_table_frame_and_arrives_whole() {
        const MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();
        let record = |i: usize| {
            format!(
                r#"{{"name":"Pasien {i}","village":"3273010001","nik":"{:016}"}}"#,
                i * 7919
            )
            .into_bytes()
        };
        let mut deflate = Deflate::new(true).expect("deflate");
        let mut inflate = Inflate::new(true).expect("inflate");
        let (mut sent, mut received, mut starts) = (Vec::new(), Vec::new(), Vec::new());
        // Batches of ~64 KiB: the stream passes FULL_TABLES_AFTER after 16 of them.
        for b in 0..24 {
            while sent.len() < (b + 1) * (64 << 10) {
                let r = record(sent.len());
                deflate.push(&r).expect("push");
                sent.extend_from_slice(&r);
            }
            let bytes = deflate.take().expect("take");
            starts.push(bytes.starts_with(&MAGIC));
            for piece in bytes.chunks(1000) {
                inflate
                    .feed(piece, &mut |b| received.extend_from_slice(b))
                    .expect("feed");
            }
        }
        assert_eq!(received, sent);
        assert!(deflate.in_small_frame.is_none(), "went on with full tables");
        // A new frame begins with the first batch and once more, after the switch.
        let frames: Vec<usize> = (0..starts.len()).filter(|&i| starts[i]).collect();
        assert_eq!(
            frames,
            vec![0, FULL_TABLES_AFTER / (64 << 10)],
            "{starts:?}"
        );

        // In sync again: the full-table frame ends, and what follows is a small one.
        let end = deflate.rest().expect("rest");
        assert!(!end.is_empty() && !end.starts_with(&MAGIC));
        assert_eq!(deflate.in_small_frame, Some(0));
        assert!(
            deflate.rest().expect("rest again").is_empty(),
            "already small"
        );
        let r = record(1);
        deflate.push(&r).expect("push");
        sent.extend_from_slice(&r);
        let next = deflate.take().expect("take");
        assert!(next.starts_with(&MAGIC), "a new frame");
        for piece in [end, next].concat().chunks(3) {
            inflate
                .feed(piece, &mut |b| received.extend_from_slice(b))
                .expect("feed");
        }
        assert_eq!(received, sent);
    }

    #[test]
    fn a_renewed_decoder_keeps_the_window_limit_and_tiny_frames_decode() {
        // A large frame (the decoder is renewed after it), then one asking for 128 MiB.
        let large = zstd::bulk::compress(&vec![1u8; FULL_TABLES_AFTER + 1], LEVEL).expect("zstd");
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), LEVEL).expect("encoder");
        encoder
            .set_parameter(zstd::stream::raw::CParameter::WindowLog(27))
            .expect("window");
        encoder.write_all(&[7u8; 1024]).expect("write");
        let asks_128_mib = encoder.finish().expect("finish");
        let mut inflate = Inflate::new(true).expect("inflate");
        let mut total = 0;
        inflate
            .feed(&large, &mut |b| total += b.len())
            .expect("large frame");
        assert_eq!(total, FULL_TABLES_AFTER + 1);
        let err = inflate
            .feed(&asks_128_mib, &mut |_| {})
            .expect_err("refused after renewal");
        assert!(err.to_string().contains("memory"), "{err}");

        // A peer's stream of tiny frames decodes, each in the same decoder.
        let tiny: Vec<u8> = (0..1000u32)
            .flat_map(|i| zstd::bulk::compress(&i.to_le_bytes(), LEVEL).expect("zstd"))
            .collect();
        let mut inflate = Inflate::new(true).expect("inflate");
        let mut received = Vec::new();
        inflate
            .feed(&tiny, &mut |b| received.extend_from_slice(b))
            .expect("tiny frames");
        let sent: Vec<u8> = (0..1000u32).flat_map(u32::to_le_bytes).collect();
        assert_eq!(received, sent);
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
        assert!(largest <= OUT_BYTES);
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
