#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_rollback
short_description: Roll a Kubernetes Deployment or StatefulSet back to an earlier revision, and wait for it
version_added: 0.1.0
description:
  - The C(kubectl rollout undo deployment/NAME [--to-revision=N]) of the runbooks, then C(kubectl rollout status).
  - Does what kubectl's rollbacker does. For a Deployment, a JSON patch replaces C(/spec/template) with the
    revision's ReplicaSet template (so a sidecar or env var added by the bad revision goes away) and
    C(/metadata/annotations) with the revision's, keeping the Deployment's own bookkeeping annotations.
    For a StatefulSet, the revision's ControllerRevision data is applied as a strategic merge patch.
  - Refuses a paused Deployment (nothing would roll out), and changes nothing when the current template
    already equals the revision's.
options:
  to_revision:
    description:
      - Revision to go back to (see M(incident.response.k8s_workload_info) C(history) and C(last_good_revision)).
        Default, the second newest revision, as with kubectl.
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

- name: Back to the revision that was good before the response started
  incident.response.k8s_rollback:
    namespace: production
    name: shop-api
    to_revision: "{{ k8s_before.workloads['shop-api'].last_good_revision }}"
"""

RETURN = r"""
from_revision:
  description: Revision running before the rollback (a ControllerRevision number for a StatefulSet).
  returned: always
  type: int
to_revision:
  description: Revision rolled back to (a Deployment gets a new revision number for it, as with kubectl).
  returned: always
  type: int
from_images:
  description: Images before the rollback.
  returned: always
  type: list
  elements: str
to_images:
  description: Images of the revision rolled back to.
  returned: always
  type: list
  elements: str
msg:
  description: What was done, or why nothing changed.
  returned: always
  type: str
after:
  description: The workload once the rollout finished or timed out.
  returned: when changed, O(wait=true) and not in check mode
  type: dict
rollout_complete:
  description: Whether the rollback rollout completed before O(wait_timeout).
  returned: when changed, O(wait=true) and not in check mode
  type: bool
rollout_reason:
  description: The rollout state in the words of C(kubectl rollout status).
  returned: when changed, O(wait=true) and not in check mode
  type: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import JSON_PATCH, STRATEGIC, revision_of
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import (
    action_argspec, finish_rollout, get_workload, run_action)
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import template_images
from ansible_collections.incident.response.plugins.module_utils.k8s_rollout import (
    plan_deployment_rollback, plan_statefulset_rollback, revision_template)


def plan(client, namespace, kind, obj, wanted):
    """(from_revision, to_revision, target template, patch or None, content type)."""
    if kind == "statefulset":
        revisions = client.items("controllerrevisions", namespace)
        target, patch = plan_statefulset_rollback(obj, revisions, wanted)
        status = obj.get("status") or {}
        current = next((r.get("revision") for r in revisions if r["metadata"]["name"] == status.get("updateRevision")), None)
        return current, target.get("revision"), revision_template(target), patch, STRATEGIC
    target, patch = plan_deployment_rollback(obj, client.items("replicasets", namespace), wanted)
    return revision_of(obj), revision_of(target), target["spec"]["template"], patch, JSON_PATCH


def main():
    spec = action_argspec(to_revision=dict(type="int"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    name, kind, wanted = module.params["name"], module.params["kind"], module.params["to_revision"]

    def rollback(client, namespace, consume):
        obj = get_workload(client, namespace, kind, name)
        current, target, template, patch, ctype = plan(client, namespace, kind, obj, wanted)
        result = dict(from_revision=current, to_revision=target, from_images=template_images(obj["spec"]["template"]),
                      to_images=template_images(template))
        result["diff"] = dict(before=dict(revision=current, template=obj["spec"]["template"]),
                              after=dict(revision=target, template=template))
        if patch is None:
            return dict(changed=False, msg="skipped rollback: the current template of %s %s already matches revision %s"
                        % (kind, name, target), **result), False
        if module.check_mode:
            return dict(changed=True, msg="would roll %s %s back to revision %s" % (kind, name, target), **result), False
        consume()
        started = time.monotonic()
        client.patch(kind + "s", namespace, name, patch, content_type=ctype)
        fields, failed = finish_rollout(module, client, namespace, name, started, kind)
        return dict(changed=True, msg="rolled %s %s back to revision %s" % (kind, name, target), **dict(result, **fields)), failed

    run_action(module, name, rollback, "rollback of %s did not complete" % name)


if __name__ == "__main__":
    main()
