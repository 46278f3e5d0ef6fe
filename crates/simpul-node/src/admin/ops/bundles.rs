//! Bundles (sync without a link) as requests: the files are read and written here, by
//! whichever process holds the store (the running node, or the CLI on a stopped one).

use std::path::{Path, PathBuf};

use simpul_bundle::{BundleError, Created};
use simpul_model::{Date, FacilityPath};
use simpul_store::{Store, WriteOutcome};

use super::{read_failure, write_failure};
use crate::admin::protocol::{BundlePeer, BundleWritten, Failure, FailureKind, Reply};

fn failure(e: BundleError) -> Failure {
    match e {
        BundleError::Read(e) => read_failure(e),
        BundleError::Write(e) => write_failure(e),
        BundleError::NoKey => Failure::new(FailureKind::BadRequest, e.to_string()),
        other => Failure::new(FailureKind::Rejected, other.to_string()),
    }
}

fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::new(
        FailureKind::Failed,
        format!("{what} {}: {e}", path.display()),
    )
}

/// The name of part `n` of `parts` written for `out`: `out` itself when there is one,
/// else `<stem>.part<n><.ext>` beside it.
pub fn part_path(out: &Path, n: usize, parts: usize) -> PathBuf {
    if parts == 1 {
        return out.to_path_buf();
    }
    let stem = out
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let name = match out.extension() {
        Some(ext) => format!("{stem}.part{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}.part{n}"),
    };
    out.with_file_name(name)
}

/// Writes `bytes` to `path` whole or not at all: a stick pulled out mid-write leaves no
/// half bundle under the name (a `.partial` beside it at most, removed when the write
/// fails here), and the rename is made durable with the directory.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let partial = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.partial", ext.to_string_lossy()),
        None => "partial".to_string(),
    });
    let written = std::fs::File::create(&partial).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(io_failure("writing", &partial, e));
    }
    std::fs::rename(&partial, path).map_err(|e| io_failure("naming", path, e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Reads a bundle file, refusing one larger than any bundle is.
pub fn read_bundle(path: &Path) -> Result<Vec<u8>, Failure> {
    let len = std::fs::metadata(path)
        .map_err(|e| io_failure("reading", path, e))?
        .len();
    if len > simpul_bundle::format::MAX_FILE {
        return Err(Failure::new(
            FailureKind::Rejected,
            format!(
                "{}: {len} bytes, larger than any bundle ({} at most)",
                path.display(),
                simpul_bundle::format::MAX_FILE
            ),
        ));
    }
    std::fs::read(path).map_err(|e| io_failure("reading", path, e))
}

fn written(peer: &FacilityPath, out: &Path, created: Created) -> Result<BundleWritten, Failure> {
    let parts = created.files.len();
    let mut files = Vec::with_capacity(parts);
    let mut bytes = 0u64;
    for (n, file) in created.files.iter().enumerate() {
        let path = part_path(out, n + 1, parts);
        write_whole(&path, file)?;
        bytes += file.len() as u64;
        files.push(path);
    }
    Ok(BundleWritten {
        peer: peer.clone(),
        files,
        bytes,
        records: created.records,
        stored_bytes: created.stored_bytes,
        summary_bytes: created.summary_bytes,
        basis: created.basis.as_str().to_string(),
    })
}

/// `BundleCreate`.
pub(super) fn create(
    store: &Store,
    peer: &FacilityPath,
    out: &Path,
    peer_cert: Option<&Path>,
    max_bytes: Option<u64>,
    now_ms: u64,
) -> Result<(Reply, Vec<WriteOutcome>), Failure> {
    let cert = peer_cert
        .map(|p| std::fs::read(p).map_err(|e| io_failure("reading", p, e)))
        .transpose()?;
    let created = simpul_bundle::create(
        store,
        peer,
        cert.as_deref(),
        max_bytes.map(|m| m as usize),
        None,
        now_ms,
    )
    .map_err(failure)?;
    Ok((
        Reply::BundleCreated(written(peer, out, created)?),
        Vec::new(),
    ))
}

/// `BundleApply`: each file in order; one applied before is skipped, and the first
/// refused stops the rest (what was applied stays applied, and is said). Then, if every
/// file was taken, the answer.
pub(super) fn apply(
    store: &Store,
    files: &[PathBuf],
    answer: Option<&Path>,
    today: Date,
    now_ms: u64,
) -> Result<(Reply, Vec<WriteOutcome>), Failure> {
    let mut applied = Vec::with_capacity(files.len());
    let mut skipped = Vec::new();
    let mut error = None;
    let mut outcomes = Vec::new();
    for path in files {
        let bytes = match read_bundle(path) {
            Ok(bytes) => bytes,
            Err(f) => {
                error = Some(f.message);
                break;
            }
        };
        match simpul_bundle::apply(store, &bytes, today, now_ms) {
            Ok((done, stored)) => {
                outcomes.extend(stored);
                applied.push(done);
            }
            Err(e @ BundleError::Replayed { .. }) => {
                skipped.push(format!("{}: {e}", path.display()));
            }
            Err(BundleError::Write(e)) if e.is_store_failure() => return Err(write_failure(e)),
            Err(e) => {
                error = Some(format!("{}: {e}", path.display()));
                break;
            }
        }
    }
    let answer = match (answer, applied.last(), &error) {
        (Some(out), Some(last), None) => {
            if let Some(other) = applied.iter().find(|a| a.from != last.from) {
                error = Some(format!(
                    "the bundles applied are from {} and {}: an answer goes to one sender (apply them separately to answer)",
                    other.from, last.from
                ));
                None
            } else {
                match simpul_bundle::create(
                    store,
                    &last.from,
                    None,
                    None,
                    Some(last.raw_id),
                    now_ms,
                )
                .map_err(failure)
                .and_then(|created| written(&last.from, out, created))
                {
                    Ok(w) => Some(w),
                    Err(f) => {
                        error = Some(format!(
                            "the answer was not written ({}); the bundles stay applied: make one with `simpul bundle create --for {}`",
                            f.message, last.from
                        ));
                        None
                    }
                }
            }
        }
        _ => None,
    };
    Ok((
        Reply::BundleApplied {
            applied,
            skipped,
            error,
            answer,
        },
        outcomes,
    ))
}

/// `BundleShow`.
pub(super) fn show(
    store: &Store,
    file: &Path,
    now_ms: u64,
) -> Result<(Reply, Vec<WriteOutcome>), Failure> {
    let bytes = read_bundle(file)?;
    let shown = simpul_bundle::show(store, &bytes, now_ms).map_err(failure)?;
    Ok((Reply::BundleShown(Box::new(shown)), Vec::new()))
}

/// Per peer bundles were exchanged with: when, and what the next bundle would carry.
pub(super) fn peers(store: &Store) -> Result<Vec<BundlePeer>, Failure> {
    let mut out = Vec::new();
    for (path, state) in store.bundle_states().map_err(read_failure)? {
        let (pending, basis) = simpul_bundle::exchange::pending(store, &path).map_err(failure)?;
        out.push(BundlePeer {
            path,
            last_created_ms: state.last_created_ms,
            last_applied_ms: state.last_applied_ms,
            pending,
            basis: basis.as_str().to_string(),
        });
    }
    Ok(out)
}
