//! One module per command.

mod access;
mod bundle;
mod ca;
mod doc;
mod doctor;
mod enroll;
mod feed;
mod generate;
mod history;
mod maintain;
mod patient;
mod people;
mod registry;
mod run;
mod status;
mod submissions;
mod trust;
mod visit;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rand::RngExt;
use simpul_model::{FacilityPath, RecordId};
use simpul_store::{Store, StoreOptions};

use crate::cli::{Cli, Command, ExportCommand};
use crate::exit::{REJECTED, coded};
use crate::target::Target;

/// Threads for blocking work (loading, checking and reading records): enough to keep
/// two cores busy while some wait on the disk. Tokio's default (512) let a sync of a few
/// thousand records start ~90 threads, each leaving its stack and allocator arena
/// behind: a posyandu then idled at 31 MB instead of ~15.
const BLOCKING_THREADS: usize = 8;

/// The async runtime of the commands that need one (`run`, `feed`): two workers, as the
/// machines this runs on have.
pub(crate) fn async_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Runs one command.
pub(crate) fn run(cli: Cli) -> Result<()> {
    let dir = || data_dir(cli.data_dir.as_deref());
    match cli.command {
        Command::Init { path } => init(&dir()?, &path),
        Command::Patient(cmd) => patient::run(&mut Target::open(&dir()?)?, cmd),
        Command::Visit(cmd) => visit::run(&mut Target::open(&dir()?)?, cmd),
        Command::Doc(cmd) => doc::run(&mut Target::open(&dir()?)?, cmd),
        Command::Gen(args) => generate::run(generate::open(&dir()?, &args)?, args),
        Command::Ca(cmd) => ca::run(cmd),
        Command::Enroll(cmd) => enroll::run(cmd),
        Command::Run { config, log_json } => run::run(&config, log_json),
        Command::Doctor { config, json } => doctor::doctor(&config, json),
        Command::Status { json, watch } => status::status(&dir()?, json, watch),
        Command::Peers { json } => status::peers(&mut Target::open(&dir()?)?, json),
        Command::Sync { peer, timeout } => status::sync(&mut Target::open(&dir()?)?, peer, timeout),
        Command::Log { json } => status::log(&mut Target::open(&dir()?)?, json),
        Command::Verify { json } => maintain::verify_dir(&dir()?, json),
        Command::Compact => maintain::compact(&dir()?),
        Command::Backup { out } => maintain::backup(&mut Target::open(&dir()?)?, &out),
        Command::Restore { file, force } => maintain::restore(&dir()?, &file, force),
        Command::Conflicts { action, json, page } => {
            history::conflicts(&mut Target::open(&dir()?)?, action, json, &page)
        }
        Command::Token(cmd) => access::token(&mut Target::open(&dir()?)?, cmd),
        Command::Audit {
            record,
            who,
            facility,
            since,
            limit,
            after,
            json,
        } => {
            let query = access::audit_query(record, who, facility, since, limit, after)?;
            access::audit(&mut Target::open(&dir()?)?, query, json)
        }
        Command::Duplicates { json, page } => {
            people::duplicates(&mut Target::open(&dir()?)?, json, &page)
        }
        Command::Merge { from, into } => people::merge(&mut Target::open(&dir()?)?, &from, &into),
        Command::Report(cmd) => people::report(&mut Target::open(&dir()?)?, cmd),
        Command::Export(ExportCommand::Fhir { out }) => {
            maintain::export_fhir(&mut Target::open(&dir()?)?, &out)
        }
        Command::Revocations(cmd) => trust::revocations(&mut Target::open(&dir()?)?, cmd),
        Command::Facility(cmd) => registry::run(&mut Target::open(&dir()?)?, cmd),
        Command::Satusehat(cmd) => submissions::run(&mut Target::open(&dir()?)?, cmd),
        Command::Feed(cmd) => feed::run(&dir()?, cmd),
        Command::Bundle(cmd) => bundle::run(cmd),
        Command::Quarantine { limit, json } => {
            trust::quarantine(&mut Target::open(&dir()?)?, limit, json)
        }
    }
}

fn data_dir(given: Option<&Path>) -> Result<PathBuf> {
    given.map(Path::to_path_buf).ok_or_else(|| {
        coded(
            2,
            "no data directory: pass --data-dir DIR or set SIMPUL_DATA_DIR",
        )
    })
}

fn init(dir: &Path, path: &str) -> Result<()> {
    let path = facility(path)?;
    let instance: [u8; 4] = rand::rng().random();
    let store = Store::create(dir, &path, instance, StoreOptions::default())
        .with_context(|| format!("failed to create a store in {}", dir.display()))?;
    eprintln!(
        "created store for {} ({}) at {}",
        path,
        path.level(),
        store.file().display()
    );
    Ok(())
}

/// Parses a facility path from the command line.
pub(crate) fn facility(text: &str) -> Result<FacilityPath> {
    FacilityPath::parse(text).map_err(|e| coded(REJECTED, e.to_string()))
}

/// Parses a record id from the command line.
pub(crate) fn record_id(text: &str) -> Result<RecordId> {
    text.parse()
        .map_err(|e: simpul_model::BadId| coded(REJECTED, e.to_string()))
}

/// Rejects a bad command-line value naming its flag.
pub(crate) fn bad_value(flag: &str, reason: impl std::fmt::Display) -> anyhow::Error {
    coded(REJECTED, format!("--{flag}: {reason}"))
}

/// Sixteen fresh random bytes.
pub(crate) fn random_record_id() -> RecordId {
    RecordId::from_bytes(rand::rng().random())
}

/// Shows one page of a list, or with `--all` every page: `show(after, limit)` shows a
/// page and returns where the next one starts. Returns where the list goes on after
/// the pages shown, if it does (for [`say_more`]).
pub(crate) fn paged<C>(
    args: &crate::cli::PageArgs,
    mut after: Option<C>,
    mut show: impl FnMut(Option<C>, u32) -> Result<Option<C>>,
) -> Result<Option<C>> {
    let limit = if args.all {
        simpul_node::admin::MAX_PAGE
    } else {
        args.limit
    };
    loop {
        match show(after.take(), limit)? {
            Some(next) if args.all => after = Some(next),
            rest => return Ok(rest),
        }
    }
}

/// Says on stderr how to go on when a list goes on after the page shown, the cursor
/// quoted for a shell when it needs it (a duplicate key holds spaces).
pub(crate) fn say_more(command: &str, next: Option<impl std::fmt::Display>) {
    if let Some(next) = next {
        let next = next.to_string();
        let plain = next
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c));
        if plain {
            eprintln!("more: simpul {command} --after {next}");
        } else {
            eprintln!(
                "more: simpul {command} --after '{}'",
                next.replace('\'', "'\\''")
            );
        }
    }
}
