#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_workload_info
short_description: State of Kubernetes Deployments, their pods and rollout history
version_added: 0.1.0
description:
  - Replaces C(kubectl get deploy,pods), C(kubectl describe pod) and C(kubectl rollout history) during triage.
  - Per Deployment, reports replicas, ready and updated counts, rollout progress, the revision history
    with images, and per pod the phase, readiness, restarts, why it is down (C(CrashLoopBackOff),
    last exit code, C(OOMKilled)) and optionally its last log lines with error lines counted.
  - Returns RV(findings) like the other diagnostics, and never changes anything.
options:
  names:
    description: Deployments to inspect. Empty means every Deployment of the namespace.
    type: list
    elements: str
    default: []
  log_lines:
    description: Last log lines to read per pod that is not ready (0 disables logs).
    type: int
    default: 20
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
    host: https://k8s.example.com:6443
    api_key: "{{ k8s_token }}"
    namespace: production
    names: [shop-api]
  register: k8s_api

- name: Every deployment of the namespace in the kubeconfig's current context
  incident.response.k8s_workload_info:
    namespace: production
"""

RETURN = r"""
reachable:
  description: Whether the API server answered.
  returned: always
  type: bool
workloads:
  description: Per Deployment name, its state.
  returned: always
  type: dict
  sample:
    shop-api:
      state: degraded
      deployment: {replicas: 2, ready: 1, updated: 2, revision: 4, images: ["shop/api:1.4.2"],
                   rollout_complete: false, rollout_reason: "1 of 2 updated replicas available"}
      pods: [{name: shop-api-5d9c7-x2x1z, phase: Running, ready: false, restarts: 7,
              reason: CrashLoopBackOff, last_exit_code: 137, last_reason: OOMKilled, oom_killed: true}]
      history: [{revision: 3, images: ["shop/api:1.4.1"]}, {revision: 4, images: ["shop/api:1.4.2"]}]
findings:
  description: What is wrong, as C({severity, check, message}) items (critical, warning, info).
  returned: always
  type: list
  elements: dict
error:
  description: Why the API server could not be read, when O(unreachable_ok=true).
  returned: when unreachable
  type: str
"""

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    K8S_ARGSPEC, K8sClient, K8sError, deployment_summary, pod_summary, revision_of, selector_of)

ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL|panic|Traceback)\b")


def workload_state(dep, pods):
    summary = deployment_summary(dep)
    if summary["replicas"] == 0:
        return "scaled_to_zero"
    if summary["available"] == 0:
        return "down"
    if summary["available"] < summary["replicas"] or not summary["rollout_complete"]:
        return "degraded"
    return "healthy"


def findings_for(name, state, summary, pods):
    found = []
    if state == "down":
        found.append(dict(severity="critical", check="k8s_available",
                          message="%s: no replica available (0 of %d)" % (name, summary["replicas"])))
    elif state == "degraded":
        found.append(dict(severity="warning", check="k8s_available",
                          message="%s: %d of %d replicas available; rollout: %s"
                          % (name, summary["available"], summary["replicas"], summary["rollout_reason"])))
    for pod in pods:
        if pod["oom_killed"]:
            found.append(dict(severity="critical", check="k8s_oom", message="%s: pod %s was OOMKilled" % (name, pod["name"])))
        if pod["reason"] == "CrashLoopBackOff":
            found.append(dict(severity="critical", check="k8s_crashloop",
                              message="%s: pod %s in CrashLoopBackOff (%d restarts, last exit %s)"
                              % (name, pod["name"], pod["restarts"], pod["last_exit_code"])))
    if "deadline" in summary["rollout_reason"]:
        found.append(dict(severity="critical", check="k8s_rollout", message="%s: %s" % (name, summary["rollout_reason"])))
    return found


def inspect(client, namespace, dep, log_lines):
    name = dep["metadata"]["name"]
    pods = [pod_summary(p) for p in client.pods(namespace, selector_of(dep))]
    if log_lines:
        for pod in pods:
            if not pod["ready"]:
                text = client.pod_log(namespace, pod["name"], log_lines)
                lines = text.splitlines() if isinstance(text, str) else []
                pod["log_errors"] = sum(1 for line in lines if ERROR_LINE.search(line))
                pod["log_sample"] = [line for line in lines if ERROR_LINE.search(line)][-5:]
    history = [dict(revision=revision_of(rs), images=[c["image"] for c in rs["spec"]["template"]["spec"]["containers"]],
                    replicas=rs["spec"].get("replicas", 0))
               for rs in client.replicasets(namespace, dep)]
    summary = deployment_summary(dep)
    state = workload_state(dep, pods)
    return dict(state=state, deployment=summary, pods=pods, history=history), findings_for(name, state, summary, pods)


def main():
    spec = dict(K8S_ARGSPEC, names=dict(type="list", elements="str", default=[]),
                log_lines=dict(type="int", default=20), unreachable_ok=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    client, namespace = K8sClient.from_module(module)
    workloads, findings = {}, []
    try:
        if module.params["names"]:
            deps = []
            for name in module.params["names"]:
                try:
                    deps.append(client.deployment(namespace, name))
                except K8sError as exc:
                    if exc.status != 404:
                        raise
                    workloads[name] = dict(state="missing")
                    findings.append(dict(severity="critical", check="k8s_exists",
                                         message="deployment %s/%s does not exist" % (namespace, name)))
        else:
            deps = client.call("GET", client._apps(namespace, "deployments"))["items"]
        for dep in deps:
            workloads[dep["metadata"]["name"]], found = inspect(client, namespace, dep, module.params["log_lines"])
            findings.extend(found)
    except K8sError as exc:
        if not module.params["unreachable_ok"] or exc.status:
            module.fail_json(msg=str(exc))
        module.exit_json(changed=False, reachable=False, error=str(exc), workloads={},
                         findings=[dict(severity="critical", check="k8s_api", message=str(exc))])
    module.exit_json(changed=False, reachable=True, workloads=workloads, findings=findings)


if __name__ == "__main__":
    main()
