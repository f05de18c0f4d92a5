# Two commands for a newcomer:  `make demo` (P0 drill on the local lab)  and  `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY ?= python3
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test deps venv lab-up lab-down lab-status sanity lint pytest core-matrix unit integration bench clean changelog

demo: deps venv lab-up ## Break the lab's api, then let the P0 playbook heal it
	lab/faults.py inject api-kill
	$(BIN)/ansible-playbook playbooks/p0-outage.yml

test: deps venv lab-up sanity lint pytest core-matrix ## Everything CI runs

deps:
	@scripts/install-host-deps.sh

venv: $(BIN)/.installed
$(BIN)/.installed: requirements.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

lab-up: deps
	lab/lab.sh up

lab-down:
	lab/lab.sh down

lab-status:
	lab/lab.sh status

sanity: venv
	scripts/sanity.sh

lint: venv
	$(BIN)/ansible-lint --offline --profile production

pytest: venv
	$(BIN)/pytest -p no:cacheprovider tests/unit tests/integration tests/molecule

core-matrix: venv ## requires_ansible's versions 2.17-2.21: sanity subset, plugin unit tests, installed-collection smoke, triage_collect
	scripts/version_matrix.sh

# antsibull-changelog: lint the fragments, then write CHANGELOG.md as the notes of galaxy.yml's version, which is
# unreleased (changelogs/changelog.yaml has no release yet): `release` runs on a copy, so no fragment is consumed.
# At release time: `antsibull-changelog release` in the repository itself.
changelog: venv
	$(BIN)/antsibull-changelog lint
	@set -e; d=$$(mktemp -d); trap 'rm -rf "$$d"' EXIT; c=$$d/ansible_collections/incident/response; mkdir -p $$c; \
	  cp -r galaxy.yml meta plugins changelogs $$c/; v=$$(sed -n 's/^version: *//p' galaxy.yml); \
	  (cd $$c && $(CURDIR)/$(BIN)/antsibull-changelog release --version $$v); \
	  sed "s/^## v$${v//./\\\\.}$$/& (unreleased)/" $$c/CHANGELOG.md > CHANGELOG.md; echo "CHANGELOG.md: v$$v (unreleased)"

unit: venv
	$(BIN)/pytest -p no:cacheprovider tests/unit

integration: venv lab-up
	$(BIN)/pytest -p no:cacheprovider tests/integration

BENCHES ?= $(sort $(wildcard scripts/bench_*.py))
bench: deps venv lab-up ## Every benchmark, printing its figures (BENCHES="scripts/bench_restart.py" for one)
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b $(BENCH_ARGS) || exit 1; done

clean: lab-down
	rm -rf incidents tests/output
