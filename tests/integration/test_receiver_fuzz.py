"""Fuzz of the webhook: the real receiver (subprocess, free port, dispatch off), the cases of issue 12
and random mutations of real Alertmanager notifications (tests/integration/data, recorded from the
lab's Alertmanager), bounded to FUZZ_REQUESTS requests and FUZZ_SECONDS. Then 100 idle slow
connections holding partial 1 MB bodies, and 20 that never finish their headers.

Asserted: never a 5xx (nor a dropped connection for a request under the size limit); every alert of
every 200 is stored; every stored job's extra vars dump to an env/extravars file that ansible-core
loads back to the same values, alert strings not trusted as templates; the slow connections are
closed by the receiver's timeouts; the receiver's RSS grows by less than 50 MB. No lab service is touched."""
import concurrent.futures
import copy
import json
import os
import random
import socket
import sqlite3
import time

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template

from incident_receiver import auth, dispatch
from tests.integration.receiver_support import ReceiverProcess, request, write_config

pytestmark = pytest.mark.lab   # collected with the integration suite (takes the lab lock; touches no container)

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ_REQUESTS = int(os.environ.get("FUZZ_REQUESTS", "2000"))
FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "45"))
SEED = int(os.environ.get("FUZZ_SEED", "12"))
SECRET = "fuzz-hmac-secret"
MAX_BODY = 1024 * 1024
TIMEOUT_S = 2.0                 # http.body_timeout_s and http.idle_timeout_s of the receiver under test
RSS_BUDGET_KB = 50 * 1024
NASTY = ["yes", "no", "0x10", "~", "", "007", "1_000", ".nan", "null", "2026-01-01T00:00:00Z", "<<", "!unsafe x",
         "{{ lookup('ansible.builtin.pipe', 'id') }}", "{% for x in range(10**9) %}{% endfor %}", "{#", "${HOME}",
         "\ud800", "\udfff", "\ud83d\ude00", "\x00", "\x01\x7f", "\r\n", "\u2028", "\ufeff", "\U0010ffff", "x" * 100000,
         "__ansible_unsafe", "__ansible_vault", "../../etc/passwd", "'; DROP TABLE alerts; --"]
STATUSES = {200, 400, 413, 415}


def corpus():
    with open(os.path.join(HERE, "data", "alertmanager_webhooks.json")) as fh:
        return json.load(fh)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))


# -- mutations of a real notification -------------------------------------------------------------------------

def random_string(rng):
    if rng.random() < 0.5:
        return rng.choice(NASTY)
    return "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x110000)])) for _n in range(rng.randrange(12)))


def random_value(rng, depth=0):
    kinds = ["str", "int", "float", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return random_string(rng)
    if kind == "int":
        return rng.choice([0, -1, 2 ** 63, 10 ** 30])
    if kind == "float":
        return rng.choice([0.5, 1e308, -0.0])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_value(rng, depth + 1) for _n in range(rng.randrange(3))]
    return {random_string(rng): random_value(rng, depth + 1) for _n in range(rng.randrange(3))}


