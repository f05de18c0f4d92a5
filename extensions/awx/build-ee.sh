#!/usr/bin/env bash
# Build the incident.response execution environment with no registry and no Galaxy:
#   1. the Debian base of the lab (lab/image/build-base.sh: debootstrap + docker import, cached)
#   2. the EE base on it (extensions/awx/ee-base: python3 venv with ansible-core + ansible-runner)
#   3. the collection tarball of this checkout (ansible-galaxy collection build)
#   4. ansible-builder build of extensions/awx/execution-environment.yml (introspects the collection's
#      meta/execution-environment.yml for its Python and system dependencies)
#   extensions/awx/build-ee.sh [TAG]          # default incident-response-ee:latest
# Builds on the host network (PyPI and the Debian mirror must be reachable); CONTAINER_RUNTIME=podman works too.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tag=${1:-incident-response-ee:latest}
runtime=${CONTAINER_RUNTIME:-docker}
bin=${EE_TOOLS_BIN:-$repo/.venv/bin}
work=${EE_BUILD_DIR:-$(mktemp -d /tmp/incident-ee.XXXXXX)}
start=$SECONDS

debian=$("$repo/lab/image/build-base.sh")
mkdir -p "$work/base"
cp "$repo"/extensions/awx/ee-base/* "$work/base/"
# pip in the image trusts what the host trusts (EE_CA_BUNDLE: a PEM bundle; default the system's).
cp "${EE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" "$work/base/build-ca.crt"
"$runtime" build --network host --build-arg "DEBIAN_BASE=$debian" -t localhost/incident-response-ee-base:latest \
  -f "$work/base/Containerfile" "$work/base" >&2
echo "ee-base on $debian: $((SECONDS - start))s" >&2

mkdir -p "$work"
cp "$repo/extensions/awx/execution-environment.yml" "$work/"
rm -f "$work"/incident-response-*.tar.gz
"$bin/ansible-galaxy" collection build --force --output-path "$work" "$repo" >&2
mv "$work"/incident-response-*.tar.gz "$work/incident.response.tar.gz"
"$bin/ansible-builder" build --file "$work/execution-environment.yml" --context "$work/context" \
  --container-runtime "$runtime" --tag "$tag" --extra-build-cli-args "--network host" -v 2 >&2
echo "execution environment $tag built in $((SECONDS - start))s" >&2
echo "$tag"
