"""Docker engine access through the Docker SDK, against the real local engine.

DOCKER_HOST from the environment, unreachable engines (clear message, status 0, no traceback), a
tcp:// engine behind TLS with client certificates (socat on 127.0.0.1 in front of the local socket,
certificates made by openssl), one version negotiation per module run, and module_defaults groups."""
import json
import os
import re
import signal
import socket
import subprocess
import textwrap
import threading
import time

import pytest

from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient, DockerError
from tests.ansible import run_module, run_playbook

PROJECT = "incident-lab"
SOCKET = "/var/run/docker.sock"
DOCKER_ENV = ("DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION")
PODMAN_SOCKETS = ("/run/incident-podman/podman.sock", "/run/podman/podman.sock")


@pytest.fixture(autouse=True)
def no_docker_env(monkeypatch):
    for name in DOCKER_ENV:
        monkeypatch.delenv(name, raising=False)


def lab_services():
    """The compose services of the lab, as the docker CLI sees them (the reference for the modules)."""
    out = subprocess.run(["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=%s" % PROJECT,
                          "--format", '{{.Label "com.docker.compose.service"}}'],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def running_lab_container():
    out = subprocess.run(["docker", "ps", "-q", "--filter", "label=com.docker.compose.project=%s" % PROJECT],
                         capture_output=True, text=True, check=True).stdout.split()
    if not out:
        pytest.skip("no running container of the lab to exec into")
    return out[0]


def service_info(**args):
    return run_module("service_info", dict(dict(project=PROJECT, stats=False, logs=False), **args))


def assert_lists_the_lab(res):
    assert not res.get("failed"), res.get("msg")
    assert res["reachable"] is True and set(res["services"]) == lab_services()


def assert_clear_failure(res, url):
    assert res.get("failed"), res
    assert "Docker engine at %s" % url in res["msg"], res["msg"]
    assert "Traceback" not in res["msg"] and "module_stderr" not in res and "exception" not in res, res


# -- DOCKER_HOST and unreachable engines -------------------------------------------------------

def test_docker_host_from_the_environment_alone(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix://" + SOCKET)
    assert_lists_the_lab(service_info())
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/from-env.sock")  # proof that the variable is what is read
    res = service_info(unreachable_ok=True)
    assert res["reachable"] is False and "unix:///nonexistent/from-env.sock did not answer" in res["error"]


@pytest.mark.parametrize("url, reason", [
    ("unix:///nonexistent.sock", "[Errno 2] No such file or directory"),
    ("tcp://127.0.0.1:1", "[Errno 111] Connection refused"),
])
def test_unreachable_engine_is_a_clear_error(url, reason):
    with pytest.raises(DockerError) as err:
        DockerClient(url, timeout=5).containers(project=PROJECT)
    assert err.value.status == 0
    assert str(err.value) == "Docker engine at %s did not answer GET /version (API version negotiation): %s" % (url, reason)
    for name, args in (("service_state", dict(container="incident-lab_api_1", state="stopped")),
                       ("service_info", dict(project=PROJECT)),
                       ("container_exec", dict(container="incident-lab_api_1", commands={"ok": {"argv": ["true"]}},
                                               command="ok"))):
        res = run_module(name, dict(args, docker_host=url, docker_timeout=5))
        assert_clear_failure(res, url)
        assert reason in res["msg"]


def test_an_engine_that_never_answers_times_out_with_status_0():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections (the kernel does), never answers
    url = "tcp://127.0.0.1:%d" % silent.getsockname()[1]
    try:
        began = time.monotonic()
        with pytest.raises(DockerError) as err:
            DockerClient(url, timeout=1).ping()
        assert time.monotonic() - began < 5
        assert err.value.status == 0 and str(err.value).endswith("did not answer GET /version (API version negotiation): "
                                                                 "no answer within 1.0s")
    finally:
        silent.close()


def test_http_errors_keep_their_status_and_name_the_engine():
    with pytest.raises(DockerError) as err:
        DockerClient("unix://" + SOCKET).inspect("no-such-container-here")
    assert err.value.status == 404
    assert str(err.value) == ("GET /containers/no-such-container-here/json: HTTP 404 No such container: "
                              "no-such-container-here (Docker engine at unix://%s)" % SOCKET)


# -- tcp:// + TLS ------------------------------------------------------------------------------

def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_pki(base):
    """ca.pem + a server certificate for 127.0.0.1 + a client certificate; a second, unrelated CA."""
    base.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=incident-test-ca",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=base)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (base / ("%s.ext" % name)).write_text(ext)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=incident-test-%s" % name,
                "-keyout", "%s-key.pem" % name, "-out", "%s.csr" % name, cwd=base)
        openssl("x509", "-req", "-in", "%s.csr" % name, "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-days", "1", "-extfile", "%s.ext" % name, "-out", "%s-cert.pem" % name, cwd=base)
    client = base / "client"  # the layout DOCKER_CERT_PATH / cert_path expects
    client.mkdir()
    for src, dst in (("ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        (client / dst).write_bytes((base / src).read_bytes())
        (client / dst).chmod(0o600)
    no_client_cert = base / "ca-only"
    no_client_cert.mkdir()
    (no_client_cert / "ca.pem").write_bytes((base / "ca.pem").read_bytes())
    other = base / "other-ca"
    other.mkdir()
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=someone-else",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=other)
    for name in ("cert.pem", "key.pem"):
        (other / name).write_bytes((client / name).read_bytes())
    return base


class TLSEngine(object):
    """socat: TLS (client certificate required) on 127.0.0.1:<port> -> the local engine's unix socket.

    With -v, socat writes the decrypted requests to its log, which tells how often a module negotiated."""

    def __init__(self, pki, log_path):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = "tcp://127.0.0.1:%d" % self.port
        self.pki, self.log_path = pki, log_path
        self.log = open(log_path, "wb")
        listen = ("OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s,key=%s,cafile=%s,verify=1"
                  % (self.port, pki / "server-cert.pem", pki / "server-key.pem", pki / "ca.pem"))
        self.proc = subprocess.Popen(["socat", "-v", listen, "UNIX-CONNECT:" + SOCKET], stdout=subprocess.DEVNULL,
                                     stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("socat did not listen on %s: %s" % (self.url, log_path.read_text()))
                time.sleep(0.05)

    def requests_since(self, offset):
        """Request lines (e.g. 'GET /version') that reached the engine after log offset `offset`."""
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode("utf-8", "replace")
        return [line.split(" HTTP/1.1")[0] for line in text.splitlines()
                if line.split(" ", 1)[0] in ("GET", "POST", "DELETE", "PUT", "HEAD") and " HTTP/1.1" in line]

    def offset(self):
        self.log.flush()
        return os.path.getsize(self.log_path)

    def close(self):
        os.killpg(self.proc.pid, signal.SIGTERM)  # socat and the children it forked per connection
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def tls_engine(tmp_path_factory):
    base = tmp_path_factory.mktemp("docker-tls")
    engine = TLSEngine(make_pki(base / "pki"), base / "socat.log")
    yield engine
    engine.close()


def test_tls_with_validate_certs_and_client_certificate(tls_engine):
    res = service_info(docker_host=tls_engine.url, validate_certs=True, cert_path=str(tls_engine.pki / "client"))
    assert_lists_the_lab(res)


def test_tls_from_the_docker_cli_environment(tls_engine, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", tls_engine.url)
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tls_engine.pki / "client"))
    assert_lists_the_lab(service_info())


def test_tls_without_verification(tls_engine):
    certs = tls_engine.pki / "other-ca"  # a CA that did not sign the server: ignored with tls (no validate_certs)
    assert_lists_the_lab(service_info(docker_host=tls_engine.url, tls=True, cert_path=str(certs)))


def test_tls_refusals_are_clear(tls_engine):
    wrong_ca = service_info(docker_host=tls_engine.url, validate_certs=True, cert_path=str(tls_engine.pki / "other-ca"))
    assert_clear_failure(wrong_ca, tls_engine.url)
    assert "TLS: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" in wrong_ca["msg"]
    no_client_cert = service_info(docker_host=tls_engine.url, validate_certs=True, cert_path=str(tls_engine.pki / "ca-only"))
    assert_clear_failure(no_client_cert, tls_engine.url)
    assert "did not answer" in no_client_cert["msg"]
    plain = service_info(docker_host=tls_engine.url, docker_timeout=5)  # plain HTTP to a TLS port
    assert_clear_failure(plain, tls_engine.url)
    with pytest.raises(DockerError) as err:
        DockerClient(tls_engine.url, validate_certs=True, cert_path=str(tls_engine.pki / "other-ca")).ping()
    assert err.value.status == 0


def test_one_version_negotiation_per_module_run(tls_engine):
    certs = str(tls_engine.pki / "client")
    before = tls_engine.offset()
    assert_lists_the_lab(run_module("service_info", dict(project=PROJECT, docker_host=tls_engine.url,
                                                         validate_certs=True, cert_path=certs)))
    time.sleep(0.2)  # socat's children write their log as the connections close
    seen = tls_engine.requests_since(before)
    assert seen.count("GET /version") == 1, seen
    # every call but the one negotiation names the negotiated version (whatever its method)
    unversioned = [r for r in seen if r != "GET /version" and not re.match(r"^[A-Z]+ /v1\.\d+/", r)]
    assert len(seen) > 1 and not unversioned, unversioned
    pinned = tls_engine.offset()
    assert_lists_the_lab(run_module("service_info", dict(project=PROJECT, docker_host=tls_engine.url, validate_certs=True,
                                                         cert_path=certs, api_version="1.41", logs=False, stats=False)))
    time.sleep(0.2)
    seen = tls_engine.requests_since(pinned)
    assert "GET /version" not in seen and seen and all(r.startswith("GET /v1.41/") for r in seen), seen


def test_streams_and_exec_through_tls(tls_engine):
    """The calls evidence_capture and container_exec make (hijacked exec streams, log streams) over TLS."""
    cid = running_lab_container()
    client = DockerClient(tls_engine.url, validate_certs=True, cert_path=str(tls_engine.pki / "client"))
    # stdout and stderr are separate pipes: their relative order is not guaranteed, their content is
    code, output = client.exec_run(cid, ["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=20)
    assert (code, sorted(output.splitlines())) == (3, ["err", "out"])
    exec_id, frames = client.exec_stream(cid, ["sh", "-c", "echo one; echo two >&2"])
    assert sorted(frames) == [(1, b"one\n"), (2, b"two\n")] and client.exec_exit_code(exec_id) == 0
    info = client.inspect(cid)
    frames = list(client.stream_logs(cid, tty=bool(info["Config"].get("Tty"))))
    assert all(stream in (0, 1, 2) for stream, _data in frames)
    assert isinstance(client.logs(cid, tail=5), list) and "memory_stats" in client.stats(cid)
    results = []  # the diagnostics' fan-out: many calls at once on one client (one negotiation, one pool)
    threads = [threading.Thread(target=lambda: results.append(client.inspect(cid)["Id"])) for _n in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [info["Id"]] * 24


# -- module_defaults groups --------------------------------------------------------------------

PLAYBOOK = textwrap.dedent("""\
    ---
    - name: Connection options from module_defaults groups
      hosts: lab
      gather_facts: false
      module_defaults:
        group/incident.response.docker:
          docker_host: "{{ engine_url }}"
          validate_certs: true
          cert_path: "{{ engine_certs }}"
        group/incident.response.postgres:
          login_port: 1
          connect_timeout: 2
      tasks:
        - name: A Docker module gets the group's engine
          incident.response.service_info:
            project: incident-lab
            stats: false
            logs: false
          register: through_group
        - name: The task's own option wins over the group's
          incident.response.service_info:
            project: incident-lab
            docker_host: unix:///nonexistent/by-task.sock
            unreachable_ok: true
          register: task_wins
        - name: The postgres group reaches its modules too
          incident.response.postgres_diagnostics:
            unreachable_ok: true
          register: pg_group
        - name: Save what the modules saw
          ansible.builtin.copy:
            content: "{{ {'through_group': through_group, 'task_wins': task_wins, 'pg_group': pg_group} | to_json }}"
            dest: "{{ out_file }}"
            mode: "0600"
    """)


def test_module_defaults_groups_reach_the_modules(tls_engine, tmp_path):
    playbook, out = tmp_path / "groups.yml", tmp_path / "out.json"
    playbook.write_text(PLAYBOOK)
    res = run_playbook(str(playbook), extra_vars=dict(engine_url=tls_engine.url, engine_certs=str(tls_engine.pki / "client"),
                                                      out_file=str(out)),
                       env={"INCIDENT_ROOT": str(tmp_path / "incidents")})
    assert res.returncode == 0, res.stdout + res.stderr
    seen = json.loads(out.read_text())
    assert seen["through_group"]["reachable"] is True and set(seen["through_group"]["services"]) == lab_services()
    assert seen["task_wins"]["reachable"] is False and "by-task.sock" in seen["task_wins"]["error"]
    assert seen["pg_group"]["reachable"] is False and "127.0.0.1:1 " in seen["pg_group"]["error"], seen["pg_group"]


# -- Podman's Docker-compatible socket (when a podman API service runs here) ------------------

def test_podman_socket_when_present():
    present = [p for p in PODMAN_SOCKETS if os.path.exists(p)]
    if not present:
        pytest.skip("no podman API socket on this machine (%s)" % ", ".join(PODMAN_SOCKETS))
    client = DockerClient("unix://" + present[0])
    assert client.ping() is True and isinstance(client.containers(), list)
    res = run_module("service_info", dict(project="no-such-project", docker_host="unix://" + present[0]))
    assert res["reachable"] is True and not res.get("failed"), res
