# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of incident.response.incident_event, defined once: the module (plugins/modules/incident_event.py)
and the action plugin of the same name (plugins/action/incident_event.py) both validate against it."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.incident.response.plugins.module_utils.incident import MILESTONES

SEVERITIES = ("P0", "P1", "P2", "P3")


def incident_event_argument_spec():
    """A fresh argument spec (callers may extend it without touching the other's)."""
    return dict(
        event=dict(type="str", required=True, choices=list(MILESTONES)),
        msg=dict(type="str", required=True),
        severity=dict(type="str", choices=list(SEVERITIES)),
        at=dict(type="str"),
        impact_started_at=dict(type="str"),
        owner=dict(type="str"),
        write=dict(type="bool", default=False),
        incident_id=dict(type="str"),
        root=dict(type="path"),
    )
