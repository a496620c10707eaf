#!/usr/bin/env bash
# Installs what the console's browser test needs, once: Debian's chromium (apt) and
# playwright-core (npm) into a private directory. Prints the directory holding
# node_modules. Fails with the reason when it cannot.
set -euo pipefail
tools="${SWITCHYARD_TOOLS:-$(cd "$(dirname "$0")/../../.." && pwd)/target/tools}/playwright"
version=1.57.0

if [ ! -x /usr/bin/chromium ]; then
    sudo=$([ "$(id -u)" = 0 ] || echo sudo)
    command -v apt-get >/dev/null || { echo "no /usr/bin/chromium and no apt-get to install it" >&2; exit 1; }
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >&2 \
        || { echo "cannot install chromium from apt" >&2; exit 1; }
fi
command -v node >/dev/null || { echo "node is needed (apt install nodejs npm)" >&2; exit 1; }
if [ "$(node -p "require('$tools/node_modules/playwright-core/package.json').version" 2>/dev/null)" != "$version" ]; then
    mkdir -p "$tools"
    (cd "$tools" && npm install --silent --no-audit --no-fund "playwright-core@$version" >&2) \
        || { echo "cannot install playwright-core@$version from npm" >&2; exit 1; }
fi
echo "$tools"
