# Sourced by the load scripts in benches/ (from the repository root): a work directory
# removed on exit, with every process the script started; `need` installs the apt
# packages of missing tools; `build` makes the release binary; `nginx_conf` and
# `switchyard_conf` write the servers' configurations; `rss_kib` and `settled` read a
# process's resident memory (the second once it stops moving); AWK_STATS holds awk functions
# for the summaries: us("1.5ms") in microseconds, median(" 3 1 2"); BIN is where
# `build` leaves the binary (CARGO_TARGET_DIR is honoured).
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

BIN="${CARGO_TARGET_DIR:-target}/release/switchyard"
build() {
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

# switchyard_conf FILE PORT BACKEND_PORT...: a one-worker Switchyard on PORT balancing
# the backends on 127.0.0.1 over HTTP/1.1 with $POLICY (least-request by default).
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
cluster = "app"
[[clusters]]
name = "app"
policy = "${POLICY:-least-request}"
protocol = "http1"
endpoints = [ ${endpoints%, } ]
CONF
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

AWK_STATS='
function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v+0 }
function median(list,   n, v, i, j, t) {
  n = split(list, v, " ")
  for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1]+0 > v[j]+0; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
  return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
'
