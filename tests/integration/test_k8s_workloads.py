"""The Kubernetes workload modules against lab/k8s_sim.py, a local simulation of the Kubernetes API
(there is no API server to be had here), cross-checked with the real kubectl client where present."""
import base64
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.ansible import REPO, run_module, run_playbook

TOKEN = "k8s-sim-test-token"
CONTEXT = [None]  # TLS context trusting the simulated API server's self-signed certificate


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def k8s(tmp_path):
    """A fresh simulated cluster with prod/api (2 replicas), and the module args that reach it."""
    port = free_port()
    cert, key = tmp_path / "apiserver.crt", tmp_path / "apiserver.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=k8s-sim",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "lab", "k8s_sim.py"), "--port", str(port), "--token", TOKEN,
                             "--tls-cert", str(cert), "--tls-key", str(key),
                             "--ready-delay", "0.2", "--seed", "prod/api=orchestrator/api:1.4.2*2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = "https://127.0.0.1:%d" % port
    CONTEXT[0] = ssl.create_default_context(cafile=str(cert))
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "sim",
        "clusters": [{"name": "sim", "cluster": {"server": server,
                                                 "certificate-authority-data": base64.b64encode(cert.read_bytes()).decode()}}],
        "users": [{"name": "sre", "user": {"token": TOKEN}}],
        "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sre", "namespace": "prod"}}]}))
    args = dict(kubeconfig=str(kubeconfig), state_dir=str(tmp_path / "state"))
    sim = type("Sim", (), dict(server=server, args=args, kubeconfig=str(kubeconfig)))
    sim.call = lambda path, body=None: call(server, path, body)
    wait_healthy(sim)
    yield sim
    proc.kill()
    proc.wait()


