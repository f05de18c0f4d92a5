"""Every kubeconfig form against the simulated API server with TLS client verification (tests.k8s_support):
token, client certificate (files and -data), exec plugin, tokenFile, relative CA path, several KUBECONFIG
files, in-cluster; and clear errors for an unknown context, RBAC 403, bad credentials and no answer."""
import base64
import json
import shutil
import socket
import stat
import sys

import pytest

from ansible_collections.incident.response.plugins.module_utils import k8s_connect
from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sClient, K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_connect import connect
from tests.ansible import run_module
from tests.k8s_support import start_sim

from kubernetes.config import incluster_config


@pytest.fixture
def sim(tmp_path):
    s = start_sim(tmp_path)
    s.seed(namespace="prod", name="api", image="orchestrator/api:1.4.2", replicas=1)
    yield s
    s.stop()


def b64(path):
    return base64.b64encode(open(path, "rb").read()).decode()


def write_kubeconfig(path, sim, user, namespace="prod", context="sim", cluster=None):
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": cluster or {"server": sim.server, "certificate-authority-data": b64(sim.ca_cert)}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u", "namespace": namespace}}]}))
    return str(path)


def read_api(params, environ=None):
    conn = connect(params, environ if environ is not None else {})
    client = K8sClient(conn.api_client, conn.where)
    return conn.namespace, client.get("deployments", conn.namespace, "api")["metadata"]["name"]


def test_token_and_client_certificates(sim, tmp_path):
    assert read_api({"kubeconfig": write_kubeconfig(tmp_path / "token", sim, {"token": sim.token})}) == ("prod", "api")
    files = {"client-certificate": sim.client_cert, "client-key": sim.client_key}
    assert read_api({"kubeconfig": write_kubeconfig(tmp_path / "certs", sim, files)}) == ("prod", "api")
    data = {"client-certificate-data": b64(sim.client_cert), "client-key-data": b64(sim.client_key)}
    assert read_api({"kubeconfig": write_kubeconfig(tmp_path / "data", sim, data)}) == ("prod", "api")
    # host + options, no kubeconfig
    assert read_api({"host": sim.server, "ca_cert": sim.ca_cert, "client_cert": sim.client_cert,
                     "client_key": sim.client_key, "namespace": "prod"}) == ("prod", "api")


def test_exec_plugin_and_token_file_and_relative_ca(sim, tmp_path):
    plugin = tmp_path / "creds"
    plugin.write_text("#!%s\nimport json\nprint(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1', "
                      "'kind': 'ExecCredential', 'status': {'token': %r}}))\n" % (sys.executable, sim.token))
    plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": str(plugin), "interactiveMode": "Never"}}
    assert read_api({"kubeconfig": write_kubeconfig(tmp_path / "exec", sim, user)}) == ("prod", "api")
    (tmp_path / "tok").write_text(sim.token)
    (tmp_path / "cfg").mkdir()
    shutil.copy(sim.ca_cert, str(tmp_path / "cfg" / "ca.crt"))
    path = write_kubeconfig(tmp_path / "cfg" / "config", sim, {"tokenFile": str(tmp_path / "tok")},
                            cluster={"server": sim.server, "certificate-authority": "ca.crt"})
    assert read_api({"kubeconfig": path}) == ("prod", "api")


def test_several_kubeconfig_files_merged_and_explicit_namespace_kept(sim, tmp_path):
    creds = tmp_path / "creds.yaml"
    creds.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "users": [{"name": "u", "user": {"token": sim.token}}],
                                 "clusters": [{"name": "c", "cluster": {"server": sim.server, "certificate-authority-data": b64(sim.ca_cert)}}]}))
    ctx = tmp_path / "ctx.yaml"
    ctx.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "sim",
                               "contexts": [{"name": "sim", "context": {"cluster": "c", "user": "u", "namespace": "prod"}}]}))
    assert read_api({}, {"KUBECONFIG": "%s:%s" % (ctx, creds)}) == ("prod", "api")
    kube = "%s:%s" % (ctx, creds)
    res = run_module("k8s_workload_info", dict(kubeconfig=kube, names=["api"]))
    assert res["namespace"] == "prod" and res["workloads"]["api"]["state"] == "healthy", res
    res = run_module("k8s_workload_info", dict(kubeconfig=kube, names=["api"], namespace="default"))
    assert res["namespace"] == "default" and res["workloads"]["api"]["state"] == "missing"
    assert "not found in namespace default" in res["findings"][0]["message"]


