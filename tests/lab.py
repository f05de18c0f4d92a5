"""Helpers for tests that use the running lab (ports and credentials from lab/.env)."""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(REPO, "lab")


def lab_env():
    values = {}
    with open(os.path.join(LAB, ".env")) as fh:
        for line in fh:
            if "=" in line and not line.startswith("#"):
                key, _sep, value = line.strip().partition("=")
                values[key] = os.environ.get(key, value)
    return values


ENV = lab_env()
# The lab's nginx site files (inventory/lab.yml says the same to the playbooks).
NGINX_SITE = dict(site_link="/var/lib/lab/nginx/site.conf", live_config="/run/lab/nginx/live.conf",
                  maintenance_config="/run/lab/nginx/maintenance.conf", nginx_config="/run/lab/nginx/nginx.conf")


def url(service, path=""):
    return "http://127.0.0.1:%s%s" % (ENV["LAB_%s_PORT" % service.upper().replace("-", "_")], path)


def http(u, method="GET", body=None, timeout=3, headers=None):
    """(status, parsed JSON or text); status 0 with the error text when nothing answered."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(u, data=data, method=method, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc))
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(predicate, timeout=30, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))


def firing_alerts():
    status, body = http(url("prometheus", "/api/v1/alerts"))
    if status != 200:
        return {}
    return {a["labels"]["alertname"]: a for a in body["data"]["alerts"] if a["state"] == "firing"}


def container(service, index=0):
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=com.docker.compose.project=incident-lab",
                          "--filter", "label=com.docker.compose.service=" + service],
                         capture_output=True, text=True, check=True).stdout.split()
    return docker_inspect(ids[index]) if ids else None


def docker_inspect(cid):
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def faults(action, name):
    subprocess.run([os.path.join(LAB, "faults.py"), action, name], check=True, capture_output=True, text=True)


def lab(*args, timeout=600):
    return subprocess.run([os.path.join(LAB, "lab.sh")] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