def call(server, path, body=None, method=None):
    req = urllib.request.Request(server + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method or ("POST" if body is not None else "GET"),
                                 headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
    for _attempt in range(50):
        try:
            with urllib.request.urlopen(req, timeout=3, context=CONTEXT[0]) as resp:
                return json.loads(resp.read())
        except ConnectionRefusedError:
            time.sleep(0.1)
        except urllib.error.URLError as exc:
            if not isinstance(exc.reason, ConnectionRefusedError):
                raise
            time.sleep(0.1)
    raise AssertionError("simulated API server did not start")


def info(sim, **kw):
    res = run_module("k8s_workload_info", dict(kubeconfig=sim.kubeconfig, names=["api"], **kw))
    assert not res.get("failed"), res
    return res


def wait_healthy(sim, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dep = call(sim.server, "/apis/apps/v1/namespaces/prod/deployments/api")
        if dep["status"].get("availableReplicas") == 2 and dep["status"].get("updatedReplicas") == 2 and dep["status"].get("replicas") == 2:
            return dep
        time.sleep(0.1)
    raise AssertionError("deployment never became healthy: %s" % dep["status"])


def pod_names(sim):
    return sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/prod/pods?labelSelector=app%3Dapi")["items"])


def test_info_reports_healthy_then_crashloop_and_oom(k8s):
    res = info(k8s)
    api = res["workloads"]["api"]
    assert res["reachable"] and api["state"] == "healthy" and res["findings"] == []
    assert api["deployment"]["images"] == ["orchestrator/api:1.4.2"] and len(api["pods"]) == 2
    k8s.call("/_sim/crash", {"namespace": "prod", "deployment": "api", "reason": "OOMKilled"})
    time.sleep(0.3)
    api = info(k8s)["workloads"]["api"]
    assert api["state"] == "down"
    assert all(p["reason"] == "CrashLoopBackOff" and p["oom_killed"] and p["last_exit_code"] == 137 for p in api["pods"])
    assert all(p["log_errors"] >= 1 for p in api["pods"])
    checks = {f["check"] for f in info(k8s)["findings"]}
    assert {"k8s_available", "k8s_oom", "k8s_crashloop"} <= checks


def test_info_missing_workload_and_bad_credentials(k8s):
    res = run_module("k8s_workload_info", dict(kubeconfig=k8s.kubeconfig, names=["nope"]))
    assert res["workloads"]["nope"]["state"] == "missing" and res["findings"][0]["severity"] == "critical"
    res = run_module("k8s_workload_info", dict(host=k8s.server, api_key="wrong", namespace="prod", validate_certs=False))
    assert res["failed"] and "401" in res["msg"]
    assert "wrong" not in json.dumps(res)
    res = run_module("k8s_workload_info", dict(host="http://127.0.0.1:%d" % free_port(), namespace="prod", unreachable_ok=True))
    assert res["reachable"] is False and "did not answer" in res["error"]


def test_pod_delete_replaces_only_failing_pods(k8s):
    before = pod_names(k8s)
    k8s.call("/_sim/crash", {"namespace": "prod", "deployment": "api"})
    time.sleep(0.3)
    check = run_module("k8s_pod_delete", dict(k8s.args, name="api"), check=True)
    assert check["changed"] and len(check["deleted"]) == 2 and pod_names(k8s) == before
    refused = run_module("k8s_pod_delete", dict(k8s.args, name="api", max_pods=1))
    assert refused["failed"] and "max_pods=1" in refused["msg"] and pod_names(k8s) == before
    res = run_module("k8s_pod_delete", dict(k8s.args, name="api"))
    assert res["changed"] and res["rollout_complete"], res
    assert set(pod_names(k8s)).isdisjoint(before) and info(k8s)["workloads"]["api"]["state"] == "healthy"
    again = run_module("k8s_pod_delete", dict(k8s.args, name="api"))
    assert again["changed"] is False and again["deleted"] == []


def test_rollout_restart_replaces_every_pod_and_is_rate_limited(k8s):
    before = pod_names(k8s)
    assert run_module("k8s_rollout_restart", dict(k8s.args, name="api"), check=True)["changed"]
    assert pod_names(k8s) == before
    res = run_module("k8s_rollout_restart", dict(k8s.args, name="api", max_actions=1))
    assert res["changed"] and res["rollout_complete"] and res["after"]["revision"] == res["before"]["revision"] + 1, res
    assert set(pod_names(k8s)).isdisjoint(before)
    refused = run_module("k8s_rollout_restart", dict(k8s.args, name="api", max_actions=1))
    assert refused["failed"] and "rate limit" in refused["msg"]


def test_scale_is_idempotent_and_zero_needs_confirm(k8s):
    res = run_module("k8s_scale", dict(k8s.args, name="api", replicas=3))
    assert res["changed"] and res["after"]["available"] == 3 and len(pod_names(k8s)) == 3
    assert run_module("k8s_scale", dict(k8s.args, name="api", replicas=3))["changed"] is False
    refused = run_module("k8s_scale", dict(k8s.args, name="api", replicas=0))
    assert refused["failed"] and "confirm" in refused["msg"] and len(pod_names(k8s)) == 3


def test_rollback_undoes_a_bad_deploy(k8s):
    call(k8s.server, "/apis/apps/v1/namespaces/prod/deployments/api",
         {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "orchestrator/api:broken"}]}}}}, method="PATCH")
    time.sleep(0.5)
    stalled = info(k8s)["workloads"]["api"]
    assert stalled["state"] == "degraded" and stalled["deployment"]["images"] == ["orchestrator/api:broken"]
    assert [h["revision"] for h in stalled["history"]] == [1, 2]
    check = run_module("k8s_rollback", dict(k8s.args, name="api"), check=True)
    assert check["changed"] and check["to_images"] == ["orchestrator/api:1.4.2"]
    assert info(k8s)["workloads"]["api"]["deployment"]["images"] == ["orchestrator/api:broken"]
    res = run_module("k8s_rollback", dict(k8s.args, name="api"))
    assert res["changed"] and res["rollout_complete"] and res["from_images"] == ["orchestrator/api:broken"], res
    api = info(k8s)["workloads"]["api"]
    assert api["state"] == "healthy" and api["deployment"]["images"] == ["orchestrator/api:1.4.2"]
    assert api["deployment"]["revision"] == 3  # the old template comes back as a new revision, as with kubectl
    if shutil.which("kubectl"):  # the real client agrees with what the modules did
        out = subprocess.run(["kubectl", "--kubeconfig", k8s.kubeconfig, "get", "deployment", "api", "-o", "json"],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out)["status"]["readyReplicas"] == 2
        hist = subprocess.run(["kubectl", "--kubeconfig", k8s.kubeconfig, "rollout", "history", "deployment/api"],
                              capture_output=True, text=True, check=True).stdout
        assert "3" in hist.split()


def test_service_down_playbook_heals_a_crashlooping_deployment(k8s, tmp_path):
    k8s.call("/_sim/crash", {"namespace": "prod", "deployment": "api"})
    time.sleep(0.3)
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_STATE_DIR": str(tmp_path / "state")}
    extra = {"k8s_deployment": "api", "incident_k8s_kubeconfig": k8s.kubeconfig, "incident_k8s_namespace": "prod"}
    res = run_playbook("playbooks/k8s-service-down.yml", extra_vars=extra, env=env)
    assert res.returncode == 0, res.stdout[-4000:]
    assert info(k8s)["workloads"]["api"]["state"] == "healthy"
    (incident,) = list((tmp_path / "incidents").glob("INC-*"))
    events = [json.loads(line) for line in (incident / "timeline.jsonl").read_text().splitlines()]
    milestones = [e.get("event") for e in events if e.get("type") == "milestone"]
    assert "declared" in milestones and "resolved" in milestones
    assert (incident / "report.md").exists()
    # a second run on the healthy Deployment changes nothing; this time it is named through the catalog
    catalog = {"service": "checkout", "incident_k8s_kubeconfig": k8s.kubeconfig, "incident_services": [
        {"name": "checkout", "runtime": "kubernetes", "k8s": {"deployment": "api", "namespace": "prod"}}]}
    again = run_playbook("playbooks/k8s-service-down.yml", extra_vars=catalog, env=env)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout[-3000:]
    notes = [json.loads(line).get("message", "") for path in (tmp_path / "incidents").glob("INC-*/timeline.jsonl")
             for line in path.read_text().splitlines()]
    assert any(n.startswith("api has every replica available: no incident") for n in notes), notes
