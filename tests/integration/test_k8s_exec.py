"""k8s_exec and the simulation's pods/exec (WebSocket, v5/v4.channel.k8s.io) end to end: the module against the
simulated API server over TLS, cross-checked with the official client's kubernetes.stream and a raw WebSocket.
The simulated container runs the argv on this host, so `psql --version` is the real binary."""
import json
import shutil
import ssl

import pytest
import websocket

from kubernetes import client as k8s_client, config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from tests.ansible import run_module
from tests.k8s_support import start_sim

NS = "prod"


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("k8s-exec")
    sim = start_sim(tmp, seeds=["prod/api=orchestrator/api:1.4.2*2"])
    try:
        sim.seed(name="multi", kind="Pod", containers=[{"name": "app", "image": "shop/app:1"}, {"name": "sidecar", "image": "envoy:1"}])
        sim.seed(name="stuck", kind="Pod", image="shop/app:broken")
        sim.wait_available("api", 2)
        sim.wait_for(lambda pod: pod["status"].get("phase") == "Running", "/api/v1/namespaces/prod/pods/multi", what="multi running")
        sim.fault(target="stuck", fault="image_pull")
        sim.wait_for(lambda pod: "waiting" in pod["status"]["containerStatuses"][0]["state"], "/api/v1/namespaces/prod/pods/stuck",
                     what="stuck waiting")
        sim.core = k8s_client.CoreV1Api(k8s_config.new_client_from_config(sim.kubeconfig))
        yield sim
    finally:
        sim.stop()


def api_pods(sim):
    return sorted(p["metadata"]["name"] for p in sim.call("/api/v1/namespaces/prod/pods?labelSelector=app%3Dapi")["items"]
                  if not p["metadata"].get("deletionTimestamp"))


def k8s_exec(sim, check=False, **args):
    args.setdefault("namespace", NS)
    return run_module("k8s_exec", dict(kubeconfig=sim.kubeconfig, **args), check=check)


def client_exec(sim, pod, argv, **kw):
    """The official client directly: (stdout, stderr, returncode, raw error channel, subprotocol)."""
    resp = stream(sim.core.connect_get_namespaced_pod_exec, pod, NS, command=argv, stdin=False, stdout=True, stderr=True, tty=False,
                  _preload_content=False, **kw)
    out = err = ""
    while resp.is_open():
        resp.update(timeout=1)
        out += resp.read_stdout(timeout=0) if resp.peek_stdout() else ""
        err += resp.read_stderr(timeout=0) if resp.peek_stderr() else ""
    out += resp.read_stdout(timeout=0) or ""
    err += resp.read_stderr(timeout=0) or ""
    raw = resp.read_channel(3)
    # returncode reads the error channel again
    resp._channels[3] = raw  # pylint: disable=protected-access
    return out, err, resp.returncode, json.loads(raw), resp.subprotocol


def test_stdout_and_rc_zero(sim):
    pod = api_pods(sim)[0]
    res = k8s_exec(sim, pod=pod, command=["echo", "hello from", "the pod"])
    assert not res.get("failed"), res
    assert res["rc"] == 0 and res["stdout"] == "hello from the pod\n" and res["stdout_lines"] == ["hello from the pod"]
    assert res["pod"] == pod and res["container"] == "api" and res["namespace"] == NS and res["changed"] is True
    assert res["stderr"] == "" and res["container_defaulted"] is False and res["output_truncated"] is False


def test_nonzero_rc_fails_unless_fail_on_rc_false_and_stderr(sim):
    pod = api_pods(sim)[0]
    argv = ["sh", "-c", "echo out; echo oops >&2; exit 3"]
    res = k8s_exec(sim, pod=pod, command=argv)
    assert res["failed"] and res["rc"] == 3 and res["stdout"] == "out\n" and res["stderr"] == "oops\n", res
    assert "exited 3" in res["msg"] and pod in res["msg"] and "oops" in res["msg"]
    res = k8s_exec(sim, pod=pod, command=argv, fail_on_rc=False)
    assert not res.get("failed") and res["rc"] == 3 and res["stderr_lines"] == ["oops"], res


