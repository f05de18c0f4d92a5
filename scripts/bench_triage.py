"""Benchmark triage: full triage wall time and per-check cost, how service_info grows from 5 to 50
containers, and the three ways of running the diagnostics (one fan-out task, async tasks, plain
tasks one after the other).

  .venv/bin/python scripts/bench_triage.py [--runs 3] [--sizes 5,10,25,50] [--fault api-hang] [--no-lock]

Takes the lab lock (the numbers mean nothing while someone injects faults). Throwaway containers
(label com.docker.compose.project=triage-bench, `sleep 600`) are removed at the end."""
import argparse
import contextlib
import fcntl
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "collections"))

from tests.ansible import run_module, run_playbook  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient  # noqa: E402

BENCH_PROJECT = "triage-bench"
IMAGE = "incident-lab/app:current"
LOCK = os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock")
CHECKS = ["service_info", "http_check", "postgres", "redis", "prometheus", "host_facts", "recent_changes"]

# The same diagnostics as the role, as separate tasks: async (all start, then wait) or plain.
TASKS_PLAYBOOK = """
- name: Triage with one task per diagnostic
  hosts: lab
  gather_facts: false
  vars_files:
    - {repo}/roles/triage/defaults/main.yml
    - {repo}/roles/triage/vars/main.yml
  pre_tasks:
    - name: The service catalog the diagnostics are built from
      ansible.builtin.include_role:
        name: catalog
  tasks:
{tasks}
    - name: Wait for the background ones
      ansible.builtin.async_status:
        jid: "{{{{ item.ansible_job_id }}}}"
      loop: "{{{{ [{regs}] | selectattr('ansible_job_id', 'defined') | list }}}}"
      register: waited
      until: waited.finished
      retries: 600
      delay: 0.1
"""
TASK = """    - name: Diagnostic {name}
      {module}: "{{{{ (triage__diagnostics | dict2items | selectattr('key', 'match', '{name}(@|$)') | first).value.args }}}}"
      register: r_{name}
      async: {async_s}
      poll: 0
"""


@contextlib.contextmanager
def lab_lock(enabled):
    if not enabled:
        yield
        return
    with open(LOCK, "w") as fh:
        print("waiting for the lab lock...", file=sys.stderr)
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def timed(fn, runs):
    samples = []
    for _run in range(runs):
        start = time.monotonic()
        out = fn()
        samples.append(time.monotonic() - start)
    return statistics.median(samples), out


def triage_playbook(extra=None):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "r.json")
        res = run_playbook("tests/integration/playbooks/triage.yml", dict(triage_report_file=path, triage_show=False, **(extra or {})))
        if res.returncode != 0:
            raise SystemExit("triage playbook failed: " + res.stdout[-2000:])
        with open(path) as fh:
            return json.load(fh)


def tasks_playbook(async_s):
    tasks = "".join(TASK.format(name=n, module="incident.response." + m, async_s=async_s) for n, m in [
        ("service_info", "service_info"), ("http_check", "http_check"), ("postgres", "postgres_diagnostics"),
        ("redis", "redis_diagnostics"), ("prometheus", "prometheus_query"), ("host_facts", "host_facts"),
        ("recent_changes", "recent_changes")])
    text = TASKS_PLAYBOOK.format(repo=REPO, tasks=tasks, regs=", ".join("r_" + n for n in CHECKS))
    fd, path = tempfile.mkstemp(suffix=".yml", dir=os.path.join(REPO, "tests", "integration", "playbooks"), prefix=".bench-")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    try:
        res = run_playbook(path)
        if res.returncode != 0:
            raise SystemExit("tasks playbook failed: " + res.stdout[-2000:])
    finally:
        os.unlink(path)


def module_costs(runs):
    """Each diagnostic alone, as a module process (what one check costs without Ansible's task overhead)."""
    costs = {}
    pg = dict(login_host="127.0.0.1", login_port=15432, login_user="orchestrator", login_password="lab-only-pg-password",
              login_db="orchestrator", unreachable_ok=True)
    calls = {
        "service_info": ("service_info", dict(project="incident-lab", unreachable_ok=True)),
        "service_info (no stats)": ("service_info", dict(project="incident-lab", stats=False, unreachable_ok=True)),
        "http_check": ("http_check", dict(checks=[dict(name="api", url="http://127.0.0.1:18000/health/ready"),
                                                  dict(name="nginx", url="http://127.0.0.1:18080/nginx-health")])),
        "postgres": ("postgres_diagnostics", pg),
        "redis": ("redis_diagnostics", dict(host="127.0.0.1", port=16379, unreachable_ok=True)),
        "prometheus": ("prometheus_query", dict(prometheus_url="http://127.0.0.1:19090",
                                                alertmanager_url="http://127.0.0.1:19093", unreachable_ok=True)),
        "host_facts": ("host_facts", dict(project="incident-lab", services=["api"])),
        "recent_changes": ("recent_changes", dict(project="incident-lab")),
    }
    for label, (module, args) in calls.items():
        costs[label] = timed(lambda m=module, a=args: run_module(m, a), runs)[0]
    return costs


