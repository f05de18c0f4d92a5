"""Notification payloads and the Notifier against real local HTTP and SMTP servers."""
import pytest

from ansible_collections.incident.response.plugins.module_utils import notify
from tests.local_servers import ScriptedHTTPServer, SMTPReceiver

MSG = dict(message="API down since 03:12", public_message=None, title="API down", incident_id="INC-2026-01-01-001",
           stage="initial", severity="P1", status=None, fields={"Services": "api"},
           links=[{"href": "https://runbooks/api-down", "text": "runbook"}], source="incident.response")


@pytest.fixture
def server():
    srv = ScriptedHTTPServer()
    yield srv
    srv.close()


def notifier(tmp_path, retries=2, check_mode=False):
    return notify.Notifier(dict(retries=retries, backoff=0.01, timeout=2, state_dir=str(tmp_path), check_mode=check_mode))


@pytest.mark.parametrize("severity, level", [("P0", 0), ("sev2", 1), ("warning", 2), ("P3", 3), (None, 2), ("weird", 2)])
def test_severity_levels(severity, level):
    assert notify.level(severity) == level


def test_slack_payload_has_text_fallback_blocks_fields_and_links():
    payload = notify.slack_payload(MSG, {"channel": "#incidents"})
    assert payload["text"].startswith("*:red_circle: [P1] INC-2026-01-01-001: API down*")
    types = [b["type"] for b in payload["blocks"]]
    assert types == ["header", "section", "section", "context"] and payload["channel"] == "#incidents"
    assert "<https://runbooks/api-down|runbook>" in payload["blocks"][-1]["elements"][0]["text"]
    resolved = notify.slack_payload(dict(MSG, stage="resolution"), {})
    assert resolved["blocks"][0]["text"]["text"].startswith(":white_check_mark:")


@pytest.mark.parametrize("stage, override, action", [("initial", None, "trigger"), ("update", None, "trigger"),
                                                     ("resolution", None, "resolve"), ("update", "acknowledge", "acknowledge")])
def test_pagerduty_event_actions_share_the_incident_dedup_key(stage, override, action):
    event = notify.pagerduty_payload(dict(MSG, stage=stage), {"routing_key": "rk", "event_action": override})
    assert (event["event_action"], event["dedup_key"], event["routing_key"]) == (action, "INC-2026-01-01-001", "rk")
    assert ("payload" in event) == (action == "trigger")
    if action == "trigger":
        assert event["payload"]["severity"] == "error" and event["payload"]["summary"] == "[P1] INC-2026-01-01-001: API down"


def test_statuspage_create_and_update_payloads():
    create = notify.statuspage_payload(dict(MSG, public_message="We are investigating"), {}, create=True)["incident"]
    assert create == dict(status="investigating", body="We are investigating", name="API down",
                          impact_override="major", deliver_notifications=True)
    update = notify.statuspage_payload(dict(MSG, stage="update", status="monitoring"), {"components": {"c1": "operational"}},
                                       create=False)["incident"]
    assert update == dict(status="monitoring", body=MSG["message"], components={"c1": "operational"})


def test_statuspage_incident_is_created_once_then_updated(server, tmp_path):
    server.script["/v1/pages/pg/incidents"] = [(201, {"id": "sp-42"}, 0)]
    channel = dict(type="statuspage", name="statuspage", url=server.url + "/v1", page_id="pg", api_key="sp-secret")
    first = notifier(tmp_path).send(channel, MSG)
    second = notifier(tmp_path).send(channel, dict(MSG, stage="resolution"))
    assert (first["ok"], first["action"], first["statuspage_incident_id"]) == (True, "create", "sp-42")
    assert (second["ok"], second["action"], second["statuspage_incident_id"]) == (True, "update", "sp-42")
    (create, update) = server.requests
    assert (create["method"], create["path"]) == ("POST", "/v1/pages/pg/incidents")
    assert (update["method"], update["path"], update["body"]["incident"]["status"]) == ("PATCH", "/v1/pages/pg/incidents/sp-42", "resolved")
    assert create["headers"]["Authorization"] == "OAuth sp-secret"
    assert "sp-secret" not in repr(first) + repr(second)


def test_failed_delivery_is_reported_with_attempts_and_never_raises(server, tmp_path):
    server.script["/hook"] = [(500, {"error": "boom"}, 0)] * 3
    delivery = notifier(tmp_path, retries=2).send(dict(type="webhook", name="hook", url=server.url + "/hook"), MSG)
    assert (delivery["ok"], delivery["status"], delivery["attempts"]) == (False, 500, 3)
    assert delivery["error"].startswith("HTTP 500") and delivery["target"] == server.url


def test_a_channel_bug_is_a_failed_delivery_not_a_crash(tmp_path):
    delivery = notifier(tmp_path).send(dict(type="statuspage", name="sp", url=None, page_id=None), MSG)
    assert delivery["ok"] is False and delivery["error"]


def test_pagerduty_resolve_without_incident_id_is_refused(tmp_path):
    delivery = notifier(tmp_path).send(dict(type="pagerduty", name="pd", url="http://127.0.0.1:9/x", routing_key="rk"),
                                       dict(MSG, incident_id=None, stage="resolution"))
    assert delivery["ok"] is False and "needs incident_id" in delivery["error"] and delivery["attempts"] == 0


def test_check_mode_sends_nothing_and_previews(server, tmp_path):
    delivery = notifier(tmp_path, check_mode=True).send(dict(type="pagerduty", name="pd", url=server.url, routing_key="rk"), MSG)
    assert delivery["ok"] is None and delivery["preview"]["routing_key"] == "********" and server.requests == []


def test_email_is_delivered_over_smtp_with_retry(tmp_path):
    smtp = SMTPReceiver(fail_sessions=1)
    try:
        channel = dict(type="email", name="email", host="127.0.0.1", port=smtp.port, recipients=["oncall@example.com"],
                       sender="ir@example.com")
        delivery = notifier(tmp_path, retries=2).send(channel, MSG)
    finally:
        smtp.close()
    assert (delivery["ok"], delivery["attempts"]) == (True, 2)
    (mail,) = smtp.messages
    assert mail["Subject"] == "[P1] INC-2026-01-01-001: API down" and mail.envelope_to == ["oncall@example.com"]
    assert "API down since 03:12" in mail.get_content() and "Services: api" in mail.get_content()


def test_email_to_a_dead_server_fails_cleanly(tmp_path):
    channel = dict(type="email", name="email", host="127.0.0.1", port=9, recipients=["a@b"])
    delivery = notifier(tmp_path, retries=1).send(channel, MSG)
    assert (delivery["ok"], delivery["attempts"]) == (False, 2) and "127.0.0.1:9" in delivery["error"]


def test_a_redirected_webhook_is_reported_with_the_host_only(server, tmp_path):
    other = ScriptedHTTPServer()
    try:
        server.script["/hook"] = [(308, "", 0, {"Location": other.url + "/services/T0/B0/s3cret"})]
        channel = dict(type="webhook", name="hook", url=server.url + "/hook", headers={"Authorization": "Bearer hook-token"})
        delivery = notifier(tmp_path).send(channel, MSG)
    finally:
        other.close()
    assert (delivery["ok"], delivery["status"]) == (True, 200)
    assert delivery["redirects"] == [dict(status=308, location=other.url, cross_origin=True)]
    (landed,) = other.requests
    assert landed["body"]["incident_id"] == "INC-2026-01-01-001" and "Authorization" not in landed["headers"]
    assert "s3cret" not in repr(delivery)
