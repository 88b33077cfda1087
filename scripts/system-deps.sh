#!/usr/bin/env bash
# Install the Debian packages some tests and deployments use, only those missing:
#   scripts/system-deps.sh chromium haproxy redis-server postgresql
# A fresh machine and CI start without them. Needs root (as on CI) or sudo; apt's list is
# refreshed once, and only when something has to be installed.
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Another apt run may hold the lock (a parallel test session): wait for it, bounded.
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
