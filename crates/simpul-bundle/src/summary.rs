//! What a node holds of what it shares with a peer, in a few kilobytes: enough for the
//! peer to work out exactly which records the node lacks, without a round trip.
//!
//! Two parts. A rateless invertible Bloom lookup table (Yang, Gilad and Alizadeh,
//! "Practical Rateless Set Reconciliation", SIGCOMM 2024): the first cells of an
//! endless sequence of coded symbols over the node's (record id, version) items. The
//! peer subtracts its own items' cells and peels the difference: when the two sets
//! differ in fewer items than about two thirds of the cells, it learns exactly which
//! versions it holds that the node does not. When they differ more, the second part
//! answers: the node's items cut into ranges of content time, each with a count and a
//! fingerprint; the peer sends every record of each range that differs (more than
//! needed, never less).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use simpul_model::RecordId;
use simpul_store::SyncItem;

/// Coded symbols a summary carries (about 33 bytes each).
pub const CELLS: usize = 96;
/// Ranges of content time a summary carries (about 31 bytes each).
pub const RANGES: usize = 16;
/// The most cells or ranges a summary from a peer may carry.
pub const MAX_PARTS: usize = 4096;

/// An item as the table codes it: the record id, then 8 bytes of SHA-256 over the
/// summary's salt and its heads digest (two versions of a record are two items). The
/// salt, drawn afresh for each summary, keeps an author from preparing two versions of
/// a record that look alike to every summary (2^32 tries would find a pair of plain
/// 8-byte prefixes).
type Symbol = [u8; 24];

fn symbol(item: &SyncItem, salt: &[u8; 8]) -> Symbol {
    let mut s = [0u8; 24];
    s[..16].copy_from_slice(item.id.as_bytes());
    let mut h = Sha256::new();
    h.update(salt);
    h.update(item.digest);
    s[16..].copy_from_slice(&h.finalize()[..8]);
    s
}

fn hash(s: &Symbol) -> u64 {
    let d = Sha256::digest(s);
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default())
}

/// Which coded symbols an item goes into: 0, then ever sparser indices drawn from its
/// hash (the paper's mapping: the gap after index i grows with i, so an item is in about
/// 2·ln(n) of the first n cells).
struct Mapping {
    prng: u64,
    last: u64,
}

impl Mapping {
    fn new(hash: u64) -> Self {
        Self {
            prng: hash,
            last: 0,
        }
    }

    fn next(&mut self) -> u64 {
        let r = self.prng.wrapping_mul(0xda94_2042_e4dd_58b5);
        self.prng = r;
        let gap = ((self.last as f64 + 1.5)
            * ((1u64 << 32) as f64 / (r as f64 + 1.0).sqrt() - 1.0))
            .ceil();
        self.last = self.last.saturating_add(gap.max(1.0) as u64);
        self.last
    }
}

/// One coded symbol: the XOR of the items mapped to it, the XOR of their hashes, and how
/// many there are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cell {
    sum: Symbol,
    hash: [u8; 8],
    count: i64,
}

impl Cell {
    fn apply(&mut self, s: &Symbol, h: u64, direction: i64) {
        for (a, b) in self.sum.iter_mut().zip(s) {
            *a ^= b;
        }
        let mixed = u64::from_le_bytes(self.hash) ^ h;
        self.hash = mixed.to_le_bytes();
        // Counts from a peer may be anything: wrap rather than overflow.
        self.count = self.count.wrapping_add(direction);
    }

    fn is_empty(&self) -> bool {
        self.count == 0 && self.hash == [0; 8] && self.sum == [0; 24]
    }

    /// The one item cell `index` holds (count ±1, its hash agrees, and the item maps to
    /// this cell), if so. The last check is what keeps a forged table from peeling in
    /// circles.
    fn pure(&self, index: usize) -> Option<(Symbol, u64, i64)> {
        let h = u64::from_le_bytes(self.hash);
        (matches!(self.count, 1 | -1) && hash(&self.sum) == h && maps_to(h, index))
            .then_some((self.sum, h, self.count))
    }
}

