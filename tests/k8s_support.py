"""Start lab/k8s_sim.py (the Kubernetes API simulation) for tests: TLS with a server CA, a client CA and a client
certificate, bearer tokens, a kubeconfig, raw calls, and the pinned kubectl (scripts/install-kubectl.sh).

    sim = start_sim(tmp_path, seeds=["prod/api=orchestrator/api:1.4.2*2"])
    sim.call("/api/v1/namespaces/prod/pods")          # JSON over TLS with the token; >= 400 raises SimError
    sim.call(path, expect=404)                        # the Status body of an expected error
    sim.seed(name="db", kind="StatefulSet", image="postgres:16", replicas=2, namespace="prod")
    sim.fault(target="api", fault="oom", namespace="prod")
    kubectl(sim, "get", "pods")                       # CompletedProcess; fails when kubectl is not installed
    sim.stop()
"""
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KUBECTL = os.path.join(REPO, ".cache", "kubectl", "usr", "bin", "kubectl")
TOKEN = "k8s-sim-test-token"
CLIENT_USER = "sre-cert"
_CERTS = {}


class SimError(AssertionError):
    """An HTTP error answer of the simulation (code, the decoded body, headers)."""

    def __init__(self, code, body, headers=None):
        super().__init__("HTTP %s: %s" % (code, body))
        self.code, self.body, self.headers = code, body, headers or {}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def certificates():
    """Server CA + server cert (127.0.0.1, localhost), client CA + client cert (CN sre-cert): made once per session."""
    if _CERTS:
        return _CERTS
    d = tempfile.mkdtemp(prefix="k8s-sim-certs-")
    paths = {n: os.path.join(d, n) for n in ("ca.crt", "ca.key", "server.crt", "server.key", "server.csr", "client-ca.crt",
                                             "client-ca.key", "client.crt", "client.key", "client.csr", "san.ext")}
    for ca, cn in (("ca", "k8s-sim-ca"), ("client-ca", "k8s-sim-client-ca")):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                 "-keyout", paths[ca + ".key"], "-out", paths[ca + ".crt"])
    with open(paths["san.ext"], "w") as fh:
        fh.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kube-apiserver", "-keyout", paths["server.key"], "-out", paths["server.csr"])
    _openssl("x509", "-req", "-in", paths["server.csr"], "-CA", paths["ca.crt"], "-CAkey", paths["ca.key"], "-CAcreateserial",
             "-days", "2", "-extfile", paths["san.ext"], "-out", paths["server.crt"])
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/O=sre/CN=" + CLIENT_USER, "-keyout", paths["client.key"], "-out", paths["client.csr"])
    _openssl("x509", "-req", "-in", paths["client.csr"], "-CA", paths["client-ca.crt"], "-CAkey", paths["client-ca.key"], "-CAcreateserial",
             "-days", "2", "-out", paths["client.crt"])
    _CERTS.update(paths)
    return _CERTS


def _b64(path):
    with open(path, "rb") as fh:
        return base64.b64encode(fh.read()).decode()


