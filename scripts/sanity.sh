#!/usr/bin/env bash
# ansible-test needs the collection laid out as ansible_collections/incident/response:
# copy the tracked tree there and run sanity (extra args pass through, e.g. --test pylint).
set -euo pipefail
# ansible-test bootstraps pip in its venvs with a get-pip script from a host we cannot reach;
# a stand-in made from the interpreter's own ensurepip does the same job (pip itself comes from PyPI).
for v in 24.2 24.3 25.0 25.1; do
  f=~/.ansible/test/cache/get_pip_${v//./_}.py
  [ -s "$f" ] && continue
  mkdir -p "$(dirname "$f")"
  cat >"$f" <<'PY'
import ensurepip, os, subprocess, sys
ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
cert = ["--cert", "/etc/ssl/certs/ca-certificates.crt"] if os.path.exists("/etc/ssl/certs/ca-certificates.crt") else []
subprocess.check_call([sys.executable, "-m", "pip", "install"] + cert + args)
PY
done
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/incident-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/incident/response"
mkdir -p "$dest"
tar -C "$repo" --exclude=./.venv --exclude=./collections --exclude=./incidents --exclude=./.git \
    --exclude='*.pyc' --exclude=./tests/output --exclude=./.pytest_cache -cf - . | tar -C "$dest" -xf -
cd "$dest"
"$repo/.venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
