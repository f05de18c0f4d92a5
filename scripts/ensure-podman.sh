#!/usr/bin/env bash
# Podman for the second reference system (tests/refsys/shop): install it when missing, make it work
# on these machines, and serve its Docker-compatible API on a socket of its own. Idempotent.
#  - VMs here cannot raise rlimits, and rootful podman raises nofile/nproc to the maximum unless
#    containers.conf sets `default_ulimits`: set them (below the hard limits we have) when absent.
#  - No systemd: the API service is `podman system service --time=0` started in the background, and
#    podman's healthcheck timers never run (the reference system has no compose healthchecks).
# The socket (INCIDENT_PODMAN_SOCK, default /run/incident-podman/podman.sock) is what the collection's
# modules use as docker_host: unix:///run/incident-podman/podman.sock. podman-compose comes from the
# venv (requirements.txt), not from Debian.
set -euo pipefail
sock=${INCIDENT_PODMAN_SOCK:-/run/incident-podman/podman.sock}
conf=/etc/containers/containers.conf
log=/var/log/incident-podman-service.log

need=()
command -v podman >/dev/null || need+=(podman)
command -v crun >/dev/null || command -v runc >/dev/null || need+=(crun)
command -v newuidmap >/dev/null || need+=(uidmap)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
command -v curl >/dev/null || need+=(curl)
"$(dirname "$0")/apt-install.sh" "${need[@]}"

# default_ulimits: only when no containers.conf sets them (an operator's own choice wins).
if ! grep -qs '^[[:space:]]*default_ulimits' "$conf"; then
  [ -w "$(dirname "$conf")" ] || mkdir -p "$(dirname "$conf")"
  # modest fixed values (postgres and nginx need far less), capped by the hard limits we run under
  nofile=4096 nproc=4096 hn=$(ulimit -Hn) hu=$(ulimit -Hu)
  if [ "$hn" != unlimited ] && [ "$hn" -lt "$nofile" ]; then nofile=$hn; fi
  if [ "$hu" != unlimited ] && [ "$hu" -lt "$nproc" ]; then nproc=$hu; fi
  if grep -qs '^\[containers\]' "$conf"; then
    sed -i "/^\[containers\]/a default_ulimits = [\"nofile=${nofile}:${nofile}\", \"nproc=${nproc}:${nproc}\"]" "$conf"
  else
    printf '[containers]\n# written by incident.response scripts/ensure-podman.sh: this VM cannot raise rlimits\ndefault_ulimits = ["nofile=%s:%s", "nproc=%s:%s"]\n' \
      "$nofile" "$nofile" "$nproc" "$nproc" >>"$conf"
  fi
  echo "default_ulimits nofile=$nofile nproc=$nproc written to $conf"
fi

answers() { curl -fsS --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
answers && exit 0
mkdir -p "$(dirname "$sock")"
rm -f "$sock"
nohup setsid podman system service --time=0 "unix://$sock" >"$log" 2>&1 </dev/null &
for _ in $(seq 1 60); do
  answers && exit 0
  sleep 0.25
done
echo "podman API service did not answer on $sock; see $log" >&2
exit 1
