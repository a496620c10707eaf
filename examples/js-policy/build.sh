#!/usr/bin/env bash
# Builds js-weighted-random.wasm from policy.js with componentize-js (from npm),
# installed into a private directory on first use. Usage: ./build.sh [OUTPUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wit="$here/../../wit/0.1.0"   # built against contract 0.1.0, which the proxy still serves
out="${1:-$here/js-weighted-random.wasm}"
tools="${SWITCHYARD_TOOLS:-$here/../../target/tools}/componentize-js"
version=0.23.0
bin="$tools/node_modules/.bin/componentize-js"

if ! "$bin" --version 2>/dev/null | grep -q "$version"; then
    mkdir -p "$tools"
    (cd "$tools" && npm install --silent --no-audit --no-fund \
        "@bytecodealliance/componentize-js@$version")
fi
# No WASI features: the policy needs only what the balancer world imports.
"$bin" "$here/policy.js" --wit "$wit" --world-name balancer \
    --disable stdio random clocks http fetch-event -o "$out"
echo "built $out"
