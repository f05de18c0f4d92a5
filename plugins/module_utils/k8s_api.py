# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API calls of the Kubernetes modules through the official client's ApiClient (connections: k8s_connect.py):
the REST paths kubectl uses, answers as plain dicts, retries of 429/5xx honouring Retry-After, and errors that
keep the API's Status message and say what was asked where. Reading pods and rollouts: k8s_inspect.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import random
import re
import time

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.incident.response.plugins.module_utils.k8s_connect import (  # noqa: F401 pylint: disable=unused-import
    HAS_K8S, K8S_ARGSPEC, K8S_IMPORT_ERROR, ConfigException, K8sError, connect)

try:
    import urllib3
    HTTP_ERRORS = (urllib3.exceptions.HTTPError,)
except ImportError:  # pragma: no cover - urllib3 comes with kubernetes
    HTTP_ERRORS = ()

try:
    from kubernetes.client.exceptions import ApiException
except ImportError:  # pragma: no cover
    class ApiException(Exception):
        status = 0

REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRIES = 4
RETRY_AFTER_CAP = 10.0
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
CALL_ERRORS = (ApiException, ConfigException, IOError, OSError) + HTTP_ERRORS
VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}

# resource -> (API prefix, namespaced)
RESOURCES = {
    "pods": ("/api/v1", True), "events": ("/api/v1", True), "nodes": ("/api/v1", False),
    "namespaces": ("/api/v1", False),
    "deployments": ("/apis/apps/v1", True), "statefulsets": ("/apis/apps/v1", True),
    "replicasets": ("/apis/apps/v1", True), "controllerrevisions": ("/apis/apps/v1", True),
    "horizontalpodautoscalers": ("/apis/autoscaling/v2", True),
    "podmetrics": ("/apis/metrics.k8s.io/v1beta1", True),
}


def quote(value):
    return re.sub(r"[^A-Za-z0-9._~-]", lambda m: "%%%02X" % ord(m.group(0)), value)


def api_path(resource, namespace=None, name=None, sub=None):
    prefix, namespaced = RESOURCES[resource]
    plural = "pods" if resource == "podmetrics" else resource
    path = prefix + ("/namespaces/%s" % quote(namespace) if namespaced and namespace else "") + "/" + plural
    return path + ("/" + quote(name) if name else "") + ("/" + sub if sub else "")


def describe_request(method, path, query=None):
    """'patch deployments/api in namespace prod' from a request, for error messages."""
    verb = VERBS.get(method, method.lower())
    if method == "GET" and query and query.get("watch"):
        verb = "watch"
    m = re.search(r"(?:/namespaces/([^/]+))?/([a-z0-9.]+)(?:/([^/]+))?(?:/([a-z]+))?$", path)
    if not m:
        return "%s %s" % (verb, path)
    ns, res, name, sub = m.groups()
    if verb == "get" and not name:
        verb = "list"
    what = res + ("/" + name if name else "") + ("/" + sub if sub else "")
    return "%s %s%s" % (verb, what, " in namespace %s" % ns if ns else "")


