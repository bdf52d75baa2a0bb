//! driftwatch's entry point: parse the command line and hand over to [`driftwatch::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    driftwatch::cli::main(driftwatch::cli::Cli::parse())
}
