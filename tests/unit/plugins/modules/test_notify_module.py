"""The notify module end to end (real module process) against a local scripted HTTP server."""
import json

import pytest

from tests.ansible import run_module
from tests.local_servers import ScriptedHTTPServer


@pytest.fixture
def server():
    srv = ScriptedHTTPServer()
    yield srv
    srv.close()


def args(server, tmp_path, **extra):
    base = dict(msg="API down", title="API down", incident_id="INC-2026-01-01-002", stage="initial", severity="P0",
                backoff=0.01, retries=1, state_dir=str(tmp_path),
                channels=[dict(type="slack", url=server.url + "/services/T0/B0/slack-secret-path"),
                          dict(type="pagerduty", url=server.url + "/enqueue", routing_key="pd-routing-secret"),
                          dict(type="webhook", url=server.url + "/hook", headers={"Authorization": "Bearer hook-secret"})])
    base.update(extra)
    return base


def test_delivers_to_every_channel_and_keeps_secrets_out_of_the_result(server, tmp_path):
    res = run_module("notify", args(server, tmp_path))
    assert not res.get("failed") and res["changed"] and res["all_delivered"] and res["delivered"] == 3
    assert [d["channel"] for d in res["deliveries"]] == ["slack", "pagerduty", "webhook"]
    assert all(d["target"] == server.url for d in res["deliveries"])
    text = json.dumps({k: v for k, v in res.items() if k != "invocation"})
    for secret in ("slack-secret-path", "pd-routing-secret", "hook-secret"):
        assert secret not in text
    assert [r["path"] for r in server.requests] == ["/services/T0/B0/slack-secret-path", "/enqueue", "/hook"]
    assert server.requests[2]["headers"]["Authorization"] == "Bearer hook-secret"


def test_failure_is_reported_not_fatal_unless_asked(server, tmp_path):
    server.script["/hook"] = [(503, "down", 0)] * 4
    res = run_module("notify", args(server, tmp_path))
    assert not res.get("failed") and res["failed_channels"] == ["webhook"] and not res["all_delivered"]
    assert res["deliveries"][2]["attempts"] == 2 and "HTTP 503" in res["deliveries"][2]["error"]
    assert any("webhook" in str(w) for w in res["warnings"])
    res = run_module("notify", args(server, tmp_path, fail_on_error=True))
    assert res["failed"] and res["msg"] == "notification failed on webhook"


def test_check_mode_sends_nothing(server, tmp_path):
    res = run_module("notify", args(server, tmp_path), check=True)
    assert res["changed"] and not res["all_delivered"] and server.requests == []
    assert res["deliveries"][0]["preview"]["text"].startswith("*:rotating_light: [P0]")


def test_channel_requirements_are_validated(server, tmp_path):
    res = run_module("notify", args(server, tmp_path, channels=[dict(type="statuspage")]))
    assert res["failed"] and "page_id" in res["msg"]
