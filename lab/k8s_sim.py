#!/usr/bin/env python3
"""A local simulation of the Kubernetes API, for code that cannot reach a real cluster here.

It serves the subset the collection (and `kubectl get/scale/rollout/delete`) uses, with the
semantics that matter during an incident, driven by a controller loop like the real ones:

  /version, /api, /apis, /api/v1, /apis/apps/v1         discovery
  /api/v1/namespaces/NS/pods[/NAME[/log]]               list (labelSelector), get, delete, log
  /apis/apps/v1/namespaces/NS/deployments[/NAME]        list, create, get, patch (merge, strategic, json)
  /apis/apps/v1/namespaces/NS/deployments/NAME/scale    get, patch, put
  /apis/apps/v1/namespaces/NS/replicasets               list (labelSelector)
  /_sim/seed  POST {namespace, name, image, replicas}    create a Deployment
  /_sim/crash POST {namespace, deployment, reason}       the running pods crash-loop (Error or OOMKilled)

Controller: a Deployment owns one ReplicaSet per pod template (label pod-template-hash, annotation
deployment.kubernetes.io/revision, revision bumped when an old template comes back, as on rollback);
RollingUpdate keeps old pods until the new ReplicaSet is ready (a broken image stalls the rollout and
reports ProgressDeadlineExceeded), Recreate drops them first. A ReplicaSet keeps its pod count, so a
deleted pod is replaced. Pods become Ready after --ready-delay seconds; an image whose tag contains
"broken" or a crashed pod crash-loops (CrashLoopBackOff, restartCount grows). Bearer token auth when
--token is set. What it does not simulate: scheduling, nodes, probes, events, watch, RBAC."""
import argparse
import copy
import hashlib
import json
import random
import re
import ssl
import string
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.RLock()
STORE = {"deployments": {}, "replicasets": {}, "pods": {}}  # kind -> {(ns, name): object}
STATE = {"rv": 1}
OPTS = argparse.Namespace(ready_delay=0.3, token=None, restart_every=1.0)
REVISION = "deployment.kubernetes.io/revision"


def now_iso(ts=None):
    return datetime.fromtimestamp(ts or time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bump(obj):
    STATE["rv"] += 1
    obj["metadata"]["resourceVersion"] = str(STATE["rv"])


def new_meta(ns, name, labels=None, owner=None):
    meta = {"name": name, "namespace": ns, "uid": str(uuid.uuid4()), "labels": dict(labels or {}),
            "annotations": {}, "creationTimestamp": now_iso(), "generation": 1, "resourceVersion": "0"}
    if owner:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"], "controller": True}]
    return meta


def pruned(value):
    """Drop empty values, so two templates that only differ in defaults compare equal (as in the API server)."""
    if isinstance(value, dict):
        value = {k: pruned(v) for k, v in value.items() if k not in ("creationTimestamp", "pod-template-hash")}
        return {k: v for k, v in value.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def template_hash(template):
    return hashlib.sha256(json.dumps(pruned(template), sort_keys=True).encode()).hexdigest()[:10]


def matches(labels, selector):
    """labelSelector: comma-separated k=v, k!=v, k (exists)."""
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term not in labels:
            return False
    return True


def owned_by(obj, owner):
    return any(ref["uid"] == owner["metadata"]["uid"] for ref in obj["metadata"].get("ownerReferences", []))


# -- controllers ----------------------------------------------------------------------------------
def make_deployment(ns, name, image, replicas=1, strategy="RollingUpdate", labels=None):
    labels = labels or {"app": name}
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": new_meta(ns, name, labels),
           "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)}, "strategy": {"type": strategy},
                    "progressDeadlineSeconds": 10, "revisionHistoryLimit": 10,
                    "template": {"metadata": {"labels": dict(labels), "annotations": {}},
                                 "spec": {"containers": [{"name": name, "image": image}]}}},
           "status": {}}
    bump(dep)
    return dep


