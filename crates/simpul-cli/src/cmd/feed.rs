//! `simpul feed postgres`: the analytics feed, run by hand on a stopped node.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use simpul_feed::{Feed, FeedOptions};
use simpul_node::admin::AdminClient;
use simpul_store::{Store, StoreOptions};

use crate::cli::FeedCommand;
use crate::exit::{REJECTED, coded};

pub(crate) fn run(dir: &Path, cmd: FeedCommand) -> Result<()> {
    let FeedCommand::Postgres {
        url,
        batch,
        follow,
        every,
    } = cmd;
    if !(1..=100_000).contains(&batch) {
        return Err(super::bad_value("batch", "must be between 1 and 100000"));
    }
    if every == 0 {
        return Err(super::bad_value("every", "must be at least 1"));
    }
    if AdminClient::connect(dir).is_some() {
        return Err(coded(
            REJECTED,
            "the node is running: it feeds PostgreSQL itself when its config has a [feed.postgres] section (docs/feed.md)",
        ));
    }
    let store = Store::open(dir, StoreOptions::default())
        .with_context(|| format!("failed to open the store in {}", dir.display()))?;
    let runtime = super::async_runtime()?;
    runtime.block_on(async move {
        let options = FeedOptions {
            batch,
            ..FeedOptions::default()
        };
        let mut feed = Feed::connect(url.as_str(), store, options).await?;
        let started = Instant::now();
        let bar = ProgressBar::hidden();
        let mut shown = false;
        let done = feed
            .run_once(|p| {
                if !shown {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:40} {pos}/{len} changes fed ({per_sec}, {eta} left)",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    shown = true;
                }
                bar.set_length(p.target);
                bar.set_position(p.seq);
            })
            .await?;
        bar.finish_and_clear();
        println!(
            "fed {} records ({} rows) in {:.1} s; at change {} of {}{}",
            done.records,
            done.rows,
            started.elapsed().as_secs_f64(),
            done.seq,
            done.target,
            match done.skipped {
                0 => String::new(),
                n => format!("; {n} damaged records left out (simpul verify names them)"),
            }
        );
        if follow {
            eprintln!("following new changes every {every} s (Ctrl-C stops)");
            let stop = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            feed.follow(Duration::from_secs(every), stop).await?;
        }
        anyhow::Ok(())
    })
}