/// Whether an item of hash `h` goes into cell `index`.
fn maps_to(h: u64, index: usize) -> bool {
    let mut mapping = Mapping::new(h);
    let mut i = 0u64;
    while i < index as u64 {
        i = mapping.next();
    }
    i == index as u64
}

fn encode(items: &[SyncItem], n: usize, salt: &[u8; 8]) -> Vec<Cell> {
    let mut cells = vec![Cell::default(); n];
    for item in items {
        let s = symbol(item, salt);
        add(&mut cells, &s, hash(&s), 1);
    }
    cells
}

fn add(cells: &mut [Cell], s: &Symbol, h: u64, direction: i64) {
    let mut mapping = Mapping::new(h);
    let mut index = 0u64;
    while (index as usize) < cells.len() {
        cells[index as usize].apply(s, h, direction);
        index = mapping.next();
    }
}

/// A range of items by (content time, record id), from `from` (inclusive) to the next
/// range's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    from_time: u64,
    from_id: [u8; 16],
    count: u32,
    fingerprint: [u8; 8],
}

/// A node's summary of what it shares with a peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Items summarised (as the summariser says: nothing relies on it).
    pub items: u64,
    salt: [u8; 8],
    cells: Vec<Cell>,
    ranges: Vec<Range>,
}

/// What the summarising node lacks of a set of items, as worked out from its summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lacking {
    /// The records whose version here it does not hold.
    pub records: Vec<RecordId>,
    /// True when the table decoded: exactly these. False: the records of every range
    /// whose fingerprint differs (these and perhaps more).
    pub exact: bool,
}

impl Summary {
    /// The summary of `items`, with the default numbers of cells and ranges.
    pub fn of(items: &[SyncItem]) -> Summary {
        Self::with_sizes(items, CELLS, RANGES)
    }

    /// The summary of `items` with `cells` coded symbols and `ranges` ranges.
    pub fn with_sizes(items: &[SyncItem], cells: usize, ranges: usize) -> Summary {
        let salt: [u8; 8] = rand::random();
        let mut sorted: Vec<&SyncItem> = items.iter().collect();
        sorted.sort_by_key(|i| (i.time, i.id));
        let ranges = ranges.max(1);
        let per = sorted.len().div_ceil(ranges).max(1);
        let mut cut: Vec<Range> = Vec::new();
        for (i, chunk) in sorted.chunks(per).enumerate() {
            let (from_time, from_id) = if i == 0 {
                (0, [0u8; 16])
            } else {
                (chunk[0].time, *chunk[0].id.as_bytes())
            };
            let mut fingerprint = 0u64;
            for item in chunk {
                fingerprint ^= hash(&symbol(item, &salt));
            }
            cut.push(Range {
                from_time,
                from_id,
                count: chunk.len() as u32,
                fingerprint: fingerprint.to_le_bytes(),
            });
        }
        Summary {
            items: items.len() as u64,
            salt,
            cells: encode(items, cells, &salt),
            ranges: cut,
        }
    }

    /// Whether the summary is one this code can read and of a bounded size.
    pub fn check(&self) -> Result<(), String> {
        if self.cells.len() > MAX_PARTS || self.ranges.len() > MAX_PARTS {
            return Err(format!(
                "a summary of {} cells and {} ranges (at most {MAX_PARTS} each)",
                self.cells.len(),
                self.ranges.len()
            ));
        }
        if self
            .ranges
            .windows(2)
            .any(|w| (w[0].from_time, w[0].from_id) >= (w[1].from_time, w[1].from_id))
        {
            return Err("a summary's ranges out of order".into());
        }
        Ok(())
    }

    /// Of `mine` (the items this node shares with the summariser), those whose version
    /// the summariser lacks.
    pub fn lacking(&self, mine: &[SyncItem]) -> Lacking {
        if let Some(records) = self.decode(mine) {
            return Lacking {
                records,
                exact: true,
            };
        }
        Lacking {
            records: self.differing_ranges(mine),
            exact: false,
        }
    }

