//! NDJSON files, one per resource type, as FHIR bulk data uses them.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use simpul_model::Record;

/// The resource types the export writes, each to its own file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    /// `Patient`.
    Patient,
    /// `RelatedPerson`.
    RelatedPerson,
    /// `Encounter`.
    Encounter,
    /// `Observation`.
    Observation,
    /// `Immunization`.
    Immunization,
}

impl ResourceType {
    /// Every type, in file-creation order.
    pub const ALL: [ResourceType; 5] = [
        ResourceType::Patient,
        ResourceType::RelatedPerson,
        ResourceType::Encounter,
        ResourceType::Observation,
        ResourceType::Immunization,
    ];

    /// The FHIR resource type name.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceType::Patient => "Patient",
            ResourceType::RelatedPerson => "RelatedPerson",
            ResourceType::Encounter => "Encounter",
            ResourceType::Observation => "Observation",
            ResourceType::Immunization => "Immunization",
        }
    }

    /// The file the type is written to: `<Type>.ndjson`.
    pub fn file_name(self) -> String {
        format!("{}.ndjson", self.as_str())
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many resources of each type an export wrote. Serialises as
/// `{"Patient": n, "RelatedPerson": n, ...}`, the form `scripts/fhir_validate.py` prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    /// `Patient` resources.
    #[serde(rename = "Patient")]
    pub patient: u64,
    /// `RelatedPerson` resources.
    #[serde(rename = "RelatedPerson")]
    pub related_person: u64,
    /// `Encounter` resources.
    #[serde(rename = "Encounter")]
    pub encounter: u64,
    /// `Observation` resources.
    #[serde(rename = "Observation")]
    pub observation: u64,
    /// `Immunization` resources.
    #[serde(rename = "Immunization")]
    pub immunization: u64,
}

impl Counts {
    /// The count for one type.
    pub fn get(&self, t: ResourceType) -> u64 {
        match t {
            ResourceType::Patient => self.patient,
            ResourceType::RelatedPerson => self.related_person,
            ResourceType::Encounter => self.encounter,
            ResourceType::Observation => self.observation,
            ResourceType::Immunization => self.immunization,
        }
    }

    fn bump(&mut self, t: ResourceType) {
        let slot = match t {
            ResourceType::Patient => &mut self.patient,
            ResourceType::RelatedPerson => &mut self.related_person,
            ResourceType::Encounter => &mut self.encounter,
            ResourceType::Observation => &mut self.observation,
            ResourceType::Immunization => &mut self.immunization,
        };
        *slot += 1;
    }

    /// All resources.
    pub fn total(&self) -> u64 {
        ResourceType::ALL.iter().map(|&t| self.get(t)).sum()
    }
}

/// Writes one resource and a newline, `resourceType` first as FHIR's JSON examples
/// have it (readers that sniff the type from the start of a line rely on it).
fn write_line(out: &mut impl Write, t: ResourceType, json: &Value) -> io::Result<()> {
    write!(out, "{{\"resourceType\":\"{t}\"")?;
    if let Value::Object(fields) = json {
        for (key, value) in fields.iter().filter(|(k, _)| *k != "resourceType") {
            out.write_all(b",")?;
            serde_json::to_writer(&mut *out, key)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, value)?;
        }
    }
    out.write_all(b"}\n")
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// One of the export's files is already in the directory; an export never
    /// overwrites or appends to an earlier one.
    #[error("create {}: the file already exists (export into an empty directory)", path.display())]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Another export is writing to the directory (one still running, perhaps at the
    /// node after its command was interrupted: it stops at its next page).
    #[error("another export is writing to {}; try again in a moment", dir.display())]
    Busy {
        /// The directory.
        dir: PathBuf,
    },
    /// A stopped export's checkpoint does not describe the files beside it (edited,
    /// or the files were cut): move the directory away and export again.
    #[error("{}: {reason}; move the directory away and export again", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What does not fit.
        reason: String,
    },
    /// Creating the directory or a file, writing, or syncing failed.
    #[error("write {}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: io::Error,
    },
}

struct Sink {
    path: PathBuf,
    out: BufWriter<File>,
}

