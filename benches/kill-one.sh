#!/usr/bin/env bash
# Client latency when one of three backends dies under load. Switchyard (one worker,
# the least-request policy, retries on, HTTP health checks every second) fronts three
# single-worker nginx backends; wrk loads it at a fixed connection count. Each round
# runs a steady window, then a window in which one backend is killed with SIGKILL a
# few seconds in (then started again for the next round), and prints both windows'
# p50/p99 and non-2xx counts; the summary quotes medians over the rounds and the
# ratio of p99 under the kill to p99 steady. Needs nginx-light and wrk (installed with
# apt-get when missing). Usage: [ROUNDS=N] [CONNS=N] benches/kill-one.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-16}
source benches/common.sh
need nginx:nginx-light wrk:wrk
build

PROXY=18090
BACKENDS=(18091 18092 18093)

# Starts the single-worker nginx backend on port $1.
backend() {
    nginx_conf "b$1" "    server { listen 127.0.0.1:$1; location / { return 200 \"backend $1\\n\"; } }"
    nginx -c "$WORK/b$1.conf" -p "$WORK"
}
# Kills the nginx backend on port $1, master and worker, with SIGKILL.
kill_backend() {
    local master
    master=$(cat "$WORK/b$1.pid")
    kill -KILL $(pgrep -P "$master") "$master" 2>/dev/null || true
    rm -f "$WORK/b$1.pid"
}
for port in "${BACKENDS[@]}"; do backend "$port"; done

switchyard_conf "$WORK/switchyard.toml" "$PROXY" "${BACKENDS[@]}"
cat >> "$WORK/switchyard.toml" <<CONF
slow_start = "0s"
[clusters.retries]
attempts = 3
[clusters.health_check]
kind = "http"
path = "/"
interval = "1s"
CONF
RUST_LOG=warn "$BIN" run --config "$WORK/switchyard.toml" &
sleep 1.5

# One wrk window: "name p50 p99 non2xx".
window() { # name
    local out p50 p99 bad
    out=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "http://127.0.0.1:$PROXY/" 2>&1)
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    local errors
    errors=$(awk '/Socket errors/ {print $0}' <<<"$out")
    printf '%-7s p50 %9s   p99 %9s   non-2xx %s %s\n' "$1" "$p50" "$p99" "${bad:-0}" "$errors"
    echo "$1 $p50 $p99 ${bad:-0}" >> "$WORK/results"
}

echo "== $(date -u +%F) — ${DURATION}s windows, $ROUNDS rounds, wrk -t1 -c$CONNS; one backend of three SIGKILLed 2 s into each kill window"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    window steady
    victim=${BACKENDS[$(( (round - 1) % 3 ))]}
    (sleep 2; kill_backend "$victim") &
    window kill
    wait $!
    backend "$victim"
    sleep 3 # probes see it back (healthy_threshold 2 at 1 s)
done

awk "$AWK_STATS"'
{ p50[$1]=p50[$1]" "us($2); p99[$1]=p99[$1]" "us($3); bad[$1]+=$4 }
END {
  printf "medians: steady p50 %.0f us, p99 %.0f us; kill p50 %.0f us, p99 %.0f us\n", median(p50["steady"]), median(p99["steady"]), median(p50["kill"]), median(p99["kill"])
  printf "p99 under the kill / steady: %.2fx; non-2xx responses: steady %d, kill %d\n", median(p99["kill"])/median(p99["steady"]), bad["steady"], bad["kill"]
}' "$WORK/results"
