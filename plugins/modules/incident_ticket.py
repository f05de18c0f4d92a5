#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: incident_ticket
short_description: Keep the incident ticket in Jira, ServiceNow, GitHub or GitLab - open, milestones, resolve, follow-ups
version_added: "0.1.0"
description:
  - The runbooks' "create incident ticket with timeline" and "follow-up tasks created for permanent fixes".
    O(state=open) creates the incident ticket (title, severity, the description and the milestones recorded
    so far), O(state=comment) appends a milestone (a comment; a work note in ServiceNow),
    O(state=resolved) attaches the report (Jira and ServiceNow attachments, a GitLab upload; on GitHub
    the report goes into the closing comment), adds the timeline and resolves or closes the ticket,
    O(state=followups) creates one ticket per action item (O(followups) and the action items people
    wrote in C(post-incident-review.md)), linked to the incident ticket.
  - Trackers - Jira REST API v2 (plain-text bodies) and v3 (Atlassian Document Format bodies), with
    Basic authentication (C(user) = e-mail and an API token) or a personal access token (Bearer);
    ServiceNow Table API (C(incident) table, Basic authentication); GitHub issues (Bearer token);
    GitLab issues (C(PRIVATE-TOKEN)).
  - Idempotent - the ticket (id, key, URL), the digests of the comments posted, the report attached
    and the follow-ups by key are kept in C(<root>/<incident_id>/tickets.json) (written atomically,
    under a lock). A re-run posts nothing twice and never opens a second ticket; a changed report is
    attached again.
  - Every call is retried with exponential backoff on network errors, 408, 429 and 5xx (C(Retry-After)
    honoured up to O(max_backoff)).
  - A tracker failure does not fail the task unless O(fail_on_error=true) - the result has
    RV(ok=false), RV(error) and a warning, so an unreachable tracker never blocks a remediation.
    What was done before the failure is recorded.
  - Text sent to the tracker is redacted; the token and password are never returned.
  - In check mode nothing is sent and nothing written; RV(planned) says what would be done.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
