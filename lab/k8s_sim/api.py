"""The HTTP side: TLS with client certificates, bearer tokens, RBAC denials, discovery, the REST routes,
watches, injected errors and the /_sim control endpoints."""
import argparse
import copy
import json
import re
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from k8s_sim import core, patch, pods, workloads
from k8s_sim import exec as pod_exec
from k8s_sim.core import LOCK, STORE, ApiError

AUTH = {"tokens": {}, "client_ca": False, "forbid": []}
ERRORS = []  # injected answers: [{"regex", "status", "count", "retry_after"}]
VERSION = {"major": "1", "minor": "29", "gitVersion": "v1.29.0-incident-sim", "gitCommit": "0" * 40, "gitTreeState": "clean",
           "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.21.5", "compiler": "gc", "platform": "linux/amd64"}


# -- discovery --------------------------------------------------------------------------------------
def res(name, kind, verbs, namespaced=True, short=(), singular="", **extra):
    out = {"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": list(verbs)}
    if short:
        out["shortNames"] = list(short)
    out.update(extra)
    return out


RW = ("create", "delete", "get", "list", "patch", "update", "watch")
RO = ("get", "list", "watch")
RESOURCES = {
    "v1": [res("namespaces", "Namespace", ("create", "get", "list", "watch"), False, ("ns",), "namespace"),
           res("nodes", "Node", RO, False, ("no",), "node"),
           res("pods", "Pod", ("create", "delete", "get", "list", "patch", "watch"), True, ("po",), "pod", categories=["all"]),
           res("pods/log", "Pod", ("get",)), res("pods/exec", "PodExecOptions", ("create", "get")),
           res("events", "Event", RO, True, ("ev",), "event")],
    "apps/v1": [res("deployments", "Deployment", RW, True, ("deploy",), "deployment", categories=["all"]),
                res("deployments/scale", "Scale", ("get", "patch", "update"), group="autoscaling", version="v1"),
                res("deployments/status", "Deployment", ("get",)),
                res("replicasets", "ReplicaSet", RO, True, ("rs",), "replicaset", categories=["all"]),
                res("statefulsets", "StatefulSet", RW, True, ("sts",), "statefulset", categories=["all"]),
                res("statefulsets/scale", "Scale", ("get", "patch", "update"), group="autoscaling", version="v1"),
                res("controllerrevisions", "ControllerRevision", RO, True, (), "controllerrevision")],
    "autoscaling/v2": [res("horizontalpodautoscalers", "HorizontalPodAutoscaler", RW, True, ("hpa",), "horizontalpodautoscaler",
                           categories=["all"])],
    "autoscaling/v1": [res("horizontalpodautoscalers", "HorizontalPodAutoscaler", RW, True, ("hpa",), "horizontalpodautoscaler",
                           categories=["all"])],
    "metrics.k8s.io/v1beta1": [res("pods", "PodMetrics", ("get", "list")), res("nodes", "NodeMetrics", ("get", "list"), False)],
}
GROUPS = [("apps", ["v1"]), ("autoscaling", ["v2", "v1"]), ("metrics.k8s.io", ["v1beta1"])]


def discovery(path):
    if path == "/version":
        return VERSION
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
    if path == "/apis":
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": "%s/%s" % (g, v), "version": v} for v in vs],
             "preferredVersion": {"groupVersion": "%s/%s" % (g, vs[0]), "version": vs[0]}} for g, vs in GROUPS]}
    gv = path[len("/api/"):] if path.startswith("/api/") else path[len("/apis/"):]
    if gv in RESOURCES and path in ("/api/v1", "/apis/" + gv):
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": RESOURCES[gv]}
    return None


# -- identity and RBAC ------------------------------------------------------------------------------
def identify(handler):
    """The user: the client certificate's CN, else the bearer token's user; None when neither holds."""
    cert = handler.peer_cert
    if cert:
        for rdn in cert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
    header = handler.headers.get("Authorization") or ""
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip() in AUTH["tokens"]:
        return AUTH["tokens"][token.strip()]
    if not AUTH["tokens"] and not AUTH["client_ca"]:
        return "system:anonymous"
    return None


