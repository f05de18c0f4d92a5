"""Game days of runbook 001 and 004 on Kubernetes, against lab/k8s_sim.py (a simulation of the API: no cluster
can be had here) reached over TLS through a kubeconfig, the way a user's inventory describes a cluster: each
breaks a workload, runs the scenario playbook as a person or the receiver would, and checks the workload, the
timeline and what the official client and kubectl see afterwards."""
import json
import time

import pytest

from tests.ansible import run_playbook
from tests.k8s_support import kubectl, start_sim


APPS = "/apis/apps/v1/namespaces/shop/deployments"


@pytest.fixture
def sim(tmp_path):
    sim = start_sim(tmp_path)
    yield sim
    sim.stop()


def catalog(sim, *services, **cluster):
    """Extra vars: the services (kubernetes unless said) on cluster `prod` (the sim through its kubeconfig)."""
    entries = [dict(dict(runtime="kubernetes", severity="P1"), **s) for s in services]
    return {"incident_services": entries, "incident_k8s_clusters": {"prod": dict(dict(kubeconfig=sim.kubeconfig), **cluster)}}


def checkout(**k8s):
    return dict(name="checkout", k8s=dict(dict(cluster="prod", namespace="shop", deployment="checkout-api"), **k8s))


def respond(tmp_path, playbook, extra, check=False):
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_STATE_DIR": str(tmp_path / "state")}
    return run_playbook("playbooks/%s.yml" % playbook, extra_vars=extra, env=env, check=check)


def timeline(tmp_path):
    (incident,) = list((tmp_path / "incidents").glob("INC-*"))
    return [json.loads(line) for line in (incident / "timeline.jsonl").read_text().splitlines()]


def milestones(tmp_path):
    return [(e["event"], e.get("message", "")) for e in timeline(tmp_path) if e.get("type") == "milestone"]


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s" % what)


def deployment(sim, name="checkout-api"):
    return sim.call("%s/%s" % (APPS, name))


def available(sim, name="checkout-api", replicas=None):
    dep = deployment(sim, name)
    want = dep["spec"]["replicas"] if replicas is None else replicas
    st = dep.get("status", {})
    return st.get("availableReplicas", 0) == want and st.get("updatedReplicas", 0) == want and st.get("replicas", 0) == want


def seed_checkout(sim, **kw):
    spec = dict(dict(namespace="shop", name="checkout-api", image="shop/api:1.0", replicas=2), **kw)
    sim.seed(**spec)
    wait_for(lambda: available(sim, spec["name"]), 15, "%s available" % spec["name"])