def reconcile_deployment(dep):
    ns = dep["metadata"]["namespace"]
    h = template_hash(dep["spec"]["template"])
    rss = [rs for rs in STORE["replicasets"].values() if owned_by(rs, dep)]
    current = next((rs for rs in rss if rs["metadata"]["labels"].get("pod-template-hash") == h), None)
    top = max([int(rs["metadata"]["annotations"].get(REVISION, "0")) for rs in rss] or [0])
    if current is None:
        template = copy.deepcopy(dep["spec"]["template"])
        template["metadata"].setdefault("labels", {})["pod-template-hash"] = h
        labels = dict(template["metadata"]["labels"])
        current = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": new_meta(ns, "%s-%s" % (dep["metadata"]["name"], h), labels, dep),
                   "spec": {"replicas": 0, "selector": {"matchLabels": labels}, "template": template}, "status": {}}
        current["metadata"]["annotations"][REVISION] = str(top + 1)
        STORE["replicasets"][(ns, current["metadata"]["name"])] = current
        dep["status"]["rolloutStartedAt"] = time.time()
    elif int(current["metadata"]["annotations"].get(REVISION, "0")) < top:
        current["metadata"]["annotations"][REVISION] = str(top + 1)  # an old template is back: rollback
        dep["status"]["rolloutStartedAt"] = time.time()
    dep["metadata"]["annotations"][REVISION] = current["metadata"]["annotations"][REVISION]
    want = dep["spec"]["replicas"]
    current["spec"]["replicas"] = want
    new_ready = sum(1 for p in pods_of(current) if pod_ready(p))
    old = [rs for rs in rss if rs is not current]
    for rs in old:
        if dep["spec"]["strategy"]["type"] == "Recreate" or new_ready >= want:
            rs["spec"]["replicas"] = 0
    dep_pods = [p for rs in rss + ([current] if current not in rss else []) for p in pods_of(rs)]
    ready = sum(1 for p in dep_pods if pod_ready(p))
    complete = new_ready >= want and all(rs["spec"]["replicas"] == 0 and not pods_of(rs) for rs in old)
    started = dep["status"].get("rolloutStartedAt", 0)
    if complete:
        progressing = ("True", "NewReplicaSetAvailable", 'ReplicaSet "%s" has successfully progressed.' % current["metadata"]["name"])
    elif time.time() - started > dep["spec"].get("progressDeadlineSeconds", 600):
        progressing = ("False", "ProgressDeadlineExceeded", 'ReplicaSet "%s" has timed out progressing.' % current["metadata"]["name"])
    else:
        progressing = ("True", "ReplicaSetUpdated", 'ReplicaSet "%s" is progressing.' % current["metadata"]["name"])
    status = {"observedGeneration": dep["metadata"]["generation"], "replicas": len(dep_pods),
              "updatedReplicas": len(pods_of(current)), "readyReplicas": ready, "availableReplicas": ready,
              "unavailableReplicas": max(0, want - ready), "rolloutStartedAt": started,
              "conditions": [
                  {"type": "Available", "status": "True" if ready >= want else "False",
                   "reason": "MinimumReplicasAvailable" if ready >= want else "MinimumReplicasUnavailable"},
                  {"type": "Progressing", "status": progressing[0], "reason": progressing[1], "message": progressing[2]}]}
    if status != dep["status"]:
        dep["status"] = status
        bump(dep)


def pods_of(rs):
    return [p for p in STORE["pods"].values() if owned_by(p, rs)]


def pod_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def reconcile_replicaset(rs):
    pods = sorted(pods_of(rs), key=lambda p: p["metadata"]["creationTimestamp"])
    ns = rs["metadata"]["namespace"]
    while len(pods) > rs["spec"]["replicas"]:
        victim = pods.pop()
        STORE["pods"].pop((ns, victim["metadata"]["name"]), None)
    while len(pods) < rs["spec"]["replicas"]:
        suffix = "".join(random.choice(string.ascii_lowercase + string.digits) for _i in range(5))
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": new_meta(ns, "%s-%s" % (rs["metadata"]["name"], suffix), rs["spec"]["template"]["metadata"]["labels"], rs),
               "spec": copy.deepcopy(rs["spec"]["template"]["spec"]),
               "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}], "_born": time.time()}}
        bump(pod)
        STORE["pods"][(ns, pod["metadata"]["name"])] = pod
        pods.append(pod)
    ready = sum(1 for p in pods if pod_ready(p))
    rs["status"] = {"replicas": len(pods), "readyReplicas": ready, "availableReplicas": ready,
                    "observedGeneration": rs["metadata"]["generation"]}


