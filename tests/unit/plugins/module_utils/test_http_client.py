"""The stdlib HTTP client against real local servers: statuses, error reasons, retries, redaction."""
import random
import socket

import pytest

from ansible_collections.incident.response.plugins.module_utils import http_client as http
from tests.local_servers import ScriptedHTTPServer


@pytest.fixture
def server():
    srv = ScriptedHTTPServer()
    yield srv
    srv.close()


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_json_request_and_response(server):
    server.script["/x"] = [(201, {"id": "abc"}, 0)]
    resp = http.request(server.url + "/x", method="POST", json_body={"a": 1}, headers={"Authorization": "Bearer s3cret"})
    assert (resp.status, resp.ok, resp.json(), resp.error) == (201, True, {"id": "abc"}, None)
    assert resp.headers["content-type"] == "application/json"
    sent = server.requests[0]
    assert sent["body"] == {"a": 1} and sent["headers"]["Content-Type"] == "application/json"
    assert "s3cret" not in repr(resp.as_dict())


def test_http_error_status_is_a_response_not_an_error(server):
    server.script["/down"] = [(503, "maintenance", 0)]
    resp = http.request(server.url + "/down")
    assert (resp.status, resp.ok, resp.body, resp.reason, resp.error) == (503, False, "maintenance", None, None)
    assert resp.json() is None and resp.describe() == "HTTP 503"


def test_connection_refused_is_reported():
    resp = http.request("http://127.0.0.1:%d/health" % free_port(), timeout=2)
    assert resp.status == 0 and resp.reason == http.REASON_REFUSED
    assert resp.detail == "connection refused" and "/health" in resp.error


def test_timeout_is_reported(server):
    server.script["/slow"] = [(200, "late", 1.0)]
    resp = http.request(server.url + "/slow", timeout=0.3)
    assert (resp.status, resp.reason) == (0, http.REASON_TIMEOUT)
    assert "timed out after 0.3s" in resp.error and resp.latency_ms < 900


def test_tls_error_is_reported(server):
    resp = http.request(server.url.replace("http://", "https://") + "/", timeout=2)
    assert resp.status == 0 and resp.reason == http.REASON_TLS and resp.error.startswith("TLS handshake failed")


def test_plain_http_loads_no_ca_store_and_https_loads_it_once(server, monkeypatch):
    built = []
    monkeypatch.setattr(http, "_SSL_CONTEXTS", {})
    monkeypatch.setattr(http, "make_context", lambda **kw: built.append(kw) or http.ssl.create_default_context())
    server.script["/a"] = [(200, "ok", 0), (200, "ok", 0)]
    assert http.request(server.url + "/a").status == 200 and http.request(server.url + "/a").status == 200
    assert built == []
    for _n in range(2):
        assert http.request(server.url.replace("http://", "https://") + "/", timeout=2).reason == http.REASON_TLS
    assert len(built) == 1 and built[0]["validate_certs"] is True


def test_invalid_url():
    resp = http.request("not a url")
    assert resp.reason == http.REASON_BAD_URL and not http.is_retryable(resp)


def test_userinfo_becomes_basic_auth_and_is_never_shown(server):
    resp = http.request(server.url.replace("http://", "http://ops:pa%40ss@") + "/p")
    assert resp.status == 200
    assert server.requests[0]["headers"]["Authorization"] == "Basic b3BzOnBhQHNz"  # ops:pa@ss
    assert "pa%40ss" not in resp.as_dict()["url"]


def test_retries_until_success_with_backoff(server):
    server.script["/flaky"] = [(500, "no", 0), (502, "no", 0)]
    waits = []
    resp = http.request_with_retries(server.url + "/flaky", retries=3, backoff=0.2, sleep=waits.append)
    assert (resp.status, resp.attempts) == (200, 3)
    assert len(waits) == 2 and 0.1 <= waits[0] <= 0.2 and 0.2 <= waits[1] <= 0.4


def test_retries_give_up_and_do_not_retry_client_errors(server):
    server.script["/gone"] = [(500, "x", 0)] * 5
    resp = http.request_with_retries(server.url + "/gone", retries=2, sleep=lambda s: None)
    assert (resp.status, resp.attempts) == (500, 3)
    server.script["/bad"] = [(400, "bad", 0)] * 5
    resp = http.request_with_retries(server.url + "/bad", retries=2, sleep=lambda s: None)
    assert (resp.status, resp.attempts) == (400, 1)


def test_retry_after_is_honoured_up_to_the_cap(server):
    server.script["/rl"] = [(429, "slow down", 0, {"Retry-After": "1"}), (429, "slow down", 0, {"Retry-After": "30"})]
    waits = []
    resp = http.request_with_retries(server.url + "/rl", retries=2, backoff=0.1, max_backoff=5, sleep=waits.append)
    assert (resp.status, resp.attempts, waits) == (200, 3, [1.0, 5])


def test_backoff_delay_is_exponential_with_jitter_and_capped():
    rng = random.Random(7)
    for attempt, (low, high) in enumerate([(0.25, 0.5), (0.5, 1.0), (1.0, 2.0), (2.0, 4.0)], start=1):
        assert low <= http.backoff_delay(attempt, base=0.5, cap=8, rng=rng) <= high
    assert 4.0 <= http.backoff_delay(10, base=0.5, cap=8, rng=rng) <= 8.0


@pytest.mark.parametrize("url, keep_path, expected", [
    ("https://hooks.slack.com/services/T0/B0/XyZ", False, "https://hooks.slack.com"),
    ("https://user:pw@example.com:8443/api/v2?token=abc#frag", True, "https://example.com:8443/api/v2"),
    ("http://[::1]:9090/x", True, "http://[::1]:9090/x"),
])
def test_safe_url(url, keep_path, expected):
    assert http.safe_url(url, keep_path=keep_path) == expected
