#!/usr/bin/env bash
# Instructions per pick of the built-in policies through wasmtime, counted by
# valgrind's callgrind: the same set-up as the `policy_pick` criterion bench (1,000 and
# 10,000 reporting endpoints, tables sized for them), but a figure that does not move
# with a noisy neighbour. Time per pick also depends on cache misses, which these counts
# do not show: compare them with `pick-rounds.sh`, not instead of it.
#
# Usage: [SIZES="1000 10000"] [PICKS=100000] benches/pick-instructions.sh [POLICY...]
# (default: every built-in balancer). Prints instructions per pick and the ratio to
# round-robin at the same size. Needs valgrind (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
need valgrind:valgrind
SIZES=${SIZES:-1000 10000}
PICKS=${PICKS:-100000}
POLICIES=("$@")
[ ${#POLICIES[@]} -gt 0 ] || POLICIES=(least-request weighted-round-robin random peak-ewma
    maglev ring-hash locality orca-wrr queue-aware)
cargo build --profile bench -p switchyard-benches --example pick_count >/dev/null 2>&1 ||
    cargo build --profile bench -p switchyard-benches --example pick_count
COUNTER="${CARGO_TARGET_DIR:-target}/release/examples/pick_count"

# per_pick POLICY N: instructions per pick.
per_pick() {
    local out="$WORK/callgrind.$1.$2"
    if ! valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='pick_count::counted*' \
        "$COUNTER" "$1" "$2" "$PICKS" >"$WORK/log" 2>&1; then
        echo "pick-instructions: $1 at $2 endpoints failed:" >&2
        tail -20 "$WORK/log" >&2
        exit 1
    fi
    awk -v picks="$PICKS" '/^(summary|totals):/ { total = $2 } END { printf "%.0f", total / picks }' "$out"
}

echo "== $(date -u +%F) — instructions per pick ($PICKS picks under callgrind)"
for n in $SIZES; do
    base=$(per_pick round-robin "$n")
    printf '%-22s %6s endpoints %6d instructions\n' round-robin "$n" "$base"
    for policy in "${POLICIES[@]}"; do
        [ "$policy" != round-robin ] || continue
        count=$(per_pick "$policy" "$n")
        awk -v p="$policy" -v n="$n" -v c="$count" -v b="$base" \
            'BEGIN { printf "%-22s %6s endpoints %6d instructions  %5.2f x round-robin  %+6d\n", p, n, c, c / b, c - b }'
    done
done
