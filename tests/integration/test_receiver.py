"""The real receiver (subprocess) with real ansible-runner runs of tests/integration/playbooks/receiver_*.yml:
SIGKILL between acknowledgment and run, alert fields as data, the global concurrency limit, and
the AWX backend against a local fake AWX. No lab service is touched."""
import glob
import http.server
import json
import os
import threading
import time

import pytest

from tests.integration.receiver_support import ReceiverProcess, am_alert, am_payload, write_config

pytestmark = pytest.mark.lab   # collected with the integration suite (takes the lab lock; touches no container)


def marker_routes(marker_dir, sleep_s=0, **extra):
    return {"routes": [{"name": "marker", "match": {"alertname": ["Slow", "Fast", "Evil", "Busy"]},
                        "playbook": "receiver_marker.yml",
                        "extra_vars": dict({"receiver_test_marker_dir": str(marker_dir), "receiver_test_sleep_s": sleep_s},
                                           **extra)},
                       {"name": "slow", "match": {"alertname": "SlowFirst"}, "playbook": "receiver_marker.yml",
                        "extra_vars": {"receiver_test_marker_dir": str(marker_dir), "receiver_test_sleep_s": 6}}],
            "default": {"playbook": None}}


def markers(marker_dir, incident_id):
    return glob.glob(os.path.join(str(marker_dir), incident_id + ".*.run"))


@pytest.fixture
def marker_dir(tmp_path):
    path = tmp_path / "markers"
    path.mkdir()
    return path


def test_sigkill_between_ack_and_run_loses_nothing_and_runs_once(tmp_path, marker_dir):
    cfg = write_config(tmp_path, marker_routes(marker_dir))
    rcv = ReceiverProcess(cfg).start()
    try:
        # A slow run holds the per-service lock; the second alert of that service is acknowledged and waits.
        status, first = rcv.post("/alertmanager", am_payload(am_alert("SlowFirst", service="svc")))
        assert status == 200 and first["queued"], first
        rcv.wait_runs(lambda runs: runs and runs[0]["status"] == "running", 20, "the slow run to start")
        status, second = rcv.post("/alertmanager", am_payload(am_alert("Fast", service="svc")))
        assert status == 200 and second["queued"], second
        rcv.kill9()                                         # acknowledged, stored, not started
        rcv.start()
        runs = rcv.wait_runs(lambda r: {x["status"] for x in r} <= {"succeeded", "failed", "interrupted"}, 60,
                             "both runs to end after the restart")
        by_name = {r["alertname"]: r for r in runs}
        assert len(runs) == 2, runs
        assert by_name["Fast"]["status"] == "succeeded", runs
        assert len(markers(marker_dir, by_name["Fast"]["incident_id"])) == 1
        # The run cut by the crash is never started again: either adopted to its end or interrupted.
        slow = by_name["SlowFirst"]
        print("slow run after SIGKILL:", slow["status"], slow["error"])
        assert slow["status"] in ("succeeded", "interrupted"), slow
        time.sleep(1)
        assert len(markers(marker_dir, slow["incident_id"])) == (1 if slow["status"] == "succeeded" else 0)
        # Nothing was lost: the restarted receiver still knows every alert it acknowledged.
        detail = rcv.get("/runs/%d" % by_name["Fast"]["id"])[1]
        assert [a["alertname"] for a in detail["alerts"]] == ["Fast"]
    finally:
        rcv.stop()


def test_alert_fields_reach_the_playbook_as_data_only(tmp_path, marker_dir):
    pwned = tmp_path / "pwned"
    evil = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}; $(touch %s) `touch %s` | rm -rf /" % (pwned, pwned, pwned)
    cfg = write_config(tmp_path, marker_routes(marker_dir))
    rcv = ReceiverProcess(cfg).start()
    try:
        status, body = rcv.post("/alertmanager", am_payload(am_alert("Evil", evil=evil, service="../../etc")))
        assert status == 200, body
        run = rcv.wait_runs(lambda r: r and r[0]["status"] in ("succeeded", "failed"), 60)[0]
        assert run["status"] == "succeeded", rcv.get("/runs/%d" % run["id"])
        with open(os.path.join(str(marker_dir), run["incident_id"] + ".label")) as fh:
            assert fh.read() == evil                        # copied verbatim, never rendered or run
        assert not pwned.exists()
        detail = rcv.get("/runs/%d" % run["id"])[1]
        assert detail["extra_vars"]["incident_alert"]["labels"]["evil"] == evil
        assert detail["summary"]["stats"]["failures"] == {}
        # The timeline callback recorded into the incident the receiver allocated at ack time.
        kinds = [e["type"] for e in detail["timeline"]]
        assert kinds[0] == "milestone" and "run_start" in kinds and "run_end" in kinds, kinds
    finally:
        rcv.stop()


