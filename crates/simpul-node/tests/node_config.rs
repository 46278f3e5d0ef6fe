//! The demo district in node-config/ is valid and consistent: every file loads, every
//! peer entry points at the node that has that path, and the tree is connected upward.

use std::collections::HashMap;
use std::path::PathBuf;

use simpul_node::NodeConfig;

#[test]
fn the_demo_district_configs_load_and_agree() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node-config");
    let mut nodes = HashMap::new();
    for entry in std::fs::read_dir(&dir).expect("node-config/") {
        let file = entry.expect("entry").path();
        if file.extension().is_some_and(|e| e == "toml") {
            let cfg = NodeConfig::load(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            nodes.insert(cfg.path.clone(), cfg);
        }
    }
    assert_eq!(nodes.len(), 5, "district, puskesmas, pustu, two posyandu");
    for cfg in nodes.values() {
        for (addr, peer) in &cfg.peers {
            let target = nodes
                .get(peer)
                .unwrap_or_else(|| panic!("{} dials unknown {peer}", cfg.path));
            assert_eq!(
                &target.listen, addr,
                "{} dials {peer} at the address it listens on",
                cfg.path
            );
        }
        // Every node but the district dials its parent.
        if let Some(parent) = cfg.path.parent() {
            assert!(
                cfg.peers.iter().any(|(_, p)| p == &parent),
                "{} dials its parent",
                cfg.path
            );
        }
    }
}
