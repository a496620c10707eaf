//! The `switchyard` command line.

mod demo;
mod policy_cmd;

use clap::{Parser, Subcommand};

/// Switchyard: a load-balancing reverse proxy whose balancing policies are WebAssembly
/// components.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show Switchyard working with no configuration at all.
    Demo {
        /// Print the results once and exit (for scripts and CI).
        #[arg(long)]
        once: bool,
    },
    /// Work with policy components.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

/// Runs a parsed command line; the result is the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { once } => demo::run(once),
        Command::Policy(command) => policy_cmd::run(command),
    }
}
