# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's one HTTP client, on ansible.module_utils.urls (Request.open, make_context).

`request()` never raises for network trouble: it returns an `HttpResponse` whose `status` is 0
and whose `reason`/`error` say what happened (timeout, connection refused, TLS error...).
`request_with_retries()` adds exponential backoff with jitter. Nothing here logs or returns
request headers, so Authorization/API keys stay out of results; `safe_url()` strips secrets
from URLs before they are shown.

Redirects are followed here, one Request.open() per hop, not by urllib: at most `max_redirects`,
credentials (Authorization, Cookie, Proxy-Authorization, URL userinfo) never go to another origin,
https -> http is refused while credentials are sent, and every hop is listed in `.redirects`."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import contextlib
import json
import random
import socket
import ssl
import sys
import threading
import time

from http.client import HTTPException
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib import request as urllib_request
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit


def _import_urls():
    """ansible.module_utils.urls imports cryptography.x509 when it is imported (55 ms of every module
    run on this machine, the biggest part of a health probe's start-up) only to hash the server
    certificate for GSSAPI channel binding, which this client never asks for (use_gssapi is never set).
    Unless something already imported cryptography, urls is imported with it hidden; later imports of
    cryptography (paramiko for ssh:// Docker hosts) are not affected."""
    if "cryptography" in sys.modules:
        from ansible.module_utils import urls
        return urls
    sys.modules["cryptography"] = None
    try:
        from ansible.module_utils import urls
    finally:
        del sys.modules["cryptography"]
    return urls


_urls = _import_urls()
Request, make_context = _urls.Request, _urls.make_context

USER_AGENT = "incident.response (ansible collection)"
MAX_BODY_BYTES = 1024 * 1024
MAX_REDIRECTS = 10  # what urllib allowed before this client followed redirects itself

# Short reasons, stable for callers and findings.
REASON_TIMEOUT = "timeout"
REASON_REFUSED = "connection refused"
REASON_TLS = "TLS error"
REASON_DNS = "name resolution failed"
REASON_RESET = "connection reset"
REASON_CONNECTION = "connection error"
REASON_BAD_URL = "invalid URL"
REASON_REDIRECTS = "too many redirects"
REASON_REDIRECT_REFUSED = "redirect refused"

RETRYABLE_STATUSES = (408, 425, 429, 500, 502, 503, 504)
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
BODY_HEADERS = ("content-type", "content-length", "transfer-encoding")
DEFAULT_PORTS = {"http": 80, "https": 443}


class HttpResponse(object):
    """The outcome of one HTTP exchange. `status` 0 means nothing usable answered.
    `redirects`: the hops taken (or refused), each {status, location (safe_url), cross_origin}."""

    def __init__(self, url, status=0, headers=None, body="", latency_ms=0.0, reason=None, error=None):
        self.url = url
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.latency_ms = latency_ms
        self.reason = reason
        self.error = error
        self.detail = error  # the error without the URL (set by request())
        self.attempts = 1
        self.redirects = []
        self.truncated = False  # the body was longer than max_body and was cut

    @property
    def ok(self):
        return 200 <= self.status < 300

    def json(self):
        """The body parsed as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def describe(self):
        """One line for messages: 'HTTP 502' or 'connection refused: ...'."""
        if self.error:
            return self.error
        return "HTTP %d" % self.status

    def as_dict(self):
        return dict(url=safe_url(self.url), status=self.status, latency_ms=self.latency_ms,
                    reason=self.reason, error=self.error, attempts=self.attempts, redirects=list(self.redirects))


def safe_url(url, keep_path=True):
    """The URL without user:password, query string or fragment (and without the path when
    keep_path is false: Slack-style webhook URLs carry their secret in the path)."""
    try:
        parts = urlsplit(url)
    except (ValueError, TypeError):
        return "<invalid url>"
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % host
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host + (":%d" % port if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path if keep_path else "", "", ""))


def backoff_delay(attempt, base=0.5, cap=8.0, rng=random):
    """Seconds to wait before retry number `attempt` (1-based): exponential with equal jitter,
    i.e. uniform in [d/2, d] where d = min(cap, base * 2**(attempt-1))."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2.0 + rng.uniform(0, delay / 2.0)


_SSL_CONTEXTS = {}
_SSL_LOCK = threading.Lock()
_PLAIN_HTTP = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def _ssl_context(validate_certs, ca_path=None, client_cert=None, client_key=None, https=True):
    """(key, SSLContext) from ansible's make_context, cached: loading the CA store costs 20-50 ms, so a
    plain-http hop gets a bare context instead (Request.open() builds a full one when given none, and
    an http exchange never uses it)."""
    if not https:
        return "plain-http", _PLAIN_HTTP
    key = (bool(validate_certs), ca_path, client_cert, client_key)
    with _SSL_LOCK:
        if key not in _SSL_CONTEXTS:
            _SSL_CONTEXTS[key] = make_context(cafile=ca_path, validate_certs=validate_certs,
                                              client_cert=client_cert, client_key=client_key)
        return key, _SSL_CONTEXTS[key]