def denied(user, verb, resource, ns):
    for rule in AUTH["forbid"]:
        if (rule["user"] in ("*", user) and rule["verb"] in ("*", verb) and rule["resource"] in ("*", resource)
                and rule.get("namespace") in (None, "", "*", ns)):
            return True
    return False


def forbidden(user, verb, route):
    kind, name, ns = route["kind"], route["name"], route["ns"]
    resource = kind + ("/" + route["sub"] if route["sub"] else "")
    group = core.GROUP.get(kind, "metrics.k8s.io" if route["gv"].startswith("metrics") else "")
    who = '%s "%s"' % (core.qualified(kind), name) if name else core.qualified(kind)
    where = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
    return ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s' % (
        who, user, verb, resource, group, where), core.details(kind, name))


def verb_of(method, route, params):
    if route["sub"] == "exec":
        return "create"
    if method == "GET":
        if route["name"]:
            return "get"
        return "watch" if params.get("watch") in ("1", "true") else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, "delete" if route["name"] else "deletecollection")


ROUTE = re.compile(r"^/(?P<gv>api/v1|apis/(?:apps/v1|autoscaling/v2|autoscaling/v2beta2|autoscaling/v1|metrics\.k8s\.io/v1beta1))"
                   r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<kind>[a-z]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[a-z]+))?$")


def parse_route(path):
    match = ROUTE.match(path)
    if not match:
        return None
    route = {k: v or "" for k, v in match.groupdict().items()}
    route["gv"] = route["gv"].split("/", 1)[1] if route["gv"].startswith("apis/") else "v1"
    if route["kind"] == "namespaces" and not route["ns"] and route["name"] and route["sub"] == "":
        route["ns"] = route["name"]
    allowed = {"v1": ("namespaces", "nodes", "pods", "events"),
               "apps/v1": ("deployments", "replicasets", "statefulsets", "controllerrevisions"),
               "metrics.k8s.io/v1beta1": ("pods", "nodes")}.get(route["gv"], ("horizontalpodautoscalers",))
    if route["kind"] not in allowed:
        return None
    return route


# -- object views -----------------------------------------------------------------------------------
def hpa_view(obj, gv):
    """autoscaling/v2 is stored; v2beta2 has its shape, v1 keeps only the CPU target."""
    out = copy.deepcopy(obj)
    if gv == "autoscaling/v2beta2":
        out["apiVersion"] = gv
    elif gv == "autoscaling/v1":
        spec, status = obj["spec"], obj.get("status") or {}
        cpu = next((m["resource"]["target"].get("averageUtilization") for m in spec.get("metrics", [])
                    if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"), None)
        out["apiVersion"] = gv
        out["spec"] = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
        if cpu is not None:
            out["spec"]["targetCPUUtilizationPercentage"] = cpu
        out["status"] = {k: status[k] for k in ("currentReplicas", "desiredReplicas", "lastScaleTime", "observedGeneration") if k in status}
        out["status"].setdefault("desiredReplicas", 0)
    return out


def view(route, obj):
    if route["kind"] == "horizontalpodautoscalers":
        return hpa_view(obj, route["gv"])
    return copy.deepcopy(obj)


def list_of(route, items):
    kind = core.KIND_OF[route["kind"]]
    return {"kind": kind + "List", "apiVersion": "v1" if route["gv"] == "v1" else route["gv"],
            "metadata": {"resourceVersion": str(core.STATE["rv"])}, "items": [view(route, o) for o in items]}


def scale_of(kind, obj):
    meta = obj["metadata"]
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"],
                         "resourceVersion": meta["resourceVersion"], "creationTimestamp": meta["creationTimestamp"]},
            "spec": {"replicas": obj["spec"]["replicas"]},
            "status": {"replicas": (obj.get("status") or {}).get("replicas", 0), "selector": core.selector_text(obj["spec"]["selector"])}}