def test_in_cluster_service_account(sim, tmp_path, monkeypatch):
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(sim.token)
    (sa / "namespace").write_text("prod")
    shutil.copy(sim.ca_cert, str(sa / "ca.crt"))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    monkeypatch.setattr(k8s_connect, "DEFAULT_KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    host, port = sim.server.split("//")[1].rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    conn = connect({})
    assert conn.where.startswith("in-cluster") and conn.namespace == "prod"
    assert K8sClient(conn.api_client, conn.where).get("deployments", "prod", "api")["metadata"]["name"] == "api"


def test_clear_errors(sim, tmp_path):
    kube = write_kubeconfig(tmp_path / "k", sim, {"token": sim.token})
    res = run_module("k8s_workload_info", dict(kubeconfig=kube, context="nope", names=["api"]))
    assert res["failed"] and "context 'nope' not found in kubeconfig %s (contexts: sim)" % kube in res["msg"]
    res = run_module("k8s_workload_info", dict(kubeconfig=write_kubeconfig(tmp_path / "w", sim, {"token": "wrong"}), names=["api"]))
    assert res["failed"] and "401" in res["msg"] and "credentials were refused" in res["msg"] and "wrong" not in json.dumps(res)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    res = run_module("k8s_workload_info", dict(host="https://127.0.0.1:%d" % port, namespace="prod", names=["api"]))
    assert res["failed"] and "did not answer" in res["msg"] and "127.0.0.1:%d" % port in res["msg"]
    res = run_module("k8s_workload_info", dict(host="https://127.0.0.1:%d" % port, namespace="prod", unreachable_ok=True))
    assert res["reachable"] is False and res["findings"][0]["check"] == "k8s_api"
    res = run_module("k8s_workload_info", dict(host=sim.server, api_key=sim.token, namespace="prod", names=["api"]))
    assert res["failed"] and "CERTIFICATE_VERIFY_FAILED" in res["msg"]
    with pytest.raises(K8sError) as err:
        read_api({"host": sim.server, "ca_cert": sim.ca_cert, "namespace": "prod"})
    assert err.value.status == 401


def test_rbac_403_names_verb_resource_and_namespace(tmp_path):
    sim = start_sim(tmp_path, forbid=("sre:delete:pods:prod", "sre:list:replicasets"))
    try:
        sim.seed(namespace="prod", name="api", image="orchestrator/api:1.4.2", replicas=1)
        sim.fault(namespace="prod", target="api", fault="crash")
        kube = write_kubeconfig(tmp_path / "k", sim, {"token": sim.token})
        res = run_module("k8s_workload_info", dict(kubeconfig=kube, names=["api"]))
        assert res["failed"] and "list replicasets in namespace prod" in res["msg"] and "forbidden" in res["msg"]
        assert "RBAC" in res["msg"] and "context sim" in res["msg"]
    finally:
        sim.stop()
    (tmp_path / "b").mkdir()
    sim = start_sim(tmp_path / "b", forbid=("sre:delete:pods:prod",))
    try:
        sim.seed(namespace="prod", name="api", image="orchestrator/api:1.4.2", replicas=1)
        sim.wait_available("api", 1)
        sim.fault(namespace="prod", target="api", fault="crash")
        kube = write_kubeconfig(tmp_path / "k2", sim, {"token": sim.token})
        before = sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/prod/pods")["items"])
        res = run_module("k8s_pod_delete", dict(kubeconfig=kube, name="api", state_dir=str(tmp_path / "state")))
        assert res["failed"] and 'cannot delete resource "pods"' in res["msg"] and "delete pods/" in res["msg"], res
        assert sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/prod/pods")["items"]) == before
    finally:
        sim.stop()
