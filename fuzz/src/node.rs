//! A node's store in memory (redb on a memory backend), with the admin requests and the
//! data API that run against it. A store is replaced after a few hundred inputs, so that
//! a long run's writes do not grow without bound.

use std::sync::Mutex;

use simpul_model::{Record, RecordBody, Role};
use simpul_node::admin::ops::execute;
use simpul_node::admin::{Caller, Failure, FailureKind, Reply, Request};
use simpul_store::faults::Disk;
use simpul_store::{Store, StoreOptions, TokenInfo, token_hash};

use crate::{PUSTU, path, today};

/// Inputs run against one store before it is replaced.
const INPUTS_PER_STORE: u32 = 256;

/// The bearer token the data API target sends (a bidan's: she may write and correct).
pub const TOKEN: &str = "fuzz-bidan-token";

/// A node's store with a patient and a token in it.
pub struct Node {
    /// The store.
    pub store: Store,
    /// A patient it holds.
    pub patient: Record,
    /// One of that patient's visits.
    pub visit: String,
    inputs: u32,
}

impl Node {
    /// A fresh store in memory.
    ///
    /// # Panics
    /// If the store cannot be made in memory.
    pub fn new() -> Self {
        let store = Store::create_with_backend(
            Disk::new().backend(),
            &path(PUSTU),
            [0xf2; 4],
            StoreOptions::default(),
        )
        .expect("a store in memory");
        let generator = simpul_gen::Generator::new(1, &path(PUSTU), 4, today());
        let patient = (0..64)
            .map(|i| generator.patient(i))
            .find(|r| matches!(&r.body, RecordBody::Patient(p) if !p.visits.is_empty()))
            .expect("a generated patient with visits");
        let visit = match &patient.body {
            RecordBody::Patient(p) => p.visits.keys().next().cloned().unwrap_or_default(),
            _ => String::new(),
        };
        run(
            &store,
            Request::Insert {
                record: patient.clone(),
                confirm_implausible: false,
            },
        )
        .expect("a generated patient is stored");
        let info = TokenInfo {
            id: "f0220000".into(),
            name: "fuzz".into(),
            role: Role::Bidan,
            issued_ms: 0,
            revoked_ms: None,
            nik: None,
        };
        store
            .add_token(token_hash(TOKEN), &info)
            .expect("token stored");
        Self {
            store,
            patient,
            visit,
            inputs: 0,
        }
    }
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `f` on the process's node, replaced after [`INPUTS_PER_STORE`] inputs.
pub fn with_node<T>(f: impl FnOnce(&Node) -> T) -> T {
    static NODE: Mutex<Option<Node>> = Mutex::new(None);
    let mut guard = NODE.lock().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().is_none_or(|n| n.inputs >= INPUTS_PER_STORE) {
        *guard = Some(Node::new());
    }
    let node = guard.as_mut().expect("set above");
    node.inputs += 1;
    f(node)
}

/// Carries out an admin request as the console would, and checks what must hold of any
/// answer: a request the store can serve never fails as a store failure or an
/// unexplained error.
///
/// # Panics
/// When the answer is a store failure (the store is in memory and never fails).
pub fn run(store: &Store, request: Request) -> Result<Reply, Failure> {
    let result = execute(
        store,
        request,
        &Caller::console(),
        today(),
        1_790_000_000_000,
    );
    if let Err(f) = &result {
        assert!(
            f.kind != FailureKind::StoreFailed,
            "a request failed the store: {}",
            f.message
        );
        assert!(!f.message.is_empty(), "a failure says what failed");
    }
    result.map(|(reply, _)| reply)
}

/// Whether carrying out `request` would touch the machine outside the store (an export
/// writes files where the request says): such requests are not fuzzed here.
pub fn touches_files(request: &Request) -> bool {
    matches!(
        request,
        Request::ExportFhir { .. }
            | Request::BundleCreate { .. }
            | Request::BundleApply { .. }
            | Request::BundleShow { .. }
    )
}
