#!/bin/sh
# Install the pinned kubectl the Kubernetes tests use: Debian 12's kubernetes-client package
# (1.20.5+really1.20.2), downloaded with apt and extracted (dpkg -x) into $REPO/.cache/kubectl,
# so the machine's own kubectl (if any) is left alone. Idempotent; prints the binary's path.
set -eu
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
DEST="$REPO/.cache/kubectl"
BIN="$DEST/usr/bin/kubectl"
VERSION=${KUBECTL_DEB_VERSION:-1.20.5+really1.20.2-1.1+deb12u1}
if [ -x "$BIN" ] && "$BIN" version --client --short >/dev/null 2>&1; then
    echo "$BIN"
    exit 0
fi
CACHE="$REPO/.cache/debs"
mkdir -p "$CACHE" "$DEST"
deb=$(ls "$CACHE"/kubernetes-client_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
    cd "$CACHE"
    if ! apt-get download "kubernetes-client=$VERSION" >/dev/null 2>&1; then
        apt-get update >/dev/null
        apt-get download "kubernetes-client=$VERSION" >/dev/null 2>&1 || apt-get download kubernetes-client >/dev/null
    fi
    cd - >/dev/null
    deb=$(ls "$CACHE"/kubernetes-client_*.deb | head -n1)
fi
dpkg -x "$deb" "$DEST"
"$BIN" version --client --short >/dev/null 2>&1 || { echo "kubectl from $deb does not run" >&2; exit 1; }
echo "$BIN"