def test_official_client_cross_check(sim):
    pod = api_pods(sim)[0]
    out, err, rc, status, proto = client_exec(sim, pod, ["sh", "-c", "printf 'a\\nb\\n'; echo e >&2; exit 4"])
    assert (out, err, rc, proto) == ("a\nb\n", "e\n", 4, "v5.channel.k8s.io")
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]
    assert status["message"].startswith("command terminated with non-zero exit code: ")
    out, err, rc, status, _proto = client_exec(sim, pod, ["true"])
    assert (out, err, rc, status) == ("", "", 0, {"metadata": {}, "status": "Success"})
    # the preloaded form: stdout and stderr together
    text = stream(sim.core.connect_get_namespaced_pod_exec, pod, NS, command=["echo", "x"], stdin=False, stdout=True, stderr=True, tty=False)
    assert text == "x\n"
    # a program that does not exist: an InternalError status (not an exit code), as containerd answers
    resp = stream(sim.core.connect_get_namespaced_pod_exec, pod, NS, command=["no-such-program-xyz"], stdin=False, stdout=True,
                  stderr=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    status = json.loads(resp.read_channel(3))
    assert status["reason"] == "InternalError" and 'exec: "no-such-program-xyz": executable file not found in $PATH' in status["message"]


def test_raw_websocket_v4_handshake_and_frames(sim):
    pod = api_pods(sim)[0]
    ctx = {"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": sim.ca_cert}
    url = "wss://127.0.0.1:%d/api/v1/namespaces/prod/pods/%s/exec?command=echo&command=v4&stdout=true&stderr=true" % (sim.port, pod)
    ws = websocket.create_connection(url, header=["Authorization: Bearer " + sim.token], subprotocols=["v4.channel.k8s.io"], sslopt=ctx)
    try:
        assert ws.getsubprotocol() == "v4.channel.k8s.io" and ws.getstatus() == 101
        frames = []
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            assert opcode == websocket.ABNF.OPCODE_BINARY
            frames.append((data[0], data[1:]))
    finally:
        ws.close()
    assert (1, b"v4\n") in frames
    assert [json.loads(d) for ch, d in frames if ch == 3 and d] == [{"metadata": {}, "status": "Success"}]


def test_not_an_upgrade_and_missing_command(sim):
    pod = api_pods(sim)[0]
    out = sim.call("/api/v1/namespaces/prod/pods/%s/exec?command=true" % pod, method="POST", expect=400)
    assert out["message"] == "Upgrade request required" and out["reason"] == "BadRequest"
    out = sim.call("/api/v1/namespaces/prod/pods/%s/exec?stdout=true" % pod, method="POST", expect=400)
    assert out["message"] == "you must specify at least 1 command"


def test_unknown_pod_and_container(sim):
    res = k8s_exec(sim, pod="nope", command=["true"])
    assert res["failed"] and "pod nope not found in namespace prod" in res["msg"], res
    pod = api_pods(sim)[0]
    res = k8s_exec(sim, pod=pod, container="nope", command=["true"])
    assert res["failed"] and "container nope is not valid for pod %s" % pod in res["msg"], res
    # the API server's own answers through the official client
    with pytest.raises(ApiException) as err:
        stream(sim.core.connect_get_namespaced_pod_exec, "nope", NS, command=["true"], stdout=True, stderr=True, stdin=False, tty=False)
    assert "Handshake status 404" in err.value.reason and 'pods \\"nope\\" not found' in err.value.reason
    with pytest.raises(ApiException) as err:
        stream(sim.core.connect_get_namespaced_pod_exec, pod, NS, command=["true"], container="nope", stdout=True, stderr=True,
               stdin=False, tty=False)
    assert "Handshake status 400" in err.value.reason and "container nope is not valid for pod %s" % pod in err.value.reason


def test_multi_container_pod(sim):
    with pytest.raises(ApiException) as err:  # the API server does not default: kubectl (and the module) do
        stream(sim.core.connect_get_namespaced_pod_exec, "multi", NS, command=["true"], stdout=True, stderr=True, stdin=False, tty=False)
    assert "a container name must be specified for pod multi, choose one of: [app sidecar]" in err.value.reason
    res = k8s_exec(sim, pod="multi", command=["echo", "ok"])
    assert not res.get("failed") and res["container"] == "app" and res["container_defaulted"] is True, res
    res = k8s_exec(sim, pod="multi", container="sidecar", command=["echo", "ok"])
    assert not res.get("failed") and res["container"] == "sidecar" and res["container_defaulted"] is False, res


def test_container_not_running(sim):
    res = k8s_exec(sim, pod="stuck", command=["true"])
    assert res["failed"] and "container stuck of pod stuck in namespace prod is not running" in res["msg"], res
    assert "ImagePull" in res["msg"] or "ErrImagePull" in res["msg"]
    with pytest.raises(ApiException) as err:  # the kubelet's answer, relayed by the API server
        stream(sim.core.connect_get_namespaced_pod_exec, "stuck", NS, command=["true"], stdout=True, stderr=True, stdin=False, tty=False)
    assert "Handshake status 500" in err.value.reason and 'container not found ("stuck")' in err.value.reason


def test_rbac_forbids_pods_exec(sim):
    pod = api_pods(sim)[0]
    sim.call("/_sim/rbac", {"forbid": ["sre:create:pods/exec:prod"]})
    try:
        res = k8s_exec(sim, pod=pod, command=["true"])
        assert res["failed"] and "403" in res["msg"] and "pods/exec" in res["msg"] and "RBAC" in res["msg"], res
        assert pod in res["msg"] and "namespace prod" in res["msg"]
        with pytest.raises(ApiException) as err:
            stream(sim.core.connect_get_namespaced_pod_exec, pod, NS, command=["true"], stdout=True, stderr=True, stdin=False, tty=False)
        assert "Handshake status 403" in err.value.reason
        assert 'User \\"sre\\" cannot create resource \\"pods/exec\\" in API group \\"\\" in the namespace \\"prod\\"' in err.value.reason
    finally:
        sim.call("/_sim/rbac", {"forbid": []})


def test_check_mode_runs_only_read_only_commands(sim, tmp_path):
    pod = api_pods(sim)[0]
    made = tmp_path / "made-by-exec"
    res = k8s_exec(sim, check=True, pod=pod, command=["touch", str(made)])
    assert not res.get("failed") and res["changed"] is True and "rc" not in res and "would run" in res["msg"], res
    assert not made.exists()
    res = k8s_exec(sim, check=True, pod=pod, command=["touch", str(made)], read_only=True)
    assert not res.get("failed") and res["changed"] is False and res["rc"] == 0, res
    assert made.exists()


def test_deployment_form_picks_a_ready_pod(sim):
    first, second = api_pods(sim)
    res = k8s_exec(sim, name="api", command=["echo", "hi"], read_only=True)
    assert not res.get("failed") and res["pod"] == first and res["changed"] is False, res
    sim.fault(target=first, fault="crash")
    try:
        sim.wait_for(lambda pod: not any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])),
                     "/api/v1/namespaces/prod/pods/" + first, what="first pod unready")
        res = k8s_exec(sim, name="api", command=["echo", "hi"], read_only=True)
        assert not res.get("failed") and res["pod"] == second and res["stdout"] == "hi\n", res
    finally:
        sim.fault(target=first, fault="clear")
        sim.wait_available("api", 2)
    res = k8s_exec(sim, name="nope", command=["true"])
    assert res["failed"] and "deployment nope not found in namespace prod" in res["msg"], res


