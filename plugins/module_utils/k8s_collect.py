# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What k8s_workload_info reads per namespace (the `kubectl get/describe/logs/top` of triage): the workload,
its own pods, per-container logs (a log the API cannot give is a finding), events, nodes, HPA, metrics and the
revision history with the last good revision. Interpretation is in k8s_inspect.py."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError, revision_of, selector_string
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import (
    current_version, last_good_revision, last_good_statefulset, parse_quantity, previous_revision, pod_findings, pod_summary, template_images,
    workload_findings, workload_state, workload_summary)
from ansible_collections.incident.response.plugins.module_utils.k8s_rollout import owned_by, revision_template

ERROR_LINE = re.compile(r"\b(ERROR|FATAL|CRITICAL|panic|Traceback)\b|\"(level|severity)\"\s*:\s*\"(error|fatal|critical)\"", re.I)
MAX_LOG_PODS = 3
MAX_EVENTS = 20
PLURAL = {"deployment": "deployments", "statefulset": "statefulsets", "pod": "pods"}


def _tolerant(fn, default):
    """Optional reads (events, nodes, HPA, metrics): a 403/404/503 gives `default`, an outage still raises."""
    try:
        return fn()
    except K8sError as exc:
        if exc.status in (0, 401):
            raise
        return default


