#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: prometheus_query
short_description: Run instant PromQL queries and list firing alerts from Prometheus and Alertmanager
version_added: "0.1.0"
description:
  - Runs named instant queries against the Prometheus HTTP API (C(/api/v1/query)).
  - Lists alerts firing in Prometheus (C(/api/v1/alerts)) and, when O(alertmanager_url) is set, the
    active alerts of Alertmanager (API v2 C(/api/v2/alerts)). Every firing alert is a finding.
  - Read only. When a server cannot be reached the module fails naming it, or with
    O(unreachable_ok=true) returns RV(reachable=false) and the error as a finding.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.info
options:
  prometheus_url:
    description: Base URL of Prometheus, for example C(http://127.0.0.1:9090).
    type: str
  alertmanager_url:
    description: Base URL of Alertmanager, for example C(http://127.0.0.1:9093).
    type: str
  queries:
    description: Instant queries to run, as name -> PromQL expression.
    type: dict
    default: {up: up}
  alerts:
    description: Fetch the firing alerts from Prometheus.
    type: bool
    default: true
  include_suppressed:
    description: Also list Alertmanager alerts that are silenced or inhibited.
    type: bool
    default: false
  headers:
    description: Headers sent to both servers (for example an C(Authorization) bearer); never returned.
    type: dict
    default: {}
  timeout:
    description: Per-request timeout in seconds.
    type: float
    default: 5.0
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
  unreachable_ok:
    description:
      - When a server does not answer, return RV(reachable=false), RV(error) and a critical finding
        instead of failing.
    type: bool
    default: false
notes:
  - Check mode is supported and behaves the same (the module only reads).
"""

EXAMPLES = r"""
- name: What does monitoring say?
  incident.response.prometheus_query:
    prometheus_url: "{{ incident_prometheus_url }}"
    alertmanager_url: "{{ incident_alertmanager_url }}"
    queries:
      up: up
      error_rate: sum(rate(http_requests_total{status=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
  register: prom

- name: Show which scrape targets are down
  ansible.builtin.debug:
    msg: "{{ prom.query_results.up | selectattr('value', 'equalto', 0) | map(attribute='metric.job') | list }}"
"""

RETURN = r"""
query_results:
  description: Per query name, the samples of the instant vector (a scalar is one sample with no labels).
  returned: always
  type: dict
  sample: {up: [{metric: {job: api, instance: "127.0.0.1:8000"}, value: 1.0}]}
firing:
  description: Sorted names of the firing alerts (Prometheus and Alertmanager together).
  returned: always
  type: list
  elements: str
  sample: [NoActiveWorkers]
pending:
  description: Sorted names of Prometheus alerts whose condition holds but whose C(for) has not elapsed.
  returned: always
  type: list
  elements: str
alerts:
  description: The firing alerts, one entry per alert and source.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: NoActiveWorkers, source: alertmanager, state: active, severity: P1,
       labels: {alertname: NoActiveWorkers, severity: P1}, annotations: {summary: No worker heartbeat},
       since: "2026-01-01T00:00:00Z", fingerprint: 2f3c...}
reachable:
  description: False when a server did not answer (only with O(unreachable_ok=true)).
  returned: always
  type: bool
error:
  description: What was unreachable and why.
  returned: when RV(reachable) is false
  type: str
findings:
  description: One finding per firing alert (severity from its C(severity) label), plus unreachable servers.
  returned: always
  type: list
  elements: dict
"""

import math

try:
    from urllib.parse import urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported
    pass

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.http_client import request, safe_url

CRITICAL = ("p0", "p1", "sev1", "sev2", "critical", "page")
WARNING = ("p2", "sev3", "warning", "high", "error")


class Unreachable(Exception):
    pass


def finding_severity(label):
    label = (label or "").lower()
    if label in CRITICAL:
        return "critical"
    if label in WARNING:
        return "warning"
    return "info"


def number(text):
    """A sample value as a JSON-safe number (NaN/Inf stay strings)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return text
    return value if math.isfinite(value) else text


class Client(object):
    def __init__(self, module):
        self.module = module
        self.p = module.params

    def get(self, base, path, what, form=None, request_name=None):
        """GET base+path (POST the urlencoded `form` when given) and return the parsed JSON."""
        headers = dict(self.p["headers"])
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        resp = request(base.rstrip("/") + path, method="GET" if form is None else "POST", headers=headers,
                       body=form, timeout=self.p["timeout"], validate_certs=self.p["validate_certs"])
        if resp.status == 0:
            raise Unreachable("%s at %s is unreachable: %s" % (what, safe_url(base), resp.error))
        doc = resp.json()
        if resp.status >= 400 or doc is None:
            detail = doc.get("error") if isinstance(doc, dict) else None
            if resp.status in (400, 422) and detail:
                self.module.fail_json(msg="%s at %s rejected %s: %s" % (what, safe_url(base), request_name or path, detail))
            raise Unreachable("%s at %s answered HTTP %d to %s: %s"
                              % (what, safe_url(base), resp.status, path, detail or resp.body[:200]))
        return doc


def run_queries(client, base, queries):
    results = {}
    for name, expr in queries.items():
        doc = client.get(base, "/api/v1/query", "Prometheus", form=urlencode({"query": expr}), request_name="query %s" % name)
        data = doc.get("data", {})
        if data.get("resultType") in ("scalar", "string"):
            results[name] = [dict(metric={}, value=number(data["result"][1]))]
        elif data.get("resultType") == "vector":
            results[name] = [dict(metric=s.get("metric", {}), value=number(s["value"][1])) for s in data["result"]]
        else:
            client.module.fail_json(msg="query %s returned a %s; only instant queries are supported"
                                    % (name, data.get("resultType")))
    return results


def prometheus_alerts(client, base):
    doc = client.get(base, "/api/v1/alerts", "Prometheus")
    out = []
    for alert in doc.get("data", {}).get("alerts", []):
        labels = alert.get("labels", {})
        out.append(dict(name=labels.get("alertname", ""), source="prometheus", state=alert.get("state"),
                        severity=labels.get("severity"), labels=labels, annotations=alert.get("annotations", {}),
                        since=alert.get("activeAt"), value=alert.get("value")))
    return out


def alertmanager_alerts(client, base, include_suppressed):
    flags = "active=true&silenced=%s&inhibited=%s" % (("true",) * 2 if include_suppressed else ("false",) * 2)
    doc = client.get(base, "/api/v2/alerts?" + flags, "Alertmanager")
    out = []
    for alert in doc or []:
        labels = alert.get("labels", {})
        out.append(dict(name=labels.get("alertname", ""), source="alertmanager",
                        state=alert.get("status", {}).get("state"), severity=labels.get("severity"),
                        labels=labels, annotations=alert.get("annotations", {}), since=alert.get("startsAt"),
                        fingerprint=alert.get("fingerprint")))
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prometheus_url=dict(type="str"),
            alertmanager_url=dict(type="str"),
            queries=dict(type="dict", default={"up": "up"}),
            alerts=dict(type="bool", default=True),
            include_suppressed=dict(type="bool", default=False),
            headers=dict(type="dict", default={}, no_log=True),
            timeout=dict(type="float", default=5.0),
            validate_certs=dict(type="bool", default=True),
            unreachable_ok=dict(type="bool", default=False),
        ),
        required_one_of=[["prometheus_url", "alertmanager_url"]],
        supports_check_mode=True,
    )
    p = module.params
    client = Client(module)
    result = dict(changed=False, query_results={}, firing=[], pending=[], alerts=[], reachable=True, findings=[])
    errors = []
    prom_alerts, am_alerts = [], []
    if p["prometheus_url"]:
        try:
            if p["queries"]:
                result["query_results"] = run_queries(client, p["prometheus_url"], p["queries"])
            if p["alerts"]:
                prom_alerts = prometheus_alerts(client, p["prometheus_url"])
        except Unreachable as exc:
            errors.append(str(exc))
    if p["alertmanager_url"]:
        try:
            am_alerts = alertmanager_alerts(client, p["alertmanager_url"], p["include_suppressed"])
        except Unreachable as exc:
            errors.append(str(exc))
    if errors and not p["unreachable_ok"]:
        module.fail_json(msg="; ".join(errors), **result)

    firing = [a for a in prom_alerts if a["state"] == "firing"] + am_alerts
    result.update(alerts=firing, firing=sorted(set(a["name"] for a in firing)),
                  pending=sorted(set(a["name"] for a in prom_alerts if a["state"] == "pending")))
    seen = set()
    for alert in firing:
        if alert["name"] in seen:
            continue
        seen.add(alert["name"])
        summary = alert["annotations"].get("summary") or alert["annotations"].get("description") or "firing"
        result["findings"].append(dict(severity=finding_severity(alert["severity"]), check="alert:%s" % alert["name"],
                                       message="%s firing (%s): %s" % (alert["name"], alert["severity"] or "no severity",
                                                                       summary)))
    if errors:
        result.update(reachable=False, error="; ".join(errors))
        result["findings"].extend(dict(severity="critical", check="monitoring", message=e) for e in errors)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
