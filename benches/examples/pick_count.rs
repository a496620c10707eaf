//! Runs picks of one built-in policy for `benches/pick-instructions.sh`, which counts
//! the instructions of [`counted`] under callgrind: a cost per pick that a noisy
//! neighbour does not move. Usage: `pick_count POLICY ENDPOINTS PICKS [ZONE]` (with a
//! zone, the proxy is in it and the endpoints are spread over two zones).

use std::hint::black_box;
use switchyard_benches::builtin_pick_policy;
use switchyard_policy::{ClusterPolicy, PolicyEngine, RequestInfo};

/// The picks counted; kept out of line so that callgrind can collect just them.
#[inline(never)]
fn counted(policy: &ClusterPolicy, request: &RequestInfo, picks: u64) {
    for _ in 0..picks {
        black_box(policy.pick(black_box(request)));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (name, endpoints, picks, zone) = match &args[..] {
        [name, endpoints, picks] => (name, endpoints, picks, ""),
        [name, endpoints, picks, zone] => (name, endpoints, picks, zone.as_str()),
        _ => {
            eprintln!("usage: pick_count POLICY ENDPOINTS PICKS [ZONE]");
            std::process::exit(2);
        }
    };
    let (Ok(endpoints), Ok(picks)) = (endpoints.parse::<usize>(), picks.parse::<u64>()) else {
        eprintln!("pick_count: ENDPOINTS and PICKS are counts, not {endpoints:?} {picks:?}");
        std::process::exit(2);
    };
    let engine = PolicyEngine::new().expect("an engine");
    let policy = builtin_pick_policy(&engine, name, endpoints, zone);
    let request = RequestInfo::get("/");
    // Warm: the first picks of an instance fault in its memory.
    for _ in 0..1_000 {
        black_box(policy.pick(&request));
    }
    counted(&policy, &request, picks);
    let faults = policy.stats().fallbacks;
    if faults > 0 {
        eprintln!("pick_count: {name} faulted {faults} times");
        std::process::exit(1);
    }
}
