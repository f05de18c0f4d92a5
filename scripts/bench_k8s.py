"""Kubernetes module timings against lab/k8s_sim.py over TLS (tests.k8s_support; a simulation: pods turn Ready
0.2 s after start, so the figures are the modules' own overhead, watch latency included, plus that delay, not a
real cluster's). Prints a table."""
import os
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from tests.ansible import run_module  # noqa: E402  pylint: disable=wrong-import-position
from tests.k8s_support import start_sim  # noqa: E402  pylint: disable=wrong-import-position

ROUNDS = 5


def main():
    tmp = tempfile.mkdtemp(prefix="bench-k8s-")
    sim = start_sim(tmp, seeds=["prod/api=orchestrator/api:1.4.2*2"])
    args = dict(kubeconfig=sim.kubeconfig, name="api", state_dir=os.path.join(tmp, "state"), max_actions=0)
    try:
        sim.wait_available("api", 2)
        rows = []
        cases = (("info (2 pods)", "k8s_workload_info", {}, None),
                 ("pod delete -> available", "k8s_pod_delete", {"only_unready": False, "grace_period": 1}, None),
                 ("rollout restart -> complete", "k8s_rollout_restart", {}, None),
                 ("scale 2 -> 4 -> available", "k8s_scale", {"replicas": 4}, 2),
                 ("rollback -> complete", "k8s_rollback", {}, None))
        for label, module, extra, reset in cases:
            times = []
            for _round in range(ROUNDS):
                if reset:
                    run_module("k8s_scale", dict(args, replicas=reset))
                margs = dict(args, **extra) if module != "k8s_workload_info" else dict(kubeconfig=sim.kubeconfig, names=["api"])
                start = time.monotonic()
                res = run_module(module, margs)
                times.append(time.monotonic() - start)
                assert not res.get("failed"), res
            rows.append((label, statistics.median(times), max(times)))
        print("%-32s %10s %10s" % ("k8s (simulated API, TLS)", "median s", "max s"))
        for label, med, worst in rows:
            print("%-32s %10.2f %10.2f" % (label, med, worst))
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
