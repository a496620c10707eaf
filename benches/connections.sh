#!/usr/bin/env bash
# Connections at scale on loopback: Switchyard (one worker), nginx (one worker) and
# HAProxy (one thread) in front of the same single-worker nginx backend, in one run.
#
# Part 1, memory per idle connection. For each proxy, each mode and each N in COUNTS,
# a fresh proxy is started, its resident memory (VmRSS of /proc/PID/status: nginx's
# worker, HAProxy's and Switchyard's process) read, N connections opened by
# benches/idle_clients.py, and the RSS read again once every client has printed
# `ready`, the proxy holds N more descriptors and its RSS has settled (unchanged for
# 3 s). Modes: "idle"
# (connected, nothing sent), "h1" (one HTTP/1.1 GET answered, then idle keep-alive),
# "h2c" (an HTTP/2 prior-knowledge connection that carried one GET: nginx's and
# HAProxy's h2 ports, Switchyard's own port, which detects h2c). The figure quoted is
# the slope of RSS growth against N (least squares over the Ns), in KiB: what one more
# connection costs, with the fixed costs of the first connections (buffers, pools,
# upstream connections) left out, which growth/N would not. The kernel's TCP buffer
# memory (`mem`, in pages, of the TCP line of /proc/net/sockstat) is read alongside and
# its slope reported too ("sockstat"): both ends of every connection are on this
# machine, so the slope is for a client socket plus a server socket; half of it goes
# to the proxy's side. Sockets at rest hold hardly any buffers, so it is near zero, and
# the counter is machine-wide and moves in per-CPU batches of up to 1 MiB: +-0.1 KiB a
# connection is noise. "skmem" is the exact figure for the proxy's sockets alone:
# the buffer memory (r + w + f + o of `ss -tm`) of the established sockets on the
# proxy's port. "at 1M" extrapolates to a million connections as RSS slope plus half
# the sockstat slope, times 10^6, in GiB. Neither counts the kernel's own structures
# per socket (socket, inode, tcp_sock, file, epoll item: about 3.5 KiB a socket, slab
# memory): "slab" is their slope (the TCP, sock_inode_cache, filp and eventpoll caches
# of /proc/slabinfo; both ends again, filp shared with whatever else runs), and
# "+ slab" the extrapolation with half of it added.
# Descriptors: a process may hold at most 20,000 here (the hard limit, which the
# script raises the soft one to), so each idle_clients.py process opens at most 5,000
# connections and N=15,000 takes three of them. idle_clients.py keeps at most 100
# requests in flight per process, under every proxy's cap on upstream connections.
#
# Part 2, many busy connections: wrk -t2 with 1,000 and then 8,000 connections
# (--latency --timeout 10s) against each proxy's HTTP/1.1 port, DURATION seconds each,
# one wrk process per run. Each proxy may open at most 512 connections to the backend:
# Switchyard's [clusters.limits] max_connections = 512 (max_pending = 20000, so the
# rest wait), HAProxy's `server ... maxconn 512` (the rest queue, `timeout queue 10s`),
# nginx's `max_conns=512` (keepalive 512). Open-source nginx has no queue: a request
# over the cap is answered 502 at once ("no live upstreams"), and those show in the
# non-2xx column (and in its req/s and cpu/req, which count every response).
# Switchyard's requests wait for a connection at most its connect timeout, set to 10 s
# like HAProxy's queue timeout (over it they fail: non-2xx). Printed
# side by side: requests/s, successful (2xx) responses/s, p50, p99, non-2xx responses,
# socket errors (connect, read, write, timeout) and the proxy's CPU µs per response
# (from /proc/PID/stat).
#
# Needs nginx-light, haproxy, wrk, procps, iproute2, python3 (3.11, standard library only);
# installed with apt-get when missing. Every server runs in a session of its own (see
# proxy-load.sh). Idle timeouts are raised so that held connections stay open: nginx
# client_header_timeout and keepalive_timeout 10m, HAProxy timeout client/server 5m,
# Switchyard header_read_timeout and idle_timeout 10m; a point where the proxy closed
# a held connection anyway is flagged.
#
# Usage: [COUNTS="1000 5000 15000"] [ROUNDS=1] [SWITCHYARD_BIN=PATH] [BASELINE=PATH]
#        benches/connections.sh [DURATION]
# COUNTS: the Ns of part 1 (at least two; at most 19,000 for the descriptor limit).
# ROUNDS: interleaved rounds of part 2; its summary quotes medians over them.
# SWITCHYARD_BIN: the switchyard binary to measure, instead of building one.
# BASELINE: a second switchyard binary measured as "baseline" in every step, with the
# same configuration: a before/after comparison in one run.
# DURATION: seconds per wrk run (default 10). Takes about 3.5 minutes with the defaults.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-1}
COUNTS=${COUNTS:-1000 5000 15000}
PER_CLIENT=5000
source benches/common.sh
trap 'echo "connections.sh: line $LINENO failed: $BASH_COMMAND" >&2' ERR
need nginx:nginx-light haproxy:haproxy wrk:wrk pgrep:procps ss:iproute2 python3:python3
build
for bin in "$BIN" ${BASELINE:+"$BASELINE"}; do
    [ -x "$bin" ] || { echo "connections.sh: no switchyard binary at $bin" >&2; exit 1; }
