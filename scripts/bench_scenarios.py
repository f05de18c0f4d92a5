"""Time each scenario playbook from fault to healthy-and-reported on the lab.

For every scenario: inject the lab fault, run the playbook (real ansible-playbook, private incident
root and guard-rail state), and report the wall time of the run, the time-to-mitigate and
time-to-resolve from the incident's summary.json, and a second run on the healed lab (the no-op
gate). Holds the lab lock while it runs and resets every fault it injects."""
import fcntl
import json
import glob
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import lab  # noqa: E402  pylint: disable=wrong-import-position
from tests.ansible import run_playbook  # noqa: E402  pylint: disable=wrong-import-position

# (playbook, fault, extra vars)
SCENARIOS = [
    ("database-down.yml", "db-stop", {}),
    ("no-active-workers.yml", "workers-stop", {}),
    ("p1-saga-failures.yml", "stuck-sagas", {}),
    ("p2-db-performance.yml", "long-query", {"remediate_performance_terminate_after_minutes": 0.05}),
    ("redis-memory.yml", "redis-full", {}),
]


def summary(root):
    for path in glob.glob(os.path.join(root, "INC-*", "summary.json")):
        with open(path) as fh:
            return json.load(fh)
    return {}


def bench_one(playbook, fault, extra):
    root = tempfile.mkdtemp(prefix="bench-scenarios-")
    env = {"INCIDENT_ROOT": os.path.join(root, "incidents"), "INCIDENT_STATE_DIR": os.path.join(root, "state")}
    lab.faults("inject", fault)
    try:
        if fault == "long-query":
            time.sleep(4)  # let the queries age past the 3 s threshold
        start = time.monotonic()
        res = run_playbook("playbooks/" + playbook, extra_vars=extra, env=env, timeout=300)
        run_s = time.monotonic() - start
        metrics = summary(env["INCIDENT_ROOT"]).get("metrics", {})
        start = time.monotonic()
        noop = run_playbook("playbooks/" + playbook, extra_vars=extra, env=env, timeout=300)
        noop_s = time.monotonic() - start
    finally:
        lab.faults("reset", fault)
        if fault == "redis-full":
            subprocess.run(["docker", "exec", lab.container("redis")["Id"], "redis-cli", "-h", "127.0.0.1", "-p",
                            lab.ENV["LAB_REDIS_PORT"], "config", "set", "maxmemory", lab.ENV["LAB_REDIS_MAXMEMORY"]],
                           check=True, capture_output=True)
    return dict(ok=res.returncode == 0 and noop.returncode == 0, run_s=run_s, noop_s=noop_s,
                mttm_s=metrics.get("mttm_s"), mttr_s=metrics.get("mttr_s"))


def main():
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([os.path.join(lab.LAB, "lab.sh"), "wait"], check=True, capture_output=True)
        print("%-24s %-13s %4s %8s %8s %8s %8s" % ("playbook", "fault", "ok", "run s", "mttm s", "mttr s", "no-op s"))
        for playbook, fault, extra in SCENARIOS:
            r = bench_one(playbook, fault, extra)
            row = (playbook, fault, "yes" if r["ok"] else "NO", r["run_s"], r["mttm_s"], r["mttr_s"], r["noop_s"])
            print("%-24s %-13s %4s %8.1f %8s %8s %8.1f" % row)
            subprocess.run([os.path.join(lab.LAB, "lab.sh"), "wait"], check=True, capture_output=True)


if __name__ == "__main__":
    main()
