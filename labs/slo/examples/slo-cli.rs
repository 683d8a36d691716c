//! A stand-alone front end to the toolkit's commands, for trying them
//! without the `masterclass` binary: `cargo run -p slo-toolkit --example slo-cli -- promql test FILE`.

use clap::{Parser, Subcommand};
use slo_toolkit::cli::{run_promql_command, run_slo_command, PromqlCommand, SloCommand};

#[derive(Parser)]
#[command(name = "slo-cli", about = "PromQL, SLO specs and quality gates")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// PromQL tools.
    #[command(subcommand)]
    Promql(PromqlCommand),
    /// SLO tools.
    #[command(subcommand)]
    Slo(SloCommand),
}

fn main() {
    let code = match Cli::parse().command {
        Command::Promql(c) => run_promql_command(c),
        Command::Slo(c) => run_slo_command(c),
    };
    std::process::exit(code);
}
