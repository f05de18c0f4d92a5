"""Health waiting: probes, the 100 ms polling loop and its deadline, HTTP and TCP checks."""
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from ansible_collections.incident.response.plugins.module_utils.wait import (
    Probe, http_status, status_ok, tcp_open, wait_healthy)
from tests.local_servers import ScriptedHTTPServer


def info(running=True, health=None, exit_code=0, paused=False, restarting=False):
    state = dict(Running=running, Paused=paused, Restarting=restarting, ExitCode=exit_code)
    if health:
        state["Health"] = {"Status": health}
    return {"State": state, "Name": "/c"}


class FakeClient(object):
    """Returns scripted inspect results per container, one per call (the last one repeats)."""

    def __init__(self, scripts):
        self.scripts = scripts
        self.calls = 0

    def inspect(self, cid):
        self.calls += 1
        seq = self.scripts[cid]
        return seq.pop(0) if len(seq) > 1 else seq[0]


class FakeTime(object):
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def test_health_probe():
    probe = Probe("health")
    assert probe.check(info(health="healthy"))[0]
    assert probe.check(info(health="starting")) == (False, "health starting", False)
    assert probe.check(info())[0]  # no healthcheck: running is enough
    podman = info()
    podman["State"]["Health"] = {"Status": "", "FailingStreak": 0, "Log": None}  # podman without a healthcheck
    assert probe.check(podman) == (True, "running (no healthcheck)", False)
    assert probe.check(info(running=False, exit_code=137)) == (False, "exited with code 137", True)
    assert probe.check(info(running=False, restarting=True)) == (False, "restarting", False)
    assert probe.check(info(paused=True, health="healthy"))[0] is False


def test_probe_needs_its_target():
    with pytest.raises(ValueError):
        Probe("http")
    with pytest.raises(ValueError):
        Probe("tcp")


def test_wait_polls_every_100ms_until_all_are_healthy():
    t = FakeTime()
    client = FakeClient({"a": [info(health="starting")] * 3 + [info(health="healthy")],
                         "b": [info(health="healthy")]})
    ok, reasons, infos = wait_healthy(client, ["a", "b"], Probe("health"), 10, clock=t.clock, sleep=t.sleep)
    assert ok and reasons == {"a": "health healthy", "b": "health healthy"} and set(infos) == {"a", "b"}
    assert t.sleeps == [0.1, 0.1, 0.1] and client.calls == 5  # b is not polled again once healthy


def test_wait_stops_at_the_deadline_and_at_once_when_a_container_exits():
    t = FakeTime()
    client = FakeClient({"a": [info(health="unhealthy")]})
    ok, reasons, _infos = wait_healthy(client, ["a"], Probe("health"), 1.0, clock=t.clock, sleep=t.sleep)
    assert not ok and reasons["a"] == "health unhealthy" and 0.99 <= t.now <= 1.01
    t = FakeTime()
    client = FakeClient({"a": [info(health="starting"), info(running=False, exit_code=1)]})
    ok, reasons, _infos = wait_healthy(client, ["a"], Probe("health"), 60, clock=t.clock, sleep=t.sleep)
    assert not ok and reasons["a"] == "exited with code 1" and t.now < 0.2


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        status = 503 if self.path == "/down" else 200
        body = b"maintenance" if status == 503 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_http_status_and_probe(server):
    assert http_status(server + "/up")[:2] == (200, "ok")
    assert http_status(server + "/down")[:2] == (503, "maintenance")
    assert Probe("http", url=server + "/up").check(info())[0]
    assert Probe("http", url=server + "/down").check(info()) == (False, "HTTP 503", False)
    assert Probe("http", url=server + "/down", expect_status=[503]).check(info())[0]
    assert status_ok(302) and not status_ok(404)


def test_unreachable_http_and_tcp():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    status, _body, error = http_status("http://127.0.0.1:%d/" % port, timeout=1)
    assert status == 0 and error
    assert tcp_open("127.0.0.1", port)[0] is False
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        assert tcp_open("127.0.0.1", listener.getsockname()[1]) == (True, None)
        assert Probe("tcp", port=listener.getsockname()[1]).check(info())[0]
    finally:
        listener.close()


def test_http_status_follows_redirects_without_carrying_the_token_elsewhere():
    """maintenance_mode sends its admin token through http_status: it must not reach another origin."""
    first, second = ScriptedHTTPServer(), ScriptedHTTPServer()
    try:
        first.script["/admin"] = [(307, "", 0, {"Location": second.url + "/admin"}), (302, "", 0, {"Location": "/admin/v2"})]
        status, body, error = http_status(first.url + "/admin", method="POST", data=b'{"on": true}',
                                          headers={"Authorization": "Bearer t0ken", "Content-Type": "application/json"})
        assert (status, body, error) == (200, '{"ok": true}', None)
        assert "Authorization" not in second.requests[0]["headers"] and second.requests[0]["body"] == {"on": True}
        status, _body, error = http_status(first.url + "/admin", headers={"Authorization": "Bearer t0ken"})
        assert status == 200 and first.requests[-1]["headers"]["Authorization"] == "Bearer t0ken"  # same origin
    finally:
        first.close()
        second.close()


def test_http_status_error_is_the_classified_reason():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    assert http_status("http://127.0.0.1:%d/" % port, timeout=1) == (0, "", "connection refused")
    assert http_status("ftp://127.0.0.1/x") == (0, "", "invalid URL (scheme must be http or https)")
