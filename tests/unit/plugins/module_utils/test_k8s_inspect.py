"""Pod readiness, findings, rollout state and the last good revision, read like kubectl (pure logic)."""
import pytest

from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import (
    last_good_revision, last_good_statefulset, parse_quantity, pod_findings, pod_summary, rollout_state,
    statefulset_rollout_state, templates_equal, workload_findings, workload_state, workload_summary)


def dep(generation=2, observed=2, replicas=2, updated=2, total=2, available=2, conditions=(), paused=False, revision=2):
    return {"metadata": {"name": "api", "generation": generation, "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
            "spec": {"replicas": replicas, "paused": paused, "template": {"spec": {"containers": [{"name": "api", "image": "api:%d" % revision}]}}},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available, "conditions": list(conditions)}}


def test_rollout_complete_only_when_every_rule_of_kubectl_holds():
    assert rollout_state(dep()) == (True, "successfully rolled out")
    assert rollout_state(dep(observed=1))[1].startswith("waiting for the deployment spec")
    assert rollout_state(dep(updated=1)) == (False, "1 of 2 new replicas updated")
    assert rollout_state(dep(total=3)) == (False, "1 old replicas pending termination")
    assert rollout_state(dep(available=1)) == (False, "1 of 2 updated replicas available")
    stalled = dep(updated=1, conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "x"}])
    assert rollout_state(stalled) == (False, "progress deadline exceeded: x")
    assert rollout_state(dep(updated=1, paused=True)) == (False, "deployment is paused (1 of 2 new replicas updated)")


def test_statefulset_rollout_like_kubectl():
    sts = {"metadata": {"generation": 3}, "spec": {"replicas": 3},
           "status": {"observedGeneration": 3, "readyReplicas": 3, "currentRevision": "db-1", "updateRevision": "db-1"}}
    assert statefulset_rollout_state(sts)[0]
    sts["status"]["updateRevision"] = "db-2"
    assert statefulset_rollout_state(sts) == (False, "rolling update to db-2 in progress (0 of 3 pods updated)")
    sts["status"]["readyReplicas"] = 2
    assert statefulset_rollout_state(sts) == (False, "2 of 3 pods ready")
    sts["spec"]["updateStrategy"] = {"type": "OnDelete"}
    assert statefulset_rollout_state(sts)[0]


def pod(containers, statuses, init=(), init_statuses=(), conditions=None, node="n1"):
    return {"metadata": {"name": "api-1"}, "spec": {"nodeName": node, "containers": containers, "initContainers": list(init)},
            "status": {"phase": "Running", "containerStatuses": statuses, "initContainerStatuses": list(init_statuses),
                       "conditions": conditions if conditions is not None else [{"type": "Ready", "status": "False"}]}}


