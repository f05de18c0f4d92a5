"""pods/exec over WebSocket, as the API server and the kubelet serve it (stdlib only).

`GET|POST /api/v1/namespaces/NS/pods/NAME/exec?command=A&command=B&container=C&stdout=true&stderr=true`
with `Upgrade: websocket` and the `v5.channel.k8s.io` or `v4.channel.k8s.io` subprotocol: 101 Switching
Protocols, binary frames whose first byte is the channel (1 stdout, 2 stderr, 3 the error channel with a v1
Status: Success, or NonZeroExitCode with the exit code as the ExitCode cause, or InternalError when the command
cannot start), then a Close frame. The pod's "container" runs the argv on the HOST (no shell, stdin closed,
cwd /tmp, killed after TIMEOUT_S seconds and reported as exit code 137), so `psql`/`redis-cli` in a pod reach
the real local services.

Errors before the upgrade, as a real cluster gives them: 404 unknown pod; 400 `container x is not valid for
pod y`; 400 `a container name must be specified for pod y, choose one of: [...]` for a multi-container pod
without `container=` (the API server does no defaulting; kubectl does it from the
`kubectl.kubernetes.io/default-container` annotation); 400 `pod y does not have a host assigned`; 400
`Upgrade request required` without a WebSocket upgrade; the kubelet's 500 `container not found ("x")`
(text/plain) when the container is not running. RBAC (verb `create` on `pods/exec`) and authentication are
checked by api.py before this module is reached. SPDY (kubectl before 1.30) is not simulated."""
import base64
import hashlib
import json
import socket
import ssl
import struct
import subprocess
import threading
from urllib.parse import parse_qsl, urlsplit

from k8s_sim import core
from k8s_sim.core import LOCK, STORE, ApiError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDOUT, STDERR, ERROR = 1, 2, 3
TIMEOUT_S = 10.0
MAX_FRAME = 32 * 1024


class KubeletError(Exception):
    """An answer of the kubelet relayed by the API server before the upgrade: (code, text/plain body)."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code, self.text = code, text


def pick_container(pod, wanted):
    """The container name as the API server's streamLocation resolves it (no defaulting for several)."""
    name = pod["metadata"]["name"]
    containers = pod["spec"]["containers"]
    inits = pod["spec"].get("initContainers", [])
    ephemeral = pod["spec"].get("ephemeralContainers", [])
    if not wanted:
        if len(containers) == 1:
            return containers[0]["name"]
        msg = "a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(c["name"] for c in containers))
        if inits:
            msg += " or one of the init containers: [%s]" % " ".join(c["name"] for c in inits)
        raise core.bad_request(msg)
    if not any(c["name"] == wanted for c in containers + inits + ephemeral):
        raise core.bad_request("container %s is not valid for pod %s" % (wanted, name))
    return wanted


def check_running(pod, container):
    """The kubelet finds only running containers (a waiting or terminated one is 'not found')."""
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses", []) + status.get("initContainerStatuses", [])
    cs = next((s for s in statuses if s["name"] == container), None)
    if not cs or "running" not in (cs.get("state") or {}):
        raise KubeletError(500, 'container not found ("%s")' % container)


def locate(route, query):
    """(argv, container) after the API server's checks; raises ApiError / KubeletError."""
    ns, name = route["ns"], route["name"]
    if route["kind"] != "pods" or not name:
        raise ApiError(404, "NotFound", "the server could not find the requested resource")
    with LOCK:
        pod = STORE["pods"].get((ns, name))
        if pod is None:
            raise core.not_found("pods", name)
        container = pick_container(pod, dict(query).get("container"))
        argv = [v for k, v in query if k == "command"]
        if not argv:
            raise core.bad_request("you must specify at least 1 command")
        if not pod["spec"].get("nodeName"):
            raise core.bad_request("pod %s does not have a host assigned" % name)
        check_running(pod, container)
    return argv, container