/// The file in an export's directory that says where a stopped export goes on from;
/// removed when the export finishes.
pub const CHECKPOINT_FILE: &str = ".export-checkpoint.json";

/// Where an export stood when it last made its files durable: how long each file was
/// then, what it had counted, and the caller's cursor (what to go on after).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// What the export is of (the caller's name for its source: a node's store and its
    /// epoch): an export goes on only from the same source.
    pub source: String,
    /// The caller's cursor (a record id): everything up to it is in the files.
    pub after: Option<String>,
    /// Each file's length, in [`ResourceType::ALL`] order.
    pub lengths: [u64; 5],
    /// The resources written up to the cursor.
    pub counts: Counts,
}

/// Writes records as FHIR NDJSON into a directory: `Patient.ndjson`,
/// `RelatedPerson.ndjson`, `Encounter.ndjson`, `Observation.ndjson` and
/// `Immunization.ndjson`, one resource per line.
///
/// Drive it with [`Export::create`] (or [`Export::resume_or_create`]), then
/// [`Export::add`] once per record (in any order; adding a record twice writes it
/// twice), with [`Export::checkpoint`] now and then, then [`Export::finish`], which
/// flushes and syncs the files, removes the checkpoint and returns the counts. An
/// export stopped before `finish` (interrupted, killed, a power cut) goes on from its
/// last checkpoint with `resume_or_create`; what it wrote after it is cut off.
pub struct Export {
    dir: PathBuf,
    sinks: Vec<Sink>,
    counts: Counts,
    /// What it is an export of (see [`Checkpoint::source`]).
    source: String,
    /// The directory, locked while this export writes to it.
    _lock: File,
}

