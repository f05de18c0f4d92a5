#!/usr/bin/env bash
# ansible-test needs the collection laid out as ansible_collections/incident/response:
# copy the tracked tree there and run sanity (extra args pass through, e.g. --test pylint).
set -euo pipefail
"$(dirname "$0")/get-pip-standin.sh"  # ansible-test fetches get-pip from a host we cannot reach
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/incident-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/incident/response"
mkdir -p "$dest"
tar -C "$repo" --exclude=./.venv --exclude=./collections --exclude=./incidents --exclude=./.git \
    --exclude='*.pyc' --exclude=./tests/output --exclude=./.pytest_cache --exclude=./.cache -cf - . | tar -C "$dest" -xf -
cd "$dest"
"$repo/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
