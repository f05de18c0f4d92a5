# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the Kubernetes action modules run (k8s_rollout_restart, k8s_rollback, k8s_scale, k8s_pod_delete,
k8s_set_resources): shared options, the guarded-action path (lock, rate limit: guarded_action.py) around the
API calls of k8s_api.py, the workload and its own pods, its HPA, and waiting for the rollout (k8s_wait.py)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import hashlib
import time

from ansible_collections.incident.response.plugins.module_utils.guard import GUARD_ARGSPEC
from ansible_collections.incident.response.plugins.module_utils.guarded_action import RateLimitOptions, guarded_action
from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    K8S_ARGSPEC, K8sClient, K8sError, selector_string)
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import workload_summary
from ansible_collections.incident.response.plugins.module_utils.k8s_rollout import owned_by
from ansible_collections.incident.response.plugins.module_utils.k8s_wait import wait_rollout

K8S_WAIT_ARGSPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="float", default=120.0),
)
ACTION_LIMIT = RateLimitOptions("max_actions", "action_window")
PLURAL = {"deployment": "deployments", "statefulset": "statefulsets"}


def action_argspec(**options):
    """argument_spec of an action module: connection, wait, guard rails (the ACTION doc fragment),
    the workload `name` and `kind`, and the module's own `options`."""
    spec = dict(K8S_ARGSPEC, **K8S_WAIT_ARGSPEC)
    spec.update(GUARD_ARGSPEC, name=dict(type="str", required=True), max_actions=dict(type="int", default=3),
                action_window=dict(type="int", default=900),
                kind=dict(type="str", default="deployment", choices=["deployment", "statefulset"]))
    spec.update(options)
    return spec


def run_action(module, name, action, unfinished):
    """Connect, run `action(client, namespace, consume)` on the guarded-action path and end the module.

    `action` returns (result, failed) and calls consume() right before it changes anything (what the rate limit
    counts); a failed rollout fails with `unfinished` ("rollout restart of api did not complete") and the reason.
    Every refusal or API error becomes one clear failure."""
    client, namespace = K8sClient.from_module(module)
    kind = module.params.get("kind", "deployment")
    what = "%s %s/%s" % (kind, namespace, name)  # the API error says where (context, server, kubeconfig)
    # one lock and rate limit per workload of one API server: the same namespace/name on two clusters are two
    host = getattr(getattr(client.api, "configuration", None), "host", None) or client.where
    server = hashlib.sha256(str(host).encode()).hexdigest()[:8]
    with guarded_action(module, "k8s-%s-%s-%s-%s" % (server, kind, namespace, name), what, (K8sError,), limit=ACTION_LIMIT) as guard:
        result, failed = action(client, namespace, guard.consume)
    if failed:
        detail = result.pop("msg", None)
        module.fail_json(msg="%s: %s" % (unfinished, detail or result.get("rollout_reason")), **result)
    module.exit_json(**result)


def get_workload(client, namespace, kind, name):
    """The Deployment/StatefulSet; a 404 says whether the workload or the namespace is missing."""
    try:
        return client.get(PLURAL[kind], namespace, name)
    except K8sError as exc:
        if exc.status != 404:
            raise
        if namespace_missing(client, namespace):
            raise K8sError("namespace %s does not exist (%s)" % (namespace, client.where), 404)
        raise K8sError("%s %s not found in namespace %s (%s)" % (kind, name, namespace, client.where), 404)


def namespace_missing(client, namespace):
    try:
        client.get("namespaces", None, namespace)
    except K8sError as exc:
        return exc.status == 404
    return False


def owned_pods(client, namespace, kind, obj):
    """The pods the workload owns: its selector (matchExpressions too), then only pods whose owner is the
    StatefulSet or one of the Deployment's ReplicaSets (a selector may match other pods)."""
    selector = selector_string((obj.get("spec") or {}).get("selector"))
    if not selector:
        raise K8sError("%s %s has an empty selector; refusing to act on every pod of the namespace" % (kind, obj["metadata"]["name"]))
    pods = client.items("pods", namespace, label_selector=selector)
    owners = set([obj["metadata"]["uid"]])
    if kind == "deployment":
        owners = set(rs["metadata"]["uid"] for rs in client.items("replicasets", namespace, label_selector=selector)
                     if owned_by(rs, obj["metadata"]["uid"]))
    return [p for p in pods if any(owned_by(p, uid) for uid in owners)]


def find_hpa(client, namespace, kind, name):
    """The autoscaling/v2 HPA targeting the workload, or None (also when HPAs cannot be read)."""
    try:
        hpas = client.items("horizontalpodautoscalers", namespace)
    except K8sError as exc:
        if exc.status in (403, 404):
            return None
        raise
    for hpa in hpas:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind", "").lower() == kind and ref.get("name") == name:
            return hpa
    return None


def hpa_summary(hpa):
    if not hpa:
        return None
    spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
    return dict(name=hpa["metadata"]["name"], min=spec.get("minReplicas", 1), max=spec.get("maxReplicas"),
                current=status.get("currentReplicas"), desired=status.get("desiredReplicas"))


def refuse_paused(kind, obj, what):
    if kind == "deployment" and (obj.get("spec") or {}).get("paused"):
        raise K8sError("deployment %s is paused; resume it first (kubectl rollout resume): a %s would not roll out"
                       % (obj["metadata"]["name"], what))


def finish_rollout(module, client, namespace, name, started, kind="deployment"):
    """Wait for the rollout when asked; (result fields, failed) like `kubectl rollout status`."""
    if not module.params["wait"]:
        return dict(duration_s=round(time.monotonic() - started, 3)), False
    done, obj, reason = wait_rollout(client, kind, namespace, name, module.params["wait_timeout"])
    return dict(after=workload_summary(kind, obj) if obj else None, rollout_complete=done, rollout_reason=reason,
                duration_s=round(time.monotonic() - started, 3)), not done
