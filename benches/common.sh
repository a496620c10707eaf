# Sourced by the load scripts in benches/ (from the repository root): a work directory
# removed on exit, with every process the script started; `need` installs the apt
# packages of missing tools; `build` makes the release binary; `nginx_conf` and
# `switchyard_conf` write the servers' configurations; `h1` (wrk) and `h2` (h2load) run
# a load and record its throughput, latency and CPU per request; `rss_kib` and `settled` read a
# process's resident memory (the second once it stops moving); AWK_STATS holds awk functions
# for the summaries: us("1.5ms") in microseconds, median(" 3 1 2"); BIN is where
# `build` leaves the binary (CARGO_TARGET_DIR is honoured), or SWITCHYARD_BIN when that
# is set (then nothing is built).
WORK=$(mktemp -d)
cleanup() {
    kill $(jobs -p) 2>/dev/null || true
    for pid in "$WORK"/*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# need TOOL:PACKAGE...
need() {
    local missing=()
    for tool in "$@"; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

BIN="${SWITCHYARD_BIN:-${CARGO_TARGET_DIR:-target}/release/switchyard}"
build() {
    [ -z "${SWITCHYARD_BIN:-}" ] || return 0
    cargo build --release --locked -p switchyard >/dev/null 2>&1 || cargo build --release --locked -p switchyard
}

# nginx_conf NAME HTTP_BLOCK [WORKER_CONNECTIONS]: $WORK/NAME.conf, a single-worker nginx
# (pid and error log in $WORK; 4096 worker connections unless told) whose http block is
# HTTP_BLOCK; start it with nginx -c ... -p "$WORK".
nginx_conf() {
    cat > "$WORK/$1.conf" <<CONF
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/$1-error.log;
events { worker_connections ${3:-4096}; }
http {
    access_log off;
    keepalive_requests 1000000;
$2
}
CONF
}

# start_backend PORT [WORKER_CONNECTIONS]: the backend the proxies are put in front of,
# a single-worker nginx answering a short text on PORT (its worker process:
# `nginx_worker backend`).
start_backend() {
    nginx_conf backend "    server { listen 127.0.0.1:$1; location / { ${BACKEND_HEADERS:-}return 200 \"hello from the backend\\n\"; } }" "${2:-}"
    nginx -c "$WORK/backend.conf" -p "$WORK"
}

# switchyard_conf FILE PORT BACKEND_PORT...: a one-worker Switchyard on PORT balancing
# the backends on 127.0.0.1 over HTTP/1.1 with $POLICY (least-request by default).
# ROUTES=N puts N routes that the load never matches in front of the one it does (a mix
# of hosts and path prefixes, one in ten with a header too).
switchyard_conf() {
    local file=$1 port=$2
    shift 2
    local endpoints
    endpoints=$(printf '{ address = "127.0.0.1:%s" }, ' "$@")
    cat > "$file" <<CONF
workers = 1
[[listeners]]
name = "web"
listen = "127.0.0.1:$port"
$(routes_conf "${ROUTES:-0}")
[[clusters]]
name = "app"
policy = "${POLICY:-least-request}"
protocol = "http1"
endpoints = [ ${endpoints%, } ]
CONF
}

# rollout_conf FILE MODE: appends to Switchyard configuration FILE a candidate of its
# policy staged beside the serving version as MODE: `shadow` (also asked on 10% of
# picks) or `canary` (answering 10% of them). The candidate is the built-in's component
# as the build embedded it plus an empty custom section (id 0, 5 bytes: the name
# "roll"): the same policy, another sha256. Its rules never end it during a run.
rollout_conf() {
    local file=$1 mode=$2 policy=${POLICY:-least-request} built
    built=$(ls -t target/release/build/switchyard-policy-*/out/policies/"$policy".wasm | head -1)
    mkdir -p "$WORK/candidate-$mode"
    { cat "$built"; printf '\x00\x05\x04roll'; } > "$WORK/candidate-$mode/$policy.canary.wasm"
    case $mode in
        shadow) printf '[clusters.rollout]\nmode = "shadow"\nshadow_sample = 0.1\n' ;;
        canary) printf '[clusters.rollout]\ncanary_percent = 10\n' ;;
    esac >> "$file"
    printf 'promote_after = "24h"\nmax_error_rate_delta = 1\nmax_p99_ratio = 1000\n' >> "$file"
    printf '[policies]\ndir = "%s"\n' "$WORK/candidate-$mode" >> "$file"
}

