# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's Docker Engine client: a thin wrapper over the Docker SDK's low-level `APIClient`.

The SDK does the transport: unix sockets (Docker or Podman), tcp:// with or without TLS, ssh://,
connection pooling and API version negotiation (one GET /version per client, on its first call).
This module keeps the interface the modules were written against, turns every SDK or connection
error into `DockerError(status)` naming the engine, and hand-writes only what the SDK does not do
the way incident response needs (see docs/DESIGN.md): stream-id demultiplexing of log and exec
streams that honours the read timeout. Compose services are found by the labels docker-compose and
`docker compose` both set (com.docker.compose.project/service)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import shutil
import socket
import ssl
import struct
import threading
import traceback

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2 is not supported; keeps sanity's py2 compile happy
    from urllib import quote  # type: ignore

from ansible.module_utils.basic import env_fallback, missing_required_lib
from ansible.module_utils.parsing.convert_bool import boolean

try:
    import docker
    import requests.adapters
    import requests.exceptions
    from docker.errors import APIError, DockerException
    from docker.tls import TLSConfig
except ImportError:  # the module fails with missing_required_lib('docker') when it needs the engine
    HAS_DOCKER_SDK = False
    DOCKER_SDK_IMPORT_ERROR = traceback.format_exc()

    class DockerException(Exception):  # type: ignore  # placeholders so the except clauses below stay valid
        pass

    class APIError(DockerException):  # type: ignore
        pass
else:
    HAS_DOCKER_SDK = True
    DOCKER_SDK_IMPORT_ERROR = None

if HAS_DOCKER_SDK:
    class _APIClient(docker.APIClient):
        """docker.APIClient whose TLS settings win over REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE.

        requests lets those variables override a session's `verify` (psf/requests#3829), so the engine's
        ca.pem, or validate_certs=false, would be ignored wherever they are set (many CI images set them)."""

        def merge_environment_settings(self, url, proxies, stream, verify, cert):
            settings = super(_APIClient, self).merge_environment_settings(url, proxies, stream, verify, cert)
            if verify is None and self.verify is not True:
                settings["verify"] = self.verify
            return settings

    class _TLSConfig(TLSConfig):
        """docker.tls.TLSConfig that also sizes the HTTPS connection pool like the unix socket's (the SDK leaves
        requests' default of 10), before the client's first request (the version negotiation)."""

        def configure_client(self, client):
            super(_TLSConfig, self).configure_client(client)
            client.mount("https://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE))

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 30.0
MIN_API_VERSION = "1.24"  # the SDK's floor
POOL_SIZE = 32  # connections kept per engine: diag_docker fans out 16 calls at once, restarts one per replica
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"

# Documented by the incident.response.actions doc fragment (DOCUMENTATION). Option names and environment
# variables are the Docker CLI's and community.docker's.
DOCKER_ARGSPEC = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST, fallback=(env_fallback, ["DOCKER_HOST"])),
    tls=dict(type="bool", default=False, fallback=(env_fallback, ["DOCKER_TLS"])),
    validate_certs=dict(type="bool", default=False, fallback=(env_fallback, ["DOCKER_TLS_VERIFY"]), aliases=["tls_verify"]),
    cert_path=dict(type="path", fallback=(env_fallback, ["DOCKER_CERT_PATH"])),
    api_version=dict(type="str", default="auto", fallback=(env_fallback, ["DOCKER_API_VERSION"])),
    use_ssh_client=dict(type="bool", default=False),
    docker_timeout=dict(type="float", default=DEFAULT_TIMEOUT),
)


class DockerError(Exception):
    """An Engine API call failed; `status` is the HTTP status (0 when the engine did not answer,
    or when the connection options are wrong and it was never asked)."""

    def __init__(self, message, status=0):
        super(DockerError, self).__init__(message)
        self.status = status


class DockerConfigError(DockerError):
    """The connection options cannot work (unsupported URL, missing certificate file...)."""


def _env_flag(environ, name):
    value = environ.get(name)
    return boolean(value, strict=False) if value not in (None, "") else False