done
[ "$(wc -w <<<"$COUNTS")" -ge 2 ] || { echo "connections.sh: COUNTS needs at least two Ns" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
for n in $COUNTS; do
    [ "$n" -ge 1 ] && [ "$n" -le $((NOFILE - 1000)) ] ||
        { echo "connections.sh: N=$n: must be 1 to $((NOFILE - 1000)) (descriptor limit $NOFILE)" >&2; exit 1; }
done
PROXIES="nginx haproxy switchyard${BASELINE:+ baseline}"
BACKEND=18191 NGINX=18192 NGINX_H2=18193 HAPROXY=18194 HAPROXY_H2=18204
SWITCHYARD=18195 BASELINE_PORT=18196
PAGE_KIB=$(( $(getconf PAGESIZE) / 1024 ))
TICKS_PER_SECOND=$(getconf CLK_TCK)
MAXCONN=20000 UPSTREAM_CAP=512

# --- Servers -------------------------------------------------------------------------
PROXY_TO_BACKEND='location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Forwarded "for=$remote_addr;proto=http;host=\"$http_host\""; }'
nginx_conf nginx "    client_header_timeout 10m;
    keepalive_timeout 10m;
    upstream backend { server 127.0.0.1:$BACKEND max_conns=$UPSTREAM_CAP; keepalive $UPSTREAM_CAP; }
    server { listen 127.0.0.1:$NGINX; $PROXY_TO_BACKEND }
    server { listen 127.0.0.1:$NGINX_H2 http2; $PROXY_TO_BACKEND }" $MAXCONN
nginx_conf backend "    server { listen 127.0.0.1:$BACKEND; location / { return 200 \"hello from the backend\\n\"; } }" $MAXCONN

# maxconn 20000 asks for 40,014 descriptors, over the hard limit: HAProxy refuses to
# start unless told "no strict-limits" (then it warns, and runs with 20,000, enough
# for 15,000 clients and 512 upstream connections).
cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn $MAXCONN
    no strict-limits
defaults
    mode http
    maxconn $MAXCONN
    timeout connect 1s
    timeout client 5m
    timeout server 5m
    timeout queue 10s
    http-reuse always
frontend web
    bind 127.0.0.1:$HAPROXY proto h1
    bind 127.0.0.1:$HAPROXY_H2 proto h2
    default_backend app
backend app
    option forwardfor
    http-request add-header Forwarded "for=%ci;proto=http;host=\\"%[req.hdr(host)]\\""
    server b1 127.0.0.1:$BACKEND maxconn $UPSTREAM_CAP
CONF

# switchyard.toml and baseline.toml: common.sh's configuration, held connections kept
# open, upstream connections capped.
switchyard_conf "$WORK/switchyard.toml" "$SWITCHYARD" "$BACKEND"
sed -i -e '/^cluster = "app"$/a header_read_timeout = "10m"\nidle_timeout = "10m"' "$WORK/switchyard.toml"
cat >> "$WORK/switchyard.toml" <<CONF
[clusters.timeouts]
connect = "10s"
[clusters.limits]
max_connections = $UPSTREAM_CAP
max_pending = $MAXCONN
CONF
sed -e "s/:$SWITCHYARD\"/:$BASELINE_PORT\"/" "$WORK/switchyard.toml" > "$WORK/baseline.toml"

declare -A H1_PORT=([nginx]=$NGINX [haproxy]=$HAPROXY [switchyard]=$SWITCHYARD [baseline]=$BASELINE_PORT)
declare -A H2_PORT=([nginx]=$NGINX_H2 [haproxy]=$HAPROXY_H2 [switchyard]=$SWITCHYARD [baseline]=$BASELINE_PORT)
declare -A PID=()   # the process measured: nginx's worker, the others' only process

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "connections.sh: nothing listens on port $1 after 10 s" >&2
    return 1
}
# alive PID: the process runs (a zombie, left by a daemon nobody reaps, does not).
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}
# stop_pid PID: SIGTERM, then SIGKILL after 10 s; returns once it is gone.
stop_pid() {
    local i
    kill "$1" 2>/dev/null || return 0
    for i in $(seq 100); do alive "$1" || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
# The worker process of a single-worker nginx whose master is $1 (which may accept
# connections before it has started its worker: 10 s at most).
nginx_worker() {
    local i
    for i in $(seq 100); do
        pgrep -P "$1" && return 0
        sleep 0.1
    done
    echo "connections.sh: no worker process of nginx $1 after 10 s" >&2
    return 1
}
# start_nginx NAME: nginx with $WORK/NAME.conf, in the foreground (so that this script
# reaps it when it stops); sets MASTER[NAME].
declare -A MASTER=()
start_nginx() {
    setsid nginx -c "$WORK/$1.conf" -p "$WORK" -g 'daemon off;' 2>>"$WORK/$1.log" &
    MASTER[$1]=$!
}

# start NAME: a fresh proxy NAME, listening; sets PID[NAME].
start() {
    case $1 in
    nginx)
        start_nginx nginx
        wait_port $NGINX
        PID[nginx]=$(nginx_worker "${MASTER[nginx]}") ;;
    haproxy)
        setsid haproxy -f "$WORK/haproxy.cfg" -q 2>>"$WORK/haproxy.log" &
        PID[haproxy]=$!
        wait_port $HAPROXY ;;
    switchyard|baseline)
        local bin=$BIN
        [ "$1" = switchyard ] || bin=$BASELINE
        RUST_LOG=warn setsid "$bin" run --config "$WORK/$1.toml" 2>>"$WORK/$1.log" &
        PID[$1]=$!
        wait_port "${H1_PORT[$1]}" ;;
    esac
    kill -0 "${PID[$1]}" 2>/dev/null || { echo "connections.sh: $1 did not start" >&2; tail "$WORK/$1"*.log >&2; return 1; }
}
# stop NAME
stop() {
    if [ "$1" = nginx ]; then
        stop_pid "${MASTER[nginx]}"
    else
        stop_pid "${PID[$1]}"
    fi
    PID[$1]=""
}

