//! `switchyard policy …`: for policy authors.

use crate::cli::admin_client::AdminArgs;
use crate::cli::policy_check as check;
use crate::cli::policy_new;
use crate::simulate::{self, Scenario};
use anyhow::{Context, bail};
use clap::Subcommand;
use std::path::PathBuf;
use switchyard_policy::{PolicyEngine, builtin, builtin_names};

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load a component as the proxy would, print what it is (world, contract version,
    /// name, config keys), and run smoke picks against synthetic clusters of 3 and 1000
    /// endpoints (and `--endpoints N`), with the request `--header`/`--path` describe.
    /// Exits non-zero on any problem.
    Check(check::CheckArgs),
    /// Replay a workload against a balancer on a simulated clock, with no network:
    /// endpoints with latency distributions, changes over time (an endpoint slows,
    /// fails, dies, leaves, returns), per-phase shares, latencies and keys moved.
    Simulate {
        /// The component (`NAME.wasm`), or the name of a built-in policy.
        file: PathBuf,
        /// The scenario (TOML; see `examples/scenarios/`). Without it, a built-in one:
        /// three endpoints, one slows, another dies and returns.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Configuration for the policy's `init`, as `key=value` (repeatable), after
        /// the scenario's `[policy] config`.
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the built-in policies.
    List,
    /// Create a policy project in a new directory `PARENT/NAME`, outside any checkout:
    /// a small working policy (Rust, Python or JavaScript), a native test, a `build.sh`
    /// writing `NAME.wasm`, a scenario for `policy simulate`, and a README.
    New(policy_new::NewArgs),
    /// Tell a running proxy to stage `NAME.canary.wasm` (already in its policy
    /// directory) beside the serving version of `NAME`: as a canary answering a share
    /// of picks, or a shadow asked off the request path; without either, as each
    /// cluster's `[clusters.rollout]` says.
    Stage {
        /// The policy.
        name: String,
        /// Shadow mode: the candidate is only asked, and its answers compared.
        #[arg(long, conflicts_with = "canary")]
        shadow: bool,
        /// With `--shadow`: the share of picks (0-1) also put to it (default 0.1).
        #[arg(long, value_name = "SHARE", requires = "shadow")]
        sample: Option<f64>,
        /// Canary mode: the percent of picks it answers.
        #[arg(long, value_name = "PERCENT")]
        canary: Option<f64>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Tell a running proxy to promote the staged candidate of `NAME`: it serves every
    /// pick, and its file becomes `NAME.wasm`.
    Promote {
        /// The policy.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Tell a running proxy to roll back the staged candidate of `NAME`: the serving
    /// version answers every pick again, and its file becomes `NAME.canary.rejected`.
    Rollback {
        /// The policy.
        name: String,
        #[command(flatten)]
        admin: AdminArgs,
    },
}

/// Runs a policy subcommand.
pub fn run(command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Check(args) => {
            let config = parse_config(&args.config)?;
            let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let (name, bytes) = read_policy(&args.file)?;
            check::run(&engine, &name, &bytes, &args, config)
        }
        PolicyCommand::Simulate {
            file,
            scenario,
            config,
            json,
        } => {
            let extra = parse_config(&config)?;
            let (mut scenario, keys) = match &scenario {
                Some(path) => Scenario::load(path)?,
                None => (
                    Scenario::parse("(built-in scenario)", simulate::DEFAULT)?,
                    Vec::new(),
                ),
            };
            for (key, value) in extra {
                scenario
                    .policy
                    .config
                    .insert(key, toml::Value::String(value));
            }
            let engine = PolicyEngine::new().map_err(|e| anyhow::anyhow!("{e:#}"))?;
            let (name, bytes) = read_policy(&file)?;
            let component = engine
                .compile(&name, &bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let report = simulate::simulate(component, &scenario, &keys)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
        PolicyCommand::New(args) => policy_new::run(&args),
        PolicyCommand::List => {
            for name in builtin_names() {
                println!("{name}");
            }
            Ok(())
        }
        PolicyCommand::Stage {
            name,
            shadow,
            sample,
            canary,
            admin,
        } => {
            let query = match (shadow, sample, canary) {
                (true, Some(sample), _) => format!("?mode=shadow&sample={sample}"),
                (true, None, _) => "?mode=shadow".to_string(),
                (false, _, Some(percent)) => format!("?mode=canary&percent={percent}"),
                (false, _, None) => String::new(),
            };
            tell(&admin, &name, "stage", &query)
        }
        PolicyCommand::Promote { name, admin } => tell(&admin, &name, "promote", ""),
        PolicyCommand::Rollback { name, admin } => tell(&admin, &name, "rollback", ""),
    }
}

/// Sends rollout command `verb` for policy `name` to the admin API, and prints what it
/// did; an error carries the proxy's reason.
fn tell(admin: &AdminArgs, name: &str, verb: &str, query: &str) -> anyhow::Result<()> {
    let (status, body) = admin.post(&format!("/policies/{name}/{verb}{query}"))?;
    let said = |key: &str| body[key].as_str().unwrap_or("").to_string();
    if status != 200 {
        let reason = [said("reason"), said("error")].join("");
        bail!("{verb} {name}: the proxy answered {status}: {reason}");
    }
    match said("sha256") {
        sha256 if sha256.is_empty() => println!("{name}: {}", said("result")),
        sha256 => println!("{name}: {} sha256:{sha256}", said("result")),
    }
    Ok(())
}

/// A file's bytes, or a built-in's when `file` names one and no such file exists.
fn read_policy(file: &std::path::Path) -> anyhow::Result<(String, Vec<u8>)> {
    let stem = file
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    if !file.exists()
        && let Some(bytes) = builtin(&file.to_string_lossy())
    {
        return Ok((stem, bytes.to_vec()));
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    Ok((stem, bytes))
}

fn parse_config(pairs: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("--config {pair:?}: expected KEY=VALUE"),
        })
        .collect()
}
