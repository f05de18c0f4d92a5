"""The contract of lab/k8s_sim.py, the Kubernetes API simulation the k8s modules are tested against.

Every answer must deserialize into the official client's typed models (kubernetes.client, pydantic models with
extra="forbid") AND validate against the OpenAPI v2 definitions (data/k8s/openapi-subset.json, cut from the
official swagger; unknown fields rejected), and match the shapes of real API answers (data/k8s/fixtures/).
The pinned kubectl (scripts/install-kubectl.sh) runs its verbs against it; these tests fail when it is missing."""
import json
import os
import re
import socket
import ssl
import threading
import time

import jsonschema
import pytest
from kubernetes import client as k8s_client

from tests.k8s_support import KUBECTL, kubectl, start_sim

DATA = os.path.join(os.path.dirname(__file__), "data", "k8s")
SEED = "prod/api=orchestrator/api:1.4.2*2"
API = "/apis/apps/v1/namespaces/prod"
CORE = "/api/v1/namespaces/prod"


# -- schema and typed models ------------------------------------------------------------------------
def _schema():
    with open(os.path.join(DATA, "openapi-subset.json")) as fh:
        defs = json.load(fh)["definitions"]
    for body in defs.values():  # the swagger omits it; the API server never answers unknown fields
        if "properties" in body and "additionalProperties" not in body:
            body["additionalProperties"] = False
    defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] = {"type": ["string", "integer"]}
    return defs


DEFS = _schema()
MODELS = {  # OpenAPI definition -> the official client's model
    "core.v1.Pod": "V1Pod", "core.v1.PodList": "V1PodList", "core.v1.Node": "V1Node", "core.v1.NodeList": "V1NodeList",
    "core.v1.Namespace": "V1Namespace", "core.v1.NamespaceList": "V1NamespaceList", "core.v1.Event": "CoreV1Event",
    "core.v1.EventList": "CoreV1EventList", "apps.v1.Deployment": "V1Deployment", "apps.v1.DeploymentList": "V1DeploymentList",
    "apps.v1.ReplicaSet": "V1ReplicaSet", "apps.v1.ReplicaSetList": "V1ReplicaSetList", "apps.v1.StatefulSet": "V1StatefulSet",
    "apps.v1.StatefulSetList": "V1StatefulSetList", "apps.v1.ControllerRevision": "V1ControllerRevision",
    "apps.v1.ControllerRevisionList": "V1ControllerRevisionList", "autoscaling.v1.Scale": "V1Scale",
    "autoscaling.v2.HorizontalPodAutoscaler": "V2HorizontalPodAutoscaler",
    "autoscaling.v2.HorizontalPodAutoscalerList": "V2HorizontalPodAutoscalerList",
    "meta.v1.Status": "V1Status", "meta.v1.APIGroupList": "V1APIGroupList", "meta.v1.APIResourceList": "V1APIResourceList",
    "meta.v1.APIVersions": "V1APIVersions", "version.Info": "VersionInfo",
}
PREFIX = {"core": "io.k8s.api.", "apps": "io.k8s.api.", "autoscaling": "io.k8s.api.", "meta": "io.k8s.apimachinery.pkg.apis.",
          "version": "io.k8s.apimachinery.pkg."}
API_CLIENT = k8s_client.ApiClient()


def check(obj, definition):
    """The answer validates against the OpenAPI definition and deserializes into the typed model."""
    full = PREFIX[definition.split(".")[0]] + definition
    jsonschema.Draft4Validator({"$ref": "#/definitions/" + full, "definitions": DEFS}).validate(without_nulls(obj))
    model = API_CLIENT.deserialize(json.dumps(obj), MODELS[definition], "application/json")
    assert model is not None
    return model