def start_containers(client, first, last):
    for i in range(first, last):
        created = client.call("POST", "/containers/create", {"name": "triage-bench-%d" % i}, body={
            "Image": IMAGE, "Entrypoint": ["sleep"], "Cmd": ["600"],
            "Labels": {"com.docker.compose.project": BENCH_PROJECT, "com.docker.compose.service": "svc%d" % i},
            "HostConfig": {"NetworkMode": "host"}})
        client.action(created["Id"], "start")


def remove_containers(client):
    for c in client.containers(project=BENCH_PROJECT):
        client.call("DELETE", "/containers/%s" % c["Id"], {"force": "1"})


def scaling(sizes, runs):
    client = DockerClient()
    remove_containers(client)
    rows = []
    try:
        running = 0
        for size in sorted(sizes):
            start_containers(client, running, size)
            running = size
            row = [size]
            for args, times in ((dict(), runs), (dict(workers=1), 1)):  # sequential is slow: once is enough
                wall, res = timed(lambda a=args: run_module("service_info", dict(project=BENCH_PROJECT, **a)), times)
                assert len(res["services"]) == size, res.get("msg")
                row += [wall, res["elapsed_ms"] / 1000.0]
            res = timed(lambda: run_module("service_info", dict(project=BENCH_PROJECT, stats=False)), runs)[1]
            row.append(res["elapsed_ms"] / 1000.0)
            rows.append(row)
    finally:
        remove_containers(client)
    return rows


def table(title, header, rows):
    print("\n" + title)
    widths = [max(len(str(h)), 10) for h in header]
    print("  ".join(str(h).rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print("  ".join((("%.2f" % v) if isinstance(v, float) else str(v)).rjust(w) for v, w in zip(row, widths)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (the median is printed)")
    parser.add_argument("--sizes", default="5,10,25,50", help="container counts for the service_info scaling")
    parser.add_argument("--fault", default="api-hang", help="also compare under this lab fault ('' to skip)")
    parser.add_argument("--scaling-only", action="store_true", help="only the service_info scaling table")
    parser.add_argument("--no-lock", action="store_true", help="do not take the lab lock")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with lab_lock(not args.no_lock):
        if args.scaling_only:
            table("service_info vs container count (seconds, median): process wall / in-module fan-out time",
                  ["containers", "par wall", "par fanout", "seq wall", "seq fanout", "no stats"], scaling(sizes, args.runs))
            return 0
        print("load average before: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
        wall, report = timed(triage_playbook, args.runs)
        checks = report["check_ms"]
        table("Full triage of the lab (role, one fan-out task; median of %d)" % args.runs, ["what", "seconds"],
              [["ansible-playbook wall", wall], ["fan-out task", report["elapsed_ms"] / 1000.0]]
              + [["  " + k, v / 1000.0] for k, v in sorted(checks.items(), key=lambda kv: -kv[1])])
        print("verdict: %s (%s)" % (report["verdict"], report["summary"]))

        costs = module_costs(args.runs)
        table("Each diagnostic alone, as a module process (seconds, median)", ["check", "seconds"],
              [[k, v] for k, v in costs.items()])

        fan = timed(triage_playbook, args.runs)[0]
        asyn = timed(lambda: tasks_playbook(60), args.runs)[0]
        seq = timed(lambda: tasks_playbook(0), args.runs)[0]
        table("Whole playbook wall time by way of running the 7 diagnostics (seconds, median)", ["approach", "seconds"],
              [["fan-out task", fan], ["async tasks", asyn], ["plain tasks", seq]])

        if args.fault:
            faults = os.path.join(REPO, "lab", "faults.py")
            subprocess.run([faults, "inject", args.fault], check=True, capture_output=True)
            try:
                time.sleep(3)
                fan = timed(triage_playbook, args.runs)[0]
                seq = timed(lambda: tasks_playbook(0), args.runs)[0]
            finally:
                subprocess.run([faults, "reset", args.fault], check=True, capture_output=True)
                subprocess.run([os.path.join(REPO, "lab", "lab.sh"), "wait"], check=False, capture_output=True)
            table("The same with the fault %s injected (slow answers overlap in the fan-out)" % args.fault,
                  ["approach", "seconds"], [["fan-out task", fan], ["plain tasks", seq]])

        rows = scaling(sizes, args.runs)
        table("service_info vs container count (seconds, median): process wall / in-module fan-out time",
              ["containers", "par wall", "par fanout", "seq wall", "seq fanout", "no stats"], rows)
        print("\nload average after: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
