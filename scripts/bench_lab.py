"""Lab benchmark (prints figures, asserts nothing):
  1. `lab.sh up` from a cold cache: no images, no cached rootfs (debootstrap + import + build + start);
  2. `lab.sh up` again after `down` (images cached);
  3. fault -> alert: API killed -> Prometheus alert firing -> Alertmanager webhook at the sink.
Run with `make bench` (warm only); pass --cold to also rebuild from an empty cache (slow: debootstrap).
Holds the lab lock while it runs."""
import fcntl
import glob
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests import lab  # noqa: E402  pylint: disable=wrong-import-position


def timed(*argv):
    start = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    return time.monotonic() - start


def main():
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        bench()


def bench():
    sh = os.path.join(lab.LAB, "lab.sh")
    if "--cold" in sys.argv:
        timed(sh, "down")
        images = subprocess.run(["docker", "images", "-q", "--filter", "reference=incident-lab/*"],
                                capture_output=True, text=True, check=True).stdout.split()
        if images:
            subprocess.run(["docker", "rmi", "-f"] + sorted(set(images)), check=True, capture_output=True)
        cache = os.environ.get("LAB_CACHE_DIR", os.path.expanduser("~/.cache/incident-lab"))
        for tarball in glob.glob(os.path.join(cache, "rootfs-*.tar")):
            os.unlink(tarball)
        print("lab-up, cold cache (debootstrap + import + build + start + healthy): %.1f s" % timed(sh, "up"))
    timed(sh, "down")
    print("lab-up, images cached (start + healthy):                             %.1f s" % timed(sh, "up"))

    lab.http(lab.url("sink", "/_sink/requests"), "DELETE")
    lab.wait_for(lambda: not lab.firing_alerts(), timeout=60, what="no alert firing")
    start = time.monotonic()
    lab.faults("inject", "api-kill")
    lab.wait_for(lambda: "TaskSchedulerAPIDown" in lab.firing_alerts(), timeout=60, interval=0.1, what="alert")
    firing = time.monotonic() - start

    def webhook_received():
        return [r for r in lab.http(lab.url("sink", "/_sink/requests?path=/alertmanager"))[1]
                if any(a["labels"]["alertname"] == "TaskSchedulerAPIDown" for a in r["body"]["alerts"])]
    lab.wait_for(webhook_received, timeout=60, interval=0.1, what="webhook")
    delivered = time.monotonic() - start
    lab.faults("reset", "api-kill")
    print("api killed -> TaskSchedulerAPIDown firing in Prometheus:              %.1f s" % firing)
    print("api killed -> Alertmanager webhook received by the sink:               %.1f s" % delivered)
    lab.wait_for(lambda: subprocess.run([sh, "wait"], capture_output=True, check=False).returncode == 0, timeout=120)


if __name__ == "__main__":
    main()
