#!/usr/bin/env bash
# Raw TCP relaying on loopback: Switchyard's TCP listener (one worker), nginx `stream`
# (one worker) and HAProxy `mode tcp` (one thread) in front of the same redis-server,
# in one run; "direct" is the load straight to redis, the reference.
#
# Part 1, in ROUNDS interleaved rounds (a noisy neighbour hurts every target alike; the
# summary quotes medians): redis-benchmark -c 32, one test per invocation so that its CPU
# is its own: PING (multi-bulk), SET and GET, not pipelined (-P 1, REQUESTS requests
# each) and pipelined (-P 16, 8 x REQUESTS each); then new connections (-k 0: every
# request on a connection of its own, PING, NEW_CONNS requests). Each run prints
# requests/s, p50 and p99, the CPU µs per request of the proxy and of redis (from
# /proc/PID/stat, common.sh's measure) and how busy redis-benchmark was: its CPU time
# over the run's wall time. Near 1.00 the client, one thread like the proxies, set the
# pace rather than the proxy; at -k 0 it spends most of its time opening and closing
# sockets, so there the figures compare the proxies less than they compare the client.
# On two cores shared by client, proxy and redis, CPU per request says what each costs.
# "others" is the cores other work kept busy during the run (all busy CPU time in
# /proc/stat less the client's, the proxy's and redis's, over the wall time): well above
# 0.1, something else ran on the machine and the figures are noisy (the summary warns).
#
# Part 2, memory per idle relayed connection: for each proxy, a fresh one (answering a
# redis-cli PING through it), its RSS read once settled (unchanged for 3 s), then IDLE
# connections opened through it that each carried one PING and its +PONG (a Python
# client written to the work directory), held, and its RSS read again once the proxy
# holds their 2 x IDLE descriptors and its RSS has settled. The growth over IDLE, in
# KiB, is what one idle relayed connection (client side and upstream side) costs the
# proxy process; kernel socket memory is not counted (see connections.sh for that).
#
# Needs redis-server and redis-tools, nginx-light and libnginx-mod-stream, haproxy,
# procps, python3 (apt-get when missing). Every server runs in a session of its own (see
# proxy-load.sh).
# Usage: [ROUNDS=3] [REQUESTS=100000] [NEW_CONNS=10000] [IDLE=2000]
#        [ONLY="direct nginx haproxy switchyard"] [SWITCHYARD_BIN=PATH] benches/tcp-load.sh
# ONLY: the targets to run, a subset of the default, in any order (part 2 skips direct).
# NEW_CONNS: each -k 0 run leaves about that many sockets in TIME_WAIT on each side of
# the proxy for a minute; keep it well under the 28,000 ephemeral ports.
# IDLE: at most 9,000 (a proxy holds 2 x IDLE descriptors; the hard limit is 20,000).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-100000}
NEW_CONNS=${NEW_CONNS:-10000}
IDLE=${IDLE:-2000}
ONLY=${ONLY:-direct nginx haproxy switchyard}
CONNS=32
STREAM_MODULE=/usr/lib/nginx/modules/ngx_stream_module.so
source benches/common.sh
trap 'echo "tcp-load.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR

TARGETS=""
for name in direct nginx haproxy switchyard; do
    [[ " $ONLY " != *" $name "* ]] || TARGETS="$TARGETS $name"
done
for name in $ONLY; do
    [[ " direct nginx haproxy switchyard " == *" $name "* ]] ||
        { echo "tcp-load.sh: ONLY: unknown target $name (direct, nginx, haproxy, switchyard)" >&2; exit 2; }
done
[ "$IDLE" -ge 1 ] && [ "$IDLE" -le 9000 ] || { echo "tcp-load.sh: IDLE must be 1 to 9000" >&2; exit 2; }

