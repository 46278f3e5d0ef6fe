//! A session as the node runs one, for bytes from a peer: the pustu's responder session
//! with its posyandu, hello exchanged, and the pustu's records in a store that answers
//! the session's effects (reads, and merges judged by admission).

use simpul_model::automerge::Automerge;
use simpul_model::{Record, RecordId, Scope};
use simpul_sim::memstore::MemStore;
use simpul_sync::{Effect, Item, Message, PROTOCOL_VERSION, Role, Session, SessionConfig};
use simpul_trust::{Seal, Signer, signing_actor};

use crate::{POSYANDU, PUSTU, keys, path, today};

/// Most effects one input may cause; a session that never settles is a hang to report.
const MAX_EFFECTS: usize = 1_000_000;

/// A record `signer` wrote for the posyandu, sealed by its author, with a bound id.
pub fn sealed_record(signer: &Signer, n: u8) -> (Record, Automerge, Vec<Seal>) {
    let generator = simpul_gen::Generator::new(u64::from(n), &path(POSYANDU), 4, today());
    let mut record = generator.patient(u64::from(n));
    let key = signer.key().0;
    record.id = RecordId::bound([key[0], key[1], key[2], key[3]], [n; 9]);
    record.scope = Scope::up(path(POSYANDU));
    let facility = signer.certified().facility.clone();
    let actor = signing_actor(&facility, signer.key(), [n, 0, 0, 0]);
    let doc = record
        .create_document(actor, today(), 1_000 * u64::from(n))
        .expect("a generated record is valid");
    let seal = signer.seal(record.id, simpul_trust::SealKind::Author, &doc.get_heads());
    (record, doc, vec![seal])
}

/// The pustu's store: the keys of both nodes, and records each of them wrote.
pub fn pustu_store() -> MemStore {
    let k = keys();
    let mut store = MemStore::new(k.district.keybook(&[&k.pustu, &k.posyandu]));
    for n in 1..=2 {
        let (record, doc, _) = sealed_record(&k.pustu.signer, n);
        store
            .put_local(&path(PUSTU), &doc, record, &k.pustu.signer)
            .expect("the pustu holds what it wrote");
    }
    store
}

/// The hello the posyandu sends first.
pub fn hello() -> Vec<u8> {
    Message::Hello {
        protocol: PROTOCOL_VERSION,
        max_frame: 1 << 20,
        node: POSYANDU.into(),
        revocations: 0,
    }
    .encode()
}

/// The pustu's session with the posyandu and the store behind it, hello exchanged.
pub struct Rig {
    /// The session.
    pub session: Session,
    /// The pustu's records.
    pub store: MemStore,
    /// Frames the session sent.
    pub sent: Vec<Message>,
}

impl Rig {
    /// A fresh session over a fresh copy of the store.
    pub fn new(store: MemStore) -> Self {
        let session = Session::new(
            SessionConfig {
                max_frame: 1 << 20,
                ..SessionConfig::default()
            },
            Role::Responder,
            path(PUSTU),
            path(POSYANDU),
        );
        let mut rig = Self {
            session,
            store,
            sent: Vec::new(),
        };
        rig.feed(&hello());
        rig
    }

    /// Hands the session bytes from the peer and carries out what it asks until it
    /// waits for the peer again. Returns whether the session is still open.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        self.session.handle_bytes(bytes);
        self.settle();
        !self.session.is_closed()
    }

    fn settle(&mut self) {
        let items = Some(shared_items());
        let frames = settle(&mut self.session, &mut self.store, items, PUSTU, POSYANDU);
        for frame in frames {
            let message = Message::decode(&frame[4..], u32::MAX)
                .expect("the session sends only frames that decode");
            self.sent.push(message);
        }
    }
}

/// Carries out what `session` (at `node`, talking to `peer`) asks of its driver until it
/// waits for the peer: reads answered and merges judged by `store` (the shared items from
/// `items` when given: loading every document for each input would cost most of a run).
/// Returns the frames it sent.
///
/// # Panics
/// If a merge stores a record outside `node`'s scope, or the session never settles.
pub fn settle(
    session: &mut Session,
    store: &mut MemStore,
    items: Option<&[Item]>,
    node: &str,
    peer: &str,
) -> Vec<Vec<u8>> {
    let (node, peer) = (path(node), path(peer));
    let mut sent = Vec::new();
    for _ in 0..MAX_EFFECTS {
        let Some(effect) = session.poll_effect() else {
            return sent;
        };
        if let (Effect::ReadItems, Some(items)) = (&effect, items) {
            session.handle_items(items.to_vec());
            continue;
        }
        if let Some(Effect::Transmit(frame)) =
            store.carry_out(&node, &peer, session, effect, today())
        {
            sent.push(frame);
        }
        for (id, held) in store.records() {
            assert!(
                held.record.scope.held_by(&node),
                "stored record {id} is outside the scope of {node}"
            );
        }
    }
    panic!("the session did not settle after {MAX_EFFECTS} effects");
}

/// The pustu's store, made once per process and copied for each input.
pub fn shared_store() -> &'static MemStore {
    static STORE: std::sync::OnceLock<MemStore> = std::sync::OnceLock::new();
    STORE.get_or_init(pustu_store)
}

/// The items the pustu's store shares with the posyandu, read once per process.
pub fn shared_items() -> &'static [Item] {
    static ITEMS: std::sync::OnceLock<Vec<Item>> = std::sync::OnceLock::new();
    ITEMS.get_or_init(|| shared_store().items_for(&path(POSYANDU), true))
}

/// Runs one input: the bytes a peer sends after its hello, cut into the pieces the
/// network might deliver (the first byte picks the piece size).
pub fn run(data: &[u8]) {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let mut rig = Rig::new(shared_store().clone());
    let piece = usize::from(cut).max(1) * 16;
    for chunk in bytes.chunks(piece) {
        if !rig.feed(chunk) {
            break;
        }
    }
}
