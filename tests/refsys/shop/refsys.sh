#!/usr/bin/env bash
# The "shop" reference system (podman-compose): up | down | status | deploy-bad | build | wait | compose ARGS
#   up          host setup (scripts/ensure-podman.sh), images (cached), podman-compose up -d, wait until
#               db, app and web answer
#   down        remove the project's containers (also any left by a failed action) and volumes
#   deploy-bad  deploy the bad release localhost/shop/app:1.1 the way a user would (podman-compose up -d app)
#   compose     run podman-compose on the project, e.g. `refsys.sh compose ps`
# Ports (127.0.0.1): web 28080, app 28000, db 25432. Engine API: unix:///run/incident-podman/podman.sock
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cd "$here"
project=shop
export SHOP_DB_PASSWORD=${SHOP_DB_PASSWORD:-refsys-only-db-password}
export SHOP_ADMIN_KEY=${SHOP_ADMIN_KEY:-refsys-only-admin-key}

pcompose() {
  local bin=podman-compose
  [ -x "$repo/.venv/bin/podman-compose" ] && bin="$repo/.venv/bin/podman-compose"
  command -v "$bin" >/dev/null || { echo "podman-compose missing: make venv (requirements.txt pins it)" >&2; exit 1; }
  "$bin" -f "$here/compose.yml" "$@"
}

# Quiet unless it fails.
quiet() {
  local log; log=$(mktemp)
  "$@" >"$log" 2>&1 || { local rc=$?; cat "$log" >&2; rm -f "$log"; return $rc; }
  rm -f "$log"
}

recipe_of() { podman image inspect --format '{{index .Labels "shop.recipe"}}' "$1" 2>/dev/null || true; }

# Images without a registry: the lab's debootstrap rootfs (cached tarball, else its Docker image),
# imported into podman, plus the shop's files. Skipped when every image carries the same recipe hash.
build() {
  local base_docker hash tarball base recipe
  base_docker=$("$repo/lab/image/build-base.sh")          # incident-lab/base:<suite>-<hash> (Docker)
  hash=${base_docker##*-}
  recipe=$(cat "$here/refsys.sh" image/Containerfile image/Containerfile.release app/run app/shop.py nginx/nginx.conf \
           | { cat; echo "$base_docker"; } | sha256sum | cut -c1-12)
  if [ "$(recipe_of localhost/shop/app:1.1)" = "$recipe" ] && [ "$(recipe_of localhost/shop/app:1.0)" = "$recipe" ] \
     && [ "$(recipe_of localhost/shop/runtime:1.0)" = "$recipe" ]; then
    return 0
  fi
  base="localhost/shop/base:$hash"
  if ! podman image exists "$base"; then
    tarball="${LAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/incident-lab}/rootfs-${base_docker#incident-lab/base:}.tar"
    if [ -s "$tarball" ]; then
      quiet podman import --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "$tarball" "$base"
    else  # the tarball was pruned (or LAB_BASE_IMAGE names a registry image): copy the Docker image over
      docker save "$base_docker" | quiet podman load
      podman tag "$base_docker" "$base" 2>/dev/null || podman tag "docker.io/$base_docker" "$base"
    fi
  fi
  quiet podman build -f image/Containerfile --build-arg BASE_IMAGE="$base" --build-arg RECIPE="$recipe" \
    -t localhost/shop/runtime:1.0 .
  quiet podman build -f image/Containerfile.release --build-arg FROM_IMAGE=localhost/shop/runtime:1.0 \
    --build-arg VERSION=1.0 --build-arg RECIPE="$recipe" -t localhost/shop/app:1.0 image
  quiet podman build -f image/Containerfile.release --build-arg FROM_IMAGE=localhost/shop/app:1.0 \
    --build-arg VERSION=1.1 --build-arg BROKEN=1 --build-arg RECIPE="$recipe" -t localhost/shop/app:1.1 image
}

answers() { curl -fsS -m 2 -o /dev/null "$1" 2>/dev/null; }

# db (through the app's query), app and web (its own /ping and the proxied /health).
wait_ready() {
  local deadline=$((SECONDS + ${SHOP_WAIT_SECONDS:-90}))
  while :; do
    answers http://127.0.0.1:28000/health && answers http://127.0.0.1:28080/ping \
      && answers http://127.0.0.1:28080/health && return 0
    if [ $SECONDS -ge $deadline ]; then
      echo "shop not ready after ${SHOP_WAIT_SECONDS:-90}s:" >&2; status >&2; return 1
    fi
    sleep 0.2
  done
}

status() {
  podman ps -a --filter "label=io.podman.compose.project=$project" --format 'table {{.Names}}\t{{.Status}}\t{{.Image}}'
}

leftovers() {
  { podman ps -aq --filter "label=io.podman.compose.project=$project"
    podman ps -aq --filter "label=com.docker.compose.project=$project"; } | sort -u
}

case "${1:-}" in
  build) "$repo/scripts/ensure-podman.sh"; build ;;
  up)
    start=$SECONDS
    "$repo/scripts/ensure-podman.sh"
    build
    quiet pcompose up -d
    wait_ready
    echo "shop up in $((SECONDS - start))s: web http://127.0.0.1:28080  app http://127.0.0.1:28000  db 127.0.0.1:25432" ;;
  wait) wait_ready ;;
  deploy-bad)
    SHOP_APP_TAG=1.1 quiet pcompose up -d app
    deadline=$((SECONDS + 30))
    until [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' http://127.0.0.1:28000/health)" = 500 ]; do
      [ $SECONDS -lt $deadline ] || { echo "the bad release did not come up" >&2; status >&2; exit 1; }
      sleep 0.2
    done
    echo "deployed localhost/shop/app:1.1: http://127.0.0.1:28000/health answers 500" ;;
  down)
    quiet pcompose down -v -t 2 || true
    # containers a failed action may have left (renamed ones keep the labels), with their dependants
    mapfile -t stray < <(leftovers)
    [ ${#stray[@]} -eq 0 ] || quiet podman rm -f --depend "${stray[@]}" || true
    podman pod exists "pod_$project" && { quiet podman pod rm -f "pod_$project" || true; }  # podman-compose's pod
    for v in $(podman volume ls -q --filter "label=io.podman.compose.project=$project"); do
      quiet podman volume rm -f "$v" || true
    done
    left=$(leftovers)
    [ -z "$left" ] || { echo "containers left behind: $left" >&2; exit 1; } ;;
  status) status ;;
  compose) shift; pcompose "$@" ;;
  *) echo "usage: $0 up|down|status|deploy-bad|build|wait|compose ARGS" >&2; exit 64 ;;
esac
