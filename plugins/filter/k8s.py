# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""k8s_rung: what one rung of the remediate_k8s role did, from the registered result of its k8s action module.
Pure logic, unit-tested; see plugins/filter/k8s_rung.yml."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError


def k8s_rung(result, rung):
    """{rung, ran, healed, msg}: healed when the action ran without failing and its rollout completed (a module
    that changed nothing because nothing needed changing, such as no failing pod to replace, heals too)."""
    if not isinstance(result, dict):
        raise AnsibleFilterError("k8s_rung expects a registered module result, got %s" % type(result).__name__)
    if result.get("skipped") or not result:
        return dict(rung=rung, ran=False, healed=False, msg="skipped")
    failed = bool(result.get("failed"))
    complete = result.get("rollout_complete", not result.get("changed", False))
    msg = result.get("msg") or result.get("rollout_reason") or ("changed" if result.get("changed") else "nothing to change")
    return dict(rung=rung, ran=bool(result.get("changed")) or failed, healed=not failed and bool(complete), msg=msg)


class FilterModule(object):
    def filters(self):
        return {"k8s_rung": k8s_rung}
