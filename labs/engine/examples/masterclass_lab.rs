//! A stand-in for the `masterclass` binary's `lab` and `toy` subcommands,
//! for trying the engine end to end: `cargo run -p lab-engine --example
//! masterclass_lab -- lab run script.js --mode sim`.

use clap::{Parser, Subcommand};
use lab_engine::cli::{run_lab_command, run_toy_command, LabCommand, ToyCommand};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Lab runs.
    #[command(subcommand)]
    Lab(LabCommand),
    /// The toy service.
    #[command(subcommand)]
    Toy(ToyCommand),
}

#[tokio::main]
async fn main() {
    let code = match Cli::parse().cmd {
        Cmd::Lab(c) => run_lab_command(c).await,
        Cmd::Toy(c) => run_toy_command(c).await,
    };
    std::process::exit(code);
}
