"""The Kubernetes modules end to end against the simulated API server (tests.k8s_support: TLS, tokens),
cross-checked with the official typed client and the pinned kubectl."""
import json
import time

import pytest

from ansible_collections.incident.response.plugins.module_utils.k8s_connect import connect
from tests.ansible import run_module
from tests.k8s_support import kubectl, start_sim

from kubernetes import client as k8s_client

DEP = "/apis/apps/v1/namespaces/prod/deployments/api"
GOOD = "orchestrator/api:1.4.2"


@pytest.fixture
def k8s(tmp_path):
    sim = start_sim(tmp_path, seeds=["prod/api=%s*2" % GOOD])
    sim.wait_available("api", 2)
    sim.args = dict(kubeconfig=sim.kubeconfig, state_dir=str(tmp_path / "state"))
    yield sim
    sim.stop()


def info(sim, names=("api",), **kw):
    res = run_module("k8s_workload_info", dict(kubeconfig=sim.kubeconfig, names=list(names), **kw))
    assert not res.get("failed"), res
    return res


def pod_names(sim, selector="app%3Dapi"):
    return sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/prod/pods?labelSelector=" + selector)["items"]
                  if not p["metadata"].get("deletionTimestamp"))


def wait_until(fn, timeout=15):
    deadline = time.monotonic() + timeout
    while not fn():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_info_healthy_then_crashloop_and_oom_with_logs_per_container(k8s):
    res = info(k8s)
    api = res["workloads"]["api"]
    assert res["reachable"] and api["state"] == "healthy" and res["findings"] == [] and api["kind"] == "deployment"
    assert api["deployment"]["images"] == [GOOD] and len(api["pods"]) == 2 and api["last_good_revision"] == 1
    assert all(p["ready"] and p["node_ready"] for p in api["pods"])
    k8s.fault(target="api", fault="oom")
    wait_until(lambda: all(p["reason"] == "CrashLoopBackOff" for p in info(k8s)["workloads"]["api"]["pods"]))
    res = info(k8s)
    api = res["workloads"]["api"]
    assert api["state"] == "down" and all(p["oom_killed"] and p["last_exit_code"] == 137 for p in api["pods"])
    assert all(p["containers"][0]["last_reason"] == "OOMKilled" for p in api["pods"])
    assert all("api" in p["previous_logs"] for p in api["pods"]), api["pods"]
    checks = {f["check"] for f in res["findings"]}
    assert {"k8s_available", "k8s_oom", "k8s_crashloop"} <= checks
    assert any(e["type"] == "Warning" for e in api["events"])


def test_image_pull_on_a_sidecar_and_a_log_400_is_a_finding(k8s):
    k8s.seed(name="web", image="nginx:1", containers=[{"name": "web", "image": "nginx:1"}, {"name": "proxy", "image": "envoy:missing"}])
    wait_until(lambda: info(k8s, ["web"])["workloads"]["web"]["pods"])
    wait_until(lambda: any(f["check"] == "k8s_image_pull" for f in info(k8s, ["web"])["findings"]))
    res = info(k8s, ["web"])
    web = res["workloads"]["web"]
    pod = web["pods"][0]
    assert pod["ready"] is False and [c["name"] for c in pod["containers"]] == ["web", "proxy"]
    assert pod["containers"][0]["ready"] is True and pod["containers"][1]["reason"] in ("ImagePullBackOff", "ErrImagePull")
    logs = [f for f in res["findings"] if f["check"] == "k8s_log_unavailable"]
    assert logs and logs[0]["container"] == "proxy" and "waiting to start" in logs[0]["message"], res["findings"]


def test_missing_workload_namespace_and_pod_kinds(k8s):
    res = info(k8s, ["nope"])
    assert res["workloads"]["nope"]["state"] == "missing" and "not found in namespace prod" in res["findings"][0]["message"]
    res = info(k8s, ["api"], namespace="ghost")
    assert "namespace ghost does not exist" in res["findings"][0]["message"]
    k8s.seed(name="debug", kind="Pod", image="busybox:1")
    wait_until(lambda: info(k8s, ["debug"])["workloads"]["debug"]["state"] == "healthy")
    assert info(k8s, ["debug"])["workloads"]["debug"]["kind"] == "pod"


