#!/usr/bin/env bash
# Memory per idle upstream connection: what a proxy's pool of idle connections to its
# backend costs, measured as connections.sh measures client connections — the slope of
# the proxy's RSS against N — for Switchyard (one worker), nginx (one worker,
# `keepalive N`) and HAProxy (one thread, `http-reuse always`) in one run.
#
# For each proxy and each N in COUNTS, a fresh proxy is started in front of a backend
# that answers each request after DELAY seconds (a small asyncio server, so that N
# requests at once keep N upstream connections busy); benches/idle_clients.py sends
# one GET on each of N client connections, all in flight together; once every answer
# is in, the clients close their connections, and after a pause (freed memory settles)
# the proxy's RSS is read: what remains over the start is its N idle upstream
# connections (the proxy's descriptor count is checked to hold them), plus whatever
# its allocator keeps of the memory the client connections used, so the figure is an
# upper bound. Each pool is allowed N idle connections and keeps them 10 minutes.
# Descriptors: the proxy holds 2N during the requests, the backend N; N at most 9,000.
#
# Needs nginx-light, haproxy, procps, python3. Usage:
#   [COUNTS="1000 4000"] [DELAY=2] [SWITCHYARD_BIN=PATH] benches/pool-memory.sh
set -Eeuo pipefail
cd "$(dirname "$0")/.."
COUNTS=${COUNTS:-1000 4000}
DELAY=${DELAY:-2}
source benches/common.sh
trap 'echo "pool-memory.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
need nginx:nginx-light haproxy:haproxy pgrep:procps python3:python3
if [ -n "${SWITCHYARD_BIN:-}" ]; then BIN=$SWITCHYARD_BIN; else build; fi
ulimit -n "$(ulimit -Hn)"
BACKEND=18291 NGINX=18292 HAPROXY=18294 SWITCHYARD=18295
MAX=20000

cat > "$WORK/backend.py" <<'PY'
import asyncio, sys
async def handle(reader, writer):
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            await asyncio.sleep(float(sys.argv[2]))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]), backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
setsid python3 "$WORK/backend.py" $BACKEND "$DELAY" &

nginx_conf nginx "    upstream backend { server 127.0.0.1:$BACKEND; keepalive $MAX; keepalive_timeout 10m; }
    server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_read_timeout 60s; } }" $MAX
cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn $MAX
    no strict-limits
defaults
    mode http
    maxconn $MAX
    timeout connect 5s
    timeout client 5m
    timeout server 5m
    http-reuse always
frontend web
    bind 127.0.0.1:$HAPROXY
    default_backend app
backend app
    server b1 127.0.0.1:$BACKEND pool-max-conn -1 pool-purge-delay 10m
CONF
switchyard_conf "$WORK/switchyard.toml" "$SWITCHYARD" "$BACKEND"
cat >> "$WORK/switchyard.toml" <<CONF
[clusters.timeouts]
request = "60s"
per_try = "60s"
[clusters.pool]
max_idle_per_endpoint = $MAX
idle_timeout = "10m"
CONF

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
fd_count() { ls "/proc/$1/fd" | wc -l; }
wait_port() {
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "pool-memory.sh: nothing listens on port $1" >&2; return 1
}
wait_port $BACKEND

# point NAME PORT N: one measurement on a fresh proxy.
point() {
    local name=$1 port=$2 n=$3 pid master="" rss0 rss1 fd0 fd1
    case $name in
    nginx) setsid nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon off;' & master=$!
           wait_port "$port"
           for _ in $(seq 100); do pid=$(pgrep -P $master) && break; sleep 0.1; done ;;
    haproxy) setsid haproxy -f "$WORK/haproxy.cfg" -q 2>/dev/null & pid=$!; wait_port "$port" ;;
    switchyard) RUST_LOG=warn setsid "$BIN" run --config "$WORK/switchyard.toml" & pid=$!; wait_port "$port" ;;
    esac
    sleep 1
    rss0=$(rss_kib "$pid"); fd0=$(fd_count "$pid")
    # One client process per 4,500 connections; each answers, then closes at once.
    local k=$(( (n + 4499) / 4500 )) i
    for i in $(seq "$k"); do
        REQUEST_WINDOW=$n timeout 120 python3 benches/idle_clients.py 127.0.0.1 "$port" \
            $(( n / k )) h1 </dev/null >"$WORK/client.$i.out" 2>"$WORK/client.$i.err" &
    done
    wait $(jobs -p | tail -n "$k") || { cat "$WORK"/client.*.err >&2; return 1; }
    sleep 3
    rss1=$(rss_kib "$pid"); fd1=$(fd_count "$pid")
    if [ -n "$master" ]; then kill "$master"; wait "$master" 2>/dev/null || true; else kill "$pid"; wait "$pid" 2>/dev/null || true; fi
    printf '%-11s N=%-5s rss %7s -> %7s KiB (%+7d)   idle upstream connections held: %d\n' \
        "$name" "$n" "$rss0" "$rss1" $((rss1 - rss0)) $((fd1 - fd0))
    echo "$name $n $((rss1 - rss0)) $((fd1 - fd0))" >> "$WORK/pool"
}

echo "== $(date -u +%F) — idle upstream connections; backend answers after ${DELAY}s; N in $COUNTS"
for n in $COUNTS; do
    point nginx $NGINX "$n"
    point haproxy $HAPROXY "$n"
    point switchyard $SWITCHYARD "$n"
done
awk '{ n[$1] += 1; x[$1] += $2; y[$1] += $3; xx[$1] += $2 * $2; xy[$1] += $2 * $3 }
END {
  print "KiB per idle upstream connection (slope of RSS over N, least squares):"
  for (p in n) printf "  %-11s %6.2f\n", p, (n[p] * xy[p] - x[p] * y[p]) / (n[p] * xx[p] - x[p] * x[p])
}' "$WORK/pool"