def connect_kwargs(docker_host=None, timeout=DEFAULT_TIMEOUT, tls=None, validate_certs=None, cert_path=None,
                   api_version=None, use_ssh_client=False, environ=None):
    """(effective engine URL, keyword arguments for docker.APIClient) for these connection options.

    An option left as None comes from the environment as the Docker CLI reads it (DOCKER_HOST, DOCKER_TLS,
    DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION), else the default; modules get the same through
    DOCKER_ARGSPEC's env_fallback. Raises DockerConfigError, naming the option, for settings that cannot work.
    TLS (tcp:// only) is on with `tls`, `validate_certs`, a `cert_path` or an https:// URL; `validate_certs`
    checks the engine's certificate against cert_path/ca.pem (the system CAs without a cert_path), and
    cert_path/cert.pem + key.pem, when present, are the client certificate."""
    environ = os.environ if environ is None else environ
    url = (docker_host or environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST).strip()
    tls = _env_flag(environ, "DOCKER_TLS") if tls is None else bool(tls)
    validate_certs = _env_flag(environ, "DOCKER_TLS_VERIFY") if validate_certs is None else bool(validate_certs)
    explicit_certs = cert_path or environ.get("DOCKER_CERT_PATH") or None
    api_version = (api_version or environ.get("DOCKER_API_VERSION") or "auto").strip()
    if not HAS_DOCKER_SDK:
        raise DockerConfigError("the Docker SDK for Python (docker) is not installed: %s" % missing_required_lib("docker"))
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("unix", "tcp", "http", "https", "ssh"):
        raise DockerConfigError("docker_host %r is not supported: use unix:///path/to/docker.sock (Docker or Podman), "
                                "tcp://host:port (TLS with tls/validate_certs) or ssh://user@host" % url)
    if api_version.lower() == "auto":
        version = "auto"
    elif re.match(r"^v?\d+\.\d+$", api_version):
        version = api_version.lstrip("v")
        if tuple(int(x) for x in version.split(".")) < tuple(int(x) for x in MIN_API_VERSION.split(".")):
            raise DockerConfigError("api_version %s is below %s, the oldest the Docker SDK speaks" % (version, MIN_API_VERSION))
    else:
        raise DockerConfigError("api_version %r: use auto (negotiate with the engine) or a version such as 1.41" % api_version)
    try:
        timeout = float(timeout if timeout is not None else DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        raise DockerConfigError("docker_timeout %r is not a number of seconds" % (timeout,))
    if timeout <= 0:
        raise DockerConfigError("docker_timeout must be more than 0 seconds, not %s" % timeout)
    try:
        docker.utils.parse_host(url, False, tls=scheme == "https")
    except DockerException as exc:
        raise DockerConfigError("docker_host %r: %s" % (url, exc))
    kwargs = dict(base_url=url, version=version, timeout=timeout, tls=False, max_pool_size=POOL_SIZE)
    env_files = _tls_files_from_env(environ) if scheme in ("tcp", "http", "https") else {}
    if scheme in ("tcp", "http", "https") and (tls or validate_certs or explicit_certs or env_files or scheme == "https"):
        kwargs["tls"] = _tls_config(validate_certs, explicit_certs, environ, env_files)
    elif scheme == "ssh":
        if use_ssh_client:
            if not shutil.which("ssh"):
                raise DockerConfigError("docker_host %s with use_ssh_client=true needs the ssh command, which is not "
                                        "on PATH" % url)
            kwargs["use_ssh_client"] = True
        else:
            try:
                import paramiko  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
            except ImportError:
                raise DockerConfigError("docker_host %s: ssh:// needs the paramiko Python library on the host the module "
                                        "runs on, or use_ssh_client=true to go through the ssh command (%s)"
                                        % (url, missing_required_lib("paramiko")))
    return url, kwargs


TLS_FILE_VARIABLES = (("ca", "DOCKER_TLS_CA_CERT"), ("cert", "DOCKER_TLS_CLIENT_CERT"), ("key", "DOCKER_TLS_CLIENT_KEY"))


def _tls_files_from_env(environ):
    """{ca, cert, key: path} named one by one by DOCKER_TLS_CA_CERT, DOCKER_TLS_CLIENT_CERT and DOCKER_TLS_CLIENT_KEY:
    what an AWX credential's file injectors give (a temporary file each, no cert_path directory). Each one wins over
    the file of the same role in cert_path."""
    files = {}
    for role, name in TLS_FILE_VARIABLES:
        path = (environ.get(name) or "").strip()
        if path:
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise DockerConfigError("%s: %s is not a readable file" % (name, path))
            files[role] = path
    return files


def _tls_config(validate_certs, explicit_certs, environ, env_files=None):
    """docker.tls.TLSConfig from cert_path (ca.pem, cert.pem, key.pem) and the DOCKER_TLS_* files, checking the
    files first."""
    env_files = env_files or {}
    where = explicit_certs
    if where:
        where = os.path.expanduser(where)
        if not os.path.isdir(where):
            raise DockerConfigError("cert_path %s is not a directory: it should hold ca.pem, and cert.pem + key.pem "
                                    "for a client certificate (as DOCKER_CERT_PATH)" % where)
    else:  # like the Docker CLI: ~/.docker when nothing is given, but only the files that are there
        home = os.path.join(os.path.expanduser(environ.get("HOME") or "~"), ".docker")
        where = home if os.path.isdir(home) else None

    def present(name):
        path = os.path.join(where, name) if where else None
        if path and os.path.exists(path):
            if not os.path.isfile(path) or not os.access(path, os.R_OK):
                raise DockerConfigError("cert_path: %s is not a readable file" % path)
            return path
        return None

    cert, key, ca = present("cert.pem"), present("key.pem"), present("ca.pem")
    if explicit_certs and bool(cert) != bool(key) and not env_files:
        raise DockerConfigError("cert_path %s has %s but no %s: a client certificate needs both cert.pem and key.pem"
                                % (where, "cert.pem" if cert else "key.pem", "key.pem" if cert else "cert.pem"))
    cert, key, ca = env_files.get("cert", cert), env_files.get("key", key), env_files.get("ca", ca)
    if env_files and bool(cert) != bool(key):
        raise DockerConfigError("a client certificate needs both DOCKER_TLS_CLIENT_CERT and DOCKER_TLS_CLIENT_KEY "
                                "(or cert.pem and key.pem in cert_path); only the %s is given" % ("certificate" if cert else "key"))
    if validate_certs and env_files and not ca:
        raise DockerConfigError("validate_certs needs the CA certificate of the engine: set DOCKER_TLS_CA_CERT "
                                "(or ca.pem in cert_path)")
    if validate_certs and explicit_certs and not ca:
        raise DockerConfigError("validate_certs needs the CA certificate of the engine: %s not found (cert_path %s)"
                                % (os.path.join(where, "ca.pem"), where))
    try:
        return _TLSConfig(client_cert=(cert, key) if cert and key else None,
                          ca_cert=ca if validate_certs else None, verify=bool(validate_certs))
    except DockerException as exc:
        raise DockerConfigError("cert_path %s: %s" % (where or ", ".join(sorted(env_files.values())), exc))


def _reason(exc, timeout=None):
    """The root cause of a transport error, in a line (e.g. '[Errno 111] Connection refused')."""
    if isinstance(exc, socket.timeout) or (HAS_DOCKER_SDK and isinstance(exc, requests.exceptions.Timeout)):
        return "no answer within %ss" % timeout if timeout else "timed out"
    seen, todo = set(), [exc]
    while todo:
        err = todo.pop(0)
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ssl.SSLError):
            return "TLS: %s" % err
        if isinstance(err, socket.timeout):
            return "no answer within %ss" % timeout if timeout else "timed out"
        if isinstance(err, OSError) and err.errno:
            return str(err)
        todo.extend(a for a in getattr(err, "args", ()) if isinstance(a, BaseException))
        todo.extend(e for e in (getattr(err, "reason", None), err.__cause__, err.__context__) if isinstance(e, BaseException))
    return str(exc)


