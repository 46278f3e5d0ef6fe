//! A bound on what Automerge bytes from outside inflate to, checked before Automerge
//! parses them.
//!
//! Automerge inflates DEFLATE-compressed columns (in document and bundle chunks) and
//! compressed change chunks eagerly, without a limit, before it checks anything else
//! (automerge 0.12: `storage/chunk.rs`, `storage/columns/raw_column.rs`): a 4 MiB frame
//! could become gigabytes. Nothing in the format declares an uncompressed size, so
//! [`check`] walks the chunks and inflates every compressed part into a sink with a cap,
//! counting against one budget for the whole input, and refuses input it cannot parse
//! whole. DEFLATE expands at most ~1032:1, so input small enough that even that stays
//! within the budget is passed without the walk.
//!
//! Chunk layout (automerge binary format; `85 6f 4a 83` magic):
//!
//! ```text
//! chunk    = magic (4) | checksum (4) | type (1) | uLEB length | body
//! type 0   = document: actors | heads | change column metadata | op column metadata
//!            | change column data | op column data | heads index
//! type 1   = change (columns never compressed: Automerge refuses deflated ones)
//! type 2   = compressed change: the body is raw DEFLATE of a change body
//! type 3   = bundle (refused: see [`check`]): deps | actors | change metadata | ...
//! metadata = uLEB count | count x (uLEB column spec, uLEB data length)
//! ```
//!
//! A column spec with bit `0x08` set has deflated data. Columns are also run-length
//! encoded after inflation; op counts are bounded where records are read, not here.

use std::io::Read;

/// Most bytes one input (a record, a batch of changes, an imported file) may inflate to:
/// eight frames' worth. Automerge holds about three times this while it parses.
pub const MAX_INFLATED: u64 = 32 << 20;

/// Most a DEFLATE stream expands (zlib's documented limit is 1032:1).
const DEFLATE_RATIO: u64 = 1032;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DEFLATE_BIT: u64 = 0x08;
/// The chunk type of a bundle.
const BUNDLE: u8 = 3;

/// Why bytes were refused before Automerge read them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InflationError {
    /// The compressed parts inflate to more than the budget.
    #[error("compressed parts inflate to more than {budget} bytes")]
    TooLarge {
        /// The budget.
        budget: u64,
    },
    /// The bytes are not Automerge chunks, or a compressed part does not inflate.
    #[error("not Automerge data: {0}")]
    Malformed(String),
}

/// Checks that `bytes` (saved documents and changes, concatenated) inflate to at most
/// `budget` bytes in all. Bundle chunks are refused whatever their size: nodes never
/// send them (`save` makes a document chunk, `save_after` change chunks), and Automerge
/// expands a bundle's run-length columns into memory without a limit (a fuzzer's
/// 243-byte bundle took 7 GB in three seconds: `fuzz/regressions/record`).
pub fn check(bytes: &[u8], budget: u64) -> Result<(), InflationError> {
    if (bytes.len() as u64).saturating_mul(DEFLATE_RATIO) <= budget {
        // Nothing here can inflate past the budget: the chunk headers are enough.
        return each_chunk(bytes, |_, _| Ok(()));
    }
    let mut left = budget;
    each_chunk(bytes, |kind, mut body| {
        match kind {
            0 => {
                body.actors()?;
                body.hashes()?;
                let changes = body.metadata()?;
                let ops = body.metadata()?;
                body.columns(&changes, &mut left, budget)?;
                body.columns(&ops, &mut left, budget)?;
            }
            2 => inflate(body.0, &mut left, budget)?,
            _ => {}
        }
        Ok(())
    })
}

