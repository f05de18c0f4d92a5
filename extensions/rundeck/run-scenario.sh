#!/usr/bin/env bash
# Rundeck command step: run one incident.response scenario playbook from this checkout.
# The job's options arrive as RD_OPTION_* environment variables; extravars.py turns the ones the
# scenario declares into a 0600 vars file (strings tagged !unsafe), so option text is never part of
# a shell line nor rendered as Jinja. RD_OPTION_CHECK=true runs in check mode.
#
#   run-scenario.sh p0-outage.yml [extra ansible-playbook arguments from the job definition]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=${INCIDENT_RESPONSE_HOME:-$(cd "$here/../.." && pwd)}
bin=${INCIDENT_ANSIBLE_BIN:-$repo/.venv/bin}
[ -x "$bin/ansible-playbook" ] || bin=$(dirname "$(command -v ansible-playbook)")
python=$bin/python
[ -x "$python" ] || python=python3

scenario=${1:?usage: run-scenario.sh <scenario playbook> [ansible-playbook arguments]}
shift

vars=$(mktemp "${TMPDIR:-/tmp}/incident-rundeck-XXXXXX.yml")
trap 'rm -f "$vars"' EXIT
"$python" "$here/extravars.py" "$scenario" >"$vars"

mode=()
if [ "${RD_OPTION_CHECK:-false}" = true ]; then
    mode=(--check --diff)
fi

echo "incident.response: $scenario (Rundeck execution ${RD_JOB_EXECID:-none}, user ${RD_JOB_USERNAME:-unknown})" >&2
cd "$repo"
export ANSIBLE_CONFIG="$repo/ansible.cfg" ANSIBLE_FORCE_COLOR=0 PYTHONUNBUFFERED=1
"$bin/ansible-playbook" "playbooks/$scenario" -e "@$vars" "${mode[@]}" "$@"
