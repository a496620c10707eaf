#!/usr/bin/env bash
# Runs every cargo-fuzz target in host/fuzz for SECONDS each (default 600): the HTTP/1.1
# request head parser and its rewrite, the chunked decoder, the own exchange's response
# head reader, the configuration loader and the scenario loader. Usage:
# benches/fuzz.sh [SECONDS] [TARGET...]. Not part of CI.
#
# Toolchain: libFuzzer needs rustc's unstable flags. This machine's nightly has no
# wasm32-wasip2 target (and none can be downloaded), which the host's build script
# needs to embed the built-in policies; so the targets build with the pinned stable
# toolchain and RUSTC_BOOTSTRAP=1, without a sanitizer (`--sanitizer none`: the code
# under test is safe Rust; libFuzzer's coverage guidance works the same; 4 codegen units
# keep the build of wasmtime and the rest within minutes). New corpus
# entries go to host/fuzz/corpus/TARGET (not committed); the committed seeds are in
# host/fuzz/seeds/TARGET; a crash is saved under host/fuzz/artifacts/TARGET.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-600}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(request_head chunked response_head config scenario)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
cd host
summary=()
for target in "${TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    log=$(mktemp)
    echo "== $target: ${SECONDS_EACH}s"
    set +e
    cargo fuzz run --sanitizer none --codegen-units 4 "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -print_final_stats=1 -max_len=65536 2>&1 | tee "$log" |
        grep -E '^(#[0-9]+ +(INITED|DONE)|==|SUMMARY|stat::)' || true
    set -e
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    speed=$(awk '/stat::average_exec_per_sec/ {print $2}' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    if grep -qE '^==[0-9]+== ERROR|^SUMMARY: libFuzzer' "$log"; then
        result="FOUND (see fuzz/artifacts/$target)"
    else
        result="no finding"
    fi
    summary+=("$(printf '%-14s %12s execs  %8s execs/s  %-10s %s' "$target" "${runs:-?}" "${speed:-?}" "${cov:-}" "$result")")
    rm -f "$log"
done
echo "== summary (${SECONDS_EACH}s each)"
printf '%s\n' "${summary[@]}"
