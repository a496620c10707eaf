//! Shared set-up for Switchyard's criterion benches.

use std::sync::Arc;
use switchyard::cluster::{Member, Membership};

/// `n` healthy endpoints of weight 1, ids `0..n`.
pub fn membership(n: usize) -> Arc<Membership> {
    Arc::new(Membership::new(
        (0..n)
            .map(|i| {
                let socket = std::net::SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16));
                Member::new(i as u32, socket, 1)
            })
            .collect(),
    ))
}