def reconcile_pod(pod):
    st = pod["status"]
    now = time.time()
    if now - st["_born"] < OPTS.ready_delay:
        return
    container = pod["spec"]["containers"][0]
    crash = st.get("_crash") or ("broken" in container["image"].rsplit(":", 1)[-1] and "Error")
    previous = (st.get("containerStatuses") or [{}])[0]
    restarts = previous.get("restartCount", 0)
    if crash:
        last_bump = st.get("_last_restart", st["_born"])
        if now - last_bump >= OPTS.restart_every:
            restarts += 1
            st["_last_restart"] = now
        cs = {"name": container["name"], "image": container["image"], "ready": False, "restartCount": restarts,
              "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container"}},
              "lastState": {"terminated": {"exitCode": 137 if crash == "OOMKilled" else 1, "reason": crash}}}
        phase, ready = "Running", "False"
    else:
        cs = {"name": container["name"], "image": container["image"], "ready": True, "restartCount": restarts,
              "state": {"running": {"startedAt": now_iso(st["_born"] + OPTS.ready_delay)}}, "lastState": previous.get("lastState", {})}
        phase, ready = "Running", "True"
    new = dict(st, phase=phase, conditions=[{"type": "Ready", "status": ready}], containerStatuses=[cs],
               startTime=now_iso(st["_born"]))
    if new != st:
        pod["status"] = new
        bump(pod)


def controller_loop(interval=0.05):
    while True:
        with LOCK:
            for dep in list(STORE["deployments"].values()):
                reconcile_deployment(dep)
            for rs in list(STORE["replicasets"].values()):
                owner = rs["metadata"]["ownerReferences"][0]["uid"]
                if not any(d["metadata"]["uid"] == owner for d in STORE["deployments"].values()):
                    STORE["replicasets"].pop((rs["metadata"]["namespace"], rs["metadata"]["name"]), None)
                    continue
                reconcile_replicaset(rs)
            for pod in list(STORE["pods"].values()):
                reconcile_pod(pod)
        time.sleep(interval)


# -- patches --------------------------------------------------------------------------------------
def merge_patch(target, patch, strategic=False):
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge_patch(target[key], value, strategic)
        elif strategic and isinstance(value, list) and key == "containers" and isinstance(target.get(key), list):
            by_name = {c["name"]: c for c in target[key]}
            for item in value:
                if item.get("name") in by_name:
                    merge_patch(by_name[item["name"]], item, strategic)
                else:
                    target[key].append(item)
        else:
            target[key] = copy.deepcopy(value)
    return target


def json_patch(target, ops):
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent = target
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                parent[int(last)] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            parent.pop(int(last) if isinstance(parent, list) else last)
        else:
            raise ValueError("unsupported json patch op %s" % op["op"])
    return target


def apply_patch(obj, body, content_type):
    before = copy.deepcopy(obj["spec"])
    if "json-patch" in content_type:
        json_patch(obj, body)
    else:
        merge_patch(obj, body, strategic="strategic" in content_type)
    if obj["spec"] != before:
        obj["metadata"]["generation"] += 1
    bump(obj)


# -- HTTP -----------------------------------------------------------------------------------------
DISCOVERY = {
    "/version": {"major": "1", "minor": "29", "gitVersion": "v1.29.0-incident-sim", "platform": "linux/amd64"},
    "/api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
         "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}}]},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "Pod", "shortNames": ["po"],
         "verbs": ["delete", "get", "list"]},
        {"name": "pods/log", "singularName": "", "namespaced": True, "kind": "Pod", "verbs": ["get"]}]},
    "/apis/apps/v1": {"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": [
        {"name": "deployments", "singularName": "", "namespaced": True, "kind": "Deployment", "shortNames": ["deploy"],
         "verbs": ["create", "get", "list", "patch"]},
        {"name": "deployments/scale", "singularName": "", "namespaced": True, "group": "autoscaling", "version": "v1",
         "kind": "Scale", "verbs": ["get", "patch", "update"]},
        {"name": "replicasets", "singularName": "", "namespaced": True, "kind": "ReplicaSet", "shortNames": ["rs"],
         "verbs": ["get", "list"]}]},
}
ROUTE = re.compile(r"^/(?:api/v1|apis/apps/v1)/namespaces/([a-z0-9-]+)/(pods|deployments|replicasets)"
                   r"(?:/([a-z0-9.-]+))?(?:/(scale|log))?$")