def accept_key(key):
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def frame(opcode, payload):
    """A server frame (never masked), FIN set."""
    head = bytes([0x80 | opcode])
    size = len(payload)
    if size < 126:
        head += bytes([size])
    elif size < 65536:
        head += bytes([126]) + struct.pack("!H", size)
    else:
        head += bytes([127]) + struct.pack("!Q", size)
    return head + payload


def status_of(argv, returncode, error=None):
    """The error channel's Status, as the kubelet writes it."""
    if error:
        msg = "Internal error occurred: error executing command in container: %s" % error
        return {"metadata": {}, "status": "Failure", "message": msg, "reason": "InternalError",
                "details": {"causes": [{"message": error}]}, "code": 500}
    if returncode == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": "command terminated with non-zero exit code: error executing command [%s], exit code %d" % (" ".join(argv), returncode),
            "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": str(returncode)}]}}


class Session:
    """One upgraded connection: frames out under a lock, the command's pipes read by two threads."""

    def __init__(self, handler):
        self.handler = handler
        self.lock = threading.Lock()
        self.broken = False

    def send(self, opcode, payload):
        if self.broken:
            return
        with self.lock:
            try:
                self.handler.wfile.write(frame(opcode, payload))
                self.handler.wfile.flush()
            except (OSError, ssl.SSLError):
                self.broken = True

    def data(self, channel, payload=b""):
        self.send(0x2, bytes([channel]) + payload)

    def pump(self, pipe, channel):
        for chunk in iter(lambda: pipe.read1(MAX_FRAME), b""):
            self.data(channel, chunk)
        pipe.close()

    def run(self, argv):
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd="/tmp", close_fds=True)  # pylint: disable=consider-using-with
        except OSError as exc:
            reason = 'exec: "%s": executable file not found in $PATH' % argv[0] if isinstance(exc, FileNotFoundError) else str(exc)
            return status_of(argv, None, "failed to exec in container: OCI runtime exec failed: exec failed: unable to start "
                                         "container process: %s: unknown" % reason)
        pumps = [threading.Thread(target=self.pump, args=(proc.stdout, STDOUT), daemon=True),
                 threading.Thread(target=self.pump, args=(proc.stderr, STDERR), daemon=True)]
        for thread in pumps:
            thread.start()
        try:
            code = proc.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = 137
        for thread in pumps:
            thread.join(2)
        return status_of(argv, 128 - code if code < 0 else code)

    def close(self):
        """Close frame (1000), then wait briefly for the client's Close before the socket goes."""
        self.send(0x8, struct.pack("!H", 1000))
        sock = self.handler.connection
        try:
            sock.settimeout(2)
            self.handler.rfile.read(2)
        except (OSError, ssl.SSLError, socket.timeout):
            pass


def serve(handler, route):
    """Answer one pods/exec request on `handler` (api.Handler); ApiError before the upgrade goes to its caller."""
    query = parse_qsl(urlsplit(handler.path).query, keep_blank_values=True)
    try:
        argv, _container = locate(route, query)
    except KubeletError as exc:
        return handler.send_body(exc.code, exc.text)
    headers = handler.headers
    if "websocket" not in (headers.get("Upgrade") or "").lower() or not headers.get("Sec-WebSocket-Key"):
        raise core.bad_request("Upgrade request required")
    offered = [p.strip() for p in (headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
    protocol = next((p for p in offered if p in PROTOCOLS), None)
    if protocol is None:
        raise core.bad_request("unable to upgrade: none of the offered subprotocols %s is supported (%s)" % (offered, ", ".join(PROTOCOLS)))
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept_key(headers["Sec-WebSocket-Key"].strip()))
    handler.send_header("Sec-WebSocket-Protocol", protocol)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    session = Session(handler)
    for channel in (STDOUT, STDERR, ERROR):  # the server opens every channel with an empty message
        session.data(channel)
    status = session.run(argv)
    session.data(ERROR, json.dumps(status).encode())
    session.close()
    return None