options:
  state:
    description:
      - C(open) the incident ticket (nothing is done when it is already open), C(comment) append O(text),
        C(resolved) attach the report and resolve, C(followups) create the follow-up tickets.
      - C(comment), C(resolved) and C(followups) open the ticket first when it is missing (for example
        because the tracker was down at the declaration), unless O(open_missing=false).
    type: str
    choices: [open, comment, resolved, followups]
    default: open
  tracker:
    description: The tracker.
    type: dict
    required: true
    suboptions:
      type:
        description: Which tracker.
        type: str
        required: true
        choices: [jira, servicenow, github, gitlab]
      name:
        description: Name of the ticket in C(tickets.json) (default the type), to keep tickets in two trackers apart.
        type: str
      url:
        description:
          - Base URL - the Jira site, the ServiceNow instance, the GitHub API (default C(https://api.github.com))
            or the GitLab server (default C(https://gitlab.com)).
        type: str
      project:
        description: Jira project key, GitHub C(owner/repo), GitLab project id or C(group/project). Not used by ServiceNow.
        type: str
      api_version:
        description: Jira REST API version; C(3) sends Atlassian Document Format bodies.
        type: str
        choices: ["2", "3"]
        default: "2"
      user:
        description: Jira e-mail (with an API token, Basic authentication) or ServiceNow user. Jira without it uses O(tracker.token) as a Bearer token.
        type: str
      token:
        description: Jira API token or personal access token, GitHub token, GitLab personal/project access token.
        type: str
      password:
        description: ServiceNow password.
        type: str
      issue_type:
        description: Jira issue type of the incident ticket (default C(Bug)); GitLab C(issue_type) (for example C(incident)).
        type: str
      followup_issue_type:
        description: Jira issue type of the follow-ups (default C(Task)).
        type: str
      labels:
        description: Labels of the tickets (Jira, GitHub, GitLab).
        type: list
        elements: str
        default: []
      priorities:
        description: Jira priority name per severity, for example C({P0 Highest, P1 High}).
        type: dict
        default: {}
      fields:
        description: Extra fields of a new Jira issue or ServiceNow record (custom fields, C(caller_id)...).
        type: dict
        default: {}
      link_type:
        description: Jira issue link type between the incident ticket and a follow-up; empty for no link.
        type: str
        default: Relates
      resolve_transitions:
        description: Jira transition (or target status) names tried in order to resolve the ticket.
        type: list
        elements: str
      table:
        description: ServiceNow table.
        type: str
        default: incident
      assignment_group:
        description: ServiceNow assignment group (sys_id or name).
        type: str
      close_code:
        description: ServiceNow resolution code.
        type: str
        default: Solved (Permanently)
      resolved_state:
        description: ServiceNow state value of a resolved incident.
        type: str
        default: "6"
      validate_certs:
        description: Verify TLS certificates.
        type: bool
        default: true
  incident_id:
    description: The incident; defaults to env E(INCIDENT_ID) (set by the timeline callback).
    type: str
  root:
    description: Incident root directory; defaults to env E(INCIDENT_ROOT), else C(./incidents).
    type: path
  title:
    description: Title of the incident ticket (default the incident id). The ticket's title gets the incident id in front.
    type: str
  text:
    description:
      - C(open) - the description (the milestones recorded so far are added, see O(include_timeline)).
        C(comment) - the milestone to append (required). C(resolved) - the resolution.
    type: str
  key:
    description: Identity of a comment (default a digest of O(text)); a comment whose key was posted is not posted again.
    type: str
  severity:
    description: Severity (P0-P3) - Jira priority, ServiceNow urgency and impact, a label.
    type: str
    choices: [P0, P1, P2, P3]
  include_timeline:
    description: Add the incident's milestones (from C(timeline.jsonl)) to the opening description and the resolution.
    type: bool
    default: true
  report:
    description: The report attached at O(state=resolved); default C(report.md) of the incident directory.
    type: path
  report_url:
    description: Where the report is published, linked in the resolution.
    type: str
  followups:
    description: Follow-up tickets to create at O(state=followups), each with C(title), optional C(key) (default from the title) and C(text).
    type: list
    elements: dict
    default: []
  from_review:
    description: At O(state=followups) also create one follow-up per action item written in C(post-incident-review.md).
    type: bool
    default: true
  open_missing:
    description: Open the ticket when a later state finds none recorded.
    type: bool
    default: true
  retries:
    description: Extra attempts per call after a retryable failure.
    type: int
    default: 2
  backoff:
    description: Base delay in seconds of the exponential backoff.
    type: float
    default: 0.5
  max_backoff:
    description: Longest wait between attempts, C(Retry-After) included.
    type: float
    default: 5.0
  skip_unreachable_for:
    description:
      - When the tracker did not answer at all (refused, timed out) after the retries, later calls within this
        many seconds fail at once with the same error instead of waiting again (the response goes on without
        delay). C(0) always tries.
    type: int
    default: 60
  timeout:
    description: Per-call timeout in seconds.
    type: float
    default: 10.0
  fail_on_error:
    description: Fail the task when the tracker call failed (default - warn, return RV(ok=false) and carry on).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Open the incident ticket at the declaration
  incident.response.incident_ticket:
    state: open
    title: API down
    severity: P0
    text: The API answers 502 since 03:12 UTC.
    tracker:
      type: jira
      url: https://example.atlassian.net
      api_version: "3"
      project: OPS
      user: oncall@example.com
      token: "{{ vault_jira_token }}"

- name: Append a milestone
  incident.response.incident_ticket:
    state: comment
    text: "Mitigated: api restarted, customers served again"
    tracker: "{{ incident_ticket_tracker }}"

- name: Resolve with the report, then one follow-up per action item of the review
  incident.response.incident_ticket:
    state: "{{ item }}"
    tracker: {type: github, project: acme/ops, token: "{{ vault_github_token }}"}
  loop: [resolved, followups]
"""

RETURN = r"""
ok:
  description: False when a tracker call failed (RV(error) says which); the task fails only with O(fail_on_error=true).
  returned: always
  type: bool
ticket:
  description: The incident ticket (empty when none could be opened).
  returned: always
  type: dict
  sample: {id: "10042", key: OPS-17, url: "https://example.atlassian.net/browse/OPS-17", tracker: jira}
action:
  description: What was done - C(opened), C(exists), C(commented), C(unchanged), C(resolved), C(report_updated), C(followups), C(failed).
  returned: always
  type: str
followups:
  description: The follow-ups of the incident (O(state=followups)), each key, title, ticket key, URL and whether this run created it.
  returned: always
  type: list
  elements: dict
  sample: [{key: "immediate:add-a-liveness-probe", title: Add a liveness probe, ticket: OPS-18, url: "...", created: true}]
calls:
  description: The HTTP calls made, each method, path, status and attempts (no bodies, no headers).
  returned: always
  type: list
  elements: dict
planned:
  description: In check mode, what would be done.
  returned: always
  type: list
  elements: str
record:
  description: Path of C(tickets.json).
  returned: always
  type: str
error:
  description: Why the tracker call failed.
  returned: when RV(ok) is false
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.http_client import safe_url
from ansible_collections.incident.response.plugins.module_utils.incident import (
    TIMELINE, IncidentError, iso, locate, read_events, timeline_table)
from ansible_collections.incident.response.plugins.module_utils.redact import redact_text
from ansible_collections.incident.response.plugins.module_utils.tickets import (
    TicketError, TicketRecord, action_items, digest, slug, tracker_for)

TRACKER_SPEC = dict(
    type=dict(type="str", required=True, choices=["jira", "servicenow", "github", "gitlab"]),
    name=dict(type="str"),
    url=dict(type="str"),
    project=dict(type="str"),
    api_version=dict(type="str", choices=["2", "3"], default="2"),
    user=dict(type="str"),
    token=dict(type="str", no_log=True),
    password=dict(type="str", no_log=True),
    issue_type=dict(type="str"),
    followup_issue_type=dict(type="str"),
    labels=dict(type="list", elements="str", default=[]),
    priorities=dict(type="dict", default={}),
    fields=dict(type="dict", default={}),
    link_type=dict(type="str", default="Relates"),
    resolve_transitions=dict(type="list", elements="str"),
    table=dict(type="str", default="incident"),
    assignment_group=dict(type="str"),
    close_code=dict(type="str", default="Solved (Permanently)"),
    resolved_state=dict(type="str", default="6"),
    validate_certs=dict(type="bool", default=True),
)


class Run(object):
    """One invocation: the record, the tracker and what happened."""

    def __init__(self, module, incident_id, directory):
        self.module = module
        self.p = module.params
        self.incident_id = incident_id
        self.directory = directory
        self.conf = dict(self.p["tracker"])
        self.name = self.conf.get("name") or self.conf["type"]
        self.secrets = [v for v in (self.conf.get("token"), self.conf.get("password")) if v]
        self.tracker = None
        self.planned = []
        self.changed = False
        self.action = "unchanged"
        self.followups = []
        self.record = None

    def clean(self, text):
        return redact_text(text or "", self.secrets)

    def timeline(self):
        if not self.p["include_timeline"]:
            return ""
        events = [e for e in read_events(os.path.join(self.directory, TIMELINE)) if e.get("type") == "milestone"]
        if not events:
            return ""
        return "\n\nTimeline (UTC, from %s):\n\n%s" % (TIMELINE, timeline_table(events, kinds=("milestone",)))

    def labels(self):
        labels = list(self.conf.get("labels") or []) + ["incident"]
        if self.p["severity"]:
            labels.append(self.p["severity"])
        return labels

    def entry(self, record):
        return record.data.setdefault("tickets", {}).get(self.name)

    def connect(self):
        if self.tracker is None:
            down = (self.record.data.get("unreachable") or {}).get(self.name) or {}
            if self.p["skip_unreachable_for"] > 0 and down.get("until", 0) > time.time():
                raise TicketError("%s (seen at %s; not tried again for %d s)" % (down.get("error"), down.get("at"), self.p["skip_unreachable_for"]))
            self.tracker = tracker_for(self.conf, retries=self.p["retries"], backoff=self.p["backoff"],
                                       max_backoff=self.p["max_backoff"], timeout=self.p["timeout"])
        return self.tracker

    def ensure_open(self, record, explicit):
        entry = self.entry(record)
        if entry and entry.get("ref"):
            if explicit:
                self.action = "exists"
            return entry
        if not explicit and not self.p["open_missing"]:
            raise TicketError("no %s ticket recorded in %s (open_missing=false)" % (self.name, record.path))
        title = "%s: %s" % (self.incident_id, self.p["title"] or "incident")
        text = self.clean("Incident %s%s.\n\n%s%s" % (
            self.incident_id, " (%s)" % self.p["severity"] if self.p["severity"] else "",
            (self.p["text"] if explicit else "") or "", self.timeline()))
        if self.module.check_mode:
            self.planned.append("open a %s ticket: %s" % (self.name, title))
            return {"ref": {}}
        ref = self.connect().create(title, text, self.p["severity"], self.labels())
        entry = {"ref": ref, "tracker": self.conf["type"], "target": safe_url(self.connect().base),
                 "project": self.conf.get("project"), "opened_at": iso(), "title": title,
                 "timeline_included": bool(self.p["include_timeline"])}
        record.data["tickets"][self.name] = entry
        record.save()
        self.changed, self.action = True, "opened"
        return entry

    def comment(self, record):
        if not self.p["text"]:
            raise TicketError("text is required with state=comment")
        entry = self.ensure_open(record, False)
        key = self.p["key"] or digest(self.p["text"])
        if key in entry.setdefault("comments", []):
            return
        if self.module.check_mode:
            self.planned.append("comment on the %s ticket (%s)" % (self.name, key))
            return
        self.connect().comment(entry["ref"], self.clean(self.p["text"]))
        entry["comments"].append(key)
        record.save()
        self.changed, self.action = True, "commented"

    def report(self):
        path = self.p["report"] or os.path.join(self.directory, "report.md")
        try:
            with open(path, encoding="utf-8") as fh:
                return os.path.basename(path), self.clean(fh.read())
        except OSError:
            return os.path.basename(path), None

    def resolve(self, record):
        entry = self.ensure_open(record, False)
        name, report = self.report()
        marker = digest((report or "") + (self.p["report_url"] or "") + (self.p["text"] or ""))
        if entry.get("resolved") and entry.get("report_digest") == marker:
            return
        if self.module.check_mode:
            self.planned.append("%s the %s ticket with %s" % ("update" if entry.get("resolved") else "resolve", self.name, name))
            return
        tracker = self.connect()
        note = tracker.attach(entry["ref"], name, report) if report is not None else None
        parts = [self.p["text"] or "Incident %s resolved." % self.incident_id]
        if self.p["report_url"]:
            parts.append("Report: %s" % self.p["report_url"])
        if note:
            parts.append(note)
        elif report is not None:
            parts.append("Report (%s):\n\n%s" % (name, report))
        text = self.clean("\n\n".join(parts) + self.timeline())
        if entry.get("resolved"):
            tracker.comment(entry["ref"], "Report updated.\n\n" + text)
            self.action = "report_updated"
        else:
            entry["resolution"] = tracker.resolve(entry["ref"], text)
            entry["resolved_at"] = iso()
            self.action = "resolved"
        entry.update(resolved=True, report_digest=marker, report_attached=bool(note), timeline_included=bool(self.p["include_timeline"]))
        record.save()
        self.changed = True

    def wanted_followups(self):
        items = []
        for item in self.p["followups"] or []:
            title = str(item.get("title") or "").strip()
            if not title:
                raise TicketError("every followups entry needs a title")
            items.append(dict(key=str(item.get("key") or slug(title)), title=title, text=item.get("text") or ""))
        if self.p["from_review"]:
            try:
                with open(os.path.join(self.directory, "post-incident-review.md"), encoding="utf-8") as fh:
                    review = fh.read()
            except OSError:
                review = ""
            for item in action_items(review):
                items.append(dict(key=item["key"], title=item["title"], text="Action item (%s) of the post-incident review." % item["horizon"]))
        seen, unique = set(), []
        for item in items:
            if item["key"] not in seen:
                seen.add(item["key"])
                unique.append(item)
        return unique

    def create_followups(self, record):
        wanted = self.wanted_followups()
        entry = self.ensure_open(record, False) if wanted or self.entry(record) else None
        done = entry.setdefault("followups", {}) if entry else {}
        for item in wanted:
            if item["key"] in done:
                continue
            if self.module.check_mode:
                self.planned.append("create the follow-up %r" % item["title"])
                continue
            text = self.clean("%s\n\nFollow-up of incident %s (%s)." % (item["text"], self.incident_id, entry["ref"].get("url") or entry["ref"].get("key")))
            ref = self.connect().create(self.clean(item["title"]), text, None, list(self.conf.get("labels") or []) + ["follow-up"], parent=entry["ref"])
            done[item["key"]] = dict(title=item["title"], ref=ref, created_at=iso())
            record.save()
            self.changed, self.action = True, "followups"
            self.followups.append(dict(key=item["key"], title=item["title"], ticket=ref.get("key"), url=ref.get("url"), created=True))
        created = set(f["key"] for f in self.followups)
        for key, value in done.items():
            if key not in created:
                self.followups.append(dict(key=key, title=value.get("title"), ticket=value["ref"].get("key"),
                                           url=value["ref"].get("url"), created=False))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["open", "comment", "resolved", "followups"], default="open"),
            tracker=dict(type="dict", required=True, options=TRACKER_SPEC),
            incident_id=dict(type="str"),
            root=dict(type="path"),
            title=dict(type="str"),
            text=dict(type="str"),
            key=dict(type="str", no_log=False),
            severity=dict(type="str", choices=["P0", "P1", "P2", "P3"]),
            include_timeline=dict(type="bool", default=True),
            report=dict(type="path"),
            report_url=dict(type="str"),
            followups=dict(type="list", elements="dict", default=[]),
            from_review=dict(type="bool", default=True),
            open_missing=dict(type="bool", default=True),
            retries=dict(type="int", default=2),
            backoff=dict(type="float", default=0.5),
            max_backoff=dict(type="float", default=5.0),
            skip_unreachable_for=dict(type="int", default=60),
            timeout=dict(type="float", default=10.0),
            fail_on_error=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        incident_id, _root, directory = locate(p["incident_id"], p["root"])
    except IncidentError as exc:
        module.fail_json(msg=str(exc))
    run = Run(module, incident_id, directory)
    record = TicketRecord(directory)
    run.record = record
    error = None
    try:
        if module.check_mode:
            record.load()
            steps(run, record)
        else:
            with record:
                steps(run, record)
                if run.tracker is not None and run.tracker.calls and (record.data.get("unreachable") or {}).pop(run.name, None):
                    record.save()  # it answers again
    except TicketError as exc:
        error = run.clean(str(exc))
        if exc.status == 0 and run.tracker is not None and not module.check_mode and p["skip_unreachable_for"] > 0:
            remember_unreachable(record, run.name, error, p["skip_unreachable_for"])
    except OSError as exc:
        error = "cannot write %s: %s" % (record.path, exc)
    entry = (record.data.get("tickets") or {}).get(run.name) or {}
    ticket = dict(entry.get("ref") or {}, tracker=run.name) if entry.get("ref") else {}
    result = dict(changed=run.changed, ok=error is None, ticket=ticket, action=run.action if error is None else "failed",
                  followups=run.followups, calls=run.tracker.calls if run.tracker else [], planned=run.planned,
                  record=record.path)
    if error:
        result["error"] = error
        if p["fail_on_error"]:
            module.fail_json(msg="incident ticket (%s, state=%s): %s" % (run.name, p["state"], error), **result)
        module.warn("incident ticket (%s, state=%s) not updated - the response carries on: %s" % (run.name, p["state"], error))
    module.exit_json(**result)


def remember_unreachable(record, name, error, seconds):
    """Note in tickets.json that the tracker did not answer, so the next calls skip it for a while."""
    try:
        with record:
            record.data.setdefault("unreachable", {})[name] = dict(at=iso(), until=time.time() + seconds, error=error)
            record.save()
    except OSError:
        pass


def steps(run, record):
    state = run.p["state"]
    if state == "open":
        run.ensure_open(record, True)
    elif state == "comment":
        run.comment(record)
    elif state == "resolved":
        run.resolve(record)
    else:
        run.create_followups(record)


if __name__ == "__main__":
    main()
