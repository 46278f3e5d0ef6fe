//! What the fuzz targets share: a district's keys, a pustu's responder session talking to
//! one of its posyandu (driven the way the node drives it, with a store that judges what
//! arrives through the same admission as the real one), and a node's store in memory for
//! the admin socket and the data API.
//!
//! Every target feeds bytes from outside to the code that first reads them in the node,
//! and checks what must hold whatever arrives: no panic, no hang, nothing the node sends
//! that does not decode, no refusal that stores anything.

pub mod bundle;
pub mod http;
pub mod node;
pub mod seeds;
pub mod session;

use std::sync::OnceLock;

use simpul_model::{Date, FacilityPath};
use simpul_trust::testing::{TestDistrict, TestNode};

/// The pustu whose sessions and store the targets exercise.
pub const PUSTU: &str = "3273/P3273010201/3273010201-PU1";
/// The posyandu whose bytes the fuzzer writes.
pub const POSYANDU: &str = "3273/P3273010201/3273010201-PU1/3273010201-PY04";

/// Parses a facility path the targets name.
///
/// # Panics
/// If `s` is not a path (the constants above are).
pub fn path(s: &str) -> FacilityPath {
    FacilityPath::parse(s).expect("facility path")
}

/// The day every target runs on.
///
/// # Panics
/// Never: the date is valid.
pub fn today() -> Date {
    Date::from_ymd(2026, 10, 31).expect("date")
}

/// The district CA and the two nodes' certificates, made once per process.
pub struct Keys {
    /// The CA.
    pub district: TestDistrict,
    /// The pustu's key.
    pub pustu: TestNode,
    /// The posyandu's key.
    pub posyandu: TestNode,
}

/// The keys, made on first use from a fixed seed (the same every run, so that a crasher
/// replays).
pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let district = TestDistrict::seeded("3273", 0xf022);
        let pustu = district.node(&path(PUSTU));
        let posyandu = district.node(&path(POSYANDU));
        Keys {
            district,
            pustu,
            posyandu,
        }
    })
}

/// Run by every target before its first input. With `SIMPUL_FUZZ_SEEDS=DIR` (and
/// `SIMPUL_FUZZ_CONFIGS=DIR`, the shipped configs), writes every target's seed inputs to
/// `DIR/<target>/seed-N` and exits: the seeds are made by the instrumented build itself,
/// which is the only build `scripts/fuzz.sh` makes.
pub fn init() {
    contained_panics_are_not_crashes();
    let Some(out) = std::env::var_os("SIMPUL_FUZZ_SEEDS") else {
        return;
    };
    let configs = std::env::var_os("SIMPUL_FUZZ_CONFIGS").unwrap_or_default();
    let out = std::path::PathBuf::from(out);
    for (target, inputs) in seeds::all(std::path::Path::new(&configs)) {
        let dir = out.join(target);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            inputs
                .iter()
                .enumerate()
                .try_for_each(|(n, input)| std::fs::write(dir.join(format!("seed-{n}")), input))
        });
        if let Err(e) = written {
            eprintln!("cannot write seeds to {}: {e}", dir.display());
            std::process::exit(1);
        }
        eprintln!("{target}: {} seeds", inputs.len());
    }
    std::process::exit(0);
}

/// libFuzzer's Rust harness aborts on every panic, even one the node catches: Automerge
/// panics on some crafted bytes, and the session runs every Automerge call on a peer's
/// bytes under `catch_unwind` (`guarded`), turning the panic into a refusal. Those are
/// not crashes of the node. A panic that escapes a target still aborts the run (the
/// harness checks), so a panic hook that only reports is enough; it reports the first
/// few, to keep a long run's log short.
fn contained_panics_are_not_crashes() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static REPORTED: AtomicUsize = AtomicUsize::new(0);
    std::panic::set_hook(Box::new(|info| {
        if REPORTED.fetch_add(1, Ordering::Relaxed) < 20 {
            eprintln!("panic (a target that does not catch it fails): {info}");
        }
    }));
}
