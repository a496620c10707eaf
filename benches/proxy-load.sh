#!/usr/bin/env bash
# Whole-proxy load on loopback: Switchyard (one worker, a WebAssembly policy in the
# path), nginx (one worker) and HAProxy (one thread) in front of the same nginx backend,
# loaded with wrk (HTTP/1.1) and h2load (h2c). Prints requests/s and p50/p99 side by
# side, and Switchyard's ratios; "resilient" is Switchyard again with retries (3
# attempts, budget) and a circuit breaker on, to price the resilience layer when
# nothing fails. Needs nginx-light, haproxy, wrk, nghttp2-client, procps
# (installed with apt-get when missing). Usage: [ROUNDS=N] benches/proxy-load.sh [seconds]
# ROUNDS (default 3) interleaves that many rounds of every measurement, so a noisy
# neighbour hurts all proxies alike; the summary quotes medians over the rounds. Each
# run also prints the CPU time the proxy and the backend spent per request (from
# /proc/PID/stat): on two cores shared by client, proxy and backend, throughput depends
# on all three, and CPU per request shows what each one costs.
# BASELINE=PATH (another switchyard binary, e.g. a build of the previous commit) adds
# it as "baseline", same configuration, in every round: a before/after comparison in
# one run, summarised as the CPU per request of each build, medians and spread.
# ROUTED=N adds "routed": Switchyard again with N routes the load never matches in front
# of the one it does (see routes_conf in common.sh), summarised the same way against
# "switchyard": what routing costs per request.
# ORCA=1 has the backend add an ORCA report (`endpoint-load-metrics: TEXT ...`) to every
# response, for every proxy alike, and adds "reporting": Switchyard again collecting
# those reports ([clusters.load_reports]), summarised against "switchyard" as ROUTED
# is: what collecting a report on every response costs per request.
# ROLLOUT=1 adds "shadowed" and "canaried": Switchyard again with a candidate of its
# policy staged beside the serving version (see rollout_conf in common.sh), as a shadow
# asked on 10% of picks and as a canary answering 10% of them, each summarised against
# "switchyard" as ROUTED is: what a rollout costs per request (the shadow thread's CPU
# included: it is the proxy's).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
CONNS=32
source benches/common.sh
need nginx:nginx-light haproxy:haproxy wrk:wrk h2load:nghttp2-client pgrep:procps
build

BACKEND=18081 NGINX=18082 NGINX_H2=18083 HAPROXY=18084 SWITCHYARD=18085 RESILIENT=18086
BASELINE_PORT=18087 ROUTED_PORT=18088 REPORTING_PORT=18089 SHADOWED_PORT=18090 CANARIED_PORT=18091

# Every proxy does the same header work Switchyard does: X-Forwarded-For and Forwarded.
PROXY_TO_BACKEND='location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Forwarded "for=$remote_addr;proto=http;host=\"$http_host\""; }'
nginx_conf nginx "    upstream backend { server 127.0.0.1:$BACKEND; keepalive 64; }
    server { listen 127.0.0.1:$NGINX; $PROXY_TO_BACKEND }
    server { listen 127.0.0.1:$NGINX_H2 http2; $PROXY_TO_BACKEND }"