/// Locks `dir` for one export (released when the file closes, a crash included).
fn lock(dir: &Path) -> Result<File, ExportError> {
    let io = |source| ExportError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let file = File::open(dir).map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ExportError::Busy {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

impl fmt::Debug for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export")
            .field("dir", &self.dir)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Export {
    /// Creates the directory if needed and the five files, empty. Fails with
    /// [`ExportError::Exists`], before creating anything, when any of them is there.
    pub fn create(dir: impl AsRef<Path>) -> Result<Export, ExportError> {
        Export::create_from(dir, "")
    }

    /// [`Export::create`], of `source` (what a stopped export must be going on from).
    fn create_from(dir: impl AsRef<Path>, source: &str) -> Result<Export, ExportError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| ExportError::Io {
            path: dir.clone(),
            source,
        })?;
        let lock = lock(&dir)?;
        let paths: Vec<PathBuf> = ResourceType::ALL
            .iter()
            .map(|t| dir.join(t.file_name()))
            .collect();
        if let Some(path) = paths.iter().find(|p| p.exists()) {
            return Err(ExportError::Exists { path: path.clone() });
        }
        let mut sinks = Vec::with_capacity(paths.len());
        for path in paths {
            // Owner-only (health records), and never over anything already there.
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| match source.kind() {
                    io::ErrorKind::AlreadyExists => ExportError::Exists { path: path.clone() },
                    _ => ExportError::Io {
                        path: path.clone(),
                        source,
                    },
                })?;
            sinks.push(Sink {
                path,
                out: BufWriter::new(file),
            });
        }
        let mut export = Export {
            dir,
            sinks,
            counts: Counts::default(),
            source: source.to_string(),
            _lock: lock,
        };
        // From the first moment the files exist, a stopped export can go on.
        export.checkpoint(None)?;
        Ok(export)
    }

    /// Goes on with the export stopped in `dir`, from its last checkpoint (each file cut
    /// back to its length then), or, when `dir` holds no checkpoint, creates a new one
    /// as [`Export::create`] does. `source` names what is exported (a node's store and
    /// its epoch): a checkpoint written from another is refused. Returns the export and
    /// the checkpoint's cursor (`None` from the start).
    pub fn resume_or_create(
        dir: impl AsRef<Path>,
        source: &str,
    ) -> Result<(Export, Option<String>), ExportError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(CHECKPOINT_FILE);
        let lock = match lock(&dir) {
            Err(ExportError::Io { source: e, .. }) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((Export::create_from(dir, source)?, None));
            }
            other => other?,
        };
        let bytes = match std::fs::read(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                drop(lock);
                return Ok((Export::create_from(dir, source)?, None));
            }
            Err(e) => return Err(ExportError::Io { path, source: e }),
            Ok(bytes) => bytes,
        };
        let bad = |reason: String| ExportError::Checkpoint {
            path: path.clone(),
            reason,
        };
        let checkpoint: Checkpoint =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a checkpoint: {e}")))?;
        if checkpoint.source != source {
            return Err(bad(format!(
                "the stopped export is of {:?}, not of {source:?}",
                checkpoint.source
            )));
        }
        let mut sinks = Vec::with_capacity(ResourceType::ALL.len());
        for (t, length) in ResourceType::ALL.iter().zip(checkpoint.lengths) {
            let path = dir.join(t.file_name());
            let io = |source| ExportError::Io {
                path: path.clone(),
                source,
            };
            // Never through a link planted where a file of the export was.
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => bad(format!("{} is missing", path.display())),
                    _ => io(e),
                })?;
            let held = file.metadata().map_err(io)?.len();
            if held < length {
                return Err(bad(format!(
                    "{} holds {held} bytes, the checkpoint says {length}",
                    path.display()
                )));
            }
            file.set_len(length).map_err(io)?;
            let mut file = file;
            file.seek(io::SeekFrom::End(0)).map_err(io)?;
            sinks.push(Sink {
                path,
                out: BufWriter::new(file),
            });
        }
        let export = Export {
            dir,
            sinks,
            counts: checkpoint.counts,
            source: checkpoint.source,
            _lock: lock,
        };
        Ok((export, checkpoint.after))
    }

    /// Makes every resource written so far durable and records `after` (the caller's
    /// cursor: everything up to it is written) as where a stopped export goes on from.
    pub fn checkpoint(&mut self, after: Option<&str>) -> Result<(), ExportError> {
        let mut lengths = [0u64; 5];
        for (sink, length) in self.sinks.iter_mut().zip(&mut lengths) {
            let io = |source| ExportError::Io {
                path: sink.path.clone(),
                source,
            };
            sink.out.flush().map_err(io)?;
            let file = sink.out.get_mut();
            file.sync_data().map_err(io)?;
            *length = file.stream_position().map_err(io)?;
        }
        let checkpoint = Checkpoint {
            source: self.source.clone(),
            after: after.map(str::to_string),
            lengths,
            counts: self.counts,
        };
        let path = self.dir.join(CHECKPOINT_FILE);
        let staged = self.dir.join(format!("{CHECKPOINT_FILE}.new"));
        let io = |source| ExportError::Io {
            path: path.clone(),
            source,
        };
        let json = serde_json::to_vec(&checkpoint).map_err(|e| io(e.into()))?;
        let _ = std::fs::remove_file(&staged);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged)
            .map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&staged, &path).map_err(io)?;
        sync_dir(&self.dir).map_err(io)
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends the resources of one record ([`crate::resources`]) to their files.
    pub fn add(&mut self, record: &Record) -> Result<(), ExportError> {
        for (t, json) in crate::typed_resources(record) {
            let sink = &mut self.sinks[t.index()];
            let written = write_line(&mut sink.out, t, &json);
            written.map_err(|source| ExportError::Io {
                path: sink.path.clone(),
                source,
            })?;
            self.counts.bump(t);
        }
        Ok(())
    }

    /// What has been written so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Flushes and syncs every file and removes the checkpoint; returns how many
    /// resources of each type were written.
    pub fn finish(self) -> Result<Counts, ExportError> {
        for Sink { path, out } in self.sinks {
            let file = out.into_inner().map_err(|e| ExportError::Io {
                path: path.clone(),
                source: e.into_error(),
            })?;
            file.sync_all()
                .map_err(|source| ExportError::Io { path, source })?;
        }
        let path = self.dir.join(CHECKPOINT_FILE);
        std::fs::remove_file(&path)
            .and_then(|()| sync_dir(&self.dir))
            .map_err(|source| ExportError::Io { path, source })?;
        Ok(self.counts)
    }
}

/// Makes a rename or removal in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