LIST_KIND = {"pods": "PodList", "deployments": "DeploymentList", "replicasets": "ReplicaSetList"}


def selected(store, ns, params):
    """Objects of a namespace matching labelSelector and a metadata.name fieldSelector."""
    name = (params.get("fieldSelector") or "").partition("metadata.name=")[2] or None
    return [o for (ons, oname), o in sorted(store.items()) if ons == ns and (name is None or oname == name)
            and matches(o["metadata"]["labels"], params.get("labelSelector"))]


def public(obj):
    out = copy.deepcopy(obj)
    for key in [k for k in out.get("status", {}) if k.startswith("_") or k == "rolloutStartedAt"]:
        out["status"].pop(key)
    return out


def status_error(code, reason, message):
    return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code}


def scale_of(dep):
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": dep["metadata"]["name"], "namespace": dep["metadata"]["namespace"]},
            "spec": {"replicas": dep["spec"]["replicas"]},
            "status": {"replicas": dep["status"].get("replicas", 0), "selector": ",".join(
                "%s=%s" % kv for kv in sorted(dep["spec"]["selector"]["matchLabels"].items()))}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, code, body, content_type="application/json"):
        raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self):
        return json.loads(self._raw or b"null")

    def _handle(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""  # always consumed: keep-alive stays in sync
        path, _sep, query = self.path.partition("?")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        params = {k: v.replace("%3D", "=").replace("%2C", ",").replace("%21", "!") for k, v in params.items()}
        if OPTS.token and not path.startswith("/_sim/") and self.headers.get("Authorization") != "Bearer " + OPTS.token:
            return self._send(*status_error(401, "Unauthorized", "Unauthorized"))
        try:
            with LOCK:
                result = self._route(method, path, params)
        except (ValueError, KeyError, TypeError) as exc:
            result = status_error(400, "BadRequest", "bad request: %s" % exc)
        if result[0] == "watch":
            return self._watch(*result[1])
        return self._send(*result)

    def _watch(self, kind, ns, params):
        """A watch stream: ADDED for what exists, then MODIFIED/DELETED as it changes, until timeoutSeconds."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        seen = {}
        deadline = time.time() + min(float(params.get("timeoutSeconds", 30)), 60)
        try:
            while time.time() < deadline:
                events = []
                with LOCK:
                    current = {o["metadata"]["name"]: o for o in selected(STORE[kind], ns, params)}
                    for name, obj in current.items():
                        rv = obj["metadata"]["resourceVersion"]
                        if seen.get(name) != rv:
                            events.append({"type": "MODIFIED" if name in seen else "ADDED", "object": public(obj)})
                            seen[name] = rv
                    for name in [n for n in seen if n not in current]:
                        events.append({"type": "DELETED", "object": {"metadata": {"name": name, "namespace": ns}}})
                        seen.pop(name)
                for event in events:
                    raw = json.dumps(event).encode() + b"\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                self.wfile.flush()
                time.sleep(0.1)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _route(self, method, path, params):
        if method == "GET" and path in DISCOVERY:
            return 200, DISCOVERY[path]
        if path == "/_sim/seed" and method == "POST":
            spec = self._body()
            dep = make_deployment(spec.get("namespace", "default"), spec["name"], spec["image"], int(spec.get("replicas", 1)),
                                  spec.get("strategy", "RollingUpdate"))
            STORE["deployments"][(dep["metadata"]["namespace"], dep["metadata"]["name"])] = dep
            return 201, public(dep)
        if path == "/_sim/crash" and method == "POST":
            spec = self._body()
            dep = STORE["deployments"][(spec.get("namespace", "default"), spec["deployment"])]
            crashed = []
            for pod in STORE["pods"].values():
                if matches(pod["metadata"]["labels"], ",".join("%s=%s" % kv for kv in dep["spec"]["selector"]["matchLabels"].items())):
                    pod["status"]["_crash"] = spec.get("reason", "Error")
                    crashed.append(pod["metadata"]["name"])
            return 200, {"crashed": crashed}
        m = ROUTE.match(path)
        if not m:
            return status_error(404, "NotFound", "the server could not find the requested resource")
        ns, kind, name, sub = m.groups()
        store = STORE[kind]
        if name is None:
            if method == "GET":
                items = [public(o) for o in selected(store, ns, params)]
                if params.get("watch") in ("1", "true"):
                    return "watch", (kind, ns, params)
                return 200, {"kind": LIST_KIND[kind], "apiVersion": "v1" if kind == "pods" else "apps/v1",
                             "metadata": {"resourceVersion": str(STATE["rv"])}, "items": items}
            if method == "POST" and kind == "deployments":
                body = self._body()
                if (ns, body["metadata"]["name"]) in store:
                    return status_error(409, "AlreadyExists", 'deployments.apps "%s" already exists' % body["metadata"]["name"])
                container = body["spec"]["template"]["spec"]["containers"][0]
                dep = make_deployment(ns, body["metadata"]["name"], container["image"], body["spec"].get("replicas", 1))
                merge_patch(dep["spec"], body["spec"])
                store[(ns, dep["metadata"]["name"])] = dep
                return 201, public(dep)
            return status_error(405, "MethodNotAllowed", "method not allowed")
        obj = store.get((ns, name))
        if obj is None:
            return status_error(404, "NotFound", '%s "%s" not found' % (kind, name))
        if sub == "log" and method == "GET":
            cs = (obj["status"].get("containerStatuses") or [{}])[0]
            lines = ["%s INFO started %s" % (obj["status"].get("startTime", ""), obj["spec"]["containers"][0]["image"])]
            if not cs.get("ready", False):
                lines.append("%s ERROR container exited: %s" % (now_iso(), cs.get("lastState", {}).get("terminated", {}).get("reason", "not ready")))
            return 200, "\n".join(lines) + "\n"
        if sub == "scale":
            if method == "GET":
                return 200, scale_of(obj)
            body = self._body()
            replicas = (body.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                return status_error(422, "Invalid", "spec.replicas must be a non-negative integer")
            apply_patch(obj, {"spec": {"replicas": replicas}}, "merge")
            return 200, scale_of(obj)
        if method == "GET":
            return 200, public(obj)
        if method == "PATCH" and kind == "deployments":
            apply_patch(obj, self._body(), self.headers.get("Content-Type", ""))
            return 200, public(obj)
        if method == "DELETE" and kind == "pods":
            store.pop((ns, name))
            return 200, public(obj)
        return status_error(405, "MethodNotAllowed", "method not allowed")

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, default=16443)
    parser.add_argument("--token", default=None, help="require this bearer token")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (kubectl sends tokens only over TLS)")
    parser.add_argument("--tls-key", help="private key of --tls-cert")
    parser.add_argument("--ready-delay", type=float, default=0.3, help="seconds before a new pod is Ready")
    parser.add_argument("--seed", action="append", default=[], metavar="NS/NAME=IMAGE[*N]",
                        help="create a Deployment at start, e.g. prod/orchestrator-api=orchestrator/api:1.4.2*2")
    args = parser.parse_args()
    OPTS.token, OPTS.ready_delay = args.token, args.ready_delay
    for seed in args.seed:
        where, image = seed.split("=", 1)
        ns, name = where.split("/", 1)
        image, _star, count = image.partition("*")
        STORE["deployments"][(ns, name)] = make_deployment(ns, name, image, int(count or 1))
    threading.Thread(target=controller_loop, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    print("kubernetes API simulation on %s://127.0.0.1:%d" % (scheme, args.port), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
