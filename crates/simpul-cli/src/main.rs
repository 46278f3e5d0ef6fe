//! `simpul`: the sync node of Integrasi Layanan Primer, and the technician's tool for it.

mod cli;
mod clock;
mod cmd;
mod exit;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cmd::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = exit::code_for(&err);
            if !exit::is_broken_pipe(&err) {
                eprintln!("error: {}", exit::one_line(&err));
            }
            ExitCode::from(code)
        }
    }
}
