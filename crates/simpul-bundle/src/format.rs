//! A bundle file: what is readable on the stick, what only the addressee can read, and
//! what proves who made it.
//!
//! ```text
//! "SIMPULBN" | version (1) | addressee's key id (8) | HPKE encapsulated key (32) | ciphertext
//! ```
//!
//! The ciphertext is HPKE (RFC 9180, base mode: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//! ChaCha20-Poly1305) sealed to the addressee's certificate key, with everything before it
//! as associated data: one changed byte anywhere, or a file cut short, and it does not
//! open. Inside: the [`Header`] (who to whom, when, which part), the sender's Ed25519
//! signature over it, and the zstd-compressed [`Body`] whose SHA-256 the header holds.
//! A lost stick gives its finder the addressee's key id and the file's size, nothing
//! more.

use hpke::{Deserializable, Serializable};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use simpul_trust::{Certified, KeyId, Seal, Signer};

use crate::exchange::BundleError;
use crate::summary::Summary;

/// The first bytes of every bundle file.
pub const MAGIC: &[u8; 8] = b"SIMPULBN";
/// The file format this code writes and reads.
pub const VERSION: u8 = 1;
/// HPKE's `info`: binds the key schedule to this use.
const INFO: &[u8] = b"simpul bundle v1";
/// What the signature covers starts with this, so it can be nothing else.
const SIGNED: &[u8] = b"simpul-bundle-v1\0";
/// Magic, version, key id, encapsulated key.
const PREFIX: usize = 8 + 1 + 8 + 32;
/// The most a bundle's body may inflate to (a pustu's 10,000 records take ~20 MB).
pub const MAX_BODY: usize = 256 << 20;
/// The largest bundle file read.
pub const MAX_FILE: u64 = 256 << 20;

type Aead = hpke::aead::ChaCha20Poly1305;
type Kdf = hpke::kdf::HkdfSha256;
type Kem = hpke::kem::X25519HkdfSha256;

/// Who made a bundle, for whom, when, and what it carries (signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// This file's id (random): applying it twice is refused by it.
    pub id: [u8; 16],
    /// The id shared by the parts of one `bundle create`.
    pub set: [u8; 16],
    /// Which part this is (from 1) of how many.
    pub part: u16,
    /// How many parts the set has.
    pub parts: u16,
    /// The sender's facility.
    pub from: String,
    /// The sender's certificate (DER), checked against the district CA.
    #[serde(with = "serde_bytes")]
    pub from_cert: Vec<u8>,
    /// The addressee's facility.
    pub to: String,
    /// The addressee's key (its certificate's), the one it is encrypted to.
    pub to_key: KeyId,
    /// When it was made (Unix ms, the sender's clock).
    pub created_ms: u64,
    /// The bundle this one answers, if it is an answer.
    pub answers: Option<[u8; 16]>,
    /// Records carried.
    pub records: u32,
    /// SHA-256 of the compressed body.
    pub body_sha256: [u8; 32],
}

/// One record as a bundle carries it: its stored bytes (loadable as one document) and
/// its seals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carried {
    /// The document's bytes.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// Its seals.
    pub seals: Vec<Seal>,
}

/// What a bundle carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The records.
    pub records: Vec<Carried>,
    /// The certificates (DER) of every key that sealed them, once each.
    pub certs: Vec<(KeyId, serde_bytes::ByteBuf)>,
    /// What the sender holds of what it shares with the addressee.
    pub summary: Summary,
    /// The district's revocation list the sender holds (DER), if any: a posyandu that
    /// only ever exchanges bundles learns of revoked keys this way.
    pub revocations: Option<serde_bytes::ByteBuf>,
}

/// The signed inside of a bundle.
#[derive(Serialize, Deserialize)]
struct Inside {
    #[serde(with = "serde_bytes")]
    header: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: Vec<u8>,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
}

/// A bundle opened with the addressee's key: its header and signature, not yet checked,
/// and its compressed body.
#[derive(Debug)]
pub struct Opened {
    /// The header.
    pub header: Header,
    header_bytes: Vec<u8>,
    signature: Vec<u8>,
    body: Vec<u8>,
}

