"""Scale benchmark (prints figures, asserts nothing): k independent faults at once through the receiver.
Five one-service compose projects scale-1..scale-5 (tests/integration/scale_support.py: host network,
127.0.0.1:18301-18305, the lab's local image) are the service catalog of a temp inventory; a receiver of
its own (dispatch.max_concurrent 5, warm launcher) routes their ServiceDown alerts to api-down.yml. For k
in --ks, --rounds times (interleaved): SIGKILL the containers of k projects at once, post one ServiceDown
webhook per service, and measure kill -> all k healthy again, per incident webhook -> first task, ->
healthy and -> run end; every run must succeed and leave its timeline. Target (printed, not asserted):
five concurrent incidents' total <= 2x one incident's. Takes the lab lock (no lab test runs meanwhile).
With --scoped, each run's triage and verification are limited to its own service (route extra_vars):
what the catalog-wide ones cost when incidents run at once.
Usage: .venv/bin/python scripts/bench_scale.py [--rounds 2] [--ks 1,2,5] [--scoped]"""
import argparse
import fcntl
import os
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.integration.scale_support import ScaleLab  # noqa: E402  pylint: disable=wrong-import-position

N = 5
# The recommended product change, as route vars: triage and verify the alerted service only.
SCOPED = {
    "triage_services": "{{ incident_catalog.triage | selectattr('name', 'equalto', api_down_service) | list }}",
    "triage_groups": "{{ incident_catalog.groups | selectattr('id', 'in', triage_services | map(attribute='group')"
                     " | list) | list }}",
    "verify_http_checks": "{{ incident_catalog.health_checks | selectattr('name', 'equalto', api_down_service) | list }}",
    "verify_groups": "{{ triage_groups }}",
}


def cpu_jiffies():
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def background_cores(seconds=3):
    """CPUs kept busy by everything else (the lab, ...) while no incident runs."""
    before = cpu_jiffies()
    time.sleep(seconds)
    after = cpu_jiffies()
    return (after[0] - before[0]) / (after[1] - before[1]) * os.cpu_count()


def rounds(scale, ks, count, background):
    """{k: [round results]}; k services per round, rotating so every service takes its turn. Each result also
    has the machine's CPU seconds per incident from the kill until every run ended, the background taken off."""
    out = {k: [] for k in ks}
    for r in range(count):
        for k in ks:
            names = [scale.names[(r * k + i) % N] for i in range(k)]
            before, started = cpu_jiffies(), time.monotonic()
            res = scale.incident(names, "k%d-r%d" % (k, r + 1))
            busy = (cpu_jiffies()[0] - before[0]) / os.sysconf("SC_CLK_TCK")
            res["cpu_s_per_incident"] = (busy - background * (time.monotonic() - started)) / k
            out[k].append(res)
            print("k=%d round %d: %s -> all healthy in %.1f s" % (k, r + 1, ", ".join(names), res["kill_to_all_healthy_s"]),
                  flush=True)
    return out


def report(results, ks, background):
    med = statistics.median
    base = med(r["kill_to_all_healthy_s"] for r in results[ks[0]])
    head = ("k", "kill -> all healthy", "ratio to k=%d" % ks[0], "webhook -> 1st task", "webhook -> healthy",
            "webhook -> run end", "CPU s/incident", "runs ok", "timelines")
    print("\n%-3s %-24s %-12s %-20s %-20s %-20s %-14s %-8s %s" % head)
    for k in ks:
        totals = [r["kill_to_all_healthy_s"] for r in results[k]]
        incs = [i for r in results[k] for i in r["incidents"].values()]

        def spread(key, incs=incs):
            values = [i[key] for i in incs]
            return "%.2f (%.2f-%.2f)" % (med(values), min(values), max(values))
        print("%-3d %-24s %-12s %-20s %-20s %-20s %-14s %-8s %d/%d" % (
            k, "%.1f s (%.1f-%.1f)" % (med(totals), min(totals), max(totals)), "%.2fx" % (med(totals) / base),
            spread("webhook_to_first_task_s"), spread("webhook_to_healthy_s"), spread("webhook_to_run_end_s"),
            "%.1f" % med(r["cpu_s_per_incident"] for r in results[k]),
            "%d/%d" % (sum(i["status"] == "succeeded" for i in incs), len(incs)),
            sum(bool(i["timeline"]) for i in incs), len(incs)))
    print("(seconds: median (min-max) over the rounds, per incident over all incidents of the rounds; CPU s/incident:"
          " whole machine, kill -> every run ended, background taken off)")
    if N in results and ks[0] == 1:
        ratio = med(r["kill_to_all_healthy_s"] for r in results[N]) / base
        print("%d concurrent <= 2x one: %s (%.2fx)" % (N, "met" if ratio <= 2 else "not met", ratio))
    print("CPUs: %d; busy in the background (lab, ...): %.2f; load average (1 min) at the end: %.1f"
          % (os.cpu_count(), background, os.getloadavg()[0]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ks", default="1,2,5", help="comma-separated numbers of concurrent incidents (<= 5)")
    parser.add_argument("--scoped", action="store_true", help="triage and verify the alerted service only")
    args = parser.parse_args()
    ks = sorted(int(k) for k in args.ks.split(","))
    # SIGTERM unwinds like Ctrl-C, through the clean-up below
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        print("waiting for the lab lock...", flush=True)
        fcntl.flock(lock, fcntl.LOCK_EX)
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            scale = ScaleLab(tmp, N)
            try:
                started = time.monotonic()
                scale.up()
                scale.start_receiver(SCOPED if args.scoped else None)
                print("%d projects up, receiver ready in %.1f s%s"
                      % (N, time.monotonic() - started, "; scoped triage/verify" if args.scoped else ""), flush=True)
                background = background_cores()
                results = rounds(scale, ks, args.rounds, background)
            finally:
                scale.stop()
                scale.down()
    report(results, ks, background)
    return 0


if __name__ == "__main__":
    sys.exit(main())
