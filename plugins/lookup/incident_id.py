# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: incident_id
short_description: The id of the incident this run records into
version_added: "0.1.0"
author:
  - incident.response contributors (@incident-response)
description:
  - Returns the incident id (C(INC-YYYY-MM-DD-NNN)) with the same rules as the
    C(incident.response.timeline) callback, which exports E(INCIDENT_ID) in its process at play
    start, so with the callback enabled this is the id the timeline is written to.
  - Order, first match wins, env E(INCIDENT_ID) (set by the callback, which adopts the extra var
    C(incident_id)), the extra var C(incident_id), else (only with O(allocate=true)) a newly
    allocated id under O(root). Play or role vars named C(incident_id) are not consulted, so
    a var C(incident_id) defined with this lookup is safe (no recursion).
  - The value is validated strictly; anything else fails, so it is always safe in a path.
options:
  allocate:
    description:
      - Allocate a new id when none is set. Without the callback every call allocates a new one,
        so store the result with M(ansible.builtin.set_fact).
    type: bool
    default: false
  root:
    description: Incident root directory used when allocating.
    type: path
    default: ./incidents
    env:
      - name: INCIDENT_ROOT
    ini:
      - section: callback_timeline
        key: root
"""

EXAMPLES = r"""
- name: Remember the incident id
  ansible.builtin.set_fact:
    incident_id: "{{ lookup('incident.response.incident_id') }}"
"""

RETURN = r"""
_raw:
  description: A one-element list with the incident id.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase
from ansible.utils.vars import load_extra_vars

from ansible_collections.incident.response.plugins.module_utils.incident import (
    IncidentError, allocate, validate_id)


class LookupModule(LookupBase):

    def _extra_var(self):
        try:
            value = load_extra_vars(self._loader).get("incident_id")
        except Exception:  # pylint: disable=broad-except
            return None
        return str(value) if value else None

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        chosen = os.environ.get("INCIDENT_ID") or self._extra_var()
        try:
            if chosen:
                return [validate_id(str(chosen))]  # the one rule of module_utils.incident: no stripping, anywhere
            if self.get_option("allocate"):
                return [allocate(self.get_option("root"))]
        except (IncidentError, OSError) as exc:
            raise AnsibleLookupError("incident_id: %s" % exc)
        raise AnsibleLookupError("incident_id: no incident id: enable the incident.response.timeline callback, "
                                 "pass -e incident_id=INC-YYYY-MM-DD-NNN or env INCIDENT_ID, or use allocate=true")
