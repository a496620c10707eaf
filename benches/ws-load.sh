#!/usr/bin/env bash
# WebSockets on loopback: Switchyard (one worker, an HTTP listener whose upgrades become
# tunnels), nginx (one worker, `proxy_http_version 1.1` with Upgrade and Connection
# passed on) and HAProxy (one thread, `mode http`, which tunnels upgrades itself) in
# front of the same WebSocket echo server, in one run; "direct" is the load straight to
# the echo server, the reference. The echo server and the load client are our own
# (benches/ws-load, one thread each, as every proxy gets one).
#
# Part 1, in ROUNDS interleaved rounds (the summary quotes medians): `ws-load run`, 32
# connections, each sending one binary message and waiting for its echo, in a loop,
# DURATION seconds, with 64-byte and with 16 KiB messages. Each run prints messages/s
# (round trips), p50 and p99, the connections that failed, the CPU µs per message (a
# round trip: the message and its echo each cross the proxy once) of the proxy and of
# the echo server (from /proc/PID/stat, common.sh's measure), how busy the client was
# (its CPU time over the run's wall time: near 1.00, the client set the pace), and
# "others", the cores other work kept busy meanwhile (all busy CPU time in /proc/stat
# less the client's, the proxy's and the echo server's, over the wall time): well above
# 0.1, something else ran on the machine and the figures are noisy (the summary warns).
#
# Part 2, memory per idle WebSocket tunnel: for each proxy, a fresh one (through which
# one echo has gone), its RSS read once settled (unchanged for 3 s), then IDLE WebSockets
# opened through it by `ws-load idle`, one 64-byte echo each, held, and its RSS read again
# once the proxy holds their 2 x IDLE descriptors and its RSS has settled. The growth
# over IDLE, in KiB, is what one idle tunnel (client side and upstream side) costs the
# proxy process; kernel socket memory is not counted (see connections.sh for that).
#
# Needs nginx-light, haproxy, procps (apt-get when missing). Every server runs in a
# session of its own (see proxy-load.sh).
# Usage: [ROUNDS=3] [IDLE=2000] [ONLY="direct nginx haproxy switchyard"]
#        [SWITCHYARD_BIN=PATH] [WS_LOAD_BIN=PATH] benches/ws-load.sh [seconds]
# ONLY: the targets to run, a subset of the default, in any order (part 2 skips direct).
# WS_LOAD_BIN: a ws-load binary to use instead of building one (as SWITCHYARD_BIN does
# for switchyard). IDLE: at most 9,000 (a proxy holds 2 x IDLE descriptors; the hard
# limit is 20,000).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-2000}
ONLY=${ONLY:-direct nginx haproxy switchyard}
CONNS=32
SIZES="64 16384"
source benches/common.sh
trap 'echo "ws-load.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR

TARGETS=""
for name in direct nginx haproxy switchyard; do
    [[ " $ONLY " != *" $name "* ]] || TARGETS="$TARGETS $name"
done
for name in $ONLY; do
    [[ " direct nginx haproxy switchyard " == *" $name "* ]] ||
        { echo "ws-load.sh: ONLY: unknown target $name (direct, nginx, haproxy, switchyard)" >&2; exit 2; }
done
[ "$IDLE" -ge 1 ] && [ "$IDLE" -le 9000 ] || { echo "ws-load.sh: IDLE must be 1 to 9000" >&2; exit 2; }

need pgrep:procps
if wants nginx; then need nginx:nginx-light; fi
if wants haproxy; then need haproxy:haproxy; fi
if wants switchyard; then build; fi
WS_LOAD="${WS_LOAD_BIN:-${CARGO_TARGET_DIR:-target}/release/ws-load}"
if [ -z "${WS_LOAD_BIN:-}" ]; then
    cargo build --release --locked -p ws-load >/dev/null 2>&1 || cargo build --release --locked -p ws-load
fi
ulimit -n "$(ulimit -Hn)"

ECHO=18581 NGINX=18582 HAPROXY=18584 SWITCHYARD=18585
declare -A PORT=([direct]=$ECHO [nginx]=$NGINX [haproxy]=$HAPROXY [switchyard]=$SWITCHYARD)
declare -A PID=()      # the process charged: nginx's worker, the others' only one
declare -A STOP=()     # the process to stop: nginx's master, the others' only one
url() { echo "ws://127.0.0.1:${PORT[$1]}/echo"; }

