"""http_check end to end (real module process) against a local scripted HTTP server."""
import socket

import pytest

from tests.ansible import run_module
from tests.local_servers import ScriptedHTTPServer


@pytest.fixture
def server():
    srv = ScriptedHTTPServer()
    yield srv
    srv.close()


def test_verdicts_and_reasons(server):
    server.script.update({"/ok": [(200, {"status": "ok", "db": {"up": True}}, 0)], "/err": [(502, "bad gateway", 0)],
                          "/text": [(200, "all systems go", 0)], "/json": [(200, {"status": "degraded"}, 0)],
                          "/slow": [(200, "late", 1.5)], "/lag": [(200, "ok", 0.2)]})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    checks = [dict(name="ok", url=server.url + "/ok", json_path="db.up"),
              dict(name="err", url=server.url + "/err", severity="warning"),
              dict(name="text", url=server.url + "/text", body_contains="go", body_regex=r"systems\s+go"),
              dict(name="json", url=server.url + "/json", json_path="status", json_equals="ok"),
              dict(name="slow", url=server.url + "/slow", timeout=0.5),
              dict(name="lag", url=server.url + "/lag", max_latency_ms=100),
              dict(name="refused", url="http://127.0.0.1:%d/" % closed),
              dict(name="status", url=server.url + "/missing", expect_status=[404, 200])]
    res = run_module("http_check", dict(checks=checks))
    c = res["checks"]
    assert res["healthy"] is False and res["unhealthy"] == ["err", "json", "slow", "lag", "refused"]
    assert res["healthy_checks"] == ["ok", "text", "status"]
    assert (c["ok"]["healthy"], c["ok"]["json_value"]) == (True, True)
    assert c["err"]["reason"] == "unexpected status 502"
    assert c["json"]["reason"] == "body mismatch: status is 'degraded', expected 'ok'"
    assert c["slow"]["reason"] == "timeout after 0.5s" and c["slow"]["status"] == 0
    assert c["lag"]["reason"].startswith("slow: ")
    assert c["refused"]["reason"] == "connection refused"
    assert {f["check"]: f["severity"] for f in res["findings"]}["http:err"] == "warning"


def test_checks_run_concurrently(server):
    for i in range(8):
        server.script["/s%d" % i] = [(200, "ok", 0.4)]
    res = run_module("http_check", dict(checks=[dict(name="s%d" % i, url=server.url + "/s%d" % i) for i in range(8)]))
    assert res["healthy"] and res["duration_ms"] < 8 * 400 / 2


def test_single_url_and_validation(server):
    res = run_module("http_check", dict(url=server.url + "/"))
    assert res["healthy"] and list(res["checks"]) == ["default"]
    res = run_module("http_check", dict(checks=[dict(name="a", url=server.url), dict(name="a", url=server.url)]))
    assert res["failed"] and "two checks are named 'a'" in res["msg"]
    res = run_module("http_check", dict(checks=[dict(url=server.url, body_regex="(")]))
    assert res["failed"] and "invalid body_regex" in res["msg"]
