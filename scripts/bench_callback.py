#!/usr/bin/env python
"""Overhead of the incident.response.timeline callback on a generated 500-task playbook.

Runs the same playbook without the callback and with it in each sync mode, alternating, several
rounds, and prints median wall times and the overhead. Touches nothing in the lab (debug/set_fact
on the local host), so it takes no lab lock.

    .venv/bin/python scripts/bench_callback.py [--tasks 500] [--rounds 5]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")


def write_playbook(path, tasks):
    lines = ["---", "- name: Callback benchmark", "  hosts: lab", "  gather_facts: false", "  tasks:"]
    for i in range(tasks):
        if i % 2:
            lines += ["    - name: Set fact %d" % i, "      ansible.builtin.set_fact:", "        bench_value_%d: %d" % (i % 10, i)]
        else:
            lines += ["    - name: Debug %d" % i, "      ansible.builtin.debug:", "        msg: step %d" % i]
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")


def write_config(path, with_callback):
    """The repo's ansible.cfg with absolute paths; only callbacks_enabled differs between variants."""
    with open(os.path.join(REPO, "ansible.cfg")) as fh:
        text = fh.read().replace("= ./", "= %s/" % REPO)
    if not with_callback:
        text = "\n".join(l for l in text.splitlines() if not l.startswith("callbacks_enabled"))
    with open(path, "w") as fh:
        fh.write(text + "\n")


def run(playbook, config, env_extra):
    env = dict(os.environ, ANSIBLE_CONFIG=config, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""), **env_extra)
    env.pop("INCIDENT_ID", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    res = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), playbook], cwd=REPO, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        sys.exit("ansible-playbook failed: %s" % res.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-callback-") as tmp:
        playbook = os.path.join(tmp, "bench.yml")
        write_playbook(playbook, args.tasks)
        with_cfg, without_cfg = os.path.join(tmp, "with.cfg"), os.path.join(tmp, "without.cfg")
        write_config(with_cfg, True)
        write_config(without_cfg, False)
        root = os.path.join(tmp, "incidents")
        variants = [
            ("without callback", without_cfg, {}),
            ("timeline, sync=interval", with_cfg, {"INCIDENT_ROOT": root}),
            ("timeline, sync=event", with_cfg, {"INCIDENT_ROOT": root, "ANSIBLE_CALLBACK_TIMELINE_SYNC": "event"}),
            ("timeline, sync=none", with_cfg, {"INCIDENT_ROOT": root, "ANSIBLE_CALLBACK_TIMELINE_SYNC": "none"}),
        ]
        run(playbook, with_cfg, {"INCIDENT_ROOT": root})  # warm-up: page cache, bytecode
        times = dict((name, []) for name, _c, _e in variants)
        cpus = dict((name, []) for name, _c, _e in variants)
        for rnd in range(args.rounds):
            order = variants if rnd % 2 == 0 else list(reversed(variants))
            for name, cfg, env in order:
                wall, cpu = run(playbook, cfg, env)
                times[name].append(wall)
                cpus[name].append(cpu)
        lines, spent = 0, {}
        for name in sorted(d for d in os.listdir(root) if d.startswith("INC-")):
            with open(os.path.join(root, name, "timeline.jsonl")) as fh:
                events = [json.loads(line) for line in fh]
            lines += len(events)
            end = events[-1]
            spent.setdefault(end.get("sync", "?"), []).append((end["recorder_s"], end["duration_s"]))
    base = statistics.median(times["without callback"])
    base_cpu = statistics.median(cpus["without callback"])
    print("%d tasks, %d rounds (alternating); %d timeline lines written; load average %s"
          % (args.tasks, args.rounds, lines, " ".join("%.1f" % x for x in os.getloadavg())))
    print("%-26s %9s %7s %9s %9s %9s" % ("variant", "wall med", "min", "overhead", "cpu med", "overhead"))
    for name, _c, _e in variants:
        med, cpu = statistics.median(times[name]), statistics.median(cpus[name])
        wall_pct, cpu_pct = 100.0 * (med - base) / base, 100.0 * (cpu - base_cpu) / base_cpu
        print("%-26s %8.2fs %6.2fs %8.1f%% %8.2fs %8.1f%%" % (name, med, min(times[name]), wall_pct, cpu, cpu_pct))
    print("wall = elapsed time; cpu = user+sys of ansible-playbook and its workers (less sensitive to a busy host)")
    for mode, pairs in sorted(spent.items()):
        inside = statistics.median(s for s, _d in pairs)
        share = statistics.median(100.0 * s / d for s, d in pairs)
        print("time inside the callback, sync=%-8s median %.3fs per run = %.2f%% of the run (%.2f ms per task)"
              % (mode, inside, share, 1000.0 * inside / args.tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