# --- Readings ------------------------------------------------------------------------
fd_count() { ls "/proc/$1/fd" | wc -l; }
tcp_pages() { awk '$1 == "TCP:" {print $NF}' /proc/net/sockstat; }
# KiB of the slab caches that hold a socket's kernel structures.
slab_kib() {
    awk '$1 ~ /^(TCP|sock_inode_cache|filp|eventpoll_epi|eventpoll_pwq)$/ { k += $2 * $4 / 1024 }
         END { printf "%.0f", k }' /proc/slabinfo 2>/dev/null || echo 0
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Bytes of buffer memory held by the established sockets on local port $1 (the proxy's
# side of its client connections): received, queued to send, forward-allocated and
# option memory of each socket's skmem, as ss reports them.
server_skmem() {
    ss -tmnH state established "( sport = :$1 )" | awk '
        match($0, /skmem:\([^)]*\)/) {
            n = split(substr($0, RSTART + 7, RLENGTH - 8), f, ",")
            for (i = 1; i <= n; i++) if (f[i] ~ /^[rwfo][0-9]/) b += substr(f[i], 2)
        }
        END { printf "%.0f", b }'
}

# --- Part 1 --------------------------------------------------------------------------
CLIENTS=() HOLDS=()
# open_clients PORT N MODE: N connections over ceil(N/PER_CLIENT) idle_clients.py
# processes, each holding them until its stdin (a fifo held open here) closes.
open_clients() {
    local port=$1 n=$2 mode=$3 k i count fd
    k=$(( (n + PER_CLIENT - 1) / PER_CLIENT ))
    CLIENTS=() HOLDS=()
    for i in $(seq "$k"); do
        count=$(( n / k + (i <= n % k ? 1 : 0) ))
        rm -f "$WORK/hold.$i"
        mkfifo "$WORK/hold.$i"
        # (Without the other clients' fifos: each must see its own stdin close.)
        (for fd in "${HOLDS[@]}"; do exec {fd}>&-; done
         exec python3 benches/idle_clients.py 127.0.0.1 "$port" "$count" "$mode") \
            <"$WORK/hold.$i" >"$WORK/client.$i.out" 2>"$WORK/client.$i.err" &
        CLIENTS+=($!)
        exec {fd}>"$WORK/hold.$i"
        HOLDS+=("$fd")
    done
    # idle_clients.py gives up after 60 s itself; 90 s here.
    local deadline=$((SECONDS + 90)) ready
    while :; do
        ready=0
        for i in $(seq "$k"); do
            if grep -q '^ready' "$WORK/client.$i.out"; then
                ready=$((ready + 1))
            elif ! kill -0 "${CLIENTS[$((i - 1))]}" 2>/dev/null; then
                echo "connections.sh: idle_clients.py ($mode, port $port) failed:" >&2
                cat "$WORK/client.$i.err" >&2
                return 1
            fi
        done
        [ "$ready" -lt "$k" ] || break
        if [ $SECONDS -ge $deadline ]; then
            echo "connections.sh: idle_clients.py ($mode, port $port) not ready after 90 s" >&2
            cat "$WORK"/client.*.err >&2
            return 1
        fi
        sleep 0.2
    done
}
# close_clients: closes the clients' stdin and waits for them (30 s at most); sets
# CLOSED_BY_SERVER when one reports that the server had closed held connections.
close_clients() {
    local fd pid i rc
    for fd in "${HOLDS[@]}"; do exec {fd}>&-; done
    CLOSED_BY_SERVER=""
    for i in "${!CLIENTS[@]}"; do
        pid=${CLIENTS[$i]}
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill "$pid" 2>/dev/null || true
        rc=0; wait "$pid" || rc=$?
        if [ "$rc" = 3 ]; then
            CLOSED_BY_SERVER=1
            cat "$WORK/client.$((i + 1)).err" >&2
        elif [ "$rc" != 0 ]; then
            echo "connections.sh: idle_clients.py exited with status $rc:" >&2
            cat "$WORK/client.$((i + 1)).err" >&2
            return 1
        fi
    done
    rm -f "$WORK"/hold.*
}

# hold NAME MODE N: one point of part 1 on a fresh proxy.
hold() {
    local name=$1 mode=$2 n=$3 port pid rss0 rss1 fd0 tcp0 tcp1 slab0 slab1 sk0 sk1 i
    port=${H1_PORT[$name]}
    [ "$mode" != h2c ] || port=${H2_PORT[$name]}
    start "$name"
    pid=${PID[$name]}
    sleep 1
    rss0=$(rss_kib "$pid"); fd0=$(fd_count "$pid"); tcp0=$(tcp_pages); slab0=$(slab_kib)
    sk0=$(server_skmem "$port")
    open_clients "$port" "$n" "$mode"
    # Connected is not yet accepted: wait (20 s at most) until the proxy holds them.
    for i in $(seq 200); do
        [ "$(fd_count "$pid")" -lt $((fd0 + n)) ] || break
        sleep 0.1
    done
    [ "$(fd_count "$pid")" -ge $((fd0 + n)) ] ||
        echo "WARNING: $name $mode N=$n: the proxy holds $(( $(fd_count "$pid") - fd0 )) more descriptors, not $n" >&2
    rss1=$(settled "$pid"); tcp1=$(tcp_pages); slab1=$(slab_kib); sk1=$(server_skmem "$port")
    close_clients
    stop "$name"
    local flag=""
    [ -z "$CLOSED_BY_SERVER" ] || flag="   WARNING: the proxy closed held connections"
    printf '%-11s %-4s N=%-6s rss %7s -> %7s KiB (%+8d)   sockstat tcp mem %+6d pages   server skmem %+7d B   slab %+7d KiB%s\n' \
        "$name" "$mode" "$n" "$rss0" "$rss1" $((rss1 - rss0)) $((tcp1 - tcp0)) $((sk1 - sk0)) $((slab1 - slab0)) "$flag"
    echo "$name $mode $n $((rss1 - rss0)) $((tcp1 - tcp0)) $((slab1 - slab0)) $((sk1 - sk0))" >> "$WORK/memory"
}

# --- Part 2 --------------------------------------------------------------------------
# busy NAME CONNS: one wrk run against NAME's HTTP/1.1 port.
busy() {
    local name=$1 conns=$2 pid p0 p1 out
    pid=${PID[$name]}
    p0=$(cpu_ticks "$pid")
    out=$(wrk -t2 -c"$conns" -d"${DURATION}s" --latency --timeout 10s "http://127.0.0.1:${H1_PORT[$name]}/" 2>&1) || {
        echo "connections.sh: wrk against $name failed:" >&2; echo "$out" >&2; return 1; }
    p1=$(cpu_ticks "$pid")
    awk -v name="$name" -v conns="$conns" -v ticks=$((p1 - p0)) -v k="$TICKS_PER_SECOND" "$AWK_STATS"'
        / requests in / { n = $1 }
        /Requests\/sec/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        /Non-2xx or 3xx responses:/ { bad = $NF }
        /Socket errors:/ { gsub(",", ""); connect = $4; read = $6; write = $8; timeout = $10 }
        END {
            if (rps == "" || p50 == "") { print "connections.sh: no figures in the output of wrk" > "/dev/stderr"; exit 1 }
            cpu = n > 0 ? ticks * 1e6 / k / n : 0
            printf "%-11s %5d conns %10.0f req/s   p50 %9s   p99 %9s   non-2xx %8d   socket errors %6d (connect %d, read %d, write %d, timeout %d)   cpu/req %.1f us\n",
                name, conns, rps, p50, p99, bad, connect + read + write + timeout, connect, read, write, timeout, cpu > "/dev/stderr"
            printf "%s %d %s %d %d %d %d %.2f %d\n", name, conns, rps, us(p50), us(p99), bad, connect + read + write + timeout, cpu, n
        }' <<<"$out" 2>&1 >> "$WORK/busy"
}

# --- Run ------------------------------------------------------------------------------
start_nginx backend
wait_port $BACKEND
echo "== $(date -u +%F) — connections on loopback; $(nproc) cores; one worker/thread per proxy; descriptor limit $NOFILE"
echo "-- part 1: memory per held connection; N in $COUNTS; a fresh proxy per point"
: > "$WORK/memory"
for mode in idle h1 h2c; do
    for n in $COUNTS; do
        for name in $PROXIES; do hold "$name" "$mode" "$n"; done
    done
done

echo "-- part 2: wrk -t2, ${DURATION}s per run, $ROUNDS round(s); upstream connections capped at $UPSTREAM_CAP"
: > "$WORK/busy"
for name in $PROXIES; do start "$name"; done
for round in $(seq "$ROUNDS"); do
    [ "$ROUNDS" = 1 ] || echo "-- round $round"
    for conns in 1000 8000; do
        for name in $PROXIES; do busy "$name" "$conns"; done
    done
done
for name in $PROXIES; do stop "$name"; done

# --- Summary -------------------------------------------------------------------------
echo
echo "== summary ($(date -u +%F), $(nproc) cores, loopback, one worker/thread per proxy)"
awk -v page="$PAGE_KIB" -v proxies="$PROXIES" -v counts="$COUNTS" '
function slope(key, col,   i, n, x, y, sx, sy, sxx, sxy) {
    n = split(xs[key], x, " "); split(ys[key, col], y, " ")
    for (i = 1; i <= n; i++) { sx += x[i]; sy += y[i]; sxx += x[i] * x[i]; sxy += x[i] * y[i] }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx)
}
{ key = $1 " " $2; xs[key] = xs[key] " " $3; ys[key, 1] = ys[key, 1] " " $4
  ys[key, 2] = ys[key, 2] " " $5 * page; ys[key, 3] = ys[key, 3] " " $6; ys[key, 4] = ys[key, 4] " " $7 / 1024 }
