import json

from ansible_collections.incident.response.plugins.modules import incident_report
from tests.ansible import run_module

INC = "INC-2026-11-23-042"
CANNED = [
    {"ts": "2026-11-23T10:04:00.000Z", "type": "run_start", "playbook": "api-down.yml"},
    {"type": "milestone", "event": "detected", "at": "2026-11-23T10:05:00.000Z", "message": "Alert TaskSchedulerAPIDown",
     "severity": "P1", "impact_started_at": "2026-11-23T10:02:00.000Z"},
    {"type": "milestone", "event": "declared", "at": "2026-11-23T10:06:00.000Z", "message": "API down", "severity": "P1"},
    {"type": "milestone", "event": "acknowledged", "at": "2026-11-23T10:06:30.000Z", "message": "ack", "owner": "alice"},
    {"type": "task", "start": "2026-11-23T10:10:00.000Z", "end": "2026-11-23T10:10:20.000Z", "task": "Restart the API",
     "host": "lab", "role": "remediate_api", "action": "incident.response.service_restart", "status": "changed",
     "duration_s": 20},
    {"type": "task", "start": "2026-11-23T10:11:00.000Z", "end": "2026-11-23T10:11:01.000Z", "task": "Check health",
     "host": "lab", "action": "incident.response.http_check", "status": "ok", "duration_s": 1},
    {"type": "task", "start": "2026-11-23T10:12:00.000Z", "end": "2026-11-23T10:12:01.000Z", "task": "Clear cache",
     "host": "lab", "action": "ansible.builtin.uri", "status": "rescued", "failed": True, "duration_s": 1,
     "result": {"msg": "HTTP 500"}},
    {"type": "milestone", "event": "mitigated", "at": "2026-11-23T10:15:00.000Z", "message": "Service restored"},
    {"type": "milestone", "event": "resolved", "at": "2026-11-23T11:05:00.000Z", "message": "Bad deploy rolled back"},
]


def _write(tmp_path):
    directory = tmp_path / INC
    directory.mkdir()
    with open(directory / "timeline.jsonl", "w") as fh:
        for event in CANNED:
            fh.write(json.dumps(event) + "\n")
        fh.write('{"type": "task", "torn')
    return directory


def test_summary_metrics_from_canned_timeline():
    s = incident_report.build_summary(INC, CANNED, {})
    m = s["metrics"]
    assert (m["mttd_s"], m["mtta_s"], m["mttm_s"], m["mttr_s"], m["customer_impact_s"]) == (180, 90, 600, 3600, 780)
    assert s["status"] == "resolved" and s["severity"] == "P1" and s["title"] == "API down"
    assert s["detection_method"] == "Alert TaskSchedulerAPIDown" and s["resolution"] == "Bad deploy rolled back"
    assert s["duration_s"] == 3780
    assert s["tasks"]["changed"] == 1 and s["tasks"]["ok"] == 1 and s["tasks"]["rescued"] == 1
    assert [a["task"] for a in s["actions_taken"]] == ["Restart the API"]
    assert [f["task"] for f in s["failures"]] == ["Clear cache"]


def test_module_writes_three_documents_and_keeps_human_edits(tmp_path):
    directory = _write(tmp_path)
    res = run_module("incident_report", dict(incident_id=INC, root=str(tmp_path), impact="502s for all API calls"))
    assert res["changed"], res
    report = (directory / "report.md").read_text()
    for part in ("## Summary", "**Severity**: P1", "**Detection**: Alert TaskSchedulerAPIDown", "**Duration**: 1h 03m 00s",
                 "502s for all API calls", "## Timeline", "## Actions taken", "Restart the API", "## Resolution",
                 "Bad deploy rolled back"):
        assert part in report
    review = (directory / "post-incident-review.md").read_text()
    for part in ("# Post-Incident Review: " + INC, "## Timeline", "| Time (UTC) | Event | Actions Taken | Owner |",
                 "### Immediate (1 week)", "### Short-term (1 month)", "### Long-term (3+ months)", "## Lessons Learned",
                 "> FILL IN (incident-commander):"):
        assert part in review
    summary = json.loads((directory / "summary.json").read_text())
    assert summary["metrics"]["mttr_s"] == 3600

    edited = review.replace("### What Happened?\n", "### What Happened?\nA bad deploy broke readiness.\n")
    (directory / "post-incident-review.md").write_text(edited)
    again = run_module("incident_report", dict(incident_id=INC, root=str(tmp_path), impact="all API calls failed"))
    assert again["changed"]
    review = (directory / "post-incident-review.md").read_text()
    assert "A bad deploy broke readiness." in review and "all API calls failed" in review
    assert not run_module("incident_report", dict(incident_id=INC, root=str(tmp_path), impact="all API calls failed"))["changed"]


def test_check_mode_writes_nothing(tmp_path):
    directory = _write(tmp_path)
    res = run_module("incident_report", dict(incident_id=INC, root=str(tmp_path)), check=True)
    assert not res["changed"] and res["summary"]["metrics"]["mttm_s"] == 600
    assert sorted(p.name for p in directory.iterdir()) == ["timeline.jsonl"]


def test_missing_timeline_and_bad_id_fail(tmp_path):
    res = run_module("incident_report", dict(incident_id="INC-2026-11-23-999", root=str(tmp_path)))
    assert res["failed"] and "no timeline" in res["msg"]
    res = run_module("incident_report", dict(incident_id="../../etc", root=str(tmp_path)))
    assert res["failed"] and "invalid incident id" in res["msg"]
