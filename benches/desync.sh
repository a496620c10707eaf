#!/usr/bin/env bash
# The desync (request smuggling) cases of host/tests/hardening/desync.rs, run through
# Switchyard, nginx (one worker) and HAProxy (one thread) in front of the same strict
# backend, side by side: for each case the statuses the client got, whether the backend
# saw a request the client never completed (SMUGGLED), and whether a victim request on
# a fresh connection afterwards got someone else's answer (VICTIM-WRONG). Every proxy
# keeps its upstream connections alive, so that what a case leaves on one meets the
# victim. Needs nginx-light and haproxy (installed with apt-get when missing).
# Usage: benches/desync.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
need nginx:nginx-light haproxy:haproxy

BACKEND=18181 NGINX=18182 HAPROXY=18184
nginx_conf nginx "    upstream backend { server 127.0.0.1:$BACKEND; keepalive 16; }
    server {
        listen 127.0.0.1:$NGINX;
        location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
    }"
nginx -c "$WORK/nginx.conf" -p "$WORK"
cat > "$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
    http-reuse always
frontend web
    bind 127.0.0.1:$HAPROXY
    default_backend app
backend app
    server b1 127.0.0.1:$BACKEND
CONF
setsid haproxy -f "$WORK/haproxy.cfg" -q &
sleep 0.5
echo "== $(date -u +%F): nginx $(nginx -v 2>&1 | sed 's/.*\///'), HAProxy $(haproxy -v | awk 'NR==1 {print $3}')"
DESYNC_BACKEND=127.0.0.1:$BACKEND \
DESYNC_PROXIES=nginx=127.0.0.1:$NGINX,haproxy=127.0.0.1:$HAPROXY \
    cargo test --locked -q -p switchyard --test hardening desync_side_by_side -- --ignored --nocapture 2>&1 |
    grep -vE '^(running|test |$)|test result'
