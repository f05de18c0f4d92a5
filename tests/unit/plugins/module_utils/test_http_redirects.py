"""http_client on ansible.module_utils.urls against real local servers (HTTP and a self-signed HTTPS one):
redirects (bound, reported, credentials kept to one origin, no https->http with credentials), timeouts
across hops, the body cap, TLS settings, and Request.open's process-wide opener kept per thread."""
import ssl
import subprocess
import sys
import threading
import urllib.request

import pytest

from ansible_collections.incident.response.plugins.module_utils import http_client as http
from tests.local_servers import ScriptedHTTPServer

SECRETS = {"Authorization": "Bearer s3cret", "Cookie": "session=c00kie", "Proxy-Authorization": "Basic cHJveHk6cHc="}


def lower(headers):
    return dict((k.lower(), v) for k, v in headers.items())


def redirect(location, status=302, delay=0):
    return (status, "", delay, {"Location": location})


@pytest.fixture
def servers():
    """Two HTTP servers on 127.0.0.1 with different ports: two origins."""
    first, second = ScriptedHTTPServer(), ScriptedHTTPServer()
    yield first, second
    first.close()
    second.close()


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: (cert path, key path)."""
    path = tmp_path_factory.mktemp("tls")
    crt, key = path / "server.crt", path / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return str(crt), str(key)


@pytest.fixture
def tls_server(cert):
    """A ScriptedHTTPServer speaking HTTPS (the handshake happens in the handler thread)."""
    srv = ScriptedHTTPServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    srv.server.socket = context.wrap_socket(srv.server.socket, server_side=True, do_handshake_on_connect=False)
    srv.url = srv.url.replace("http://", "https://")
    yield srv
    srv.close()


def test_same_origin_redirect_keeps_credentials_and_is_reported(servers):
    first, _second = servers
    first.script["/start"] = [redirect("/next?page=2")]
    resp = http.request(first.url + "/start", headers=SECRETS)
    assert resp.status == 200 and resp.error is None
    assert [r["path"] for r in first.requests] == ["/start", "/next?page=2"]
    landed = lower(first.requests[1]["headers"])
    assert (landed["authorization"], landed["cookie"], landed["proxy-authorization"]) == tuple(SECRETS.values())
    assert resp.redirects == [dict(status=302, location=first.url + "/next", cross_origin=False)]  # no query shown
    assert resp.as_dict()["redirects"] == resp.redirects


def test_cross_origin_redirect_strips_credentials(servers):
    first, second = servers
    first.script["/start"] = [redirect(second.url + "/land?token=abc", status=307)]
    resp = http.request(first.url.replace("http://", "http://ops:pw@") + "/start", method="POST", json_body={"a": 1},
                        headers=dict(SECRETS, **{"X-Trace": "t1"}))
    assert resp.status == 200
    assert lower(first.requests[0]["headers"])["authorization"] == "Bearer s3cret"  # the caller's header wins over userinfo
    (landed,) = second.requests
    headers = lower(landed["headers"])
    assert not set(headers) & {"authorization", "cookie", "proxy-authorization"}, headers
    assert headers["x-trace"] == "t1" and landed["method"] == "POST" and landed["body"] == {"a": 1}  # 307 keeps both
    assert resp.redirects == [dict(status=307, location=second.url + "/land", cross_origin=True)]
    assert "abc" not in repr(resp.as_dict()) and "s3cret" not in repr(resp.as_dict())


def test_userinfo_credentials_stay_on_their_origin(servers):
    first, second = servers
    first.script["/start"] = [redirect(second.url + "/land")]
    assert http.request(first.url.replace("http://", "http://ops:pw@") + "/start").status == 200
    assert lower(first.requests[0]["headers"])["authorization"] == "Basic b3BzOnB3"
    assert "authorization" not in lower(second.requests[0]["headers"])


def test_credentials_in_a_location_are_never_used_or_shown(servers):
    first, second = servers
    first.script["/start"] = [redirect(second.url.replace("http://", "http://evil:pw@") + "/land")]
    resp = http.request(first.url + "/start")
    assert resp.status == 200 and "authorization" not in lower(second.requests[0]["headers"])
    assert resp.redirects[0]["location"] == second.url + "/land"


def test_see_other_turns_a_post_into_a_get_without_body(servers):
    first, _second = servers
    first.script["/form"] = [redirect("/done", status=303)]
    resp = http.request(first.url + "/form", method="POST", json_body={"a": 1})
    done = first.requests[1]
    assert resp.status == 200 and (done["method"], done["body"]) == ("GET", None)
    assert "content-type" not in lower(done["headers"])


def test_redirects_are_bounded_and_not_retried(servers):
    first, _second = servers
    first.script["/loop"] = [redirect("/loop")] * 20
    resp = http.request_with_retries(first.url + "/loop", retries=2, max_redirects=3, sleep=lambda s: None)
    assert (resp.status, resp.reason, resp.attempts) == (0, http.REASON_REDIRECTS, 1)
    assert len(first.requests) == 4 and len(resp.redirects) == 4  # 3 followed, the 4th reported and refused
    assert resp.detail.startswith("more than 3 redirects") and not http.is_retryable(resp)


def test_default_bound_and_no_follow(servers):
    first, _second = servers
    first.script["/loop"] = [redirect("/loop")] * 20
    resp = http.request(first.url + "/loop")
    assert resp.reason == http.REASON_REDIRECTS and len(first.requests) == http.MAX_REDIRECTS + 1
    first.script["/moved"] = [redirect("/elsewhere", status=301)]
    resp = http.request(first.url + "/moved", follow_redirects=False)
    assert (resp.status, resp.headers["location"], resp.redirects) == (301, "/elsewhere", [])
    assert len(first.requests) == http.MAX_REDIRECTS + 2


def test_redirect_to_another_scheme_is_refused(servers):
    first, _second = servers
    first.script["/start"] = [redirect("file:///etc/passwd")]
    resp = http.request(first.url + "/start")
    assert (resp.status, resp.reason) == (0, http.REASON_REDIRECT_REFUSED) and "only http and https" in resp.detail


def test_https_to_http_is_refused_with_credentials(tls_server, servers, cert):
    plain, _second = servers
    tls_server.script["/start"] = [redirect(plain.url + "/land"), redirect(plain.url + "/land")]
    resp = http.request(tls_server.url + "/start", headers={"Authorization": "Bearer s3cret"}, ca_path=cert[0])
    assert (resp.status, resp.reason) == (0, http.REASON_REDIRECT_REFUSED) and plain.requests == []
    assert "from https to http" in resp.detail and resp.redirects[0]["cross_origin"]
    resp = http.request(tls_server.url + "/start", ca_path=cert[0])  # nothing secret to leak: followed
    assert resp.status == 200 and [r["path"] for r in plain.requests] == ["/land"]


def test_timeout_covers_every_hop(servers):
    first, _second = servers
    first.script["/a"] = [redirect("/b", delay=0.4)]
    first.script["/b"] = [(200, "late", 0.4)]
    resp = http.request(first.url + "/a", timeout=0.6)  # each hop answers within 0.6 s, both together do not
    assert (resp.status, resp.reason) == (0, http.REASON_TIMEOUT) and resp.detail == "timed out after 0.6s"
    assert len(resp.redirects) == 1 and 600 <= resp.latency_ms < 1000


def test_body_is_capped(servers):
    first, _second = servers
    first.script["/big"] = [(200, "x" * 5000, 0)]
    resp = http.request(first.url + "/big", max_body=100)
    assert (len(resp.body), resp.truncated) == (100, True)
    assert http.request(first.url + "/big").truncated is False


def test_tls_validation_and_ca_path(tls_server, cert):
    resp = http.request(tls_server.url + "/", timeout=5)
    assert resp.reason == http.REASON_TLS and resp.detail.startswith("TLS certificate verification failed")
    assert http.request(tls_server.url + "/", ca_path=cert[0]).status == 200
    assert http.request(tls_server.url + "/", validate_certs=False).status == 200
    resp = http.request(tls_server.url + "/", ca_path="/nonexistent/ca.pem")
    assert resp.reason == http.REASON_TLS and "ca_path" in resp.detail


def test_concurrent_requests_keep_their_own_tls_settings(tls_server):
    """Request.open() installs its opener for the whole process; without the gate about 1 in 100 of
    these requests ran with another thread's TLS context (validate_certs silently off or on)."""
    before = getattr(urllib.request, "_opener", None)
    wrong = []

    def check(index):
        validate = index % 2 == 0
        resp = http.request(tls_server.url + "/", validate_certs=validate, timeout=10)
        if (resp.status == 200) == validate:
            wrong.append((validate, resp.status, resp.reason))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy host would
    try:
        threads = [threading.Thread(target=check, args=(i,)) for i in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert wrong == []
    assert getattr(urllib.request, "_opener", None) is before  # nothing else inherits our TLS settings
