#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: incident_report
short_description: Write the incident report, the post-incident review and summary.json from the timeline
version_added: "0.1.0"
description:
  - Reads C(<root>/<incident_id>/timeline.jsonl) (written by the M(incident.response.timeline)
    callback) and writes, in the same directory,
    C(report.md) (summary, severity, detection method, duration, impact, timeline, actions taken, resolution),
    C(post-incident-review.md) (the runbooks' review template - summary, timeline table, root cause
    sections, action items by horizon, lessons learned - with what is known filled in and the human
    parts left as prompts marked C(> FILL IN (owner\)) and C(summary.json).
  - Also writes C(timeline.svg), the incident on one time axis (detection, declaration, containment,
    each action of the acting modules as a bar of its duration, escalation, mitigation, resolution,
    customer impact shaded), shown in C(report.md) and in the review's timeline section as an image,
    and C(report.html), the report as a standalone page (no script) with the picture inline. Text in
    both is redacted and escaped.
  - Metrics come from the milestones written by M(incident.response.incident_event) - MTTD
    (impact start to detected), MTTA (detected to acknowledged), MTTM (detected to mitigated),
    MTTR (detected to resolved) and customer-impact duration (impact start, else detected, to
    mitigated, else resolved). A missing milestone gives C(null), never a guess.
  - Re-running refreshes the generated parts of C(post-incident-review.md) (between
    C(<!-- generated:... -->) markers) and keeps everything people wrote outside them.
  - In check mode everything is computed and returned, nothing is written.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
options:
  incident_id:
    description: Incident to report on; defaults to env E(INCIDENT_ID) (set by the timeline callback).
    type: str
  root:
    description: Incident root directory; defaults to env E(INCIDENT_ROOT), else C(./incidents).
    type: path
  title:
    description: Incident title (defaults to the message of the first C(declared) or C(detected) milestone).
    type: str
  severity:
    description: Severity (defaults to the last severity stated in a milestone).
    type: str
    choices: [P0, P1, P2, P3]
  detection_method:
    description: How the incident was detected (alert name, customer report...).
    type: str
  services_affected:
    description: Services affected.
    type: list
    elements: str
    default: []
  impact:
    description: Customer impact, in words.
    type: str
  impact_started_at:
    description: When customer impact began (ISO 8601); overrides the value given on milestones.
    type: str
  resolution:
    description: How it was resolved (defaults to the message of the last C(resolved) or C(mitigated) milestone).
    type: str
  owner:
    description: Who the C(FILL IN) prompts of the review are addressed to.
    type: str
    default: incident-commander
  checklist:
    description:
      - The post-incident checklist (runbook 004), rendered into C(report.md), C(report.html) and the
        review (a generated block) and kept in C(checklist.json) and C(summary.json).
      - Without it the checklist of C(checklist.json) (the last one given) is rendered, if any.
    type: list
    elements: dict
    suboptions:
      item:
        description: The checklist item, in the runbook's words.
        type: str
        required: true
      status:
        description:
          - C(done) checked by a machine, C(todo) checked and not done, C(human) for a person to check,
            C(n/a) not applicable (for example the post-mortem meeting of a SEV3).
        type: str
        required: true
        choices: [done, todo, human, n/a]
      detail:
        description: What was checked, or what the person has to do.
        type: str
"""

EXAMPLES = r"""
- name: Finalise the incident report
  incident.response.incident_report:
    incident_id: "{{ lookup('incident.response.incident_id') }}"
    title: Task scheduler API down
    severity: P1
    detection_method: "Alertmanager: TaskSchedulerAPIDown"
    services_affected: [api, nginx]
    impact: API requests failed with 502
"""

RETURN = r"""
summary:
  description: The content of C(summary.json).
  returned: always
  type: dict
  contains:
    incident_id:
      description: The incident.
      type: str
      sample: INC-2026-11-23-001
    status:
      description: C(open), C(mitigated) or C(resolved), from the milestones.
      type: str
      sample: resolved
    metrics:
      description: C(mttd_s), C(mtta_s), C(mttm_s), C(mttr_s), C(customer_impact_s) (seconds or null) and milestone times.
      type: dict
      sample: {mtta_s: 12.5, mttm_s: 95.1, mttr_s: 310.0, mttd_s: null, customer_impact_s: 95.1}
    tasks:
      description: Count of task results by status.
      type: dict
      sample: {ok: 40, changed: 3, failed: 0, skipped: 5, unreachable: 0, rescued: 1, ignored: 0}
    actions_taken:
      description: Tasks that changed something (time, task, host, role).
      type: list
      elements: dict
      sample: [{at: "2026-11-23T17:02:11.120Z", task: Restart the API, host: lab, role: remediate_api}]
files:
  description: Files written (or that would be written in check mode).
  returned: always
  type: dict
  sample: {report: incidents/INC-2026-11-23-001/report.md, html: incidents/INC-2026-11-23-001/report.html,
           svg: incidents/INC-2026-11-23-001/timeline.svg}
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.incident import (
    TIMELINE, IncidentError, compute_metrics, event_time, fmt_duration, iso, locate, parse_iso, read_events,
    record_losses, render_timeline_md, task_counts, timeline_exists, timeline_table, write_text_atomic)
from ansible_collections.incident.response.plugins.module_utils.redact import redact, redact_text
from ansible_collections.incident.response.plugins.module_utils.report_html import html_document, markdown_to_html
from ansible_collections.incident.response.plugins.module_utils.timeline_svg import render_svg

GEN_START = "<!-- generated:%s (incident.response.incident_report; edits inside are replaced) -->"
GEN_END = "<!-- /generated:%s -->"
SVG_NAME = "timeline.svg"
CHECKLIST = "checklist.json"
CHECK_LABELS = {"done": "checked", "todo": "**to do**", "human": "**for a human**", "n/a": "not applicable"}


def _picture(incident_id):
    """The timeline picture as a Markdown image (GitHub and GitLab show an SVG only through an image)."""
    return "![Timeline of %s](%s)" % (incident_id, SVG_NAME)


def _milestones(events, *names):
    return [e for e in events if e.get("type") == "milestone" and (not names or e.get("event") in names)]


def _last_message(events, *names):
    found = sorted(_milestones(events, *names), key=event_time)
    return found[-1].get("message") if found else None


def build_summary(incident_id, events, params, stats=None):
    tasks = [e for e in events if e.get("type") == "task"]
    metrics = compute_metrics(events, params.get("impact_started_at"))
    milestones = sorted(_milestones(events), key=event_time)
    severities = [m.get("severity") for m in milestones if m.get("severity")]
    stamps = sorted(event_time(e) for e in events if event_time(e))
    marks = metrics["milestones"]
    status = "resolved" if marks["resolved"] else "mitigated" if marks["mitigated"] else "open"
    start = parse_iso(metrics["impact_started_at"] or marks["detected"] or marks["declared"] or (stamps[0] if stamps else None))
    end = parse_iso(marks["resolved"])
    actions = [dict(at=t.get("end"), task=t.get("task"), host=t.get("host"), role=t.get("role"), action=t.get("action"))
               for t in sorted(tasks, key=event_time) if t.get("status") == "changed" and not t.get("check_mode")]
    failures = [dict(at=t.get("end"), task=t.get("task"), host=t.get("host"), status=t.get("status"),
                     msg=(t.get("result") or {}).get("msg"))
                for t in sorted(tasks, key=event_time) if t.get("status") in ("failed", "unreachable", "rescued")]
    first_detect = (_milestones(events, "declared") or _milestones(events, "detected") or [{}])[0]
    return dict(
        incident_id=incident_id,
        title=params.get("title") or first_detect.get("message") or incident_id,
        severity=params.get("severity") or (severities[-1] if severities else None),
        status=status,
        detection_method=params.get("detection_method") or (_milestones(events, "detected") or [{}])[0].get("message"),
        services_affected=params.get("services_affected") or [],
        impact=params.get("impact"),
        resolution=params.get("resolution") or _last_message(events, "resolved", "mitigated"),
        started_at=iso(start) if start else None,
        resolved_at=marks["resolved"],
        duration_s=round((end - start).total_seconds(), 3) if start and end and end >= start else None,
        record=record_losses(events, stats),
        metrics=metrics,
        milestones=[dict((k, m.get(k)) for k in ("at", "event", "message", "severity", "owner") if m.get(k))
                    for m in milestones],
        tasks=task_counts(tasks),
        hosts=sorted(set(t.get("host") for t in tasks if t.get("host"))),
        runs=len([e for e in events if e.get("type") == "run_start"]),
        actions_taken=actions,
        failures=failures,
        first_event=stamps[0] if stamps else None,
        last_event=stamps[-1] if stamps else None,
        generated_at=iso(),
    )


def _todo(owner, text):
    return "> FILL IN (%s): %s" % (owner, text)


def _or_todo(value, owner, text):
    return value if value else _todo(owner, text)


def _dur(seconds):
    return fmt_duration(seconds) if seconds is not None else "n/a (milestone missing)"


def render_checklist(items):
    """The checklist as a Markdown task list (ticked: done or not applicable)."""
    lines = ["_Runbook 004's post-incident checklist, checked by `playbooks/post-incident.yml` where a machine can;"
             " the rest is for a human._", ""]
    for entry in items:
        status = entry.get("status")
        detail = " ".join(str(entry.get("detail") or "").split())
        lines.append("- [%s] %s - %s%s" % ("x" if status in ("done", "n/a") else " ", entry.get("item"),
                                           CHECK_LABELS.get(status, status), ": " + detail if detail else ""))
    return "\n".join(lines) + "\n"


def _record_lines(record, anomalies):
    """What the record lost or could not compute: "N events lost" (from the run_end events), torn lines, anomalies."""
    lines = []
    if record.get("lost_events") or record.get("spilled_events") or record.get("torn_lines"):
        lines.append("**Record**: %d events lost, %d written to the fallback directory, %d torn lines in the timeline"
                     % (record.get("lost_events", 0), record.get("spilled_events", 0), record.get("torn_lines", 0)))
        lines += ["- lost: %s" % ", ".join("%s=%s" % kv for kv in sorted(d.items())) for d in record.get("lost", [])[:50]]
        lines.append("")
    if anomalies:
        lines += ["**Times that go backwards** (those metrics are not computed):"] + ["- %s" % a for a in anomalies] + [""]
    return lines


def render_report(s, events, owner):
    m = s["metrics"]
    lines = [
        "# Incident Report: %s" % s["incident_id"], "", "**%s**" % s["title"], "",
        "## Summary",
        "- **Incident ID**: %s" % s["incident_id"],
        "- **Status**: %s" % s["status"],
        "- **Severity**: %s" % (s["severity"] or "not stated"),
        "- **Detection**: %s" % (s["detection_method"] or "not recorded"),
        "- **Started**: %s" % (s["started_at"] or "unknown"),
        "- **Duration**: %s" % (_dur(s["duration_s"]) if s["resolved_at"] else "ongoing (no resolved milestone)"),
        "- **Impact**: %s" % (s["impact"] or "not described"),
        "- **Services affected**: %s" % (", ".join(s["services_affected"]) or "not listed"),
        "",
        "## Response metrics",
        "| Metric | Value |", "|---|---|",
        "| Time to detect (MTTD) | %s |" % _dur(m["mttd_s"]),
        "| Time to acknowledge (MTTA) | %s |" % _dur(m["mtta_s"]),
        "| Time to mitigate (MTTM) | %s |" % _dur(m["mttm_s"]),
        "| Time to resolve (MTTR) | %s |" % _dur(m["mttr_s"]),
        "| Customer impact | %s |" % _dur(m["customer_impact_s"]),
        "",
    ] + _record_lines(s.get("record") or {}, m.get("anomalies") or []) + [
        "## Timeline",
        _picture(s["incident_id"]), "",
        "Milestones and the tasks that changed or failed something (every task: `timeline.md`).", "",
        timeline_table([e for e in events if e.get("type") == "milestone"
                        or (e.get("type") == "task" and e.get("status") in ("changed", "failed", "unreachable", "rescued"))]),
        "## Actions taken",
    ]
    lines += ["- %s `%s` on %s%s" % (a["at"], a["task"], a["host"], " (role %s)" % a["role"] if a["role"] else "")
              for a in s["actions_taken"]] or ["- none recorded"]
    if s["failures"]:
        lines += ["", "## Failures during the response"]
        for f in s["failures"]:
            detail = " - %s" % f["msg"] if f.get("msg") else ""
            lines.append("- %s `%s` on %s: %s%s" % (f["at"], f["task"], f["host"], f["status"], detail))
    lines += ["", "## Resolution", s["resolution"] or _todo(owner, "describe how the incident was resolved"), ""]
    if s.get("checklist"):
        lines += ["## Post-incident checklist", render_checklist(s["checklist"])]
    lines += ["## Root cause", _todo(owner, "to be determined in the post-incident review"), ""]
    return "\n".join(lines)


def _block(name, body):
    return "%s\n%s\n%s" % (GEN_START % name, body.rstrip("\n"), GEN_END % name)


def render_review(s, events, owner):
    summary = "\n".join([
        "- **Incident ID**: %s" % s["incident_id"],
        "- **Date/Time**: %s to %s" % (s["started_at"] or "unknown", s["resolved_at"] or "ongoing"),
        "- **Duration**: %s" % (_dur(s["duration_s"]) if s["resolved_at"] else "ongoing"),
        "- **Severity**: %s" % (s["severity"] or "not stated"),
        "- **Services Affected**: %s" % (", ".join(s["services_affected"]) or "not listed"),
        "- **Customer Impact**: %s" % (s["impact"] or "not described"),
        "- **Resolution**: %s" % (s["resolution"] or "not recorded"),
        "- **MTTD / MTTA / MTTM / MTTR**: %s / %s / %s / %s" % tuple(
            _dur(s["metrics"][k]) for k in ("mttd_s", "mtta_s", "mttm_s", "mttr_s")),
        "- **Customer impact duration**: %s" % _dur(s["metrics"]["customer_impact_s"]),
    ])
    rows = [_picture(s["incident_id"]), "", "| Time (UTC) | Event | Actions Taken | Owner |", "|---|---|---|---|"]
    for e in sorted(events, key=event_time):
        stamp = event_time(e).replace("T", " ")[:19]
        if e.get("type") == "milestone":
            text = (e.get("message") or "").replace("|", "\\|")
            rows.append("| %s | %s: %s |  | %s |" % (stamp, e.get("event", "").capitalize(), text, e.get("owner") or ""))
        elif e.get("type") == "task" and e.get("status") in ("changed", "failed", "rescued", "unreachable"):
            task = (e.get("task") or "").replace("|", "\\|")
            rows.append("| %s |  | %s on %s (%s) | automation |" % (stamp, task, e.get("host"), e.get("status")))
    return "\n".join([
        "# Post-Incident Review: %s" % s["incident_id"], "", "**%s**" % s["title"], "",
        "## Incident Summary", _block("summary", summary), "",
        "## Timeline", _block("timeline", "\n".join(rows)), "",
    ] + (["## Post-Incident Checklist", _block("checklist", render_checklist(s["checklist"])), ""] if s.get("checklist") else []) + [
        "## Root Cause Analysis", "",
        "### What Happened?", _todo(owner, "detailed technical explanation (the timeline above is the factual basis)"), "",
        "### Contributing Factors",
        "1. Technical factors: " + _todo(owner, "..."),
        "2. Process factors: " + _todo(owner, "..."),
        "3. Environmental factors: " + _todo(owner, "..."), "",
        "### Why It Wasn't Prevented", _todo(owner, "gap analysis"), "",
        "### Why It Wasn't Detected Sooner",
        _todo(owner, "monitoring gaps (time to detect: %s)" % _dur(s["metrics"]["mttd_s"])), "",
        "## Action Items", "",
        "### Immediate (1 week)", "- [ ] " + _todo(owner, "action - owner - due date"), "",
        "### Short-term (1 month)", "- [ ] " + _todo(owner, "action - owner - due date"), "",
        "### Long-term (3+ months)", "- [ ] " + _todo(owner, "action - owner - due date"), "",
        "## Lessons Learned",
        "1. What went well? " + _todo(owner, "..."),
        "2. What could be improved? " + _todo(owner, "..."),
        "3. What should we do differently? " + _todo(owner, "..."), "",
        "## Process Improvements",
        "- Runbook updates needed: " + _todo(owner, "..."),
        "- Monitoring improvements: " + _todo(owner, "..."),
        "- Alert tuning: " + _todo(owner, "..."),
        "- Training requirements: " + _todo(owner, "..."), "",
    ])


def merge_review(existing, fresh):
    """Replace only the generated blocks of an existing review; keep what people wrote."""
    for name in ("summary", "timeline", "checklist"):
        start, end = GEN_START % name, GEN_END % name
        if start in existing and end in existing and start in fresh:
            new_block = fresh[fresh.index(start):fresh.index(end) + len(end)]
            existing = existing[:existing.index(start)] + new_block + existing[existing.index(end) + len(end):]
        elif name == "checklist" and start in fresh:
            # A review written before the checklist existed: add the section before the root cause analysis.
            section = "## Post-Incident Checklist\n" + fresh[fresh.index(start):fresh.index(end) + len(end)] + "\n\n"
            anchor = existing.find("## Root Cause Analysis")
            existing = existing[:anchor] + section + existing[anchor:] if anchor >= 0 else existing.rstrip("\n") + "\n\n" + section
    return existing


def _write(path, text, same=None):
    """Write atomically when the content changed; return whether it did. Every text is redacted here, last
    (the run's known secret values and the detectors), whatever its parts went through before."""
    text = redact_text(text)
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
        if (same or (lambda a, b: a == b))(old, text):
            return False
    write_text_atomic(path, text)
    return True


def _same_summary(old, new):
    try:
        old, new = json.loads(old), json.loads(new)
    except ValueError:
        return False
    old.pop("generated_at", None)
    new.pop("generated_at", None)
    return old == new


def main():
    module = AnsibleModule(
        argument_spec=dict(
            incident_id=dict(type="str"),
            root=dict(type="path"),
            title=dict(type="str"),
            severity=dict(type="str", choices=["P0", "P1", "P2", "P3"]),
            detection_method=dict(type="str"),
            services_affected=dict(type="list", elements="str", default=[]),
            impact=dict(type="str"),
            impact_started_at=dict(type="str"),
            resolution=dict(type="str"),
            owner=dict(type="str", default="incident-commander"),
            checklist=dict(type="list", elements="dict", options=dict(
                item=dict(type="str", required=True),
                status=dict(type="str", required=True, choices=["done", "todo", "human", "n/a"]),
                detail=dict(type="str"))),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        incident_id, _root, directory = locate(p["incident_id"], p["root"])
    except IncidentError as exc:
        module.fail_json(msg=str(exc))
    if p["impact_started_at"] and parse_iso(p["impact_started_at"]) is None:
        module.fail_json(msg="impact_started_at=%r is not an ISO 8601 time" % p["impact_started_at"])
    timeline = os.path.join(directory, TIMELINE)
    if not timeline_exists(timeline):
        module.fail_json(msg="no timeline at %s: was the incident.response.timeline callback enabled "
                             "for the response runs (callbacks_enabled)?" % timeline)
    stats = {}
    events = read_events(timeline, stats)
    checklist_path = os.path.join(directory, CHECKLIST)
    checklist = p["checklist"]
    if checklist is None and os.path.exists(checklist_path):
        try:
            with open(checklist_path) as fh:
                checklist = json.load(fh).get("items")
        except (OSError, ValueError, AttributeError):
            checklist = None
    summary = build_summary(incident_id, events, p, stats)
    if checklist:
        summary["checklist"] = [dict((k, c.get(k)) for k in ("item", "status", "detail")) for c in checklist]
    summary = redact(summary)
    files = dict(report=os.path.join(directory, "report.md"), review=os.path.join(directory, "post-incident-review.md"),
                 summary=os.path.join(directory, "summary.json"), timeline=os.path.join(directory, "timeline.md"),
                 svg=os.path.join(directory, SVG_NAME), html=os.path.join(directory, "report.html"))
    review = render_review(summary, events, p["owner"])
    if os.path.exists(files["review"]):
        with open(files["review"]) as fh:
            review = merge_review(fh.read(), review)
    report = redact(render_report(summary, events, p["owner"]))
    svg = render_svg(incident_id, events, p["impact_started_at"], summary["title"])
    page = html_document("Incident Report: %s" % incident_id, markdown_to_html(report, {SVG_NAME: svg}))
    changed = False
    if not module.check_mode:
        try:
            changed |= _write(files["report"], report)
            changed |= _write(files["svg"], svg)
            changed |= _write(files["html"], page)
            changed |= _write(files["review"], redact(review))
            changed |= _write(files["summary"], json.dumps(summary, indent=2, sort_keys=True) + "\n", _same_summary)
            changed |= _write(files["timeline"], redact(render_timeline_md(incident_id, events)))
            if p["checklist"] is not None:
                changed |= _write(checklist_path, json.dumps({"items": summary.get("checklist") or []}, indent=2, sort_keys=True) + "\n")
        except OSError as exc:
            module.fail_json(msg="cannot write the report into %s: %s" % (directory, exc))
    module.exit_json(changed=changed, summary=summary, files=files, checklist=summary.get("checklist") or [])


if __name__ == "__main__":
    main()
