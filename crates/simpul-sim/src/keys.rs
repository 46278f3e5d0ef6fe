//! The simulated district's CA and node keys: made once per process from a fixed seed,
//! so that every run (and every replay of a seed) has the same actors and change hashes.

use std::sync::OnceLock;

use simpul_trust::testing::{TestDistrict, TestNode};

/// The CA and one node certificate per facility of [`crate::topology::district`].
pub(crate) struct SimKeys {
    pub(crate) district: TestDistrict,
    pub(crate) nodes: Vec<TestNode>,
}

/// The keys, made on first use.
pub(crate) fn keys() -> &'static SimKeys {
    static KEYS: OnceLock<SimKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let district = TestDistrict::seeded("3273", 0x5150_0001);
        let nodes = crate::topology::district()
            .iter()
            .map(|p| district.node(p))
            .collect();
        SimKeys { district, nodes }
    })
}
