"""Scale benchmark (prints figures, asserts nothing): k independent faults at once through the receiver.
Five one-service compose projects scale-1..scale-5 (tests/integration/scale_support.py: host network,
127.0.0.1:18301-18305, the lab's local image) are the service catalog of a temp inventory; a receiver of
its own (dispatch.max_concurrent 5, warm launcher) routes their ServiceDown alerts to api-down.yml. For k
in --ks, --rounds times (interleaved): SIGKILL the containers of k projects at once, post one ServiceDown
webhook per service, and measure kill -> all k healthy again, per incident webhook -> first task, ->
healthy and -> run end; every run must succeed and leave its timeline. Target (printed, not asserted):
five concurrent incidents' total <= 2x one incident's. Takes the lab lock (no lab test runs meanwhile).
Each run triages and verifies its own part of the catalog only (api-down.yml's catalog_scope).
Usage: .venv/bin/python scripts/bench_scale.py [--rounds 2] [--ks 1,2,5]"""
import argparse
import fcntl
import os
import re
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.integration.scale_support import ScaleLab, read  # noqa: E402  pylint: disable=wrong-import-position

N = 5


def cpu_jiffies():
    """(busy, total) clock ticks of all CPUs since boot (/proc/stat)."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def response_cpu(scale):
    """CPU seconds of the receiver and its warm zygote, with the reaped children of each: every run the
    zygote forked and all they ran (ansible-playbook, its workers, the modules, the compose CLI)."""
    zygotes = re.findall(r"zygote (\d+) ready", read(os.path.join(scale.tmp, "state", "warm.log")))
    total = 0.0
    for pid in [scale.rcv.proc.pid] + [int(z) for z in zygotes[-1:]]:       # the live zygote
        fields = read("/proc/%d/stat" % pid).rsplit(")", 1)[-1].split()
        total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")     # utime stime cutime cstime
    return total


def rounds(scale, ks, count):
    """{k: [round results]}; k services per round, rotating so every service takes its turn. Each result also
    has the response's CPU seconds per incident and how busy the machine's CPUs were (kill -> every run ended)."""
    out = {k: [] for k in ks}
    for r in range(count):
        for k in ks:
            names = [scale.names[(r * k + i) % N] for i in range(k)]
            cpu, jiffies = response_cpu(scale), cpu_jiffies()
            res = scale.incident(names, "k%d-r%d" % (k, r + 1))
            busy = cpu_jiffies()
            time.sleep(1.5)           # the zygote reaps ended runs each second: their CPU is then counted
            res["cpu_s_per_incident"] = (response_cpu(scale) - cpu) / k
            res["machine_busy"] = (busy[0] - jiffies[0]) / (busy[1] - jiffies[1])
            out[k].append(res)
            print("k=%d round %d: %s -> all healthy in %.1f s" % (k, r + 1, ", ".join(names), res["kill_to_all_healthy_s"]),
                  flush=True)
    return out


def report(results, ks):
    med = statistics.median
    base = med(r["kill_to_all_healthy_s"] for r in results[ks[0]])
    head = ("k", "kill -> all healthy", "ratio to k=%d" % ks[0], "webhook -> 1st task", "webhook -> healthy",
            "webhook -> run end", "CPU s/incident", "CPUs busy", "runs ok", "timelines")
    print("\n%-3s %-22s %-12s %-20s %-20s %-20s %-14s %-9s %-7s %s" % head)
    for k in ks:
        totals = [r["kill_to_all_healthy_s"] for r in results[k]]
        incs = [i for r in results[k] for i in r["incidents"].values()]

        def spread(key, incs=incs):
            values = [i[key] for i in incs]
            return "%.2f (%.2f-%.2f)" % (med(values), min(values), max(values))
        print("%-3d %-22s %-12s %-20s %-20s %-20s %-14s %-9s %-7s %d/%d" % (
            k, "%.1f s (%.1f-%.1f)" % (med(totals), min(totals), max(totals)), "%.2fx" % (med(totals) / base),
            spread("webhook_to_first_task_s"), spread("webhook_to_healthy_s"), spread("webhook_to_run_end_s"),
            "%.1f" % med(r["cpu_s_per_incident"] for r in results[k]),
            "%.0f%%" % (100 * med(r["machine_busy"] for r in results[k])),
            "%d/%d" % (sum(i["status"] == "succeeded" for i in incs), len(incs)),
            sum(bool(i["timeline"]) for i in incs), len(incs)))
    print("(seconds, median (min-max): totals over the rounds, per incident over every incident of them. CPU s/incident:"
          " receiver + runs; CPUs busy: the whole machine; both from the kill until every run ended)")
    if N in results and ks[0] == 1:
        ratio = med(r["kill_to_all_healthy_s"] for r in results[N]) / base
        print("%d concurrent <= 2x one: %s (%.2fx)" % (N, "met" if ratio <= 2 else "not met", ratio))
    print("CPUs: %d; load average (1 min) at the end: %.1f" % (os.cpu_count(), os.getloadavg()[0]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ks", default="1,2,5", help="comma-separated numbers of concurrent incidents (<= 5)")
    args = parser.parse_args()
    ks = sorted(int(k) for k in args.ks.split(","))
    results = {}
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
                scale.start_receiver()
                print("%d projects up, receiver ready in %.1f s" % (N, time.monotonic() - started), flush=True)
                results = rounds(scale, ks, args.rounds)
            finally:
                scale.stop()
                scale.down()
    report(results, ks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
