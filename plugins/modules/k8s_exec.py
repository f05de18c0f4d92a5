#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_exec
short_description: Run a command in a Kubernetes pod's container (kubectl exec, never a shell)
version_added: 0.1.0
description:
  - The C(kubectl exec) of the runbooks, for checks where no direct connection exists, such as
    C(psql -c "SELECT ... FROM pg_stat_activity") in the database pod or C(redis-cli info) in the cache pod.
  - The command is an argv list passed as is to the container runtime, so nothing an alert or a user typed is
    ever interpreted by a shell. A single string with blanks (a shell command line) is refused; run
    C([sh, -c, "..."]) explicitly when a shell is really wanted.
  - Runs through the official C(kubernetes) client (C(kubernetes.stream), WebSocket with the C(v5.channel.k8s.io)
    or C(v4.channel.k8s.io) subprotocol); the exit code comes from the API's error channel.
  - The pod is O(pod), or the first Ready pod that the Deployment or StatefulSet O(name) owns. Without O(container),
    the container is the one kubectl picks, the C(kubectl.kubernetes.io/default-container) annotation, else the
    first container.
  - Check mode reports the argv, pod and container and runs nothing, unless O(read_only=true). The caller then
    vouches that the command only reads, so it runs in check mode too and the module never reports a change.
  - The output is redacted with the collection's rules (passwords, tokens, DSNs, C(redis-cli -a) arguments, the
    run's known secret values) before it is returned, as the incident record would.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.k8s
options:
  pod:
    description: Name of the pod to run the command in. Mutually exclusive with O(name).
    type: str
  name:
    description:
      - A Deployment or StatefulSet (see O(kind)); the command runs in the first Ready pod it owns (by name).
      - Mutually exclusive with O(pod).
    type: str
  kind:
    description: Kind of the workload named by O(name).
    type: str
    choices: [deployment, statefulset]
    default: deployment
  container:
    description: Container to run the command in; default, the pod's default container as kubectl picks it.
    type: str
  command:
    description:
      - The argv to run, for example V([psql, -U, postgres, -c, "SELECT * FROM pg_stat_activity"]).
      - Never a shell string; the first item must be a program name without blanks.
    type: list
    elements: str
    required: true
  read_only:
    description:
      - The caller vouches that O(command) only reads (a C(SELECT), C(redis-cli info)). It then runs in check mode
        too and the module reports RV(ignore:changed=false). Otherwise the command counts as a change and check mode
        does not run it.
    type: bool
    default: false
  timeout:
    description:
      - Seconds to wait for the command. On timeout the module fails; closing the stream does not necessarily kill the
        process in the container, so bound long commands in the argv itself (C(timeout 30 ...)).
    type: float
    default: 30.0
  max_output:
    description: Characters of stdout and of stderr kept (the end of each).
    type: int
    default: 65536
  fail_on_rc:
    description: Fail when the command exits non-zero.
    type: bool
    default: true
notes:
  - Needs RBAC C(get) on C(pods) (and on the workload with O(name)) and C(create) on C(pods/exec).
  - The container must be running; a waiting or terminated container (crash loop, image pull error) fails with the
    reason from the pod status, before anything is sent to the kubelet.
"""

EXAMPLES = r"""
- name: Sessions of the database (runbook 001, no direct connection to PostgreSQL)
  incident.response.k8s_exec:
    namespace: production
    name: postgres
    kind: statefulset
    command: [psql, -U, postgres, -c, "SELECT pid, state, wait_event, query FROM pg_stat_activity;"]
    read_only: true
  register: pg_activity

- name: Redis INFO from the cache pod
  incident.response.k8s_exec:
    namespace: production
    pod: redis-0
    container: redis
    command: [redis-cli, info]
    read_only: true
  register: redis_info

- name: Flush one stale key (a change; check mode does not run it)
  incident.response.k8s_exec:
    namespace: production
    name: redis
    kind: statefulset
    command: [redis-cli, del, "feature-cache:v1"]
"""

RETURN = r"""
argv:
  description: The argv run (or that would run), redacted.
  returned: always
  type: list
  elements: str
pod:
  description: The pod the command runs (or would run) in.
  returned: always
  type: str
container:
  description: The container the command runs (or would run) in.
  returned: always
  type: str
