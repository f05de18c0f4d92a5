"""Benchmark: lab api restart-to-healthy through incident.response.service_restart vs the floor.

The floor, measured in the same run, is the least any tool can do: one raw Docker Engine API
`restart` call, then `inspect` every 100 ms until the healthcheck says healthy. Each round
measures, in turn:
  floor       raw API restart + 100 ms health polling
  in-process  the module's main() imported and run in this process (its whole code path:
              lookup, lock, rate limit, image record, stop/start, wait)
  run_module  the module file run as Ansible runs it locally (a new Python process)
and prints median / p90 per variant and the ratio to the floor. Holds the lab lock.

  .venv/bin/python scripts/bench_restart.py [--rounds 5]"""
import argparse
import contextlib
import fcntl
import io
import json
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "collections")]

from ansible.module_utils import basic  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient  # noqa: E402
from ansible_collections.incident.response.plugins.modules import service_restart  # noqa: E402
from tests.ansible import run_module  # noqa: E402

PROJECT, SERVICE = "incident-lab", "api"


def api_id(client):
    return client.containers(project=PROJECT, service=SERVICE)[0]["Id"]


def floor(client):
    """Raw restart, then inspect every 100 ms until healthy (after the new start)."""
    cid = api_id(client)
    began = time.monotonic()
    client.action(cid, "restart", {"t": "10"}, timeout=60)
    while True:
        tick = time.monotonic()
        state = client.inspect(cid)["State"]
        if state.get("Running") and (state.get("Health") or {}).get("Status") == "healthy":
            return time.monotonic() - began
        time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))


def in_process(args):
    """service_restart.main() in this process, as the module would run (minus interpreter start)."""
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))  # pylint: disable=protected-access
    basic._ANSIBLE_PROFILE = "legacy"  # pylint: disable=protected-access
    out = io.StringIO()
    began = time.monotonic()
    with contextlib.redirect_stdout(out):
        try:
            service_restart.main()
        except SystemExit:
            pass
    elapsed = time.monotonic() - began
    result = json.loads(out.getvalue())
    assert result.get("healthy") and not result.get("failed"), result
    return elapsed


def subprocess_run(args):
    began = time.monotonic()
    result = run_module("service_restart", args)
    elapsed = time.monotonic() - began
    assert result.get("healthy") and not result.get("failed"), result
    return elapsed


def p90(values):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    client = DockerClient()
    state_dir = tempfile.mkdtemp(prefix="bench-restart-")
    args = dict(project=PROJECT, service=SERVICE, state_dir=state_dir, max_restarts=0, stop_timeout=10)
    times = {"floor": [], "in-process": [], "run_module": []}
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for _round in range(opts.rounds):
            times["floor"].append(floor(client))
            times["in-process"].append(in_process(args))
            times["run_module"].append(subprocess_run(args))
    base = statistics.median(times["floor"])
    print("api restart-to-healthy, %d rounds (stop timeout 10 s, healthcheck interval 2 s)" % opts.rounds)
    print("%-12s %9s %9s %9s %9s" % ("variant", "median_s", "p90_s", "min_s", "ratio"))
    for name, values in times.items():
        med = statistics.median(values)
        print("%-12s %9.3f %9.3f %9.3f %8.2fx" % (name, med, p90(values), min(values), med / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
