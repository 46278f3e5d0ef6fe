//! Helpers for the process tests: the one-shot `simpul` commands the crate's own tests
//! use too (kept in `crates/simpul-cli/tests/common`, included here, not copied), and
//! real `simpul run` nodes and relays (`nodes`).
#![allow(dead_code, missing_docs, unreachable_pub)]

pub mod api;
#[path = "../../crates/simpul-cli/tests/common/mod.rs"]
mod cli;
pub mod nodes;

pub use cli::*;
