#!/usr/bin/env bash
# The ansible-core support matrix (meta/runtime.yml requires_ansible): on each version, a quick sanity subset,
# the plugin unit tests and a smoke run of the INSTALLED collection (the tarball of this checkout, installed with
# that version's ansible-galaxy into an empty project; no lab needed).
#   2.17, 2.18 on Python 3.11    2.19 on Python 3.11 (the repo's .venv: `make sanity`/`make pytest` run it in full)
#   2.20 on Python 3.12          2.21 on Python 3.13 (pyenv's, else python3.X on PATH)
# Each version also runs tests/unit/plugins/action/test_triage_collect.py (the one plugin on ActionBase internals)
# against its own ansible-playbook. Version venvs are made on first use under $VERSION_MATRIX_DIR
# (default .venv/matrix, beside the repo's venv, so sanity, lint and git never see them) and reused while their
# ansible-core is right; a missing interpreter is a failure, not a skip.
#   scripts/version_matrix.sh                      # every version, every step
#   scripts/version_matrix.sh 2.17 2.21            # some versions
#   VERSION_MATRIX_STEPS="triage" scripts/version_matrix.sh   # some steps: sanity unit smoke triage
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
dir=${VERSION_MATRIX_DIR:-$repo/.venv/matrix}
steps=" ${VERSION_MATRIX_STEPS:-sanity unit smoke triage} "
matrix=("2.17 3.11" "2.18 3.11" "2.19 3.11" "2.20 3.12" "2.21 3.13")
# The quick sanity subset of the matrix (the full set runs on 2.19 in `make sanity`).
sanity_tests=(--test compile --test ansible-doc --test validate-modules --test yamllint)