need redis-server:redis-server redis-benchmark:redis-tools redis-cli:redis-tools pgrep:procps python3:python3
if wants nginx; then
    need nginx:nginx-light
    if [ ! -f "$STREAM_MODULE" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnginx-mod-stream >/dev/null
    fi
    [ -f "$STREAM_MODULE" ] || { echo "tcp-load.sh: no nginx stream module at $STREAM_MODULE" >&2; exit 1; }
fi
if wants haproxy; then need haproxy:haproxy; fi
if wants switchyard; then build; fi
ulimit -n "$(ulimit -Hn)"

REDIS=18481 NGINX=18482 HAPROXY=18484 SWITCHYARD=18485
declare -A PORT=([direct]=$REDIS [nginx]=$NGINX [haproxy]=$HAPROXY [switchyard]=$SWITCHYARD)
declare -A PID=()      # the process charged: redis for direct, nginx's worker, the others' only one
declare -A STOP=()     # the process to stop: nginx's master, the others' only one

# --- Servers -------------------------------------------------------------------------
cat > "$WORK/nginx.conf" <<CONF
load_module $STREAM_MODULE;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 20000; }
stream {
    upstream redis { server 127.0.0.1:$REDIS; }
    server {
        listen 127.0.0.1:$NGINX backlog=4096;
        proxy_pass redis;
        proxy_connect_timeout 1s;
        proxy_timeout 1h;
    }
}
CONF
cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 9500
defaults
    mode tcp
    maxconn 9500
    timeout connect 1s
    timeout client 1h
    timeout server 1h
frontend redis
    bind 127.0.0.1:$HAPROXY
    default_backend redis
backend redis
    server r1 127.0.0.1:$REDIS
CONF
cat > "$WORK/switchyard.toml" <<CONF
workers = 1
[[listeners]]
name = "redis"
listen = "127.0.0.1:$SWITCHYARD"
protocol = "tcp"
cluster = "redis"
[[clusters]]
name = "redis"
policy = "least-request"
endpoints = [ { address = "127.0.0.1:$REDIS" } ]
CONF

# start NAME: a fresh NAME, relaying a PING to redis (10 s at most); sets PID and STOP.
start() {
    local name=$1 i
    case $name in
    direct)
        setsid redis-server --port "$REDIS" --bind 127.0.0.1 --save '' --appendonly no \
            --daemonize no --maxclients 19000 --logfile "$WORK/direct.log" &
        STOP[direct]=$! PID[direct]=$! ;;
    nginx)
        setsid nginx -c "$WORK/nginx.conf" -p "$WORK" -g 'daemon off;' 2>>"$WORK/nginx.log" &
        STOP[nginx]=$! ;;
    haproxy)
        setsid haproxy -f "$WORK/haproxy.cfg" -q 2>>"$WORK/haproxy.log" &
        STOP[haproxy]=$! PID[haproxy]=$! ;;
    switchyard)
        RUST_LOG=warn setsid "$BIN" run --config "$WORK/switchyard.toml" 2>>"$WORK/switchyard.log" &
        STOP[switchyard]=$! PID[switchyard]=$! ;;
    esac
    for i in $(seq 100); do
        alive "${STOP[$name]}" || break
        [ "$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>/dev/null)" != PONG ] || break
        sleep 0.1
    done
    if ! alive "${STOP[$name]}" || [ "$(redis-cli -h 127.0.0.1 -p "${PORT[$name]}" ping 2>&1)" != PONG ]; then
        echo "tcp-load.sh: $name does not relay a PING to redis on port ${PORT[$name]}; its log:" >&2
        tail -n 20 "$WORK/$name"*.log >&2 2>/dev/null || true
        echo "tcp-load.sh: (ONLY=\"...\" runs a subset of direct nginx haproxy switchyard)" >&2
        exit 1
    fi
    if [ "$name" = nginx ]; then
        for i in $(seq 100); do PID[nginx]=$(pgrep -P "${STOP[nginx]}") && break; sleep 0.1; done
    fi
}

