"""http_check benchmark (prints figures, asserts nothing): wall time of the real module for 1, 10
and 50 URLs, concurrent (default thread pool, 16) vs one at a time (concurrency=1), median of
several runs. `module ms` is the whole module process (Python start, argument parsing, requests);
`requests ms` is the module's own duration_ms.
  1. the lab's health endpoints repeated (holds the lab lock so no fault skews the figures);
  2. a local endpoint answering in 100 ms (what a remote health check costs), where the pool pays off."""
import fcntl
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import lab  # noqa: E402  pylint: disable=wrong-import-position
from tests.ansible import run_module  # noqa: E402  pylint: disable=wrong-import-position
from tests.local_servers import ScriptedHTTPServer  # noqa: E402  pylint: disable=wrong-import-position

RUNS = 5


def measure(urls, count, concurrency):
    checks = [dict(name="c%02d" % i, url=urls[i % len(urls)]) for i in range(count)]
    walls, inner, unhealthy = [], [], 0
    for _run in range(RUNS):
        start = time.monotonic()
        res = run_module("http_check", dict(checks=checks, concurrency=concurrency, timeout=5))
        walls.append((time.monotonic() - start) * 1000)
        inner.append(res["duration_ms"])
        unhealthy = max(unhealthy, len(res["unhealthy"]))
    return statistics.median(walls), statistics.median(inner), unhealthy


def table(title, urls, before_each=None):
    print("\n" + title)
    print("%5s  %-11s  %10s  %12s  %9s" % ("URLs", "mode", "module ms", "requests ms", "unhealthy"))
    for count in (1, 10, 50):
        for label, concurrency in (("concurrent", 16), ("sequential", 1)):
            if before_each:
                before_each(count)
            wall, inner, unhealthy = measure(urls, count, concurrency)
            print("%5d  %-11s  %10.0f  %12.1f  %9d" % (count, label, wall, inner, unhealthy))


def main():
    print("http_check: median of %d runs per row" % RUNS)
    lab_urls = [lab.url("api", "/health"), lab.url("nginx", "/nginx-health"), lab.url("nginx", "/health"),
                lab.url("prometheus", "/-/healthy"), lab.url("alertmanager", "/-/healthy"), lab.url("sink", "/healthz")]
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lab.lab("wait")
        table("lab health endpoints (6 distinct, repeated)", lab_urls)
    server = ScriptedHTTPServer()
    try:
        def arm(count):
            server.script["/slow"] = [(200, "ok", 0.1)] * (count * RUNS)
        table("local endpoint answering in 100 ms", [server.url + "/slow"], before_each=arm)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
