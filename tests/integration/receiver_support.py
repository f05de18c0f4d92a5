"""Helpers for the receiver's tests and benchmark: write a config, run the real `incident-receiver`
as a subprocess, post Alertmanager / generic payloads to it."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import yaml

from tests.ansible import run_module

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")
BIN = os.path.join(os.path.dirname(sys.executable), "incident-receiver")
TOKEN = "test-receiver-token"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(tmp, routes, port=None, **overrides):
    """receiver.yml + routes.yml under tmp (state, incidents and runs there too); returns the config path."""
    tmp = str(tmp)
    with open(os.path.join(tmp, "routes.yml"), "w") as fh:
        yaml.safe_dump(routes, fh)
    cfg = {"listen": {"host": "127.0.0.1", "port": port or free_port()}, "repo": REPO,
           "playbooks_dir": TEST_PLAYBOOKS, "inventory": os.path.join(REPO, "inventory", "lab.yml"),
           "incidents_dir": os.path.join(tmp, "incidents"), "state_dir": os.path.join(tmp, "state"),
           "routes": "routes.yml", "auth": {"token": TOKEN, "token_env": "NO_SUCH_ENV_VAR"},
           "dispatch": {"backend": "local", "max_concurrent": 2, "poll_s": 0.05}}
    for key, value in overrides.items():
        cfg[key] = dict(cfg[key], **value) if isinstance(cfg.get(key), dict) else value
    path = os.path.join(tmp, "receiver.yml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    return path


class ReceiverProcess:
    def __init__(self, config, env=None):
        self.config = config
        self.env = dict(os.environ, **(env or {}))
        with open(config) as fh:
            doc = yaml.safe_load(fh)
        self.port = doc["listen"]["port"]
        self.token = doc["auth"].get("token")
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = config + ".log"
        self.proc = None

    def start(self, timeout=20):
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([BIN, "--config", self.config], stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=self.env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("receiver exited %s: %s" % (self.proc.returncode, self.read_log()))
            if request(self.base + "/healthz")[0] == 200:
                return self
            time.sleep(0.1)
        raise AssertionError("receiver did not answer /healthz in %ss: %s" % (timeout, self.read_log()))

    def kill9(self):
        """SIGKILL the receiver only (its playbook children live in the same session; they are left)."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def read_log(self):
        with open(self.log) as fh:
            return fh.read()[-4000:]

    def post(self, path, body, token=True, headers=None):
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + (self.token if token is True else token)
        return request(self.base + path, "POST", body, hdrs)

    def get(self, path):
        return request(self.base + path, headers={"Authorization": "Bearer " + self.token})

    def runs(self):
        return self.get("/runs?limit=1000")[1]["runs"]

    def wait_runs(self, predicate, timeout=60, what="runs"):
        deadline = time.monotonic() + timeout
        runs = None
        while time.monotonic() < deadline:
            runs = self.runs()
            if predicate(runs):
                return runs
            time.sleep(0.2)
        raise AssertionError("timed out waiting for %s: %s\n%s" % (what, runs, self.read_log()))


