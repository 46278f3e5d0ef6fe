//! Deterministic FHIR resource ids.

use sha2::{Digest, Sha256};

/// The longest FHIR id.
pub const MAX_ID_LEN: usize = 64;

/// True for a valid FHIR id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_fhir_id(s: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The id of a resource named by `parts` (record id, visit id, suffix...): the parts
/// joined with `-` when that is a valid FHIR id, otherwise the SHA-256 of the joined
/// text as 64 lowercase hex digits. Validated records always take the first branch
/// (record ids are 32 hex digits, visit ids 16); the hash only keeps an odd visit key
/// from producing an invalid id.
pub fn resource_id(parts: &[&str]) -> String {
    let joined = parts.join("-");
    if is_fhir_id(&joined) {
        return joined;
    }
    Sha256::digest(joined.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_parts_are_joined() {
        let rec = "ab".repeat(16);
        let visit = "0123456789abcdef";
        let id = resource_id(&[&rec, visit, "waist"]);
        assert_eq!(id, format!("{rec}-{visit}-waist"));
        assert!(is_fhir_id(&id));
    }

    #[test]
    fn invalid_ids_are_hashed_deterministically() {
        let a = resource_id(&["ab", "visit key with spaces"]);
        assert_eq!(a.len(), 64);
        assert!(is_fhir_id(&a));
        assert_eq!(a, resource_id(&["ab", "visit key with spaces"]));
        assert_ne!(a, resource_id(&["ab", "visit key with spaces!"]));
        assert!(is_fhir_id(&resource_id(&[&"x".repeat(100)])));
    }
}
