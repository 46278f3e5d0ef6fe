//! Where a command's reads and writes go: the running node's admin socket when a node is
//! running on the data directory, else the store itself. Both carry out the same
//! [`Request`]s with the same code ([`simpul_node::admin::ops::execute`]).

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Result;
use simpul_node::admin::{AdminClient, Caller, Progress, Reply, Request, ops};
use simpul_node::clock::{now_ms, today};
use simpul_store::{OpenError, Store, StoreOptions};

/// A node to send requests to.
pub(crate) enum Target {
    /// A running node, through its admin socket.
    Running(AdminClient),
    /// A stopped node's store, opened by this process.
    Offline(Store),
}

impl Target {
    /// The running node on `dir`, or its store when no node runs there. Tells a person
    /// at a terminal which it is (scripts get clean stderr; `status` reports it too).
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let target = match AdminClient::connect(dir) {
            Some(client) => Self::Running(client),
            None => match Store::open(dir, StoreOptions::default()) {
                Ok(store) => Self::Offline(store),
                // A node that is starting holds the store before its socket is up.
                Err(OpenError::Locked(_)) if let Some(client) = wait_for_socket(dir) => {
                    Self::Running(client)
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("failed to open the store in {}", dir.display())));
                }
            },
        };
        if std::io::stderr().is_terminal() {
            eprintln!("({})", target.describe(dir));
        }
        Ok(target)
    }

    /// Which way requests go, in words.
    pub(crate) fn describe(&self, dir: &Path) -> String {
        match self {
            Self::Running(client) => format!("via the running node: {}", client.path().display()),
            Self::Offline(_) => format!(
                "node not running: using the store in {} directly",
                dir.display()
            ),
        }
    }

    /// Carries out one request.
    pub(crate) fn call(&mut self, request: Request) -> Result<Reply> {
        self.call_with_progress(request, &mut |_| {})
    }

    /// Carries out one request, passing on how far a long one has got.
    pub(crate) fn call_with_progress(
        &mut self,
        request: Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Reply> {
        match self {
            Self::Running(client) => Ok(client.call_with_progress(&request, progress)?),
            Self::Offline(store) => {
                let progress = std::cell::RefCell::new(progress);
                let report = |p| {
                    (progress.borrow_mut())(p);
                    true
                };
                let caller = Caller::console();
                Ok(ops::execute_with(store, request, &caller, today(), now_ms(), &report)?.0)
            }
        }
    }
}

/// How long a command waits for a starting node's socket.
const SOCKET_WAIT: Duration = Duration::from_secs(5);

fn wait_for_socket(dir: &Path) -> Option<AdminClient> {
    let deadline = Instant::now() + SOCKET_WAIT;
    while Instant::now() < deadline {
        if let Some(client) = AdminClient::connect(dir) {
            return Some(client);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// Unwraps the reply a request must produce; anything else means a node of another
/// version answered.
macro_rules! expect_reply {
    ($reply:expr, $pattern:pat => $value:expr) => {
        match $reply {
            $pattern => Ok($value),
            other => Err(anyhow::anyhow!(
                "the node answered with an unexpected {:?}",
                std::mem::discriminant(&other)
            )),
        }
    };
}
pub(crate) use expect_reply;
