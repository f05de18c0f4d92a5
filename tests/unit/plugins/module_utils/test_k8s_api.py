"""K8sClient over the official ApiClient against a local HTTP server: retries, errors, paths; selectors."""
import socket

import pytest

from ansible_collections.incident.response.plugins.module_utils.k8s_api import (
    K8sClient, K8sError, api_path, describe_request, retry_delay, selector_matches, selector_string, status_message)
from ansible_collections.incident.response.plugins.module_utils.k8s_connect import connect
from tests.local_servers import ScriptedHTTPServer


@pytest.fixture
def api():
    srv = ScriptedHTTPServer()
    yield srv
    srv.close()


def client_for(url, sleeps=None, **params):
    conn = connect(dict(dict(host=url, api_key="t0ken"), **params))
    return K8sClient(conn.api_client, conn.where, timeout=5, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_paths_and_request_descriptions():
    assert api_path("deployments", "prod", "api", "scale") == "/apis/apps/v1/namespaces/prod/deployments/api/scale"
    assert api_path("nodes") == "/api/v1/nodes"
    assert api_path("podmetrics", "prod") == "/apis/metrics.k8s.io/v1beta1/namespaces/prod/pods"
    assert describe_request("PATCH", "/apis/apps/v1/namespaces/prod/deployments/api") == "patch deployments/api in namespace prod"
    assert describe_request("GET", "/api/v1/namespaces/prod/pods") == "list pods in namespace prod"
    assert describe_request("GET", "/api/v1/namespaces/prod/pods", {"watch": "true"}) == "watch pods in namespace prod"
    assert describe_request("DELETE", "/api/v1/namespaces/prod/pods/x") == "delete pods/x in namespace prod"
    assert status_message(b'{"kind": "Status", "message": "nope"}') == "nope" and status_message("plain") == "plain"


def test_full_label_selectors():
    sel = {"matchLabels": {"app": "api", "tier": "web"},
           "matchExpressions": [{"key": "track", "operator": "In", "values": ["stable", "canary"]},
                                {"key": "env", "operator": "NotIn", "values": ["dev"]},
                                {"key": "team", "operator": "Exists"}, {"key": "legacy", "operator": "DoesNotExist"}]}
    assert selector_string(sel) == "app=api,tier=web,track in (stable,canary),env notin (dev),team,!legacy"
    assert selector_string({}) == ""
    labels = {"app": "api", "tier": "web", "track": "stable", "team": "a"}
    assert selector_matches(sel, labels)
    assert not selector_matches(sel, dict(labels, legacy="1")) and not selector_matches(sel, dict(labels, env="dev"))
    assert not selector_matches(sel, dict(labels, track="x")) and not selector_matches(sel, {"app": "api", "tier": "web"})
    with pytest.raises(K8sError):
        selector_string({"matchExpressions": [{"key": "a", "operator": "Gt"}]})


def test_retry_delay_honours_retry_after_capped_else_jittered_backoff():
    assert retry_delay(0, "3") == 3.0 and retry_delay(0, "120") == 10.0 and retry_delay(0, "-1") == 0.0
    assert retry_delay(0, None, rand=lambda: 0.0) == 0.125 and retry_delay(0, None, rand=lambda: 1.0) == 0.25
    assert retry_delay(3, "soon", rand=lambda: 1.0) == 2.0 and retry_delay(9, None, rand=lambda: 1.0) == 4.0


def test_call_sends_token_query_and_patch_types(api):
    client = client_for(api.url + "/")
    api.script["/api/v1/namespaces/prod/pods"] = [(200, {"items": [{"metadata": {"name": "p"}}]}, 0)]
    assert client.items("pods", "prod", label_selector="app in (a,b),!x")[0]["metadata"]["name"] == "p"
    sent = api.requests[-1]
    assert sent["path"] == "/api/v1/namespaces/prod/pods?labelSelector=app%20in%20%28a%2Cb%29%2C%21x"
    assert sent["headers"]["authorization"] == "Bearer t0ken"
    client.patch("deployments", "prod", "api", [{"op": "replace", "path": "/spec/template", "value": {}}],
                 content_type="application/json-patch+json")
    sent = api.requests[-1]
    assert sent["method"] == "PATCH" and sent["headers"]["Content-Type"] == "application/json-patch+json"
    assert sent["body"] == [{"op": "replace", "path": "/spec/template", "value": {}}]
    client.delete_pod("prod", "p-1", grace_period=5)
    assert api.requests[-1]["path"] == "/api/v1/namespaces/prod/pods/p-1?gracePeriodSeconds=5"
    assert api.requests[-1]["body"]["gracePeriodSeconds"] == 5


def test_logs_stay_text_even_when_json_lines(api):
    client = client_for(api.url)
    api.script["/api/v1/namespaces/prod/pods/p/log"] = [(200, '{"level": "error", "msg": "x"}\n{"level": "info"}\n', 0)]
    text = client.pod_log("prod", "p", container="app", previous=True, tail_lines=5)
    assert text.splitlines()[0] == '{"level": "error", "msg": "x"}'
    assert api.requests[-1]["path"] == "/api/v1/namespaces/prod/pods/p/log?container=app&previous=true&tailLines=5"


def test_retries_429_and_5xx_honouring_retry_after(api):
    sleeps = []
    client = client_for(api.url, sleeps)
    path = "/apis/apps/v1/namespaces/prod/deployments/api"
    api.script[path] = [(429, {"kind": "Status", "message": "slow down"}, 0, {"Retry-After": "2"}),
                        (503, "busy", 0), (200, {"metadata": {"name": "api"}}, 0)]
    assert client.get("deployments", "prod", "api")["metadata"]["name"] == "api"
    assert sleeps[0] == 2.0 and 0.25 <= sleeps[1] <= 0.5 and len(api.requests) == 3
    api.script[path] = [(500, "boom", 0)] * 5
    with pytest.raises(K8sError) as err:
        client.patch("deployments", "prod", "api", {"spec": {}})
    assert err.value.status == 500 and len(api.requests) == 8 and "boom" in str(err.value)


def test_errors_keep_the_status_message_and_say_where(api):
    client = client_for(api.url)
    api.script["/api/v1/namespaces/prod/pods/x"] = [(403, {"kind": "Status", "message": (
        'pods "x" is forbidden: User "u" cannot delete resource "pods" in API group "" in the namespace "prod"')}, 0)]
    with pytest.raises(K8sError) as err:
        client.delete_pod("prod", "x")
    msg = str(err.value)
    assert err.value.status == 403 and msg.startswith('403 pods "x" is forbidden')  # the cause first: notices clip the end
    assert msg.endswith("delete pods/x in namespace prod on %s" % api.url)
    assert 'cannot delete resource "pods"' in msg and "RBAC" in msg


def test_redirects_are_not_followed(api):
    other = ScriptedHTTPServer()
    try:
        api.script["/apis/apps/v1/namespaces/prod/deployments/api"] = [(302, "", 0, {"Location": other.url + "/steal"})]
        with pytest.raises(K8sError) as err:
            client_for(api.url).get("deployments", "prod", "api")
        assert err.value.status == 302 and other.requests == []
    finally:
        other.close()


def test_no_answer_is_status_0_naming_the_request():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(K8sError) as err:
        client_for("http://127.0.0.1:%d" % port).get("deployments", "prod", "api")
    assert err.value.status == 0 and "get deployments/api in namespace prod" in str(err.value)
    assert "did not answer" in str(err.value) and "Connection refused" in str(err.value)
