#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_rollout_restart
short_description: Restart a Kubernetes Deployment's or StatefulSet's pods with a rolling restart, and wait for it
version_added: 0.1.0
description:
  - The C(kubectl rollout restart deployment/NAME) (or C(statefulset/NAME)) of the runbooks, then C(kubectl rollout status), in one task.
  - Stamps the pod template with C(kubectl.kubernetes.io/restartedAt), so the Deployment controller replaces
    every pod with a rolling update, and waits until the rollout is complete.
  - Refuses a paused Deployment, where the restart would report success and roll nothing out.
  - Guarded like the Docker actions, a per-workload lock and a rate limit.
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.k8s
  - incident.response.k8s.ACTION
author:
  - incident.response contributors (@incident-response)
"""

EXAMPLES = r"""
- name: Rolling restart of the API (ServiceDown runbook, step 2)
  incident.response.k8s_rollout_restart:
    namespace: production
    name: shop-api
    wait_timeout: 180
"""

RETURN = r"""
before:
  description: The Deployment before the restart (replicas, ready, revision, images, rollout state).
  returned: always
  type: dict
after:
  description: The Deployment once the rollout finished or timed out.
  returned: when O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether every replica was replaced and available before O(wait_timeout).
  returned: when O(wait=true) and not in check mode
  type: bool
rollout_reason:
  description: The rollout state in the words of C(kubectl rollout status).
  returned: when O(wait=true) and not in check mode
  type: str
duration_s:
  description: Seconds from the patch to the end of the wait.
  returned: when not in check mode
  type: float
"""

import time
from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import RESTARTED_AT
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import (
    action_argspec, finish_rollout, get_workload, refuse_paused, run_action)
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import workload_summary


def main():
    spec = action_argspec()
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name, kind = module.params["name"], module.params["kind"]

    def restart(client, namespace, consume):
        obj = get_workload(client, namespace, kind, name)
        refuse_paused(kind, obj, "restart")
        before = workload_summary(kind, obj)
        if module.check_mode:
            return dict(changed=True, before=before, msg="would restart every pod of %s/%s" % (namespace, name)), False
        consume()
        started = time.monotonic()
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        client.patch(kind + "s", namespace, name, {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}})
        fields, failed = finish_rollout(module, client, namespace, name, started, kind)
        return dict(changed=True, before=before, **fields), failed

    run_action(module, name, restart, "rollout restart of %s did not complete" % name)


if __name__ == "__main__":
    main()
