#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a cost figure that does not
# move with a noisy neighbour (CPU-time figures on this shared machine swing by ±20%
# from one round to the next, instruction counts by under 0.1%). Each binary named runs
# with one worker in front of a single-worker nginx backend, under callgrind with
# instrumentation off while it starts and warms up (2,000 requests); then 20,000
# HTTP/1.1 requests (h2load --h1, 32 connections) and 20,000 h2c requests (h2load,
# 32 connections, 10 streams each) are counted. Usage:
#   benches/instructions.sh [BINARY...]    (default: this tree's release build)
# Name the previous build too for a before/after comparison. TLS=1 puts TLS on the
# proxy's listener (a fresh ECDSA P-256 certificate; HTTP/1.1 and h2 over TLS instead
# of HTTP/1.1 and h2c). ROLLOUT=shadow or ROLLOUT=canary stages a candidate of the
# policy beside the serving version (see rollout_conf in common.sh): a shadow asked on
# 10% of picks, or a canary answering 10%. Needs valgrind, nginx-light, nghttp2-client, openssl
# (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
need valgrind:valgrind callgrind_control:valgrind nginx:nginx-light h2load:nghttp2-client curl:curl \
    openssl:openssl
BINARIES=("$@")
if [ ${#BINARIES[@]} -eq 0 ]; then
    build
    BINARIES=("$BIN")
fi
BACKEND=18381 PROXY=18385 REQUESTS=20000

nginx_conf nginx "    server { listen 127.0.0.1:$BACKEND; location / { return 200 \"hello from the backend\\n\"; } }"
nginx -c "$WORK/nginx.conf" -p "$WORK"
switchyard_conf "$WORK/switchyard.toml" "$PROXY" "$BACKEND"
SCHEME=http H2=h2c
if [ "${TLS:-0}" = 1 ]; then
    SCHEME=https H2=h2
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=bench.test \
        -addext subjectAltName=IP:127.0.0.1 2>/dev/null
    # (TOML: [listeners.tls] extends the last [[listeners]], even after [[clusters]].)
    printf '[listeners.tls]\ncert = "%s"\nkey = "%s"\n' "$WORK/cert.pem" "$WORK/key.pem" \
        >> "$WORK/switchyard.toml"
fi
[ -z "${ROLLOUT:-}" ] || rollout_conf "$WORK/switchyard.toml" "$ROLLOUT"
URL="$SCHEME://127.0.0.1:$PROXY/"

# Instructions the proxy under callgrind ($1, its pid) spent on the load "$2...".
count() {
    local pid=$1 label=$2
    shift 2
    callgrind_control -z "$pid" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    "$@" >/dev/null
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$label" "$pid" >/dev/null 2>&1
    sleep 1
    awk '/^totals:/ {s += $2} END {print s}' "$WORK"/callgrind.out.*
    rm -f "$WORK"/callgrind.out.*
}

echo "== $(date -u +%F): instructions per request, ${REQUESTS} requests each, one worker, policy ${POLICY:-least-request}${ROLLOUT:+, a $ROLLOUT candidate staged}, $SCHEME"
printf '%-60s %12s %12s\n' binary "h1 32 conns" "$H2 32x10"
for bin in "${BINARIES[@]}"; do
    RUST_LOG=warn,switchyard_policy::registry=info valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$WORK/callgrind.out" "$bin" run --config "$WORK/switchyard.toml" \
        >"$WORK/valgrind.log" 2>&1 &
    pid=$!
    for _ in $(seq 120); do curl -sk -o /dev/null "$URL" && break; sleep 1; done
    if [ -n "${ROLLOUT:-}" ]; then
        for _ in $(seq 120); do grep -q "candidate staged" "$WORK/valgrind.log" && break; sleep 1; done
        grep -q "candidate staged" "$WORK/valgrind.log" || { echo "the candidate was not staged:"; cat "$WORK/valgrind.log"; exit 1; }
    fi
    h2load -n 2000 -c 8 -m 10 "$URL" >/dev/null
    h2load --h1 -n 2000 -c 8 "$URL" >/dev/null
    h1=$(count "$pid" h1 h2load --h1 -n "$REQUESTS" -c 32 "$URL")
    h2=$(count "$pid" h2 h2load -n "$REQUESTS" -c 32 -m 10 "$URL")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$WORK"/callgrind.out*
    printf '%-60s %12.0f %12.0f\n' "$bin" "$((h1 / REQUESTS))" "$((h2 / REQUESTS))"
done
