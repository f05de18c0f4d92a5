# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the Kubernetes action modules run (k8s_rollout_restart, k8s_rollback, k8s_scale, k8s_pod_delete): their
shared options, the guarded-action path (lock, rate limit: guarded_action.py) around the API calls of
k8s_api.py, and waiting for the rollout like `kubectl rollout status`."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.incident.response.plugins.module_utils.guard import GUARD_ARGSPEC
from ansible_collections.incident.response.plugins.module_utils.guarded_action import RateLimitOptions, guarded_action
from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    K8S_ARGSPEC, K8sClient, K8sError, deployment_summary)

K8S_WAIT_ARGSPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float", default=120.0),
)
ACTION_LIMIT = RateLimitOptions("max_actions", "action_window")


def action_argspec(**options):
    """argument_spec of an action module: connection, wait, guard rails (the ACTION doc fragment),
    the Deployment `name`, and the module's own `options`."""
    spec = dict(K8S_ARGSPEC, **K8S_WAIT_ARGSPEC)
    spec.update(GUARD_ARGSPEC, name=dict(type="str", required=True), max_actions=dict(type="int", default=3),
                action_window=dict(type="int", default=900))
    spec.update(options)
    return spec


def run_action(module, name, action, unfinished):
    """Connect, run `action(client, namespace, consume)` on the guarded-action path and end the module.

    `action` returns (result, failed) and calls consume() right before it changes anything (what the rate limit
    counts); a failed rollout fails with `unfinished` ("rollout restart of api did not complete") and the reason.
    Every refusal or API error becomes one clear failure."""
    client, namespace = K8sClient.from_module(module)
    with guarded_action(module, "k8s-%s-%s" % (namespace, name), "%s/%s" % (namespace, name), (K8sError,),
                        limit=ACTION_LIMIT) as guard:
        result, failed = action(client, namespace, guard.consume)
    if failed:
        module.fail_json(msg="%s: %s" % (unfinished, result.get("rollout_reason")), **result)
    module.exit_json(**result)


def finish_rollout(module, client, namespace, name, started):
    """Wait for the rollout when asked; (result fields, failed) like `kubectl rollout status`."""
    if not module.params["wait"]:
        return dict(duration_s=round(time.monotonic() - started, 3)), False
    done, dep, reason = client.wait_rollout(namespace, name, module.params["wait_timeout"])
    return dict(after=deployment_summary(dep), rollout_complete=done, rollout_reason=reason,
                duration_s=round(time.monotonic() - started, 3)), not done
