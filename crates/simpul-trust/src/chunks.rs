//! Splitting concatenated Automerge change chunks (`save_after` output) into changes,
//! for the rare path that has to look at each one (equivocation).

use simpul_model::automerge::Change;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Most changes one message may split into.
const MAX_CHANGES: usize = 1 << 16;

/// The changes in `bytes`: chunks of `magic (4) | checksum (4) | type (1) | length (uleb)
/// | contents`, each a change (type 1) or a compressed change (type 2).
pub(crate) fn changes(bytes: &[u8]) -> Result<Vec<Change>, String> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if out.len() >= MAX_CHANGES {
            return Err(format!("more than {MAX_CHANGES} changes"));
        }
        if rest.len() < 9 || rest[..4] != MAGIC {
            return Err("not an Automerge change chunk".into());
        }
        let kind = rest[8];
        if kind != 1 && kind != 2 {
            return Err(format!("chunk type {kind} is not a change"));
        }
        let (len, used) = uleb(&rest[9..]).ok_or("chunk length does not decode")?;
        let end = 9usize
            .checked_add(used)
            .and_then(|n| n.checked_add(usize::try_from(len).ok()?))
            .filter(|&end| end <= rest.len())
            .ok_or("chunk runs past the end of the bytes")?;
        let change = Change::from_bytes(rest[..end].to_vec()).map_err(|e| e.to_string())?;
        out.push(change);
        rest = &rest[end..];
    }
    Ok(out)
}

/// An unsigned LEB128 number and the bytes it took.
fn uleb(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use simpul_model::automerge::transaction::Transactable;
    use simpul_model::automerge::{Automerge, ROOT};

    #[test]
    fn save_after_splits_into_its_changes_and_garbage_is_refused() {
        let mut doc = Automerge::new();
        let mut heads = Vec::new();
        for i in 0..3i64 {
            let mut tx = doc.transaction();
            tx.put(ROOT, "n", i).expect("put");
            tx.put(ROOT, "pad", "x".repeat(300 * i as usize))
                .expect("put");
            tx.commit();
            if i == 0 {
                heads = doc.get_heads();
            }
        }
        let bytes = doc.save_after(&heads);
        let split = changes(&bytes).expect("split");
        assert_eq!(split.len(), 2);
        let hashes: Vec<_> = split.iter().map(|c| c.hash()).collect();
        let expected: Vec<_> = doc
            .get_changes_meta(&heads)
            .iter()
            .map(|c| c.hash)
            .collect();
        assert_eq!(hashes, expected);
        assert!(changes(b"not automerge").is_err());
        assert!(changes(&bytes[..bytes.len() - 1]).is_err());
        assert!(
            changes(&doc.save()).is_err(),
            "a document chunk is not a change"
        );
        assert_eq!(changes(&[]).map(|c| c.len()), Ok(0));
    }
}