def without_nulls(value):
    """A null is an unset pointer in the API server's JSON (lastProbeTime: null); the swagger has no nullable."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


METRICS_SCHEMA = {  # k8s.io/metrics/pkg/apis/metrics/v1beta1 (not in the core swagger, no typed model)
    "type": "object", "required": ["kind", "apiVersion", "items"], "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["metadata", "timestamp", "window"], "properties": {
            "metadata": {"type": "object", "required": ["name", "creationTimestamp"]}, "timestamp": {"type": "string"},
            "window": {"type": "string"},
            "usage": {"type": "object", "required": ["cpu", "memory"]},
            "containers": {"type": "array", "items": {"type": "object", "required": ["name", "usage"], "properties": {
                "usage": {"type": "object", "required": ["cpu", "memory"], "properties": {
                    "cpu": {"type": "string", "pattern": "^[0-9]+(m|n)?$"}, "memory": {"type": "string", "pattern": "^[0-9]+(Ki|Mi|Gi)?$"}}}}}}}}}}}


def fixture(name):
    with open(os.path.join(DATA, "fixtures", name)) as fh:
        return json.load(fh)


def paths(value, prefix=""):
    """Every key path of a JSON value (lists merged), for shape comparisons."""
    out = set()
    if isinstance(value, dict):
        for key, sub in value.items():
            out.add(prefix + "/" + key)
            out |= paths(sub, prefix + "/" + key)
    elif isinstance(value, list):
        for sub in value:
            out |= paths(sub, prefix + "[]")
    return out


def same_shape(real, simulated, ignore=()):
    missing = {p for p in paths(real) - paths(simulated) if not any(p.startswith(i) for i in ignore)}
    assert not missing, "the simulation lacks fields a real API server sends: %s" % sorted(missing)


def message_pattern(message, *names):
    """A real message with its object names made wildcards."""
    pattern = re.escape(message)
    for name in names:
        pattern = pattern.replace(re.escape(name), ".+?")
    return "^" + pattern + "$"


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
def sim(tmp_path):
    s = start_sim(tmp_path, seeds=[SEED])
    s.wait_available("api", 2)
    yield s
    s.stop()


def pods_of(sim, selector="app=api"):
    return sim.call(CORE + "/pods?labelSelector=" + selector)["items"]


def wait(predicate, timeout=10, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


# -- auth -------------------------------------------------------------------------------------------
def test_tls_client_certificates_tokens_and_401(sim):
    status, _h, body = sim.request(CORE + "/pods", token=False)
    assert status == 401 and check(body, "meta.v1.Status").reason == "Unauthorized"
    assert sim.request(CORE + "/pods", token="wrong")[0] == 401
    assert sim.request(CORE + "/pods", token=False, cert=True)[0] == 200  # client certificate, CN sre-cert
    assert sim.request(CORE + "/pods", token=False, headers={"Authorization": "bearer " + sim.token})[0] == 200
    # a certificate signed by another CA is refused during the handshake
    context = ssl.create_default_context(cafile=sim.ca_cert)
    context.load_cert_chain(sim_server_cert(), sim_server_key())
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /api HTTP/1.1\r\nHost: x\r\n\r\n")
                assert tls.recv(100)


def sim_server_cert():
    from tests.k8s_support import certificates  # pylint: disable=import-outside-toplevel
    return certificates()["server.crt"]


def sim_server_key():
    from tests.k8s_support import certificates  # pylint: disable=import-outside-toplevel
    return certificates()["server.key"]


def test_rbac_denial_is_the_api_servers_403(tmp_path):
    s = start_sim(tmp_path, seeds=[SEED], forbid=["sre:delete:pods:prod", "sre:patch:deployments/scale", "sre-cert:list:nodes"])
    try:
        s.wait_available("api", 2)
        pod = pods_of(s)[0]["metadata"]["name"]
        body = s.call(CORE + "/pods/" + pod, method="DELETE", expect=403)
        real = fixture("status-403.json")
        check(body, "meta.v1.Status")
        same_shape(real, body)
        assert re.match(message_pattern(real["message"], real["details"]["name"]), body["message"]), body["message"]
        scale = s.call(API + "/deployments/api/scale", {"spec": {"replicas": 3}}, "PATCH", "application/merge-patch+json", expect=403)
        assert scale["message"] == ('deployments.apps "api" is forbidden: User "sre" cannot patch resource "deployments/scale" '
                                    'in API group "apps" in the namespace "prod"')
        nodes = s.call("/api/v1/nodes", token=False, cert=True, expect=403)
        assert nodes["message"] == 'nodes is forbidden: User "sre-cert" cannot list resource "nodes" in API group "" at the cluster scope'
        assert s.call("/api/v1/nodes")["items"]  # the token user may
    finally:
        s.stop()


# -- every endpoint validates -----------------------------------------------------------------------
def test_every_answer_validates_against_typed_models_and_openapi(sim):
    resources = {"limits": {"memory": "256Mi", "cpu": "500m"}, "requests": {"memory": "128Mi", "cpu": "100m"}}
    sim.seed(name="web", image="orchestrator/web:2.0", replicas=2,
             containers=[{"name": "web", "image": "orchestrator/web:2.0", "resources": resources},
                         {"name": "envoy", "image": "envoyproxy/envoy:v1.29.1"}],
             init_containers=[{"name": "migrate", "image": "orchestrator/web:2.0"}], hpa={"min": 2, "max": 4},
             selector={"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["batch"]}]})
    sim.seed(name="db", kind="StatefulSet", image="postgres:16.2", replicas=2)
    sim.seed(name="debug", kind="Pod", image="busybox:1.36")
    sim.seed(name="broken", image="orchestrator/api:broken")
    sim.seed(name="pull", image="orchestrator/api:missing")
    sim.wait_available("web", 2)
    sim.wait_available("db", 2, kind="statefulsets")
    sim.fault(target="api", fault="oom")
    time.sleep(1.2)
    answers = {
        "/version": "version.Info", "/api": "meta.v1.APIVersions", "/apis": "meta.v1.APIGroupList",
        "/api/v1": "meta.v1.APIResourceList", "/apis/apps/v1": "meta.v1.APIResourceList",
        "/apis/autoscaling/v2": "meta.v1.APIResourceList", "/apis/metrics.k8s.io/v1beta1": "meta.v1.APIResourceList",
        "/api/v1/namespaces": "core.v1.NamespaceList", "/api/v1/namespaces/prod": "core.v1.Namespace",
        "/api/v1/nodes": "core.v1.NodeList", "/api/v1/nodes/sim-node-1": "core.v1.Node",
        CORE + "/pods": "core.v1.PodList", "/api/v1/pods": "core.v1.PodList", CORE + "/pods/debug": "core.v1.Pod",
        CORE + "/events": "core.v1.EventList", "/api/v1/events": "core.v1.EventList",
        API + "/deployments": "apps.v1.DeploymentList", API + "/deployments/web": "apps.v1.Deployment",
        API + "/deployments/web/scale": "autoscaling.v1.Scale", API + "/replicasets": "apps.v1.ReplicaSetList",
        API + "/statefulsets": "apps.v1.StatefulSetList", API + "/statefulsets/db": "apps.v1.StatefulSet",
        API + "/statefulsets/db/scale": "autoscaling.v1.Scale", API + "/controllerrevisions": "apps.v1.ControllerRevisionList",
        "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers": "autoscaling.v2.HorizontalPodAutoscalerList",
        "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/web": "autoscaling.v2.HorizontalPodAutoscaler",
        CORE + "/pods/nope": "meta.v1.Status", API + "/deployments/nope": "meta.v1.Status", "/api/v1/nodes/nope": "meta.v1.Status",
    }
    for path, definition in answers.items():
        status, _h, body = sim.request(path)
        assert status == (404 if "nope" in path else 200), (path, body)
        try:
            check(body, definition)
        except Exception as exc:  # say which answer
            raise AssertionError("%s: %s" % (path, exc)) from exc
    for item in sim.call(CORE + "/pods")["items"] + sim.call(API + "/replicasets")["items"]:
        check(item, "core.v1.Pod" if item["kind"] == "Pod" else "apps.v1.ReplicaSet")
    for path in ("/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods", "/apis/metrics.k8s.io/v1beta1/nodes"):
        jsonschema.validate(sim.call(path), METRICS_SCHEMA)
    reasons = {e["reason"] for e in sim.call(CORE + "/events")["items"]}
    assert {"Scheduled", "Started", "ScalingReplicaSet", "SuccessfulCreate", "BackOff", "Failed"} <= reasons, reasons
    assert any(e["reason"] == "OOMKilling" and e["type"] == "Warning" for e in sim.call("/api/v1/events")["items"])


def test_pods_report_every_container_as_the_kubelet_does(sim):
    sim.seed(name="web", image="x", containers=[{"name": "web", "image": "orchestrator/web:2.0"},
                                                {"name": "envoy", "image": "envoyproxy/envoy:v1.29.1"}],
             init_containers=[{"name": "migrate", "image": "orchestrator/web:2.0"}])
    sim.seed(name="pull", image="orchestrator/api:9.9.9-missing")
    sim.wait_available("web", 1)
    pod = pods_of(sim, "app=web")[0]
    check(pod, "core.v1.Pod")
    same_shape(fixture("pod-multi-container.json"), pod)
    assert [c["name"] for c in pod["status"]["containerStatuses"]] == ["web", "envoy"]
    assert all(c["imageID"] and c["containerID"].startswith("containerd://") for c in pod["status"]["containerStatuses"])
    assert pod["status"]["initContainerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert pod["spec"]["nodeName"] in ("sim-node-1", "sim-node-2")
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True", "ContainersReady": "True", "PodScheduled": "True"}
    pulling = wait(lambda: [p for p in pods_of(sim, "app=pull") if "ImagePullBackOff" in json.dumps(p["status"])], what="ImagePullBackOff")[0]
    check(pulling, "core.v1.Pod")
    real = fixture("pod-imagepullbackoff.json")
    same_shape(real, pulling)
    assert pulling["status"]["phase"] == "Pending" and pulling["status"]["containerStatuses"][0]["imageID"] == ""
    assert "containerID" not in pulling["status"]["containerStatuses"][0]
    ready = {c["type"]: c for c in pulling["status"]["conditions"]}["Ready"]
    assert ready["status"] == "False" and ready["reason"] == "ContainersNotReady"
    # a sidecar failing keeps the pod unready although the app container is ready
    sim.fault(target="web", fault="crash", container="envoy")
    pod = wait(lambda: [p for p in pods_of(sim, "app=web") if p["status"]["containerStatuses"][1]["state"].get("waiting")], what="crash")[0]
    statuses = {c["name"]: c for c in pod["status"]["containerStatuses"]}
    assert statuses["web"]["ready"] and not statuses["envoy"]["ready"]
    assert {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "False"


def test_nodes_not_ready_and_unschedulable(sim):
    node_name = pods_of(sim)[0]["spec"]["nodeName"]
    sim.fault(target="api", fault="node_not_ready")
    node = sim.call("/api/v1/nodes/" + node_name)
    check(node, "core.v1.Node")
    same_shape(fixture("node-notready.json"), node)
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "Unknown"
    on_node = wait(lambda: [p for p in pods_of(sim) if p["spec"]["nodeName"] == node_name and
                            {c["type"]: c["status"] for c in p["status"]["conditions"]}["Ready"] == "False"], what="pods unready")
    assert on_node[0]["status"]["containerStatuses"][0]["ready"]  # the kubelet's last word, stale: the Pod Ready condition is what counts
    events = sim.call(CORE + "/events?fieldSelector=involvedObject.name%3D" + on_node[0]["metadata"]["name"])["items"]
    assert any(e["reason"] == "NodeNotReady" and e["type"] == "Warning" for e in events)
    sim.fault(target="api", fault="clear")
    sim.seed(name="big", image="orchestrator/api:1.4.2")
    sim.fault(target="big", fault="unschedulable")
    pending = wait(lambda: [p for p in pods_of(sim, "app=big") if p["status"]["phase"] == "Pending"
                            and any(c["reason"] == "Unschedulable" for c in p["status"].get("conditions", []) if c.get("reason"))],
                   what="Unschedulable")[0]
    check(pending, "core.v1.Pod")
    assert "nodeName" not in pending["spec"]
    events = sim.call(CORE + "/events?fieldSelector=involvedObject.kind%3DPod,reason%3DFailedScheduling")["items"]
    assert events and events[0]["type"] == "Warning" and events[0]["message"].startswith("0/2 nodes are available")


# -- writes -----------------------------------------------------------------------------------------
def test_409_on_a_stale_resource_version_and_already_exists(sim):
    dep = sim.call(API + "/deployments/api")
    dep["spec"]["replicas"] = 3
    updated = sim.call(API + "/deployments/api", dep, "PUT")
    check(updated, "apps.v1.Deployment")
    assert updated["metadata"]["generation"] == dep["metadata"]["generation"] + 1
    body = sim.call(API + "/deployments/api", dep, "PUT", expect=409)  # dep still carries the old resourceVersion
    real = fixture("status-409.json")
    check(body, "meta.v1.Status")
    same_shape(real, body)
    assert body["message"] == real["message"] and body["details"] == real["details"]
    stale = {"metadata": {"resourceVersion": dep["metadata"]["resourceVersion"]}, "spec": {"replicas": 1}}
    assert sim.call(API + "/deployments/api", stale, "PATCH", "application/merge-patch+json", expect=409)["reason"] == "Conflict"
    scale = sim.call(API + "/deployments/api/scale")
    scale["metadata"]["resourceVersion"] = "1"
    assert sim.call(API + "/deployments/api/scale", scale, "PUT", expect=409)["reason"] == "Conflict"
    new = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"}, "spec": dep["spec"]}
    assert sim.call(API + "/deployments", new, expect=409)["reason"] == "AlreadyExists"


def test_415_and_422(sim):
    path = API + "/deployments/api"
    for ctype in ("application/apply-patch+yaml", "text/plain", "application/json"):
        body = sim.call(path, {"spec": {"replicas": 1}}, "PATCH", ctype, expect=415)
        assert check(body, "meta.v1.Status").reason == "UnsupportedMediaType"
    bad = sim.call(path, {"spec": {"replicas": -1}}, "PATCH", "application/merge-patch+json", expect=422)
    check(bad, "meta.v1.Status")
    assert bad["message"] == 'Deployment.apps "api" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0'
    assert bad["details"]["causes"] == [{"reason": "FieldValueInvalid", "message": "Invalid value: -1: must be greater than or equal to 0",
                                         "field": "spec.replicas"}]
    image = sim.call(path, [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": ""}], "PATCH",
                     "application/json-patch+json", expect=422)
    assert "spec.template.spec.containers[0].image: Required value" in image["message"]
    none = sim.call(path, [{"op": "replace", "path": "/spec/template/spec/containers", "value": []}], "PATCH",
                    "application/json-patch+json", expect=422)
    assert "spec.template.spec.containers: Required value" in none["message"]
    failed_test = sim.call(path, [{"op": "test", "path": "/spec/replicas", "value": 7}], "PATCH", "application/json-patch+json", expect=422)
    assert failed_test["code"] == 422
    assert sim.call(path + "/scale", {"spec": {"replicas": -2}}, "PATCH", "application/merge-patch+json", expect=422)["message"].startswith(
        'Scale.autoscaling "api" is invalid: spec.replicas')
    assert sim.call(API + "/deployments/api", {"spec": {"selector": {"matchLabels": {"app": "other"}}}}, "PATCH",
                    "application/merge-patch+json", expect=422)["reason"] == "Invalid"
    assert sim.call(API + "/deployments/api")["spec"]["replicas"] == 2  # nothing stored


def test_json_patch_and_strategic_merge_directives(sim):
    path = API + "/deployments/api"
    ops = [{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "envoy", "image": "envoyproxy/envoy:v1.29.1"}},
           {"op": "add", "path": "/spec/template/metadata/annotations", "value": {"a": "1"}},
           {"op": "copy", "from": "/spec/template/metadata/annotations/a", "path": "/spec/template/metadata/annotations/b"},
           {"op": "move", "from": "/spec/template/metadata/annotations/a", "path": "/spec/template/metadata/annotations/c~1d"},
           {"op": "test", "path": "/spec/replicas", "value": 2},
           {"op": "replace", "path": "/spec/replicas", "value": 3},
           {"op": "remove", "path": "/spec/template/metadata/annotations/b"}]
    dep = sim.call(path, ops, "PATCH", "application/json-patch+json")
    check(dep, "apps.v1.Deployment")
    assert [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["api", "envoy"]
    assert dep["spec"]["template"]["metadata"]["annotations"] == {"c/d": "1"} and dep["spec"]["replicas"] == 3
    smp = "application/strategic-merge-patch+json"
    dep = sim.call(path, {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "envoy"}, {"name": "api"}],
        "containers": [{"name": "api", "env": [{"name": "MODE", "value": "safe"}]}, {"name": "envoy", "$patch": "delete"}]}}}}, "PATCH", smp)
    check(dep, "apps.v1.Deployment")
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["api"] and containers[0]["env"] == [{"name": "MODE", "value": "safe"}]
    assert "$setElementOrder" not in json.dumps(dep) and "$patch" not in json.dumps(dep)
    dep = sim.call(path, {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}}, "PATCH", smp)
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    dep = sim.call(path, {"spec": {"template": {"metadata": {"labels": {"$patch": "replace", "app": "api"}}}}}, "PATCH", smp)
    assert dep["spec"]["template"]["metadata"]["labels"] == {"app": "api"}
    dep = sim.call(path, {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "api", "image": "orchestrator/api:1.4.3"}]}}}}, "PATCH", smp)
    assert [c["image"] for c in dep["spec"]["template"]["spec"]["containers"]] == ["orchestrator/api:1.4.3"]
    check(dep, "apps.v1.Deployment")
    dry = sim.call(path + "?dryRun=All", {"spec": {"replicas": 9}}, "PATCH", "application/merge-patch+json")
    assert dry["spec"]["replicas"] == 9 and sim.call(path)["spec"]["replicas"] == 3


def test_graceful_pod_delete(tmp_path):
    s = start_sim(tmp_path, seeds=[SEED], extra_args=["--grace-scale", "0.05"])
    try:
        s.wait_available("api", 2)
        name = pods_of(s)[0]["metadata"]["name"]
        pod = s.call(CORE + "/pods/" + name + "?gracePeriodSeconds=20", method="DELETE")
        check(pod, "core.v1.Pod")
        assert pod["metadata"]["deletionTimestamp"] and pod["metadata"]["deletionGracePeriodSeconds"] == 20
        again = s.call(CORE + "/pods/" + name, {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 20}, "DELETE")
        assert again["metadata"]["deletionTimestamp"] == pod["metadata"]["deletionTimestamp"]
        wait(lambda: len([p for p in pods_of(s) if "deletionTimestamp" not in p["metadata"]]) == 2, 3, "a replacement at once")
        wait(lambda: s.request(CORE + "/pods/" + name)[0] == 404, 5, "pod gone after grace * grace-scale")
        victim = pods_of(s)[0]["metadata"]["name"]
        s.call(CORE + "/pods/" + victim + "?gracePeriodSeconds=0", method="DELETE")
        assert s.request(CORE + "/pods/" + victim)[0] == 404
    finally:
        s.stop()


# -- the deployment controller ----------------------------------------------------------------------
def conditions(dep):
    return {c["type"]: c for c in dep["status"].get("conditions", [])}


def rs_by_revision(sim, name="api"):
    items = sim.call(API + "/replicasets?labelSelector=app%3D" + name)["items"]
    return {int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]): rs for rs in items}


def test_rollout_waits_for_every_container_and_rollback_keeps_history(sim):
    path = API + "/deployments/api"
    sim.call(path, {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "orchestrator/api:1.4.2"},
                                                                  {"name": "envoy", "image": "envoyproxy/envoy:broken"}]}}}},
             "PATCH", "application/strategic-merge-patch+json")
    time.sleep(1.0)
    dep = sim.call(path)
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert dep["status"].get("updatedReplicas") == 1 and dep["status"]["availableReplicas"] == 2  # maxSurge 1, maxUnavailable 0
    assert conditions(dep)["Progressing"]["reason"] == "ReplicaSetUpdated"
    revs = rs_by_revision(sim)
    assert revs[2]["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "2"
    assert revs[2]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "3"
    old_template = dict(revs[1]["spec"]["template"])
    old_template["metadata"] = {"labels": {"app": "api"}}
    sim.call(path, [{"op": "replace", "path": "/spec/template", "value": old_template}], "PATCH", "application/json-patch+json")
    dep = sim.wait_available("api", 2)
    check(dep, "apps.v1.Deployment")
    revs = rs_by_revision(sim)
    assert sorted(revs) == [2, 3] and revs[3]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert revs[2]["spec"]["replicas"] == 0 and conditions(dep)["Progressing"]["reason"] == "NewReplicaSetAvailable"
    assert all(c["lastUpdateTime"] and c["lastTransitionTime"] for c in dep["status"]["conditions"])


def test_paused_deployment_rolls_nothing_out_and_deadline_exceeded(sim):
    path = API + "/deployments/api"
    sim.call(path, {"spec": {"paused": True}}, "PATCH", "application/merge-patch+json")
    sim.call(path, {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "orchestrator/api:1.5.0"}]}}}},
             "PATCH", "application/strategic-merge-patch+json")
    time.sleep(0.5)
    dep = sim.call(path)
    assert conditions(dep)["Progressing"]["reason"] == "DeploymentPaused" and conditions(dep)["Progressing"]["status"] == "Unknown"
    assert sorted(rs_by_revision(sim)) == [1] and dep["status"]["observedGeneration"] == dep["metadata"]["generation"]
    sim.call(path, {"spec": {"replicas": 3}}, "PATCH", "application/merge-patch+json")  # a paused Deployment still scales
    dep = sim.wait_for(lambda d: d["status"].get("readyReplicas") == 3, path, 10, "paused scale")
    assert "updatedReplicas" not in dep["status"]  # its pods are of the old template
    sim.call(path, {"spec": {"paused": None, "progressDeadlineSeconds": 1, "template": {"spec": {"containers": [
        {"name": "api", "image": "orchestrator/api:broken"}]}}}}, "PATCH", "application/strategic-merge-patch+json")
    dep = sim.wait_for(lambda d: conditions(d)["Progressing"]["reason"] == "ProgressDeadlineExceeded", path, 10, "deadline")
    assert conditions(dep)["Progressing"]["status"] == "False" and sorted(rs_by_revision(sim)) == [1, 2]
    check(dep, "apps.v1.Deployment")


# -- logs -------------------------------------------------------------------------------------------
def test_pod_logs_are_text_with_the_api_servers_400s(sim):
    sim.seed(name="web", image="x", containers=[{"name": "web", "image": "orchestrator/web:2.0"},
                                                {"name": "envoy", "image": "envoyproxy/envoy:v1.29.1"}],
             init_containers=[{"name": "migrate", "image": "orchestrator/web:2.0"}])
    sim.seed(name="pull", image="orchestrator/api:missing")
    sim.wait_available("web", 1)
    web = pods_of(sim, "app=web")[0]["metadata"]["name"]
    status, headers, body = sim.request(CORE + "/pods/%s/log" % web)
    real = fixture("log-400-multi-container.json")
    assert status == 400 and body["message"] == real["message"].replace("api-7d9c6b5f4d-k4j2m", web).replace("[api envoy]", "[web envoy]")
    same_shape(real, body)
    status, headers, text = sim.request(CORE + "/pods/%s/log?container=envoy&tailLines=1" % web)
    assert status == 200 and headers["Content-Type"].startswith("text/plain") and text.count("\n") == 1
    body = sim.call(CORE + "/pods/%s/log?container=web&previous=true" % web, expect=400)
    assert re.match(message_pattern(fixture("log-400-previous.json")["message"], "api-7d9c6b5f4d-k4j2m", "api"), body["message"])
    assert sim.call(CORE + "/pods/%s/log?container=nope" % web, expect=400)["message"] == "container nope is not valid for pod " + web
    pull = wait(lambda: [p for p in pods_of(sim, "app=pull") if p["status"].get("containerStatuses")], what="pull pod")[0]["metadata"]["name"]

    def pull_refused():
        status, _headers, answer = sim.request(CORE + "/pods/%s/log" % pull)
        return status == 400 and "pull image" in answer["message"] and answer

    body = wait(pull_refused, what="image pull 400")
    assert re.match(message_pattern(fixture("log-400-waiting.json")["message"], "api-7d9c6b5f4d-x2x8q", '"api"'), body["message"]), body
    api = pods_of(sim)[0]["metadata"]["name"]
    sim.fault(target="api", fault="crash")
    wait(lambda: "CrashLoopBackOff" in json.dumps(sim.call(CORE + "/pods/" + api)["status"]), what="crash loop")
    previous = sim.call(CORE + "/pods/%s/log?previous=true" % api)
    assert "ERROR" in previous and isinstance(previous, str)


# -- faults -----------------------------------------------------------------------------------------
def test_oom_below_sticks_until_the_memory_limit_is_raised(sim):
    path = API + "/deployments/api"
    sim.call(path, {"spec": {"template": {"spec": {"containers": [{"name": "api", "resources": {"limits": {"memory": "256Mi"}}}]}}}},
             "PATCH", "application/strategic-merge-patch+json")
    sim.wait_available("api", 2)
    sim.fault(target="api", fault="oom", oom_below="512Mi")
    oom = wait(lambda: [p for p in pods_of(sim) if "OOMKilled" in json.dumps(p["status"])], what="OOMKilled")
    assert oom[0]["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 137
    sim.call(CORE + "/pods/" + oom[0]["metadata"]["name"] + "?gracePeriodSeconds=0", method="DELETE")
    time.sleep(1.0)
    assert all("OOMKilled" in json.dumps(p["status"]) for p in pods_of(sim) if "deletionTimestamp" not in p["metadata"])
    sim.call(path, {"spec": {"template": {"spec": {"containers": [{"name": "api", "resources": {"limits": {"memory": "768Mi"}}}]}}}},
             "PATCH", "application/strategic-merge-patch+json")
    dep = sim.wait_available("api", 2, timeout=20)
    assert conditions(dep)["Available"]["status"] == "True"
    sim.fault(target="api", fault="config_error")
    pod = wait(lambda: [p for p in pods_of(sim) if "CreateContainerConfigError" in json.dumps(p["status"])], what="config error")[0]
    check(pod, "core.v1.Pod")


def test_injected_errors_and_metrics(sim):
    sim.errors(path_regex="/deployments/api$", status=429, count=2, retry_after=1)
    for _attempt in range(2):
        status, headers, body = sim.request(API + "/deployments/api")
        assert status == 429 and headers["Retry-After"] == "1" and body["reason"] == "TooManyRequests"
    assert sim.request(API + "/deployments/api")[0] == 200
    sim.errors(path_regex="/pods", status=503, count=1)
    assert sim.request(CORE + "/pods")[0] == 503 and sim.request(CORE + "/pods")[0] == 200
    sim.metrics(pod_prefix="api-", cpu="250m", memory="300Mi")
    usage = sim.call("/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods")["items"]
    assert usage and all(c["usage"] == {"cpu": "250m", "memory": "300Mi"} for p in usage for c in p["containers"])


# -- watch ------------------------------------------------------------------------------------------
def watch_events(sim, query, until, timeout=10):
    """Read a watch stream (raw TLS socket, chunked) until until(events) or its end."""
    context = ssl.create_default_context(cafile=sim.ca_cert)
    events, buf = [], b""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(("GET %s HTTP/1.1\r\nHost: sim\r\nAuthorization: Bearer %s\r\n\r\n" % (query, sim.token)).encode())
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not until(events):
                data = tls.recv(65536)
                if not data:
                    break
                buf += data
                events = [json.loads(line) for line in re.findall(rb"^\{.*\}$", buf.split(b"\r\n\r\n", 1)[-1], re.M)]
    return events


def test_watch_resumes_from_a_resource_version(sim):
    start = sim.call(CORE + "/pods")["metadata"]["resourceVersion"]
    name = pods_of(sim)[0]["metadata"]["name"]
    threading.Timer(0.3, lambda: sim.call(CORE + "/pods/" + name + "?gracePeriodSeconds=0", method="DELETE")).start()
    events = watch_events(sim, CORE + "/pods?watch=true&resourceVersion=%s&labelSelector=app%%3Dapi" % start,
                          lambda evs: any(e["type"] == "DELETED" for e in evs))
    assert events and all(int(e["object"]["metadata"]["resourceVersion"]) > int(start) for e in events)
    assert {e["type"] for e in events} <= {"ADDED", "MODIFIED", "DELETED"} and any(e["type"] == "DELETED" for e in events)
    for event in events:
        check(event["object"], "core.v1.Pod")
    first = watch_events(sim, CORE + "/pods?watch=1&labelSelector=app%3Dapi", lambda evs: len(evs) >= 2)
    assert [e["type"] for e in first[:2]] == ["ADDED", "ADDED"]
    marks = watch_events(sim, API + "/deployments?watch=true&allowWatchBookmarks=true&resourceVersion=%s" %
                         sim.call(API + "/deployments")["metadata"]["resourceVersion"], lambda evs: any(e["type"] == "BOOKMARK" for e in evs))
    assert any(e["type"] == "BOOKMARK" and e["object"]["metadata"]["resourceVersion"] for e in marks)
    ended = time.monotonic()
    watch_events(sim, CORE + "/pods?watch=true&timeoutSeconds=1&resourceVersion=%s" % sim.call(CORE + "/pods")["metadata"]["resourceVersion"],
                 lambda evs: False, timeout=8)
    assert time.monotonic() - ended < 5  # the server closed the stream after timeoutSeconds


def test_watch_from_a_too_old_version_is_410_gone(sim):
    for n in range(260):  # push the window (1000 changes) past resourceVersion 1
        sim.call(API + "/deployments/api", {"metadata": {"annotations": {"n": str(n)}}}, "PATCH", "application/merge-patch+json")
        sim.call(API + "/deployments/api", {"metadata": {"annotations": {"m": str(n)}}}, "PATCH", "application/merge-patch+json")
        sim.call(API + "/deployments/api", {"metadata": {"annotations": {"o": str(n)}}}, "PATCH", "application/merge-patch+json")
        sim.call(API + "/deployments/api", {"metadata": {"annotations": {"p": str(n)}}}, "PATCH", "application/merge-patch+json")
    events = watch_events(sim, CORE + "/pods?watch=true&resourceVersion=1", bool)
    real = fixture("watch-410.json")
    assert events[0]["type"] == "ERROR"
    same_shape(real, events[0])
    check(events[0]["object"], "meta.v1.Status")
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert re.match(r"^too old resource version: 1 \(\d+\)$", events[0]["object"]["message"])


# -- StatefulSets and HPAs --------------------------------------------------------------------------
def test_statefulset_ordered_pods_revisions_and_hpa(sim):
    sim.seed(name="db", kind="StatefulSet", image="postgres:16.2", replicas=3, hpa={"min": 2, "max": 4})
    sts = sim.wait_available("db", 3, kind="statefulsets")
    check(sts, "apps.v1.StatefulSet")
    assert sorted(p["metadata"]["name"] for p in pods_of(sim, "app=db")) == ["db-0", "db-1", "db-2"]
    assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]
    sim.call(API + "/statefulsets/db", {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "postgres:16.3"}]}}}},
             "PATCH", "application/strategic-merge-patch+json")
    first = sts["status"]["updateRevision"]
    sts = sim.wait_for(lambda s: s["status"].get("updatedReplicas") == 3 and s["status"].get("readyReplicas") == 3
                       and s["status"]["currentRevision"] == s["status"]["updateRevision"] != first, API + "/statefulsets/db", 20, "sts update")
    revisions = sim.call(API + "/controllerrevisions?labelSelector=app%3Ddb")["items"]
    assert sorted(r["revision"] for r in revisions) == [1, 2]
    check(revisions[0], "apps.v1.ControllerRevision")
    assert all(p["spec"]["containers"][0]["image"] == "postgres:16.3" for p in pods_of(sim, "app=db"))
    hpa_path = "/apis/autoscaling/v2/namespaces/prod/horizontalpodautoscalers/db"
    sim.call(API + "/statefulsets/db/scale", {"spec": {"replicas": 1}}, "PATCH", "application/merge-patch+json")
    sim.wait_for(lambda s: s["spec"]["replicas"] == 2, API + "/statefulsets/db", 5, "the HPA undoing a scale below min")
    hpa = sim.call(hpa_path)
    check(hpa, "autoscaling.v2.HorizontalPodAutoscaler")
    assert hpa["status"]["desiredReplicas"] == 2
    sim.call(hpa_path, {"spec": {"minReplicas": 3}}, "PATCH", "application/merge-patch+json")
    sim.wait_for(lambda s: s["spec"]["replicas"] == 3, API + "/statefulsets/db", 5, "the HPA raising to its new min")
    v1 = sim.call("/apis/autoscaling/v1/namespaces/prod/horizontalpodautoscalers/db")
    assert v1["spec"]["minReplicas"] == 3 and v1["spec"]["targetCPUUtilizationPercentage"] == 80


# -- kubectl ----------------------------------------------------------------------------------------
def test_pinned_kubectl_runs_its_verbs_against_the_simulation(sim):
    assert os.access(KUBECTL, os.X_OK), "the pinned kubectl is missing at %s: run scripts/install-kubectl.sh" % KUBECTL
    version = kubectl(sim, "version", "--short").stdout
    assert "Client Version: v1.20" in version and "Server Version: v1.29" in version
    pods = json.loads(kubectl(sim, "get", "pods", "-l", "app=api", "-o", "json").stdout)["items"]
    assert len(pods) == 2
    name = pods[0]["metadata"]["name"]
    assert "Containers:" in kubectl(sim, "describe", "pod", name).stdout
    assert "NewReplicaSetAvailable" in kubectl(sim, "describe", "deployment", "api").stdout
    assert "Ready" in kubectl(sim, "describe", "node", "sim-node-1").stdout
    assert "INFO" in kubectl(sim, "logs", name).stdout
    kubectl(sim, "scale", "deployment/api", "--replicas=3")
    assert "successfully rolled out" in kubectl(sim, "rollout", "status", "deployment/api", "--timeout=30s").stdout
    kubectl(sim, "set", "image", "deployment/api", "api=orchestrator/api:1.5.0")
    kubectl(sim, "rollout", "status", "deployment/api", "--timeout=30s")
    kubectl(sim, "rollout", "restart", "deployment/api")
    kubectl(sim, "rollout", "status", "deployment/api", "--timeout=30s")
    history = kubectl(sim, "rollout", "history", "deployment/api").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2", "3"]
    kubectl(sim, "rollout", "undo", "deployment/api", "--to-revision=1")
    kubectl(sim, "rollout", "status", "deployment/api", "--timeout=30s")
    dep = json.loads(kubectl(sim, "get", "deployment", "api", "-o", "json").stdout)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "orchestrator/api:1.4.2"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    assert "orchestrator/api:1.4.2" in kubectl(sim, "rollout", "history", "deployment/api", "--revision=4").stdout
    victim = json.loads(kubectl(sim, "get", "pods", "-l", "app=api", "-o", "json").stdout)["items"][0]["metadata"]["name"]
    kubectl(sim, "delete", "pod", victim, "--wait=true", timeout=60)
    assert sim.request(CORE + "/pods/" + victim)[0] == 404
    forbidden = kubectl(sim, "get", "nodes", check=False, kubeconfig=sim.kubeconfig_cert)
    assert forbidden.returncode == 0  # the certificate user (no --forbid here) lists nodes
    sim.seed(name="db", kind="StatefulSet", image="postgres:16.2", replicas=1, hpa={"min": 1, "max": 3})
    sim.wait_available("db", 1, kind="statefulsets")
    assert "db" in kubectl(sim, "get", "statefulsets").stdout and "db" in kubectl(sim, "get", "hpa").stdout
    assert "Min replicas" in kubectl(sim, "describe", "hpa", "db").stdout
    assert "statefulset.apps/db" in kubectl(sim, "rollout", "history", "statefulset/db").stdout


def test_kubectl_errors_come_from_the_api_answers(tmp_path):
    s = start_sim(tmp_path, seeds=[SEED], forbid=["sre:delete:pods"])
    try:
        s.wait_available("api", 2)
        name = s.call(CORE + "/pods")["items"][0]["metadata"]["name"]
        res = kubectl(s, "delete", "pod", name, check=False)
        assert res.returncode != 0 and 'cannot delete resource "pods" in API group "" in the namespace "prod"' in res.stderr
        res = kubectl(s, "get", "deployment", "nope", check=False)
        assert res.returncode != 0 and 'deployments.apps "nope" not found' in res.stderr
    finally:
        s.stop()


def test_missing_kubectl_is_a_failure_not_a_skip(tmp_path, monkeypatch):
    import tests.k8s_support as support  # pylint: disable=import-outside-toplevel
    monkeypatch.setattr(support, "KUBECTL", str(tmp_path / "no-kubectl"))
    with pytest.raises(AssertionError, match="run scripts/install-kubectl.sh"):
        support.kubectl(type("S", (), {"kubeconfig": "x", "tmp": str(tmp_path)})(), "version")


def test_bad_input_never_kills_the_controller(sim):
    for body, ctype in ((b"{not json", "application/merge-patch+json"), (b"[1, 2]", "application/merge-patch+json"),
                        (b'{"spec": {"replicas": "three"}}', "application/merge-patch+json"),
                        (b'{"spec": {"template": {"spec": {"containers": [{"name": "api", "resources": {"limits": {"memory": "lots"}}}]}}}}',
                         "application/strategic-merge-patch+json"),
                        (b'[{"op": "remove", "path": "/nope/x"}]', "application/json-patch+json")):
        status, _h, answer = sim.request(API + "/deployments/api", body, "PATCH", ctype)
        assert 400 <= status < 500, (body, status, answer)
        check(answer, "meta.v1.Status")
    assert sim.request(CORE + "/pods?labelSelector=app+in+(api", method="GET")[0] == 400
    assert sim.request("/_sim/fault", {"target": "api", "fault": "meteor", "namespace": "prod"}, token=False)[0] == 400
    assert len(sim.call(CORE + "/pods?labelSelector=app+in+(api,web),!canary")["items"]) == 2
    sim.call(API + "/deployments/api/scale", {"spec": {"replicas": 3}}, "PATCH", "application/merge-patch+json")
    sim.wait_available("api", 3)  # the controller still runs