def test_readiness_is_the_ready_condition_and_a_sidecar_cannot_mask_the_app():
    app = {"name": "app", "image": "api:1", "resources": {"limits": {"memory": "256Mi"}}}
    side = {"name": "proxy", "image": "envoy:1"}
    p = pod([side, app], [
        {"name": "proxy", "ready": True, "restartCount": 0, "state": {"running": {}}},
        {"name": "app", "ready": False, "restartCount": 4, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
         "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}])
    s = pod_summary(p, {"n1": True})
    assert s["ready"] is False and s["reason"] == "CrashLoopBackOff" and s["oom_killed"] and s["restarts"] == 4
    assert s["last_exit_code"] == 137 and s["node_ready"] is True
    app_c = s["containers"][1]
    assert app_c["memory_limit"] == "256Mi" and app_c["state"] == "waiting" and not app_c["init"]
    checks = sorted((f["check"], f.get("container")) for f in pod_findings("api", s))
    assert checks == [("k8s_crashloop", "app"), ("k8s_oom", "app")]
    ready = pod([side, app], [{"name": "proxy", "ready": True, "state": {"running": {}}},
                              {"name": "app", "ready": True, "state": {"running": {}}}],
                conditions=[{"type": "Ready", "status": "True"}])
    assert pod_summary(ready, {"n1": False})["ready"] is True
    assert [f["check"] for f in pod_findings("api", pod_summary(ready, {"n1": False}))] == ["k8s_node_not_ready"]


@pytest.mark.parametrize("reason,check", [("ImagePullBackOff", "k8s_image_pull"), ("ErrImagePull", "k8s_image_pull"),
                                          ("CreateContainerConfigError", "k8s_config_error")])
def test_waiting_reasons_are_findings(reason, check):
    s = pod_summary(pod([{"name": "app", "image": "x"}], [{"name": "app", "ready": False, "state": {"waiting": {"reason": reason}}}]))
    assert [f["check"] for f in pod_findings("api", s)] == [check] and s["reason"] == reason


def test_init_containers_and_unschedulable_pods():
    p = pod([{"name": "app", "image": "a"}], [{"name": "app", "ready": False, "state": {"waiting": {"reason": "PodInitializing"}}}],
            init=[{"name": "migrate", "image": "m"}],
            init_statuses=[{"name": "migrate", "ready": False, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}])
    s = pod_summary(p)
    assert s["containers"][0]["init"] and s["reason"] == "CrashLoopBackOff" and s["restarts"] == 3
    assert [(f["check"], f["container"]) for f in pod_findings("api", s)] == [("k8s_crashloop", "migrate")]
    pending = {"metadata": {"name": "api-2"}, "spec": {"containers": [{"name": "app", "image": "a"}]},
               "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                                              "message": "0/2 nodes are available: 2 Insufficient memory."}]}}
    s = pod_summary(pending)
    assert s["reason"] == "Unschedulable" and s["node"] is None and s["containers"][0]["state"] == "unknown"
    (f,) = pod_findings("api", s)
    assert f["check"] == "k8s_unschedulable" and "Insufficient memory" in f["message"]


def test_states_and_workload_findings():
    for d, state in ((dep(), "healthy"), (dep(available=0), "down"), (dep(available=1), "degraded"),
                     (dep(replicas=0, updated=0, total=0, available=0), "scaled_to_zero"), (dep(paused=True), "paused")):
        assert workload_state(workload_summary("deployment", d)) == state
    summary = workload_summary("deployment", dep(paused=True, available=1))
    assert sorted(f["check"] for f in workload_findings("api", "paused", summary)) == ["k8s_available", "k8s_paused"]


def rs(revision, available, replicas, image=None, name=None):
    return {"metadata": {"name": name or "api-%d" % revision, "annotations": {"deployment.kubernetes.io/revision": str(revision)}},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "api", "pod-template-hash": str(revision)}},
                                                        "spec": {"containers": [{"name": "api", "image": image or "api:%d" % revision}]}}},
            "status": {"availableReplicas": available}}


def test_last_good_revision():
    assert last_good_revision(dep(revision=3), [rs(1, 0, 0), rs(2, 0, 0), rs(3, 2, 2)])[0] == 3
    stalled = dep(revision=3, available=2, updated=1, total=3)
    assert last_good_revision(stalled, [rs(1, 0, 0), rs(2, 2, 2), rs(3, 0, 1)]) == (2, "revision 2 still serves all its 2 replicas")
    # a restart of the broken revision (4, same template as 3) does not hide the good one
    broken = dep(revision=4, available=0, updated=2, total=2)
    broken["spec"]["template"] = dict(rs(3, 0, 0)["spec"]["template"], metadata={
        "labels": {"app": "api"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}})
    sets = [rs(1, 0, 0), rs(2, 0, 0), rs(3, 0, 0), rs(4, 0, 2, image="api:3")]
    assert last_good_revision(broken, sets)[0] == 2
    assert last_good_revision(dep(revision=1, available=0), [rs(1, 0, 2)]) == (None, "no older revision with another template")


def test_last_good_statefulset():
    sts = {"metadata": {"generation": 1}, "spec": {"replicas": 2},
           "status": {"observedGeneration": 1, "readyReplicas": 1, "currentRevision": "db-a", "updateRevision": "db-b"}}
    revs = [{"metadata": {"name": "db-a"}, "revision": 1}, {"metadata": {"name": "db-b"}, "revision": 2}]
    assert last_good_statefulset(sts, revs)[0] == 1


def test_templates_equal_ignores_the_hash_label_and_empty_fields():
    a = {"metadata": {"labels": {"app": "x", "pod-template-hash": "1"}}, "spec": {"containers": [{"name": "c", "env": []}]}}
    b = {"metadata": {"labels": {"app": "x"}, "annotations": {}}, "spec": {"containers": [{"name": "c"}]}}
    assert templates_equal(a, b)
    assert not templates_equal(a, {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}, {"name": "side"}]}})


def test_quantities():
    assert parse_quantity("512Mi") == 512 * 2 ** 20 and parse_quantity("1Gi") == 2 ** 30 and parse_quantity("250m") == 0.25
    assert parse_quantity("1e3") == 1000 and parse_quantity("2") == 2 and parse_quantity(None) is None
    with pytest.raises(ValueError):
        parse_quantity("12 parsecs")
