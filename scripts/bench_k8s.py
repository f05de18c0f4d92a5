"""Kubernetes ladder timings against lab/k8s_sim.py (a simulation: pods turn Ready 0.3 s after start,
so the figures are the modules' own overhead plus that delay, not a real cluster's). Prints a table."""
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from tests.ansible import run_module  # noqa: E402  pylint: disable=wrong-import-position

ROUNDS = 5


def main():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = "http://127.0.0.1:%d" % port
    sim = subprocess.Popen([sys.executable, os.path.join(REPO, "lab", "k8s_sim.py"), "--port", str(port),
                            "--seed", "prod/api=orchestrator/api:1.4.2*2"], stdout=subprocess.DEVNULL)
    state = tempfile.mkdtemp()
    args = dict(host=server, namespace="prod", name="api", state_dir=state, max_actions=0)
    try:
        time.sleep(1)
        rows = []
        for label, module, extra, crash in (("info (2 pods)", "k8s_workload_info", {}, False),
                                            ("pod delete -> available", "k8s_pod_delete", {}, True),
                                            ("rollout restart -> complete", "k8s_rollout_restart", {}, False),
                                            ("scale 2 -> 4 -> available", "k8s_scale", {"replicas": 4}, False)):
            times = []
            for _round in range(ROUNDS):
                if crash:
                    post(server + "/_sim/crash", {"namespace": "prod", "deployment": "api"})
                    time.sleep(0.2)
                if module == "k8s_scale":
                    run_module("k8s_scale", dict(args, replicas=2))
                margs = dict(args, **extra) if module != "k8s_workload_info" else dict(host=server, namespace="prod", names=["api"])
                start = time.monotonic()
                res = run_module(module, margs)
                times.append(time.monotonic() - start)
                assert not res.get("failed"), res
            rows.append((label, statistics.median(times), max(times)))
        print("%-32s %10s %10s" % ("k8s (simulated API)", "median s", "max s"))
        for label, med, worst in rows:
            print("%-32s %10.2f %10.2f" % (label, med, worst))
    finally:
        sim.kill()


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


if __name__ == "__main__":
    main()
