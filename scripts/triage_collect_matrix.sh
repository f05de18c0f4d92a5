#!/usr/bin/env bash
# Run the incident.response.triage_collect action plugin on every ansible-core of the support matrix:
# tests/unit/plugins/action/test_triage_collect.py (real ansible-playbook on localhost, no lab) once per version.
#   2.19 on Python 3.11 (the repo's .venv)   2.20 on Python 3.12   2.21 on Python 3.13
# The plugin runs modules through ActionBase._execute_module from threads and overrides one private hook
# (_configure_module); this is what shows when a new ansible-core changes them. The other versions get
# throwaway venvs under $TRIAGE_MATRIX_DIR (default /tmp/triage-collect-matrix), made on first use with
# pyenv's python3.X or python3.X from PATH; a missing interpreter is a failure, not a skip.
#   scripts/triage_collect_matrix.sh           # the whole matrix
#   scripts/triage_collect_matrix.sh 2.21      # one version
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${TRIAGE_MATRIX_DIR:-/tmp/triage-collect-matrix}
matrix=("2.19 3.11" "2.20 3.12" "2.21 3.13")

find_python() {  # newest python3.X of pyenv, else python3.X on PATH
  local root found
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  found=$(ls -d "$root/versions/$1".*/bin/python3 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && echo "$found" || command -v "python$1" || true
}

core_of() {  # the ansible-core version of a bin directory, empty when it does not run
  "$1/ansible-playbook" --version 2>/dev/null | sed -n '1s/.*core \([0-9.]*\).*/\1/p' || true
}

status=0
start=$SECONDS
for entry in "${matrix[@]}"; do
  read -r core py <<<"$entry"
  [ $# -eq 0 ] || [[ " $* " == *" $core "* ]] || continue
  t0=$SECONDS
  bin=$PWD/.venv/bin
  if [ "$core" != "2.19" ]; then
    bin=$dir/core-$core/bin
    if [[ "$(core_of "$bin")" != "$core".* ]]; then  # missing or broken: make it anew
      python=$(find_python "$py")
      if [ -z "$python" ]; then
        echo "ansible-core $core: no python$py found (pyenv or PATH)" >&2
        status=1
        continue
      fi
      rm -rf "$dir/core-$core"
      if ! "$python" -m venv "$dir/core-$core" || ! "$bin/pip" install -q --disable-pip-version-check "ansible-core==$core.*"; then
        echo "ansible-core $core: could not install it with $python" >&2
        status=1
        continue
      fi
    fi
  fi
  version=$(core_of "$bin")
  if [[ "$version" != "$core".* ]]; then
    echo "ansible-core $core: $bin has ansible-core '${version}'" >&2
    status=1
    continue
  fi
  echo "== ansible-core $version, $("$bin/python" --version)"
  if ! TRIAGE_COLLECT_ANSIBLE_BIN=$bin .venv/bin/pytest -p no:cacheprovider -q tests/unit/plugins/action/test_triage_collect.py; then
    status=1
  fi
  echo "   ansible-core $core took $((SECONDS - t0))s"
done
echo "triage_collect matrix: $([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start))s"
exit $status