def test_secrets_are_redacted_and_shell_strings_refused(sim):
    pod = api_pods(sim)[0]
    res = k8s_exec(sim, pod=pod, command=["echo", "password=hunter2-very-secret", "-a", "s3cr3t-value"], fail_on_rc=False)
    assert not res.get("failed"), res
    assert "hunter2-very-secret" not in json.dumps(res) and res["argv"][-1] == "********", res
    res = k8s_exec(sim, pod=pod, command="redis-cli info")
    assert res["failed"] and res["msg"].startswith("refused: command must be an argv list"), res


def test_timeout_fails_clearly(sim):
    pod = api_pods(sim)[0]
    res = k8s_exec(sim, pod=pod, command=["sleep", "4"], timeout=1)
    assert res["failed"] and "timed out after 1.0s" in res["msg"] and pod in res["msg"], res


@pytest.mark.parametrize("tool", ["psql", "redis-cli"])
def test_real_client_binary_through_exec(sim, tool):
    assert shutil.which(tool), "%s missing: scripts/install-host-deps.sh installs postgresql-client and redis-tools" % tool
    pod = api_pods(sim)[0]
    res = k8s_exec(sim, pod=pod, command=[tool, "--version"], read_only=True)
    assert not res.get("failed") and res["rc"] == 0, res
    assert ("PostgreSQL" in res["stdout"]) if tool == "psql" else res["stdout"].startswith("redis-cli"), res
    out, _err, rc, _status, _proto = client_exec(sim, pod, [tool, "--version"])
    assert rc == 0 and out == res["stdout"]


def test_runbook_psql_and_redis_cli_through_exec_reach_real_servers(sim, lab):
    """Runbook 001's `kubectl exec <postgres-pod> -- psql -c "SELECT * FROM pg_stat_activity"` and
    `kubectl exec <redis-pod> -- redis-cli info`: the simulated pod's commands run on this host, so they reach
    the lab's real PostgreSQL and Redis."""
    env = lab.ENV
    pod = api_pods(sim)[0]
    url = "postgresql://%s:%s@127.0.0.1:%s/%s" % (
        env["LAB_POSTGRES_USER"], env["LAB_POSTGRES_PASSWORD"], env["LAB_POSTGRES_PORT"], env["LAB_POSTGRES_DB"])
    res = k8s_exec(sim, pod=pod, command=["psql", url, "-At", "-c", "SELECT count(*) FROM pg_stat_activity;"], read_only=True)
    assert not res.get("failed") and res["stdout_lines"][0].isdigit(), res
    assert env["LAB_POSTGRES_PASSWORD"] not in str(res)
    res = k8s_exec(sim, pod=pod, command=["redis-cli", "-p", str(env["LAB_REDIS_PORT"]), "info", "memory"], read_only=True)
    assert not res.get("failed") and "used_memory:" in res["stdout"], res
