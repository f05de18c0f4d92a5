# Two commands for a newcomer:  `make demo` (P0 drill on the local lab)  and  `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
PY ?= python3
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: demo test deps venv lab-up lab-down lab-status sanity lint pytest core-matrix unit integration bench clean

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

core-matrix: venv ## triage_collect (the one plugin on ActionBase internals) on ansible-core 2.19, 2.20, 2.21
	scripts/triage_collect_matrix.sh

unit: venv
	$(BIN)/pytest -p no:cacheprovider tests/unit

integration: venv lab-up
	$(BIN)/pytest -p no:cacheprovider tests/integration

BENCHES ?= $(sort $(wildcard scripts/bench_*.py))
bench: deps venv lab-up ## Every benchmark, printing its figures (BENCHES="scripts/bench_restart.py" for one)
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python $$b $(BENCH_ARGS) || exit 1; done

clean: lab-down
	rm -rf incidents tests/output