# --- Part 1: redis-benchmark ---------------------------------------------------------
# bench NAME MODE TEST: one redis-benchmark run (MODE P1, P16 or k0) against NAME.
bench() {
    local name=$1 mode=$2 test=$3 n=$REQUESTS args=(-P 1) label
    case $mode in
    P16) n=$((REQUESTS * 8)); args=(-P 16) ;;
    k0) n=$NEW_CONNS; args=(-k 0) ;;
    esac
    label=${test^^}
    # `|| true`: a failed run is reported below, with its output.
    measure "$name" "BEGIN { print $n }" timed redis-benchmark -h 127.0.0.1 -p "${PORT[$name]}" \
        -c $CONNS -n "$n" "${args[@]}" -t "$test" --csv || true
    local line rps p50 p99
    line=$(awk -F'","' -v t="\"$label" '$1 == t { print $2, $5, $7 }' <<<"$OUT")
    if [ -z "$line" ]; then
        echo "tcp-load.sh: redis-benchmark against $name ($mode, $test) gave no figures:" >&2
        echo "$OUT" >&2
        exit 1
    fi
    local busy other proxy=${CPU% *} backend=${CPU#* }
    busy=$(awk '$1 == "client_cpu" { printf "%.2f", ($2 + $3) / ($4 > 0 ? $4 : 1) }' <<<"$OUT")
    other=$(others "$n" "$proxy" "$backend")
    read -r rps p50 p99 <<<"$line"
    printf '%-10s %-3s %-10s %10.0f req/s   p50 %6s ms   p99 %6s ms   cpu/req proxy %5s + redis %5s us   client busy %s   others %s\n' \
        "$name" "$mode" "$label" "$rps" "$p50" "$p99" "$proxy" "$backend" "$busy" "$other"
    echo "$name $mode $label $rps $p50 $p99 $proxy $backend $busy $other" >> "$WORK/results"
}

start direct
BACKEND_PID=${PID[direct]}
for name in $TARGETS; do [ "$name" = direct ] || start "$name"; done
echo "== $(date -u +%F) — $(nproc) cores; redis-benchmark -c $CONNS; $ROUNDS rounds; -P 1: $REQUESTS requests a test, -P 16: $((REQUESTS * 8)), -k 0: $NEW_CONNS; targets:$TARGETS"
: > "$WORK/results"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    for mode in P1 P16; do
        for test in ping_mbulk set get; do
            for name in $TARGETS; do bench "$name" "$mode" "$test"; done
        done
    done
    for name in $TARGETS; do bench "$name" k0 ping_mbulk; done
done