# -- writes -----------------------------------------------------------------------------------------
def check_patch_type(ctype):
    base = (ctype or "").split(";")[0].strip().lower()
    if base not in patch.PATCH_TYPES:
        raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: "
                       "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json")


def check_precondition(kind, obj, new):
    rv = (new.get("metadata") or {}).get("resourceVersion")
    if rv and rv != obj["metadata"]["resourceVersion"]:
        raise core.conflict(kind, obj["metadata"]["name"])


def keep_server_fields(obj, new):
    """What clients cannot change through the main resource: identity, generation, status."""
    meta = new.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise core.bad_request("metadata must be an object")
    for key in ("name", "namespace", "uid", "creationTimestamp", "generation", "ownerReferences", "deletionTimestamp",
                "deletionGracePeriodSeconds", "resourceVersion"):
        if key in obj["metadata"]:
            meta[key] = obj["metadata"][key]
        else:
            meta.pop(key, None)
    new["status"] = obj.get("status")
    new["apiVersion"], new["kind"] = obj["apiVersion"], obj["kind"]
    return new


def write(kind, obj, new, dry_run):
    """Validate and store a patched or replaced object (in place, so controllers keep their reference)."""
    new = keep_server_fields(obj, new)
    if kind in ("deployments", "statefulsets"):
        workloads.default_template(new.setdefault("spec", {}).setdefault("template", {}))
        workloads.check_valid(kind, new, obj)
    elif kind == "horizontalpodautoscalers":
        check_hpa(new)
    elif kind == "pods":
        if new.get("spec") != obj["spec"]:
            new["spec"] = dict(obj["spec"], **{k: v for k, v in (new.get("spec") or {}).items() if k in ("activeDeadlineSeconds",)})
    if new.get("spec") != obj.get("spec") and "generation" in obj["metadata"]:
        new["metadata"]["generation"] = obj["metadata"]["generation"] + 1
    if dry_run:
        return new
    obj.clear()
    obj.update(new)
    core.modified(kind, obj)
    return obj


def check_hpa(obj):
    spec = obj.get("spec") or {}
    causes = []
    high, low = spec.get("maxReplicas"), spec.get("minReplicas", 1)
    if not isinstance(high, int) or high < 1:
        causes.append(("spec.maxReplicas", "FieldValueInvalid", "Invalid value: %r: must be greater than or equal to 1" % (high,)))
    if not isinstance(low, int) or low < 1:
        causes.append(("spec.minReplicas", "FieldValueInvalid", "Invalid value: %r: must be greater than or equal to 1" % (low,)))
    elif isinstance(high, int) and low > high:
        causes.append(("spec.maxReplicas", "FieldValueInvalid", "Invalid value: %d: must be greater than or equal to `minReplicas`" % high))
    if not (spec.get("scaleTargetRef") or {}).get("name"):
        causes.append(("spec.scaleTargetRef.name", "FieldValueRequired", "Required value"))
    if causes:
        raise core.invalid("HorizontalPodAutoscaler", "autoscaling", obj["metadata"].get("name", ""), causes)


