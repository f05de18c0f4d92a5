"""The object store, resource versions, the change log watches read, selectors, Status errors and events."""
import collections
import copy
import hashlib
import json
import random
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone

LOCK = threading.RLock()
CHANGED = threading.Condition(LOCK)
KINDS = ("namespaces", "nodes", "pods", "events", "deployments", "replicasets", "statefulsets", "controllerrevisions",
         "horizontalpodautoscalers")
STORE = {kind: {} for kind in KINDS}  # kind -> {(namespace or "", name): object}
PRIV = {}  # uid -> the simulation's own state of an object (never served)
STATE = {"rv": 1}
LOG = collections.deque(maxlen=1000)  # (rv, kind, type, snapshot): the window watches resume from
OPTS = {"ready_delay": 0.3, "grace_scale": 0.01, "restart_every": 1.0, "pull_backoff_after": 1.0}
SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of generated names (k8s.io/apimachinery/pkg/util/rand)
GROUP = {"deployments": "apps", "replicasets": "apps", "statefulsets": "apps", "controllerrevisions": "apps",
         "horizontalpodautoscalers": "autoscaling"}
KIND_OF = {"namespaces": "Namespace", "nodes": "Node", "pods": "Pod", "events": "Event", "deployments": "Deployment",
           "replicasets": "ReplicaSet", "statefulsets": "StatefulSet", "controllerrevisions": "ControllerRevision",
           "horizontalpodautoscalers": "HorizontalPodAutoscaler"}
API_VERSION = {"apps": "apps/v1", "autoscaling": "autoscaling/v2", "": "v1"}
CLUSTER_SCOPED = ("namespaces", "nodes")


def api_version(kind):
    return API_VERSION[GROUP.get(kind, "")]


def now_iso(ts=None):
    return datetime.fromtimestamp(time.time() if ts is None else ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def rand_suffix(n=5):
    return "".join(random.choice(SAFE) for _i in range(n))


def short_hash(value, n=10):
    digest = hashlib.sha256(json.dumps(value, sort_keys=True).encode()).digest()
    return "".join(SAFE[b % len(SAFE)] for b in digest[:n])


def log_error(what):
    sys.stderr.write("k8s_sim: %s failed:\n%s" % (what, traceback.format_exc()))
    sys.stderr.flush()


def priv(obj):
    return PRIV.setdefault(obj["metadata"]["uid"], {})


def key_of(kind, obj):
    return ("" if kind in CLUSTER_SCOPED else obj["metadata"]["namespace"], obj["metadata"]["name"])


def new_meta(ns, name, labels=None, owner=None, annotations=None):
    meta = {"name": name, "uid": str(uuid.uuid4()), "labels": dict(labels or {}), "annotations": dict(annotations or {}),
            "creationTimestamp": now_iso(), "resourceVersion": "0"}
    if ns:
        meta["namespace"] = ns
    if owner:
        meta["ownerReferences"] = [owner_ref(owner)]
    if not meta["labels"]:
        meta.pop("labels")
    if not meta["annotations"]:
        meta.pop("annotations")
    return meta


def owner_ref(owner):
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def owned_by(obj, owner):
    return any(ref["uid"] == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences", []))


def record(kind, obj, event_type):
    """Give the object a new resourceVersion and log the change for watches."""
    STATE["rv"] += 1
    obj["metadata"]["resourceVersion"] = str(STATE["rv"])
    LOG.append((STATE["rv"], kind, event_type, copy.deepcopy(obj)))
    CHANGED.notify_all()


def add(kind, obj):
    STORE[kind][key_of(kind, obj)] = obj
    if kind not in CLUSTER_SCOPED:
        ensure_namespace(obj["metadata"]["namespace"])
    record(kind, obj, "ADDED")
    return obj


def modified(kind, obj):
    record(kind, obj, "MODIFIED")


def remove(kind, obj):
    STORE[kind].pop(key_of(kind, obj), None)
    PRIV.pop(obj["metadata"]["uid"], None)
    record(kind, obj, "DELETED")


def set_status(kind, obj, status):
    """Store a new status; a change bumps the resourceVersion."""
    if obj.get("status") != status:
        obj["status"] = status
        modified(kind, obj)


def ensure_namespace(ns):
    if ns and ("", ns) not in STORE["namespaces"]:
        obj = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": new_meta("", ns, {"kubernetes.io/metadata.name": ns}),
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
        add("namespaces", obj)


# -- selectors --------------------------------------------------------------------------------------
def split_terms(text):
    """Split a selector on commas outside parentheses (set-based terms have commas inside)."""
    terms, depth, cur = [], 0, ""
    for ch in text or "":
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            terms.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur.strip())
    return terms


def parse_label_selector(text):
    """Label selector text -> [(key, op, values)] with op in = != in notin exists !exists; ValueError when malformed."""
    out = []
    for term in split_terms(text):
        lowered = term.replace("\t", " ")
        for op in (" notin ", " in "):
            if op in lowered:
                key, _sep, rest = lowered.partition(op)
                rest = rest.strip()
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise ValueError("unable to parse requirement: %s" % term)
                out.append((key.strip(), op.strip(), [v.strip() for v in rest[1:-1].split(",") if v.strip()]))
                break
        else:
            if term.startswith("!"):
                out.append((term[1:].strip(), "!exists", []))
            elif "!=" in term:
                key, value = term.split("!=", 1)
                out.append((key.strip(), "!=", [value.strip()]))
            elif "=" in term:
                key, value = term.replace("==", "=").split("=", 1)
                out.append((key.strip(), "=", [value.strip()]))
            else:
                out.append((term, "exists", []))
    return out


def requirement_ok(labels, key, op, values):
    has, value = key in labels, labels.get(key)
    return {"=": has and value in values, "in": has and value in values, "!=": value not in values,
            "notin": value not in values, "exists": has, "!exists": not has}[op]


def labels_match(labels, requirements):
    return all(requirement_ok(labels or {}, *req) for req in requirements)


def selector_requirements(selector):
    """A LabelSelector object -> requirements (matchLabels and matchExpressions)."""
    reqs = [(k, "=", [v]) for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}
    for expr in (selector or {}).get("matchExpressions", []):
        reqs.append((expr["key"], ops[expr["operator"]], list(expr.get("values") or [])))
    return reqs


def selector_text(selector):
    """A LabelSelector object as the text form (Scale status.selector, kubectl)."""
    parts = []
    for key, op, values in selector_requirements(selector):
        if op == "=":
            parts.append("%s=%s" % (key, values[0]))
        elif op in ("in", "notin"):
            parts.append("%s %s (%s)" % (key, op, ",".join(values)))
        else:
            parts.append(("!" if op == "!exists" else "") + key)
    return ",".join(parts)


def field_value(obj, path):
    node = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def parse_field_selector(text):
    out = []
    for term in split_terms(text):
        if "!=" in term:
            key, value = term.split("!=", 1)
            out.append((key.strip(), False, value.strip()))
        else:
            key, _sep, value = term.replace("==", "=").partition("=")
            out.append((key.strip(), True, value.strip()))
    return out


def fields_match(obj, requirements):
    return all((field_value(obj, k) == v) == want for k, want, v in requirements)


class Filter:
    """What a list or watch selects: namespace, labelSelector, fieldSelector."""

    def __init__(self, kind, ns, params):
        self.kind, self.ns = kind, ns
        self.labels = parse_label_selector(params.get("labelSelector"))
        self.fields = parse_field_selector(params.get("fieldSelector"))

    def __call__(self, obj):
        meta = obj["metadata"]
        return ((self.ns is None or meta.get("namespace") == self.ns) and labels_match(meta.get("labels"), self.labels)
                and fields_match(obj, self.fields))


def select(kind, flt):
    return [o for _k, o in sorted(STORE[kind].items()) if flt(o)]


# -- Status errors ----------------------------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details, self.headers = code, reason, message, details, headers or {}

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def qualified(kind):
    return kind + ("." + GROUP[kind] if GROUP.get(kind) else "")


def details(kind, name=None, **extra):
    out = {"kind": kind}
    if name:
        out["name"] = name
    if GROUP.get(kind):
        out["group"] = GROUP[kind]
    out.update(extra)
    return out


def not_found(kind, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(kind), name), details(kind, name))


