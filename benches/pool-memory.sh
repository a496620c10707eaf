#!/usr/bin/env bash
# Memory per idle upstream connection: what a proxy's pool of idle connections to its
# backend costs, measured as connections.sh measures client connections — the slope of
# the proxy's RSS against N — for Switchyard (one worker), nginx (one worker,
# `keepalive N`) and HAProxy (one thread, `http-reuse always`) in one run.
#
# For each proxy and each N in COUNTS, two points on a fresh proxy each, the clients
# (benches/idle_clients.py, one GET per connection) holding their connections open
# after the answers: "pool", every request in flight at once against a backend that
# answers after DELAY seconds (a small asyncio server), so the proxy opens N upstream
# connections and keeps them idle afterwards; and "direct", the same with the backend
# answering at once and at most 100 requests in flight, so the proxy keeps few. The
# proxy's RSS is read once it has settled (unchanged for 3 s, or after 30 s: memory
# freed after the burst of N requests in flight is given back with a delay). The cost
# of one idle upstream connection is the slope of "pool" over N less the slope of
# "direct" (which holds the same client connections), in KiB. Each pool may keep N
# idle connections for 10 minutes; the proxy's descriptor count is checked to hold
# them. Descriptors: the proxy holds 2N, so N is at most 9,000.
#
set -Eeuo pipefail
cd "$(dirname "$0")/.."
COUNTS=${COUNTS:-1000 4000}
DELAY=${DELAY:-2}
source benches/common.sh
trap 'echo "pool-memory.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
need nginx:nginx-light haproxy:haproxy pgrep:procps python3:python3
build
ulimit -n "$(ulimit -Hn)"
BACKEND=18291 FAST=18290 NGINX=18292 HAPROXY=18294 SWITCHYARD=18295
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
setsid python3 "$WORK/backend.py" $FAST 0 &

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

fd_count() { ls "/proc/$1/fd" | wc -l; }
wait_port() {
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
    echo "pool-memory.sh: nothing listens on port $1" >&2; return 1
}
wait_port $BACKEND

# point NAME PORT N KIND: one measurement on a fresh proxy whose backend is the slow
# one (KIND pool) or the fast one (direct).
point() {
    local name=$1 port=$2 n=$3 kind=$4 pid master="" rss0 rss1 fd0 fd1 window=$3 backend=$BACKEND
    [ "$kind" = pool ] || { window=100; backend=$FAST; }
    sed -e "s/:$BACKEND\b/:$backend/" "$WORK/$name.conf.in" > "$WORK/$name.conf.now"
    case $name in
    nginx) setsid nginx -c "$WORK/nginx.conf.now" -p "$WORK" -g 'daemon off;' & master=$!
           wait_port "$port"
           for _ in $(seq 100); do pid=$(pgrep -P $master) && break; sleep 0.1; done ;;
    haproxy) setsid haproxy -f "$WORK/haproxy.conf.now" -q 2>/dev/null & pid=$!; wait_port "$port" ;;
    switchyard) RUST_LOG=warn setsid "$BIN" run --config "$WORK/switchyard.conf.now" & pid=$!; wait_port "$port" ;;
    esac
    sleep 1
    rss0=$(rss_kib "$pid"); fd0=$(fd_count "$pid")
    # One client process per 4,500 connections, holding them until its stdin closes.
    local k=$(( (n + 4499) / 4500 )) i clients=()
    mkfifo "$WORK/hold"
    for i in $(seq "$k"); do
        REQUEST_WINDOW=$window python3 benches/idle_clients.py 127.0.0.1 "$port" $(( n / k )) h1 \
            <"$WORK/hold" >"$WORK/client.$i.out" 2>"$WORK/client.$i.err" &
        clients+=($!)
    done
    exec 9>"$WORK/hold"
    for _ in $(seq 600); do
        [ "$(grep -l '^ready' "$WORK"/client.*.out 2>/dev/null | wc -l)" -lt "$k" ] || break
        for i in "${clients[@]}"; do kill -0 "$i" 2>/dev/null || { cat "$WORK"/client.*.err >&2; return 1; }; done
        sleep 0.2
    done
    rss1=$(settled "$pid"); fd1=$(fd_count "$pid")
    exec 9>&-
    wait "${clients[@]}" || true
    rm -f "$WORK/hold" "$WORK"/client.*
    if [ -n "$master" ]; then kill "$master"; wait "$master" 2>/dev/null || true; else kill "$pid"; wait "$pid" 2>/dev/null || true; fi
    printf '%-11s %-6s N=%-5s rss %7s -> %7s KiB (%+7d)   descriptors %+d (clients and upstream)\n' \
        "$name" "$kind" "$n" "$rss0" "$rss1" $((rss1 - rss0)) $((fd1 - fd0))
    echo "$name $kind $n $((rss1 - rss0))" >> "$WORK/pool"
}

mv "$WORK/nginx.conf" "$WORK/nginx.conf.in"
mv "$WORK/haproxy.cfg" "$WORK/haproxy.conf.in"
mv "$WORK/switchyard.toml" "$WORK/switchyard.conf.in"
echo "== $(date -u +%F) — idle upstream connections; slow backend answers after ${DELAY}s; N in $COUNTS"
for n in $COUNTS; do
    for name in nginx haproxy switchyard; do
        point $name "$(eval echo \$${name^^})" "$n" pool
        point $name "$(eval echo \$${name^^})" "$n" direct
    done
done
awk '{ k = $1 " " $2; n[k] += 1; x[k] += $3; y[k] += $4; xx[k] += $3 * $3; xy[k] += $3 * $4; p[$1] = 1 }
END {
  print "KiB per idle upstream connection: slope of RSS over N with N idle upstream connections, less the slope without them"
  for (q in p) {
    a = q " pool"; b = q " direct"
    sa = (n[a] * xy[a] - x[a] * y[a]) / (n[a] * xx[a] - x[a] * x[a])
    sb = (n[b] * xy[b] - x[b] * y[b]) / (n[b] * xx[b] - x[b] * x[b])
    printf "  %-11s %6.2f   (pool %.2f, direct %.2f)\n", q, sa - sb, sa, sb
  }
}' "$WORK/pool"
