//! Hot reload: from a policy file written into the watched directory to the new version
//! serving, through the real watcher. `compiled`: a version never seen before (a
//! built-in-sized policy, compiled); `cached`: a version the compiled cache already has.

use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;
use std::time::{Duration, Instant};
use switchyard::app::App;
use switchyard_benches::{reload_config, stamped};
use switchyard_policy::{PolicyEngine, PolicyRegistry, Sha256Digest, builtin};

/// Writes `bytes` as `file` (atomically, as a deploy tool would) and waits until the
/// registry serves them.
fn swap(registry: &PolicyRegistry, file: &Path, bytes: &[u8]) -> Duration {
    let sha = Sha256Digest::of(bytes);
    let temp = file.with_file_name(".incoming");
    std::fs::write(&temp, bytes).unwrap();
    let started = Instant::now();
    std::fs::rename(&temp, file).unwrap();
    while registry.active("live").map(|v| v.sha256) != Some(sha) {
        std::thread::sleep(Duration::from_micros(200));
    }
    started.elapsed()
}

fn reload(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = builtin("least-request").unwrap();
    let file = dir.join("live.wasm");
    std::fs::write(&file, base).unwrap();
    let config = switchyard::config::parse("bench", &reload_config(&dir, "127.0.0.1:9")).unwrap();
    let engine = PolicyEngine::new().unwrap();
    let proxy = App::start(&config, &engine).unwrap();
    let registry = proxy.registry();

    let mut group = c.benchmark_group("file_to_active");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    let mut fresh = 0u32;
    group.bench_function("compiled", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    fresh += 1;
                    swap(registry, &file, &stamped(base, fresh))
                })
                .sum()
        })
    });
    let known = [stamped(base, u32::MAX), stamped(base, u32::MAX - 1)];
    for version in &known {
        swap(registry, &file, version);
    }
    let mut turn = 0;
    group.bench_function("cached", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    turn += 1;
                    swap(registry, &file, &known[turn % 2])
                })
                .sum()
        })
    });
    group.finish();
    proxy.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, reload);
criterion_main!(benches);
