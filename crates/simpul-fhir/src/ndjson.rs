//! NDJSON files, one per resource type, as FHIR bulk data uses them.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
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

/// Writes records as FHIR NDJSON into a directory: `Patient.ndjson`,
/// `RelatedPerson.ndjson`, `Encounter.ndjson`, `Observation.ndjson` and
/// `Immunization.ndjson`, one resource per line.
///
/// Drive it with [`Export::create`], then [`Export::add`] once per record (in any
/// order; adding a record twice writes it twice), then [`Export::finish`], which
/// flushes and syncs the files and returns the counts. Dropping an export without
/// `finish` leaves files whose last writes may be missing.
pub struct Export {
    dir: PathBuf,
    sinks: Vec<Sink>,
    counts: Counts,
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
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|source| ExportError::Io {
            path: dir.clone(),
            source,
        })?;
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
        Ok(Export {
            dir,
            sinks,
            counts: Counts::default(),
        })
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

    /// Flushes and syncs every file; returns how many resources of each type were written.
    pub fn finish(self) -> Result<Counts, ExportError> {
        for Sink { path, out } in self.sinks {
            let file = out.into_inner().map_err(|e| ExportError::Io {
                path: path.clone(),
                source: e.into_error(),
            })?;
            file.sync_all()
                .map_err(|source| ExportError::Io { path, source })?;
        }
        Ok(self.counts)
    }
}
