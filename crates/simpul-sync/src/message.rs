//! The wire format: length-delimited, versioned, size-limited frames.
//!
//! A frame is a 4-byte big-endian length `n`, then `n` bytes: one byte of protocol
//! version, then the message body in postcard encoding. Decoding never trusts the
//! sender: the length is checked against the limit before anything is read, every
//! length inside the body is bounded by the bytes actually present, and trailing bytes
//! are an error.

use serde::{Deserialize, Serialize};
use simpul_trust::Seal;

/// The protocol version this code speaks (3: changes travel with their authors' seals).
pub const PROTOCOL_VERSION: u8 = 3;

/// Bytes of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// The largest frame accepted unless a smaller limit is configured: 4 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 4 << 20;

/// A record id on the wire.
pub type WireId = [u8; 16];

/// Everything two nodes say to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// First message each way: protocol and limits, and the facility path the sender
    /// believes it has (which must match its certificate).
    Hello {
        /// The sender's protocol version.
        protocol: u8,
        /// The largest frame the sender accepts.
        max_frame: u32,
        /// The sender's facility path.
        node: String,
        /// The CRL number of the district revocation list the sender holds (0: none). The
        /// side holding the newer list sends it (`Revocations`).
        revocations: u64,
    },
    /// One round of range-based set reconciliation (Negentropy bytes).
    Reconcile {
        /// Round number, from 0 for each reconciliation.
        round: u32,
        /// The Negentropy message.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Round 0 of the first part of a reconciliation in two parts: only the items whose
    /// content time is at or after `since` (when the two were last in sync), where the
    /// changes made since sit together and cost a few bytes each to find.
    ReconcileRecent {
        /// The first content time of the part.
        since: u64,
        /// The Negentropy message.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Round 0 of the second part: the items before `since`, without the records the first
    /// part found in a version the responder lacks (`exclude`; the initiator leaves out
    /// those the responder holds in a newer version). Their older versions, scattered
    /// through the set, would cost hundreds of bytes each to find; the responder names
    /// them instead (`Held`).
    ReconcileOlder {
        /// Records the responder leaves out of this part.
        exclude: Vec<WireId>,
        /// The Negentropy message.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// The responder's answer to `exclude`, before its round-0 reply: the excluded records
    /// it holds, each with its version (the first 16 bytes of its heads digest).
    Held {
        /// Record and version.
        versions: Vec<(WireId, [u8; 16])>,
    },
    /// The initiator finished reconciling: counts of what it will send and fetch.
    Reconciled {
        /// Records the initiator will send whole.
        sending: u32,
        /// Records it will ask for.
        wanting: u32,
        /// Records both hold in different versions.
        differing: u32,
    },
    /// Please send these records whole.
    Want {
        /// The records.
        ids: Vec<WireId>,
    },
    /// A whole record: its saved Automerge document.
    Record {
        /// The record.
        id: WireId,
        /// `Automerge::save` bytes, possibly followed by change chunks.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        /// The seals that vouch for its changes.
        seals: Vec<Seal>,
    },
    /// For a record both hold in different versions: the sender's heads. The receiver
    /// answers with the changes the sender lacks (`Changes`, if it has any), then
    /// `HeadsReply`.
    Heads {
        /// The record.
        id: WireId,
        /// The sender's heads of the record.
        heads: Vec<[u8; 32]>,
    },
    /// The answer to `Heads`: the answerer's heads, after any changes it sent. The asker
    /// sends back the changes the answerer lacks (`Changes`, if it has any).
    HeadsReply {
        /// The record.
        id: WireId,
        /// The answerer's heads of the record.
        heads: Vec<[u8; 32]>,
    },
    /// New changes to a record: pushed live, or answering a heads exchange.
    Changes {
        /// The record.
        id: WireId,
        /// `save_after` bytes.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        /// The sender's heads after these changes (what the receiver must reach).
        heads: Vec<[u8; 32]>,
        /// The seals that vouch for the changes.
        seals: Vec<Seal>,
    },
    /// These records (or changes) are now durably stored by the sender of this message.
    Stored {
        /// The records.
        ids: Vec<WireId>,
    },
    /// The sender (an ancestor of the receiver) durably stored the record the receiver
    /// sent, and the record's scope no longer includes the receiver (the family moved).
    /// The evidence is the changes after the version the receiver sent, up to the move:
    /// the receiver merges them and lets its copy go only if, by its own rules, it should
    /// no longer hold the record and its copy still has exactly these heads.
    Moved {
        /// The record.
        id: WireId,
        /// The heads of the version the receiver sent, now stored by the sender.
        heads: Vec<[u8; 32]>,
        /// Change chunks (or a saved document) that show the move.
        #[serde(with = "serde_bytes")]
        evidence: Vec<u8>,
        /// The seals that vouch for the evidence.
        seals: Vec<Seal>,
    },
    /// A node certificate (DER), sent once per session before the first seal by its key:
    /// the receiver checks it against the district CA.
    Cert {
        /// The certificate.
        #[serde(with = "serde_bytes")]
        der: Vec<u8>,
    },
    /// The district's revocation list (DER), sent by the side whose hello named the newer.
    Revocations {
        /// The CRL.
        #[serde(with = "serde_bytes")]
        der: Vec<u8>,
    },
    /// The sender would not store this record, and why (validation, history).
    Refused {
        /// The record.
        id: WireId,
        /// Why.
        reason: String,
    },
    /// The session ends, and why.
    Bye {
        /// Why.
        reason: String,
    },
}

/// Why bytes are not a valid frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The length prefix exceeds the limit.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Claimed length.
        len: u64,
        /// Limit.
        max: u32,
    },
    /// The frame is empty (no version byte).
    #[error("empty frame")]
    Empty,
    /// The frame names a protocol version this code does not speak.
    #[error("protocol version {0} is not supported (this node speaks {PROTOCOL_VERSION})")]
    Version(u8),
    /// The body does not decode as a message.
    #[error("malformed message: {0}")]
    Malformed(String),
}