def test_global_concurrency_limit(tmp_path, marker_dir):
    cfg = write_config(tmp_path, marker_routes(marker_dir, sleep_s=2), dispatch={"max_concurrent": 2})
    rcv = ReceiverProcess(cfg).start()
    try:
        alerts = [am_alert("Busy", service="svc%d" % i) for i in range(5)]
        assert rcv.post("/alertmanager", am_payload(*alerts))[0] == 200
        peak = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = rcv.runs()
            peak = max(peak, sum(r["status"] == "running" for r in runs))
            if len(runs) == 5 and all(r["status"] == "succeeded" for r in runs):
                break
            time.sleep(0.1)
        assert [r["status"] for r in runs] == ["succeeded"] * 5, runs
        assert peak == 2
        # From the recorded times: never more than two runs overlapped.
        spans = [(r["started_at"], r["finished_at"]) for r in runs]
        assert max(sum(s <= t < e for s, e in spans) for t, _end in spans) <= 2
        metrics = rcv.get("/metrics")[1]
        assert 'incident_receiver_runs{status="succeeded"} 5' in metrics
        assert "incident_receiver_run_duration_seconds_count 5" in metrics
    finally:
        rcv.stop()


class FakeAwx(http.server.BaseHTTPRequestHandler):
    """Launch -> job 7 (pending, running, successful); template 99 -> job 8 fails."""
    calls = []
    polls = {}

    def log_message(self, *args):
        pass

    def reply(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeAwx.calls.append(("POST", self.path, self.headers.get("Authorization"), body))
        if self.headers.get("Authorization") != "Bearer awx-secret":
            return self.reply(401, {"detail": "Authentication credentials were not provided."})
        template = int(self.path.split("/")[4])
        return self.reply(201, {"job": 7 if template == 12 else 8, "id": 7 if template == 12 else 8})

    def do_GET(self):  # noqa: N802
        FakeAwx.calls.append(("GET", self.path, self.headers.get("Authorization"), None))
        job = int(self.path.split("/")[4])
        n = FakeAwx.polls[job] = FakeAwx.polls.get(job, 0) + 1
        status = ["pending", "running", "successful" if job == 7 else "failed"][min(n, 3) - 1]
        return self.reply(200, {"id": job, "status": status, "finished": None})


def test_awx_backend_launches_the_job_template_and_follows_it(tmp_path, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAwx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("TEST_AWX_TOKEN", "awx-secret")
    routes = {"routes": [{"name": "api-down", "match": {"alertname": "ServiceDown"}, "playbook": "p0-outage.yml",
                          "awx_job_template": 12, "extra_vars": {"p0_outage_service": "api"}}],
              "default": {"playbook": "respond.yml"}}
    cfg = write_config(tmp_path, routes, dispatch={"backend": "awx", "awx": {
        "url": "http://127.0.0.1:%d" % server.server_port, "token_env": "TEST_AWX_TOKEN",
        "job_templates": {"respond.yml": 99}, "poll_s": 0.1}})
    rcv = ReceiverProcess(cfg).start()
    try:
        assert rcv.post("/alertmanager", am_payload(am_alert("ServiceDown", service="api"),
                                                    am_alert("Unknown", service="x")))[0] == 200
        runs = rcv.wait_runs(lambda r: len(r) == 2 and all(x["status"] in ("succeeded", "failed") for x in r), 30)
        by_name = {r["alertname"]: r for r in runs}
        assert by_name["ServiceDown"]["status"] == "succeeded" and by_name["ServiceDown"]["external_id"] == "7"
        assert by_name["Unknown"]["status"] == "failed" and "AWX job 8 failed" in by_name["Unknown"]["error"]
        launch = [c for c in FakeAwx.calls if c[0] == "POST" and c[1] == "/api/v2/job_templates/12/launch/"][0]
        assert launch[2] == "Bearer awx-secret"
        extra = launch[3]["extra_vars"]
        assert extra["p0_outage_service"] == "api" and extra["incident_alert"]["alertname"] == "ServiceDown"
        assert extra["incident_id"] == by_name["ServiceDown"]["incident_id"]
        assert ("GET", "/api/v2/jobs/7/", "Bearer awx-secret", None) in FakeAwx.calls
        assert "awx-secret" not in rcv.read_log()
    finally:
        rcv.stop()
        server.shutdown()


REPLAY_SOURCE = '''
"""Test event source: emits alerts shaped like ansible.eda.alertmanager's events, then one to stop."""
import asyncio


async def main(queue, args):
    for alert in args["alerts"]:
        await queue.put({"alert": alert, "meta": {"endpoint": "", "headers": {}}})
    await asyncio.sleep(0.5)
    await queue.put({"alert": {"status": "end", "labels": {"alertname": "end"}}, "meta": {}})
'''


def test_eda_rulebook_routes_lab_alerts_in_the_real_rule_engine(tmp_path):
    """The rulebook's conditions and throttles evaluated by ansible-rulebook (Drools). The source is a
    replay of Alertmanager-shaped events (ansible.eda comes from Galaxy, unreachable here) and each
    run_playbook becomes a debug line naming the playbook; everything else is the shipped rulebook."""
    import yaml  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    from tests.integration.receiver_support import REPO  # pylint: disable=import-outside-toplevel
    with open(os.path.join(REPO, "extensions", "eda", "rulebooks", "incident-response.yml")) as fh:
        doc = yaml.safe_load(fh)
    alerts = [("ServiceDown", {"job": "api", "service": "api", "instance": "127.0.0.1:18000"}),
              ("TaskSchedulerAPIDown", {"job": "api", "service": "api", "instance": "127.0.0.1:18000"}),
              ("ServiceDown", {"job": "postgres", "instance": "127.0.0.1:19187"}),
              ("NoActiveWorkers", {"service": "worker"}), ("RedisMemoryHigh", {"service": "redis"}),
              ("HighResponseTime", {"service": "api"}), ("SomethingNew", {})]
    events = [{"status": "firing", "labels": dict({"alertname": n}, **l), "fingerprint": "fp%d" % i}
              for i, (n, l) in enumerate(alerts)]
    events.append({"status": "resolved", "labels": {"alertname": "RedisMemoryHigh"}, "fingerprint": "fp4"})
    ruleset = doc[0]
    ruleset["sources"] = [{"name": "replay", "replay": {"alerts": events}}]
    for rule in ruleset["rules"]:
        if "run_playbook" in rule["action"]:
            rule["action"] = {"debug": {"msg": "ROUTE %s {{ event.alert.labels.alertname }}"
                                               % rule["action"]["run_playbook"]["name"]}}
    ruleset["rules"].append({"name": "stop", "condition": 'event.alert.status == "end"',
                             "action": {"shutdown": {"delay": 0}}})
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "replay.py").write_text(REPLAY_SOURCE)
    (tmp_path / "rulebook.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "inventory.yml").write_text("all: {hosts: {localhost: {}}}\n")
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    out = subprocess.run([os.path.join(bindir, "ansible-rulebook"), "-S", str(tmp_path / "sources"),
                          "-r", str(tmp_path / "rulebook.yml"), "-i", str(tmp_path / "inventory.yml")],
                         capture_output=True, text=True, timeout=120, env=env, check=False)
    routed = sorted(line.split(None, 2)[1:] for line in out.stdout.splitlines() if line.startswith("ROUTE "))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert routed == sorted([["playbooks/api-down.yml", "ServiceDown"],           # API alert pair: one run
                             ["playbooks/database-down.yml", "ServiceDown"],
                             ["playbooks/no-active-workers.yml", "NoActiveWorkers"],
                             ["playbooks/redis-memory.yml", "RedisMemoryHigh"],
                             ["playbooks/respond.yml", "SomethingNew"]]), out.stdout[-3000:]
    assert "'status': 'resolved'" in out.stdout                                   # printed, not remediated
