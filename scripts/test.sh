#!/usr/bin/env bash
# Runs the whole Switchyard test suite. Works on a fresh Debian machine that has only
# the Rust toolchain: it installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Policies are built for wasm32-wasip2. host/policy/build.rs adds the target when it is
# missing; doing it here first makes a failure to fetch it obvious.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
fi

# Discovery tests run a real DNS server and a real etcd; TLS tests real clients (curl,
# openssl s_client, wrk) and a real nginx as a TLS backend; TCP tests Redis (server,
# redis-cli, redis-benchmark) and HAProxy (reading the PROXY protocol).
need=()
for tool in dnsmasq:dnsmasq-base etcd:etcd-server etcdctl:etcd-client curl:curl openssl:openssl wrk:wrk nginx:nginx-light redis-server:redis-server redis-benchmark:redis-tools haproxy:haproxy; do
    command -v "${tool%%:*}" >/dev/null || [ -x "/usr/sbin/${tool%%:*}" ] || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The systemd unit in examples/deploy is checked by `systemd-analyze verify` when the
# tool installs here; without it, the test parses the unit instead.
if ! command -v systemd-analyze >/dev/null; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends systemd >/dev/null 2>&1 \
        || echo "systemd-analyze is not installable here: the unit's keys are parsed instead" >&2
fi

# The console's browser test installs chromium (apt) and playwright-core (npm) itself
# (host/tests/console/install.sh).

cargo test --workspace --locked "$@"
