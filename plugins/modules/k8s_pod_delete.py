#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_pod_delete
short_description: Delete the failing pods of a Kubernetes Deployment or StatefulSet so its controller replaces them
version_added: 0.1.0
description:
  - The C(kubectl delete pod) of the runbooks' first response to a stuck pod, made safe for an alert
    at 3 a.m. By default it deletes only the pods that are not ready (the Pod C(Ready) condition), never
    more than O(max_pods), and waits until the workload has all its replicas available again.
  - Stops waiting as soon as a replacement pod crash-loops, cannot pull its image or cannot be configured, and
    fails with that reason (the fault is in the template, a restart or rollback is next).
  - Only the workload's own pods are touched. They are the ones its full label selector (C(matchLabels) and
    C(matchExpressions)) matches, and that the StatefulSet or one of the Deployment's ReplicaSets owns.
  - Guarded by a per-workload lock and a rate limit, like the other actions.
options:
  only_unready:
    description: Delete only pods that are not ready. V(false) deletes ready pods too (a full bounce).
    type: bool
    default: true
  max_pods:
    description: Refuse to delete more pods than this in one run; more needs a rollout restart.
    type: int
    default: 3
  grace_period:
    description: Seconds the pods get to stop (C(kubectl delete --grace-period)). Default, the pod's own.
    type: int
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
    grace_period: 10
"""

RETURN = r"""
deleted:
  description: The pods deleted (or that would be, in check mode), as C(kubectl get pod) facts.
  returned: always
  type: list
  elements: dict
after:
  description: The workload once its replicas were available again (or the wait timed out).
  returned: when changed, O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether every replica was available again before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError, selector_string
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import (
    action_argspec, finish_rollout, get_workload, owned_pods, run_action)
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import pod_summary
from ansible_collections.incident.response.plugins.module_utils.k8s_wait import wait_for


# A replacement in one of these states will not become Ready by waiting: the fault is in the template, not the pod.
STUCK = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "OOMKilled")


def wait_replaced(client, namespace, obj, gone, timeout_s):
    """Until the workload has its replica count of ready pods, none of them a deleted one (`gone`: uids, as a
    StatefulSet pod comes back under its old name); its status may lag, so reading it is not enough. Returns why
    a replacement is stuck (crash loop, image pull, ...) as soon as one is, else None."""
    want = obj["spec"].get("replicas", 1)

    def check(pods):
        fresh = [pod_summary(p) for p in pods if not p["metadata"].get("deletionTimestamp") and p["metadata"].get("uid") not in gone]
        stuck = [s for s in fresh if s["reason"] in STUCK or s["restarts"]]
        if stuck:
            return True, "replacement pod %s is %s" % (stuck[0]["name"], stuck[0]["reason"] or "restarting")
        return sum(1 for s in fresh if s["ready"]) >= want, None

    return wait_for(client, "pods", namespace, check, timeout_s, label_selector=selector_string(obj["spec"]["selector"]))[1]


def main():
    spec = action_argspec(only_unready=dict(type="bool", default=True), max_pods=dict(type="int", default=3),
                          grace_period=dict(type="int"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name, kind = module.params["name"], module.params["kind"]

    def delete(client, namespace, consume):
        obj = get_workload(client, namespace, kind, name)
        pods = owned_pods(client, namespace, kind, obj)
        summaries = [pod_summary(p) for p in pods]
        victims = [s for s in summaries if not s["deleting"] and not (module.params["only_unready"] and s["ready"])]
        if len(victims) > module.params["max_pods"]:
            raise K8sError("would delete %d pods (%s), more than max_pods=%d; use k8s_rollout_restart for a full bounce"
                           % (len(victims), ", ".join(p["name"] for p in victims), module.params["max_pods"]))
        if not victims or module.check_mode:
            return dict(changed=bool(victims), deleted=victims), False
        consume()
        started = time.monotonic()
        names = set(p["name"] for p in victims)
        uids = set(p["metadata"]["uid"] for p in pods if p["metadata"]["name"] in names)
        for pod in victims:
            client.delete_pod(namespace, pod["name"], module.params["grace_period"])
        stuck = wait_replaced(client, namespace, obj, uids, module.params["wait_timeout"]) if module.params["wait"] else None
        if stuck:
            return dict(changed=True, deleted=victims, rollout_complete=False, duration_s=round(time.monotonic() - started, 3),
                        rollout_reason="%s: the fault is in the template, not in the pods" % stuck), True
        fields, failed = finish_rollout(module, client, namespace, name, started, kind)
        return dict(changed=True, deleted=victims, **fields), failed

    run_action(module, name, delete, "%s not available again after deleting its pods" % name)


if __name__ == "__main__":
    main()