# --- Part 2: memory per idle relayed connection --------------------------------------
cat > "$WORK/idle_redis.py" <<'PY'
"""idle_redis.py HOST PORT COUNT: COUNT connections, each carrying one PING and its
+PONG, held until stdin closes; then checked (none closed by the server) and reset."""
import socket, struct, sys

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = []
for i in range(count):
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(b"PING\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = s.recv(64)
            if not chunk:
                sys.exit("idle_redis: connection %d: closed before +PONG" % i)
            reply += chunk
    except OSError as e:
        sys.exit("idle_redis: connection %d: %s" % (i, e))
    if reply != b"+PONG\r\n":
        sys.exit("idle_redis: connection %d: %r instead of +PONG" % (i, reply))
    held.append(s)
print("ready", count, flush=True)
sys.stdin.buffer.read()
closed = 0
for s in held:
    s.setblocking(False)
    try:
        if s.recv(1, socket.MSG_PEEK) == b"":
            closed += 1
    except BlockingIOError:
        pass
    except OSError:
        closed += 1
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
if closed:
    sys.exit("idle_redis: the server closed %d of the %d held connections" % (closed, count))
PY
# idle_point NAME: part 2 on a fresh NAME.
idle_point() {
    local name=$1 pid rss0 rss1 fd0 client i
    start "$name"
    pid=${PID[$name]}
    rss0=$(settled "$pid"); fd0=$(fd_count "$pid")
    rm -f "$WORK/hold"; mkfifo "$WORK/hold"
    python3 "$WORK/idle_redis.py" 127.0.0.1 "${PORT[$name]}" "$IDLE" \
        <"$WORK/hold" >"$WORK/idle.out" 2>"$WORK/idle.err" &
    client=$!
    exec {hold}>"$WORK/hold"
    for i in $(seq 600); do
        ! grep -q '^ready' "$WORK/idle.out" || break
        alive "$client" || { cat "$WORK/idle.err" >&2; exit 1; }
        sleep 0.1
    done
    grep -q '^ready' "$WORK/idle.out" || { echo "tcp-load.sh: $name: idle clients not ready after 60 s" >&2; exit 1; }
    for i in $(seq 200); do [ "$(fd_count "$pid")" -lt $((fd0 + 2 * IDLE)) ] || break; sleep 0.1; done
    [ "$(fd_count "$pid")" -ge $((fd0 + 2 * IDLE)) ] ||
        echo "WARNING: $name holds $(( $(fd_count "$pid") - fd0 )) more descriptors, not $((2 * IDLE))" >&2
    rss1=$(settled "$pid")
    exec {hold}>&-
    wait "$client" || { cat "$WORK/idle.err" >&2; echo "WARNING: $name: see above" >&2; }
    stop "$name"
    idle_report "$name" "idle connections" "$rss0" "$rss1"
}

idle_points "idle relayed connections: $IDLE, each after one PING"

# --- Summary -------------------------------------------------------------------------
echo
echo "== summary ($(date -u +%F), $(nproc) cores, loopback; medians over $ROUNDS round(s); redis-benchmark -c $CONNS, one thread)"
awk -v targets="$TARGETS" "$AWK_STATS"'
FILENAME == ARGV[1] { k = $1 " " $2 " " $3; rps[k] = rps[k] " " $4; pc[k] = pc[k] " " $7; busy[$1 " " $2] = busy[$1 " " $2] " " $9
    if ($10 > worst) worst = $10
    if (!(($2 " " $3) in seen)) { seen[$2 " " $3] = 1; rows[++nrows] = $2 " " $3 }; next }
{ kib[$1] = $3 / $2 }
function table(title, arr, fmt,    i, j, row, k, v) {
    printf "%s\n  %-4s %-10s", title, "mode", "test"
    for (j = 1; j <= n; j++) printf " %11s", t[j]
    if (sy) printf " %10s %10s", "sy/nginx", "sy/haproxy"
    printf "\n"
    for (i = 1; i <= nrows; i++) {
        split(rows[i], row, " "); printf "  %-4s %-10s", row[1], row[2]
        delete v
        for (j = 1; j <= n; j++) {
            k = t[j] " " rows[i]
            if (k in arr) v[t[j]] = sprintf(fmt, median(arr[k]))
            printf " %11s", cell(v[t[j]])
        }
        if (sy) printf " %10s %10s", ratio(v["switchyard"], v["nginx"]), ratio(v["switchyard"], v["haproxy"])
        printf "\n"
    }
}
END {
    n = split(targets, t, " ")
    for (j = 1; j <= n; j++) if (t[j] == "switchyard") sy = 1
    table("requests/s (P1: -P 1, P16: -P 16, k0: -k 0, a connection per request)", rps, "%.0f")
    for (k in pc) if (split(k, f, " ") && f[1] == "direct") delete pc[k]
    table("proxy CPU us per request", pc, "%.2f")
    printf "redis-benchmark CPU time over wall time, median (1.00: the client set the pace):\n"
    for (j = 1; j <= n; j++) printf "  %-10s P1 %.2f   P16 %.2f   k0 %.2f\n", t[j], median(busy[t[j] " P1"]), median(busy[t[j] " P16"]), median(busy[t[j] " k0"])
    if (worst > 0.1) printf "WARNING: other work kept up to %.2f cores busy during a run (\"others\"): the machine was shared, the figures are noisy\n", worst
    if (length(kib)) {
        printf "idle relayed connection (one PING each), proxy RSS KiB per connection:"
        for (j = 1; j <= n; j++) if (t[j] in kib) printf "  %s %.2f", t[j], kib[t[j]]
        printf "\n"
        if (("switchyard" in kib) && ("nginx" in kib)) printf "  switchyard/nginx %s", ratio(kib["switchyard"], kib["nginx"])
        if (("switchyard" in kib) && ("haproxy" in kib)) printf "  switchyard/haproxy %s", ratio(kib["switchyard"], kib["haproxy"])
        if ("switchyard" in kib) printf "\n"
    }
}' "$WORK/results" "$WORK/memory"