# --- Servers -------------------------------------------------------------------------
nginx_conf nginx "    upstream ws { server 127.0.0.1:$ECHO; }
    server {
        listen 127.0.0.1:$NGINX backlog=4096;
        location / {
            proxy_pass http://ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \"upgrade\";
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            send_timeout 1h;
        }
    }" 20000
cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 9500
defaults
    mode http
    maxconn 9500
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend ws
    bind 127.0.0.1:$HAPROXY
    default_backend ws
backend ws
    server e1 127.0.0.1:$ECHO
CONF
cat > "$WORK/switchyard.toml" <<CONF
workers = 1
[[listeners]]
name = "web"
listen = "127.0.0.1:$SWITCHYARD"
cluster = "ws"
[[clusters]]
name = "ws"
policy = "least-request"
protocol = "http1"
endpoints = [ { address = "127.0.0.1:$ECHO" } ]
CONF

# echoes NAME: one WebSocket echo through NAME works.
echoes() { "$WS_LOAD" run "$(url "$1")" --connections 1 --size 16 --seconds 0.05 >/dev/null 2>&1; }
# start NAME: a fresh NAME, through which an echo works (10 s at most); sets PID and STOP.
start() {
    local name=$1 i
    case $name in
    direct)
        setsid "$WS_LOAD" echo "127.0.0.1:$ECHO" 2>>"$WORK/direct.log" &
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
        ! echoes "$name" || break
        sleep 0.1
    done
    if ! alive "${STOP[$name]}" || ! echoes "$name"; then
        echo "ws-load.sh: no WebSocket echo through $name on port ${PORT[$name]}; its log:" >&2
        tail -n 20 "$WORK/$name"*.log >&2 2>/dev/null || true
        "$WS_LOAD" run "$(url "$name")" --connections 1 --seconds 0.05 >&2 || true
        echo "ws-load.sh: (ONLY=\"...\" runs a subset of direct nginx haproxy switchyard)" >&2
        exit 1
    fi
    if [ "$name" = nginx ]; then
        for i in $(seq 100); do PID[nginx]=$(pgrep -P "${STOP[nginx]}") && break; sleep 0.1; done
    fi
}

