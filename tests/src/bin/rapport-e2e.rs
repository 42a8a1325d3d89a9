//! The `rapport` command line, built inside this package so that tests
//! can run the real binary (`CARGO_BIN_EXE_rapport-e2e`) and cargo keeps it
//! up to date.

use std::process::ExitCode;

fn main() -> ExitCode {
    rapport_server::cli::main()
}
