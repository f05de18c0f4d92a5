"""notify and the communicate role against the lab's recording sink (Slack, PagerDuty, Statuspage,
webhook stand-ins) and a local SMTP receiver. Each test posts under its own path prefix so the
sink's records of other tests do not matter."""
import json
import os
import uuid

import pytest

from tests.ansible import run_module, run_playbook
from tests.local_servers import SMTPReceiver

pytestmark = pytest.mark.lab


@pytest.fixture
def sink(lab):
    """(url(kind, rest), records(kind), base): each test posts under /<kind>/<unique id>, so the
    sink still answers like the service it stands for (PagerDuty 202...) and records stay apart."""
    base = lab.url("sink")
    uid = uuid.uuid4().hex[:8]

    def url(kind, rest=""):
        return "%s/%s/%s%s" % (base, kind, uid, rest)

    def records(kind):
        status, body = lab.http("%s/_sink/requests?path=/%s/%s" % (base, kind, uid))
        assert status == 200, body
        return body

    return url, records, base


def channels(url):
    return [dict(type="slack", url=url("slack", "/T000/B000/sekr1t-webhook")),
            dict(type="mattermost", url=url("mattermost", "/hooks/mm-sekr1t"), username="incident-bot"),
            dict(type="pagerduty", url=url("pagerduty"), routing_key="pd-sekr1t-key"),
            dict(type="statuspage", url=url("statuspage"), page_id="lab", api_key="sp-sekr1t-key"),
            dict(type="webhook", url=url("webhook"))]


def notify_args(url, **extra):
    args = dict(incident_id="INC-2026-01-01-042", stage="initial", severity="P1", title="API down",
                msg="API answers 502 since 03:12 UTC", public_msg="We are investigating API errors.",
                fields={"Services": "api"}, backoff=0.05, retries=3, channels=channels(url))
    args.update(extra)
    return args


def test_every_channel_payload_reaches_the_sink(sink):
    url, records, _base = sink
    res = run_module("notify", notify_args(url))
    assert not res.get("failed") and res["all_delivered"] and res["delivered"] == 5
    assert [(d["channel"], d["status"], d["attempts"]) for d in res["deliveries"]] == [
        ("slack", 200, 1), ("mattermost", 200, 1), ("pagerduty", 202, 1), ("statuspage", 200, 1), ("webhook", 200, 1)]
    text = json.dumps({k: v for k, v in res.items() if k != "invocation"})
    assert "sekr1t" not in text

    (slack,) = records("slack")
    assert slack["path"].endswith("/T000/B000/sekr1t-webhook") and slack["content_type"] == "application/json"
    assert slack["body"]["text"].startswith("*:red_circle: [P1] INC-2026-01-01-042: API down*")
    assert [b["type"] for b in slack["body"]["blocks"]] == ["header", "section", "section", "context"]
    (mm,) = records("mattermost")
    assert mm["body"]["username"] == "incident-bot" and "API answers 502" in mm["body"]["text"]
    (pd,) = records("pagerduty")
    assert {k: pd["body"][k] for k in ("routing_key", "event_action", "dedup_key")} == dict(
        routing_key="pd-sekr1t-key", event_action="trigger", dedup_key="INC-2026-01-01-042")
    assert pd["body"]["payload"]["severity"] == "error" and pd["body"]["payload"]["custom_details"]["Services"] == "api"
    (sp,) = records("statuspage")
    assert sp["path"].endswith("/pages/lab/incidents") and sp["authorization"] == "present"
    assert sp["body"]["incident"]["status"] == "investigating" and sp["body"]["incident"]["body"] == "We are investigating API errors."
    (hook,) = records("webhook")
    assert hook["body"]["incident_id"] == "INC-2026-01-01-042" and hook["body"]["stage"] == "initial" and hook["body"]["sent_at"]


def test_retries_after_injected_failures(sink, lab):
    url, records, base = sink
    lab.http(base + "/_sink/fail", "POST", {"path": url("slack").replace(base, ""), "status": 503, "count": 2})
    res = run_module("notify", notify_args(url, channels=[dict(type="slack", url=url("slack"))]))
    assert res["all_delivered"] and (res["deliveries"][0]["attempts"], res["deliveries"][0]["status"]) == (3, 200)
    assert [r.get("answered") for r in records("slack")] == [503, 503, None]


def test_permanent_failure_is_recorded_not_fatal(sink, lab):
    url, records, base = sink
    lab.http(base + "/_sink/fail", "POST", {"path": url("webhook").replace(base, ""), "status": 500, "count": 3})
    args = notify_args(url, retries=2, channels=[dict(type="webhook", url=url("webhook")), dict(type="slack", url=url("slack"))])
    res = run_module("notify", args)
    assert not res.get("failed") and res["failed_channels"] == ["webhook"] and res["delivered"] == 1
    webhook = res["deliveries"][0]
    assert (webhook["ok"], webhook["status"], webhook["attempts"]) == (False, 500, 3) and "injected failure" in webhook["error"]
    assert len(records("webhook")) == 3 and len(records("slack")) == 1
    lab.http(base + "/_sink/fail", "POST", {"path": url("webhook").replace(base, ""), "status": 500, "count": 1})
    res = run_module("notify", dict(args, retries=0, fail_on_error=True))
    assert res["failed"] and res["msg"] == "notification failed on webhook"


def test_communicate_role_runs_a_whole_incident(sink, tmp_path):
    url, records, _base = sink
    smtp = SMTPReceiver()
    template = tmp_path / "resolution.j2"
    template.write_text("All clear on {{ communicate_title }} after {{ communicate_duration }} (custom template)\n")
    incident_id = "INC-2026-01-01-%03d" % (uuid.uuid4().int % 900 + 100)
    chans = channels(url)[:1] + channels(url)[2:] + [
        dict(type="email", host="127.0.0.1", port=smtp.port, recipients=["oncall@example.com"]),
        dict(type="webhook", name="broken", url="http://127.0.0.1:1/nothing")]
    try:
        proc = run_playbook("tests/integration/playbooks/communicate.yml", timeout=150, env={"INCIDENT_ROOT": str(tmp_path)},
                            extra_vars=dict(incident_id=incident_id, communicate_channels=chans, communicate_retries=1,
                                            communicate_backoff=0.05, communicate_templates={"resolution": str(template)}))
    finally:
        smtp.close()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "notice not delivered to broken" in out and "sekr1t" not in out
    slack = [r["body"]["text"] for r in records("slack")]
    assert len(slack) == 3
    assert "P1 incident declared: API down" in slack[0] and "Restarting the api container" in slack[0]
    assert "Next update in 30 minutes." in slack[0] and "Suspected cause: api process killed" in slack[1]
    assert "All clear on API down after 4 minutes (custom template)" in slack[2]
    assert [(r["body"]["event_action"], r["body"]["dedup_key"]) for r in records("pagerduty")] == [
        ("trigger", incident_id), ("trigger", incident_id), ("resolve", incident_id)]
    assert [r["body"]["incident"]["status"] for r in records("statuspage")] == ["investigating", "monitoring", "resolved"]
    assert [r["body"]["stage"] for r in records("webhook")] == ["initial", "update", "resolution"]
    assert [m["Subject"] for m in smtp.messages] == ["[P1] %s: API down" % incident_id, "[P1] %s: API down (update)" % incident_id,
                                                     "[P1] %s: API down (resolved)" % incident_id]
    assert os.path.isdir(tmp_path / incident_id)
