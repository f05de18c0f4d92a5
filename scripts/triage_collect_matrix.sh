#!/usr/bin/env bash
# The triage_collect step of the version matrix alone (the incident.response.triage_collect action plugin,
# the one plugin on ActionBase internals, on every ansible-core of the matrix). scripts/version_matrix.sh is
# the one mechanism; `make core-matrix` runs all of its steps.
#   scripts/triage_collect_matrix.sh           # every version
#   scripts/triage_collect_matrix.sh 2.21      # one version
set -euo pipefail
VERSION_MATRIX_STEPS=triage exec "$(dirname "$0")/version_matrix.sh" "$@"