def status_message(body):
    """The `message` of a Kubernetes Status answer, else the start of the body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("message"):
        return doc["message"]
    return text.strip()[:300]


def retry_delay(attempt, retry_after=None, rand=random.random):
    """Seconds before retry `attempt` (0-based): Retry-After when the server gave one (capped), else jittered
    exponential backoff (0.25 s, 0.5 s, 1 s, 2 s, each between half and all of it)."""
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), RETRY_AFTER_CAP)
        except ValueError:
            pass
    base = min(0.25 * (2 ** attempt), 4.0)
    return base * (0.5 + rand() / 2)


def require_k8s(module):
    if not HAS_K8S:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=K8S_IMPORT_ERROR)


class K8sClient(object):
    """API calls over an official ApiClient; every answer is a dict (or text for logs)."""

    def __init__(self, api_client, where="", timeout=10.0, sleep=time.sleep):
        self.api = api_client
        self.where = where
        self.timeout = timeout
        self.sleep = sleep
        self.retries_done = 0

    @classmethod
    def from_module(cls, module):
        """(client, namespace); fails the module with a clear message when no API can be configured."""
        require_k8s(module)
        try:
            conn = connect(module.params)
        except K8sError as exc:
            module.fail_json(msg=str(exc))
        return cls(conn.api_client, conn.where, module.params["request_timeout"]), conn.namespace

    def call(self, method, path, body=None, query=None, content_type="application/json", raw=False, stream=False,
             timeout=None):
        """The decoded JSON answer (text when `raw`, the open response when `stream`)."""
        headers = {"Accept": "application/json, */*"}
        if body is not None:
            headers["Content-Type"] = content_type
        params = [(k, v) for k, v in sorted((query or {}).items()) if v is not None]
        for attempt in range(RETRIES + 1):
            try:
                verb, url, hdrs, data, post = self.api.param_serialize(method, path, query_params=params or None,
                                                                       header_params=headers, body=body,
                                                                       auth_settings=["BearerToken"])
                resp = self.api.call_api(verb, url, header_params=hdrs, body=data, post_params=post or None,
                                         _request_timeout=timeout or self.timeout)
            except CALL_ERRORS as exc:  # pylint: disable=catching-non-exception
                raise K8sError("%s: the Kubernetes API at %s did not answer: %s"
                               % (describe_request(method, path, query), self.where, _short(exc)), 0)
            if 200 <= resp.status < 300:
                if stream:
                    return resp.response
                return _decode(resp.read(), raw)
            text = resp.read()
            if resp.status in RETRY_STATUSES and attempt < RETRIES:
                self.retries_done += 1
                self.sleep(retry_delay(attempt, resp.headers.get("Retry-After")))
                continue
            raise K8sError(error_message(method, path, query, resp.status, text, self.where), resp.status)
        raise K8sError("unreachable")  # pragma: no cover

    # -- reads ----------------------------------------------------------------------------------
    def get(self, resource, namespace, name, sub=None):
        return self.call("GET", api_path(resource, namespace, name, sub))

    def list(self, resource, namespace=None, label_selector=None, field_selector=None, limit=None):
        """The List document (items + metadata.resourceVersion)."""
        return self.call("GET", api_path(resource, namespace), query={"labelSelector": label_selector or None,
                                                                      "fieldSelector": field_selector, "limit": limit})

    def items(self, resource, namespace=None, **kw):
        return self.list(resource, namespace, **kw).get("items") or []

    def pod_log(self, namespace, name, container=None, previous=False, tail_lines=50):
        return self.call("GET", api_path("pods", namespace, name, "log"), raw=True,
                         query={"container": container, "previous": "true" if previous else None, "tailLines": tail_lines})

    def watch(self, resource, namespace, resource_version, timeout_s, label_selector=None, field_selector=None):
        """Yield watch events (dicts) from `resource_version` until the server ends the watch."""
        query = {"watch": "true", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": max(1, int(timeout_s)), "labelSelector": label_selector or None,
                 "fieldSelector": field_selector}
        resp = self.call("GET", api_path(resource, namespace), query=query, stream=True,
                         timeout=(self.timeout, timeout_s + self.timeout))
        try:
            pending = b""
            for chunk in resp.stream(4096, decode_content=True):
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line.decode("utf-8"))
            if pending.strip():
                yield json.loads(pending.decode("utf-8"))
        except HTTP_ERRORS as exc:
            raise K8sError("watch of %s on %s broke: %s" % (resource, self.where, _short(exc)), 0)
        finally:
            resp.release_conn()

    # -- writes ---------------------------------------------------------------------------------
    def patch(self, resource, namespace, name, body, content_type=STRATEGIC, sub=None, dry_run=False):
        return self.call("PATCH", api_path(resource, namespace, name, sub), body, content_type=content_type,
                         query={"dryRun": "All" if dry_run else None})

    def delete_pod(self, namespace, name, grace_period=None):
        body = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period is not None:
            body["gracePeriodSeconds"] = grace_period
        return self.call("DELETE", api_path("pods", namespace, name), body,
                         query={"gracePeriodSeconds": grace_period})


def _decode(data, raw):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")
    if raw:
        return text
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _short(exc):
    text = str(exc) or type(exc).__name__
    reason = re.search(r"(\[Errno -?\d+\][^'\"]*)", text) or re.search(r"(\[SSL[^\]]*\][^'\")]*)", text)
    return (reason.group(1).strip() if reason else text)[:300]


def error_message(method, path, query, status, body, where):
    """The cause first (a notice may clip the end): '403 <the API's Status message> (RBAC: ...): delete pods/x in
    namespace prod on <context and API server>'."""
    hint = {401: " (the credentials were refused)", 403: " (RBAC: the identity may not do this)"}.get(status, "")
    return "%s %s%s: %s on %s" % (status, status_message(body), hint, describe_request(method, path, query), where)


def selector_string(selector):
    """A LabelSelector (matchLabels + matchExpressions) as the labelSelector query kubectl sends."""
    parts = ["%s=%s" % kv for kv in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In":
            parts.append("%s in (%s)" % (key, ",".join(values)))
        elif op == "NotIn":
            parts.append("%s notin (%s)" % (key, ",".join(values)))
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append("!" + key)
        else:
            raise K8sError("unknown label selector operator %r" % op)
    return ",".join(parts)


def selector_matches(selector, labels):
    """Whether `labels` satisfy the LabelSelector (client side, for the owner filter)."""
    labels = labels or {}
    for key, value in (selector or {}).get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values or key not in labels,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op)
        if not ok:
            return False
    return True


def revision_of(obj):
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0
