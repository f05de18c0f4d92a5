# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Kubernetes API client for the workload modules: only API calls, over the collection's HTTP stack
(http_client.py; PyYAML for a kubeconfig). It speaks the apps/v1 and v1 REST paths kubectl uses for get, scale,
rollout restart, rollout undo and pod delete, and reads rollout progress the way `kubectl rollout status` does.
How the action modules run (guard rails, waiting) is in k8s_actions.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import os
import tempfile
import time

from ansible_collections.incident.response.plugins.module_utils.http_client import request, safe_url

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported
    pass

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover
    HAS_YAML = False

REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"

K8S_ARGSPEC = dict(
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    kubeconfig=dict(type="path"),
    context=dict(type="str"),
    validate_certs=dict(type="bool", default=True),
    ca_cert=dict(type="path"),
    request_timeout=dict(type="float", default=10.0),
    namespace=dict(type="str", default="default"),
)


class K8sError(Exception):
    """An API call failed; `status` is the HTTP status (0 when the API server did not answer)."""

    def __init__(self, message, status=0):
        super(K8sError, self).__init__(message)
        self.status = status


def _from_kubeconfig(path, context):
    if not HAS_YAML:
        raise K8sError("reading a kubeconfig needs PyYAML")
    with open(os.path.expanduser(path)) as fh:
        cfg = yaml.safe_load(fh) or {}
    name = context or cfg.get("current-context")
    ctx = next((c["context"] for c in cfg.get("contexts", []) if c.get("name") == name), None)
    if ctx is None:
        raise K8sError("context %r not found in kubeconfig %s" % (name, path))
    cluster = next(c["cluster"] for c in cfg.get("clusters", []) if c["name"] == ctx["cluster"])
    user = next((u["user"] for u in cfg.get("users", []) if u["name"] == ctx.get("user")), {})
    ca = cluster.get("certificate-authority")
    if cluster.get("certificate-authority-data"):
        fh = tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False)
        fh.write(base64.b64decode(cluster["certificate-authority-data"]))
        fh.close()
        ca = fh.name
    return dict(host=cluster["server"], api_key=user.get("token"), ca_cert=ca,
                validate_certs=not cluster.get("insecure-skip-tls-verify", False), namespace=ctx.get("namespace"))