find_python() {  # newest python3.X of pyenv, else python3.X on PATH
  local root found
  root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
  found=$(ls -d "$root/versions/$1".*/bin/python3 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$found" ] && echo "$found" || command -v "python$1" || true
}

core_of() {  # the ansible-core version of a bin directory, empty when it does not run
  "$1/ansible-playbook" --version 2>/dev/null | sed -n '1s/.*core \([0-9.]*\).*/\1/p' || true
}

venv_for() {  # bin directory with ansible-core $1 on python $2, made when missing or wrong
  local core=$1 py=$2 bin=$dir/core-$1/bin python
  [ "$core" = "2.19" ] && bin=$repo/.venv/bin
  if [[ "$(core_of "$bin")" != "$core".* ]] || ! "$bin/python" -c 'import pytest, docker, psycopg2, redis, jmespath, kubernetes' 2>/dev/null; then
    python=$(find_python "$py")
    [ -n "$python" ] || { echo "ansible-core $core: no python$py found (pyenv or PATH)" >&2; return 1; }
    rm -rf "$dir/core-$core"
    "$python" -m venv "$dir/core-$core" >&2
    # the collection's runtime libraries (what an execution environment gets) and pytest for its unit tests
    "$bin/pip" install -q --disable-pip-version-check "ansible-core==$core.*" pytest -r meta/ee-requirements.txt >&2
  fi
  [[ "$(core_of "$bin")" == "$core".* ]] || { echo "ansible-core $core: $bin has '$(core_of "$bin")'" >&2; return 1; }
  echo "$bin"
}

scripts/get-pip-standin.sh  # ansible-test fetches get-pip from a host we cannot reach

work=$(mktemp -d /tmp/version-matrix.XXXXXX)
trap 'rm -rf "$work"' EXIT
# The collection laid out for ansible-test (tracked-tree copy, as scripts/sanity.sh does) and its tarball.
tree="$work/tree/ansible_collections/incident/response"
mkdir -p "$tree"
tar -C "$repo" --exclude=./.venv --exclude=./collections --exclude=./incidents --exclude=./.git --exclude='*.pyc' \
    --exclude=./tests/output --exclude=./.pytest_cache --exclude=./.cache -cf - . | tar -C "$tree" -xf -
# The copy claims every version of the matrix, so an older core does not warn "does not support" (which ansible-doc's
# sanity test counts as an error): each version is tested on what would happen if requires_ansible named it.
sed -i "s/^requires_ansible: .*/requires_ansible: \">=${matrix[0]%% *}.0\"/" "$tree/meta/runtime.yml"
"$repo/.venv/bin/ansible-galaxy" collection build --force --output-path "$work" "$tree" >/dev/null
tarball=$(ls "$work"/incident-response-*.tar.gz)

# The smoke run: modules, a role, the lookup, a filter and the timeline callback of the installed collection,
# on localhost, ending with the scenario playbooks' summary task file (set_stats).
cat >"$work/smoke.yml" <<'YAML'
- name: Smoke run of the installed collection
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    incident_compose_project: smoke
    incident_services: [{name: web, health_url: "http://127.0.0.1:9/never"}]
  tasks:
    - name: Read the service catalog (role, filters)
      ansible.builtin.import_role:
        name: incident.response.catalog
    - name: State a milestone (module, lookup, callback)
      incident.response.incident_event:
        event: detected
        msg: "smoke run of {{ lookup('incident.response.incident_id') }} on {{ incident_catalog.names | join(',') }}"
    - name: Check a URL that does not answer (module_utils http_client)
      incident.response.http_check:
        checks: [{name: web, url: "http://127.0.0.1:9/never"}]
        timeout: 1
      register: smoke_http
      failed_when: smoke_http.healthy
    - name: Write the report
      incident.response.incident_report: {}
      register: postmortem_report
    - name: Publish the summary as the scenarios do
      ansible.builtin.import_tasks: "{{ playbook_dir }}/collections/ansible_collections/incident/response/playbooks/tasks/publish_summary.yml"
YAML

# Versions older than meta/runtime.yml's requires_ansible still run (to show when they could be supported again),
# but their failures are reported, not fatal: requires_ansible names the oldest version on which everything passes.
required=$(sed -n 's/^requires_ansible: *"*>= *\([0-9.]*\).*/\1/p' meta/runtime.yml)
supported() { [ "$(printf '%s\n%s\n' "$required" "$1" | sort -V | head -n 1)" = "$required" ]; }

status=0
start=$SECONDS
for entry in "${matrix[@]}"; do
  read -r core py <<<"$entry"
  [ $# -eq 0 ] || [[ " $* " == *" $core "* ]] || continue
  t0=$SECONDS
  if ! bin=$(venv_for "$core" "$py"); then status=1; continue; fi
  echo "== ansible-core $(core_of "$bin"), $("$bin/python" --version)$(supported "$core.0" || echo " (below requires_ansible >=$required: informational)")"
  fail() {
    if supported "$core.0"; then echo "   FAILED: ansible-core $core $1" >&2; status=1
    else echo "   failed (informational, below requires_ansible): ansible-core $core $1" >&2; fi
  }
  if [[ "$steps" == *" sanity "* && "$core" != "2.19" ]]; then
    (cd "$tree" && "$bin/ansible-test" sanity --venv --python "$py" --color no "${sanity_tests[@]}") >"$work/sanity-$core.log" 2>&1 \
      || { tail -n 40 "$work/sanity-$core.log" >&2; fail "sanity (${sanity_tests[*]})"; }
    echo "   sanity subset: $((SECONDS - t0))s"
  fi
  if [[ "$steps" == *" unit "* && "$core" != "2.19" ]]; then
    t1=$SECONDS
    # What the pytest-ansible plugin does in the repo's venv: import ansible before pytest puts tests/ (and its
    # ansible.py helper) on sys.path, and install the collection loader on ./collections.
    "$bin/python" -c 'import os, sys, ansible, pytest
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[os.path.abspath("collections")])._install()
sys.exit(pytest.main(sys.argv[1:]))' -p no:cacheprovider -q tests/unit/plugins \
      --ignore=tests/unit/plugins/action/test_triage_collect.py >"$work/unit-$core.log" 2>&1 \
      || { tail -n 40 "$work/unit-$core.log" >&2; fail "unit (tests/unit/plugins)"; }
    echo "   unit: $(tail -n 1 "$work/unit-$core.log") ($((SECONDS - t1))s)"
  fi
  if [[ "$steps" == *" smoke "* ]]; then
    t1=$SECONDS
    project="$work/project-$core"
    mkdir -p "$project"
    cp "$work/smoke.yml" "$project/"
    if (cd "$project" && env -u ANSIBLE_CONFIG "$bin/ansible-galaxy" collection install "$tarball" -p ./collections >/dev/null \
          && env -u ANSIBLE_CONFIG ANSIBLE_COLLECTIONS_PATH=./collections ANSIBLE_CALLBACKS_ENABLED=incident.response.timeline \
             INCIDENT_ROOT=./incidents ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default "$bin/ansible-playbook" -i localhost, \
             -e ansible_python_interpreter="$bin/python" smoke.yml) >"$work/smoke-$core.log" 2>&1 \
       && ls "$project"/incidents/INC-*/summary.json >/dev/null 2>&1 \
       && grep -q '"mttd_s"' "$project"/incidents/INC-*/summary.json; then
      echo "   installed-collection smoke: $((SECONDS - t1))s"
    else
      tail -n 40 "$work/smoke-$core.log" >&2
      fail "installed-collection smoke"
    fi
  fi
  if [[ "$steps" == *" triage "* ]]; then
    TRIAGE_COLLECT_ANSIBLE_BIN=$bin .venv/bin/pytest -p no:cacheprovider -q tests/unit/plugins/action/test_triage_collect.py \
      >"$work/triage-$core.log" 2>&1 || { tail -n 40 "$work/triage-$core.log" >&2; fail "triage_collect"; }
  fi
  echo "   ansible-core $core took $((SECONDS - t0))s"
done
echo "version matrix: $([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start))s"
exit $status
