#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_scale
short_description: Scale a Kubernetes Deployment or StatefulSet, HPA-aware, and wait for the replicas to be available
version_added: 0.1.0
description:
  - The C(kubectl scale deployment/NAME --replicas=N) of the runbooks (add capacity, or scale a bad
    workload to zero), through the C(scale) subresource, then waits until N replicas are available.
  - When a HorizontalPodAutoscaler targets the workload, it does not fight it (the HPA would undo the
    scale). It sets the HPA's C(minReplicas) to N (and raises C(maxReplicas) when below N), then scales.
  - Idempotent, nothing changes when the workload already wants O(replicas) and the HPA allows it. Guarded by
    a per-workload lock and a rate limit. Scaling to zero takes a service down, so it needs O(confirm=true),
    and is refused while an HPA targets the workload.
options:
  replicas:
    description: Wanted replica count.
    type: int
    required: true
  confirm:
    description: Required to scale to V(0) (takes the service down).
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
- name: Add workers while the backlog drains (raises the HPA minimum when there is one)
  incident.response.k8s_scale:
    namespace: production
    name: shop-worker
    replicas: 4
"""

RETURN = r"""
before:
  description: The workload before scaling (replicas, ready, available, images, rollout state).
  returned: always
  type: dict
after:
  description: The workload once the replicas are available (or the wait timed out).
  returned: when changed, O(wait=true) and not in check mode
  type: dict
hpa:
  description: The HPA targeting the workload before the change, C({name, min, max, current, desired}), or null.
  returned: always
  type: dict
hpa_after:
  description: The HPA bounds set, C({name, min, max}), when an HPA targets the workload.
  returned: when an HPA targets the workload
  type: dict
rollout_complete:
  description: Whether O(replicas) replicas were available before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.guard import require_confirm
from ansible_collections.incident.response.plugins.module_utils.k8s_api import MERGE, K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import (
    action_argspec, find_hpa, finish_rollout, get_workload, hpa_summary, run_action)
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import workload_summary


def hpa_bounds(hpa, replicas):
    """(HPA patch or None, bounds after) to let `replicas` stand: min = replicas, max raised when below."""
    if not hpa:
        return None, None
    if replicas == 0:
        raise K8sError("HPA %s targets this workload and would undo a scale to zero; delete or change the HPA first"
                       % hpa["name"])
    bounds = dict(name=hpa["name"], min=replicas, max=max(hpa["max"] or replicas, replicas))
    if (bounds["min"], bounds["max"]) == (hpa["min"], hpa["max"]):
        return None, bounds
    return {"spec": {"minReplicas": bounds["min"], "maxReplicas": bounds["max"]}}, bounds


def main():
    spec = action_argspec(replicas=dict(type="int", required=True), confirm=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name, kind, replicas = module.params["name"], module.params["kind"], module.params["replicas"]
    if replicas < 0:
        module.fail_json(msg="replicas must be 0 or more, got %d" % replicas)
    if replicas == 0:
        require_confirm(module, "confirm", "scaling %s to zero replicas (takes it down)" % name)

    def scale(client, namespace, consume):
        before = workload_summary(kind, get_workload(client, namespace, kind, name))
        hpa = hpa_summary(find_hpa(client, namespace, kind, name))
        hpa_patch, bounds = hpa_bounds(hpa, replicas)
        diff = dict(before=dict(replicas=before["replicas"], hpa=hpa), after=dict(replicas=replicas, hpa=bounds))
        result = dict(before=before, hpa=hpa, diff=diff)
        if bounds:
            result["hpa_after"] = bounds
        if before["replicas"] == replicas and hpa_patch is None:
            return dict(changed=False, **result), False
        if module.check_mode:
            return dict(changed=True, **result), False
        consume()
        started = time.monotonic()
        if hpa_patch:
            client.patch("horizontalpodautoscalers", namespace, hpa["name"], hpa_patch, content_type=MERGE)
        if before["replicas"] != replicas:
            client.patch(kind + "s", namespace, name, {"spec": {"replicas": replicas}}, content_type=MERGE, sub="scale")
        fields, failed = finish_rollout(module, client, namespace, name, started, kind)
        return dict(changed=True, **dict(result, **fields)), failed

    run_action(module, name, scale, "%s did not reach %d available replicas" % (name, replicas))


if __name__ == "__main__":
    main()
