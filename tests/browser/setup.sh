#!/usr/bin/env bash
# The headless browser the report tests render `ovom report`'s page in:
# Debian's `chromium` package, installed when /usr/bin/chromium is missing
# (OVOM_CHROMIUM names another binary). Idempotent, and locked so that test
# runs started together install it once. Prints the browser's path.
set -euo pipefail

chromium="${OVOM_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$chromium" ]; then
    echo "$chromium"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

exec 9>"${TMPDIR:-/tmp}/ovom-chromium-setup.lock"
flock 9
if [ ! -x "$chromium" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt="$sudo apt-get -o DPkg::Lock::Timeout=1200"
    if ! $apt install -y chromium >&2; then
        $apt update >&2
        $apt install -y chromium >&2
    fi
fi
if [ ! -x "$chromium" ]; then
    echo "chromium is still missing at $chromium" >&2
    exit 1
fi
echo "$chromium"
