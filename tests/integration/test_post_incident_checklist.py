"""post-incident.yml checks runbook 004's post-incident checklist on the lab - verification, notices on the
timeline, the ticket (a fake GitHub run by the test), Prometheus targets and rules, the alert in
Alertmanager, the post-mortem for SEV1/SEV2, workarounds, follow-ups - lists the rest for a human and
writes the checklist into report.md, report.html, post-incident-review.md and summary.json."""
import json
import os
import re

from tests.ansible import REPO, run_playbook
from tests.ticket_fakes import FakeTracker

PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")
ITEMS = ["Service fully restored and verified", "Stakeholders notified of resolution", "Incident ticket created with full timeline",
         "Monitoring/alerts verified working", "Post-mortem scheduled (SEV1/SEV2)", "Temporary workarounds documented",
         "Follow-up tasks created for permanent fixes"]


def checklist(report):
    """{item: (ticked, label and detail)} from the report's checklist section."""
    section = report.split("## Post-incident checklist", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^- \[( |x)\] (.+?) - (.*)$", section, re.M)
    return dict((item, (box == "x", rest)) for box, item, rest in rows)


def record_incident(root, incident_id):
    res = run_playbook(os.path.join(PLAYBOOKS, "timeline_milestones.yml"), env={"INCIDENT_ROOT": root},
                       extra_vars={"incident_id": incident_id})
    assert res.returncode == 0, res.stdout[-2000:]
    return os.path.join(root, incident_id)


def test_post_incident_checklist_in_the_report(healthy_lab, tmp_path):
    root, incident_id = str(tmp_path), "INC-2026-11-30-701"
    directory = record_incident(root, incident_id)
    github = FakeTracker("github")
    try:
        res = run_playbook(os.path.join(REPO, "playbooks", "post-incident.yml"), env={"INCIDENT_ROOT": root}, extra_vars={
            "incident_id": incident_id, "alert_name": "TaskSchedulerAPIDown", "post_incident_silence_alerts": [],
            "incident_ticket_tracker": github.conf(), "post_incident_workarounds": ["worker pool scaled to 4 until the fix ships"]})
        assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    finally:
        github.close()
    report = open(os.path.join(directory, "report.md")).read()
    items = checklist(report)
    assert list(items) == ITEMS, items
    assert items["Service fully restored and verified"] == (True, "checked: health checks and data-integrity checks passed; status resolved")
    ticked, text = items["Monitoring/alerts verified working"]
    assert ticked, text
    up = re.search(r"Prometheus targets up (\d+)/(\d+); (\d+) alert rules loaded; TaskSchedulerAPIDown active in Alertmanager: none", text)
    assert up and up.group(1) == up.group(2) and int(up.group(2)) >= 5 and int(up.group(3)) >= 10, text
    # The incident ticket was opened at the review (none at the declaration here), the P1's post-mortem is a follow-up.
    [incident] = github.tickets(followups=False)
    assert items["Incident ticket created with full timeline"][0] and "checked: %s https://github.example/" % incident["key"] in report
    assert incident["state"] == "closed" and "## Post-incident checklist" in incident["comments"][-1]
    [meeting] = github.tickets(followups=True)
    assert meeting["summary"] == "Post-mortem of %s (P1): hold the review meeting" % incident_id
    assert items["Post-mortem scheduled (SEV1/SEV2)"] == (True, "checked: follow-up ticket %s %s" % (
        meeting["key"], "https://github.example/acme/ops/issues/%s" % meeting["key"]))
    assert items["Temporary workarounds documented"] == (
        True, "checked: in the report (actions taken) - undo when the permanent fix lands: worker pool scaled to 4 until the fix ships")
    # Not checkable by a machine here: no notice on this timeline, no action item written in the review yet.
    assert items["Stakeholders notified of resolution"][0] is False and "**to do**: no resolution notice on the timeline" in report
    assert items["Follow-up tasks created for permanent fixes"] == (
        False, "**for a human**: write the action items in post-incident-review.md and re-run post-incident.yml: each becomes a follow-up ticket")
    assert "Follow-up tasks created for permanent fixes: write the action items" in res.stdout  # listed for a human
    review = open(os.path.join(directory, "post-incident-review.md")).read()
    assert "## Post-Incident Checklist\n<!-- generated:checklist" in review
    assert review.index("## Post-Incident Checklist") < review.index("## Root Cause Analysis")
    html = open(os.path.join(directory, "report.html")).read()
    assert "\u2611 Service fully restored and verified" in html and "\u2610 Stakeholders notified of resolution" in html
    summary = json.load(open(os.path.join(directory, "summary.json")))
    assert [c["item"] for c in summary["checklist"]] == ITEMS


def test_post_incident_checklist_without_a_tracker_lists_the_work_for_a_human(healthy_lab, tmp_path):
    root, incident_id = str(tmp_path), "INC-2026-11-30-702"
    directory = record_incident(root, incident_id)
    res = run_playbook(os.path.join(REPO, "playbooks", "post-incident.yml"), env={"INCIDENT_ROOT": root}, extra_vars={
        "incident_id": incident_id, "post_incident_silence_alerts": [], "incident_ticket_tracker": {},
        "post_incident_postmortem_scheduled": "2026-12-01 14:00 UTC, room Ada"})
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    items = checklist(open(os.path.join(directory, "report.md")).read())
    assert items["Incident ticket created with full timeline"] == (
        False, "**for a human**: no tracker configured (incident_ticket_tracker): create the ticket by hand with timeline.md")
    assert items["Post-mortem scheduled (SEV1/SEV2)"] == (True, "checked: 2026-12-01 14:00 UTC, room Ada")
    assert items["Temporary workarounds documented"] == (False, "**for a human**: none recorded on the timeline: confirm none was applied by hand")
    assert not os.path.exists(os.path.join(directory, "tickets.json"))
    # The checklist stays in the report when it is written again without one (p0-outage's postmortem, a re-run).
    res = run_playbook(os.path.join(PLAYBOOKS, "timeline_milestones.yml"), env={"INCIDENT_ROOT": root}, extra_vars={"incident_id": incident_id})
    assert res.returncode == 0
    assert list(checklist(open(os.path.join(directory, "report.md")).read())) == ITEMS
