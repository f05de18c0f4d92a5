#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_workload_info
short_description: State of Kubernetes Deployments, StatefulSets and pods, with logs, events and the last good revision
version_added: 0.1.0
description:
  - Replaces C(kubectl get deploy,sts,pods), C(kubectl describe pod), C(kubectl logs [--previous]),
    C(kubectl get events), C(kubectl top pod) and C(kubectl rollout history) during triage.
  - Per workload, reports replicas, ready and updated counts, rollout progress, the revision history with
    images, the HPA targeting it, and per pod the Pod C(Ready) condition, its node and whether that node is
    Ready, restarts, and every container (init containers too) with why it is down.
  - Waiting reasons become RV(findings) (C(CrashLoopBackOff), C(ImagePullBackOff), C(ErrImagePull),
    C(CreateContainerConfigError), C(Unschedulable), C(OOMKilled), node C(NotReady), paused rollouts).
    A log the API will not serve (a container that never started) is a finding too, never a failure.
  - C(last_good_revision) is the revision to roll back to. It is the current one when its rollout is
    complete, else the newest older revision whose ReplicaSet still serves all its replicas.
  - Never changes anything.
options:
  names:
    description: Workloads to inspect. Empty means every Deployment and StatefulSet of the namespace (bare pods with O(kind=pod)).
    type: list
    elements: str
    default: []
  kind:
    description: Kind of the named workloads; V(auto) tries Deployment, then StatefulSet, then Pod.
    type: str
    choices: [auto, deployment, statefulset, pod]
    default: auto
  log_lines:
    description: Last log lines to read per container of an unready pod (0 disables logs).
    type: int
    default: 20
  previous_logs:
    description: Also read the logs of the previous run of restarted containers (C(kubectl logs --previous)).
    type: bool
    default: true
  events:
    description: Read the events of the workload, its ReplicaSets and pods.
    type: bool
    default: true
  metrics:
    description: Read pod CPU and memory use from the metrics API (C(metrics.k8s.io)) when the cluster serves it.
    type: bool
    default: true
  unreachable_ok:
    description: When the API server does not answer, return RV(reachable=false) and a finding instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - incident.response.attributes.info
  - incident.response.k8s
author:
  - incident.response contributors (@incident-response)
"""

EXAMPLES = r"""
- name: What is wrong with the API pods
  incident.response.k8s_workload_info:
    kubeconfig: ~/.kube/config
    context: prod-cluster
    namespace: production
    names: [shop-api]
  register: k8s_api

- name: Every Deployment and StatefulSet of the namespace in the kubeconfig's current context
  incident.response.k8s_workload_info:
    namespace: production
"""

RETURN = r"""
reachable:
  description: Whether the API server answered.
  returned: always
  type: bool
namespace:
  description: The namespace read.
  returned: always
  type: str
workloads:
  description:
    - Per workload name, C(kind), C(state) (healthy, degraded, down, missing, paused, scaled_to_zero), the
      C(deployment), C(statefulset) or C(pod) summary, C(pods), C(history), C(events), C(hpa), C(metrics),
      C(nodes), C(last_good_revision) and C(last_good_basis) (why that revision), C(previous_revision) (the newest older
      revision with another template, what C(kubectl rollout undo) goes back to) and C(current_version) (C(since), when
      the running template first rolled out, rollout restarts left out; C(rolled_back), it is an older ReplicaSet brought
      back; C(by_responder), a change of this collection's actions).
  returned: always
  type: dict
  sample:
    shop-api:
      kind: deployment
      state: degraded
      deployment: {replicas: 2, ready: 1, available: 1, updated: 1, revision: 4, images: ["shop/api:1.4.2"], paused: false,
                   rollout_complete: false, rollout_reason: "1 of 2 updated replicas available"}
      pods: [{name: shop-api-5d9c7-x2x1z, phase: Running, ready: false, node: node-1, node_ready: true, restarts: 7,
              reason: CrashLoopBackOff, last_exit_code: 137, last_reason: OOMKilled, oom_killed: true,
              containers: [{name: api, init: false, ready: false, restarts: 7, state: waiting, reason: CrashLoopBackOff,
                            last_reason: OOMKilled, last_exit_code: 137, oom_killed: true, image: "shop/api:1.4.2",
                            memory_limit: 256Mi}],
              logs: {api: ["..."]}, previous_logs: {api: ["..."]}, log_errors: 1}]
      history: [{revision: 3, images: ["shop/api:1.4.1"], current: false}, {revision: 4, images: ["shop/api:1.4.2"], current: true}]
      hpa: {name: shop-api, min: 2, max: 6, current: 2, desired: 2}
      last_good_revision: 3
findings:
  description: What is wrong, as C({severity, check, message, workload, pod, container}) items (critical, warning, info).
  returned: always
  type: list
  elements: dict
error:
  description: Why the API server could not be read, when O(unreachable_ok=true).
  returned: when unreachable
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8S_ARGSPEC, K8sClient, K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_collect import NamespaceReader


def collect(reader, params):
    """(workloads, findings)."""
    workloads, findings, targets = {}, [], []
    ns = reader.namespace
    if params["names"]:
        for name in params["names"]:
            kind, obj = reader.find(name, params["kind"])
            if obj is None:
                what = "namespace %s does not exist" % ns if not reader.namespace_exists() else \
                    "%s %s not found in namespace %s" % ("workload" if params["kind"] == "auto" else params["kind"], name, ns)
                workloads[name] = dict(state="missing", kind=None)
                findings.append(dict(severity="critical", check="k8s_exists", workload=name,
                                     message="%s (%s)" % (what, reader.client.where)))
            else:
                targets.append((kind, obj))
    elif params["kind"] == "pod":
        targets = [("pod", p) for p in reader.client.items("pods", ns) if not p["metadata"].get("ownerReferences")]
    else:
        kinds = ["deployment", "statefulset"] if params["kind"] == "auto" else [params["kind"]]
        targets = [(k, o) for k in kinds for o in reader.client.items(k + "s", ns)]
    for kind, obj in targets:
        workloads[obj["metadata"]["name"]], found = reader.inspect(kind, obj)
        findings.extend(dict(f, workload=obj["metadata"]["name"]) for f in found)
    return workloads, findings


def main():
    spec = dict(K8S_ARGSPEC, names=dict(type="list", elements="str", default=[]),
                kind=dict(type="str", default="auto", choices=["auto", "deployment", "statefulset", "pod"]),
                log_lines=dict(type="int", default=20), previous_logs=dict(type="bool", default=True),
                events=dict(type="bool", default=True), metrics=dict(type="bool", default=True),
                unreachable_ok=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    client, namespace = K8sClient.from_module(module)
    p = module.params
    reader = NamespaceReader(client, namespace, p["log_lines"], p["previous_logs"], p["events"], p["metrics"])
    try:
        workloads, findings = collect(reader, p)
    except K8sError as exc:
        if not p["unreachable_ok"] or exc.status:
            module.fail_json(msg=str(exc), namespace=namespace, status=exc.status)
        module.exit_json(changed=False, reachable=False, error=str(exc), workloads={}, namespace=namespace,
                         findings=[dict(severity="critical", check="k8s_api", message=str(exc))])
    module.exit_json(changed=False, reachable=True, namespace=namespace, workloads=workloads, findings=findings)


if __name__ == "__main__":
    main()