# routes_conf N: `cluster = "app"` for N = 0; else N routes to "app" the load's requests
# (GET / to 127.0.0.1) never match, then one that takes everything.
routes_conf() {
    local n=$1 i
    if [ "$n" = 0 ]; then echo 'cluster = "app"'; return; fi
    for i in $(seq "$n"); do
        echo '[[listeners.routes]]'
        if [ $((i % 2)) = 1 ]; then
            echo "match = { host = \"svc-$i.example.com\" }"
        elif [ $((i % 10)) = 0 ]; then
            echo "match = { path_prefix = \"/svc-$i\", headers = { x-tenant = \"t$i\" } }"
        else
            echo "match = { path_prefix = \"/svc-$i\" }"
        fi
        echo 'cluster = "app"'
    done
    printf '[[listeners.routes]]\nname = "app"\ncluster = "app"\n'
}

# rss_kib PID: the process's resident memory in KiB.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# settled PID: its RSS in KiB once unchanged for 3 s (30 s at most): an allocator may
# hand memory freed after a burst back to the system with a delay.
settled() {
    local last=-1 same=0 now
    for _ in $(seq 30); do
        now=$(rss_kib "$1")
        if [ "$now" = "$last" ]; then same=$((same + 1)); else same=0; fi
        [ $same -lt 3 ] || break
        last=$now
        sleep 1
    done
    echo "$now"
}

# Load runs, for scripts that set PID (an associative array: name → the process to
# charge, "direct" for the backend itself), BACKEND_PID, DURATION and CONNS; SCHEME is
# http unless set (https for TLS). Each run is appended to $WORK/results.
SCHEME=${SCHEME:-http}
# The worker process of a single-worker nginx whose master's pid file is $1.
nginx_worker() { pgrep -P "$(cat "$WORK/$1.pid")"; }

# CPU time (clock ticks) process $1 has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICKS_PER_SECOND=$(getconf CLK_TCK)
# measure NAME REQUESTS_AWK COMMAND...: runs COMMAND (a load generator) against proxy
# NAME; sets OUT to its output and CPU to "proxy backend", each process's CPU µs per
# request given the request count REQUESTS_AWK extracts from the output. "direct" has
# no proxy: its proxy figure is "-".
measure() {
    local name=$1 requests=$2 p0 b0 p1 b1 n
    shift 2
    local proxy=${PID[$name]}
    p0=$(cpu_ticks "$proxy"); b0=$(cpu_ticks "$BACKEND_PID")
    OUT=$("$@" 2>&1)
    p1=$(cpu_ticks "$proxy"); b1=$(cpu_ticks "$BACKEND_PID")
    n=$(awk "$requests" <<<"$OUT")
    CPU=$(awk -v p=$((p1 - p0)) -v b=$((b1 - b0)) -v n="$n" -v k="$TICKS_PER_SECOND" \
        -v direct=$([ "$name" = direct ] && echo 1) 'BEGIN {
        us = 1e6 / k / (n > 0 ? n : 1)
        if (direct) printf "- %.1f", b * us; else printf "%.1f %.1f", p * us, b * us }')
}