class NamespaceReader(object):
    def __init__(self, client, namespace, log_lines=20, previous_logs=True, events=True, metrics=True):
        self.client, self.namespace = client, namespace
        self.log_lines, self.previous_logs, self.want_events, self.want_metrics = log_lines, previous_logs, events, metrics
        self._cache = {}

    def _once(self, key, fn, default):
        if key not in self._cache:
            self._cache[key] = _tolerant(fn, default)
        return self._cache[key]

    def nodes(self):
        def read():
            out = {}
            for node in self.client.items("nodes"):
                conds = (node.get("status") or {}).get("conditions") or []
                ready = next((c.get("status") == "True" for c in conds if c.get("type") == "Ready"), None)
                bad = ["%s=%s (%s)" % (c.get("type"), c.get("status"), c.get("reason") or "") for c in conds
                       if (c.get("type") == "Ready") != (c.get("status") == "True")]
                out[node["metadata"]["name"]] = dict(ready=ready, conditions=bad)
            return out
        return self._once("nodes", read, {})

    def events(self):
        return self._once("events", lambda: self.client.items("events", self.namespace), []) if self.want_events else []

    def hpas(self):
        return self._once("hpas", lambda: self.client.items("horizontalpodautoscalers", self.namespace), [])

    def metrics(self):
        def read():
            out = {}
            for item in self.client.items("podmetrics", self.namespace):
                cpu = sum(parse_quantity((c.get("usage") or {}).get("cpu")) or 0 for c in item.get("containers") or [])
                mem = sum(parse_quantity((c.get("usage") or {}).get("memory")) or 0 for c in item.get("containers") or [])
                out[item["metadata"]["name"]] = dict(cpu="%dm" % round(cpu * 1000), memory="%dMi" % round(mem / 2 ** 20))
            return out
        return self._once("metrics", read, None) if self.want_metrics else None

    def find(self, name, kind):
        """(kind, object) of the first kind that has `name`, or (None, None)."""
        for k in (["deployment", "statefulset", "pod"] if kind == "auto" else [kind]):
            try:
                return k, self.client.get(PLURAL[k], self.namespace, name)
            except K8sError as exc:
                if exc.status != 404:
                    raise
        return None, None

    def namespace_exists(self):
        try:
            self.client.get("namespaces", None, self.namespace)
        except K8sError as exc:
            return exc.status != 404
        return True

    def inspect(self, kind, obj):
        """(workload entry, findings) for a Deployment, StatefulSet or bare Pod."""
        name = obj["metadata"]["name"]
        if kind == "pod":
            raw_pods, history, last_good, owners, previous, version = [obj], [], (None, "a bare pod has no revisions"), {}, None, None
        else:
            raw_pods, history, last_good, owners, previous, version = self._owned(kind, obj)
        nodes = self.nodes()
        pods = [pod_summary(p, dict((n, v["ready"]) for n, v in nodes.items())) for p in raw_pods]
        if kind == "pod":
            pod = pods[0]
            summary = dict(kind="pod", name=name, namespace=self.namespace, replicas=1, ready=int(pod["ready"]),
                           available=int(pod["ready"]), updated=1, images=[c["image"] for c in pod["containers"] if not c["init"]],
                           paused=False, rollout_complete=pod["ready"], rollout_reason=pod["reason"] or pod["phase"] or "")
        else:
            summary = workload_summary(kind, obj)
        state = workload_state(summary)
        findings = workload_findings(name, state, summary)
        for pod in pods:
            findings.extend(pod_findings(name, pod))
        findings.extend(self._logs(name, pods))
        names = set([name] + [p["name"] for p in pods] + list(owners))
        entry = dict(kind=kind, state=state, pods=pods, history=history, events=self._events_of(names),
                     hpa=self._hpa_of(kind, name), last_good_revision=last_good[0], last_good_basis=last_good[1],
                     previous_revision=previous, current_version=version,
                     nodes=dict((p["node"], nodes[p["node"]]) for p in pods if p["node"] in nodes))
        entry[kind] = summary
        metrics = self.metrics()
        entry["metrics"] = None if metrics is None else dict((p["name"], metrics.get(p["name"])) for p in pods)
        return entry, findings

    def _owned(self, kind, obj):
        selector = selector_string(obj["spec"].get("selector"))
        pods = self.client.items("pods", self.namespace, label_selector=selector) if selector else []
        uid = obj["metadata"]["uid"]
        if kind == "deployment":
            sets = [rs for rs in self.client.items("replicasets", self.namespace, label_selector=selector or None)
                    if owned_by(rs, uid)]
            current = revision_of(obj)
            history = [dict(revision=revision_of(rs), images=template_images(rs["spec"]["template"]), current=revision_of(rs) == current,
                            replicas=rs["spec"].get("replicas", 0), available=(rs.get("status") or {}).get("availableReplicas", 0),
                            created=rs["metadata"].get("creationTimestamp"))
                       for rs in sorted(sets, key=revision_of)]
            owners = dict((rs["metadata"]["name"], rs["metadata"]["uid"]) for rs in sets)
            last_good, previous, version = last_good_revision(obj, sets), previous_revision(obj, sets), current_version(obj, sets)
        else:
            revs = [r for r in self.client.items("controllerrevisions", self.namespace) if owned_by(r, uid)]
            update = (obj.get("status") or {}).get("updateRevision")
            history = [dict(revision=r.get("revision"), images=template_images(revision_template(r)),
                            current=r["metadata"]["name"] == update, name=r["metadata"]["name"],
                            created=r["metadata"].get("creationTimestamp"))
                       for r in sorted(revs, key=lambda r: r.get("revision", 0))]
            owners = {obj["metadata"]["name"]: uid}
            last_good = last_good_statefulset(obj, revs)
            older = [h["revision"] for h in history if not h["current"] and h["revision"]]
            previous = max(older) if older else None
            cur = [h for h in history if h["current"]]
            version = dict(since=cur[0]["created"] if cur else None, rolled_back=False, by_responder=False)
        mine = [p for p in pods if any(owned_by(p, u) for u in owners.values())]
        return mine, history, last_good, owners, previous, version

    def _hpa_of(self, kind, name):
        for hpa in self.hpas():
            ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
            if ref.get("kind", "").lower() == kind and ref.get("name") == name:
                spec, status = hpa.get("spec") or {}, hpa.get("status") or {}
                return dict(name=hpa["metadata"]["name"], min=spec.get("minReplicas", 1), max=spec.get("maxReplicas"),
                            current=status.get("currentReplicas"), desired=status.get("desiredReplicas"))
        return None

    def _events_of(self, names):
        def when(ev):
            return ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get("creationTimestamp") or ""
        mine = sorted((e for e in self.events() if (e.get("involvedObject") or {}).get("name") in names), key=when)
        return [dict(type=e.get("type"), reason=e.get("reason"), message=e.get("message"), count=e.get("count"),
                     object="%s/%s" % (e["involvedObject"].get("kind"), e["involvedObject"].get("name")), last_seen=when(e))
                for e in mine[-MAX_EVENTS:]]

    def _logs(self, workload, pods):
        """Logs of the unready containers of the first unready pods, current and previous run; a log the API
        will not give (400: not started, no previous run) is a finding, not a failure."""
        found = []
        if not self.log_lines:
            return found
        for pod in [p for p in pods if not p["ready"]][:MAX_LOG_PODS]:
            pod["logs"], pod["previous_logs"], errors = {}, {}, []
            for c in pod["containers"]:
                if c["ready"] or (c["init"] and c["reason"] == "Completed"):
                    continue
                runs = [(False, pod["logs"])] + ([(True, pod["previous_logs"])] if self.previous_logs and c["last_reason"] else [])
                for previous, into in runs:
                    try:
                        text = self.client.pod_log(self.namespace, pod["name"], c["name"], previous, self.log_lines)
                    except K8sError as exc:
                        if exc.status in (0, 401):
                            raise
                        found.append(dict(severity="info", check="k8s_log_unavailable", pod=pod["name"], container=c["name"],
                                          message="%s: no %slog of pod %s container %s: %s" % (
                                              workload, "previous " if previous else "", pod["name"], c["name"], exc)))
                        continue
                    into[c["name"]] = text.splitlines()
                    errors.extend(line for line in into[c["name"]] if ERROR_LINE.search(line))
            pod["log_errors"], pod["log_sample"] = len(errors), errors[-5:]
        return found