/// Walks the chunks, handing each document (0), change (1) or compressed change (2) to
/// `f` with its body; a bundle, an unknown type or a chunk that does not parse is an
/// error.
fn each_chunk(
    bytes: &[u8],
    mut f: impl FnMut(u8, Cursor<'_>) -> Result<(), InflationError>,
) -> Result<(), InflationError> {
    let mut input = Cursor(bytes);
    while !input.0.is_empty() {
        if input.take(4)? != MAGIC {
            return Err(malformed("a chunk does not start with the magic bytes"));
        }
        input.take(4)?; // checksum: Automerge checks it after inflating
        let kind = input.take(1)?[0];
        let len = input.uleb()?;
        let body = Cursor(input.take_u64(len)?);
        match kind {
            0..=2 => f(kind, body)?,
            BUNDLE => {
                return Err(malformed(
                    "bundle chunks are not accepted (nodes send documents and changes)",
                ));
            }
            other => return Err(malformed(&format!("unknown chunk type {other}"))),
        }
    }
    Ok(())
}

fn malformed(what: &str) -> InflationError {
    InflationError::Malformed(what.to_string())
}

/// Inflates `data` into nothing, counting against `left`.
fn inflate(data: &[u8], left: &mut u64, budget: u64) -> Result<(), InflationError> {
    let mut decoder = flate2::bufread::DeflateDecoder::new(data).take(*left + 1);
    let n = std::io::copy(&mut decoder, &mut std::io::sink())
        .map_err(|e| malformed(&format!("a compressed part does not inflate: {e}")))?;
    if n > *left {
        return Err(InflationError::TooLarge { budget });
    }
    *left -= n;
    Ok(())
}

/// The unread rest of a byte string.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], InflationError> {
        if self.0.len() < n {
            return Err(malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn take_u64(&mut self, n: u64) -> Result<&'a [u8], InflationError> {
        self.take(usize::try_from(n).map_err(|_| malformed("length overflows"))?)
    }

    /// An unsigned LEB128 of at most 64 bits, in its shortest form.
    fn uleb(&mut self) -> Result<u64, InflationError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.take(1)?[0];
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(malformed("a number overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(malformed("a number is not in its shortest form"));
                }
                return Ok(value);
            }
        }
        Err(malformed("a number overflows 64 bits"))
    }

    /// A count, then that many length-prefixed actor ids.
    fn actors(&mut self) -> Result<(), InflationError> {
        for _ in 0..self.uleb()? {
            let len = self.uleb()?;
            self.take_u64(len)?;
        }
        Ok(())
    }

    /// A count, then that many 32-byte hashes.
    fn hashes(&mut self) -> Result<(), InflationError> {
        let n = self.uleb()?;
        self.take_u64(
            n.checked_mul(32)
                .ok_or_else(|| malformed("too many hashes"))?,
        )?;
        Ok(())
    }

    /// Column metadata: (spec, data length) pairs.
    fn metadata(&mut self) -> Result<Vec<(u64, u64)>, InflationError> {
        let n = self.uleb()?;
        // Each pair takes at least two bytes: a count beyond that is a lie.
        if n > self.0.len() as u64 / 2 {
            return Err(malformed("more columns than bytes"));
        }
        (0..n).map(|_| Ok((self.uleb()?, self.uleb()?))).collect()
    }

    /// The data of `columns`, in order, inflating the deflated ones.
    fn columns(
        &mut self,
        columns: &[(u64, u64)],
        left: &mut u64,
        budget: u64,
    ) -> Result<(), InflationError> {
        for &(spec, len) in columns {
            let data = self.take_u64(len)?;
            if spec & DEFLATE_BIT != 0 {
                inflate(data, left, budget)?;
            }
        }
        Ok(())
    }
}

/// Inputs for tests of the bound.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use std::io::Write;

    /// A compressed change chunk (type 2) whose DEFLATE body inflates to `n` zero bytes:
    /// about `n / 1000` bytes on the wire or on disk.
    pub fn inflation_bomb(n: usize) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; n])
            .unwrap_or_else(|e| unreachable!("writing to memory: {e}"));
        let body = e
            .finish()
            .unwrap_or_else(|e| unreachable!("writing to memory: {e}"));
        super::chunk(2, &body)
    }
}

