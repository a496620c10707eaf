#!/usr/bin/env bash
# Interleaved rounds of `policy_pick`: every selected bench once per round, then per
# bench the median ns over the rounds and the median of its per-round ratio to
# round-robin (same size, same round). On a machine whose speed drifts between runs,
# the ratios are what to compare.
#
# Usage: [ROUNDS=5] [FILTER='pick/.*/wasm'] benches/pick-rounds.sh
# Builds the bench first (cargo bench --no-run), then runs it ROUNDS times with
# --measurement-time 2.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
FILTER=${FILTER:-pick/.*/wasm}
BIN=$(cargo bench -p switchyard-benches --bench policy_pick --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*policy_pick[^"]*\)".*/\1/p' | tail -1)
[ -x "$BIN" ] || { echo "pick-rounds: could not build the policy_pick bench" >&2; exit 1; }
RESULTS=$(mktemp)
trap 'rm -f "$RESULTS"' EXIT
echo "== $(date -u +%F) — $ROUNDS rounds of $FILTER"
for round in $(seq "$ROUNDS"); do
    "$BIN" --bench --measurement-time 2 --warm-up-time 0.5 "$FILTER" 2>&1 |
        grep -E '^pick|time:' | sed 's/ \+/ /g' |
        awk -v r="$round" '/^pick/ { name = $1 }
            /time:/ { for (i = 1; i <= NF; i++) if ($i == "time:") {
                v = $(i + 3); if ($(i + 4) == "µs") v *= 1000; print r, name, v } }' >>"$RESULTS"
done
awk '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
        t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{ split($2, p, "/"); row[NR] = $0; if (p[2] == "round-robin" && p[3] == "wasm") base[$1 " " p[4]] = $3 }
END {
    for (i = 1; i <= NR; i++) {
        split(row[i], f, " "); split(f[2], p, "/")
        ns[f[2]] = ns[f[2]] " " f[3]
        if ((f[1] " " p[4]) in base) ratio[f[2]] = ratio[f[2]] " " f[3] / base[f[1] " " p[4]]
    }
    for (k in ns) printf "%-40s %7.0f ns  %5.2f x round-robin  (rounds:%s)\n", k, median(ns[k]),
        (k in ratio) ? median(ratio[k]) : 0, ns[k]
}' "$RESULTS" | sort