class _OpenerGate(object):
    """Request.open() installs its opener process-wide (urllib's install_opener) and then opens through
    the global one, so two threads with different TLS settings could swap openers. Here the openers of
    one key (TLS context, proxy use) are interchangeable: calls of one key run together, another key
    waits until they are done (and goes first after them). The previous global opener is put back
    when the last call leaves, so nothing else in the process inherits our TLS settings."""

    def __init__(self):
        self._cond = threading.Condition()
        self._key = None
        self._active = 0
        self._waiting = {}
        self._saved = None

    def _others_waiting(self, key):
        return any(n for k, n in self._waiting.items() if k != key)

    @contextlib.contextmanager
    def hold(self, key):
        with self._cond:
            self._waiting[key] = self._waiting.get(key, 0) + 1
            while self._active and (self._key != key or self._others_waiting(key)):
                self._cond.wait()
            self._waiting[key] -= 1
            if not self._active:
                self._saved = getattr(urllib_request, "_opener", None)
            self._key = key
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                if not self._active:
                    urllib_request.install_opener(self._saved)
                    self._key = self._saved = None
                self._cond.notify_all()


_GATE = _OpenerGate()


class _NoCookies(DefaultCookiePolicy):
    """Request.open() always adds a cookie processor; this jar never stores a cookie, so no cookie set
    by one response is sent with another request (as with the plain urllib opener before)."""

    def set_ok(self, cookie, request):
        return False

    def return_ok(self, cookie, request):
        return False


def _classify(exc):
    """(reason, detail) for a network-level exception."""
    inner = getattr(exc, "reason", exc) if isinstance(exc, URLError) else exc
    if isinstance(inner, ssl.SSLCertVerificationError):
        return REASON_TLS, "TLS certificate verification failed: %s" % (inner.verify_message or inner)
    if isinstance(inner, ssl.SSLError):
        return REASON_TLS, "TLS handshake failed: %s" % (inner.reason or inner)
    if isinstance(inner, (socket.timeout, TimeoutError)):
        return REASON_TIMEOUT, "timed out"
    if isinstance(inner, ConnectionRefusedError):
        return REASON_REFUSED, "connection refused"
    if isinstance(inner, socket.gaierror):
        return REASON_DNS, "name resolution failed: %s" % inner
    if isinstance(inner, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return REASON_RESET, "connection reset by peer"
    if isinstance(inner, HTTPException):
        return REASON_CONNECTION, "connection closed without a valid HTTP response (%s)" % (type(inner).__name__)
    text = str(inner)
    if "timed out" in text:
        return REASON_TIMEOUT, "timed out"
    return REASON_CONNECTION, text or type(inner).__name__


def _split_userinfo(url):
    """(url without user:password@, "user:password" or None) - credentials are sent as a header."""
    try:
        parts = urlsplit(url)
    except (ValueError, TypeError):
        return url, None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _sep, hostport = parts.netloc.rpartition("@")
    user, _sep, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), "%s:%s" % (unquote(user), unquote(password))


