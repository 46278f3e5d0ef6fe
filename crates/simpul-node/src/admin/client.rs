//! The CLI's side of the admin socket (blocking: the CLI has no runtime).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{Answer, Failure, Progress, Reply, Request};
use super::socket_path;

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The node refused or could not do it.
    #[error(transparent)]
    Failed(#[from] Failure),
    /// The socket failed (the node stopped?).
    #[error("lost the connection to the node at {0}")]
    Io(PathBuf, #[source] std::io::Error),
    /// The node answered something this CLI does not understand (another version?).
    #[error("the node's answer was not understood")]
    Protocol(#[source] serde_json::Error),
}

/// A connection to a running node's admin socket.
#[derive(Debug)]
pub struct AdminClient {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl AdminClient {
    /// Connects to the node running on `data_dir`; `None` when no node answers there.
    pub fn connect(data_dir: &Path) -> Option<Self> {
        let path = socket_path(data_dir);
        let stream = UnixStream::connect(&path).ok()?;
        let writer = stream.try_clone().ok()?;
        Some(Self {
            path,
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// The socket this client talks to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request and waits for its answer.
    pub fn call(&mut self, request: &Request) -> Result<Reply, CallError> {
        self.call_with_progress(request, &mut |_| {})
    }

    /// Sends one request and waits for its answer, passing on how far the node has got
    /// with a long one (verify, backup, FHIR export) as it reports it.
    pub fn call_with_progress(
        &mut self,
        request: &Request,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Reply, CallError> {
        let mut line = serde_json::to_vec(request).map_err(CallError::Protocol)?;
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .map_err(|e| CallError::Io(self.path.clone(), e))?;
        let mut answer = String::new();
        loop {
            answer.clear();
            let n = self
                .reader
                .read_line(&mut answer)
                .map_err(|e| CallError::Io(self.path.clone(), e))?;
            if n == 0 {
                let eof = std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "node closed the socket",
                );
                return Err(CallError::Io(self.path.clone(), eof));
            }
            match serde_json::from_str(&answer).map_err(CallError::Protocol)? {
                Answer::Ok(reply) => return Ok(reply),
                Answer::Err(failure) => return Err(CallError::Failed(failure)),
                Answer::Progress(p) => progress(p),
            }
        }
    }
}
