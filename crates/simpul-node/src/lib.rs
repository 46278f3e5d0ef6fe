//! The simpul daemon: runs the sync protocol of [`simpul_sync`] over the QUIC connections
//! of [`simpul_net`], with the node's [`simpul_store::Store`] as its storage.
//!
//! This crate owns tasks, timers and the wiring between them. It decides nothing about
//! records (the model and the session do) and touches redb only through the store, whose
//! blocking calls run on tokio's blocking pool, never on a worker thread.

pub mod admin;
pub mod api;
pub mod board;
pub mod clock;
pub mod codec;
pub mod config;
pub mod daemon;
pub mod driver;
pub mod listener;
pub mod metrics;
pub mod service;
pub mod store_health;

pub use config::{ConfigError, NodeConfig};
pub use daemon::{DaemonError, run};
pub use driver::{NodeLinks, SessionEnd, SessionOptions, run_session};