# --- Part 1: messages per second -----------------------------------------------------
# field NAME: the value of NAME= in ws-load's figures line in $OUT.
field() { awk -v k="$1=" '/^messages_per_sec=/ { for (i = 1; i <= NF; i++) if (index($i, k) == 1) print substr($i, length(k) + 1) }' <<<"$OUT"; }
# load NAME SIZE: one ws-load run against NAME.
load() {
    local name=$1 size=$2 rate busy proxy backend other
    # `|| true`: a failed run is reported below, with its output.
    measure "$name" '/^messages_per_sec=/ { for (i = 1; i <= NF; i++) if ($i ~ /^messages=/) print substr($i, 10) }' \
        timed "$WS_LOAD" run "$(url "$name")" --connections $CONNS --size "$size" --seconds "$DURATION" || true
    rate=$(field messages_per_sec)
    if [ -z "$rate" ]; then
        echo "ws-load.sh: ws-load run against $name (size $size) gave no figures:" >&2
        echo "$OUT" >&2
        exit 1
    fi
    busy=$(awk '$1 == "client_cpu" { printf "%.2f", ($2 + $3) / ($4 > 0 ? $4 : 1) }' <<<"$OUT")
    proxy=${CPU% *} backend=${CPU#* }
    other=$(others "$(field messages)" "$proxy" "$backend")
    printf '%-10s %5s B %9s msg/s   p50 %6s us   p99 %6s us   errors %s   cpu/msg proxy %5s + echo %5s us   client busy %s   others %s\n' \
        "$name" "$size" "$rate" "$(field p50_us)" "$(field p99_us)" "$(field errors)" "$proxy" "$backend" "$busy" "$other"
    echo "$name $size $rate $(field p50_us) $(field p99_us) $(field errors) $proxy $backend $busy $other" >> "$WORK/results"
}

start direct
BACKEND_PID=${PID[direct]}
for name in $TARGETS; do [ "$name" = direct ] || start "$name"; done
echo "== $(date -u +%F) — $(nproc) cores; ws-load run, $CONNS connections, ${DURATION}s per run, $ROUNDS rounds; targets:$TARGETS"
: > "$WORK/results"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    for size in $SIZES; do
        for name in $TARGETS; do load "$name" "$size"; done
    done
done

# --- Part 2: memory per idle tunnel --------------------------------------------------
# idle_point NAME: part 2 on a fresh NAME.
idle_point() {
    local name=$1 pid rss0 rss1 fd0 client i
    start "$name"
    pid=${PID[$name]}
    rss0=$(settled "$pid"); fd0=$(fd_count "$pid")
    "$WS_LOAD" idle "$(url "$name")" --connections "$IDLE" >"$WORK/idle.out" 2>"$WORK/idle.err" &
    client=$!
    for i in $(seq 600); do
        ! grep -q '^ready' "$WORK/idle.out" || break
        alive "$client" || { cat "$WORK/idle.err" >&2; exit 1; }
        sleep 0.1
    done
    grep -q '^ready' "$WORK/idle.out" || { echo "ws-load.sh: $name: idle WebSockets not ready after 60 s" >&2; exit 1; }
    for i in $(seq 200); do [ "$(fd_count "$pid")" -lt $((fd0 + 2 * IDLE)) ] || break; sleep 0.1; done
    [ "$(fd_count "$pid")" -ge $((fd0 + 2 * IDLE)) ] ||
        echo "WARNING: $name holds $(( $(fd_count "$pid") - fd0 )) more descriptors, not $((2 * IDLE))" >&2
    rss1=$(settled "$pid")
    if [ -s "$WORK/idle.err" ]; then
        echo "WARNING: $name: ws-load idle reported:" >&2
        cat "$WORK/idle.err" >&2
    fi
    kill "$client"
    wait "$client" 2>/dev/null || true
    stop "$name"
    idle_report "$name" "idle WebSockets" "$rss0" "$rss1"
}

idle_points "idle WebSocket tunnels: $IDLE, each after one echo"

# --- Summary -------------------------------------------------------------------------
echo
echo "== summary ($(date -u +%F), $(nproc) cores, loopback; medians over $ROUNDS round(s); ws-load run, $CONNS connections, ${DURATION}s, one thread)"
awk -v targets="$TARGETS" -v sizes="$SIZES" "$AWK_STATS"'
FILENAME == ARGV[1] { k = $1 " " $2; rate[k] = rate[k] " " $3; p50[k] = p50[k] " " $4; p99[k] = p99[k] " " $5
    err[k] += $6; if ($1 != "direct") pc[k] = pc[k] " " $7; busy[k] = busy[k] " " $9
    if ($10 > worst) worst = $10; next }
{ kib[$1] = $3 / $2 }
function table(title, arr, fmt, ratios,    i, j, k, v) {
    printf "%s\n  %-8s", title, "size"
    for (j = 1; j <= n; j++) printf " %11s", t[j]
    if (sy && ratios) printf " %10s %10s", "sy/nginx", "sy/haproxy"
    printf "\n"
    for (i = 1; i <= ns; i++) {
        printf "  %-8s", s[i] " B"
        delete v
        for (j = 1; j <= n; j++) {
            k = t[j] " " s[i]
            if (k in arr) v[t[j]] = sprintf(fmt, median(arr[k]))
            printf " %11s", cell(v[t[j]])
        }
        if (sy && ratios) printf " %10s %10s", ratio(v["switchyard"], v["nginx"]), ratio(v["switchyard"], v["haproxy"])
        printf "\n"
    }
}
END {
    n = split(targets, t, " "); ns = split(sizes, s, " ")
    for (j = 1; j <= n; j++) if (t[j] == "switchyard") sy = 1
    table("messages/s (round trips)", rate, "%.0f", 1)
    table("proxy CPU us per message (round trip)", pc, "%.2f", 1)
    table("p50 us", p50, "%.0f", 1)
    table("p99 us", p99, "%.0f", 1)
    table("ws-load CPU time over wall time (1.00: the client set the pace)", busy, "%.2f", 0)
    if (worst > 0.1) printf "WARNING: other work kept up to %.2f cores busy during a run (\"others\"): the machine was shared, the figures are noisy\n", worst
    for (k in err) if (err[k] > 0) printf "WARNING: %s B: %d connection(s) failed during the runs\n", k, err[k]
    if (length(kib)) {
        printf "idle WebSocket tunnel (one echo each), proxy RSS KiB per tunnel:"
        for (j = 1; j <= n; j++) if (t[j] in kib) printf "  %s %.2f", t[j], kib[t[j]]
        printf "\n"
        if (("switchyard" in kib) && ("nginx" in kib)) printf "  switchyard/nginx %s", ratio(kib["switchyard"], kib["nginx"])
        if (("switchyard" in kib) && ("haproxy" in kib)) printf "  switchyard/haproxy %s", ratio(kib["switchyard"], kib["haproxy"])
        if ("switchyard" in kib) printf "\n"
    }
}' "$WORK/results" "$WORK/memory"
