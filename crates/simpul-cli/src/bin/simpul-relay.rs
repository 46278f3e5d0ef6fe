//! `simpul-relay`: sits between two nodes and makes their link bad on purpose (the kernel
//! here has no netem). Every datagram is delayed, may be lost, waits for its turn on a
//! rate-limited link with a bounded queue, and is dropped while the link is "down".
//!
//! ```text
//! simpul-relay --listen 127.0.0.1:7500 --to 127.0.0.1:7402 \
//!     --delay-ms 300 --loss 0.05 --rate-kbit 256 [--down-file PATH] [--seed 1]
//! ```
//! A node dials the `--listen` address instead of its peer's. While `--down-file`
//! exists, both directions drop everything (a partition); remove it to heal. Counters go
//! to stderr as one JSON line when the relay stops (SIGTERM or Ctrl-C).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

/// Emulates a bad link between two UDP endpoints.
#[derive(Debug, Parser, Clone)]
#[command(name = "simpul-relay")]
struct Args {
    /// Address the dialling node sends to.
    #[arg(long)]
    listen: SocketAddr,
    /// The real peer behind the link.
    #[arg(long)]
    to: SocketAddr,
    /// One-way delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Probability of losing each datagram (each direction).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// Link rate in kbit/s each way (0: unlimited).
    #[arg(long, default_value_t = 0)]
    rate_kbit: u64,
    /// Bytes that may wait for the link each way; beyond it datagrams are dropped.
    #[arg(long, default_value_t = 64 * 1024)]
    queue_bytes: u64,
    /// While this file exists the link is down.
    #[arg(long)]
    down_file: Option<PathBuf>,
    /// Seed for the loss decisions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Default)]
struct Counters {
    forwarded_bytes: [AtomicU64; 2],
    forwarded: [AtomicU64; 2],
    dropped: [AtomicU64; 2],
}

/// One direction of the link: decides the fate of each datagram and when it leaves.
struct Direction {
    args: Args,
    rng: ChaCha8Rng,
    link_free_at: Instant,
    queued_bytes: Arc<AtomicU64>,
}

impl Direction {
    /// When the datagram of `len` bytes arrives at the far end, or `None` if it is lost.
    fn schedule(&mut self, len: usize, now: Instant) -> Option<Instant> {
        if self.args.down_file.as_ref().is_some_and(|f| f.exists())
            || self.rng.random_bool(self.args.loss.clamp(0.0, 1.0))
        {
            return None;
        }
        if self.queued_bytes.load(Ordering::Relaxed) + len as u64 > self.args.queue_bytes {
            return None;
        }
        let serialize = if self.args.rate_kbit == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(len as f64 * 8.0 / (self.args.rate_kbit as f64 * 1000.0))
        };
        let start = self.link_free_at.max(now);
        self.link_free_at = start + serialize;
        Some(self.link_free_at + Duration::from_millis(self.args.delay_ms))
    }
}

async fn pump(
    from: Arc<UdpSocket>,
    to: Arc<UdpSocket>,
    dest: Arc<Mutex<Option<SocketAddr>>>,
    learn_source: Option<Arc<Mutex<Option<SocketAddr>>>>,
    mut dir: Direction,
    counters: Arc<Counters>,
    index: usize,
) -> Result<()> {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(4096);
    let queued = dir.queued_bytes.clone();
    let sender = {
        let (to, dest, counters, queued) =
            (to.clone(), dest.clone(), counters.clone(), queued.clone());
        tokio::spawn(async move {
            while let Some((at, packet)) = rx.recv().await {
                tokio::time::sleep_until(at).await;
                queued.fetch_sub(packet.len() as u64, Ordering::Relaxed);
                let target = *dest.lock().await;
                if let Some(target) = target
                    && to.send_to(&packet, target).await.is_ok()
                {
                    counters.forwarded[index].fetch_add(1, Ordering::Relaxed);
                    counters.forwarded_bytes[index]
                        .fetch_add(packet.len() as u64, Ordering::Relaxed);
                }
            }
        })
    };
    let mut buf = vec![0u8; 65_536];
    loop {
        let (len, source) = from.recv_from(&mut buf).await.context("receive")?;
        if let Some(slot) = &learn_source {
            *slot.lock().await = Some(source);
        }
        match dir.schedule(len, Instant::now()) {
            Some(at) => {
                queued.fetch_add(len as u64, Ordering::Relaxed);
                if tx.send((at, buf[..len].to_vec())).await.is_err() {
                    break;
                }
            }
            None => {
                counters.dropped[index].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    sender.abort();
    Ok(())
}

fn direction(args: &Args, seed: u64) -> Direction {
    Direction {
        args: args.clone(),
        rng: ChaCha8Rng::seed_from_u64(seed),
        link_free_at: Instant::now(),
        queued_bytes: Arc::new(AtomicU64::new(0)),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let outer = Arc::new(
        UdpSocket::bind(args.listen)
            .await
            .with_context(|| format!("failed to listen on {}", args.listen))?,
    );
    let inner = Arc::new(
        UdpSocket::bind("127.0.0.1:0")
            .await
            .context("failed to bind the relay's inner socket")?,
    );
    let counters = Arc::new(Counters::default());
    // Toward the peer: the destination is fixed. Back: to whoever dialled last.
    let peer = Arc::new(Mutex::new(Some(args.to)));
    let dialler = Arc::new(Mutex::new(None));
    let forward = pump(
        outer.clone(),
        inner.clone(),
        peer,
        Some(dialler.clone()),
        direction(&args, args.seed),
        counters.clone(),
        0,
    );
    let backward = pump(
        inner,
        outer,
        dialler,
        None,
        direction(&args, args.seed ^ 0x5eed),
        counters.clone(),
        1,
    );
    let shutdown = async {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! { _ = term.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        }
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        r = forward => r?,
        r = backward => r?,
        _ = shutdown => {}
    }
    eprintln!(
        "{{\"relay\":\"{}->{}\",\"forwarded\":[{},{}],\"forwarded_bytes\":[{},{}],\"dropped\":[{},{}]}}",
        args.listen,
        args.to,
        counters.forwarded[0].load(Ordering::Relaxed),
        counters.forwarded[1].load(Ordering::Relaxed),
        counters.forwarded_bytes[0].load(Ordering::Relaxed),
        counters.forwarded_bytes[1].load(Ordering::Relaxed),
        counters.dropped[0].load(Ordering::Relaxed),
        counters.dropped[1].load(Ordering::Relaxed),
    );
    Ok(())
}