# Prints one run and records it for the summary: name, protocol (h1 or h2), connections,
# req/s, two latency figures each after its label, and the p50 the summary keeps (h1).
report() { # name protocol conns rps label value label value [p50]
    local proxy=${CPU% *} backend=${CPU#* } cpu shown=$2
    if [ "$proxy" = - ]; then cpu="backend $backend"; else cpu="$proxy + backend $backend"; fi
    [ "$shown$SCHEME" != h2http ] || shown=h2c
    printf '%-11s %-6s %4s conns %12s req/s   %s %9s   %s %9s   cpu/req %s us\n' \
        "$1" "$shown" "$3" "$4" "$5" "$6" "$7" "$8" "$cpu"
    echo "$1 $2 $3 $4 $CPU ${9:-}" >> "$WORK/results"
}

# wrk: "Requests/sec" and the 50%/99% latency lines; more wrk arguments may follow.
h1() { # name port conns [wrk args...]
    local name=$1 port=$2 conns=$3
    shift 3
    measure "$name" '/ requests in / {print $1}' wrk -t1 -c"$conns" -d"${DURATION}s" --latency "$@" "$SCHEME://127.0.0.1:$port/"
    local p50
    p50=$(awk '$1=="50%" {print $2}' <<<"$OUT")
    report "$name" h1 "$conns" "$(awk '/Requests\/sec/ {print $2}' <<<"$OUT")" \
        p50 "$p50" p99 "$(awk '$1=="99%" {print $2}' <<<"$OUT")" "$p50"
}
# h2load: "finished in ... N req/s" and the mean and max of "time for request".
h2() { # name port
    measure "$1" '/^requests:/ {print $8}' h2load -c"$CONNS" -m10 -D"$DURATION" "$SCHEME://127.0.0.1:$2/"
    report "$1" h2 "$CONNS" "$(awk '/finished in/ {print $4}' <<<"$OUT")" \
        mean "$(awk '/time for request:/ {print $6}' <<<"$OUT")" \
        max "$(awk '/time for request:/ {print $5}' <<<"$OUT")"
}

AWK_STATS='
function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v+0 }
function median(list,   n, v, i, j, t) {
  n = split(list, v, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1]+0 > v[j]+0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
  return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
# A table cell: "-" when empty. A ratio a/b as "1.23x", "-" when either is missing.
function cell(v) { return v == "" ? "-" : v }
function ratio(a, b) { return (a == "" || b == "" || b + 0 == 0) ? "-" : sprintf("%.2fx", a / b) }
'

# For the scripts that start and stop their targets themselves (tcp-load.sh,
# ws-load.sh), which set TARGETS (the names to run) and STOP (name → the process to
# stop): `wants NAME` (is it a target), `alive`, `stop`, `timed` and `others` (how busy
# the client and the rest of the machine were; from OUT, a run's output), `fd_count`.
wants() { [[ " $TARGETS " == *" $1 "* ]]; }
# idle_points WHAT: every proxy among TARGETS stopped, then each started afresh and
# measured holding idle connections by the script's own `idle_point NAME` (results in
# $WORK/memory).
idle_points() {
    local name
    : > "$WORK/memory"
    [ "$TARGETS" != " direct" ] || return 0
    echo "-- $1, on a fresh proxy"
    for name in $TARGETS; do [ "$name" = direct ] || stop "$name"; done
    for name in $TARGETS; do [ "$name" = direct ] || idle_point "$name"; done
}
# alive PID: the process runs (a zombie does not).
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$state" ] && [ "$state" != Z ]
}
# stop NAME: SIGTERM, SIGKILL after 10 s; returns once it is gone.
stop() {
    local pid=${STOP[$1]} i
    kill "$pid" 2>/dev/null || true
    for i in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
# timed COMMAND...: runs it; then prints `client_cpu USER SYS REAL` (seconds) and
# `machine_cpu TICKS`, the CPU time every core spent busy meanwhile (/proc/stat).
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
timed() {
    local TIMEFORMAT='client_cpu %U %S %R' m0
    m0=$(machine_ticks)
    time "$@"
    echo "machine_cpu $(( $(machine_ticks) - m0 ))"
}
# others N PROXY_US BACKEND_US: from $OUT, how many cores work other than the client's,
# the proxy's and the backend's (N requests at those CPU µs each) kept busy during the
# run: other work on the machine (or the kernel's, on no process's account). Well above
# 0.1, the run shared the machine and its figures are noisy.
others() {
    awk -v n="$1" -v p="$2" -v b="$3" -v k="$TICKS_PER_SECOND" '
        $1 == "client_cpu" { c = $2 + $3; r = $4 }
        $1 == "machine_cpu" { m = $2 / k }
        END { if (p == "-") p = 0; v = (m - c - (p + b) * n / 1e6) / (r > 0 ? r : 1); printf "%.2f", v < 0 ? 0 : v }' <<<"$OUT"
}
fd_count() { ls "/proc/$1/fd" | wc -l; }
# idle_report NAME WHAT RSS0 RSS1: prints what IDLE held connections (WHAT) grew NAME's
# RSS by, in all and each, and appends `NAME IDLE GROWTH` to $WORK/memory.
idle_report() {
    local growth=$(($4 - $3))
    printf '%-10s %5d %s: rss %7s -> %7s KiB (%+7d), %.2f KiB each\n' \
        "$1" "$IDLE" "$2" "$3" "$4" "$growth" "$(awk -v d="$growth" -v n="$IDLE" 'BEGIN { print d / n }')"
    echo "$1 $IDLE $growth" >> "$WORK/memory"
}