def write_kubeconfig(path, server, ca_cert, user, namespace="prod"):
    """A kubeconfig with one cluster, one user (a dict of user fields) and context "sim"."""
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "sim", "preferences": {},
              "clusters": [{"name": "sim", "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert)}}],
              "users": [{"name": "sre", "user": user}],
              "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "sre", "namespace": namespace}}]}
    with open(path, "w") as fh:
        json.dump(config, fh, indent=1)
    return str(path)


class Sim:
    """A running simulation and what reaches it."""

    def __init__(self, proc, port, tmp, certs, token):
        self.proc, self.port, self.tmp = proc, port, str(tmp)
        self.server = "https://127.0.0.1:%d" % port
        self.ca_cert, self.client_ca = certs["ca.crt"], certs["client-ca.crt"]
        self.client_cert, self.client_key = certs["client.crt"], certs["client.key"]
        self.token = token
        self.kubeconfig = write_kubeconfig(os.path.join(self.tmp, "kubeconfig"), self.server, self.ca_cert, {"token": token})
        self.kubeconfig_cert = write_kubeconfig(os.path.join(self.tmp, "kubeconfig-cert"), self.server, self.ca_cert, {
            "client-certificate-data": _b64(self.client_cert), "client-key-data": _b64(self.client_key)})
        self.context = ssl.create_default_context(cafile=self.ca_cert)

    def request(self, path, body=None, method=None, content_type=None, token=None, cert=False, headers=None, timeout=10):
        """One HTTP exchange: (status, headers, decoded body: JSON, text for text/plain)."""
        data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": content_type or "application/json", "Accept": "application/json"}
        if token is not False and (token or self.token):
            hdrs["Authorization"] = "Bearer " + (token or self.token)
        hdrs.update(headers or {})
        req = urllib.request.Request(self.server + path, data=data, method=method or ("POST" if data is not None else "GET"), headers=hdrs)
        context = self.context
        if cert:
            context = ssl.create_default_context(cafile=self.ca_cert)
            context.load_cert_chain(self.client_cert, self.client_key)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
                return resp.status, dict(resp.headers), _decode(resp.read(), resp.headers.get("Content-Type"))
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), _decode(exc.read(), exc.headers.get("Content-Type"))

    def call(self, path, body=None, method=None, content_type=None, expect=None, **kw):
        """The decoded answer; an error status raises SimError unless it is `expect`."""
        status, headers, out = self.request(path, body, method, content_type, **kw)
        if expect is not None:
            if status != expect:
                raise SimError(status, out, headers)
            return out
        if status >= 400:
            raise SimError(status, out, headers)
        return out

    def seed(self, **kw):
        kw.setdefault("namespace", "prod")
        return self.call("/_sim/seed", kw)

    def fault(self, **kw):
        kw.setdefault("namespace", "prod")
        return self.call("/_sim/fault", kw)

    def errors(self, **kw):
        return self.call("/_sim/errors", kw)

    def metrics(self, **kw):
        kw.setdefault("namespace", "prod")
        return self.call("/_sim/metrics", kw)

    def wait_for(self, predicate, path, timeout=15, what="condition"):
        """Poll path until predicate(answer) holds; the last answer."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.call(path)
            if predicate(out):
                return out
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for %s on %s: %s" % (what, path, json.dumps(out)[:2000]))
            time.sleep(0.1)

    def wait_available(self, name, replicas, namespace="prod", kind="deployments", timeout=15):
        def done(obj):
            st = obj.get("status") or {}
            return (st.get("readyReplicas", 0) == replicas and st.get("updatedReplicas", 0) == replicas
                    and st.get("replicas", 0) == replicas and st.get("observedGeneration") == obj["metadata"].get("generation"))
        return self.wait_for(done, "/apis/apps/v1/namespaces/%s/%s/%s" % (namespace, kind, name), timeout, "%s available" % name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _decode(raw, content_type):
    if (content_type or "").startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError:
            pass
    return raw.decode(errors="replace")


def start_sim(tmp_path, *, seeds=(), tokens=None, client_ca=True, forbid=(), extra_args=(), ready_delay=0.2):
    """Start the simulation over TLS; seeds are "NS/NAME=IMAGE[*N]" strings or /_sim/seed dicts."""
    tokens = {TOKEN: "sre"} if tokens is None else tokens
    certs = certificates()
    port = free_port()
    cmd = [sys.executable, os.path.join(REPO, "lab", "k8s_sim.py"), "--port", str(port), "--tls-cert", certs["server.crt"],
           "--tls-key", certs["server.key"], "--ready-delay", str(ready_delay)]
    if client_ca:
        cmd += ["--client-ca", certs["client-ca.crt"]]
    for token, user in tokens.items():
        cmd += ["--token", "%s=%s" % (token, user)]
    for rule in forbid:
        cmd += ["--forbid", rule]
    cmd += [a for s in seeds if isinstance(s, str) for a in ("--seed", s)]
    cmd += list(extra_args)
    log = open(os.path.join(str(tmp_path), "k8s_sim.log"), "w")  # pylint: disable=consider-using-with
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    sim = Sim(proc, port, tmp_path, certs, next(iter(tokens), None))
    deadline = time.monotonic() + 15
    while True:
        try:
            sim.call("/_sim/healthz", timeout=2)
            break
        except (OSError, urllib.error.URLError):
            if proc.poll() is not None or time.monotonic() > deadline:
                sim.stop()
                with open(log.name) as fh:
                    raise AssertionError("k8s_sim did not start: %s" % fh.read()[-2000:]) from None
            time.sleep(0.1)
    for spec in seeds:
        if isinstance(spec, dict):
            sim.seed(**spec)
    return sim


def kubectl(sim, *args, check=True, timeout=60, kubeconfig=None):
    """Run the pinned kubectl against the simulation; fails (never skips) when it is not installed."""
    if not os.access(KUBECTL, os.X_OK):
        raise AssertionError("the pinned kubectl is missing at %s: run scripts/install-kubectl.sh" % KUBECTL)
    cmd = [KUBECTL, "--kubeconfig", kubeconfig or sim.kubeconfig, "--cache-dir", os.path.join(sim.tmp, "kubectl-cache"), *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError("kubectl %s failed (%d): %s%s" % (" ".join(args), res.returncode, res.stdout, res.stderr))
    return res
