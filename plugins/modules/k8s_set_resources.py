#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_set_resources
short_description: Raise the memory limit of a Kubernetes workload's container, and wait for the rollout
version_added: 0.1.0
description:
  - The C(kubectl set resources deployment/NAME -c CONTAINER --limits=memory=...) of the OOMKilled runbook,
    then C(kubectl rollout status).
  - Sends a strategic merge patch of the container's C(resources), as kubectl does, and notes the change in the pod
    template's C(incident.response/change) annotation (so a later "roll back the recent deploy" knows the responder
    made this revision, not a release); the workload rolls
    its pods out with the new limit. A memory request above the new limit is lowered to it.
  - Guard rails. It needs O(confirm=true), refuses a limit above O(max_memory_limit) and a paused Deployment,
    and takes the per-workload lock and rate limit of the other actions.
options:
  container:
    description: Container to change. Default, the first container of the pod template.
    type: str
  memory_limit:
    description: New memory limit, a Kubernetes quantity (V(512Mi), V(1Gi)). One of O(memory_limit) and O(factor) is required.
    type: str
  factor:
    description: Multiply the current memory limit by this (V(1.5) raises it by half), rounded up to a whole Mi.
    type: float
    aliases: [memory_limit_factor]
  memory_request:
    description: New memory request. Default, unchanged (lowered to the new limit when above it).
    type: str
  max_memory_limit:
    description: Refuse to set a memory limit above this quantity.
    type: str
    default: 4Gi
  confirm:
    description: Required to change the workload (it rolls every pod). In check mode only a warning.
    type: bool
    default: false
extends_documentation_fragment:
  - incident.response.attributes.diff
  - incident.response.k8s
  - incident.response.k8s.ACTION
author:
  - incident.response contributors (@incident-response)
"""

EXAMPLES = r"""
- name: The API pods are OOMKilled; give them half as much memory again (OOMKilled runbook)
  incident.response.k8s_set_resources:
    namespace: production
    name: shop-api
    factor: 1.5
    max_memory_limit: 2Gi
    confirm: true
"""

RETURN = r"""
container:
  description: The container changed.
  returned: always
  type: str
before:
  description: The container's memory C({limit, request}) before.
  returned: always
  type: dict
after:
  description: The container's memory C({limit, request}) set (or that would be, in check mode).
  returned: always
  type: dict
before_limit:
  description: The memory limit before (C(before.limit)).
  returned: always
  type: str
after_limit:
  description: The memory limit set (C(after.limit)).
  returned: always
  type: str
workload:
  description: The workload once the rollout finished or timed out.
  returned: when changed, O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether the rollout with the new limit completed before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
rollout_reason:
  description: The rollout state in the words of C(kubectl rollout status).
  returned: when changed, O(wait=true) and not in check mode
  type: str
"""

import math
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.guard import GuardError, require_confirm
from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import (
    action_argspec, finish_rollout, get_workload, refuse_paused, run_action)
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import CHANGED_BY_US, parse_quantity

MI = 2 ** 20


def plan_memory(container, memory_limit=None, factor=None, memory_request=None, max_limit="4Gi"):
    """(before, after) {limit, request}; raises GuardError above `max_limit`, K8sError on impossible input."""
    res = container.get("resources") or {}
    before = dict(limit=(res.get("limits") or {}).get("memory"), request=(res.get("requests") or {}).get("memory"))
    try:
        if memory_limit:
            limit = memory_limit
        else:
            if not before["limit"]:
                raise K8sError("container %s has no memory limit to multiply; give memory_limit" % container["name"])
            limit = "%dMi" % int(math.ceil(parse_quantity(before["limit"]) * factor / MI))
        cap = parse_quantity(max_limit)
        if parse_quantity(limit) > cap:
            raise GuardError("memory limit %s of container %s is above max_memory_limit=%s" % (limit, container["name"], max_limit))
        request = memory_request or before["request"]
        if request and parse_quantity(request) > parse_quantity(limit):
            if memory_request:
                raise K8sError("memory_request %s is above the memory limit %s" % (memory_request, limit))
            request = limit
    except ValueError as exc:
        raise K8sError(str(exc))
    return before, dict(limit=limit, request=request)


def main():
    spec = action_argspec(container=dict(type="str"), memory_limit=dict(type="str"), factor=dict(type="float", aliases=["memory_limit_factor"]),
                          memory_request=dict(type="str"), max_memory_limit=dict(type="str", default="4Gi"),
                          confirm=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True, required_one_of=[("memory_limit", "factor")],
                           mutually_exclusive=[("memory_limit", "factor")])
    p = module.params
    name, kind = p["name"], p["kind"]

    def set_resources(client, namespace, consume):
        obj = get_workload(client, namespace, kind, name)
        containers = obj["spec"]["template"]["spec"]["containers"]
        wanted = p["container"] or containers[0]["name"]
        container = next((c for c in containers if c["name"] == wanted), None)
        if container is None:
            raise K8sError("%s %s has no container %s (containers: %s)" % (kind, name, wanted, ", ".join(c["name"] for c in containers)))
        before, after = plan_memory(container, p["memory_limit"], p["factor"], p["memory_request"], p["max_memory_limit"])
        result = dict(container=wanted, before=before, after=after, before_limit=before["limit"], after_limit=after["limit"],
                      diff=dict(before=before, after=after))
        same = all(before[k] == after[k] or (before[k] and after[k] and parse_quantity(before[k]) == parse_quantity(after[k]))
                   for k in ("limit", "request"))
        if same:
            return dict(changed=False, msg="container %s already has these memory settings" % wanted, **result), False
        refuse_paused(kind, obj, "resource change")
        if not require_confirm(module, "confirm", "changing the memory of %s/%s" % (name, wanted)) or module.check_mode:
            return dict(changed=True, **result), False
        consume()
        started = time.monotonic()
        resources = {"limits": {"memory": after["limit"]}}
        if after["request"]:
            resources["requests"] = {"memory": after["request"]}
        change = "memory of %s: limit %s -> %s" % (wanted, before["limit"] or "none", after["limit"])
        client.patch(kind + "s", namespace, name,
                     {"spec": {"template": {"metadata": {"annotations": {CHANGED_BY_US: change}},
                                            "spec": {"containers": [{"name": wanted, "resources": resources}]}}}})
        fields, failed = finish_rollout(module, client, namespace, name, started, kind)
        fields["workload"] = fields.pop("after", None)
        return dict(changed=True, **dict(result, **fields)), failed

    run_action(module, name, set_resources, "rollout of the new memory settings of %s did not complete" % name)


if __name__ == "__main__":
    main()