END {
    np = split(proxies, p, " "); split("idle h1 h2c", m, " ")
    printf "memory per connection, KiB: slope over N = %s (least squares)\n", counts
    printf "  %-11s %-5s %8s %9s %9s %9s %10s %13s\n", "proxy", "mode", "RSS", "sockstat", "skmem", "slab", "at 1M GiB", "+ slab, GiB"
    for (i = 1; i <= np; i++) for (j = 1; j <= 3; j++) {
        key = p[i] " " m[j]
        if (!(key in xs)) continue
        r = slope(key, 1); t = slope(key, 2); s = slope(key, 3); k = slope(key, 4)
        printf "  %-11s %-5s %8.2f %9.2f %9.2f %9.2f %10.2f %13.2f\n", p[i], m[j], r, t, k, s, (r + t / 2) * 1e6 / 1048576, (r + t / 2 + s / 2) * 1e6 / 1048576
    }
    print "  RSS: the proxy process. sockstat: the kernel TCP buffer memory of /proc/net/sockstat, both"
    print "  ends of a connection (client and proxy are on one machine), +-0.1 noise. skmem: the buffer"
    print "  memory of the proxy-side sockets alone (ss -tm). slab: the kernel socket structures, both ends."
    print "  at 1M: (RSS + sockstat / 2) x 10^6; + slab: adding slab / 2, the kernel structures of the"
    print "  proxy-side sockets."
}' "$WORK/memory"
awk "$AWK_STATS"'
{ key = $1 " " $2; order[key] = NR; rps[key] = rps[key] " " $3; p50[key] = p50[key] " " $4; p99[key] = p99[key] " " $5
  bad[key] = bad[key] " " $6; err[key] = err[key] " " $7; cpu[key] = cpu[key] " " $8; req[key] = req[key] " " $9
  good[key] = good[key] " " ($9 > 0 ? $3 * ($9 - $6) / $9 : 0) }
