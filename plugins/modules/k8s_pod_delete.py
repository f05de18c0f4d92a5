#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_pod_delete
short_description: Delete the failing pods of a Kubernetes Deployment so its controller replaces them
version_added: 0.1.0
description:
  - The C(kubectl delete pod) of the runbooks' first response to a stuck pod, made safe for an alert
    at 3 a.m. By default it deletes only the pods that are not ready, never more than O(max_pods),
    and waits until the Deployment has all its replicas available again.
  - Guarded by a per-workload lock and a rate limit, like the other actions.
options:
  name:
    description: The Deployment whose pods to delete.
    type: str
    required: true
  only_unready:
    description: Delete only pods that are not ready. V(false) deletes ready pods too (a full bounce).
    type: bool
    default: true
  max_pods:
    description: Refuse to delete more pods than this in one run; more needs a rollout restart.
    type: int
    default: 3
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.k8s
  - incident.response.k8s.ACTION
author:
  - incident.response contributors (@incident-response)
"""

EXAMPLES = r"""
- name: Replace the crash-looping API pods (ServiceDown runbook, step 1)
  incident.response.k8s_pod_delete:
    namespace: production
    name: shop-api
"""

RETURN = r"""
deleted:
  description: The pods deleted (or that would be, in check mode), as C(kubectl get pod) facts.
  returned: always
  type: list
  elements: dict
after:
  description: The Deployment once its replicas were available again (or the wait timed out).
  returned: when changed, O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether every replica was available again before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    K8sError, pod_summary, selector_of)
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import action_argspec, finish_rollout, run_action


def wait_replaced(client, namespace, dep, gone, deadline):
    """Until the Deployment has its replica count of ready pods none of which is a deleted one (its status
    may still count the deleted pods for a moment, so it is not enough to read it)."""
    want = dep["spec"].get("replicas", 1)
    while time.monotonic() < deadline:
        fresh = [p for p in client.pods(namespace, selector_of(dep)) if p["metadata"]["name"] not in gone]
        if sum(1 for p in fresh if pod_summary(p)["ready"]) >= want:
            return
        time.sleep(0.1)


def main():
    spec = action_argspec(only_unready=dict(type="bool", default=True), max_pods=dict(type="int", default=3))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name = module.params["name"]

    def delete(client, namespace, consume):
        dep = client.deployment(namespace, name)
        pods = [pod_summary(p) for p in client.pods(namespace, selector_of(dep))]
        victims = [p for p in pods if not (module.params["only_unready"] and p["ready"])]
        if len(victims) > module.params["max_pods"]:
            raise K8sError("would delete %d pods (%s), more than max_pods=%d; use k8s_rollout_restart for a full bounce"
                           % (len(victims), ", ".join(p["name"] for p in victims), module.params["max_pods"]))
        if not victims or module.check_mode:
            return dict(changed=bool(victims), deleted=victims), False
        consume()
        started = time.monotonic()
        for pod in victims:
            client.delete_pod(namespace, pod["name"])
        if module.params["wait"]:
            wait_replaced(client, namespace, dep, set(p["name"] for p in victims), started + module.params["wait_timeout"])
        fields, failed = finish_rollout(module, client, namespace, name, started)
        return dict(changed=True, deleted=victims, **fields), failed

    run_action(module, name, delete, "%s not available again after deleting its pods" % name)


if __name__ == "__main__":
    main()
