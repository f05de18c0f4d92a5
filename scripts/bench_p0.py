"""Benchmark the product path: API killed -> playbooks/p0-outage.yml -> healthy and reported.

For each run: kill the api (lab/faults.py inject api-kill), start the playbook at once, and measure
  fault->healthy    when /health/ready answers 200 again (polled every 50 ms from here),
  fault->reported   when the resolution notice reached the webhook sink,
  playbook          the whole ansible-playbook run (report written),
  restart           the restart itself (service_restart's phases.total_s),
  overhead          playbook - restart: every other phase (triage, declare, evidence, maintenance
                    page on/off, verify, notices, report) plus ansible-playbook's own start-up.
and the critical path from the timeline, in seconds from the ansible-playbook start:
  start-up          until the first task started (Python, Ansible, inventory, callbacks),
  triage            the triage role,
  decision          from triage to the first restart (end-if-healthy gate, declaration),
  action            the first restart task (service_restart, wait for health included),
  verify            the verify role (every component healthy).
--variant LABEL=ARGS adds runs with other ansible-playbook arguments, interleaved with the plain ones
(same machine state, one run of each in turn), each variant reported apart.
Holds the lab lock; leaves the lab healthy. Usage: .venv/bin/python scripts/bench_p0.py [-n RUNS] [--variant LABEL=ARGS]"""
import argparse
import datetime
import fcntl
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCK = os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock")
API = "http://127.0.0.1:18000/health/ready"
SINK = "http://127.0.0.1:19099/_sink/requests"
TARGET_S = 15.0


def get(url, method="GET"):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=2) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, OSError):
        return 0, b""


def watch(started, marks, stop):
    """Record when the api answers again and when the resolution notice arrives."""
    while not stop.is_set():
        now = time.monotonic() - started
        if "healthy" not in marks and get(API)[0] == 200:
            marks["healthy"] = now
        if "reported" not in marks:
            status, body = get(SINK + "?path=/pagerduty")
            if status == 200 and any((r.get("body") or {}).get("event_action") == "resolve" for r in json.loads(body)):
                marks["reported"] = now
        time.sleep(0.05)


def restart_seconds(incident_root):
    """service_restart's own total_s, from the run's timeline (the api restart task)."""
    for root, _dirs, files in os.walk(incident_root):
        if "timeline.jsonl" in files:
            with open(os.path.join(root, "timeline.jsonl")) as fh:
                for line in fh:
                    event = json.loads(line)
                    if event.get("type") == "milestone" and event.get("event") == "mitigated":
                        message = event.get("message", "")
                        if "healthy in " in message:
                            return float(message.split("healthy in ")[1].split()[0])
    return None


def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def critical_path(incident_root, spawned):
    """start-up, triage, decision, action and verify seconds of the run, from its timeline."""
    for root, _dirs, files in os.walk(incident_root):
        if "timeline.jsonl" in files:
            with open(os.path.join(root, "timeline.jsonl")) as fh:
                tasks = [e for e in map(json.loads, fh) if e.get("type") == "task"]
            triage = [e for e in tasks if e.get("role") == "triage"]
            restart = [e for e in tasks if e.get("action") == "incident.response.service_restart"]
            verify = [e for e in tasks if e.get("role") == "verify"]
            if not (tasks and triage and restart and verify):
                return None
            return dict(startup=stamp(tasks[0]["start"]) - spawned,
                        triage=stamp(triage[-1]["end"]) - stamp(triage[0]["start"]),
                        decision=stamp(restart[0]["start"]) - stamp(triage[-1]["end"]),
                        action=stamp(restart[0]["end"]) - stamp(restart[0]["start"]),
                        verify=stamp(verify[-1]["end"]) - stamp(verify[0]["start"]))
    return None


def one_run(env, extra_args=()):
    get(SINK, method="DELETE")
    subprocess.run([os.path.join(REPO, "lab", "faults.py"), "inject", "api-kill"], check=True, capture_output=True)
    started = time.monotonic()
    marks, stop = {}, threading.Event()
    watcher = threading.Thread(target=watch, args=(started, marks, stop), daemon=True)
    watcher.start()
    spawned = time.time()
    res = subprocess.run([os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "playbooks/p0-outage.yml", *extra_args],
                         cwd=REPO, env=env, capture_output=True, text=True, check=False)
    total = time.monotonic() - started
    deadline = time.monotonic() + 5
    while "reported" not in marks and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    watcher.join()
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-3000:])
        raise SystemExit("p0-outage failed (rc %d)" % res.returncode)
    return dict(healthy=marks.get("healthy"), reported=marks.get("reported"), playbook=total,
                restart=restart_seconds(env["INCIDENT_ROOT"]), path=critical_path(env["INCIDENT_ROOT"], spawned))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="LABEL=ARGS",
                        help="also run ansible-playbook with these arguments, interleaved run by run with the "
                             "plain playbook (e.g. 'runbook=-e p0_outage_order=runbook'); repeatable")
    args = parser.parse_args()
    variants = [("default", [])] + [(v.partition("=")[0], shlex.split(v.partition("=")[2])) for v in args.variant]
    rows = dict((label, []) for label, _extra in variants)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            for _run in range(args.runs):
                for label, extra in variants:
                    with tempfile.TemporaryDirectory() as tmp:
                        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), NO_COLOR="1",
                                   INCIDENT_ROOT=os.path.join(tmp, "incidents"), INCIDENT_STATE_DIR=os.path.join(tmp, "state"))
                        rows[label].append(one_run(env, extra))
        finally:
            subprocess.run([os.path.join(REPO, "lab", "faults.py"), "reset", "api-kill"], capture_output=True, check=False)
            subprocess.run([os.path.join(REPO, "lab", "lab.sh"), "wait"], capture_output=True, check=False)
    for label, extra in variants:
        if len(variants) > 1:
            print("\n== %s%s" % (label, (": " + " ".join(extra)) if extra else ""))
        report(rows[label])


def report(rows):
    def fmt(value):
        return "%8.2f" % value if value is not None else "       -"

    print("p0-outage on the lab, API killed (SIGKILL); seconds from the kill")
    print("%-4s %8s %8s %8s %8s %8s" % ("run", "healthy", "reported", "playbook", "restart", "overhead"))
    for i, r in enumerate(rows, 1):
        overhead = r["playbook"] - r["restart"] if r["restart"] is not None else None
        print("%-4d %s %s %s %s %s" % (i, fmt(r["healthy"]), fmt(r["reported"]), fmt(r["playbook"]), fmt(r["restart"]), fmt(overhead)))
    paths = [r["path"] for r in rows if r["path"]]
    if paths:
        print("critical path, median seconds: " + ", ".join(
            "%s %.2f" % (k, statistics.median(p[k] for p in paths)) for k in ("startup", "triage", "decision", "action", "verify")))
    healthy = [r["healthy"] for r in rows if r["healthy"] is not None]
    if healthy:
        print("median ansible-playbook start -> api healthy %.2f s (target <= 3 s)" % statistics.median(healthy))
    reported = [r["reported"] for r in rows if r["reported"] is not None]
    if reported:
        med = statistics.median(reported)
        print("median fault->healthy+reported %.2f s (target < %.0f s): %s"
              % (med, TARGET_S, "met" if med < TARGET_S else "NOT met"))


if __name__ == "__main__":
    main()