def test_service_down_after_a_bad_rollout_with_a_sidecar_rolls_back_to_the_last_good_revision(sim, tmp_path):
    seed_checkout(sim)
    good = deployment(sim)["spec"]["template"]
    bad = {"spec": {"template": {"spec": {"containers": [
        {"name": "checkout-api", "image": "shop/api:2.0-broken", "env": [{"name": "FEATURE_X", "value": "on"}]},
        {"name": "log-shipper", "image": "shop/shipper:1.0"}]}}}}
    sim.call("%s/checkout-api" % APPS, bad, method="PATCH", content_type="application/strategic-merge-patch+json")
    wait_for(lambda: deployment(sim)["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == "2", 10, "revision 2")
    extra = dict(catalog(sim, checkout()), service="checkout", alert_name="ServiceDown")

    dry = respond(tmp_path / "dry", "k8s-service-down", extra, check=True)
    assert dry.returncode == 0, dry.stdout[-4000:]
    assert len(deployment(sim)["spec"]["template"]["spec"]["containers"]) == 2  # check mode changed nothing

    res = respond(tmp_path, "k8s-service-down", extra)
    assert res.returncode == 0, res.stdout[-6000:]
    after = deployment(sim)
    assert wait_for(lambda: available(sim), 15, "available again")
    template = after["spec"]["template"]
    assert [c["name"] for c in template["spec"]["containers"]] == ["checkout-api"]  # the sidecar is gone
    assert template["spec"]["containers"][0]["image"] == "shop/api:1.0" and "env" not in template["spec"]["containers"][0]
    assert template["spec"] == good["spec"]
    events = milestones(tmp_path)
    assert [e for e, _m in events][:1] == ["detected"] and "declared" in dict(events) and "resolved" in dict(events)
    assert "after rollback" in dict(events)["resolved"]
    notes = " ".join(e.get("message", "") for e in timeline(tmp_path))
    assert "rollout_restart" not in notes  # a broken revision is rolled back, not restarted

    # the official client and kubectl agree: revision 3 is revision 1's template
    from kubernetes import client, config
    api = client.AppsV1Api(config.new_client_from_config(sim.kubeconfig))
    typed = api.read_namespaced_deployment("checkout-api", "shop")
    assert typed.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert [c.name for c in typed.spec.template.spec.containers] == ["checkout-api"]
    history = kubectl(sim, "rollout", "history", "deployment/checkout-api", "-n", "shop").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
    rev3 = kubectl(sim, "rollout", "history", "deployment/checkout-api", "-n", "shop", "--revision=3").stdout
    assert "shop/api:1.0" in rev3 and "log-shipper" not in rev3


def test_crash_loop_goes_up_the_ladder_through_respond_yml(sim, tmp_path):
    seed_checkout(sim)
    sim.fault(namespace="shop", target="checkout-api", fault="crash")
    wait_for(lambda: not available(sim), 10, "crash loop")
    pod = sim.call("/api/v1/namespaces/shop/pods")["items"][0]["metadata"]["name"]
    # as the receiver passes a kube-state-metrics alert: no service label; the namespace makes it a Kubernetes
    # incident, the pod names the catalog service whose Deployment owns it
    alert = {"labels": {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": pod, "job": "kube-state-metrics"}}
    extra = dict(catalog(sim, checkout(), dict(name="cart", k8s=dict(cluster="prod", namespace="shop", deployment="cart"))),
                 alert_name="KubePodCrashLooping", incident_alert=alert)
    res = respond(tmp_path, "respond", extra)
    assert res.returncode == 0, res.stdout[-6000:]
    assert available(sim)
    events = dict(milestones(tmp_path))
    assert "resolved" in events and "rollout_restart" in events["resolved"]  # replacing pods was not enough


def test_high_error_rate_rolls_back_a_recent_rollout_and_hands_over_without_one(sim, tmp_path):
    seed_checkout(sim)
    extra = dict(catalog(sim, checkout()), service="checkout", alert_name="HighErrorRate")
    res = respond(tmp_path / "none", "k8s-high-error-rate", extra)
    assert res.returncode != 0
    escalated = [m for e, m in milestones(tmp_path / "none") if e == "escalated"]
    assert escalated and "no recent rollout to undo" in escalated[0]
    assert deployment(sim)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"  # nothing changed

    sim.call("%s/checkout-api" % APPS, {"spec": {"template": {"spec": {"containers": [{"name": "checkout-api", "image": "shop/api:1.1"}]}}}},
             method="PATCH", content_type="application/strategic-merge-patch+json")
    wait_for(lambda: available(sim) and deployment(sim)["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/api:1.1", 15, "1.1 out")
    res = respond(tmp_path / "recent", "k8s-high-error-rate", extra)
    assert res.returncode == 0, res.stdout[-6000:]
    assert deployment(sim)["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/api:1.0"
    assert "resolved" in dict(milestones(tmp_path / "recent"))
    # the alert repeats: the undo is no deploy to undo again (the 1.1 image must not come back)
    again = respond(tmp_path / "again", "k8s-high-error-rate", extra)
    assert again.returncode != 0
    assert "no recent rollout to undo" in [m for e, m in milestones(tmp_path / "again") if e == "escalated"][0]
    assert deployment(sim)["spec"]["template"]["spec"]["containers"][0]["image"] == "shop/api:1.0"


def test_high_response_time_raises_the_autoscalers_minimum(sim, tmp_path):
    seed_checkout(sim, hpa={"min": 2, "max": 6})
    extra = dict(catalog(sim, checkout(max_replicas=5)), service="checkout", alert_name="HighResponseTime")
    res = respond(tmp_path, "k8s-high-response-time", extra)
    assert res.returncode == 0, res.stdout[-6000:]
    hpa = sim.call("/apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers")["items"][0]
    assert hpa["spec"]["minReplicas"] == 4 and deployment(sim)["spec"]["replicas"] == 4
    assert wait_for(lambda: available(sim, replicas=4), 15, "4 available")
    assert "resolved" in dict(milestones(tmp_path))


def test_oom_killed_gets_a_confirmed_memory_limit_raise(sim, tmp_path):
    seed_checkout(sim, containers=[{"name": "checkout-api", "image": "shop/api:1.0",
                                    "resources": {"limits": {"memory": "256Mi"}, "requests": {"memory": "128Mi"}}}])
    sim.fault(namespace="shop", target="checkout-api", fault="oom", oom_below="512Mi")
    wait_for(lambda: not available(sim), 10, "OOM kills")
    extra = dict(catalog(sim, checkout(max_memory_limit="1Gi")), service="checkout", alert_name="KubePodOOMKilled")
    res = respond(tmp_path, "k8s-oom-killed", extra)
    assert res.returncode == 0, res.stdout[-6000:]
    limits = deployment(sim)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["memory"] == "512Mi" and available(sim)
    assert "resolved" in dict(milestones(tmp_path))
    again = respond(tmp_path / "again", "k8s-oom-killed", extra)  # no OOM kill any more: nothing to do
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
    assert "256Mi -> 512Mi" in dict(milestones(tmp_path))["resolved"]
    # an error-rate alert right after: the raised limit is the responder's change, not a deploy to undo
    errors = respond(tmp_path / "errors", "k8s-high-error-rate", dict(extra, alert_name="HighErrorRate"))
    assert errors.returncode != 0
    assert deployment(sim)["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"


def test_workflow_failures_name_a_failing_engine_and_heal_a_crashing_runner(sim, tmp_path):
    seed_checkout(sim, name="workflow-runner")
    engine = dict(name="engine", runtime="compose", kind="external", health_url="http://127.0.0.1:9/health")
    runner = dict(name="runner", depends_on=["engine"], k8s=dict(cluster="prod", namespace="shop", deployment="workflow-runner"))
    extra = dict(catalog(sim, runner, engine), service="runner", alert_name="WorkflowExecutionFailureRate")
    res = respond(tmp_path / "engine", "k8s-workflow-failures", extra)
    assert res.returncode != 0
    escalated = [m for e, m in milestones(tmp_path / "engine") if e == "escalated"]
    assert escalated and "engine" in escalated[0], escalated

    sim.fault(namespace="shop", target="workflow-runner", fault="crash")
    wait_for(lambda: not available(sim, "workflow-runner"), 10, "runner crash loop")
    extra["incident_services"] = [dict(s, depends_on=[]) for s in extra["incident_services"] if s["name"] == "runner"]
    res = respond(tmp_path / "runner", "k8s-workflow-failures", extra)
    assert res.returncode == 0, res.stdout[-6000:]
    assert available(sim, "workflow-runner") and "resolved" in dict(milestones(tmp_path / "runner"))


@pytest.mark.parametrize("case", ["namespace", "workload", "context", "forbidden", "unreachable"])
def test_bad_input_escalates_naming_what_and_where_and_deletes_nothing(tmp_path, case):
    sim = start_sim(tmp_path, forbid=["sre:get:deployments:shop"] if case == "forbidden" else [])
    try:
        sim.seed(namespace="shop", name="checkout-api", image="shop/api:1.0", replicas=2)
        wait_for(lambda: len(sim.call("/api/v1/namespaces/shop/pods")["items"]) == 2, 10, "two pods")
        sim.fault(namespace="shop", target="checkout-api", fault="crash")
        pods = sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/shop/pods")["items"])
        svc, cluster = checkout(), {}
        if case == "namespace":
            svc = checkout(namespace="shopp")
        elif case == "workload":
            svc = checkout(deployment="checkout-apii")
        elif case == "context":
            cluster = {"context": "staging"}
        extra = dict(catalog(sim, svc, **cluster), service="checkout", alert_name="ServiceDown")
        if case == "unreachable":
            extra["incident_k8s_clusters"]["prod"] = {"host": "https://127.0.0.1:9", "validate_certs": False}
        res = respond(tmp_path, "k8s-service-down", extra)
        assert res.returncode != 0, res.stdout[-3000:]
        escalated = [m for e, m in milestones(tmp_path) if e == "escalated"]
        assert escalated, res.stdout[-3000:]
        where = {"namespace": "shopp", "workload": "checkout-apii", "context": "staging", "forbidden": "forbidden",
                 "unreachable": "127.0.0.1:9"}[case]
        assert where in escalated[0] and "cluster prod" in escalated[0], escalated[0]
        assert sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/shop/pods")["items"]) == pods
    finally:
        sim.stop()


def test_triage_gives_kubernetes_services_a_verdict_and_their_scenario(sim, tmp_path):
    """The same triage role as for compose services: one k8s_workload_info per cluster and namespace."""
    seed_checkout(sim)
    seed_checkout(sim, name="cart", containers=[{"name": "cart", "image": "shop/cart:1.0",
                                                 "resources": {"limits": {"memory": "128Mi"}}}])
    sim.fault(namespace="shop", target="cart", fault="oom", oom_below="512Mi")
    wait_for(lambda: not available(sim, "cart"), 10, "cart OOM kills")
    services = [checkout(), dict(name="cart", k8s=dict(cluster="prod", namespace="shop", deployment="cart"))]
    report = tmp_path / "report.json"
    extra = dict(catalog(sim, *services), triage_report_file=str(report), triage_checks=["k8s", "http"], triage_show=False)
    res = run_playbook("tests/integration/playbooks/triage.yml", extra_vars=extra, check=True)
    assert res.returncode == 0, res.stdout[-4000:]
    r = json.loads(report.read_text())
    assert r["services"]["checkout"]["verdict"] == "healthy" and r["services"]["checkout"]["check"] == "k8s.ok"
    assert r["services"]["cart"]["verdict"] == "down" and r["services"]["cart"]["check"] == "k8s.oom_killed"
    assert (r["scenario"], r["severity"]) == ("k8s-oom-killed", "P1")
    sim.stop()  # the API gone: unknown, never healthy
    res = run_playbook("tests/integration/playbooks/triage.yml", extra_vars=extra, check=True)
    r = json.loads(report.read_text())
    assert r["services"]["checkout"]["verdict"] == "unknown" and not r["assessed"], r["services"]["checkout"]


def test_triage_checks_a_kubernetes_database_through_exec_in_its_pod(sim, tmp_path, lab):
    """Runbook 001's `kubectl exec <postgres-pod> -- psql` for a database with no connection of its own: the
    simulated pod's command runs on this host, against the lab's real PostgreSQL; a cache that does not answer
    is down."""
    seed_checkout(sim, name="db")
    seed_checkout(sim, name="cache")
    port = lab.ENV["LAB_POSTGRES_PORT"]
    services = [dict(name="db", kind="postgres", k8s=dict(cluster="prod", namespace="shop", deployment="db",
                                                          exec_check=["pg_isready", "-h", "127.0.0.1", "-p", str(port)])),
                dict(name="cache", kind="redis", k8s=dict(cluster="prod", namespace="shop", deployment="cache",
                                                          exec_check=["redis-cli", "-p", "9", "ping"]))]
    report = tmp_path / "report.json"
    extra = dict(catalog(sim, *services), triage_report_file=str(report), triage_checks=["k8s"], triage_show=False)
    res = run_playbook("tests/integration/playbooks/triage.yml", extra_vars=extra, check=True)
    assert res.returncode == 0, res.stdout[-4000:]
    r = json.loads(report.read_text())
    assert [e["check"] for e in r["services"]["db"]["evidence"]] == ["k8s.ok", "k8s.exec_ok"], r["services"]["db"]
    assert r["services"]["cache"]["verdict"] == "down" and r["services"]["cache"]["check"] == "k8s.exec_failed"


def test_a_refused_action_is_a_failed_rung_and_the_escalation_says_why(tmp_path):
    sim = start_sim(tmp_path, forbid=["sre:delete:pods:shop", "sre:patch:deployments:shop"])
    try:
        seed_checkout(sim)
        sim.fault(namespace="shop", target="checkout-api", fault="crash")
        wait_for(lambda: not available(sim), 10, "crash loop")
        res = respond(tmp_path, "k8s-service-down", dict(catalog(sim, checkout()), service="checkout"))
        assert res.returncode != 0
        escalated = [m for e, m in milestones(tmp_path) if e == "escalated"][0]
        assert "not healed after" in escalated and "forbidden" in escalated, escalated
        assert "FAILED" in res.stdout or "failed" in res.stdout
    finally:
        sim.stop()


def test_a_service_the_catalog_does_not_know_is_refused_before_anything(sim, tmp_path):
    seed_checkout(sim)
    res = respond(tmp_path, "k8s-service-down", dict(catalog(sim, checkout()), service="chekout"))
    assert res.returncode != 0
    assert "service chekout is not in incident_services (kubernetes services: checkout)" in res.stdout, res.stdout[-2000:]
    assert not [e for e, _m in milestones(tmp_path) if e == "declared"]
