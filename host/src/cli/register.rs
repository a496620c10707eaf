//! `switchyard register`: puts one instance under a service's prefix in etcd on a
//! lease, keeps the lease alive, and revokes it on SIGINT/SIGTERM. Should this process
//! die, the lease expires and the instance vanishes from every proxy watching.

use super::signals::Signals;
use crate::etcd::connect;
use etcd_client::{Client, PutOptions};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

/// What to register.
#[derive(Debug, Clone, clap::Args)]
pub struct Registration {
    /// etcd client URL(s), e.g. http://127.0.0.1:2379 (repeat for several).
    #[arg(long = "etcd", required = true)]
    pub etcd: Vec<String>,
    /// The service: the instance goes under PREFIX + SERVICE + "/".
    #[arg(long)]
    pub service: String,
    /// The instance's ip:port.
    #[arg(long)]
    pub address: SocketAddr,
    /// Relative weight.
    #[arg(long, default_value_t = 1)]
    pub weight: u32,
    /// Locality zone.
    #[arg(long, default_value = "")]
    pub zone: String,
    /// Lease time to live: how long the instance outlives this process.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// Where services live.
    #[arg(long, default_value = "/services/")]
    pub prefix: String,
}

impl Registration {
    /// The instance's key, e.g. `/services/user/10.0.0.5:50051`.
    pub fn key(&self) -> String {
        format!("{}{}/{}", self.prefix, self.service, self.address)
    }

    /// The instance's value, as etcd discovery reads it.
    pub fn value(&self) -> String {
        serde_json::json!({
            "address": self.address.to_string(),
            "weight": self.weight,
            "zone": self.zone,
        })
        .to_string()
    }
}

/// Registers and stays until SIGINT or SIGTERM.
pub fn run(registration: Registration) -> anyhow::Result<()> {
    if registration.weight == 0 {
        anyhow::bail!("--weight: must be at least 1");
    }
    if registration.ttl < Duration::from_secs(1) {
        anyhow::bail!("--ttl: must be at least 1s");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut signals = Signals::install()?;
        let client = connect(&registration.etcd)
            .await
            .map_err(anyhow::Error::msg)?;
        let lease = Cell::new(None);
        tokio::select! {
            () = keep_registered(client.clone(), &registration, &lease) => {}
            () = signals.stop() => {}
        }
        // Revoking the lease deletes the key at once rather than at its expiry.
        if let Some(id) = lease.get() {
            let revoked =
                tokio::time::timeout(Duration::from_secs(2), client.clone().lease_revoke(id)).await;
            match revoked {
                Ok(Ok(_)) => println!("deregistered {}", registration.key()),
                _ => eprintln!(
                    "switchyard register: could not revoke lease {id:x}; {} goes when it expires",
                    registration.key()
                ),
            }
        }
        Ok(())
    })
}

/// Grants a lease, puts the instance on it and keeps it alive; after etcd was lost
/// (a restart, a partition), grants a new one and puts the key again. `lease` holds
/// the lease in force. Runs until cancelled.
async fn keep_registered(
    mut client: Client,
    registration: &Registration,
    lease: &Cell<Option<i64>>,
) {
    let key = registration.key();
    let ttl = registration.ttl.as_secs() as i64;
    let mut failures = 0u32;
    loop {
        match hold(&mut client, registration, &key, ttl, lease).await {
            Ok(()) => failures = 0,
            Err(e) => {
                failures += 1;
                eprintln!("switchyard register: {key}: {e}; trying again");
            }
        }
        let wait = Duration::from_millis(200 * u64::from(failures.min(10)));
        tokio::time::sleep(wait).await;
    }
}

/// One lease: granted, the key put on it, kept alive until etcd stops answering or
/// the lease is gone.
async fn hold(
    client: &mut Client,
    registration: &Registration,
    key: &str,
    ttl: i64,
    lease: &Cell<Option<i64>>,
) -> Result<(), etcd_client::Error> {
    let id = client.lease_grant(ttl, None).await?.id();
    lease.set(Some(id));
    client
        .put(
            key,
            registration.value(),
            Some(PutOptions::new().with_lease(id)),
        )
        .await?;
    println!("registered {key} (lease {id:x}, ttl {ttl}s)");
    let (mut keeper, mut responses) = client.lease_keep_alive(id).await?;
    let every = Duration::from_secs_f64((ttl as f64 / 3.0).max(0.5));
    loop {
        tokio::time::sleep(every).await;
        keeper.keep_alive().await?;
        match responses.message().await? {
            Some(response) if response.ttl() > 0 => {}
            _ => return Ok(()),
        }
    }
}
