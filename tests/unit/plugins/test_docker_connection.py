"""How the Docker connection options become docker.APIClient arguments (no engine needed).

Options come from the module arguments, else the Docker CLI's environment variables (DOCKER_HOST,
DOCKER_TLS, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION), else the defaults; wrong
settings fail before any connection, with a message naming the option."""
import json
import os
import subprocess
import sys

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DEFAULT_DOCKER_HOST, DOCKER_ARGSPEC, POOL_SIZE, DockerClient, DockerConfigError, DockerError, connect_kwargs)
from tests.ansible import COLLECTIONS

DOCKER_ENV = ("DOCKER_HOST", "DOCKER_TLS", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION",
              "DOCKER_TLS_CA_CERT", "DOCKER_TLS_CLIENT_CERT", "DOCKER_TLS_CLIENT_KEY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No Docker variables from the caller's shell, and a HOME without ~/.docker."""
    for name in DOCKER_ENV:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def cert_dir(path, *names):
    """A directory with these (dummy) TLS files: the SDK only checks that they exist until it connects."""
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        (path / name).write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def module_params(args):
    """The parameters a module gets for `args`, env fallbacks and defaults applied, as AnsibleModule does."""
    result = ArgumentSpecValidator(DOCKER_ARGSPEC).validate(args)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def from_params(params):
    return connect_kwargs(params["docker_host"], params["docker_timeout"], tls=params["tls"],
                          validate_certs=params["validate_certs"], cert_path=params["cert_path"],
                          api_version=params["api_version"], use_ssh_client=params["use_ssh_client"])


def test_defaults_are_the_local_socket_with_version_negotiation():
    url, kwargs = connect_kwargs()
    assert url == DEFAULT_DOCKER_HOST
    assert kwargs == dict(base_url=DEFAULT_DOCKER_HOST, version="auto", timeout=30.0, tls=False, max_pool_size=POOL_SIZE)
    assert from_params(module_params({})) == (url, kwargs)


def test_docker_host_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    assert connect_kwargs()[0] == "tcp://10.1.2.3:2375"
    assert module_params({})["docker_host"] == "tcp://10.1.2.3:2375"  # the argspec's env_fallback
    assert connect_kwargs("unix:///run/podman/podman.sock")[0] == "unix:///run/podman/podman.sock"
    assert module_params({"docker_host": "unix:///run/podman/podman.sock"})["docker_host"] == "unix:///run/podman/podman.sock"
    url, kwargs = connect_kwargs()
    assert kwargs["tls"] is False and kwargs["base_url"] == url  # plain tcp:// without any TLS setting


def test_tls_verify_and_cert_path_from_the_environment(monkeypatch, tmp_path):
    certs = cert_dir(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    monkeypatch.setenv("DOCKER_HOST", "tcp://docker.example:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", str(certs))
    monkeypatch.setenv("DOCKER_API_VERSION", "1.41")
    params = module_params({})
    assert (params["validate_certs"], params["tls"], params["cert_path"], params["api_version"]) == (True, False, str(certs), "1.41")
    for url, kwargs in (from_params(params), connect_kwargs()):
        tls = kwargs["tls"]
        assert url == "tcp://docker.example:2376" and kwargs["version"] == "1.41"
        assert tls.verify is True and tls.ca_cert == str(certs / "ca.pem")
        assert tls.cert == (str(certs / "cert.pem"), str(certs / "key.pem"))
    client = DockerClient()
    assert client.cli_environment() == {"DOCKER_HOST": "tcp://docker.example:2376", "DOCKER_TLS": "1",
                                        "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}


def test_module_arguments_win_over_the_environment(monkeypatch, tmp_path):
    certs = cert_dir(tmp_path / "certs", "cert.pem", "key.pem")
    monkeypatch.setenv("DOCKER_HOST", "tcp://from-env:2376")
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    params = module_params({"docker_host": "tcp://given:2376", "validate_certs": False, "tls": True, "cert_path": str(certs)})
    url, kwargs = from_params(params)
    assert url == "tcp://given:2376"
    assert kwargs["tls"].verify is False and kwargs["tls"].ca_cert is None  # --tls: encrypted, not verified
    assert kwargs["tls"].cert == (str(certs / "cert.pem"), str(certs / "key.pem"))
    assert module_params({"tls_verify": True})["validate_certs"] is True  # community.docker's alias


def test_any_tls_setting_turns_tls_on_for_tcp_only(tmp_path):
    certs = cert_dir(tmp_path / "certs", "ca.pem")
    assert connect_kwargs("tcp://h:2376", tls=True)[1]["tls"].verify is False
    assert connect_kwargs("tcp://h:2376", cert_path=str(certs))[1]["tls"].verify is False
    assert connect_kwargs("https://h:2376")[1]["tls"] is not False
    for url in ("unix:///var/run/docker.sock", "unix:///run/podman/podman.sock"):
        assert connect_kwargs(url, tls=True, validate_certs=True, cert_path=str(certs))[1]["tls"] is False


def test_validate_certs_without_cert_path_uses_system_cas_or_home_docker(clean_env, tmp_path):
    tls = connect_kwargs("tcp://h:2376", validate_certs=True)[1]["tls"]
    assert tls.verify is True and tls.ca_cert is None and tls.cert is None  # no ~/.docker: the system CAs
    home_docker = cert_dir(clean_env / ".docker", "ca.pem", "cert.pem", "key.pem")
    tls = connect_kwargs("tcp://h:2376", validate_certs=True)[1]["tls"]
    assert tls.ca_cert == str(home_docker / "ca.pem") and tls.cert == (str(home_docker / "cert.pem"), str(home_docker / "key.pem"))


def test_missing_ca_with_validate_certs_names_the_options(tmp_path):
    certs = cert_dir(tmp_path / "certs", "cert.pem", "key.pem")
    with pytest.raises(DockerConfigError) as err:
        connect_kwargs("tcp://h:2376", validate_certs=True, cert_path=str(certs))
    assert str(err.value) == ("validate_certs needs the CA certificate of the engine: %s/ca.pem not found (cert_path %s)"
                              % (certs, certs))
    assert err.value.status == 0


def test_half_a_client_certificate_is_refused(tmp_path):
    certs = cert_dir(tmp_path / "certs", "ca.pem", "cert.pem")
    with pytest.raises(DockerConfigError, match=r"^cert_path .*/certs has cert.pem but no key.pem"):
        connect_kwargs("tcp://h:2376", validate_certs=True, cert_path=str(certs))


def test_tls_files_one_by_one_from_the_environment_as_awx_injects_them(monkeypatch, tmp_path):
    """DOCKER_TLS_CA_CERT / _CLIENT_CERT / _CLIENT_KEY (an AWX credential's file injectors) turn TLS on for tcp://,
    win over the file of the same role in cert_path, and are checked like cert_path's files."""
    files = cert_dir(tmp_path / "awx", "ca", "cert", "key")
    certs = cert_dir(tmp_path / "certs", "ca.pem", "cert.pem", "key.pem")
    monkeypatch.setenv("DOCKER_TLS_CA_CERT", str(files / "ca"))
    monkeypatch.setenv("DOCKER_TLS_CLIENT_CERT", str(files / "cert"))
    monkeypatch.setenv("DOCKER_TLS_CLIENT_KEY", str(files / "key"))
    for cert_path in (None, str(certs)):
        tls = connect_kwargs("tcp://h:2376", validate_certs=True, cert_path=cert_path)[1]["tls"]
        assert tls.ca_cert == str(files / "ca") and tls.cert == (str(files / "cert"), str(files / "key"))
    assert connect_kwargs("tcp://h:2376")[1]["tls"].cert == (str(files / "cert"), str(files / "key"))
    assert connect_kwargs("unix:///var/run/docker.sock")[1]["tls"] is False
    monkeypatch.delenv("DOCKER_TLS_CLIENT_KEY")
    with pytest.raises(DockerConfigError, match=r"needs both DOCKER_TLS_CLIENT_CERT and DOCKER_TLS_CLIENT_KEY"):
        connect_kwargs("tcp://h:2376")
    monkeypatch.delenv("DOCKER_TLS_CLIENT_CERT")
    monkeypatch.delenv("DOCKER_TLS_CA_CERT")
    monkeypatch.setenv("DOCKER_TLS_CLIENT_CERT", str(files / "cert"))
    monkeypatch.setenv("DOCKER_TLS_CLIENT_KEY", str(files / "key"))
    with pytest.raises(DockerConfigError, match=r"^validate_certs needs the CA certificate of the engine: set DOCKER_TLS_CA_CERT"):
        connect_kwargs("tcp://h:2376", validate_certs=True)
    monkeypatch.setenv("DOCKER_TLS_CA_CERT", str(tmp_path / "gone"))
    with pytest.raises(DockerConfigError, match=r"^DOCKER_TLS_CA_CERT: .*/gone is not a readable file"):
        connect_kwargs("tcp://h:2376", validate_certs=True)


def test_cert_path_must_be_a_directory(tmp_path):
    with pytest.raises(DockerConfigError, match=r"^cert_path .*/nowhere is not a directory"):
        connect_kwargs("tcp://h:2376", tls=True, cert_path=str(tmp_path / "nowhere"))


def test_unreadable_cert_file_is_named(tmp_path):
    certs = cert_dir(tmp_path / "certs", "ca.pem", "key.pem")
    (certs / "cert.pem").mkdir()  # a directory where a file should be
    with pytest.raises(DockerConfigError, match=r"^cert_path: .*/cert.pem is not a readable file"):
        connect_kwargs("tcp://h:2376", validate_certs=True, cert_path=str(certs))


@pytest.mark.parametrize("url, message", [
    ("ftp://h", "docker_host 'ftp://h' is not supported: use unix:///path/to/docker.sock"),
    ("/var/run/docker.sock", "docker_host '/var/run/docker.sock' is not supported"),
    ("tcp://h", "docker_host 'tcp://h': Invalid bind address format: port is required"),
])
def test_unusable_docker_host(url, message):
    with pytest.raises(DockerConfigError) as err:
        connect_kwargs(url)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize("given, version", [("auto", "auto"), ("AUTO", "auto"), ("1.41", "1.41"), ("v1.45", "1.45"), (None, "auto")])
def test_api_version(given, version):
    assert connect_kwargs(api_version=given)[1]["version"] == version


@pytest.mark.parametrize("given, message", [("latest", "api_version 'latest': use auto"), ("1.12", "api_version 1.12 is below 1.24")])
def test_bad_api_version(given, message):
    with pytest.raises(DockerConfigError, match="^" + message):
        connect_kwargs(api_version=given)


def test_timeout():
    assert connect_kwargs(timeout=2.5)[1]["timeout"] == 2.5 and DockerClient(timeout=7).timeout == 7.0
    with pytest.raises(DockerConfigError, match="^docker_timeout must be more than 0"):
        connect_kwargs(timeout=0)


def test_ssh_needs_paramiko_or_the_ssh_command(monkeypatch, tmp_path):
    try:
        import paramiko  # noqa: F401  pylint: disable=unused-import
    except ImportError:
        with pytest.raises(DockerConfigError, match=r"^docker_host ssh://ops@engine: ssh:// needs the paramiko .*use_ssh_client=true"):
            connect_kwargs("ssh://ops@engine")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "ssh").write_text("#!/bin/sh\nexit 255\n")
    (fake_bin / "ssh").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    url, kwargs = connect_kwargs("ssh://ops@engine:2222", use_ssh_client=True)
    assert url == "ssh://ops@engine:2222" and kwargs["use_ssh_client"] is True and kwargs["tls"] is False
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DockerConfigError, match="use_ssh_client=true needs the ssh command"):
        connect_kwargs("ssh://ops@engine", use_ssh_client=True)


def test_construction_does_not_contact_the_engine_and_an_absent_one_is_status_0(tmp_path):
    client = DockerClient("unix://%s" % (tmp_path / "missing.sock"), timeout=1)  # no error yet: negotiation is lazy
    with pytest.raises(DockerError) as err:
        client.ping()
    assert err.value.status == 0 and not isinstance(err.value, DockerConfigError)
    assert str(err.value) == ("Docker engine at unix://%s/missing.sock did not answer GET /version (API version "
                              "negotiation): [Errno 2] No such file or directory" % tmp_path)
    with pytest.raises(DockerError, match="/missing.sock did not answer GET /containers/json"):
        DockerClient("unix://%s" % (tmp_path / "missing.sock"), api_version="1.41").containers()


def run_module_env(name, args, env):
    """tests.ansible.run_module with extra environment variables (PYTHONPATH first)."""
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args})
    full = dict(os.environ, **env)
    full["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), COLLECTIONS) if p)
    res = subprocess.run([sys.executable, "-m", "ansible_collections.incident.response.plugins.modules." + name],
                         input=payload, capture_output=True, text=True, timeout=60, env=full, check=False)
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise AssertionError("no JSON from %s (rc %d): %s %s" % (name, res.returncode, res.stdout, res.stderr))


def test_module_fails_on_a_missing_cert_file_before_contacting_the_engine(tmp_path):
    certs = cert_dir(tmp_path / "certs", "cert.pem", "key.pem")
    res = run_module_env("service_state", dict(container="anything", state="stopped", docker_host="tcp://127.0.0.1:1",
                                               validate_certs=True, cert_path=str(certs)), {})
    assert res["failed"] and "exception" not in res
    assert res["msg"] == ("Docker connection options: validate_certs needs the CA certificate of the engine: "
                          "%s/ca.pem not found (cert_path %s)" % (certs, certs))


def test_module_without_the_docker_sdk_says_so(tmp_path):
    hidden = tmp_path / "no-sdk" / "docker"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError(\"No module named 'docker' (hidden by the test)\")\n")
    res = run_module_env("service_info", dict(project="incident-lab"), {"PYTHONPATH": str(hidden.parent)})
    assert res["failed"] and res["msg"].startswith("Failed to import the required Python library (docker) on ")
    assert "Traceback" not in res["msg"]


def test_module_defaults_groups_name_existing_modules():
    import yaml  # pylint: disable=import-outside-toplevel
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    with open(os.path.join(root, "meta", "runtime.yml")) as fh:
        groups = yaml.safe_load(fh)["action_groups"]
    assert set(groups) == {"docker", "postgres", "redis", "k8s", "http"}
    modules = set(f[:-3] for f in os.listdir(os.path.join(root, "plugins", "modules")) if f.endswith(".py"))
    for name, members in groups.items():
        assert set(members) <= modules, (name, set(members) - modules)
    for module in groups["docker"]:
        with open(os.path.join(root, "plugins", "modules", module + ".py")) as fh:
            source = fh.read()
        # the engine options: in the spec (directly or through compose.action_module) and documented by the
        # fragment; ansible-test validate-modules proves spec and documentation agree
        assert ("DOCKER_ARGSPEC" in source or "action_module(" in source), module
        assert "incident.response.actions\n" in source, module