# The backend is a second single-worker nginx, so it never shares the proxy's worker.
ORCA_REPORT='TEXT cpu_utilization=0.42, rps_fractional=1000, eps=0.5, named_metrics.queue=3'
BACKEND_HEADERS=${ORCA:+add_header endpoint-load-metrics \"$ORCA_REPORT\" always;} start_backend $BACKEND
nginx -c "$WORK/nginx.conf" -p "$WORK"

cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    http-reuse always
frontend web
    bind 127.0.0.1:$HAPROXY proto h1
    bind 127.0.0.1:$((HAPROXY + 10)) proto h2
    default_backend app
backend app
    option forwardfor
    http-request add-header Forwarded "for=%ci;proto=http;host=\\"%[req.hdr(host)]\\""
    server b1 127.0.0.1:$BACKEND
CONF
# Every server runs in a session of its own, as nginx (a daemon) does and as services
# do under a service manager. With the kernel's autogroup scheduling (on by default on
# Debian), the processes of one session share one CPU share: a proxy left in this
# script's session would share it with wrk and h2load (measured on 2026-11-24:
# Switchyard's HTTP/1.1 throughput 15% lower that way, the backend behind it 20% more
# CPU per request).
setsid haproxy -f "$WORK/haproxy.cfg" -q &
HAPROXY_PID=$!

switchyard_conf "$WORK/switchyard.toml" "$SWITCHYARD" "$BACKEND"
sed -e "s/$SWITCHYARD/$RESILIENT/" "$WORK/switchyard.toml" > "$WORK/resilient.toml"
cat >> "$WORK/resilient.toml" <<CONF
[clusters.retries]
attempts = 3
[clusters.circuit_breaker]
CONF
RUST_LOG=warn setsid "$BIN" run --config "$WORK/switchyard.toml" &
SWITCHYARD_PID=$!
RUST_LOG=warn setsid "$BIN" run --config "$WORK/resilient.toml" &
RESILIENT_PID=$!
if [ -n "${BASELINE:-}" ]; then
    sed -e "s/$SWITCHYARD/$BASELINE_PORT/" "$WORK/switchyard.toml" > "$WORK/baseline.toml"
    RUST_LOG=warn setsid "$BASELINE" run --config "$WORK/baseline.toml" &
    BASELINE_PID=$!
fi
if [ -n "${ROUTED:-}" ]; then
    ROUTES=$ROUTED switchyard_conf "$WORK/routed.toml" "$ROUTED_PORT" "$BACKEND"
    RUST_LOG=warn setsid "$BIN" run --config "$WORK/routed.toml" &
    ROUTED_PID=$!
fi
if [ -n "${ORCA:-}" ]; then
    sed -e "s/$SWITCHYARD/$REPORTING_PORT/" "$WORK/switchyard.toml" > "$WORK/reporting.toml"
    printf '[clusters.load_reports]\norca = true\n' >> "$WORK/reporting.toml"
    RUST_LOG=warn setsid "$BIN" run --config "$WORK/reporting.toml" &
    REPORTING_PID=$!
fi
if [ -n "${ROLLOUT:-}" ]; then
    sed -e "s/$SWITCHYARD/$SHADOWED_PORT/" "$WORK/switchyard.toml" > "$WORK/shadowed.toml"
    rollout_conf "$WORK/shadowed.toml" shadow
    sed -e "s/$SWITCHYARD/$CANARIED_PORT/" "$WORK/switchyard.toml" > "$WORK/canaried.toml"
    rollout_conf "$WORK/canaried.toml" canary
    RUST_LOG=warn setsid "$BIN" run --config "$WORK/shadowed.toml" &
    SHADOWED_PID=$!
    RUST_LOG=warn setsid "$BIN" run --config "$WORK/canaried.toml" &
    CANARIED_PID=$!
fi
sleep 1.5
BACKEND_PID=$(nginx_worker backend)
NGINX_PID=$(nginx_worker nginx)
declare -A PID=([direct]=$BACKEND_PID [nginx]=$NGINX_PID [haproxy]=$HAPROXY_PID
    [switchyard]=$SWITCHYARD_PID [resilient]=$RESILIENT_PID [baseline]=${BASELINE_PID:-}
    [routed]=${ROUTED_PID:-} [reporting]=${REPORTING_PID:-}
    [shadowed]=${SHADOWED_PID:-} [canaried]=${CANARIED_PID:-})

echo "== $(date -u +%F) — ${DURATION}s per run, $ROUNDS rounds, wrk -t1, h2load -m10; policy ${POLICY:-least-request} (WebAssembly)"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    h1 direct $BACKEND $CONNS
    h1 nginx $NGINX $CONNS
    h1 haproxy $HAPROXY $CONNS
    h1 switchyard $SWITCHYARD $CONNS
    [ -z "${BASELINE:-}" ] || h1 baseline $BASELINE_PORT $CONNS
    [ -z "${ROUTED:-}" ] || h1 routed $ROUTED_PORT $CONNS
    [ -z "${ORCA:-}" ] || h1 reporting $REPORTING_PORT $CONNS
    [ -z "${ROLLOUT:-}" ] || h1 shadowed $SHADOWED_PORT $CONNS
    [ -z "${ROLLOUT:-}" ] || h1 canaried $CANARIED_PORT $CONNS
    h1 resilient $RESILIENT $CONNS
    h1 direct $BACKEND 1
    h1 nginx $NGINX 1
    h1 haproxy $HAPROXY 1
    h1 switchyard $SWITCHYARD 1
    h2 nginx $NGINX_H2
    h2 haproxy $((HAPROXY + 10))
    h2 switchyard $SWITCHYARD
    [ -z "${BASELINE:-}" ] || h2 baseline $BASELINE_PORT
    [ -z "${ROUTED:-}" ] || h2 routed $ROUTED_PORT
    [ -z "${ORCA:-}" ] || h2 reporting $REPORTING_PORT
    [ -z "${ROLLOUT:-}" ] || h2 shadowed $SHADOWED_PORT
    [ -z "${ROLLOUT:-}" ] || h2 canaried $CANARIED_PORT
done

# Medians over the rounds: throughput against each competitor, added median latency
# at one connection.
awk "$AWK_STATS"'
BEGIN { proto["h1 32"] = "h1 32 conns"; proto["h2 32"] = "h2c" }
{ key=$1" "$2" "$3; rps[key]=rps[key]" "$4; pc[key]=pc[key]" "$5; bc[key]=bc[key]" "$6
  if ($7 != "") p50[key]=p50[key]" "us($7) }
END {
  for (k in rps) { r[k]=median(rps[k]); c[k]=median(pc[k]); b[k]=median(bc[k]) }
  for (k in p50) l[k]=median(p50[k])
  printf "medians: h1 32 conns: switchyard %.0f, nginx %.0f, haproxy %.0f req/s; h2c: switchyard %.0f, nginx %.0f, haproxy %.0f req/s\n", r["switchyard h1 32"], r["nginx h1 32"], r["haproxy h1 32"], r["switchyard h2 32"], r["nginx h2 32"], r["haproxy h2 32"]
  printf "switchyard/nginx   h1: %.2fx   h2c: %.2fx\n", r["switchyard h1 32"]/r["nginx h1 32"], r["switchyard h2 32"]/r["nginx h2 32"]
  printf "switchyard/haproxy h1: %.2fx   h2c: %.2fx\n", r["switchyard h1 32"]/r["haproxy h1 32"], r["switchyard h2 32"]/r["haproxy h2 32"]
  printf "resilience layer (retries + breaker, nothing failing) h1 32 conns: %.0f vs %.0f req/s, %.3fx\n", r["resilient h1 32"], r["switchyard h1 32"], r["resilient h1 32"]/r["switchyard h1 32"]
  printf "cpu us/req, proxy + backend: h1 32 conns: switchyard %.1f + %.1f, nginx %.1f + %.1f, haproxy %.1f + %.1f (direct: backend %.1f)\n", c["switchyard h1 32"], b["switchyard h1 32"], c["nginx h1 32"], b["nginx h1 32"], c["haproxy h1 32"], b["haproxy h1 32"], b["direct h1 32"]
  printf "cpu us/req, proxy + backend: h2c: switchyard %.1f + %.1f, nginx %.1f + %.1f, haproxy %.1f + %.1f\n", c["switchyard h2 32"], b["switchyard h2 32"], c["nginx h2 32"], b["nginx h2 32"], c["haproxy h2 32"], b["haproxy h2 32"]
  d=l["direct h1 1"]
  printf "added p50 at 1 conn: switchyard %.0f us, nginx %.0f us, haproxy %.0f us\n", l["switchyard h1 1"]-d, l["nginx h1 1"]-d, l["haproxy h1 1"]-d
  if (("baseline h1 32") in r) for (p in proto) compare("this build vs baseline", "switchyard " p, "baseline " p, proto[p])
  if (("routed h1 32") in r) for (p in proto) compare("routed vs unrouted", "routed " p, "switchyard " p, proto[p])
  if (("reporting h1 32") in r) for (p in proto) compare("collecting ORCA reports vs not", "reporting " p, "switchyard " p, proto[p])
  if (("shadowed h1 32") in r) for (p in proto) compare("a shadow on 10% of picks vs none", "shadowed " p, "switchyard " p, proto[p])
  if (("canaried h1 32") in r) for (p in proto) compare("a 10% canary vs none", "canaried " p, "switchyard " p, proto[p])
}
# compare(LABEL, K, BK, PROTO): CPU per request of K against BK, per round.
function compare(label, k, bk, what,    n, mine, theirs, lo, hi, ratios, i, q) {
    n = split(pc[k], mine, " "); split(pc[bk], theirs, " ")
    lo = hi = ""; ratios = ""
    for (i = 1; i <= n; i++) { q = mine[i] / theirs[i]; ratios = ratios " " q; if (lo == "" || q < lo) lo = q; if (hi == "" || q > hi) hi = q }
    printf "%s, %s: cpu us/req %.2f vs %.2f; per-round ratio median %.3f (%.3f..%.3f); req/s %.0f vs %.0f\n", label, what, c[k], c[bk], median(ratios), lo, hi, r[k], r[bk]
}' "$WORK/results"
