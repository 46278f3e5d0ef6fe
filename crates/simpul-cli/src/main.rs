//! `simpul`: the sync node of Integrasi Layanan Primer, and the technician's tool for it.

mod cli;
mod cmd;
mod exit;
mod output;
mod target;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped reading (`simpul patient list | head`) is not a failure.
        Err(err) if exit::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", exit::one_line(&err));
            ExitCode::from(exit::code_for(&err))
        }
    }
}