    /// Peels the difference of the two tables: the items here the summariser lacks, or
    /// None when the difference is too large for the cells carried.
    fn decode(&self, mine: &[SyncItem]) -> Option<Vec<RecordId>> {
        let n = self.cells.len();
        let mut diff = encode(mine, n, &self.salt);
        for (d, theirs) in diff.iter_mut().zip(&self.cells) {
            for (a, b) in d.sum.iter_mut().zip(&theirs.sum) {
                *a ^= b;
            }
            d.hash = (u64::from_le_bytes(d.hash) ^ u64::from_le_bytes(theirs.hash)).to_le_bytes();
            d.count = d.count.wrapping_sub(theirs.count);
        }
        let mut ours = Vec::new();
        let mut queue: Vec<usize> = (0..n).collect();
        let mut peeled = 0usize;
        while let Some(i) = queue.pop() {
            let Some((s, h, count)) = diff[i].pure(i) else {
                continue;
            };
            peeled += 1;
            // An n-cell table decodes fewer than n items: more is a forged summary.
            if peeled > n {
                return None;
            }
            if count == 1 {
                let mut id = [0u8; 16];
                id.copy_from_slice(&s[..16]);
                ours.push(RecordId::from_bytes(id));
            }
            let mut mapping = Mapping::new(h);
            let mut index = 0u64;
            while (index as usize) < n {
                diff[index as usize].apply(&s, h, -count);
                queue.push(index as usize);
                index = mapping.next();
            }
        }
        if !diff.iter().all(Cell::is_empty) {
            return None;
        }
        ours.sort_unstable();
        ours.dedup();
        // A version the summariser has of the same record is no reason to hold back.
        let here: std::collections::HashSet<RecordId> = mine.iter().map(|i| i.id).collect();
        ours.retain(|id| here.contains(id));
        Some(ours)
    }