def _origin(url):
    """(scheme, host, port) with the default port filled in; None when the URL is not http(s)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError):
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS[scheme]


def _read(fh, limit):
    """(text, truncated): at most `limit` bytes of the body."""
    data = fh.read(limit + 1)
    return data[:limit].decode("utf-8", errors="replace"), len(data) > limit


def _exchange(method, url, data, headers, timeout, tls, use_proxy, max_body):
    """One HTTP exchange through ansible's Request.open, redirects not followed.
    Returns (status, headers, text, truncated); network errors raise."""
    key, context = tls
    with _GATE.hold((key, bool(use_proxy))):
        try:
            resp = Request(cookies=CookieJar(policy=_NoCookies())).open(
                method, url, data=data, headers=headers, timeout=timeout, use_proxy=use_proxy, context=context,
                follow_redirects="none", use_netrc=False, decompress=False)
        except HTTPError as exc:  # any non-2xx answer, 3xx included
            resp = exc
    try:
        resp_headers = dict((k.lower(), v) for k, v in (resp.headers or {}).items())
        if isinstance(resp, HTTPError):
            try:
                text, truncated = _read(resp, max_body) if resp.fp else ("", False)
            except (OSError, HTTPException, ValueError):
                text, truncated = "", False
            return resp.code, resp_headers, text, truncated
        text, truncated = _read(resp, max_body)
        return resp.status, resp_headers, text, truncated
    finally:
        resp.close()


def _next_hop(method, data, headers, status, current, target):
    """Method, body and headers for following `status` from `current` to `target` (as browsers and
    requests do), or (None, reason) when the redirect must not be followed."""
    if _origin(target) is None:
        return None, "refused to follow a redirect to %s (only http and https)" % (safe_url(target) or "an invalid URL")
    cross = _origin(target) != _origin(current)
    sends_credentials = any(k.lower() in CREDENTIAL_HEADERS for k in headers)
    if _origin(current)[0] == "https" and _origin(target)[0] == "http" and sends_credentials:
        return None, "refused to follow a redirect from https to http (%s) while sending credentials" % safe_url(target)
    headers = dict(headers)
    if cross:
        headers = dict((k, v) for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS)
    if status not in (307, 308):
        data = None
        headers = dict((k, v) for k, v in headers.items() if k.lower() not in BODY_HEADERS)
        if (status in (302, 303) and method != "HEAD") or (status == 301 and method == "POST"):
            method = "GET"
    return (method, data, headers), None


def _failure(url, method, reason, detail, latency_ms, redirects):
    resp = HttpResponse(url, 0, latency_ms=latency_ms, reason=reason, error="%s (%s %s)" % (detail, method, safe_url(url)))
    resp.detail = detail
    resp.redirects = redirects
    return resp


def request(url, method="GET", headers=None, body=None, json_body=None, timeout=10.0,
            validate_certs=True, ca_path=None, follow_redirects=True, use_proxy=True,
            max_body=MAX_BODY_BYTES, max_redirects=MAX_REDIRECTS, client_cert=None, client_key=None):
    """Perform one HTTP request and return an HttpResponse (never raises for network errors).

    `body` (str/bytes) or `json_body` (any JSON-able value) is sent; HTTP error statuses are
    responses like any other (check `.status`/`.ok`). `timeout` bounds the whole exchange,
    redirects included; without `follow_redirects` a 3xx is the answer."""
    method = method.upper()
    hdrs = {"User-Agent": USER_AGENT}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode("utf-8")
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        data = body.encode("utf-8") if not isinstance(body, bytes) else body
    url, basic = _split_userinfo(url)
    if basic:
        hdrs["Authorization"] = "Basic " + base64.b64encode(basic.encode("utf-8")).decode("ascii")
    hdrs.update(headers or {})
    if _origin(url) is None:
        resp = _failure(url, method, REASON_BAD_URL, "invalid URL (scheme must be http or https)", 0.0, [])
        resp.error = "invalid URL %s: scheme must be http or https, with a host" % safe_url(url)
        return resp
    redirects = []
    spent = 0.0
    current, hop_method = url, method
    while True:
        remaining = timeout - spent if timeout else None
        if remaining is not None and remaining <= 0:
            return _failure(url, method, REASON_TIMEOUT, "timed out after %ss" % timeout, round(spent * 1000.0, 1), redirects)
        try:
            tls = _ssl_context(validate_certs, ca_path, client_cert, client_key, https=_origin(current)[0] == "https")
        except (OSError, ssl.SSLError, ValueError) as exc:
            return _failure(url, method, REASON_TLS, "TLS setup failed (ca_path/client certificate): %s" % exc,
                            round(spent * 1000.0, 1), redirects)
        start = time.monotonic()
        try:
            status, resp_headers, text, truncated = _exchange(hop_method, current, data, hdrs, remaining, tls, use_proxy, max_body)
        except (URLError, OSError, HTTPException, ValueError) as exc:
            spent += time.monotonic() - start
            reason, detail = _classify(exc)
            if reason == REASON_TIMEOUT:
                detail = "timed out after %ss" % timeout
            return _failure(url, method, reason, detail, round(spent * 1000.0, 1), redirects)
        spent += time.monotonic() - start
        location = resp_headers.get("location") or resp_headers.get("uri")
        if not (follow_redirects and status in REDIRECT_STATUSES and location):
            resp = HttpResponse(url, status, resp_headers, text, round(spent * 1000.0, 1))
            resp.redirects, resp.truncated = redirects, truncated
            return resp
        target, _userinfo = _split_userinfo(urljoin(current, location.strip().replace(" ", "%20")))  # never server-given credentials
        redirects.append(dict(status=status, location=safe_url(target), cross_origin=_origin(target) != _origin(current)))
        if len(redirects) > max_redirects:
            return _failure(url, method, REASON_REDIRECTS, "more than %d redirects (last to %s)" % (max_redirects, safe_url(target)),
                            round(spent * 1000.0, 1), redirects)
        hop, refusal = _next_hop(hop_method, data, hdrs, status, current, target)
        if refusal:
            return _failure(url, method, REASON_REDIRECT_REFUSED, refusal, round(spent * 1000.0, 1), redirects)
        (hop_method, data, hdrs), current = hop, target


def is_retryable(resp):
    if resp.status == 0:
        return resp.reason not in (REASON_BAD_URL, REASON_REDIRECTS, REASON_REDIRECT_REFUSED)
    return resp.status in RETRYABLE_STATUSES


def request_with_retries(url, retries=2, backoff=0.5, max_backoff=8.0, sleep=time.sleep, **kwargs):
    """request() retried up to `retries` more times on network errors and 408/429/5xx, waiting
    backoff_delay() between attempts (Retry-After is honoured up to max_backoff).
    The returned response carries `.attempts`."""
    attempt = 0
    while True:
        attempt += 1
        resp = request(url, **kwargs)
        resp.attempts = attempt
        if attempt > retries or not is_retryable(resp):
            return resp
        delay = backoff_delay(attempt, backoff, max_backoff)
        retry_after = resp.headers.get("retry-after", "")
        if retry_after.isdigit():
            delay = min(max_backoff, float(retry_after))
        sleep(delay)
