//! The `switchyard` command line.

mod admin_client;
mod demo;
pub mod logging;
mod policy_check;
mod policy_cmd;
mod policy_new;
mod register;
mod run;
mod signals;

pub use demo::backend as demo_backend;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Switchyard: a load-balancing reverse proxy whose balancing policies are WebAssembly
/// components.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version = env!("SWITCHYARD_VERSION"), about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy from a configuration file until SIGINT or SIGTERM.
    Run {
        /// The TOML configuration.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a configuration file (and load its policies) without starting.
    CheckConfig {
        /// The TOML configuration.
        file: PathBuf,
    },
    /// Show Switchyard working with no configuration at all: three local backends, a
    /// proxy on the embedded default policy, a burst of traffic and a live table; then
    /// a hot swap to `peak-ewma` under traffic, a backend killed and revived, and the
    /// admin console to watch it in a browser.
    Demo {
        /// Print the table once and exit (for scripts and CI).
        #[arg(long)]
        once: bool,
        /// Where the demo proxy listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the admin API and its console listen.
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
        /// Requests in the burst.
        #[arg(long, default_value_t = 3000)]
        requests: usize,
    },
    /// Register one instance of a service in etcd on a lease kept alive until SIGINT or
    /// SIGTERM (then revoked); if this process dies, the lease expires and the
    /// instance vanishes.
    Register(register::Registration),
    /// Work with policy components.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        // `run` installs its logger once it has read the configuration's format.
        Command::Run { .. } => {}
        // The demo's own tables tell its story; info lines would break them up.
        Command::Demo { .. } => logging::init(crate::config::model::LogFormat::Text, "warn"),
        _ => logging::init(crate::config::model::LogFormat::Text, "info"),
    }
    match cli.command {
        Command::Run { config } => run::run(&config),
        Command::CheckConfig { file } => run::check(&file),
        Command::Demo {
            once,
            listen,
            admin,
            requests,
        } => demo::run(once, demo::DemoAddrs { listen, admin }, requests),
        Command::Register(registration) => register::run(registration),
        Command::Policy(command) => policy_cmd::run(command),
    }
}
