#!/usr/bin/env bash
# Install the Debian packages named as arguments (nothing to do without any), as root, quietly.
# Shared by install-host-deps.sh and ensure-podman.sh.
set -euo pipefail
[ $# -gt 0 ] || exit 0
[ "$(id -u)" = 0 ] || { echo "missing $*: run as root or install them" >&2; exit 1; }
echo "installing: $*"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
