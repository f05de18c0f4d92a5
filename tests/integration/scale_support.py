"""Concurrent incidents through the receiver, shared by scripts/bench_scale.py and test_receiver_scale.py:
N independent compose projects (scale-1..scale-N, one tiny HTTP service `web` each on its own 127.0.0.1
port, host network, the lab's local image), described as a service catalog in a temp inventory, and a
receiver that routes their ServiceDown alerts to playbooks/api-down.yml (service from the alert)."""
import datetime
import json
import os
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import yaml
from incident_receiver.runlock import process_start

from tests.integration import receiver_support as rs
from tests.lab import wait_for

IMAGE = "incident-lab/app:current"          # built by lab/lab.sh; only its python3 and tini are used
BASE_PORT = 18301
# /health answers 200; tini (PID 1) passes SIGTERM on, so `compose down` is quick. No `$` (compose interpolation).
SERVER = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def port_free(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ScaleLab:
    """The N projects, their catalog, and a receiver (max_concurrent N, warm launcher) in `tmp`."""

    def __init__(self, tmp, n, base_port=BASE_PORT):
        self.tmp, self.n = str(tmp), n
        self.names = ["scale-%d" % (i + 1) for i in range(n)]
        self.ports = dict(zip(self.names, range(base_port, base_port + n)))
        self.compose_files = {name: os.path.join(self.tmp, name, "docker-compose.yml") for name in self.names}
        self.rcv = None

    def url(self, name):
        return "http://127.0.0.1:%d/health" % self.ports[name]

    def compose(self, name, *args):
        return subprocess.run(["docker-compose", "-p", name, "-f", self.compose_files[name]] + list(args),
                              capture_output=True, text=True, check=False)

    def up(self):
        busy = [p for p in self.ports.values() if not port_free(p)]
        assert not busy, "ports already in use: %s" % busy
        image = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
        assert image.returncode == 0, "%s is not built (lab/lab.sh build): nothing is pulled" % IMAGE
        for name in self.names:
            os.makedirs(os.path.dirname(self.compose_files[name]))
            with open(self.compose_files[name], "w") as fh:
                yaml.safe_dump({"version": "2.4", "services": {"web": {
                    "image": IMAGE, "entrypoint": ["/usr/bin/tini", "--", "python3", "-c", SERVER],
                    "network_mode": "host", "environment": {"PORT": str(self.ports[name])}}}}, fh)
            res = self.compose(name, "up", "-d")
            assert res.returncode == 0, res.stderr
        wait_for(lambda: all(self.healthy(n) for n in self.names), 60, 0.1, "the scale services to answer")
        return self

    def down(self):
        for name in self.names:
            if os.path.exists(self.compose_files[name]):
                self.compose(name, "down", "-t", "2", "--remove-orphans")

    def healthy(self, name):
        return rs.request(self.url(name), timeout=1)[0] == 200

    def containers(self, names):
        """Ids of the running containers of these projects (one each)."""
        out = subprocess.run(["docker", "ps", "--filter", "label=com.docker.compose.project", "--format",
                              '{{.ID}} {{.Label "com.docker.compose.project"}}'],
                             capture_output=True, text=True, check=True).stdout.split("\n")
        ids = [line.split()[0] for line in out if line and line.split()[1] in names]
        assert len(ids) == len(names), "expected one running container per project of %s: %s" % (names, out)
        return ids

    def write_inventory(self):
        services = [{"name": name, "project": name, "service": "web", "health_url": self.url(name), "severity": "P1",
                     "playbook": "api-down", "compose_files": [self.compose_files[name]], "owner": "scale bench"}
                    for name in self.names]
        path = os.path.join(self.tmp, "inventory.yml")
        with open(path, "w") as fh:      # no incident_notify_channels: the runs send no notices
            yaml.safe_dump({"all": {"children": {"incident_hosts": {"hosts": {"responder": {
                "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}},
                "vars": {"incident_engines": {"default": {}}, "incident_services": services}}}, fh)
        return path

    def start_receiver(self, extra_vars=None):
        # each service is restarted once per round: the guard's 3 per 15 min would refuse the 4th
        extra = dict({"remediate_service_max_restarts": 1000}, **(extra_vars or {}))
        routes = {"routes": [{"name": "service-down", "match": {"alertname": "ServiceDown"}, "playbook": "api-down.yml",
                              "dedupe_by": ["service"], "extra_vars": extra}],
                  "default": {"playbook": None}, "cooldown_s": 0}    # a new alert after a run is a new incident
        cfg = rs.write_config(self.tmp, routes, playbooks_dir=os.path.join(rs.REPO, "playbooks"),
                              inventory=self.write_inventory(), log_level="WARNING",
                              dispatch={"max_concurrent": self.n, "launcher": "warm"})
        self.rcv = rs.ReceiverProcess(cfg, env={"INCIDENT_STATE_DIR": os.path.join(self.tmp, "guard-state")}).start()
        warm_log = os.path.join(self.tmp, "state", "warm.log")     # the zygote ready, as a running receiver is
        wait_for(lambda: "ready" in read(warm_log), 60, 0.1, "the warm launcher")
        return self.rcv

    def stop(self):
        """Stop the receiver, then kill the runs it left going (an interrupted round), which would act on the
        projects after their `compose down`: the receiver first (SIGKILL when runs are going, so that it
        launches no new attempt of them), then each run's session, led by its recorded pid."""
        if not self.rcv or not self.rcv.proc:
            return
        if self.running() and self.rcv.proc.poll() is None:
            self.rcv.kill9()
        self.rcv.stop()
        for pid, pid_start in self.running():
            if process_start(pid) == pid_start:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except OSError:
                    pass

    def running(self):
        """(pid, start time) of the runs the receiver's database says are running."""
        db = sqlite3.connect(os.path.join(self.tmp, "state", "receiver.db"))
        try:
            return db.execute("SELECT pid, pid_start FROM jobs WHERE status='running' AND pid").fetchall()
        finally:
            db.close()

    def incident(self, names, tag):
        """Kill the containers of `names` at once, post one ServiceDown webhook per service, wait until each
        answers again and every run ended. Returns {"kill_to_all_healthy_s", "incidents": {name: {...}}}."""
        ids = self.containers(names)
        watch = HealthWatch({name: self.url(name) for name in names})
        killed_at = time.time()
        subprocess.run(["docker", "kill", "-s", "KILL"] + ids, capture_output=True, check=True)
        watch.start()
        posted = {}
        for name in names:
            posted[name] = time.time()
            status, body = self.rcv.post("/alertmanager", self.alert(name, tag))
            assert status == 200 and len(body["queued"]) == 1, (name, status, body)
        try:
            runs = self._ended(self.rcv.wait_runs(lambda runs: self._ended(runs, tag, names), 240, "the runs of " + tag),
                               tag, names)
            watch.join(60)
        finally:
            watch.stop.set()
        self.rcv.post("/alertmanager", rs.am_payload(*(self.alert(n, tag, "resolved")["alerts"][0] for n in names)))
        healthy_at = watch.healthy_at
        assert set(healthy_at) == set(names), "never healthy again: %s" % sorted(set(names) - set(healthy_at))
        out = {"kill_to_all_healthy_s": max(healthy_at.values()) - killed_at, "incidents": {}}
        for run in runs:
            name, timeline = run["service"], self.timeline(run["incident_id"])
            first = next((e["start"] for e in timeline if e["type"] == "task"), None)
            out["incidents"][name] = {
                "job": run["id"], "incident_id": run["incident_id"], "status": run["status"], "timeline": timeline,
                "webhook_to_first_task_s": iso_ts(first) - posted[name] if first else float("nan"),
                "webhook_to_healthy_s": healthy_at[name] - posted[name],
                "kill_to_healthy_s": healthy_at[name] - killed_at,
                "webhook_to_run_end_s": run["finished_at"] - posted[name]}
        return out

    @staticmethod
    def _ended(runs, tag, names):
        """The runs of this round's alerts once every one ended, else None."""
        mine = [r for r in runs if r["fingerprint"].endswith("-" + tag)]
        ended = len(mine) == len(names) and all(r["status"] in ("succeeded", "failed", "interrupted", "canceled")
                                                for r in mine)
        return mine if ended else None

    @staticmethod
    def alert(name, tag, status="firing"):
        return rs.am_payload(rs.am_alert("ServiceDown", status=status, fingerprint="%s-%s" % (name, tag),
                                         service=name, severity="critical"))

    def timeline(self, incident_id):
        """The incident's timeline.jsonl as events ([] when the file is missing)."""
        path = os.path.join(self.tmp, "incidents", incident_id, "timeline.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as fh:
            return [json.loads(line) for line in fh if line.strip()]


class HealthWatch(threading.Thread):
    """Wall time each URL first answers 200 after it was seen failing (20 polls/s)."""

    def __init__(self, urls):
        super().__init__(daemon=True)
        self.urls, self.healthy_at, self.stop = urls, {}, threading.Event()

    def run(self):
        down = set()
        while not self.stop.is_set() and len(self.healthy_at) < len(self.urls):
            for name, url in self.urls.items():
                if name in self.healthy_at:
                    continue
                if rs.request(url, timeout=1)[0] != 200:
                    down.add(name)
                elif name in down:
                    self.healthy_at[name] = time.time()
            time.sleep(0.05)


def read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def iso_ts(value):
    """ISO 8601 (a timeline's `start`, UTC) -> epoch seconds."""
    parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)).timestamp()
