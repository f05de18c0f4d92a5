#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: incident_event
short_description: State an incident milestone (detected, declared, mitigated, resolved...) for the timeline
version_added: 1.0.0
description:
  - Returns an C(incident_event) that the M(incident.response.timeline) callback writes as a
    milestone line in C(timeline.jsonl), so a playbook says "service restored" in words the
    post-incident review can use. Milestones drive the MTTD/MTTA/MTTM/MTTR metrics of
    M(incident.response.incident_report).
  - Changes nothing on any host; it reports C(changed=false), also in check mode.
  - Without the callback enabled, set O(write=true) to append the milestone to the timeline directly.
author:
  - incident.response contributors (@incident-response)
options:
  event:
    description: The milestone.
    type: str
    required: true
    choices: [detected, declared, acknowledged, escalated, mitigated, resolved, note]
  message:
    description: One line, in words for the review ("Service restored after API restart").
    type: str
    required: true
  severity:
    description: Incident severity at this point (P0 most severe).
    type: str
    choices: [P0, P1, P2, P3]
  at:
    description:
      - When it happened (ISO 8601, e.g. an alert's C(startsAt)); defaults to now (UTC).
    type: str
  impact_started_at:
    description:
      - When customer impact began (ISO 8601), if known; the start of MTTD and customer-impact duration.
    type: str
  owner:
    description: Who did or stated it (name, handle, or team).
    type: str
  write:
    description:
      - Also append the milestone to C(<root>/<incident_id>/timeline.jsonl) from the module itself.
      - Leave false when the timeline callback is enabled (it writes the milestone already).
    type: bool
    default: false
  incident_id:
    description: Incident to write into when O(write=true); defaults to env E(INCIDENT_ID).
    type: str
  root:
    description: Incident root directory when O(write=true); defaults to env E(INCIDENT_ROOT) or C(./incidents).
    type: path
"""

EXAMPLES = r"""
- name: Declare the incident
  incident.response.incident_event:
    event: declared
    severity: P1
    message: "API down: TaskSchedulerAPIDown firing"
    impact_started_at: "{{ alert.startsAt | default(omit) }}"

- name: Record the mitigation
  incident.response.incident_event:
    event: mitigated
    message: Service restored after API restart
"""

RETURN = r"""
incident_event:
  description: The milestone, as written to the timeline.
  returned: always
  type: dict
  contains:
    event:
      description: The milestone name.
      type: str
      sample: mitigated
    message:
      description: The message.
      type: str
      sample: Service restored after API restart
    severity:
      description: Severity, when given.
      type: str
      sample: P1
    at:
      description: When it happened (UTC ISO 8601).
      type: str
      sample: "2026-11-23T17:02:11.120Z"
    impact_started_at:
      description: Start of customer impact, when given.
      type: str
      sample: "2026-11-23T16:58:00.000Z"
    owner:
      description: Owner, when given.
      type: str
      sample: oncall
written_to:
  description: Timeline file the module appended to (only with O(write=true)).
  returned: when written
  type: str
  sample: ./incidents/INC-2026-11-23-001/timeline.jsonl
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.incident import (
    DEFAULT_ROOT, MILESTONES, TIMELINE, IncidentError, Timeline, incident_dir, iso, parse_iso)
from ansible_collections.incident.response.plugins.module_utils.redact import redact


def _timestamp(module, name):
    value = module.params[name]
    if not value:
        return None
    parsed = parse_iso(value)
    if parsed is None:
        module.fail_json(msg="%s=%r is not an ISO 8601 timestamp (e.g. 2026-11-23T17:02:11Z)" % (name, value))
    return iso(parsed)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            event=dict(type="str", required=True, choices=list(MILESTONES)),
            message=dict(type="str", required=True),
            severity=dict(type="str", choices=["P0", "P1", "P2", "P3"]),
            at=dict(type="str"),
            impact_started_at=dict(type="str"),
            owner=dict(type="str"),
            write=dict(type="bool", default=False),
            incident_id=dict(type="str"),
            root=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    event = {"event": p["event"], "message": p["message"], "at": _timestamp(module, "at") or iso()}
    for key in ("severity", "owner"):
        if p[key]:
            event[key] = p[key]
    impact = _timestamp(module, "impact_started_at")
    if impact:
        event["impact_started_at"] = impact
    event = redact(event)
    result = dict(changed=False, incident_event=event)
    if p["write"] and not module.check_mode:
        incident_id = p["incident_id"] or os.environ.get("INCIDENT_ID")
        root = p["root"] or os.environ.get("INCIDENT_ROOT") or DEFAULT_ROOT
        if not incident_id:
            module.fail_json(msg="write=true needs incident_id (or env INCIDENT_ID)")
        try:
            path = os.path.join(incident_dir(root, incident_id, create=True), TIMELINE)
            writer = Timeline(path)
            writer.append(dict({"ts": iso(), "type": "milestone", "incident_id": incident_id,
                                "run_id": "module"}, **event))
            writer.close()
        except (IncidentError, OSError) as exc:
            module.fail_json(msg="cannot write the milestone to the timeline under %s: %s" % (root, exc))
        result["written_to"] = path
    module.exit_json(**result)


if __name__ == "__main__":
    main()