def test_rollback_restores_the_last_good_revision_exactly(k8s):
    before = k8s.call(DEP)["spec"]["template"]
    k8s.call(DEP, {"spec": {"template": {"spec": {"containers": [
        {"name": "api", "image": "orchestrator/api:broken"}, {"name": "sidecar", "image": "envoy:1"}]}}}},
        method="PATCH", content_type="application/strategic-merge-patch+json")
    wait_until(lambda: info(k8s)["workloads"]["api"]["deployment"]["updated"] >= 1)
    stalled = info(k8s)["workloads"]["api"]
    assert stalled["state"] == "degraded" and stalled["deployment"]["images"] == ["orchestrator/api:broken", "envoy:1"]
    assert [h["revision"] for h in stalled["history"]] == [1, 2] and stalled["last_good_revision"] == 1
    rv = k8s.call(DEP)["metadata"]["resourceVersion"]
    check = run_module("k8s_rollback", dict(k8s.args, name="api", to_revision=1), check=True)
    assert check["changed"] and check["to_images"] == [GOOD] and k8s.call(DEP)["metadata"]["resourceVersion"] == rv
    res = run_module("k8s_rollback", dict(k8s.args, name="api", to_revision=stalled["last_good_revision"]))
    assert res["changed"] and res["rollout_complete"] and res["from_revision"] == 2, res
    dep = k8s.call(DEP)
    assert dep["spec"]["template"] == before and dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    typed = k8s_client.AppsV1Api(connect({"kubeconfig": k8s.kubeconfig}, {}).api_client).read_namespaced_deployment("api", "prod")
    assert [(c.name, c.image) for c in typed.spec.template.spec.containers] == [("api", GOOD)]
    hist = kubectl(k8s, "rollout", "history", "deployment/api").stdout
    assert [line.split()[0] for line in hist.splitlines()[2:] if line.strip()] == ["2", "3"], hist
    again = run_module("k8s_rollback", dict(k8s.args, name="api", to_revision=3))
    assert again["changed"] is False and "already matches" in again["msg"]


def test_paused_deployment_refuses_rollback_and_restart(k8s):
    k8s.call(DEP, {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "orchestrator/api:1.5"}]}}}},
             method="PATCH", content_type="application/strategic-merge-patch+json")
    k8s.wait_available("api", 2)
    k8s.call(DEP, {"spec": {"paused": True}}, method="PATCH", content_type="application/merge-patch+json")
    for module in ("k8s_rollback", "k8s_rollout_restart"):
        res = run_module(module, dict(k8s.args, name="api"))
        assert res["failed"] and "is paused; resume it first" in res["msg"], res
    assert info(k8s)["workloads"]["api"]["state"] == "paused"
    assert any(f["check"] == "k8s_paused" for f in info(k8s)["findings"])


def test_pod_delete_only_owned_failing_pods(k8s):
    k8s.seed(name="stray", kind="Pod", image="busybox:1", labels={"app": "api"})
    k8s.fault(target="api", fault="crash")
    wait_until(lambda: all(not p["ready"] for p in info(k8s)["workloads"]["api"]["pods"]))
    before = pod_names(k8s)
    check = run_module("k8s_pod_delete", dict(k8s.args, name="api"), check=True)
    assert check["changed"] and len(check["deleted"]) == 2 and "stray" not in [p["name"] for p in check["deleted"]]
    refused = run_module("k8s_pod_delete", dict(k8s.args, name="api", max_pods=1))
    assert refused["failed"] and "max_pods=1" in refused["msg"] and pod_names(k8s) == before
    k8s.fault(target="api", fault="clear")  # a full bounce (ready pods too): the stray pod still stays
    res = run_module("k8s_pod_delete", dict(k8s.args, name="api", grace_period=1, only_unready=False))
    assert res["changed"] and res["rollout_complete"], res
    after = pod_names(k8s)
    assert "stray" in after and set(after).isdisjoint(p["name"] for p in check["deleted"])