def request(url, method="GET", body=None, headers=None, timeout=10):
    """(status, parsed JSON or text); body: dict/list (JSON) or bytes (sent as is)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def am_alert(name, status="firing", fingerprint=None, **labels):
    labels = dict({"alertname": name}, **labels)
    return {"status": status, "labels": labels, "annotations": {"summary": name + " test"},
            "startsAt": "2026-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": fingerprint or hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16],
            "generatorURL": "http://127.0.0.1:19090/graph"}


def am_payload(*alerts, status=None):
    status = status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved")
    return {"version": "4", "status": status, "receiver": "incident-webhook", "groupKey": "{}:{}",
            "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://127.0.0.1:19093", "alerts": list(alerts)}


def lab_loop(tmp, lab, playbook=None, timeout=120):
    """Real loop on the lab: api-kill -> Prometheus -> Alertmanager -> this receiver (19095) -> ansible-runner
    -> playbook -> api healthy -> alert resolved. The caller holds the lab lock. Returns (receiver, run, timings);
    the receiver is stopped and the fault reset on the way out."""
    if playbook is None:
        playbook = "p0-outage.yml" if os.path.exists(os.path.join(REPO, "playbooks", "p0-outage.yml")) \
            else "receiver_api_restart.yml"
    playbooks_dir = os.path.join(REPO, "playbooks") if playbook == "p0-outage.yml" else TEST_PLAYBOOKS
    routes = {"routes": [{"name": "api-down", "match": {"alertname": ["ServiceDown", "TaskSchedulerAPIDown"],
                                                        "service": "api"},
                          "playbook": playbook, "dedupe_by": ["service"]}],
              "default": {"playbook": None}}           # anything else the lab says is only recorded
    cfg = write_config(tmp, routes, port=int(lab.ENV["LAB_RECEIVER_PORT"]), playbooks_dir=playbooks_dir,
                       auth={"token": lab.ENV["LAB_RECEIVER_TOKEN"]})
    # Own guard-rail state (restart rate limits) so other suites' restarts of the api do not count here.
    rcv = ReceiverProcess(cfg, env={"INCIDENT_STATE_DIR": os.path.join(str(tmp), "guard-state")}).start()
    timings = {"playbook": playbook}
    healthy_at = []
    stop = threading.Event()

    def watch_health():                     # first 200 from the api after it went down
        was_down = False
        while not stop.is_set():
            ok = lab.http(lab.url("api", "/health"), timeout=1)[0] == 200
            if not ok:
                was_down = True
            elif was_down:
                healthy_at.append(time.monotonic())
                return
            time.sleep(0.1)
    try:
        # Alertmanager may still hold (and now deliver) notifications of an earlier fault: let them drain.
        lab.wait_for(lambda: not lab.firing_alerts() and not active_alertmanager_alerts(lab), timeout=120,
                     interval=1, what="no alert firing in Prometheus or active in Alertmanager")
        lab.wait_for(lambda: all(r["status"] not in ("queued", "running") for r in rcv.runs()), timeout=120,
                     what="runs started by stale notifications to end")
        injected_at = timings["injected_at"] = time.time()
        start = time.monotonic()
        watcher = threading.Thread(target=watch_health, daemon=True)
        watcher.start()
        lab.faults("inject", "api-kill")

        def api_run():
            runs = [r for r in rcv.runs() if r["route"] == "api-down" and r["created_at"] >= injected_at]
            return runs[-1] if runs else None
        run = lab.wait_for(api_run, timeout=60, interval=0.1, what="the api-down alert at the receiver")
        timings["fault_to_alert_s"] = time.monotonic() - start
        run = lab.wait_for(lambda: (api_run() or {}).get("status") in ("succeeded", "failed") and api_run(),
                           timeout=timeout, interval=0.2, what="the remediation run to end")
        timings["fault_to_run_end_s"] = time.monotonic() - start
        watcher.join(30)
        assert healthy_at, "the api never answered /health again"
        timings["fault_to_healthy_s"] = healthy_at[0] - start
        timings["alert_to_launch_s"] = run.get("ack_to_launch_s")
        run = lab.wait_for(lambda: (api_run() or {}).get("resolved_at") and api_run(), timeout=90, interval=0.5,
                           what="the resolved notification")
        timings["fault_to_resolved_s"] = time.monotonic() - start
        detail = rcv.get("/runs/%d" % run["id"])[1]
        return rcv, detail, timings
    finally:
        stop.set()
        rcv.stop()
        if lab.http(lab.url("api", "/health"))[0] != 200:
            lab.faults("reset", "api-kill")
        if lab.http(lab.url("nginx", "/health"))[0] != 200:      # a run that escalated keeps the maintenance page
            run_module("maintenance_mode", dict(lab.NGINX_SITE, state=False, project="incident-lab", service="nginx",
                                                verify_url=lab.url("nginx", "/")))


def active_alertmanager_alerts(lab):
    status, body = lab.http(lab.url("alertmanager", "/api/v2/alerts?active=true&silenced=false&inhibited=false"))
    return body if status == 200 else ["unreachable"]
