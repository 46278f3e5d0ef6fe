//! A node's configuration file: any text is either a configuration or an error that
//! names the file and what is wrong.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use simpul_node::NodeConfig;

fuzz_target!(init: simpul_fuzz::init(), |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = NodeConfig::parse(text, Path::new("/etc/simpul/node.toml")) {
        assert!(e.to_string().contains("node.toml"), "the error names the file: {e}");
    }
});