def conflict(kind, name):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; please apply '
                    "your changes to the latest version and try again" % (qualified(kind), name), details(kind, name))


def already_exists(kind, name):
    return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(kind), name), details(kind, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(kind_name, group, name, causes):
    """causes: [(field, reason, message)] as the API server's field.ErrorList."""
    text = ", ".join("%s: %s" % (f, m) for f, _r, m in causes)
    qual = kind_name + ("." + group if group else "")
    det = {"name": name, "kind": kind_name, "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes]}
    if group:
        det["group"] = group
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (qual, name, text), det)


# -- events -----------------------------------------------------------------------------------------
def emit(obj, event_type, reason, message, component="kubelet", host=None):
    """Record an Event about obj, folding repeats into count/lastTimestamp as the event recorder does."""
    try:
        meta = obj["metadata"]
        ns = meta.get("namespace") or "default"
        ident = (meta["uid"], reason, message)
        for ev in STORE["events"].values():
            if priv(ev).get("ident") == ident:
                ev["count"] += 1
                ev["lastTimestamp"] = now_iso()
                modified("events", ev)
                return ev
        stamp = now_iso()
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": new_meta(ns, "%s.%016x" % (meta["name"], random.getrandbits(64))),
              "involvedObject": {"kind": obj["kind"], "namespace": meta.get("namespace"), "name": meta["name"], "uid": meta["uid"],
                                 "apiVersion": obj["apiVersion"], "resourceVersion": meta.get("resourceVersion")},
              "reason": reason, "message": message, "type": event_type, "count": 1, "firstTimestamp": stamp,
              "lastTimestamp": stamp, "source": {"component": component}, "reportingComponent": component,
              "reportingInstance": host or ""}
        if ev["involvedObject"]["namespace"] is None:
            ev["involvedObject"].pop("namespace")
        if host:
            ev["source"]["host"] = host
        add("events", ev)
        priv(ev)["ident"] = ident
        if len(STORE["events"]) > 2000:
            oldest = min(STORE["events"].values(), key=lambda e: int(e["metadata"]["resourceVersion"]))
            remove("events", oldest)
        return ev
    except Exception:  # pylint: disable=broad-except
        log_error("event")
        return None
