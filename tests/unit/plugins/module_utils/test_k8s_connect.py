"""Where the modules connect: option order, KUBECONFIG files, contexts, namespaces, overrides (no server needed)."""
import json

import pytest

from ansible_collections.incident.response.plugins.module_utils import k8s_connect
from ansible_collections.incident.response.plugins.module_utils.k8s_connect import K8sError, connect, pick_context, resolve_source


def kubeconfig(path, context="sim", namespace="prod", server="https://127.0.0.1:6443", user=None, **cluster):
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": dict({"server": server}, **cluster)}],
        "users": [{"name": context, "user": user or {"token": "tok-" + context}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context, "namespace": namespace}}]}))
    return str(path)


def test_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setattr(k8s_connect, "DEFAULT_KUBECONFIG", str(tmp_path / "absent"))
    assert resolve_source({"host": "https://x", "kubeconfig": "/nope"}, {}) == ("host", [])
    a = kubeconfig(tmp_path / "a")
    assert resolve_source({"kubeconfig": a}, {"KUBECONFIG": "/other"}) == ("kubeconfig", [a])
    with pytest.raises(K8sError, match="kubeconfig /nope not found"):
        resolve_source({"kubeconfig": "/nope"}, {})
    assert resolve_source({}, {"KUBECONFIG": "/missing:" + a}) == ("kubeconfig", ["/missing", a])
    assert resolve_source({}, {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == ("incluster", [])
    with pytest.raises(K8sError) as err:
        resolve_source({}, {"KUBECONFIG": "/missing"})
    assert "KUBECONFIG=/missing" in str(err.value) and "in-cluster" in str(err.value)


def test_unknown_context_names_the_known_ones():
    with pytest.raises(K8sError) as err:
        pick_context([{"name": "a"}, {"name": "b"}], "a", "prod", ["/k1", "/k2"])
    assert str(err.value) == "context 'prod' not found in kubeconfig /k1:/k2 (contexts: a, b)"
    with pytest.raises(K8sError, match="a current-context not found"):
        pick_context([{"name": "a"}], None, None, ["/k"])


def test_namespace_explicit_wins_then_context_then_default(tmp_path):
    a = kubeconfig(tmp_path / "a")
    assert connect({"kubeconfig": a}, {}).namespace == "prod"
    assert connect({"kubeconfig": a, "namespace": "default"}, {}).namespace == "default"
    assert connect({"kubeconfig": kubeconfig(tmp_path / "b", namespace=None)}, {}).namespace == "default"
    assert connect({"host": "https://x"}, {}).namespace == "default"


def test_merged_kubeconfigs_and_explicit_overrides(tmp_path):
    a = kubeconfig(tmp_path / "a", "one")
    b = kubeconfig(tmp_path / "b", "two", namespace="ops", server="https://10.1.1.1:6443",
                   **{"proxy-url": "http://proxy:3128", "tls-server-name": "api.internal", "certificate-authority": "ca.crt"})
    (tmp_path / "ca.crt").write_text("x")
    conn = connect({"kubeconfig": a + ":" + b, "context": "two"}, {})
    cfg = conn.api_client.configuration
    assert conn.namespace == "ops" and cfg.host == "https://10.1.1.1:6443" and "context two" in conn.where
    assert cfg.proxy == "http://proxy:3128" and cfg.tls_server_name == "api.internal"
    assert cfg.ssl_ca_cert == str(tmp_path / "ca.crt")  # relative to the file that names it
    assert cfg.get_api_key_with_prefix("BearerToken", alias="authorization") == "Bearer tok-two"
    conn = connect({"kubeconfig": a + ":" + b, "context": "two", "api_key": "explicit", "validate_certs": False,
                    "proxy": "http://other:1"}, {})
    cfg = conn.api_client.configuration
    assert cfg.api_key["authorization"] == "Bearer explicit" and cfg.verify_ssl is False and cfg.proxy == "http://other:1"


def test_loader_errors_are_clear(tmp_path):
    bad = kubeconfig(tmp_path / "a", user={"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "/no/such/plugin"}})
    with pytest.raises(K8sError) as err:
        connect({"kubeconfig": bad}, {})
    assert "cannot load the Kubernetes kubeconfig configuration from %s" % bad in str(err.value)
    assert "no credentials" in str(err.value) and "/no/such/plugin" in str(err.value)
