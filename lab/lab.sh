#!/usr/bin/env bash
# Lab lifecycle: up | down | build | status | wait. Used by make, molecule and the tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
compose() {
  if docker compose version >/dev/null 2>&1; then docker compose -f "$here/docker-compose.yml" "$@"
  else docker-compose -f "$here/docker-compose.yml" "$@"; fi
}

# docker build, quiet unless it fails (the legacy builder's deprecation notice is noise here).
dbuild() {
  local log; log=$(mktemp)
  docker build -q "$@" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
  rm -f "$log"
}

build() {
  "$here/../scripts/ensure-dockerd.sh"
  local base; base=$("$here/image/build-base.sh")
  dbuild -f image/Dockerfile --build-arg BASE_IMAGE="$base" -t incident-lab/app:current .
  docker tag incident-lab/app:current incident-lab/api:1.0.0
  docker tag incident-lab/app:current incident-lab/api:current
  dbuild -f image/Dockerfile.broken --build-arg APP_IMAGE=incident-lab/app:current -t incident-lab/api:broken image
}

# Wait until every container of the project is running and, where it has a healthcheck, healthy.
wait_healthy() {
  local deadline=$((SECONDS + ${LAB_WAIT_SECONDS:-120})) bad want
  want=$(compose config --services | wc -l)
  while :; do
    bad=$(docker ps -a --filter "label=com.docker.compose.project=incident-lab" \
      --format '{{.Names}} {{.Status}}' | grep -vE 'Up .*\(healthy\)$|^[^ ]*traffic[^ ]* Up ' || true)
    [ -z "$bad" ] && [ "$(docker ps -q --filter label=com.docker.compose.project=incident-lab | wc -l)" -ge "$want" ] && return 0
    if [ $SECONDS -ge $deadline ]; then echo "lab not healthy:"; echo "$bad"; return 1; fi
    sleep 1
  done
}

case "${1:-}" in
  build) build ;;
  up)
    start=$SECONDS
    build
    mkdir -p .state/faults && rm -f .state/faults/*
    compose up -d --remove-orphans --quiet-pull 2>&1 | grep -vE '^(Creating|Starting|Recreating)|is up-to-date' || true
    wait_healthy
    echo "lab up and healthy in $((SECONDS - start))s: nginx :$(grep LAB_NGINX_PORT .env | cut -d= -f2), api :$(grep LAB_API_PORT .env | cut -d= -f2)" ;;
  wait) wait_healthy ;;
  down)
    compose down -v --remove-orphans --timeout 5 2>&1 | grep -vE '^(Stopping|Removing)' || true
    rm -rf .state
    left=$(docker ps -aq --filter label=com.docker.compose.project=incident-lab)
    [ -z "$left" ] || { echo "containers left behind: $left"; exit 1; } ;;
  status) docker ps -a --filter label=com.docker.compose.project=incident-lab --format 'table {{.Names}}\t{{.Status}}\t{{.Image}}' ;;
  compose) shift; compose "$@" ;;
  *) echo "usage: $0 up|down|build|status|wait|compose ARGS" >&2; exit 64 ;;
esac