class DockerClient(object):
    """One engine, one connection pool, one API version negotiation (lazily, on the first call).

    Options left as None come from the environment (see connect_kwargs). Wrong options raise
    DockerConfigError here; an engine that does not answer is a DockerError(status 0) of the call."""

    def __init__(self, docker_host=None, timeout=DEFAULT_TIMEOUT, tls=None, validate_certs=None, cert_path=None,
                 api_version=None, use_ssh_client=False):
        self.docker_host, self._kwargs = connect_kwargs(docker_host, timeout, tls, validate_certs, cert_path,
                                                        api_version, use_ssh_client)
        self.timeout = self._kwargs["timeout"]
        self._api = None
        self._lock = threading.Lock()

    @classmethod
    def from_module(cls, module):
        """The client for a module's DOCKER_ARGSPEC options; fails the module on a missing SDK or wrong options.

        Sets module.params['docker_host'] to the effective engine URL, which the modules' messages print."""
        p = module.params
        if not HAS_DOCKER_SDK:
            module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_SDK_IMPORT_ERROR)
        try:
            client = cls(p.get("docker_host"), p.get("docker_timeout"), tls=p.get("tls"),
                         validate_certs=p.get("validate_certs"), cert_path=p.get("cert_path"),
                         api_version=p.get("api_version"), use_ssh_client=p.get("use_ssh_client"))
        except DockerError as exc:
            module.fail_json(msg="Docker connection options: %s" % exc)
        p["docker_host"] = client.docker_host
        return client

    # -- transport -------------------------------------------------------------------------
    def _client(self):
        """The SDK client, created (and the API version negotiated) on first use; thread-safe."""
        api = self._api
        if api is None:
            with self._lock:
                if self._api is None:
                    self._api = self._connect()
                api = self._api
        return api

    def _connect(self):
        kwargs = self._kwargs
        tls = kwargs.get("tls")
        if tls and not tls.verify:  # the user chose TLS without verification (tls, no validate_certs): no warning per call
            import urllib3  # pylint: disable=import-outside-toplevel
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        try:
            api = _APIClient(**kwargs)
        except DockerException as exc:  # version negotiation (GET /version) failed, or the transport cannot start
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, APIError):
                raise DockerError("Docker engine at %s refused GET /version (API version negotiation): HTTP %s %s"
                                  % (self.docker_host, cause.status_code, cause.explanation or ""), cause.status_code or 0)
            raise DockerError("Docker engine at %s did not answer GET /version (API version negotiation): %s"
                              % (self.docker_host, _reason(cause or exc, self.timeout)))
        if api.base_url.startswith("http://"):  # plain tcp://: requests' default pool holds 10 connections
            api.mount("http://", requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=POOL_SIZE))
        return api

    def _unanswered(self, what, exc, timeout=None):
        return DockerError("Docker engine at %s did not answer %s: %s"
                           % (self.docker_host, what, _reason(exc, timeout or self.timeout)))

    def _http_error(self, what, status, message):
        return DockerError("%s: HTTP %d %s (Docker engine at %s)" % (what, status, (message or "").strip(), self.docker_host),
                           status)

    def _sdk(self, what, fn):
        """Run fn(api) (an SDK call); SDK and transport errors become DockerError naming `what` and the engine."""
        api = self._client()
        try:
            return fn(api)
        except APIError as exc:
            raise self._http_error(what, exc.status_code or 0, exc.explanation or str(exc))
        except (requests.exceptions.RequestException, OSError) as exc:
            raise self._unanswered(what, exc)
        except DockerException as exc:  # e.g. a feature the negotiated API version lacks
            raise DockerError("%s: %s (Docker engine at %s, API %s)" % (what, exc, self.docker_host, api.api_version))

    def _request(self, method, path, query=None, body=None, timeout=None, stream=False):
        """One HTTP request through the SDK's session (its adapters, TLS and negotiated version)."""
        api = self._client()
        timeout = timeout or self.timeout
        kwargs = dict(timeout=timeout, stream=stream,
                      params=dict((k, v) for k, v in (query or {}).items() if v is not None))
        if body is not None:
            kwargs.update(data=json.dumps(body), headers={"Content-Type": "application/json"})
        try:
            return api.request(method, "%s/v%s%s" % (api.base_url, api.api_version, path), **kwargs)
        except requests.exceptions.RequestException as exc:
            raise self._unanswered("%s %s" % (method, path), exc, timeout)

    def raw(self, method, path, query=None, body=None, timeout=None):
        """Return (status, bytes). Raises DockerError when the engine cannot be reached."""
        resp = self._request(method, path, query, body, timeout, stream=True)
        try:
            return resp.status_code, resp.content
        except (requests.exceptions.RequestException, OSError) as exc:
            raise self._unanswered("%s %s" % (method, path), exc, timeout)
        finally:
            resp.close()

    def call(self, method, path, query=None, body=None, timeout=None, ok=(200, 201, 204, 304)):
        status, data = self.raw(method, path, query, body, timeout)
        if status not in ok:
            try:
                message = json.loads(data.decode("utf-8")).get("message", "")
            except (ValueError, AttributeError):
                message = data.decode("utf-8", "replace")
            raise self._http_error("%s %s" % (method, path), status, message)
        if not data:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            return data

    # -- containers ------------------------------------------------------------------------
    def ping(self):
        return self._sdk("GET /_ping", lambda api: api.ping())

    def containers(self, project=None, service=None, name=None, all_states=True, labels=None):
        """Containers matching a compose project/service, a name, and extra labels (list of dicts)."""
        filters = {}
        wanted = list(labels or [])
        if project:
            wanted.append("%s=%s" % (PROJECT_LABEL, project))
        if service:
            wanted.append("%s=%s" % (SERVICE_LABEL, service))
        if wanted:
            filters["label"] = wanted
        if name:
            filters["name"] = [name]
        found = self._sdk("GET /containers/json", lambda api: api.containers(all=all_states, filters=filters))
        if name:  # the name filter is a substring match; keep exact matches (or an id prefix)
            found = [c for c in found if "/" + name in c.get("Names", []) or c["Id"].startswith(name)] or found
        return sorted(found, key=lambda c: (c.get("Labels", {}).get(SERVICE_LABEL, ""),
                                            int(c.get("Labels", {}).get(NUMBER_LABEL, "0") or 0), c["Names"]))

    def inspect(self, container_id):
        return self._sdk("GET /containers/%s/json" % container_id, lambda api: api.inspect_container(container_id))

    def stats(self, container_id):
        """One stats sample without waiting for the second one (one-shot when the engine speaks API >= 1.41)."""
        def sample(api):
            if _version_tuple(api.api_version) >= (1, 41):
                return api.stats(container_id, stream=False, one_shot=True)
            return api.stats(container_id, stream=False)
        return self._sdk("GET /containers/%s/stats" % container_id, sample)

    def logs(self, container_id, since=None, tail=200, timestamps=False):
        """Log lines (stdout and stderr interleaved in order) as a list of text lines."""
        query = {"stdout": "1", "stderr": "1", "tail": str(tail), "timestamps": "1" if timestamps else "0"}
        if since:
            query["since"] = str(int(since))
        path = "/containers/%s/logs" % quote(container_id)
        status, data = self.raw("GET", path, query)
        if status != 200:
            raise self._http_error("GET " + path, status, _message(data))
        return demux(data).decode("utf-8", "replace").splitlines()

    def action(self, container_id, verb, query=None, timeout=None):
        """start, stop, restart, kill, pause, unpause (304 'already in that state' counts as done).

        Through the SDK's typed methods, whose request timeout is docker_timeout (+ t for stop/restart, as the
        callers compute it). Another verb, or a query they do not take, is a plain request with `timeout`."""
        rest = dict(query or {})
        t, signal = rest.pop("t", None), rest.pop("signal", None)
        method, kwargs = None, {}
        if verb in ("start", "pause", "unpause") and t is None and signal is None:
            method = verb
        elif verb == "kill" and t is None:
            method, kwargs = "kill", dict(signal=signal)
        elif verb == "stop" and signal is None:
            method, kwargs = "stop", dict(timeout=None if t is None else int(t))
        elif verb == "restart" and signal is None and t is not None:
            method, kwargs = "restart", dict(timeout=int(t))
        if rest or method is None:
            return self.call("POST", "/containers/%s/%s" % (quote(container_id), verb), query, timeout=timeout)
        return self._sdk("POST /containers/%s/%s" % (container_id, verb),
                         lambda api: getattr(api, method)(container_id, **kwargs))

    def exec_run(self, container_id, argv, timeout=None, env=None, user=None):
        """Run argv (a list, never a shell string) in the container; return (exit_code, output_text)."""
        exec_id = self._exec_create(container_id, argv, env, user)
        path = "/exec/%s/start" % exec_id
        status, data = self.raw("POST", path, body={"Detach": False, "Tty": False}, timeout=timeout)
        if status != 200:
            raise self._http_error("POST %s (exec in %s)" % (path, container_id), status, _message(data))
        return self.exec_exit_code(exec_id), demux(data).decode("utf-8", "replace")

    def _exec_create(self, container_id, argv, env, user):
        environment = ["%s=%s" % kv for kv in sorted(env.items())] if env else None
        created = self._sdk("POST /containers/%s/exec" % container_id,
                            lambda api: api.exec_create(container_id, list(argv), stdout=True, stderr=True, tty=False,
                                                        environment=environment, user=user or ""))
        return created["Id"]

    # -- images ----------------------------------------------------------------------------
    def image(self, ref):
        return self._sdk("GET /images/%s/json" % ref, lambda api: api.inspect_image(ref))

    def images(self, reference=None):
        filters = {"reference": [reference]} if reference else None
        return self._sdk("GET /images/json", lambda api: api.images(filters=filters))

    # -- create / remove (rollback recreates a container from its inspected config) ----------
    def create_container(self, name, config, host_config, networking_config=None):
        """Create a container (Config fields at the top level, as the Engine API wants); return its id."""
        body = dict(config, HostConfig=host_config)
        if networking_config:
            body["NetworkingConfig"] = networking_config
        return self._sdk("POST /containers/create?name=%s" % name,
                         lambda api: api.create_container_from_config(body, name=name))["Id"]

    def remove_container(self, container_id, force=False):
        return self._sdk("DELETE /containers/%s" % container_id, lambda api: api.remove_container(container_id, force=force))

    def rename_container(self, container_id, new_name):
        return self._sdk("POST /containers/%s/rename" % container_id, lambda api: api.rename(container_id, new_name))

    def connect_network(self, network, container_id, endpoint_config=None):
        # a plain request: the SDK rebuilds EndpointConfig from keyword arguments and would drop IPAMConfig/Links
        # as the engine reported them
        return self.call("POST", "/networks/%s/connect" % quote(network, safe=""),
                         body={"Container": container_id, "EndpointConfig": endpoint_config or {}})

    # -- streaming (evidence capture: logs and dumps are written as they arrive, never held whole) --
    def stream_raw(self, method, path, query=None, body=None, timeout=None, chunk_size=65536):
        """Yield the response body in chunks; raises DockerError on a non-200 answer.

        `timeout` (default docker_timeout) bounds each read, not the whole stream."""
        resp = self._request(method, path, query, body, timeout, stream=True)
        try:
            if resp.status_code != 200:
                raise self._http_error("%s %s" % (method, path), resp.status_code, _message(resp.raw.read(300)))
            for chunk in resp.iter_content(chunk_size):
                if chunk:
                    yield chunk
        except (requests.exceptions.RequestException, OSError) as exc:
            raise self._unanswered("%s %s" % (method, path), exc, timeout)
        finally:
            resp.close()

    def stream_logs(self, container_id, since=None, timestamps=True, tty=False):
        """Yield (stream, bytes) log frames (1 stdout, 2 stderr; 0 for a TTY container) in order."""
        query = {"stdout": "1", "stderr": "1", "timestamps": "1" if timestamps else "0"}
        if since:
            query["since"] = str(int(since))
        chunks = self.stream_raw("GET", "/containers/%s/logs" % quote(container_id), query)
        return ((0, c) for c in chunks) if tty else demux_stream(chunks)

    def exec_stream(self, container_id, argv, env=None, user=None, timeout=None):
        """Run argv in the container; return (exec_id, generator of (stream, bytes) frames).

        Read the exit code with exec_exit_code(exec_id) once the generator is exhausted."""
        exec_id = self._exec_create(container_id, argv, env, user)
        chunks = self.stream_raw("POST", "/exec/%s/start" % exec_id, body={"Detach": False, "Tty": False},
                                 timeout=timeout)
        return exec_id, demux_stream(chunks)

    def exec_exit_code(self, exec_id):
        return self._sdk("GET /exec/%s/json" % exec_id, lambda api: api.exec_inspect(exec_id)).get("ExitCode")

    def cli_environment(self):
        """Environment variables that point the docker / compose CLIs at this same engine (URL and TLS files)."""
        env = {"DOCKER_HOST": self.docker_host}
        tls = self._kwargs.get("tls")
        if tls:
            env["DOCKER_TLS"] = "1"
            if tls.verify:
                env["DOCKER_TLS_VERIFY"] = "1"
            files = [f for f in list(tls.cert or ()) + [tls.ca_cert] if f]
            if files:
                env["DOCKER_CERT_PATH"] = os.path.dirname(files[0])
        return env


