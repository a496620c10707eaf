#!/usr/bin/env bash
# Builds py-least-latency.wasm from app.py with componentize-py (from PyPI), installed
# into a private virtualenv on first use. Usage: ./build.sh [OUTPUT.wasm]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
wit="$here/../../wit/0.1.0"   # built against contract 0.1.0, which the proxy still serves
out="${1:-$here/py-least-latency.wasm}"
venv="${SWITCHYARD_TOOLS:-$here/../../target/tools}/componentize-py"
version=0.25.1

if ! "$venv/bin/componentize-py" --version 2>/dev/null | grep -q "$version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "componentize-py==$version"
fi
"$venv/bin/componentize-py" -d "$wit" -w balancer componentize \
    -p "$here" app -o "$out"
echo "built $out"
