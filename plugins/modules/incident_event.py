#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: incident_event
short_description: State an incident milestone (detected, declared, mitigated, resolved...) for the timeline
version_added: "0.1.0"
description:
  - Returns an C(incident_event) that the M(incident.response.timeline) callback writes as a
    milestone line in C(timeline.jsonl), so a playbook says "service restored" in words the
    post-incident review can use. Milestones drive the MTTD/MTTA/MTTM/MTTR metrics of
    M(incident.response.incident_report).
  - Changes nothing on any host; it reports C(changed=false), also in check mode.
  - Without the callback enabled, set O(write=true) to append the milestone to the timeline directly.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
options:
  event:
    description: The milestone.
    type: str
    required: true
    choices: [detected, declared, acknowledged, escalated, mitigated, resolved, note]
  msg:
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
      - A date without a time is refused, and so is a time more than 5 minutes in the future (clock skew)
        or more than 30 days before the incident's day; the same rules apply to O(impact_started_at)
        (with 366 days), which must not be after O(at).
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
    msg: "API down: TaskSchedulerAPIDown firing"
    impact_started_at: "{{ alert.startsAt | default(omit) }}"

- name: Record the mitigation
  incident.response.incident_event:
    event: mitigated
    msg: Service restored after API restart
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


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.incident import IncidentError, build_milestone, write_milestone
from ansible_collections.incident.response.plugins.module_utils.incident_event_spec import incident_event_argument_spec
from ansible_collections.incident.response.plugins.module_utils.redact import redact

# The action plugin of the same name (plugins/action/incident_event.py) builds the milestone on the
# controller with the same code and the same options; this module is what runs where the action is not available.


def main():
    module = AnsibleModule(
        argument_spec=incident_event_argument_spec(),
        supports_check_mode=True,
    )
    p = module.params
    try:
        event = redact(build_milestone(p))
        result = dict(changed=False, incident_event=event)
        if p["write"] and not module.check_mode:
            result["written_to"] = write_milestone(event, p["incident_id"], p["root"])
    except IncidentError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