def create(route, body, dry_run):
    kind, ns = route["kind"], route["ns"]
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        raise core.bad_request("the object provided is unrecognized (must be an object with metadata)")
    name = body["metadata"].get("name") or (body["metadata"].get("generateName", "") + core.rand_suffix())
    if ns and ("", ns) not in STORE["namespaces"]:
        raise core.not_found("namespaces", ns)
    if (ns, name) in STORE[kind] or ("", name) in STORE[kind]:
        raise core.already_exists(kind, name)
    if kind == "namespaces":
        core.ensure_namespace(name)
        return 201, STORE["namespaces"][("", name)]
    if kind == "pods":
        workloads.check_pod(ns, name, body.get("spec") or {})
        if dry_run:
            return 201, body
        return 201, pods.make_pod(ns, name, body["metadata"].get("labels"), body["spec"], None, body["metadata"].get("annotations"))
    if kind not in ("deployments", "statefulsets", "horizontalpodautoscalers"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    meta = core.new_meta(ns, name, body["metadata"].get("labels"), None, body["metadata"].get("annotations"))
    meta["generation"] = 1
    obj = dict(copy.deepcopy(body), metadata=meta, status={}, apiVersion=core.api_version(kind), kind=core.KIND_OF[kind])
    if kind == "horizontalpodautoscalers":
        obj["spec"].setdefault("minReplicas", 1)
        check_hpa(obj)
        obj["status"] = {"desiredReplicas": 0}
    else:
        workloads.default_workload(kind, obj)
        workloads.check_valid(kind, obj)
    if not dry_run:
        core.add(kind, obj)
    return 201, obj


def delete(route, obj, options, dry_run):
    kind = route["kind"]
    if kind == "pods":
        grace = options.get("gracePeriodSeconds")
        if dry_run:
            return 200, obj
        return 200, pods.delete_pod(obj, None if grace is None else int(grace))
    if kind not in ("deployments", "statefulsets", "horizontalpodautoscalers", "replicasets"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    if not dry_run:
        core.remove(kind, obj)
    return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                 "details": core.details(kind, obj["metadata"]["name"], uid=obj["metadata"]["uid"])}


def scale(route, obj, method, body, ctype, dry_run):
    kind = route["kind"]
    current = scale_of(kind, obj)
    if method == "GET":
        return 200, current
    if method == "PATCH":
        check_patch_type(ctype)
        body = patch.apply(current, body, ctype)
    if not isinstance(body, dict):
        raise core.bad_request("the body must be a Scale object")
    check_precondition(kind, obj, body)
    replicas = (body.get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise core.invalid("Scale", "autoscaling", obj["metadata"]["name"], [(
            "spec.replicas", "FieldValueInvalid", "Invalid value: %s: must be greater than or equal to 0" % json.dumps(replicas))])
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = replicas
    write(kind, obj, new, dry_run)
    out = scale_of(kind, obj)
    out["spec"]["replicas"] = replicas
    return 200, out


def handle(method, route, params, body, ctype):
    """Everything under /api and /apis except watches: (code, body or text)."""
    kind, ns, name, sub, gv = route["kind"], route["ns"], route["name"], route["sub"], route["gv"]
    dry_run = params.get("dryRun") == "All"
    if gv == "metrics.k8s.io/v1beta1":
        return metrics(route, params)
    store_kind = kind
    if not name:
        if method == "GET":
            flt = core.Filter(store_kind, ns or None, params)
            return 200, list_of(route, core.select(store_kind, flt))
        if method == "POST":
            if kind == "horizontalpodautoscalers" and gv != "autoscaling/v2":
                raise ApiError(405, "MethodNotAllowed", "create HorizontalPodAutoscalers through autoscaling/v2 in this simulation")
            return create(route, body, dry_run)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    key = ("", name) if kind in core.CLUSTER_SCOPED else (ns, name)
    obj = STORE[store_kind].get(key)
    if obj is None:
        raise core.not_found(kind, name)
    if sub == "log" and kind == "pods" and method == "GET":
        return 200, pods.pod_log(obj, params)
    if sub == "scale" and kind in ("deployments", "statefulsets"):
        return scale(route, obj, method, body, ctype, dry_run)
    if sub not in ("", "status"):
        raise core.not_found(kind, name)
    if method == "GET":
        return 200, view(route, obj)
    if method == "DELETE":
        return delete(route, obj, dict(body or {}, **{k: v for k, v in params.items() if k == "gracePeriodSeconds"}), dry_run)
    if sub == "status" or kind in ("events", "replicasets", "controllerrevisions") or (kind == "horizontalpodautoscalers" and gv != "autoscaling/v2"):
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    if method == "PATCH":
        check_patch_type(ctype)
        new = patch.apply(copy.deepcopy(obj), body, ctype)
        if not isinstance(new, dict):
            raise core.invalid(core.KIND_OF[kind], core.GROUP.get(kind, ""), name, [("", "FieldValueInvalid", "the patch must keep an object")])
        check_precondition(kind, obj, new)
        return 200, view(route, write(kind, obj, new, dry_run))
    if method == "PUT":
        if not isinstance(body, dict):
            raise core.bad_request("the body must be an object")
        if not (body.get("metadata") or {}).get("resourceVersion"):
            raise core.invalid(core.KIND_OF[kind], core.GROUP.get(kind, ""), name, [
                ("metadata.resourceVersion", "FieldValueInvalid", "Invalid value: 0x0: must be specified for an update")])
        check_precondition(kind, obj, body)
        return 200, view(route, write(kind, obj, copy.deepcopy(body), dry_run))
    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def metrics(route, params):
    kind, ns, name = route["kind"], route["ns"], route["name"]
    if kind == "nodes":
        items = [o for o in STORE["nodes"].values() if pods.node_ready(o["metadata"]["name"])]
        render, list_kind = pods.node_metrics, "NodeMetricsList"
    else:
        flt = core.Filter("pods", ns or None, params)
        items = [p for p in core.select("pods", flt) if pods.metrics_running(p)]
        render, list_kind = pods.pod_metrics, "PodMetricsList"
    if name:
        found = next((o for o in items if o["metadata"]["name"] == name), None)
        if found is None:
            raise ApiError(404, "NotFound", '%s.metrics.k8s.io "%s" not found' % (kind, name), {"name": name, "group": "metrics.k8s.io", "kind": kind})
        return 200, render(found)
    return 200, {"kind": list_kind, "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [render(o) for o in items]}


# -- /_sim ------------------------------------------------------------------------------------------
def sim_targets(spec):
    """The pods (and workload key) a fault names: a Deployment, a StatefulSet or a pod."""
    ns, target = spec.get("namespace", "default"), spec.get("target") or spec.get("deployment")
    for kind in ("deployments", "statefulsets"):
        obj = STORE[kind].get((ns, target))
        if obj is not None:
            owners = workloads.children("replicasets", obj) if kind == "deployments" else [obj]
            return obj, [p for o in owners for p in pods.pods_of_owner(o) if pods.active(p)]
    pod = STORE["pods"].get((ns, target))
    if pod is not None:
        return None, [pod]
    return None, None


def sim_fault(spec, sticky=True):
    fault = spec.get("fault")
    if fault not in ("crash", "oom", "image_pull", "config_error", "unschedulable", "node_not_ready", "clear"):
        raise core.bad_request("unknown fault %r" % fault)
    ns, target = spec.get("namespace", "default"), spec.get("target") or spec.get("deployment")
    node = STORE["nodes"].get(("", target or ""))
    if node is not None and fault in ("node_not_ready", "clear"):
        pods.set_node_ready(node, fault == "clear")
        return {"fault": fault, "nodes": [target], "pods": []}
    workload, victims = sim_targets(spec)
    if victims is None:
        if fault == "clear" and not target:
            pods.FAULTS.clear()
            for pod in STORE["pods"].values():
                pods.clear_pod_faults(pod)
            for node in STORE["nodes"].values():
                pods.set_node_ready(node, True)
            return {"fault": fault, "pods": [], "nodes": []}
        raise core.not_found("deployments", target)
    container, below = spec.get("container"), spec.get("oom_below")
    below_bytes = pods.quantity(below) if below else None
    nodes = sorted({p["spec"].get("nodeName") for p in victims if p["spec"].get("nodeName")})
    if fault == "clear":
        if workload is not None:
            pods.FAULTS.pop((ns, target), None)
        for pod in victims:
            pods.clear_pod_faults(pod)
        for name in nodes:
            pods.set_node_ready(STORE["nodes"][("", name)], True)
        return {"fault": fault, "pods": [p["metadata"]["name"] for p in victims], "nodes": nodes}
    if fault == "node_not_ready":
        for name in nodes:
            pods.set_node_ready(STORE["nodes"][("", name)], False)
        return {"fault": fault, "pods": [p["metadata"]["name"] for p in victims], "nodes": nodes}
    hit = []
    for pod in victims:
        cname = container or pod["spec"]["containers"][0]["name"]
        if below_bytes is not None:
            spec_c = next((c for c in pod["spec"]["containers"] if c["name"] == cname), {})
            limit = pods.quantity((spec_c.get("resources") or {}).get("limits", {}).get("memory"))
            if limit is not None and limit >= below_bytes:
                continue
        if fault == "unschedulable":
            unbind(pod)
        pods.set_fault(pod, fault, cname)
        hit.append(pod["metadata"]["name"])
    if workload is not None and sticky and fault in ("crash", "oom", "unschedulable"):
        pods.FAULTS[(ns, target)] = {"fault": fault, "container": container, "oom_below": below,
                                     "hash": None if fault == "unschedulable" else workloads.template_hash(workload["spec"]["template"])}
    return {"fault": fault, "pods": hit, "nodes": nodes}


def unbind(pod):
    """Simulation shortcut: an existing pod of an unschedulable workload goes back to Pending."""
    pod["spec"].pop("nodeName", None)
    state = core.priv(pod)
    state.pop("scheduled", None)
    state.pop("cond_times", None)


def sim(method, path, body):
    if path == "/_sim/healthz":
        return 200, {"ok": True, "resourceVersion": core.STATE["rv"]}
    if method != "POST":
        raise ApiError(405, "MethodNotAllowed", "POST to /_sim endpoints")
    body = body or {}
    if path == "/_sim/seed":
        return 201, workloads.seed(body)
    if path == "/_sim/fault":
        return 200, sim_fault(body, body.get("sticky", True))
    if path == "/_sim/crash":  # the old endpoint: the running pods of a Deployment crash-loop (Error or OOMKilled)
        fault = "oom" if body.get("reason") == "OOMKilled" else "crash"
        result = sim_fault({"namespace": body.get("namespace", "default"), "target": body["deployment"], "fault": fault}, sticky=False)
        return 200, {"crashed": result["pods"]}
    if path == "/_sim/errors":
        rule = {"regex": re.compile(body.get("path_regex", ".*")), "status": int(body.get("status", 503)),
                "count": int(body.get("count", 1)), "retry_after": body.get("retry_after")}
        ERRORS.append(rule)
        return 200, {"pending": sum(r["count"] for r in ERRORS)}
    if path == "/_sim/metrics":
        pods.METRICS.insert(0, dict(body, namespace=body.get("namespace", "default")))
        return 200, {"rules": len(pods.METRICS)}
    if path == "/_sim/rbac":
        AUTH["forbid"] = [parse_forbid(f) if isinstance(f, str) else f for f in body.get("forbid", [])]
        return 200, {"forbid": AUTH["forbid"]}
    raise ApiError(404, "NotFound", "unknown simulation endpoint %s" % path)


def injected(path):
    for rule in list(ERRORS):
        if rule["count"] > 0 and rule["regex"].search(path):
            rule["count"] -= 1
            if rule["count"] <= 0:
                ERRORS.remove(rule)
            status = rule["status"]
            reason, message = {429: ("TooManyRequests", "the server has received too many requests and has asked us to try again later"),
                               500: ("InternalError", 'an error on the server ("injected by the simulation") has prevented the request '
                                                      "from succeeding"),
                               503: ("ServiceUnavailable", "the server is currently unable to handle the request")}.get(
                status, ("InternalError", "injected error"))
            headers = {"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") is not None else {}
            return ApiError(status, reason, message, headers=headers)
    return None


# -- the handler ------------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    peer_cert = None

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(30)
            self.connection.do_handshake()
            self.peer_cert = self.connection.getpeercert() or None

    def handle(self):
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, socket.timeout, OSError):
            self.close_connection = True

    def log_message(self, fmt, *args):  # quiet
        pass

    def send_body(self, code, body, headers=None):
        text = isinstance(body, str)
        raw = body.encode() if text else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if text else "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise core.bad_request("the body of the request could not be decoded as JSON: %s" % exc) from None

    def dispatch(self, method):
        try:
            self.respond(method)
        except ApiError as exc:
            self.send_body(exc.code, exc.status(), exc.headers)
        except patch.PatchError as exc:
            self.send_body(422, ApiError(422, "Invalid", str(exc)).status())
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            self.send_body(400, core.bad_request("bad request: %s" % exc).status())
        except Exception as exc:  # pylint: disable=broad-except
            core.log_error("%s %s" % (method, self.path))
            self.send_body(500, ApiError(500, "InternalError", "simulation error: %s" % exc).status())

    def respond(self, method):
        url = urlsplit(self.path)
        path, params = url.path.rstrip("/") or "/", dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body = self.read_body()  # always consumed: keep-alive stays in sync
        except ApiError:
            if path.startswith("/_sim/") or method in ("POST", "PUT", "PATCH"):
                raise
            body = None
        if path.startswith("/_sim/"):
            with LOCK:
                return self.send_body(*sim(method, path, body))
        error = injected(self.path)
        if error:
            raise error
        if path in ("/healthz", "/livez", "/readyz"):
            return self.send_body(200, "ok")
        user = identify(self)
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        doc = discovery(path) if method == "GET" else None
        if doc is not None:
            return self.send_body(200, doc)
        route = parse_route(path)
        if route is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verb = verb_of(method, route, params)
        ns = route["ns"] if route["kind"] not in core.CLUSTER_SCOPED else ""
        if denied(user, verb, route["kind"] + ("/" + route["sub"] if route["sub"] else ""), ns):
            raise forbidden(user, verb, route)
        if route["sub"] == "exec":
            return pod_exec.serve(self, route)
        if verb == "watch":
            return self.watch(route, params)
        if method in ("POST", "PUT") and self.headers.get("Content-Type", "application/json").split(";")[0] not in (
                "application/json", "*/*", ""):
            raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - accepted media types '
                           "include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
        with LOCK:
            code, out = handle(method, route, params, body, self.headers.get("Content-Type"))
        return self.send_body(code, out)

    # -- watch --------------------------------------------------------------------------------------
    def chunk(self, event):
        raw = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
        self.wfile.flush()

    def watch(self, route, params):
        """Changes after resourceVersion (or the current state as ADDED first), ERROR 410 when too old, BOOKMARKs."""
        kind = route["kind"]
        if kind not in core.STORE or route["gv"] == "metrics.k8s.io/v1beta1":
            raise ApiError(405, "MethodNotAllowed", "watch is not supported on %s" % kind)
        flt = core.Filter(kind, route["ns"] or None, params)
        bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
        deadline = time.time() + min(float(params.get("timeoutSeconds") or 1800), 1800)
        rv = params.get("resourceVersion") or ""
        with LOCK:
            matched = {core.key_of(kind, o) for o in core.select(kind, flt)}
            if rv in ("", "0"):
                events = [{"type": "ADDED", "object": view(route, o)} for o in core.select(kind, flt)]
                last = core.STATE["rv"]
            else:
                last = int(rv)
                events = [] if not too_old(last) else None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            if events is None:
                return self.gone(last)
            next_bookmark = time.time() + 1.0
            while True:
                for event in events:
                    self.chunk(event)
                if time.time() >= deadline:
                    break
                with core.CHANGED:
                    core.CHANGED.wait(timeout=max(0.05, min(1.0, deadline - time.time())))
                    if too_old(last):
                        return self.gone(last)
                    events, last = changes_after(route, flt, last, matched)
                    if bookmarks and time.time() >= next_bookmark and not events:
                        events = [bookmark(kind)]
                        next_bookmark = time.time() + 1.0
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        return None

    def gone(self, last):
        oldest = core.LOG[0][0] if core.LOG else core.STATE["rv"]
        self.chunk({"type": "ERROR", "object": ApiError(410, "Expired", "too old resource version: %d (%d)" % (last, oldest - 1)).status()})
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")


def bookmark(kind):
    meta = {"resourceVersion": str(core.STATE["rv"]), "annotations": {"k8s.io/initial-events-end": "true"}}
    return {"type": "BOOKMARK", "object": {"kind": core.KIND_OF[kind], "apiVersion": core.api_version(kind), "metadata": meta}}


def too_old(rv):
    """A watch from rv cannot resume when the window no longer holds every change after it."""
    return bool(core.LOG) and len(core.LOG) == core.LOG.maxlen and rv < core.LOG[0][0] - 1


def changes_after(route, flt, last, matched):
    """Watch events for log entries after `last` (a label change out of the selector reads as DELETED)."""
    kind, events = route["kind"], []
    top = last
    for rv, ekind, etype, snap in core.LOG:
        if rv <= last:
            continue
        top = rv
        if ekind != kind:
            continue
        key = core.key_of(kind, snap)
        hit = flt(snap)
        if etype == "DELETED" or not hit:
            if key in matched:
                matched.discard(key)
                events.append({"type": "DELETED", "object": view(route, snap)})
            continue
        events.append({"type": "MODIFIED" if key in matched and etype != "ADDED" else "ADDED", "object": view(route, snap)})
        matched.add(key)
    return events, max(top, last)


# -- main -------------------------------------------------------------------------------------------
def parse_forbid(text):
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError("--forbid wants USER:VERB:RESOURCE[:NS], got %r" % text)
    return {"user": parts[0], "verb": parts[1], "resource": parts[2], "namespace": parts[3] if len(parts) == 4 else None}


def parse_seed(text):
    where, image = text.split("=", 1)
    ns, name = where.split("/", 1)
    image, _star, count = image.partition("*")
    return {"namespace": ns, "name": name, "image": image, "replicas": int(count or 1)}


def build_parser(doc):
    parser = argparse.ArgumentParser(description=doc.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=16443)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (kubectl sends tokens only over TLS)")
    parser.add_argument("--tls-key", help="private key of --tls-cert")
    parser.add_argument("--client-ca", help="ask for client certificates and verify them with this CA; the CN is the user")
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN[=USER]", help="accept this bearer token (user: admin)")
    parser.add_argument("--forbid", action="append", default=[], type=parse_forbid, metavar="USER:VERB:RESOURCE[:NS]",
                        help="RBAC: deny this (403); * matches anything")
    parser.add_argument("--ready-delay", type=float, default=0.3, help="seconds before a new pod's containers run")
    parser.add_argument("--grace-scale", type=float, default=0.01, help="a pod with grace period G goes after G * this seconds")
    parser.add_argument("--restart-every", type=float, default=1.0, help="seconds between crash-loop restarts")
    parser.add_argument("--seed", action="append", default=[], type=parse_seed, metavar="NS/NAME=IMAGE[*N]",
                        help="create a Deployment at start, e.g. prod/orchestrator-api=orchestrator/api:1.4.2*2")
    return parser


def start(args):
    core.OPTS.update(ready_delay=args.ready_delay, grace_scale=args.grace_scale, restart_every=args.restart_every)
    AUTH["tokens"] = {t.partition("=")[0]: t.partition("=")[2] or "admin" for t in args.token}
    AUTH["client_ca"] = bool(args.client_ca)
    AUTH["forbid"] = list(args.forbid)
    with LOCK:
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            core.ensure_namespace(ns)
        for n, name in enumerate(pods.NODES):
            pods.make_node(name, n + 1)
        for spec in args.seed:
            workloads.seed(dict(spec, progress_deadline_s=10))
    threading.Thread(target=workloads.controller_loop, daemon=True).start()
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.client_ca:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(args.client_ca)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https"
    print("kubernetes API simulation on %s://%s:%d" % (scheme, args.bind, args.port), flush=True)
    return server


def main(doc=__doc__):
    args = build_parser(doc).parse_args()
    if args.client_ca and not args.tls_cert:
        sys.exit("--client-ca needs --tls-cert")
    start(args).serve_forever()
