# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small Docker Engine API client over the unix socket, standard library only.

One HTTP round-trip per call, no docker SDK needed on the target. Compose services are found by
the labels docker-compose and `docker compose` both set (com.docker.compose.project/service)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import socket
import struct

try:
    from http.client import HTTPConnection
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported; keeps sanity's py2 compile happy
    from httplib import HTTPConnection  # type: ignore
    from urllib import quote, urlencode  # type: ignore

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
API_VERSION = "v1.41"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NUMBER_LABEL = "com.docker.compose.container-number"

DOCKER_ARGSPEC = dict(
    docker_host=dict(type="str", default=DEFAULT_DOCKER_HOST),
    docker_timeout=dict(type="float", default=30.0),
)


class DockerError(Exception):
    """An Engine API call failed; `status` is the HTTP status (0 when the engine did not answer)."""

    def __init__(self, message, status=0):
        super(DockerError, self).__init__(message)
        self.status = status


class _UnixConnection(HTTPConnection):
    def __init__(self, path, timeout):
        HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerClient(object):
    def __init__(self, docker_host=DEFAULT_DOCKER_HOST, timeout=30.0):
        if not docker_host.startswith("unix://"):
            raise DockerError("docker_host %r is not supported: use unix:///path/to/docker.sock" % docker_host)
        self.socket_path = docker_host[len("unix://"):]
        self.timeout = timeout

    @classmethod
    def from_module(cls, module):
        return cls(module.params["docker_host"], module.params["docker_timeout"])

    # -- transport -------------------------------------------------------------------------
    def _open(self, method, path, query=None, body=None, timeout=None):
        """Send one request; return (connection, response). The caller reads and closes."""
        url = "/%s%s" % (API_VERSION, path)
        if query:
            url += "?" + urlencode(dict((k, v) for k, v in query.items() if v is not None))
        conn = _UnixConnection(self.socket_path, timeout or self.timeout)
        headers = {"Host": "docker"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, url, body=data, headers=headers)
            return conn, conn.getresponse()
        except (OSError, socket.error) as exc:
            conn.close()
            raise self._unanswered(method, path, exc)

    def _unanswered(self, method, path, exc):
        return DockerError("Docker engine at %s did not answer %s %s: %s" % (self.socket_path, method, path, exc))

    def raw(self, method, path, query=None, body=None, timeout=None):
        """Return (status, bytes). Raises DockerError when the engine cannot be reached."""
        conn, resp = self._open(method, path, query, body, timeout)
        try:
            return resp.status, resp.read()
        except (OSError, socket.error) as exc:
            raise self._unanswered(method, path, exc)
        finally:
            conn.close()

    def call(self, method, path, query=None, body=None, timeout=None, ok=(200, 201, 204, 304)):
        status, data = self.raw(method, path, query, body, timeout)
        if status not in ok:
            try:
                message = json.loads(data.decode("utf-8")).get("message", "")
            except ValueError:
                message = data.decode("utf-8", "replace")
            raise DockerError("%s %s: HTTP %d %s" % (method, path, status, message.strip()), status)
        if not data:
            return None
        try:
            return json.loads(data.decode("utf-8"))
        except ValueError:
            return data

    # -- containers ------------------------------------------------------------------------
    def ping(self):
        return self.call("GET", "/_ping") is not None

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
        found = self.call("GET", "/containers/json",
                          {"all": "1" if all_states else "0", "filters": json.dumps(filters)})
        if name:  # the name filter is a substring match; keep exact matches (or an id prefix)
            found = [c for c in found if "/" + name in c.get("Names", []) or c["Id"].startswith(name)] or found
        return sorted(found, key=lambda c: (c.get("Labels", {}).get(SERVICE_LABEL, ""),
                                            int(c.get("Labels", {}).get(NUMBER_LABEL, "0") or 0), c["Names"]))

    def inspect(self, container_id):
        return self.call("GET", "/containers/%s/json" % quote(container_id))

    def stats(self, container_id):
        """One stats sample without waiting for the second one (one-shot, API >= 1.41)."""
        return self.call("GET", "/containers/%s/stats" % quote(container_id), {"stream": "0", "one-shot": "1"})

    def logs(self, container_id, since=None, tail=200, timestamps=False):
        """Log lines (stdout and stderr interleaved in order) as a list of text lines."""
        query = {"stdout": "1", "stderr": "1", "tail": str(tail), "timestamps": "1" if timestamps else "0"}
        if since:
            query["since"] = str(int(since))
        status, data = self.raw("GET", "/containers/%s/logs" % quote(container_id), query)
        if status != 200:
            raise DockerError("GET logs of %s: HTTP %d" % (container_id, status), status)
        return demux(data).decode("utf-8", "replace").splitlines()

    def action(self, container_id, verb, query=None, timeout=None):
        """start, stop, restart, kill, pause, unpause (304 'already in that state' counts as done)."""
        return self.call("POST", "/containers/%s/%s" % (quote(container_id), verb), query, timeout=timeout)

    def exec_run(self, container_id, argv, timeout=None, env=None, user=None):
        """Run argv (a list, never a shell string) in the container; return (exit_code, output_text)."""
        spec = {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": list(argv)}
        if env:
            spec["Env"] = ["%s=%s" % kv for kv in sorted(env.items())]
        if user:
            spec["User"] = user
        created = self.call("POST", "/containers/%s/exec" % quote(container_id), body=spec)
        status, data = self.raw("POST", "/exec/%s/start" % created["Id"], body={"Detach": False, "Tty": False},
                                timeout=timeout)
        if status != 200:
            raise DockerError("exec in %s: HTTP %d %s" % (container_id, status, data[:200]), status)
        info = self.call("GET", "/exec/%s/json" % created["Id"])
        return info.get("ExitCode"), demux(data).decode("utf-8", "replace")

    # -- images ----------------------------------------------------------------------------
    def image(self, ref):
        return self.call("GET", "/images/%s/json" % quote(ref, safe=""))

    def images(self, reference=None):
        filters = {"reference": [reference]} if reference else {}
        return self.call("GET", "/images/json", {"filters": json.dumps(filters)})

    # -- create / remove (rollback recreates a container from its inspected config) ----------
    def create_container(self, name, config, host_config, networking_config=None):
        """Create a container (Config fields at the top level, as the Engine API wants); return its id."""
        body = dict(config, HostConfig=host_config)
        if networking_config:
            body["NetworkingConfig"] = networking_config
        return self.call("POST", "/containers/create", {"name": name}, body=body)["Id"]

    def remove_container(self, container_id, force=False):
        return self.call("DELETE", "/containers/%s" % quote(container_id), {"force": "1" if force else "0"})

    def rename_container(self, container_id, new_name):
        return self.call("POST", "/containers/%s/rename" % quote(container_id), {"name": new_name})

    def connect_network(self, network, container_id, endpoint_config=None):
        return self.call("POST", "/networks/%s/connect" % quote(network, safe=""),
                         body={"Container": container_id, "EndpointConfig": endpoint_config or {}})

    # -- streaming (evidence capture: logs and dumps are written as they arrive, never held whole) --
    def stream_raw(self, method, path, query=None, body=None, timeout=None, chunk_size=65536):
        """Yield the response body in chunks; raises DockerError on a non-200 answer."""
        conn, resp = self._open(method, path, query, body, timeout)
        try:
            if resp.status != 200:
                raise DockerError("%s %s: HTTP %d %s" % (method, path, resp.status, resp.read(300)), resp.status)
            while True:
                chunk = resp.read(chunk_size)
                if not chunk:
                    break
                yield chunk
        except (OSError, socket.error) as exc:
            raise self._unanswered(method, path, exc)
        finally:
            conn.close()

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
        spec = {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": list(argv)}
        if env:
            spec["Env"] = ["%s=%s" % kv for kv in sorted(env.items())]
        if user:
            spec["User"] = user
        exec_id = self.call("POST", "/containers/%s/exec" % quote(container_id), body=spec)["Id"]
        chunks = self.stream_raw("POST", "/exec/%s/start" % exec_id, body={"Detach": False, "Tty": False},
                                 timeout=timeout)
        return exec_id, demux_stream(chunks)

    def exec_exit_code(self, exec_id):
        return self.call("GET", "/exec/%s/json" % exec_id).get("ExitCode")


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
