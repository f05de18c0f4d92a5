"""Benchmark: lab api restart-to-healthy through incident.response.service_restart vs the floor.

The floor, measured in the same run, is the least any tool can do: one raw Docker Engine API
`restart` call, then `inspect` every 100 ms until the healthcheck says healthy, over a bare
standard-library HTTP connection to the engine's unix socket (not the Docker SDK the modules use,
so the SDK's own cost shows in the ratio). Each round measures, in turn:
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
import socket
import statistics
import sys
import tempfile
import time
from http.client import HTTPConnection
from urllib.parse import quote, urlencode

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "collections")]

from ansible.module_utils import basic  # noqa: E402  pylint: disable=wrong-import-position
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

from ansible_collections.incident.response.plugins.modules import service_restart  # noqa: E402
from tests.ansible import run_module  # noqa: E402

PROJECT, SERVICE = "incident-lab", "api"


class RawEngine(object):
    """The floor's client: one HTTP/1.1 request per call on a new unix socket connection, nothing else."""

    def __init__(self, docker_host):
        if not docker_host.startswith("unix://"):
            raise SystemExit("bench_restart measures a local engine: DOCKER_HOST must be unix://, not %s" % docker_host)
        self.path = docker_host[len("unix://"):]
        self.version = "/v" + self.call("GET", "/version", versioned=False)["ApiVersion"]

    def call(self, method, path, query=None, timeout=30, versioned=True):
        conn = HTTPConnection("localhost", timeout=timeout)
        conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.sock.settimeout(timeout)
        conn.sock.connect(self.path)
        try:
            url = (self.version if versioned else "") + path + ("?" + urlencode(query) if query else "")
            conn.request(method, url, headers={"Host": "docker"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status >= 300:
                raise RuntimeError("%s %s: HTTP %d %s" % (method, path, resp.status, data[:200]))
            return json.loads(data) if data else None
        finally:
            conn.close()

    def containers(self, project, service):
        labels = ["com.docker.compose.project=%s" % project, "com.docker.compose.service=%s" % service]
        return self.call("GET", "/containers/json", {"all": "1", "filters": json.dumps({"label": labels})})

    def inspect(self, cid):
        return self.call("GET", "/containers/%s/json" % quote(cid))


def api_id(client):
    return client.containers(PROJECT, SERVICE)[0]["Id"]


def floor(client):
    """Raw restart, then inspect every 100 ms until healthy (after the new start)."""
    cid = api_id(client)
    began = time.monotonic()
    client.call("POST", "/containers/%s/restart" % cid, {"t": "10"}, timeout=60)
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
    client = RawEngine(os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")
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
