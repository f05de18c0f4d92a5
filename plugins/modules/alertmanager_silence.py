#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: alertmanager_silence
short_description: Create or expire an Alertmanager silence, idempotently
version_added: "0.1.0"
description:
  - O(state=present) creates a silence for the given matchers (Alertmanager API v2), unless an active
    or pending silence with exactly the same matchers exists already; that one is reused and nothing changes.
  - O(state=absent) expires the silence O(silence_id), or every active/pending silence with exactly
    the given matchers.
  - Check mode reports what would be created or expired and changes nothing.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
options:
  url:
    description: Base URL of Alertmanager, for example C(http://127.0.0.1:9093).
    type: str
    required: true
  state:
    description: Whether the silence should exist.
    type: str
    choices: [present, absent]
    default: present
  matchers:
    description:
      - Label matchers of the silence. Required with O(state=present); with O(state=absent) an
        alternative to O(silence_id).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label name.
        type: str
        required: true
      value:
        description: Label value (a regular expression when O(matchers[].is_regex=true)).
        type: str
        required: true
      is_regex:
        description: Treat O(matchers[].value) as a regular expression.
        type: bool
        default: false
      is_equal:
        description: False negates the matcher (C(!=) or C(!~)).
        type: bool
        default: true
  duration:
    description:
      - How long the silence lasts from now, as seconds or a duration like C(90s), C(30m), C(2h), C(1d), C(1h30m).
    type: str
    default: 1h
  comment:
    description: Why the alert is silenced (put the incident id here).
    type: str
    default: Silenced during incident response by incident.response
  created_by:
    description: Author recorded on the silence.
    type: str
    default: incident.response
  silence_id:
    description: Id of the silence to expire with O(state=absent).
    type: str
  headers:
    description: Extra request headers (for example C(Authorization)); never returned.
    type: dict
    default: {}
  timeout:
    description: Per-request timeout in seconds.
    type: float
    default: 10.0
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Silence NoActiveWorkers while the workers are restarted
  incident.response.alertmanager_silence:
    url: "{{ incident_alertmanager_url }}"
    matchers:
      - {name: alertname, value: NoActiveWorkers}
    duration: 15m
    comment: "{{ incident_id }}: workers being restarted"
  register: silence

- name: Lift the silence once verified
  incident.response.alertmanager_silence:
    url: "{{ incident_alertmanager_url }}"
    silence_id: "{{ silence.silence_id }}"
    state: absent
"""

RETURN = r"""
silence_id:
  description: Id of the silence created or reused (null in check mode when it would be created).
  returned: when O(state=present)
  type: str
  sample: 6b1e4f0c-4c69-4f53-a0a7-2b5b3a4c2d11
silence:
  description: The silence as Alertmanager describes it (or would be created).
  returned: when O(state=present)
  type: dict
  sample: {id: 6b1e4f0c-..., state: active, matchers: [{name: alertname, value: NoActiveWorkers, isRegex: false,
           isEqual: true}], startsAt: "2026-01-01T00:00:00.000Z", endsAt: "2026-01-01T01:00:00.000Z",
           createdBy: incident.response, comment: "INC-2026-01-01-001"}
expired:
  description: Ids of the silences expired (or that would be).
  returned: when O(state=absent)
  type: list
  elements: str
"""

import datetime
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.http_client import request, safe_url

DURATION_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text):
    """Seconds in '90', '90s', '15m', '2h', '1d', '1h30m'; None when invalid or zero."""
    text = str(text).strip()
    if text.isdigit():
        return int(text) or None
    match = DURATION_RE.match(text)
    if not text or not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return (days * 86400 + hours * 3600 + minutes * 60 + seconds) or None


def api_matchers(matchers):
    return [dict(name=m["name"], value=m["value"], isRegex=bool(m["is_regex"]), isEqual=bool(m["is_equal"]))
            for m in matchers]


def matcher_key(matchers):
    """Order-insensitive identity of a matcher list (isEqual defaults to true on old servers)."""
    return sorted((m["name"], m["value"], bool(m.get("isRegex")), bool(m.get("isEqual", True))) for m in matchers)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


class Alertmanager(object):
    def __init__(self, module):
        self.module = module
        self.base = module.params["url"].rstrip("/")

    def call(self, method, path, body=None, ok=(200,)):
        p = self.module.params
        resp = request(self.base + path, method=method, headers=p["headers"], json_body=body,
                       timeout=p["timeout"], validate_certs=p["validate_certs"])
        if resp.status not in ok:
            self.module.fail_json(msg="Alertmanager at %s: %s %s failed: %s %s"
                                  % (safe_url(self.base), method, path, resp.describe(), resp.body[:300]))
        return resp

    def live_silences(self):
        """Active and pending silences."""
        doc = self.call("GET", "/api/v2/silences").json() or []
        return [s for s in doc if s.get("status", {}).get("state") in ("active", "pending")]


def describe(silence):
    return dict(id=silence.get("id"), state=silence.get("status", {}).get("state"), matchers=silence.get("matchers"),
                startsAt=silence.get("startsAt"), endsAt=silence.get("endsAt"), createdBy=silence.get("createdBy"),
                comment=silence.get("comment"))


def present(module, am):
    p = module.params
    if not p["matchers"]:
        module.fail_json(msg="matchers are required with state=present")
    seconds = parse_duration(p["duration"])
    if not seconds:
        module.fail_json(msg="duration %r is not a duration like 90s, 30m, 2h, 1d or 1h30m" % p["duration"])
    wanted = api_matchers(p["matchers"])
    for silence in am.live_silences():
        if matcher_key(silence.get("matchers", [])) == matcher_key(wanted):
            module.exit_json(changed=False, silence_id=silence["id"], silence=describe(silence))
    now = datetime.datetime.now(datetime.timezone.utc)
    body = dict(matchers=wanted, startsAt=iso(now), endsAt=iso(now + datetime.timedelta(seconds=seconds)),
                createdBy=p["created_by"], comment=p["comment"])
    if module.check_mode:
        module.exit_json(changed=True, silence_id=None, silence=dict(body, id=None, state="active"))
    created = am.call("POST", "/api/v2/silences", body).json() or {}
    module.exit_json(changed=True, silence_id=created.get("silenceID"),
                     silence=dict(body, id=created.get("silenceID"), state="active"))


def absent(module, am):
    p = module.params
    if not p["silence_id"] and not p["matchers"]:
        module.fail_json(msg="state=absent needs silence_id or matchers")
    live = am.live_silences()
    if p["silence_id"]:
        targets = [s["id"] for s in live if s["id"] == p["silence_id"]]
    else:
        key = matcher_key(api_matchers(p["matchers"]))
        targets = [s["id"] for s in live if matcher_key(s.get("matchers", [])) == key]
    if not module.check_mode:
        for silence_id in targets:
            am.call("DELETE", "/api/v2/silence/%s" % silence_id, ok=(200, 404))
    module.exit_json(changed=bool(targets), expired=targets)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            matchers=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                value=dict(type="str", required=True),
                is_regex=dict(type="bool", default=False),
                is_equal=dict(type="bool", default=True),
            )),
            duration=dict(type="str", default="1h"),
            comment=dict(type="str", default="Silenced during incident response by incident.response"),
            created_by=dict(type="str", default="incident.response"),
            silence_id=dict(type="str"),
            headers=dict(type="dict", default={}, no_log=True),
            timeout=dict(type="float", default=10.0),
            validate_certs=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    am = Alertmanager(module)
    if module.params["state"] == "present":
        present(module, am)
    absent(module, am)


if __name__ == "__main__":
    main()