impl Message {
    /// Encodes this message as one frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        let body = postcard::to_stdvec(self)
            .unwrap_or_else(|e| unreachable!("messages always encode: {e}"));
        let len = (body.len() + 1) as u32;
        let mut frame = Vec::with_capacity(LENGTH_PREFIX + len as usize);
        frame.extend_from_slice(&len.to_be_bytes());
        frame.push(PROTOCOL_VERSION);
        frame.extend_from_slice(&body);
        frame
    }

    /// Decodes a frame body (the bytes after the length prefix).
    pub fn decode(frame: &[u8], max_frame: u32) -> Result<Message, DecodeError> {
        if frame.len() as u64 > u64::from(max_frame) {
            return Err(DecodeError::TooLarge {
                len: frame.len() as u64,
                max: max_frame,
            });
        }
        let (&version, body) = frame.split_first().ok_or(DecodeError::Empty)?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::Version(version));
        }
        let (msg, rest) =
            postcard::take_from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(DecodeError::Malformed(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        Ok(msg)
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "hello",
            Message::Reconcile { .. } => "reconcile",
            Message::ReconcileRecent { .. } => "reconcile-recent",
            Message::ReconcileOlder { .. } => "reconcile-older",
            Message::Held { .. } => "held",
            Message::Reconciled { .. } => "reconciled",
            Message::Want { .. } => "want",
            Message::Record { .. } => "record",
            Message::Heads { .. } => "heads",
            Message::HeadsReply { .. } => "heads-reply",
            Message::Changes { .. } => "changes",
            Message::Stored { .. } => "stored",
            Message::Moved { .. } => "moved",
            Message::Cert { .. } => "cert",
            Message::Revocations { .. } => "revocations",
            Message::Refused { .. } => "refused",
            Message::Bye { .. } => "bye",
        }
    }
}

/// Splits a byte stream into frames, enforcing the size limit from the length prefix
/// alone (an oversized frame is refused before its body arrives).
///
/// Linear in the bytes pushed: frames are read at an offset, and the consumed front is
/// dropped only once it is at least half the buffer, so each byte is moved at most once
/// on average however many small frames arrive together. What is buffered is at most
/// one frame (`max_frame` + 4 bytes) beyond what the caller has pushed and not read.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Where the next frame starts in `buf`.
    start: usize,
    max_frame: u32,
    /// Bytes moved to drop consumed frames (for the linearity test).
    moved: u64,
}

impl FrameReader {
    /// A reader accepting frames up to `max_frame` bytes.
    pub fn new(max_frame: u32) -> Self {
        Self {
            buf: Vec::new(),
            start: 0,
            max_frame,
            moved: 0,
        }
    }

