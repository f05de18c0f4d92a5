#!/usr/bin/env bash
# Install what the lab and the tests need on a fresh Debian machine (as root), then start dockerd.
# Idempotent: only missing packages are installed.
set -euo pipefail
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v git >/dev/null || need+=(git)
command -v curl >/dev/null || need+=(curl)
command -v make >/dev/null || need+=(make)
command -v psql >/dev/null || need+=(postgresql-client)   # psql through k8s_exec in tests
command -v redis-cli >/dev/null || need+=(redis-tools)    # redis-cli through k8s_exec in tests
command -v openssl >/dev/null || need+=(openssl)          # TLS for the simulated Kubernetes API in tests
command -v socat >/dev/null || need+=(socat)              # a TLS endpoint in front of the Docker engine in tests
command -v java >/dev/null || need+=(openjdk-17-jre-headless)  # ansible-rulebook (EDA) engine in tests
command -v chromium >/dev/null || need+=(chromium fonts-dejavu-core)  # headless screenshot of report.html in tests
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
"$(dirname "$0")/apt-install.sh" "${need[@]}"
"$(dirname "$0")/ensure-dockerd.sh"
"$(dirname "$0")/ensure-podman.sh"   # podman + its API socket for the second reference system (tests/refsys/shop)

# The pinned kubectl the Kubernetes tests run against the API simulation (Debian kubernetes-client, extracted).
"$(dirname "$0")/install-kubectl.sh" >/dev/null
