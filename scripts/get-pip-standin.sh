#!/usr/bin/env bash
# ansible-test bootstraps pip in its venvs with a get-pip script from a host we cannot reach (each ansible-core
# pins its own pip version); a stand-in made from the interpreter's own ensurepip does the same job (pip itself
# comes from PyPI). Used by scripts/sanity.sh and scripts/version_matrix.sh.
set -euo pipefail
for v in 23.1.2 24.0 24.2 24.3 25.0 25.1 25.2 25.3; do
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