container_defaulted:
  description: Whether O(container) was not given and the pod has several containers (kubectl's "Defaulted container").
  returned: always
  type: bool
namespace:
  description: The namespace of the pod.
  returned: always
  type: str
rc:
  description: Exit code of the command.
  returned: when the command ran
  type: int
stdout:
  description: Standard output, redacted, at most O(max_output) characters (the end of it).
  returned: when the command ran
  type: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: when the command ran
  type: list
  elements: str
stderr:
  description: Standard error, redacted, at most O(max_output) characters (the end of it).
  returned: when the command ran
  type: str
stderr_lines:
  description: RV(stderr) split into lines.
  returned: when the command ran
  type: list
  elements: str
output_truncated:
  description: Whether RV(stdout) or RV(stderr) was cut to O(max_output).
  returned: when the command ran
  type: bool
elapsed_s:
  description: Seconds the command took, as seen by the client.
  returned: when the command ran
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8S_ARGSPEC, K8sClient, K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_actions import get_workload, owned_pods
from ansible_collections.incident.response.plugins.module_utils.k8s_exec import (
    clip_tail, is_ready, not_running, pick_container, run_exec)
from ansible_collections.incident.response.plugins.module_utils.redact import redact, redact_text


def find_pod(client, namespace, p):
    """The pod: O(pod), or the first Ready pod (by name) the workload owns."""
    if p["pod"]:
        try:
            return client.get("pods", namespace, p["pod"])
        except K8sError as exc:
            if exc.status == 404:
                raise K8sError("pod %s not found in namespace %s (%s)" % (p["pod"], namespace, client.where), 404)
            raise
    obj = get_workload(client, namespace, p["kind"], p["name"])
    pods = sorted(owned_pods(client, namespace, p["kind"], obj), key=lambda pod: pod["metadata"]["name"])
    ready = [pod for pod in pods if is_ready(pod)]
    if not ready:
        raise K8sError("no Ready pod of %s %s in namespace %s (%d pods: %s)" % (
            p["kind"], p["name"], namespace, len(pods), ", ".join(pod["metadata"]["name"] for pod in pods) or "none"), 0)
    return ready[0]


def main():
    argument_spec = dict(
        pod=dict(type="str"),
        name=dict(type="str"),
        kind=dict(type="str", default="deployment", choices=["deployment", "statefulset"]),
        container=dict(type="str"),
        command=dict(type="list", elements="str", required=True),
        read_only=dict(type="bool", default=False),
        timeout=dict(type="float", default=30.0),
        max_output=dict(type="int", default=65536),
        fail_on_rc=dict(type="bool", default=True),
    )
    argument_spec.update(K8S_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[("pod", "name")], required_one_of=[("pod", "name")])
    p = module.params
    argv = [str(a) for a in p["command"]]
    # the echoed module arguments carry the argv redacted too (redis-cli -a PASSWORD, psql "password=...")
    invocation = dict(module_args=dict(p, command=redact(argv)))
    if not argv or not argv[0].strip() or len(argv[0].split()) > 1:
        module.fail_json(msg="refused: command must be an argv list (%r is a shell command line); write it as "
                             "[program, arg, ...], or [sh, -c, '...'] when a shell is really wanted" % redact_text(argv[0] if argv else ""),
                         argv=redact(argv), invocation=invocation)
    client, namespace = K8sClient.from_module(module)
    result = dict(changed=False, argv=redact(argv), namespace=namespace, invocation=invocation)
    try:
        pod = find_pod(client, namespace, p)
        name = pod["metadata"]["name"]
        container, defaulted = pick_container(pod, p["container"])
        result.update(pod=name, container=container, container_defaulted=defaulted)
        why = not_running(pod, container)
        if why:
            raise K8sError("container %s of pod %s in namespace %s is not running (%s); nothing ran"
                           % (container, name, namespace, why), 0)
        result["changed"] = not p["read_only"]
        if module.check_mode and not p["read_only"]:
            module.exit_json(msg="would run %s in container %s of pod %s (namespace %s); not read_only, so not in check mode"
                             % (redact_text(argv[0]), container, name, namespace), **result)
        ran = run_exec(client, namespace, name, container, argv, p["timeout"], p["max_output"])
    except K8sError as exc:
        module.fail_json(msg=redact_text(str(exc)), **result)
    stdout, cut_out = clip_tail(redact_text(ran["stdout"]), p["max_output"])
    stderr, cut_err = clip_tail(redact_text(ran["stderr"]), p["max_output"])
    result.update(rc=ran["rc"], stdout=stdout, stdout_lines=stdout.splitlines(), stderr=stderr, stderr_lines=stderr.splitlines(),
                  output_truncated=ran["truncated"] or cut_out or cut_err, elapsed_s=ran["elapsed_s"])
    if ran["rc"] != 0 and p["fail_on_rc"]:
        module.fail_json(msg="%s exited %d in container %s of pod %s (namespace %s): %s" % (
            redact_text(argv[0]), ran["rc"], container, name, namespace, (stderr or stdout)[-300:].strip()), **result)
    module.exit_json(msg="%s ran in container %s of pod %s (namespace %s)" % (redact_text(argv[0]), container, name, namespace), **result)


if __name__ == "__main__":
    main()