function ms(v) { return sprintf("%.2f ms", v / 1000) }
END {
    printf "many busy connections, HTTP/1.1: wrk -t2 --timeout 10s, %ss per run, medians over %s round(s); at most %s upstream connections\n", duration, rounds, cap
    printf "  %-11s %6s %10s %10s %10s %10s %10s %9s %9s %11s\n", "proxy", "conns", "req/s", "2xx/s", "p50", "p99", "responses", "non-2xx", "sock err", "cpu us/req"
    n = 0; for (k in order) keys[++n] = k
    for (i = 2; i <= n; i++) for (j = i; j > 1 && order[keys[j-1]] > order[keys[j]]; j--) { t = keys[j]; keys[j] = keys[j-1]; keys[j-1] = t }
    for (i = 1; i <= n; i++) {
        k = keys[i]; split(k, f, " ")
        printf "  %-11s %6s %10.0f %10.0f %10s %10s %10.0f %9.0f %9.0f %11.1f\n", f[1], f[2], median(rps[k]), median(good[k]), ms(median(p50[k])), ms(median(p99[k])),
            median(req[k]), median(bad[k]), median(err[k]), median(cpu[k])
    }
    print "  nginx (open source) has no queue: over its max_conns it answers 502 at once (non-2xx);"
    print "  HAProxy and Switchyard queue the requests over the cap. req/s, responses and cpu/req count"
    print "  every response; 2xx/s only the successful ones."
}' duration="$DURATION" rounds="$ROUNDS" cap="$UPSTREAM_CAP" "$WORK/busy"