def test_restart_and_rate_limit(k8s):
    before = pod_names(k8s)
    assert run_module("k8s_rollout_restart", dict(k8s.args, name="api"), check=True)["changed"] and pod_names(k8s) == before
    res = run_module("k8s_rollout_restart", dict(k8s.args, name="api", max_actions=1))
    assert res["changed"] and res["rollout_complete"] and res["after"]["revision"] == res["before"]["revision"] + 1, res
    assert set(pod_names(k8s)).isdisjoint(before)
    refused = run_module("k8s_rollout_restart", dict(k8s.args, name="api", max_actions=1))
    assert refused["failed"] and "rate limit" in refused["msg"]


def test_scale_is_hpa_aware(k8s):
    k8s.seed(name="web", image="nginx:1", replicas=2, hpa={"min": 2, "max": 3})
    k8s.wait_available("web", 2)
    assert info(k8s, ["web"])["workloads"]["web"]["hpa"]["min"] == 2
    res = run_module("k8s_scale", dict(k8s.args, name="web", replicas=4))
    assert res["changed"] and res["hpa"]["max"] == 3 and res["hpa_after"] == {"name": "web", "min": 4, "max": 4}, res
    assert res["after"]["available"] == 4
    assert run_module("k8s_scale", dict(k8s.args, name="web", replicas=4))["changed"] is False
    refused = run_module("k8s_scale", dict(k8s.args, name="api", replicas=0))
    assert refused["failed"] and "confirm" in refused["msg"]


def test_set_resources_raises_the_memory_limit_after_oom(k8s):
    k8s.seed(name="worker", image="worker:1", containers=[{"name": "worker", "image": "worker:1",
                                                           "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}}}])
    k8s.wait_available("worker", 1)
    k8s.fault(target="worker", fault="oom", oom_below="400Mi")
    wait_until(lambda: any(f["check"] == "k8s_oom" for f in info(k8s, ["worker"])["findings"]))
    args = dict(k8s.args, name="worker", factor=2.0)
    assert run_module("k8s_set_resources", args)["failed"]  # needs confirm
    refused = run_module("k8s_set_resources", dict(args, confirm=True, max_memory_limit="300Mi"))
    assert refused["failed"] and "max_memory_limit=300Mi" in refused["msg"]
    check = run_module("k8s_set_resources", dict(args, confirm=True), check=True)
    assert check["changed"] and check["after"]["limit"] == "512Mi"
    res = run_module("k8s_set_resources", dict(args, confirm=True))
    assert res["changed"] and res["rollout_complete"] and res["before"] == {"limit": "256Mi", "request": "128Mi"}, res
    spec = k8s.call("/apis/apps/v1/namespaces/prod/deployments/worker")["spec"]["template"]["spec"]["containers"][0]
    assert spec["resources"]["limits"]["memory"] == "512Mi"
    assert info(k8s, ["worker"])["workloads"]["worker"]["state"] == "healthy"


def test_statefulset_info_restart_and_rollback(k8s):
    k8s.seed(name="db", kind="StatefulSet", image="postgres:16", replicas=2)
    k8s.wait_available("db", 2, kind="statefulsets")
    sts = "/apis/apps/v1/namespaces/prod/statefulsets/db"
    k8s.call(sts, {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "postgres:broken"}]}}}},
             method="PATCH", content_type="application/strategic-merge-patch+json")
    wait_until(lambda: info(k8s, ["db"])["workloads"]["db"]["state"] != "healthy")
    db = info(k8s, ["db"])["workloads"]["db"]
    assert db["kind"] == "statefulset" and len(db["history"]) == 2, json.dumps(db)[:2000]
    res = run_module("k8s_rollback", dict(k8s.args, name="db", kind="statefulset"))
    assert res["changed"] and res["rollout_complete"] and res["to_images"] == ["postgres:16"], res
    assert info(k8s, ["db"])["workloads"]["db"]["state"] == "healthy"
