#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: http_check
short_description: Check one or many HTTP endpoints concurrently and give a verdict per URL
version_added: "0.1.0"
description:
  - Requests every URL in parallel (thread pool) and reports status, latency and a healthy/unhealthy
    verdict with the reason (timeout, connection refused, TLS error, unexpected status, body or
    JSON mismatch, too slow).
  - Replaces C(curl -f), C(curl -w '%{http_code} %{time_total}') and the engine health checks of the runbooks.
  - Never changes anything. Every unhealthy URL is a finding, so the module itself does not fail
    because a target is down.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.info
options:
  url:
    description:
      - A single URL to check (shortcut for one entry in O(checks), named C(default)).
    type: str
  checks:
    description:
      - The URLs to check. Per-check settings override the module-level defaults.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name of the check in the results; defaults to the URL.
        type: str
      url:
        description: URL to request.
        type: str
        required: true
      method:
        description: HTTP method.
        type: str
        default: GET
      body:
        description: Request body (sent as is).
        type: str
      headers:
        description: Extra request headers (for example C(Authorization)); never returned.
        type: dict
      expect_status:
        description:
          - Statuses that count as healthy. Default is any 2xx or 3xx (like C(curl -f)).
        type: list
        elements: int
      body_contains:
        description: Text the body must contain.
        type: str
      body_regex:
        description: Python regular expression the body must match (searched anywhere).
        type: str
      json_path:
        description:
          - JMESPath expression evaluated on the JSON body. Without O(checks[].json_equals) the value must be
            truthy (not null, false, 0 or empty).
        type: str
      json_equals:
        description: Value the O(checks[].json_path) result must equal.
        type: raw
      timeout:
        description: Seconds before the request counts as timed out; defaults to O(timeout).
        type: float
      validate_certs:
        description: Verify TLS certificates; defaults to O(validate_certs).
        type: bool
      max_latency_ms:
        description: Slower answers are unhealthy (reason C(slow)).
        type: float
      severity:
        description: Severity of the finding when this check is unhealthy.
        type: str
        choices: [critical, warning, info]
        default: critical
  timeout:
    description: Default per-request timeout in seconds.
    type: float
    default: 5.0
  validate_certs:
    description: Default for TLS certificate verification.
    type: bool
    default: true
  headers:
    description: Headers sent with every request (merged under the per-check ones); never returned.
    type: dict
    default: {}
  retries:
    description:
      - Extra attempts for a URL that got no answer or a 5xx, with exponential backoff; the last
        answer is reported. 0 reports the first answer (what a probe sees).
    type: int
    default: 0
  concurrency:
    description: Maximum number of requests in flight.
    type: int
    default: 16
notes:
  - Check mode is supported and behaves the same (the module only reads).
  - Needs the C(jmespath) Python library only when O(checks[].json_path) is used.
"""

EXAMPLES = r"""
- name: Check the API and the proxy in front of it
  incident.response.http_check:
    checks:
      - name: api
        url: "{{ shop_api_url }}/health"
        json_path: status
        json_equals: ok
      - name: nginx
        url: "{{ shop_public_url }}/nginx-health"
      - name: public
        url: "{{ shop_public_url }}/health"
        expect_status: [200]
        max_latency_ms: 1000
    timeout: 3
  register: http

- name: One URL, curl -f style
  incident.response.http_check:
    url: https://status.example.com/
  register: status_page
"""

RETURN = r"""
checks:
  description:
    - Result per check name.
    - C(redirects) lists the redirects followed (status, location without credentials or query, cross_origin),
      at most 10; headers such as C(Authorization) and C(Cookie) are not sent to another origin, and a
      redirect from https to http is refused (reason C(redirect refused)) while they are sent.
  returned: always
  type: dict
  sample:
    api: {url: "http://127.0.0.1:8000/health", method: GET, status: 200, latency_ms: 3.1, healthy: true, reason: ok}
    nginx: {url: "http://127.0.0.1:8080/health", method: GET, status: 502, latency_ms: 1.2, healthy: false,
            reason: unexpected status 502}
    worker: {url: "http://127.0.0.1:8001/health", method: GET, status: 0, latency_ms: 0.3, healthy: false,
             reason: connection refused, error: "connection refused (GET http://127.0.0.1:8001/health)"}
    login: {url: "https://shop.example.com/account", method: GET, status: 200, latency_ms: 9.8, healthy: true, reason: ok,
            redirects: [{status: 302, location: "https://sso.example.com/login", cross_origin: true}]}
healthy:
  description: True when every check is healthy.
  returned: always
  type: bool
unhealthy:
  description: Names of the unhealthy checks, in the order given.
  returned: always
  type: list
  elements: str
healthy_checks:
  description: Names of the healthy checks, in the order given.
  returned: always
  type: list
  elements: str
duration_ms:
  description: Wall time of the whole run.
  returned: always
  type: float
findings:
  description: One finding per unhealthy check.
  returned: always
  type: list
  elements: dict
  sample:
    - {severity: critical, check: "http:api", message: "api (http://127.0.0.1:8000/health): connection refused"}
