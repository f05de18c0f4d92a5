"""Rollout and pod state as kubectl reads them (pure logic), and K8sClient.call against a local HTTP server."""
import socket

import pytest

from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sClient, K8sError, pod_summary, rollout_state
from tests.local_servers import ScriptedHTTPServer


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


@pytest.fixture
def api():
    srv = ScriptedHTTPServer()
    yield srv
    srv.close()


def test_call_sends_the_token_and_decodes_json_or_text(api):
    client = K8sClient(api.url + "/", api_key="t0ken", timeout=5)
    api.script["/apis/apps/v1/namespaces/prod/deployments/api/scale"] = [(200, {"spec": {"replicas": 3}}, 0)]
    answer = client.scale("prod", "api", 3)
    assert answer == {"spec": {"replicas": 3}}
    sent = api.requests[0]
    assert (sent["method"], sent["body"]) == ("PATCH", {"spec": {"replicas": 3}})
    assert sent["headers"]["Authorization"] == "Bearer t0ken" and sent["headers"]["Accept"] == "application/json"
    assert sent["headers"]["Content-Type"] == "application/merge-patch+json"
    api.script["/api/v1/namespaces/prod/pods/api-1/log"] = [(200, "line 1\nline 2\n", 0)]
    assert client.pod_log("prod", "api-1", tail_lines=2) == "line 1\nline 2\n"
    assert api.requests[1]["path"] == "/api/v1/namespaces/prod/pods/api-1/log?tailLines=2"


def test_call_errors_carry_the_status_and_the_api_message(api):
    client = K8sClient(api.url, api_key="t0ken")
    api.script["/apis/apps/v1/namespaces/prod/deployments/nope"] = [
        (404, {"kind": "Status", "message": 'deployments.apps "nope" not found'}, 0), (500, "boom", 0)]
    with pytest.raises(K8sError) as err:
        client.deployment("prod", "nope")
    assert err.value.status == 404 and str(err.value) == 'GET /apis/apps/v1/namespaces/prod/deployments/nope: 404 deployments.apps "nope" not found'
    with pytest.raises(K8sError, match=r"nope: 500 boom$"):
        client.deployment("prod", "nope")


def test_call_does_not_follow_redirects(api):
    other = ScriptedHTTPServer()
    try:
        api.script["/apis/apps/v1/namespaces/prod/deployments/api"] = [(302, "", 0, {"Location": other.url + "/steal"})]
        with pytest.raises(K8sError) as err:
            K8sClient(api.url, api_key="t0ken").deployment("prod", "api")
        assert err.value.status == 302 and other.requests == []
    finally:
        other.close()


def test_call_without_an_answer_or_with_a_huge_one(api):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(K8sError) as err:
        K8sClient("http://127.0.0.1:%d" % port).deployment("prod", "api")
    assert err.value.status == 0 and str(err.value) == "Kubernetes API at http://127.0.0.1:%d did not answer: connection refused" % port
    api.script["/api/v1/namespaces/prod/pods"] = [(200, {"items": [{"metadata": {"name": "x" * 500}}]}, 0)]
    with pytest.raises(K8sError, match="larger than 100 bytes"):
        K8sClient(api.url).call("GET", "/api/v1/namespaces/prod/pods", max_body=100)
