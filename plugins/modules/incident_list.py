#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: incident_list
short_description: The incidents under the incident root, at a glance
version_added: "0.1.0"
description:
  - Lists the incident directories (C(INC-YYYY-MM-DD-NNN)) under O(root), newest first, with id, severity,
    status, services, age, last milestone and report path, from each incident's C(timeline.jsonl) and, when
    the report was written, its C(summary.json).
  - Status comes from the latest status-bearing milestone written by M(incident.response.incident_event)
    (or the receiver) - C(open) (detected, declared or acknowledged), C(escalated), C(mitigated),
    C(resolved) - so an incident escalated after its report was written shows C(escalated). C(dry-run) is
    an incident whose every run was in check mode, C(none) a run that declared nothing (a healthy system,
    a listing run), C(unknown) a record that cannot be read.
  - Services are the report's C(services_affected) and any service named on a milestone; age runs from the
    first status-bearing milestone (else the first event).
  - Never follows a symbolic link inside the root (a linked incident directory or record file is an entry
    with an error); a corrupt or oversized record is an entry with an error, never a failure of the module.
  - The receiver package installs the same listing as the C(incident-list) command (C(--json) for machines).
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.info
options:
  root:
    description: Incident root directory; defaults to env E(INCIDENT_ROOT), else C(./incidents). A missing root has no incidents.
    type: path
  status:
    description:
      - Only incidents with these statuses. The default leaves out C(none) and C(dry-run).
      - V([open, escalated, mitigated, unknown]) lists what still needs someone.
    type: list
    elements: str
    choices: [open, escalated, mitigated, resolved, dry-run, none, unknown]
    default: [open, escalated, mitigated, resolved, unknown]
notes:
  - "Reads the incident root on the host the module runs on; the timeline callback writes it on the controller,
    so run it with C(connection: local) (as C(playbooks/incidents.yml) does)."
"""

EXAMPLES = r"""
- name: List the incidents that still need someone
  incident.response.incident_list:
    status: [open, escalated, mitigated, unknown]
  register: open_incidents

- name: Show them, one line each
  ansible.builtin.debug:
    msg: "{{ open_incidents.table }}"
"""

RETURN = r"""
root:
  description: The incident root read (absolute).
  returned: always
  type: str
  sample: /srv/incident-response/incidents
incidents:
  description: The incidents, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The incident id.
      type: str
      sample: INC-2026-11-23-001
    severity:
      description: From the report, else the last severity stated on a milestone; null when none was.
      type: str
      sample: P0
    status:
      description: C(open), C(escalated), C(mitigated), C(resolved), C(dry-run), C(none) or C(unknown).
      type: str
      sample: resolved
    title:
      description: The report's title, else the message of the first C(declared) or C(detected) milestone.
      type: str
    services:
      description: Services affected.
      type: list
      elements: str
      sample: [api]
    started_at:
      description: First status-bearing milestone (else first event), ISO 8601 UTC.
      type: str
    updated_at:
      description: Last event, ISO 8601 UTC.
      type: str
    age_s:
      description: Seconds since RV(incidents[].started_at).
      type: float
    age:
      description: The age in words.
      type: str
      sample: 3h 05m
    last_milestone:
      description: C(event), C(at) and C(message) of the last milestone (a C(note) only when there is no other).
      type: dict
    report:
      description: Path of C(report.md) when it exists, else null.
      type: str
    html:
      description: Path of C(report.html) when it exists, else null.
      type: str
    check_mode:
      description: Every run of the incident was in check mode.
      type: bool
    error:
      description: What could not be read (corrupt line, symbolic link, invalid C(summary.json)...), else null.
      type: str
counts:
  description: Number of listed incidents per status.
  returned: always
  type: dict
  sample: {open: 1, escalated: 1, mitigated: 0, resolved: 4, dry-run: 0, none: 0, unknown: 0}
table:
  description: A header and one fixed-width line per incident (id, severity, status, age, services, last milestone, report).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.incident import IncidentError
from ansible_collections.incident.response.plugins.module_utils.incident_list import (
    DEFAULT_STATUSES, STATUSES, counts, list_incidents, table)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            root=dict(type="path"),
            status=dict(type="list", elements="str", choices=list(STATUSES), default=list(DEFAULT_STATUSES)),
        ),
        supports_check_mode=True,
    )
    try:
        root, entries = list_incidents(module.params["root"], module.params["status"])
    except IncidentError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, root=root, incidents=entries, counts=counts(entries), table=table(entries))


if __name__ == "__main__":
    main()