def _version_tuple(version):
    try:
        return tuple(int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return (0, 0)


def _message(data):
    """The engine's error message from an error body (JSON {"message": ...} or text)."""
    try:
        return json.loads(data.decode("utf-8")).get("message", "")
    except (ValueError, AttributeError):
        return (data or b"").decode("utf-8", "replace")


def demux(data):
    """Strip the 8-byte stream headers of a non-TTY attach/logs stream; pass TTY output through."""
    if len(data) < 8 or data[0:1] not in (b"\x00", b"\x01", b"\x02") or data[1:4] != b"\x00\x00\x00":
        return data
    out, pos = [], 0
    while pos + 8 <= len(data):
        size = struct.unpack(">I", data[pos + 4:pos + 8])[0]
        out.append(data[pos + 8:pos + 8 + size])
        pos += 8 + size
    return b"".join(out)


def container_summary(info):
    """The facts a responder reads first, from one `inspect` result."""
    state = info.get("State", {})
    labels = info.get("Config", {}).get("Labels") or {}
    health = state.get("Health") or {}
    return dict(
        id=info["Id"][:12],
        name=info.get("Name", "").lstrip("/"),
        service=labels.get(SERVICE_LABEL),
        project=labels.get(PROJECT_LABEL),
        status=state.get("Status"),
        running=bool(state.get("Running")),
        paused=bool(state.get("Paused")),
        restarting=bool(state.get("Restarting")),
        health=health.get("Status") or "none",
        exit_code=state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        error=state.get("Error") or None,
        restart_count=info.get("RestartCount", 0),
        restart_policy=(info.get("HostConfig", {}).get("RestartPolicy") or {}).get("Name") or "no",
        started_at=state.get("StartedAt"),
        finished_at=state.get("FinishedAt"),
        image=info.get("Config", {}).get("Image"),
        image_id=info.get("Image"),
        memory_limit_bytes=info.get("HostConfig", {}).get("Memory") or None,
    )


def stats_summary(stats):
    """CPU percent and memory from one one-shot stats sample (uses precpu when the engine gives it)."""
    try:
        cpu = stats["cpu_stats"]
        pre = stats.get("precpu_stats") or {}
        cpu_delta = cpu["cpu_usage"]["total_usage"] - (pre.get("cpu_usage") or {}).get("total_usage", 0)
        sys_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        cpus = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [1])
        cpu_percent = round(100.0 * cpu_delta / sys_delta * cpus, 2) if sys_delta > 0 and pre else None
    except (KeyError, TypeError):
        cpu_percent = None
    mem = stats.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is not None:
        usage -= (mem.get("stats") or {}).get("inactive_file", 0)
    limit = mem.get("limit")
    return dict(cpu_percent=cpu_percent, memory_bytes=usage, memory_limit_bytes=limit,
                memory_percent=round(100.0 * usage / limit, 2) if usage is not None and limit else None)


def demux_stream(chunks):
    """Incrementally split Docker's multiplexed stream (8-byte frame headers) into (stream, bytes)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        while len(buf) >= 8:
            stream, size = buf[0], struct.unpack(">I", buf[4:8])[0]
            if len(buf) < 8 + size:
                break
            yield stream, buf[8:8 + size]
            buf = buf[8 + size:]
    if buf:
        yield 0, buf
