#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_rollback
short_description: Roll a Kubernetes Deployment back to an earlier revision, and wait for it
version_added: 0.1.0
description:
  - The C(kubectl rollout undo deployment/NAME [--to-revision=N]) of the runbooks, then C(kubectl rollout status).
  - Finds the ReplicaSet of the wanted revision (default, the one before the current) and puts its pod
    template back on the Deployment, as kubectl does; the controller then rolls the pods back.
  - Idempotent on the revision's template, nothing changes when the Deployment already runs it.
options:
  name:
    description: The Deployment.
    type: str
    required: true
  to_revision:
    description: Revision to go back to (see M(incident.response.k8s_workload_info) C(history)). Default, the previous one.
    type: int
extends_documentation_fragment:
  - incident.response.attributes.diff
  - incident.response.k8s
  - incident.response.k8s.ACTION
author:
  - incident.response contributors (@incident-response)
"""

EXAMPLES = r"""
- name: Undo the deploy that raised the error rate (HighErrorRate runbook)
  incident.response.k8s_rollback:
    namespace: production
    name: shop-api
"""

RETURN = r"""
from_revision:
  description: Revision running before the rollback.
  returned: always
  type: int
to_revision:
  description: Revision rolled back to (the Deployment gets a new revision number for it, as with kubectl).
  returned: always
  type: int
from_images:
  description: Images before the rollback.
  returned: always
  type: list
  elements: str
to_images:
  description: Images after the rollback.
  returned: always
  type: list
  elements: str
after:
  description: The Deployment once the rollout finished or timed out.
  returned: when changed, O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether the rollback rollout completed before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
"""

import copy
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    K8sError, revision_of)
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import action_argspec, finish_rollout, run_action


def images(template):
    return [c["image"] for c in template["spec"]["containers"]]


def main():
    spec = action_argspec(to_revision=dict(type="int"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name, wanted = module.params["name"], module.params["to_revision"]

    def rollback(client, namespace, consume):
        dep = client.deployment(namespace, name)
        current = revision_of(dep)
        history = client.replicasets(namespace, dep)
        older = [rs for rs in history if revision_of(rs) != current]
        target = next((rs for rs in history if revision_of(rs) == wanted), None) if wanted else (older[-1] if older else None)
        if target is None:
            raise K8sError("no revision %s to roll back to (known: %s)"
                           % (wanted or "before %d" % current, [revision_of(rs) for rs in history]))
        template = copy.deepcopy(target["spec"]["template"])
        template["metadata"].get("labels", {}).pop("pod-template-hash", None)
        result = dict(from_revision=current, to_revision=revision_of(target), from_images=images(dep["spec"]["template"]),
                      to_images=images(template))
        result["diff"] = dict(before=dict(images=result["from_images"]), after=dict(images=result["to_images"]))
        if revision_of(target) == current:
            return dict(changed=False, **result), False
        if module.check_mode:
            return dict(changed=True, **result), False
        consume()
        started = time.monotonic()
        client.patch_deployment(namespace, name, {"spec": {"template": template}})
        fields, failed = finish_rollout(module, client, namespace, name, started)
        return dict(changed=True, **dict(result, **fields)), failed

    run_action(module, name, rollback, "rollback of %s did not complete" % name)


if __name__ == "__main__":
    main()