def containers(doc):
    """Every dict and list inside doc (including doc)."""
    out, stack = [], [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            out.append(node)
            stack.extend(node.values() if isinstance(node, dict) else node)
    return out


def mutate(rng, doc):
    doc = copy.deepcopy(doc)
    for _n in range(rng.randrange(1, 4)):
        node = rng.choice(containers(doc))
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        op = rng.choice(["string", "value", "delete", "add", "many", "label", "status"])
        if op == "string" and keys:
            node[rng.choice(keys)] = random_string(rng)
        elif op == "value" and keys:
            node[rng.choice(keys)] = random_value(rng)
        elif op == "delete" and keys:
            del node[rng.choice(keys)]
        elif op == "add":
            if isinstance(node, dict):
                node[random_string(rng)] = random_value(rng)
            else:
                node.append(random_value(rng))
        elif op == "many" and isinstance(doc.get("alerts"), list) and doc["alerts"]:
            template = doc["alerts"][0]
            for i in range(rng.randrange(1, 120)):
                alert = copy.deepcopy(template)
                if isinstance(alert, dict):
                    alert["fingerprint"] = "fz%014x" % rng.getrandbits(56)
                doc["alerts"].append(alert)
        elif op == "label" and isinstance(doc.get("alerts"), list):
            for alert in doc["alerts"]:
                if isinstance(alert, dict) and isinstance(alert.get("labels"), dict):
                    alert["labels"][rng.choice(["service", "severity", "instance", "x.y", "é"])] = random_string(rng)
        elif op == "status" and isinstance(doc, dict):
            doc["status"] = rng.choice(["firing", "resolved", "FIRING", 1, None])
    return doc


def serialize(rng, doc):
    """Mostly JSON as a sender writes it; sometimes raw UTF-8 of lone surrogates, a cut, or a flipped byte."""
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    raw = text.encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.03 and raw:
        raw = raw[:rng.randrange(len(raw))]
    elif roll < 0.06 and raw:
        i = rng.randrange(len(raw))
        raw = raw[:i] + bytes([rng.randrange(256)]) + raw[i + 1:]
    return raw


# -- raw HTTP -------------------------------------------------------------------------------------------------

def http_head(port, length, **headers):
    lines = ["POST /alertmanager HTTP/1.1", "Host: 127.0.0.1:%d" % port, "Content-Length: %d" % length]
    lines += ["%s: %s" % (k, v) for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def closed_by_server(sock, deadline):
    """Read until the server closes the connection (True) or the deadline passes (False)."""
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            continue
        except OSError:                # reset: closed too
            return True
    return False


class Fuzz:
    def __init__(self, rcv, rng):
        self.rcv, self.rng = rcv, rng
        self.acked_alerts = 0
        self.statuses = {}
        self.failures = []

    def post(self, raw, headers=None, expect=None, what=""):
        hdrs = dict({"Authorization": "Bearer " + self.rcv.token, "Content-Type": "application/json"}, **(headers or {}))
        status, body = request(self.rcv.base + "/alertmanager", "POST", raw, hdrs, timeout=30)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if (status != expect) if expect is not None else (status not in STATUSES):
            self.failures.append((what, status, str(body)[:300], raw[:200]))
        if status == 200:
            self.acked_alerts += body["accepted"]
        return status, body


def explicit_cases(fuzz, port):
    """The cases of issue 12, each with its expected answer."""
    base = corpus()[0]
    deep = b'{"version": "4", "status": "firing", "alerts": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    fuzz.post(deep, expect=400, what="depth 5000")
    surrogate = copy.deepcopy(base)
    surrogate["alerts"][0]["labels"]["evil"] = "\ud800"
    fuzz.post(json.dumps(surrogate).encode(), expect=400, what="lone surrogate")
    fuzz.post(json.dumps(base).encode(), headers={"Content-Type": "text/plain"}, expect=415, what="content type")
    many = copy.deepcopy(base)
    many["alerts"] = [dict(copy.deepcopy(base["alerts"][0]), fingerprint="many%012d" % i) for i in range(1500)]
    fuzz.post(json.dumps(many).encode(), expect=200, what="1500 alerts")
    retyped = copy.deepcopy(base)
    retyped["alerts"][0]["labels"].update({"v%d" % i: v for i, v in enumerate(NASTY[:16])})
    retyped["alerts"][0]["annotations"]["description"] = "no"
    fuzz.post(json.dumps(retyped).encode(), expect=200, what="re-typed strings and Jinja")
    # Signed: accepted once; the same request again is a replay.
    body = json.dumps(dict(copy.deepcopy(base), groupKey="signed")).encode()
    signed = auth.signature_headers(SECRET, body)
    signed_headers = {"Authorization": "", "Content-Type": "application/json", **signed}
    fuzz.post(body, headers=signed_headers, expect=200, what="signed")
    fuzz.post(body, headers=signed_headers, expect=403, what="signed replay")
    # No credentials, 1 MB announced: answered 401 from the headers, before the body.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(http_head(port, MAX_BODY, **{"Content-Type": "application/json"}) + b"x" * 1000)
        answer = sock.recv(4096)
        if not answer.startswith(b"HTTP/1.1 401"):
            fuzz.failures.append(("401 before the body", answer[:100], "", b""))


def slow_connections(port, token):
    """100 connections holding partial 1 MB bodies (bearer, none, signed) and 20 with unfinished headers."""
    socks = []
    partial = b'{"version": "4", "alerts": [' + b" " * 65536
    signed = auth.signature_headers(SECRET, b"never sent in full")
    kinds = ([{"Authorization": "Bearer " + token}] * 40 + [{}] * 30 + [signed] * 30)
    for headers in kinds:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(http_head(port, MAX_BODY, **dict({"Content-Type": "application/json"}, **headers)) + partial)
        socks.append(sock)
    for _n in range(20):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"POST /alertmanager HTTP/1.1\r\nHost: x\r\nContent-")
        socks.append(sock)
    return socks


def test_webhook_fuzz(tmp_path):
    rng = random.Random(SEED)
    print("fuzz seed", SEED)
    routes = {"routes": [], "default": {"playbook": "receiver_marker.yml"}, "cooldown_s": 0}
    cfg = write_config(tmp_path, routes, dispatch={"backend": "none"}, max_body_bytes=MAX_BODY, log_level="WARNING",
                       auth={"token": "fuzz-token", "token_env": "NO_SUCH_ENV_VAR", "hmac_secret": SECRET},
                       http={"body_timeout_s": TIMEOUT_S, "idle_timeout_s": TIMEOUT_S, "max_unauthenticated": 8})
    rcv = ReceiverProcess(cfg).start()
    try:
        fuzz = Fuzz(rcv, rng)
        seeds = corpus()
        for doc in seeds:                                       # warm up: the real notifications as sent
            fuzz.post(json.dumps(doc).encode(), expect=200, what="real notification")
        baseline = rss_kb(rcv.proc.pid)
        explicit_cases(fuzz, rcv.port)
        started = time.monotonic()
        bodies = (serialize(rng, mutate(rng, rng.choice(seeds))) for _n in range(FUZZ_REQUESTS))
        sent, pending = 0, set()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for raw in bodies:
                if time.monotonic() - started > FUZZ_SECONDS:
                    break
                if len(raw) > MAX_BODY:
                    continue
                if len(pending) >= 8:
                    done, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                    for future in done:
                        future.result()
                pending.add(pool.submit(fuzz.post, raw, None, None, "mutation"))
                sent += 1
            for future in pending:
                future.result()
        fuzz_s = time.monotonic() - started
        after_fuzz = peak = rss_kb(rcv.proc.pid)
        # Slow clients: every connection is closed by the receiver within its timeouts.
        socks = slow_connections(rcv.port, rcv.token)
        time.sleep(0.5)
        peak = max(peak, rss_kb(rcv.proc.pid))
        deadline = time.monotonic() + 2 * TIMEOUT_S + 3
        still_open = sum(not closed_by_server(s, deadline) for s in socks)
        for sock in socks:
            sock.close()
        peak = max(peak, rss_kb(rcv.proc.pid))
        assert request(rcv.base + "/healthz")[0] == 200
        print("fuzz: %d mutated requests in %.1f s, answers %s, %d alerts acknowledged; RSS %d -> %d (after the "
              "fuzz) -> %d kB peak (with the slow connections)"
              % (sent, fuzz_s, fuzz.statuses, fuzz.acked_alerts, baseline, after_fuzz, peak))
        assert fuzz.failures == [], fuzz.failures[:5]
        assert sent >= min(FUZZ_REQUESTS, 500) and fuzz.statuses.get(200, 0) > 100, fuzz.statuses
        assert still_open == 0, "%d slow connections still open" % still_open
        assert peak - baseline < RSS_BUDGET_KB, "RSS grew by %d kB" % (peak - baseline)
    finally:
        rcv.stop()
    log = rcv.read_log()
    assert "Traceback" not in log and "Error handling request" not in log, log
    check_stored(tmp_path, fuzz.acked_alerts)


def check_stored(tmp_path, acked):
    """Every acknowledged alert is in SQLite; every job's extra vars go through env/extravars unchanged."""
    db = sqlite3.connect(os.path.join(str(tmp_path), "state", "receiver.db"))
    db.row_factory = sqlite3.Row
    stored = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    assert stored == acked, (stored, acked)
    path = os.path.join(str(tmp_path), "extravars")
    loader = DataLoader()
    jobs = db.execute("SELECT id, extra_vars FROM jobs").fetchall()
    for row in jobs:
        extra = json.loads(row["extra_vars"])
        with open(path, "w") as fh:
            fh.write(dispatch.dump_extravars(dispatch.job_vars({"extra_vars": extra})))
        loaded = loader.load_from_file(path, cache="none", trusted_as_template=True)
        assert loaded == extra, row["id"]
        labels = loaded["incident_alert"]["labels"]
        assert not any(is_trusted_as_template(v) for v in labels.values()), row["id"]
        assert not is_trusted_as_template(loaded["alert_name"]) and not is_trusted_as_template(loaded["description"])
    assert len(jobs) > 100
    db.close()
