# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`kubectl exec` through the official client (kubernetes.stream over WebSocket, v5/v4.channel.k8s.io):
the container kubectl would pick, the checks it makes before, the exit code from the error channel, and the
API's handshake errors (404, 400, 403, the kubelet's 500) as one clear K8sError. Used by k8s_exec."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import re
import time

from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError, status_message

try:
    from kubernetes.client import CoreV1Api
    from kubernetes.stream import stream as k8s_stream
except ImportError:  # pragma: no cover - require_k8s() fails the module first
    CoreV1Api = k8s_stream = None

DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
ERROR_CHANNEL = 3
OVERLAP = 8192  # raw characters kept beyond max_output, so redaction sees whole lines before the caller clips


def pick_container(pod, wanted):
    """(container name, defaulted) as kubectl picks it: `wanted`, else the default-container annotation, else the first."""
    containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    others = [c["name"] for key in ("initContainers", "ephemeralContainers") for c in (pod.get("spec") or {}).get(key) or []]
    if wanted:
        if wanted not in containers + others:
            raise K8sError("container %s is not valid for pod %s (containers: %s)" % (wanted, pod["metadata"]["name"], ", ".join(containers)), 400)
        return wanted, False
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if annotated in containers:
        return annotated, len(containers) > 1
    if not containers:
        raise K8sError("pod %s has no containers" % pod["metadata"]["name"], 400)
    return containers[0], len(containers) > 1


def not_running(pod, container):
    """Why `container` cannot run a command (None when it is running): pod phase, waiting reason, termination."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return "the pod is completed (phase %s)" % status["phase"]
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            state = cs.get("state") or {}
            if "running" in state:
                return None
            if "waiting" in state:
                return "waiting: %s" % (state["waiting"].get("reason") or "ContainerCreating")
            if "terminated" in state:
                return "terminated: %s" % (state["terminated"].get("reason") or "exit %s" % state["terminated"].get("exitCode"))
    return "no status yet (%s)" % (status.get("phase") or "Pending")


def is_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return (not pod["metadata"].get("deletionTimestamp")
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions))


def handshake_error(exc):
    """(HTTP status, message) of a failed WebSocket upgrade (the client raises ApiException(0, 'Handshake status ...'))."""
    text = getattr(exc, "reason", None) or str(exc)
    match = re.search(r"Handshake status (\d+)", text)
    if not match:
        return 0, text.strip()[:300]
    body = text.split(" -+-+- ")[-1] if " -+-+- " in text else ""
    return int(match.group(1)), status_message(body)


def exit_code(raw):
    """(rc, error) from the error channel: Success -> 0, NonZeroExitCode -> its ExitCode cause, else (None, message)."""
    if not raw:
        return None, "the API server closed the stream without an exit status"
    try:
        status = json.loads(raw)
    except ValueError:  # the v1..v3 protocols wrote plain text
        return None, raw.strip()[:500]
    if status.get("status") == "Success":
        return 0, None
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message")), None
                except (TypeError, ValueError):
                    break
    return None, status.get("message") or raw.strip()[:500]


def _keep(buf, chunk, limit):
    buf = buf + chunk
    return buf[-limit:] if len(buf) > limit else buf, len(buf) > limit


def run_exec(client, namespace, pod, container, argv, timeout, max_output=65536):
    """Run argv in the container; dict(rc, stdout, stderr, truncated, elapsed_s). K8sError on API errors,
    a command that cannot start, or `timeout` (the command may still run in the container then).
    stdout and stderr keep their last max_output + OVERLAP characters raw: redact first, then clip (clip_tail)."""
    limit = max_output + OVERLAP
    where = "container %s of pod %s in namespace %s (%s)" % (container, pod, namespace, client.where)
    began = time.monotonic()
    try:
        resp = k8s_stream(CoreV1Api(client.api).connect_get_namespaced_pod_exec, pod, namespace, command=list(argv),
                          container=container, stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False,
                          _request_timeout=client.timeout)
    except Exception as exc:  # pylint: disable=broad-except
        # the client wraps every failure (handshake status, refused connection, TLS) in ApiException(0, reason)
        status, message = handshake_error(exc)
        hint = {403: " (RBAC: the identity may not create pods/exec)", 401: " (the credentials were refused)"}.get(status, "")
        raise K8sError("exec in %s failed: %s%s%s" % (where, "%d " % status if status else "", message, hint), status)
    out = err = ""
    truncated = False
    try:
        while resp.is_open():
            left = timeout - (time.monotonic() - began)
            if left <= 0:
                raise K8sError("exec in %s timed out after %ss (the command may still be running in the container)" % (where, timeout), 0)
            resp.update(timeout=min(left, 1.0))
            out, cut_out = _keep(out, resp.read_channel(1), limit)
            err, cut_err = _keep(err, resp.read_channel(2), limit)
            truncated = truncated or cut_out or cut_err
        out, cut_out = _keep(out, resp.read_channel(1), limit)
        err, cut_err = _keep(err, resp.read_channel(2), limit)
        raw = resp.read_channel(ERROR_CHANNEL)
    except K8sError:
        raise
    except Exception as exc:  # pylint: disable=broad-except
        # websocket-client errors of any kind (connection reset, closed mid-frame)
        raise K8sError("exec in %s broke: %s" % (where, str(exc)[:300]), 0)
    finally:
        resp.close()
    rc, problem = exit_code(raw)
    if rc is None:
        raise K8sError("exec of %s in %s failed: %s" % (argv[0], where, problem), 0)
    return dict(rc=rc, stdout=out, stderr=err, truncated=truncated or cut_out or cut_err,
                elapsed_s=round(time.monotonic() - began, 3))


def clip_tail(text, limit):
    """The last `limit` characters of an already redacted text; (text, cut)."""
    return (text[len(text) - max(limit, 0):], True) if len(text) > max(limit, 0) else (text, False)