/// The X25519 public key of an Ed25519 certificate key (the Edwards point mapped to its
/// Montgomery form).
fn agreement_public(to: &Certified) -> Result<<Kem as hpke::Kem>::PublicKey, BundleError> {
    let not_ed25519 = || BundleError::Addressee {
        reason: format!(
            "the certificate of {} holds no Ed25519 key: bundles are encrypted to Ed25519 node keys",
            to.facility
        ),
    };
    if to.public.algorithm != simpul_trust::Algorithm::Ed25519 {
        return Err(not_ed25519());
    }
    let bytes: [u8; 32] = to
        .public
        .bytes
        .as_slice()
        .try_into()
        .map_err(|_| not_ed25519())?;
    let point = curve25519_dalek::edwards::CompressedEdwardsY(bytes)
        .decompress()
        .ok_or_else(not_ed25519)?;
    <Kem as hpke::Kem>::PublicKey::from_bytes(point.to_montgomery().as_bytes())
        .map_err(|_| not_ed25519())
}

/// Signs, compresses and encrypts a bundle for `to`.
pub fn seal(
    header: Header,
    body: &Body,
    signer: &Signer,
    to: &Certified,
) -> Result<Vec<u8>, BundleError> {
    let plain = postcard::to_allocvec(body).map_err(|e| BundleError::Encode(e.to_string()))?;
    seal_body_raw(header, &plain, signer, to)
}

/// [`seal`] with the body's encoded bytes as given, unchecked: what an enrolled sender
/// could sign. For the fuzzer and tests of how a body is read.
#[doc(hidden)]
pub fn seal_body_raw(
    mut header: Header,
    plain: &[u8],
    signer: &Signer,
    to: &Certified,
) -> Result<Vec<u8>, BundleError> {
    let compressed =
        zstd::bulk::compress(plain, 9).map_err(|e| BundleError::Encode(e.to_string()))?;
    header.body_sha256 = Sha256::digest(&compressed).into();
    header.to_key = to.key;
    let header_bytes =
        postcard::to_allocvec(&header).map_err(|e| BundleError::Encode(e.to_string()))?;
    let mut message = SIGNED.to_vec();
    message.extend_from_slice(&header_bytes);
    let inside = Inside {
        signature: signer.sign(&message),
        header: header_bytes,
        body: compressed,
    };
    let inside = postcard::to_allocvec(&inside).map_err(|e| BundleError::Encode(e.to_string()))?;
    encrypt(&inside, to)
}

/// A bundle file whose encrypted inside is `inside` as given, unchecked: what a sender
/// who holds the addressee's certificate (anyone may) can make. For the fuzzer and
/// tests of what lies behind the encryption.
#[doc(hidden)]
pub fn seal_raw(inside: &[u8], to: &Certified) -> Result<Vec<u8>, BundleError> {
    encrypt(inside, to)
}

fn encrypt(inside: &[u8], to: &Certified) -> Result<Vec<u8>, BundleError> {
    let mut file = Vec::with_capacity(PREFIX + inside.len() + 16);
    file.extend_from_slice(MAGIC);
    file.push(VERSION);
    file.extend_from_slice(&to.key.0);
    let aad = file.clone();
    let (encapped, ciphertext) = hpke::single_shot_seal::<Aead, Kdf, Kem>(
        &hpke::OpModeS::Base,
        &agreement_public(to)?,
        INFO,
        inside,
        &aad,
    )
    .map_err(|e| BundleError::Encode(format!("encryption: {e}")))?;
    file.extend_from_slice(&encapped.to_bytes());
    file.extend_from_slice(&ciphertext);
    Ok(file)
}

/// What an addressee can do with a bundle it opened: encrypt the same signed inside to
/// another node. For tests that the signed addressee is checked too.
#[doc(hidden)]
pub fn reseal(file: &[u8], addressee: &Signer, to: &Certified) -> Result<Vec<u8>, BundleError> {
    let opened = open(file, addressee)?;
    let inside = Inside {
        header: opened.header_bytes,
        signature: opened.signature,
        body: opened.body,
    };
    let inside = postcard::to_allocvec(&inside).map_err(|e| BundleError::Encode(e.to_string()))?;
    encrypt(&inside, to)
}

