use std::process::ExitCode;

fn main() -> ExitCode {
    rapport_server::cli::main()
}