"""

import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.incident.response.plugins.module_utils.http_client import (
    request_with_retries, safe_url, REASON_TIMEOUT)

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:
    HAS_JMESPATH = False

CHECK_SPEC = dict(
    name=dict(type="str"),
    url=dict(type="str", required=True),
    method=dict(type="str", default="GET"),
    body=dict(type="str"),
    headers=dict(type="dict", no_log=True),
    expect_status=dict(type="list", elements="int"),
    body_contains=dict(type="str"),
    body_regex=dict(type="str"),
    json_path=dict(type="str"),
    json_equals=dict(type="raw"),
    timeout=dict(type="float"),
    validate_certs=dict(type="bool"),
    max_latency_ms=dict(type="float"),
    severity=dict(type="str", default="critical", choices=["critical", "warning", "info"]),
)


def status_ok(status, expect):
    if expect:
        return status in expect
    return 200 <= status < 400


def body_verdict(check, resp):
    """None when the body satisfies the check, else the reason; also the JSON value when asked."""
    if check.get("body_contains") and check["body_contains"] not in resp.body:
        return "body mismatch: %r not found" % check["body_contains"], None
    if check.get("body_regex") and not re.search(check["body_regex"], resp.body):
        return "body mismatch: /%s/ not found" % check["body_regex"], None
    if not check.get("json_path"):
        return None, None
    doc = resp.json()
    if doc is None:
        return "body mismatch: not JSON", None
    value = jmespath.search(check["json_path"], doc)
    if check.get("json_equals") is not None:
        if value != check["json_equals"]:
            return "body mismatch: %s is %r, expected %r" % (check["json_path"], value, check["json_equals"]), value
    elif not value:
        return "body mismatch: %s is %r" % (check["json_path"], value), value
    return None, value


def run_check(check, defaults):
    headers = dict(defaults["headers"] or {})
    headers.update(check.get("headers") or {})
    timeout = check["timeout"] if check.get("timeout") is not None else defaults["timeout"]
    resp = request_with_retries(
        check["url"], retries=defaults["retries"], method=check["method"], headers=headers, body=check.get("body"),
        timeout=timeout,
        validate_certs=defaults["validate_certs"] if check.get("validate_certs") is None else check["validate_certs"])
    result = dict(url=safe_url(check["url"]), method=check["method"].upper(), status=resp.status,
                  latency_ms=resp.latency_ms, healthy=False, reason="ok")
    if resp.attempts > 1:
        result["attempts"] = resp.attempts
    if resp.redirects:
        result["redirects"] = resp.redirects
    if resp.status == 0:
        result.update(reason=resp.reason, error=resp.error)
        if resp.reason == REASON_TIMEOUT:
            result["reason"] = "timeout after %ss" % timeout
        return result
    if not status_ok(resp.status, check.get("expect_status")):
        result["reason"] = "unexpected status %d" % resp.status
        return result
    reason, value = body_verdict(check, resp)
    if check.get("json_path"):
        result["json_value"] = value
    if reason:
        result["reason"] = reason
        return result
    if check.get("max_latency_ms") is not None and resp.latency_ms > check["max_latency_ms"]:
        result["reason"] = "slow: %.0f ms > %.0f ms" % (resp.latency_ms, check["max_latency_ms"])
        return result
    result["healthy"] = True
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str"),
            checks=dict(type="list", elements="dict", default=[], options=CHECK_SPEC),
            timeout=dict(type="float", default=5.0),
            validate_certs=dict(type="bool", default=True),
            headers=dict(type="dict", default={}, no_log=True),
            retries=dict(type="int", default=0),
            concurrency=dict(type="int", default=16),
        ),
        required_one_of=[["url", "checks"]],
        supports_check_mode=True,
    )
    p = module.params
    checks = list(p["checks"])
    if p["url"]:
        checks.insert(0, dict((k, v.get("default")) for k, v in CHECK_SPEC.items()))
        checks[0].update(name="default", url=p["url"])
    names = []
    for check in checks:
        check["name"] = check.get("name") or safe_url(check["url"])
        if check["name"] in names:
            module.fail_json(msg="http_check: two checks are named %r; give each a unique name" % check["name"])
        names.append(check["name"])
        if check.get("json_path") and not HAS_JMESPATH:
            module.fail_json(msg=missing_required_lib("jmespath"))
        if check.get("body_regex"):
            try:
                re.compile(check["body_regex"])
            except re.error as exc:
                module.fail_json(msg="http_check %s: invalid body_regex: %s" % (check["name"], exc))

    start = time.monotonic()
    workers = max(1, min(p["concurrency"], len(checks)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda c: run_check(c, p), checks))
    by_name = dict(zip(names, results))
    unhealthy = [n for n in names if not by_name[n]["healthy"]]
    findings = [dict(severity=c["severity"], check="http:%s" % c["name"],
                     message="%s (%s): %s" % (c["name"], by_name[c["name"]]["url"], by_name[c["name"]]["reason"]))
                for c in checks if not by_name[c["name"]]["healthy"]]
    module.exit_json(changed=False, checks=by_name, healthy=not unhealthy, unhealthy=unhealthy,
                     healthy_checks=[n for n in names if by_name[n]["healthy"]], findings=findings,
                     duration_ms=round((time.monotonic() - start) * 1000.0, 1))


if __name__ == "__main__":
    main()