class K8sClient(object):
    def __init__(self, host, api_key=None, validate_certs=True, ca_cert=None, timeout=10.0):
        self.host = host.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.validate_certs = validate_certs
        self.ca_cert = ca_cert

    @classmethod
    def from_module(cls, module):
        """(client, namespace) from host/api_key or a kubeconfig (option, else $KUBECONFIG, else ~/.kube/config)."""
        p = module.params
        settings = dict(host=p["host"], api_key=p["api_key"], ca_cert=p["ca_cert"], validate_certs=p["validate_certs"],
                        namespace=None)
        if not p["host"]:
            path = p["kubeconfig"] or os.environ.get("KUBECONFIG") or "~/.kube/config"
            try:
                settings = _from_kubeconfig(path, p["context"])
            except (IOError, OSError, KeyError, StopIteration, K8sError) as exc:
                module.fail_json(msg="no Kubernetes API to talk to: set host, or a usable kubeconfig (%s): %s" % (path, exc))
        namespace = p["namespace"] if p["namespace"] != "default" or not settings.get("namespace") else settings["namespace"]
        client = cls(settings["host"], settings["api_key"] or p["api_key"], settings["validate_certs"],
                     settings["ca_cert"], p["request_timeout"])
        return client, namespace

    def call(self, method, path, body=None, query=None, content_type="application/json", max_body=64 * 1024 * 1024):
        """The decoded JSON (or text) answer; K8sError for no answer, a non-2xx status or a body over max_body."""
        url = self.host + path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = content_type
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        # kubectl does not follow redirects with a bearer token either: a 3xx is an error here
        resp = request(url, method=method, headers=headers, body=data, timeout=self.timeout, validate_certs=self.validate_certs,
                       ca_path=self.ca_cert, follow_redirects=False, max_body=max_body)
        if resp.status == 0:
            raise K8sError("Kubernetes API at %s did not answer: %s" % (safe_url(self.host), resp.detail))
        if not resp.ok:
            doc = resp.json()
            message = doc.get("message") if isinstance(doc, dict) else None
            raise K8sError("%s %s: %s %s" % (method, path, resp.status, message or resp.body[:300]), resp.status)
        if resp.truncated:
            raise K8sError("%s %s: the answer is larger than %d bytes" % (method, path, max_body))
        return json.loads(resp.body) if resp.body[:1] in ("{", "[") else resp.body

    # -- paths ----------------------------------------------------------------------------------
    @staticmethod
    def _apps(namespace, kind, name=None, sub=None):
        path = "/apis/apps/v1/namespaces/%s/%s" % (quote(namespace, safe=""), kind)
        return path + ("/" + quote(name, safe="") if name else "") + ("/" + sub if sub else "")

    @staticmethod
    def _core(namespace, kind, name=None, sub=None):
        path = "/api/v1/namespaces/%s/%s" % (quote(namespace, safe=""), kind)
        return path + ("/" + quote(name, safe="") if name else "") + ("/" + sub if sub else "")

    # -- reads ----------------------------------------------------------------------------------
    def deployment(self, namespace, name):
        return self.call("GET", self._apps(namespace, "deployments", name))

    def replicasets(self, namespace, deployment):
        """The deployment's ReplicaSets (owner reference), oldest revision first."""
        selector = selector_of(deployment)
        items = self.call("GET", self._apps(namespace, "replicasets"), query={"labelSelector": selector})["items"]
        uid = deployment["metadata"]["uid"]
        owned = [rs for rs in items if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences", []))]
        return sorted(owned, key=revision_of)

    def pods(self, namespace, selector):
        return self.call("GET", self._core(namespace, "pods"), query={"labelSelector": selector})["items"]

    def pod_log(self, namespace, name, tail_lines=50):
        return self.call("GET", self._core(namespace, "pods", name, "log"), query={"tailLines": tail_lines})

    # -- writes ---------------------------------------------------------------------------------
    def patch_deployment(self, namespace, name, patch):
        return self.call("PATCH", self._apps(namespace, "deployments", name), patch,
                         content_type="application/strategic-merge-patch+json")

    def scale(self, namespace, name, replicas):
        return self.call("PATCH", self._apps(namespace, "deployments", name, "scale"), {"spec": {"replicas": replicas}},
                         content_type="application/merge-patch+json")

    def delete_pod(self, namespace, name):
        return self.call("DELETE", self._core(namespace, "pods", name))

    # -- rollout --------------------------------------------------------------------------------
    def wait_rollout(self, namespace, name, timeout_s, poll_s=0.1):
        """Wait like `kubectl rollout status`; returns (done, deployment, reason)."""
        deadline = time.monotonic() + timeout_s
        while True:
            dep = self.deployment(namespace, name)
            done, reason = rollout_state(dep)
            if done or reason.startswith("progress deadline") or time.monotonic() >= deadline:
                return done, dep, reason
            time.sleep(poll_s)


def selector_of(deployment):
    labels = deployment["spec"]["selector"].get("matchLabels", {})
    return ",".join("%s=%s" % kv for kv in sorted(labels.items()))


def revision_of(obj):
    return int(obj["metadata"].get("annotations", {}).get(REVISION, "0"))


def rollout_state(dep):
    """(complete, reason) with the rules of `kubectl rollout status`."""
    spec, status = dep["spec"], dep.get("status", {})
    if status.get("observedGeneration", 0) < dep["metadata"].get("generation", 0):
        return False, "waiting for the deployment spec update to be observed"
    for cond in status.get("conditions", []):
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return False, "progress deadline exceeded: %s" % cond.get("message", "")
    want = spec.get("replicas", 1)
    updated, total, ready = status.get("updatedReplicas", 0), status.get("replicas", 0), status.get("availableReplicas", 0)
    if updated < want:
        return False, "%d of %d new replicas updated" % (updated, want)
    if total > updated:
        return False, "%d old replicas pending termination" % (total - updated)
    if ready < updated:
        return False, "%d of %d updated replicas available" % (ready, updated)
    return True, "successfully rolled out"


def pod_summary(pod):
    """The facts an SRE reads from `kubectl get pod` / `describe`: phase, ready, restarts, why it is down."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    cs = statuses[0] if statuses else {}
    waiting = cs.get("state", {}).get("waiting", {})
    last = cs.get("lastState", {}).get("terminated", {})
    return dict(name=pod["metadata"]["name"], phase=pod.get("status", {}).get("phase"), ready=bool(cs.get("ready")),
                restarts=cs.get("restartCount", 0), image=cs.get("image") or pod["spec"]["containers"][0]["image"],
                reason=waiting.get("reason"), last_exit_code=last.get("exitCode"), last_reason=last.get("reason"),
                oom_killed=last.get("reason") == "OOMKilled", started_at=pod.get("status", {}).get("startTime"))


def deployment_summary(dep):
    status = dep.get("status", {})
    done, reason = rollout_state(dep)
    containers = dep["spec"]["template"]["spec"]["containers"]
    return dict(name=dep["metadata"]["name"], namespace=dep["metadata"]["namespace"], replicas=dep["spec"].get("replicas", 1),
                ready=status.get("readyReplicas", 0), available=status.get("availableReplicas", 0),
                updated=status.get("updatedReplicas", 0), revision=revision_of(dep), generation=dep["metadata"].get("generation"),
                images=[c["image"] for c in containers], rollout_complete=done, rollout_reason=reason)