    /// Adds bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.moved += (self.buf.len() - self.start) as u64;
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        let rest = &self.buf[self.start..];
        if rest.len() < LENGTH_PREFIX {
            return Ok(None);
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        if len > self.max_frame {
            return Err(DecodeError::TooLarge {
                len: u64::from(len),
                max: self.max_frame,
            });
        }
        let end = LENGTH_PREFIX + len as usize;
        if rest.len() < end {
            return Ok(None);
        }
        let msg = Message::decode(&rest[LENGTH_PREFIX..end], self.max_frame);
        self.start += end;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        msg.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = Message> {
        let id = any::<[u8; 16]>();
        let bytes = proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            (any::<u8>(), any::<u32>(), "[a-z0-9/-]{0,40}", any::<u64>()).prop_map(
                |(protocol, max_frame, node, revocations)| Message::Hello {
                    protocol,
                    max_frame,
                    node,
                    revocations,
                }
            ),
            (any::<u32>(), bytes.clone())
                .prop_map(|(round, payload)| Message::Reconcile { round, payload }),
            (any::<u64>(), bytes.clone())
                .prop_map(|(since, payload)| Message::ReconcileRecent { since, payload }),
            (proptest::collection::vec(id, 0..20), bytes.clone())
                .prop_map(|(exclude, payload)| Message::ReconcileOlder { exclude, payload }),
            proptest::collection::vec((id, any::<[u8; 16]>()), 0..20)
                .prop_map(|versions| Message::Held { versions }),
            proptest::collection::vec(id, 0..20).prop_map(|ids| Message::Want { ids }),
            (id, bytes.clone(), seals()).prop_map(|(id, bytes, seals)| Message::Record {
                id,
                bytes,
                seals
            }),
            (id, proptest::collection::vec(any::<[u8; 32]>(), 0..3))
                .prop_map(|(id, heads)| Message::Heads { id, heads }),
            (id, proptest::collection::vec(any::<[u8; 32]>(), 0..3))
                .prop_map(|(id, heads)| Message::HeadsReply { id, heads }),
            (
                id,
                bytes.clone(),
                proptest::collection::vec(any::<[u8; 32]>(), 0..3),
                seals(),
            )
                .prop_map(|(id, bytes, heads, seals)| Message::Changes {
                    id,
                    bytes,
                    heads,
                    seals
                }),
            (id, ".{0,50}").prop_map(|(id, reason)| Message::Refused { id, reason }),
            (
                id,
                proptest::collection::vec(any::<[u8; 32]>(), 0..3),
                bytes.clone(),
                seals()
            )
                .prop_map(|(id, heads, evidence, seals)| Message::Moved {
                    id,
                    heads,
                    evidence,
                    seals
                }),
            bytes.clone().prop_map(|der| Message::Cert { der }),
            bytes.prop_map(|der| Message::Revocations { der }),
        ]
    }

    fn seals() -> impl Strategy<Value = Vec<Seal>> {
        let seal = (
            any::<[u8; 8]>(),
            any::<bool>(),
            proptest::collection::vec(any::<[u8; 32]>(), 1..3),
            proptest::collection::vec(any::<u8>(), 64),
        )
            .prop_map(|(key, endorse, heads, signature)| Seal {
                key: simpul_trust::KeyId(key),
                kind: if endorse {
                    simpul_trust::SealKind::Endorsement
                } else {
                    simpul_trust::SealKind::Author
                },
                heads,
                signature,
            });
        proptest::collection::vec(seal, 0..3)
    }

    proptest! {
        #[test]
        fn frames_round_trip_in_any_chunking(msgs in proptest::collection::vec(message(), 1..10), cut in 1usize..64) {
            let stream: Vec<u8> = msgs.iter().flat_map(Message::encode).collect();
            let mut reader = FrameReader::new(DEFAULT_MAX_FRAME);
            let mut out = Vec::new();
            for chunk in stream.chunks(cut) {
                reader.push(chunk);
                while let Some(m) = reader.next_message().expect("valid stream") {
                    out.push(m);
                }
            }
            prop_assert_eq!(out, msgs);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&bytes, DEFAULT_MAX_FRAME);
            let mut reader = FrameReader::new(1024);
            reader.push(&bytes);
            while let Ok(Some(_)) = reader.next_message() {}
        }
    }

    #[test]
    fn many_small_frames_arriving_together_are_read_in_linear_work() {
        // 4 MiB of the smallest frames in one push, then a trickle: dropping each frame
        // from the front of the buffer would move ~n^2/2 bytes (terabytes).
        let frame = Message::Bye {
            reason: String::new(),
        }
        .encode();
        let count = (4 << 20) / frame.len();
        let burst: Vec<u8> = frame
            .iter()
            .copied()
            .cycle()
            .take(frame.len() * count)
            .collect();
        let mut reader = FrameReader::new(DEFAULT_MAX_FRAME);
        let mut pushed = burst.len() as u64;
        reader.push(&burst);
        let mut read = 0;
        for i in 0..count {
            assert!(reader.next_message().expect("valid").is_some());
            read += 1;
            if i % 1000 == 0 {
                reader.push(&frame);
                pushed += frame.len() as u64;
            }
        }
        while reader.next_message().expect("valid").is_some() {
            read += 1;
        }
        assert_eq!(read as u64 * frame.len() as u64, pushed);
        assert!(
            reader.moved <= pushed,
            "{} bytes moved for {pushed} pushed",
            reader.moved
        );
    }

    #[test]
    fn oversized_frames_are_refused_from_the_prefix() {
        let mut reader = FrameReader::new(1024);
        reader.push(&5000u32.to_be_bytes());
        assert_eq!(
            reader.next_message(),
            Err(DecodeError::TooLarge {
                len: 5000,
                max: 1024
            })
        );
    }

    #[test]
    fn wrong_version_and_trailing_bytes_are_refused() {
        let mut frame = Message::Bye { reason: "x".into() }.encode();
        frame[LENGTH_PREFIX] = 9;
        assert_eq!(
            Message::decode(&frame[LENGTH_PREFIX..], 1024),
            Err(DecodeError::Version(9))
        );
        let mut frame = Message::Bye { reason: "x".into() }.encode();
        frame.push(0);
        assert!(matches!(
            Message::decode(&frame[LENGTH_PREFIX..], 1024),
            Err(DecodeError::Malformed(_))
        ));
    }
}