    /// The records here in every range whose count or fingerprint differs from the
    /// summariser's.
    fn differing_ranges(&self, mine: &[SyncItem]) -> Vec<RecordId> {
        if self.ranges.is_empty() {
            return mine.iter().map(|i| i.id).collect();
        }
        let mut sorted: Vec<&SyncItem> = mine.iter().collect();
        sorted.sort_by_key(|i| (i.time, i.id));
        let mut out = Vec::new();
        let mut start = 0;
        for (k, range) in self.ranges.iter().enumerate() {
            let end = match self.ranges.get(k + 1) {
                Some(next) => sorted[start..]
                    .iter()
                    .position(|i| (i.time, *i.id.as_bytes()) >= (next.from_time, next.from_id))
                    .map_or(sorted.len(), |p| start + p),
                None => sorted.len(),
            };
            let chunk = &sorted[start..end];
            let fingerprint = chunk
                .iter()
                .fold(0u64, |f, i| f ^ hash(&symbol(i, &self.salt)));
            if chunk.len() as u32 != range.count || fingerprint.to_le_bytes() != range.fingerprint {
                out.extend(chunk.iter().map(|i| i.id));
            }
            start = end;
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn item(n: u64, version: u8, time: u64) -> SyncItem {
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&n.to_be_bytes());
        let mut digest = [version; 32];
        digest[31] = n as u8;
        SyncItem {
            id: RecordId::from_bytes(id),
            time,
            digest,
        }
    }

    fn encoded_len(s: &Summary) -> usize {
        postcard::to_allocvec(s).expect("encode").len()
    }

    #[test]
    fn a_summary_of_ten_thousand_records_is_under_4_kb() {
        let items: Vec<SyncItem> = (0..10_000).map(|n| item(n, 1, 1_700_000_000 + n)).collect();
        let s = Summary::of(&items);
        assert!(encoded_len(&s) < 4_000, "{} bytes", encoded_len(&s));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the two sets, what the summariser is told it lacks includes every
        /// version it lacks; when the difference is small it is exactly those.
        #[test]
        fn the_summariser_learns_what_it_lacks(
            common in 0u64..3_000,
            only_mine in 0u64..40,
            only_theirs in 0u64..40,
            changed in 0u64..20,
        ) {
            let base: Vec<SyncItem> = (0..common).map(|n| item(n, 1, 1_000 + n)).collect();
            let mut theirs = base.clone();
            let mut mine = base;
            for k in 0..changed.min(common) {
                // A record changed here since: a new version, a newer time.
                mine[k as usize] = item(k, 2, 900_000 + k);
            }
            mine.extend((0..only_mine).map(|n| item(1_000_000 + n, 1, 2_000_000 + n)));
            theirs.extend((0..only_theirs).map(|n| item(2_000_000 + n, 1, 3_000_000 + n)));
            let lacked: std::collections::BTreeSet<RecordId> = mine
                .iter()
                .filter(|m| !theirs.contains(m))
                .map(|m| m.id)
                .collect();
            let summary: Summary =
                postcard::from_bytes(&postcard::to_allocvec(&Summary::of(&theirs)).expect("encode"))
                    .expect("decode");
            let told = summary.lacking(&mine);
            let told_set: std::collections::BTreeSet<RecordId> = told.records.iter().copied().collect();
            prop_assert!(lacked.is_subset(&told_set), "missed {:?}", lacked.difference(&told_set).collect::<Vec<_>>());
            let difference = 2 * changed.min(common) + only_mine + only_theirs;
            if told.exact {
                prop_assert_eq!(&told_set, &lacked);
            }
            if difference <= 20 {
                prop_assert!(told.exact, "a difference of {} did not decode", difference);
            }
        }
    }

    #[test]
    fn a_forged_summary_gives_a_superset_not_a_loop() {
        let items: Vec<SyncItem> = (0..500).map(|n| item(n, 1, n)).collect();
        let mut s = Summary::of(&items);
        for c in &mut s.cells {
            c.count = 1;
            c.sum = [7; 24];
            c.hash = hash(&[7; 24]).to_le_bytes();
        }
        let told = s.lacking(&items);
        assert!(!told.exact || told.records.len() <= items.len());
        s.items = u64::MAX;
        for c in &mut s.cells {
            c.count = i64::MIN;
        }
        let _ = s.lacking(&items);
    }

    /// Two cells each holding an item that does not map to it, each among the other's
    /// item's cells: without the mapping check, peeling one puts the other back forever.
    #[test]
    fn a_table_built_to_peel_in_circles_ends() {
        let n = CELLS;
        let mine: Vec<SyncItem> = Vec::new();
        // Find two symbols s, t and cells a, b with a not among s's cells, b not among
        // t's, a among t's and b among s's.
        let cells_of = |h: u64| -> Vec<usize> {
            let mut out = vec![0];
            let mut m = Mapping::new(h);
            loop {
                let i = m.next() as usize;
                if i >= n {
                    return out;
                }
                out.push(i);
            }
        };
        let candidates: Vec<(Symbol, u64, Vec<usize>)> = (0u8..=255)
            .map(|b| {
                let s = [b; 24];
                let h = hash(&s);
                (s, h, cells_of(h))
            })
            .collect();
        let mut found = None;
        'search: for (s, hs, cs) in &candidates {
            for (t, ht, ct) in &candidates {
                if s == t {
                    continue;
                }
                for &a in ct.iter().filter(|a| !cs.contains(a)) {
                    if let Some(&b) = cs.iter().find(|b| !ct.contains(b) && **b != a) {
                        found = Some((*s, *hs, *t, *ht, a, b));
                        break 'search;
                    }
                }
            }
        }
        let (s, hs, t, ht, a, b) = found.expect("a circle to build");
        let mut cells = vec![Cell::default(); n];
        cells[a] = Cell {
            sum: s,
            hash: hs.to_le_bytes(),
            count: 1,
        };
        cells[b] = Cell {
            sum: t,
            hash: ht.to_le_bytes(),
            count: 1,
        };
        let forged = Summary {
            items: 0,
            salt: [0; 8],
            cells,
            ranges: Vec::new(),
        };
        let told = forged.lacking(&mine);
        assert!(told.records.is_empty());
    }
}
