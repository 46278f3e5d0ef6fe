//! `simpul run`: the daemon, until SIGTERM or Ctrl-C.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result};
use simpul_node::NodeConfig;

use crate::exit::{REJECTED, coded};

pub(crate) fn run(config: &Path, log_json: bool) -> Result<()> {
    let cfg = NodeConfig::load(config).map_err(|e| coded(REJECTED, e.to_string()))?;
    // Automerge instruments its loading with info-level spans (one per column and change
    // set): at info they cost ~5% of a receiving node's CPU and say nothing to a reader.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIMPUL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,automerge=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour for a person at a terminal; plain text for log files and journald.
        .with_ansi(std::io::stderr().is_terminal());
    if log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    let runtime = super::async_runtime()?;
    runtime.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            let _ = stop_tx.send(true);
        });
        simpul_node::run(cfg, stop_rx).await.context("node failed")
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
