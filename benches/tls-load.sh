#!/usr/bin/env bash
# TLS termination in front of a cleartext backend: Switchyard, nginx (one worker) and
# HAProxy (one thread), in the same run, on the same nginx backend, with the same
# ECDSA P-256 certificate. TLS 1.3, X25519 and TLS_AES_128_GCM_SHA256 are pinned on the
# clients (an OpenSSL configuration wrk and h2load load), so each server negotiates the
# same. Measures, in interleaved rounds: keep-alive HTTP/1.1 (wrk -t1 -c32), h2 over
# TLS (h2load -c32 -m10), and full handshakes (wrk with `Connection: close`: every
# request a new TLS connection, no resumption); then memory per idle TLS connection
# (RSS slope over N connections that each made one request, benches/idle_tls_clients.py).
# Needs nginx-light, haproxy, wrk, nghttp2-client, openssl, procps (apt-get when
# missing). Usage: [ROUNDS=N] [IDLE=N] [BASELINE=PATH] benches/tls-load.sh [seconds]
# BASELINE (another switchyard binary: an earlier build, or one with another crypto
# provider) runs as "baseline" beside the others, same configuration, in every round.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
ROUNDS=${ROUNDS:-3}
IDLE=${IDLE:-2000}
CONNS=32
SCHEME=https
source benches/common.sh
need nginx:nginx-light haproxy:haproxy wrk:wrk h2load:nghttp2-client openssl:openssl pgrep:procps
build

BACKEND=18181 NGINX=18182 HAPROXY=18184 SWITCHYARD=18185 BASELINE_PORT=18186

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=bench.test \
    -addext subjectAltName=DNS:bench.test,IP:127.0.0.1 2>/dev/null
cat "$WORK/cert.pem" "$WORK/key.pem" > "$WORK/haproxy.pem"
# What the clients offer: one version, one group, one cipher suite.
cat > "$WORK/client-openssl.cnf" <<CONF
openssl_conf = init
[init]
ssl_conf = ssl
[ssl]
system_default = pinned
[pinned]
MinProtocol = TLSv1.3
Ciphersuites = TLS_AES_128_GCM_SHA256
Groups = X25519
CONF
export OPENSSL_CONF="$WORK/client-openssl.cnf"

TLS_SERVER="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.3; ssl_ecdh_curve X25519;"
nginx_conf nginx "    upstream backend { server 127.0.0.1:$BACKEND; keepalive 64; }
    server { listen 127.0.0.1:$NGINX ssl http2; $TLS_SERVER
        location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; } }"
start_backend $BACKEND
nginx -c "$WORK/nginx.conf" -p "$WORK"

cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn 8000
defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 30s
    http-reuse always
frontend web
    bind 127.0.0.1:$HAPROXY ssl crt $WORK/haproxy.pem alpn h2,http/1.1 ssl-min-ver TLSv1.3 curves X25519
    default_backend app
backend app
    option forwardfor
    server b1 127.0.0.1:$BACKEND
CONF
setsid haproxy -f "$WORK/haproxy.cfg" -q &
HAPROXY_PID=$!

switchyard_conf "$WORK/switchyard.toml" "$SWITCHYARD" "$BACKEND"
cat >> "$WORK/switchyard.toml" <<CONF
[listeners.tls]
cert = "$WORK/cert.pem"
key = "$WORK/key.pem"
min_version = "1.3"
CONF
# (TOML: [listeners.tls] extends the last [[listeners]], even after [[clusters]].)
RUST_LOG=warn setsid "$BIN" run --config "$WORK/switchyard.toml" &
SWITCHYARD_PID=$!
NAMES="nginx haproxy switchyard"
if [ -n "${BASELINE:-}" ]; then
    sed -e "s/$SWITCHYARD/$BASELINE_PORT/" "$WORK/switchyard.toml" > "$WORK/baseline.toml"
    RUST_LOG=warn setsid "$BASELINE" run --config "$WORK/baseline.toml" &
    BASELINE_PID=$!
    NAMES="$NAMES baseline"
fi
sleep 1.5
BACKEND_PID=$(nginx_worker backend)
NGINX_PID=$(nginx_worker nginx)
declare -A PID=([direct]=$BACKEND_PID [nginx]=$NGINX_PID [haproxy]=$HAPROXY_PID
    [switchyard]=$SWITCHYARD_PID [baseline]=${BASELINE_PID:-})
declare -A PORT=([nginx]=$NGINX [haproxy]=$HAPROXY [switchyard]=$SWITCHYARD
    [baseline]=$BASELINE_PORT)

echo "== $(date -u +%F) — ${DURATION}s per run, $ROUNDS rounds, TLS 1.3 X25519 AES-128-GCM, ECDSA P-256"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    for name in $NAMES; do
        port=${PORT[$name]}
        h1 "$name" "$port" $CONNS
        h2 "$name" "$port"
        measure "$name" '/ requests in / {print $1}' wrk -t1 -c$CONNS -d"${DURATION}s" \
            -H "Connection: close" "https://127.0.0.1:$port/"
        errors=$(awk '/Socket errors|Non-2xx/ {printf "%s;", $0}' <<<"$OUT" | tr -d ' ')
        report "$name" handshakes $CONNS "$(awk '/Requests\/sec/ {print $2}' <<<"$OUT")" \
            errors "${errors:-none}" - -
    done
done

awk "$AWK_STATS"'
{ key=$1" "$2; rps[key]=rps[key]" "$4; pc[key]=pc[key]" "$5 }
END {
  for (k in rps) { r[k]=median(rps[k]); c[k]=median(pc[k]) }
  split("h1 h2 handshakes", kinds, " ")
  for (i = 1; i <= 3; i++) {
    k = kinds[i]
    printf "%-10s switchyard %8.0f  nginx %8.0f  haproxy %8.0f /s   switchyard/nginx %.2fx  switchyard/haproxy %.2fx   cpu us/req %.1f / %.1f / %.1f\n", k, r["switchyard " k], r["nginx " k], r["haproxy " k], r["switchyard " k]/r["nginx " k], r["switchyard " k]/r["haproxy " k], c["switchyard " k], c["nginx " k], c["haproxy " k]
    if (("baseline " k) in r)
      printf "%-10s baseline %8.0f /s, switchyard/baseline %.2fx, cpu us/req %.1f vs %.1f\n", k, r["baseline " k], r["switchyard " k]/r["baseline " k], c["switchyard " k], c["baseline " k]
  }
}' "$WORK/results"

# Memory per idle TLS connection: RSS before and after IDLE connections that each made
# one keep-alive request and then stay open.
for name in $NAMES; do
    port=${PORT[$name]}
    pid=${PID[$name]}
    before=$(settled "$pid")
    coproc CLIENTS { python3 benches/idle_tls_clients.py 127.0.0.1 "$port" "$IDLE"; }
    read -r ready _ <&"${CLIENTS[0]}" || true
    [ "$ready" = ready ] || { echo "$name: idle clients failed"; exit 1; }
    after=$(settled "$pid")
    exec {CLIENTS[1]}>&-
    wait "$CLIENTS_PID" || true
    awk -v n="$name" -v a="$after" -v b="$before" -v c="$IDLE" \
        'BEGIN { printf "idle TLS connection, %s: %.2f KiB each (RSS %d -> %d KiB over %d)\n", n, (a-b)/c, b, a, c }'
done
