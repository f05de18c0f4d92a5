#!/usr/bin/env bash
# Start a local Docker engine when none answers. Loopback-only lab: no bridge, no iptables.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd not installed: run scripts/install-host-deps.sh" >&2; exit 1
fi
mkdir -p /var/log
nohup dockerd --bridge=none --iptables=false --ip6tables=false >/var/log/incident-lab-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "dockerd did not start; see /var/log/incident-lab-dockerd.log" >&2
exit 1
