//! Data API tokens: who may use the node's HTTP API, in which role. Only a token's
//! SHA-256 is stored; the token is shown once, when issued.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use simpul_model::Role;

use crate::error::{ReadError, WriteError};
use crate::store::Store;
use crate::tables::TOKENS;

/// What the node knows about an issued token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// A short public name for the token (the first 8 hex digits of its hash), for
    /// listing and revoking.
    pub id: String,
    /// Who holds it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was issued (Unix ms).
    pub issued_ms: u64,
    /// When it was revoked (Unix ms), if it was.
    pub revoked_ms: Option<u64>,
    /// The holder's NIK, for a health worker: SATUSEHAT knows them as a Practitioner
    /// by it, and the visits they record name it.
    pub nik: Option<String>,
}

/// A token as stored before holders had a NIK (postcard has no optional trailing
/// fields: such rows are read as this).
#[derive(Deserialize)]
struct TokenInfoWithoutNik {
    id: String,
    name: String,
    role: Role,
    issued_ms: u64,
    revoked_ms: Option<u64>,
}

/// The SHA-256 of a token, the key it is stored under.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn decode(bytes: &[u8]) -> Result<TokenInfo, ReadError> {
    postcard::from_bytes(bytes)
        .or_else(
            |e| match postcard::from_bytes::<TokenInfoWithoutNik>(bytes) {
                Ok(t) => Ok(TokenInfo {
                    id: t.id,
                    name: t.name,
                    role: t.role,
                    issued_ms: t.issued_ms,
                    revoked_ms: t.revoked_ms,
                    nik: None,
                }),
                Err(_) => Err(e),
            },
        )
        .map_err(|e| ReadError::CorruptTable {
            table: "tokens",
            reason: e.to_string(),
        })
}

impl Store {
    /// Records a newly issued token under its hash.
    pub fn add_token(&self, hash: [u8; 32], info: &TokenInfo) -> Result<(), WriteError> {
        let bytes = postcard::to_stdvec(info)
            .unwrap_or_else(|e| unreachable!("postcard encodes TokenInfo: {e}"));
        let txn = self.db().begin_write()?;
        txn.open_table(TOKENS)?.insert(&hash, bytes.as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The token with this hash, if one was issued (revoked or not).
    pub fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenInfo>, ReadError> {
        let txn = self.db().begin_read()?;
        let tokens = txn.open_table(TOKENS)?;
        let row = tokens.get(hash)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Every token issued, oldest first.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, ReadError> {
        let txn = self.db().begin_read()?;
        let tokens = txn.open_table(TOKENS)?;
        let mut out = Vec::new();
        for row in tokens.iter()? {
            out.push(decode(row?.1.value())?);
        }
        out.sort_by_key(|t| t.issued_ms);
        Ok(out)
    }

    /// Revokes the token whose id is `id`; returns it, or `None` if there is none.
    /// Revoking twice keeps the first time.
    pub fn revoke_token(&self, id: &str, at_ms: u64) -> Result<Option<TokenInfo>, WriteError> {
        let txn = self.db().begin_write()?;
        let found = {
            let mut tokens = txn.open_table(TOKENS)?;
            let mut found = None;
            for row in tokens.iter()? {
                let (hash, value) = row?;
                let info = decode(value.value()).map_err(|e| WriteError::Read(Box::new(e)))?;
                if info.id == id {
                    found = Some((*hash.value(), info));
                    break;
                }
            }
            if let Some((hash, info)) = &mut found {
                info.revoked_ms.get_or_insert(at_ms);
                let bytes = postcard::to_stdvec(&*info)
                    .unwrap_or_else(|e| unreachable!("postcard encodes TokenInfo: {e}"));
                tokens.insert(&*hash, bytes.as_slice())?;
            }
            found
        };
        txn.commit()?;
        Ok(found.map(|(_, info)| info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_stored_before_holders_had_a_nik_still_read() {
        #[derive(Serialize)]
        struct Old<'a>(&'a str, &'a str, Role, u64, Option<u64>);
        let old = postcard::to_stdvec(&Old("ab12cd34", "Kader Ani", Role::Kader, 7, Some(9)))
            .expect("encode");
        let read = decode(&old).expect("an old row");
        assert_eq!(read.name, "Kader Ani");
        assert_eq!(read.revoked_ms, Some(9));
        assert_eq!(read.nik, None);
        let new = TokenInfo {
            nik: Some("3273015208900003".into()),
            ..read
        };
        let again = decode(&postcard::to_stdvec(&new).expect("encode")).expect("a new row");
        assert_eq!(again, new);
        assert!(decode(&[0xff, 0xff]).is_err());
    }
}
