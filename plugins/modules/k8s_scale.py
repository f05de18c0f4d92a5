#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_scale
short_description: Scale a Kubernetes Deployment and wait for the replicas to be available
version_added: 0.1.0
description:
  - The C(kubectl scale deployment/NAME --replicas=N) of the runbooks (add capacity, or scale a bad
    workload to zero), through the C(scale) subresource, then waits until N replicas are available.
  - Idempotent, nothing changes when the Deployment already wants O(replicas). Guarded by a per-workload
    lock and a rate limit. Scaling to zero takes a service down, so it needs O(confirm=true).
options:
  name:
    description: The Deployment.
    type: str
    required: true
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
- name: Add workers while the backlog drains
  incident.response.k8s_scale:
    namespace: production
    name: shop-worker
    replicas: 4
"""

RETURN = r"""
before:
  description: The Deployment before scaling.
  returned: always
  type: dict
after:
  description: The Deployment once the replicas are available (or the wait timed out).
  returned: when changed, O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether O(replicas) replicas were available before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.guard import require_confirm
from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    deployment_summary)
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import action_argspec, finish_rollout, run_action


def main():
    spec = action_argspec(replicas=dict(type="int", required=True), confirm=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name, replicas = module.params["name"], module.params["replicas"]
    if replicas < 0:
        module.fail_json(msg="replicas must be 0 or more, got %d" % replicas)
    if replicas == 0:
        require_confirm(module, "confirm", "scaling %s to zero replicas (takes it down)" % name)

    def scale(client, namespace, consume):
        before = deployment_summary(client.deployment(namespace, name))
        diff = dict(before=dict(replicas=before["replicas"]), after=dict(replicas=replicas))
        if before["replicas"] == replicas:
            return dict(changed=False, before=before, diff=diff), False
        if module.check_mode:
            return dict(changed=True, before=before, diff=diff), False
        consume()
        started = time.monotonic()
        client.scale(namespace, name, replicas)
        fields, failed = finish_rollout(module, client, namespace, name, started)
        return dict(changed=True, before=before, diff=diff, **fields), failed

    run_action(module, name, scale, "%s did not reach %d available replicas" % (name, replicas))


if __name__ == "__main__":
    main()
