"""Rollout and pod state as kubectl reads them (pure logic, no API server)."""
from ansible_collections.incident.response.plugins.module_utils.k8s_api import pod_summary, rollout_state


def dep(generation=2, observed=2, replicas=2, updated=2, total=2, available=2, conditions=()):
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
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


def test_pod_summary_names_why_a_pod_is_down():
    pod = {"metadata": {"name": "api-1"}, "spec": {"containers": [{"image": "api:1"}]},
           "status": {"phase": "Running", "containerStatuses": [{
               "ready": False, "restartCount": 4, "image": "api:1",
               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}}
    summary = pod_summary(pod)
    assert summary["reason"] == "CrashLoopBackOff" and summary["oom_killed"] and summary["restarts"] == 4
    assert summary["last_exit_code"] == 137 and summary["ready"] is False
    pending = pod_summary({"metadata": {"name": "api-2"}, "spec": {"containers": [{"image": "api:2"}]}, "status": {"phase": "Pending"}})
    assert pending["ready"] is False and pending["image"] == "api:2" and pending["restarts"] == 0