/// The addressee key a bundle file names, read without opening it.
pub fn addressee(file: &[u8]) -> Result<KeyId, BundleError> {
    if file.len() < PREFIX || &file[..8] != MAGIC {
        return Err(BundleError::NotABundle);
    }
    if file[8] != VERSION {
        return Err(BundleError::Version(file[8]));
    }
    let mut key = [0u8; 8];
    key.copy_from_slice(&file[9..17]);
    Ok(KeyId(key))
}

/// Decrypts a bundle addressed to `signer`'s key. Fails when it is not a bundle, is for
/// another key, or was changed or cut short in any byte.
pub fn open(file: &[u8], signer: &Signer) -> Result<Opened, BundleError> {
    let key = addressee(file)?;
    if key != signer.key() {
        return Err(BundleError::NotForUs {
            key,
            ours: signer.key(),
        });
    }
    let secret = signer
        .agreement_secret()
        .ok_or_else(|| BundleError::Addressee {
            reason: "this node's key is not Ed25519: it cannot open bundles".into(),
        })?;
    let private =
        <Kem as hpke::Kem>::PrivateKey::from_bytes(secret).map_err(|e| BundleError::Addressee {
            reason: format!("this node's key: {e}"),
        })?;
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&file[17..PREFIX])
        .map_err(|_| BundleError::Damaged)?;
    let inside = hpke::single_shot_open::<Aead, Kdf, Kem>(
        &hpke::OpModeR::Base,
        &private,
        &encapped,
        INFO,
        &file[PREFIX..],
        &file[..17],
    )
    .map_err(|_| BundleError::Damaged)?;
    // Authenticated by the AEAD from here on: only a holder of our public key made it,
    // which any enrolled node is. Who did, the signature says.
    let inside: Inside = postcard::from_bytes(&inside).map_err(|_| BundleError::Damaged)?;
    let header: Header =
        postcard::from_bytes(&inside.header).map_err(|e| BundleError::Malformed(e.to_string()))?;
    Ok(Opened {
        header,
        header_bytes: inside.header,
        signature: inside.signature,
        body: inside.body,
    })
}

impl Opened {
    /// Whether the header's signature is by `sender`'s key, and the body the one the
    /// header names.
    pub fn verify(&self, sender: &Certified) -> Result<(), BundleError> {
        let mut message = SIGNED.to_vec();
        message.extend_from_slice(&self.header_bytes);
        if !sender.public.verify(&message, &self.signature) {
            return Err(BundleError::BadSignature {
                from: sender.facility.to_string(),
            });
        }
        let digest: [u8; 32] = Sha256::digest(&self.body).into();
        if digest != self.header.body_sha256 {
            return Err(BundleError::Malformed(format!(
                "the body is not the one {} signed for",
                sender.facility
            )));
        }
        Ok(())
    }

    /// The body, inflated (at most [`MAX_BODY`] bytes) and decoded. Only after
    /// [`Opened::verify`].
    pub fn body(&self) -> Result<Body, BundleError> {
        let plain = inflate(&self.body)?;
        let body: Body =
            postcard::from_bytes(&plain).map_err(|e| BundleError::Malformed(e.to_string()))?;
        body.summary.check().map_err(BundleError::Malformed)?;
        Ok(body)
    }

    /// The compressed body's size.
    pub fn body_bytes(&self) -> usize {
        self.body.len()
    }
}

/// zstd, bounded: a body that would inflate beyond [`MAX_BODY`] is refused.
fn inflate(compressed: &[u8]) -> Result<Vec<u8>, BundleError> {
    use std::io::Read;
    let decoder = zstd::stream::Decoder::new(compressed)
        .map_err(|e| BundleError::Malformed(e.to_string()))?;
    let mut out = Vec::new();
    decoder
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BundleError::Malformed(format!("the body does not inflate: {e}")))?;
    if out.len() > MAX_BODY {
        return Err(BundleError::Malformed(format!(
            "the body inflates beyond {MAX_BODY} bytes"
        )));
    }
    Ok(out)
}
