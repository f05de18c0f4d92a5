# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small HTTP client on the standard library (urllib), shared by the HTTP-facing modules.

`request()` never raises for network trouble: it returns an `HttpResponse` whose `status` is 0
and whose `reason`/`error` say what happened (timeout, connection refused, TLS error...).
`request_with_retries()` adds exponential backoff with jitter. Nothing here logs or returns
request headers, so Authorization/API keys stay out of results; `safe_url()` strips secrets
from URLs before they are shown."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import json
import random
import socket
import ssl
import time

from http.client import HTTPException
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import HTTPSHandler, HTTPRedirectHandler, ProxyHandler, Request, build_opener

USER_AGENT = "incident.response (ansible collection)"
MAX_BODY_BYTES = 1024 * 1024

# Short reasons, stable for callers and findings.
REASON_TIMEOUT = "timeout"
REASON_REFUSED = "connection refused"
REASON_TLS = "TLS error"
REASON_DNS = "name resolution failed"
REASON_RESET = "connection reset"
REASON_CONNECTION = "connection error"
REASON_BAD_URL = "invalid URL"

RETRYABLE_STATUSES = (408, 425, 429, 500, 502, 503, 504)


class HttpResponse(object):
    """The outcome of one HTTP exchange. `status` 0 means nothing usable answered."""

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
                    reason=self.reason, error=self.error, attempts=self.attempts)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


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


def _ssl_context(validate_certs, ca_path=None):
    """A cached SSLContext (loading the CA store costs ~20 ms, so do it once per process)."""
    key = (bool(validate_certs), ca_path)
    if key not in _SSL_CONTEXTS:
        ctx = ssl.create_default_context(cafile=ca_path)
        if not validate_certs:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        _SSL_CONTEXTS[key] = ctx
    return _SSL_CONTEXTS[key]


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
    """(url without user:password@, "user:password" or None) - urllib does not do it itself."""
    try:
        parts = urlsplit(url)
    except (ValueError, TypeError):
        return url, None
    if "@" not in parts.netloc:
        return url, None
    userinfo, _sep, hostport = parts.netloc.rpartition("@")
    user, _sep, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), "%s:%s" % (unquote(user), unquote(password))


def _read(fh, limit):
    data = fh.read(limit + 1)
    return data[:limit].decode("utf-8", errors="replace")


def request(url, method="GET", headers=None, body=None, json_body=None, timeout=10.0,
            validate_certs=True, ca_path=None, follow_redirects=True, use_proxy=True,
            max_body=MAX_BODY_BYTES):
    """Perform one HTTP request and return an HttpResponse (never raises for network errors).

    `body` (str/bytes) or `json_body` (any JSON-able value) is sent; HTTP error statuses are
    responses like any other (check `.status`/`.ok`)."""
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
    try:
        req = Request(url, data=data, method=method.upper(), headers=hdrs)
    except ValueError as exc:
        resp = HttpResponse(url, reason=REASON_BAD_URL, error="invalid URL %s: %s" % (safe_url(url), exc))
        resp.detail = "invalid URL (scheme must be http or https)"
        return resp
    handlers = []
    if req.type == "https":
        handlers.append(HTTPSHandler(context=_ssl_context(validate_certs, ca_path)))
    if not follow_redirects:
        handlers.append(_NoRedirect())
    if not use_proxy:
        handlers.append(ProxyHandler({}))
    opener = build_opener(*handlers)
    start = time.monotonic()

    def elapsed():
        return round((time.monotonic() - start) * 1000.0, 1)

    try:
        with opener.open(req, timeout=timeout) as resp:
            text = _read(resp, max_body)
            return HttpResponse(url, resp.status, dict((k.lower(), v) for k, v in resp.headers.items()), text, elapsed())
    except HTTPError as exc:
        try:
            text = _read(exc, max_body)
        except (OSError, HTTPException, ValueError):
            text = ""
        return HttpResponse(url, exc.code, dict((k.lower(), v) for k, v in (exc.headers or {}).items()), text, elapsed())
    except (URLError, OSError, HTTPException, ValueError) as exc:
        reason, detail = _classify(exc)
        if reason == REASON_TIMEOUT:
            detail = "timed out after %ss" % timeout
        resp = HttpResponse(url, 0, latency_ms=elapsed(), reason=reason,
                            error="%s (%s %s)" % (detail, method.upper(), safe_url(url)))
        resp.detail = detail
        return resp


def is_retryable(resp):
    return (resp.status == 0 and resp.reason != REASON_BAD_URL) or resp.status in RETRYABLE_STATUSES


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