/// A chunk of `kind` around `body` (its checksum left zero: [`check`] does not read it).
#[cfg(any(test, feature = "testing"))]
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[0; 4]);
    out.push(kind);
    push_uleb(&mut out, body.len() as u64);
    out.extend_from_slice(body);
    out
}

#[cfg(any(test, feature = "testing"))]
fn push_uleb(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};
    use std::io::Write;

    /// A document with a long text (its columns are deflated when saved).
    fn document() -> Automerge {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        for i in 0..400 {
            tx.put(ROOT, format!("field {i}"), format!("value {}", i % 7))
                .expect("put");
        }
        tx.commit();
        doc
    }

    fn deflated(n: usize) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; n]).expect("deflate");
        e.finish().expect("deflate")
    }

    #[test]
    fn real_documents_and_changes_pass_within_what_they_inflate_to() {
        let doc = document();
        let saved = doc.save();
        check(&saved, MAX_INFLATED).expect("a saved document passes");
        // Its long columns are deflated: the walk finds and counts them.
        assert_eq!(
            check(&saved, 1),
            Err(InflationError::TooLarge { budget: 1 })
        );
        let mut changes = Vec::new();
        for change in doc.get_changes(&[]) {
            changes.extend_from_slice(change.raw_bytes());
            changes.extend_from_slice(change.clone().bytes().as_ref());
        }
        check(&changes, MAX_INFLATED).expect("changes pass");
        check(&[saved.clone(), changes].concat(), MAX_INFLATED).expect("both pass");
    }

    #[test]
    fn a_compressed_change_that_inflates_past_the_budget_is_refused() {
        let bomb = testing::inflation_bomb(8 << 20);
        assert!(bomb.len() < 16 << 10);
        assert_eq!(
            check(&bomb, 1 << 20),
            Err(InflationError::TooLarge { budget: 1 << 20 })
        );
        assert!(check(&bomb, 16 << 20).is_ok());
    }

    #[test]
    fn a_document_column_that_inflates_past_the_budget_is_refused() {
        let column = deflated(8 << 20);
        let mut body = vec![0, 0]; // no actors, no heads
        // Change columns: one, deflated (spec id 1, deflate bit, type 0); no op columns.
        body.extend_from_slice(&[1, 0x18]);
        push_uleb(&mut body, column.len() as u64);
        body.push(0);
        body.extend_from_slice(&column);
        let bomb = chunk(0, &body);
        assert_eq!(
            check(&bomb, 1 << 20),
            Err(InflationError::TooLarge { budget: 1 << 20 })
        );
        // The same bytes, declared uncompressed, inflate nothing.
        let plain = chunk(0, &[&[0, 0, 1, 0x10][..], &body[4..]].concat());
        assert!(check(&plain, 1 << 20).is_ok());
    }

    #[test]
    fn what_does_not_parse_whole_is_refused() {
        let saved = document().save();
        assert!(matches!(
            check(&saved[..saved.len() - 1], 1),
            Err(InflationError::Malformed(_))
        ));
        let mut other = saved.clone();
        other[8] = 9;
        assert!(matches!(
            check(&other, 1),
            Err(InflationError::Malformed(_))
        ));
        assert!(matches!(
            check(&chunk(2, b"not deflate at all"), 1),
            Err(InflationError::Malformed(_))
        ));
        // An overlong length.
        let mut overlong = MAGIC.to_vec();
        overlong.extend_from_slice(&[0, 0, 0, 0, 1, 0x80, 0x00]);
        assert!(check(&overlong, 1).is_err());
    }

    #[test]
    fn a_bundle_is_refused_however_small() {
        let saved = document().save();
        let bundle = [saved.clone(), chunk(BUNDLE, &[0, 0])].concat();
        match check(&bundle, MAX_INFLATED) {
            Err(InflationError::Malformed(why)) => assert!(why.contains("bundle"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(check(&saved, MAX_INFLATED), Ok(()));
    }
}
