import json

from tests.ansible import run_module


def test_returns_the_milestone_and_changes_nothing():
    res = run_module("incident_event", dict(event="mitigated", msg="Service restored", severity="P1",
                                            impact_started_at="2026-11-23T10:00:00+01:00"))
    assert res["changed"] is False
    ev = res["incident_event"]
    assert (ev["event"], ev["message"], ev["severity"]) == ("mitigated", "Service restored", "P1")
    assert ev["impact_started_at"] == "2026-11-23T09:00:00.000Z" and ev["at"].endswith("Z")


def test_message_is_redacted():
    res = run_module("incident_event", dict(event="note", msg="used postgresql://app:pw-9876@db/x"))
    assert "pw-9876" not in json.dumps(res["incident_event"])


def test_bad_time_and_unknown_event_fail():
    assert "ISO 8601" in run_module("incident_event", dict(event="note", msg="x", at="noon"))["msg"]
    assert run_module("incident_event", dict(event="fixed", msg="x"))["failed"]


def test_write_appends_without_the_callback(tmp_path):
    args = dict(event="declared", msg="API down", write=True, incident_id="INC-2026-11-23-003", root=str(tmp_path))
    res = run_module("incident_event", args)
    line = json.loads(open(res["written_to"]).read())
    assert line["type"] == "milestone" and line["event"] == "declared" and line["incident_id"] == "INC-2026-11-23-003"
    assert not run_module("incident_event", args, check=True).get("written_to")
