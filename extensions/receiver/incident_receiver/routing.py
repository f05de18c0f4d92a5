"""Routing rules as data: match an alert on alertname/labels/severity -> playbook + extra vars.

The collection's one table is playbooks/vars/routes.yml (respond.yml reads it, the EDA rulebook is
generated from it); the receiver's routes.yml `extends` it and may add receiver-only keys:
    extends: playbooks/vars/routes.yml  # relative to the collection root (`repo`), or absolute
    severity_label: severity          # label holding P0-P3 / SEV1-SEV4 / critical|warning|info
    severity_aliases: {critical: P0}  # word -> P0-P3 (the table's; `severity_map` adds to it)
    service_labels: [service, job]    # first one present names the service (per-service lock)
    runtime_labels: [namespace]       # any of them present: the alert is about a Kubernetes workload
    cooldown_s: 300                   # a finished run absorbs the same alert for this long
    routes:
      - name: api-down
        match: {alertname: [ServiceDown, TaskSchedulerAPIDown], service: api}   # exact, list = any
                                       # (also `runtime: kubernetes` or `runtime: ""`, from runtime_labels)
        match_re: {instance: '127\\.0\\.0\\.1:.*'}                               # full-match regex
        priority: [P0, P1]                                                      # normalised severity
        playbook: api-down.yml         # a file directly under playbooks_dir; null = record only
        unattended_priority: [P0, P1]  # below these: recorded only (respond.yml still runs it)
        dedupe_by: [service]           # labels forming the dedupe key (default: the fingerprint)
        dedupe_as: api-down            # routes sharing one run (default: the route's name)
        extra_vars: {p0_outage_service: api}
    default: {name: default, playbook: respond.yml}
"""
import os
import re

import yaml

PLAYBOOK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}\.ya?ml$")
ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRIORITIES = ("P0", "P1", "P2", "P3")
# The table's severity_aliases (playbooks/vars/routes.yml; a test keeps the two equal), for a routes
# file that names none.
SEVERITY_ALIASES = {
    "p0": "P0", "sev1": "P0", "sev-1": "P0", "critical": "P0",
    "p1": "P1", "sev2": "P1", "sev-2": "P1", "high": "P1", "major": "P1", "error": "P1", "page": "P1",
    "p2": "P2", "sev3": "P2", "sev-3": "P2", "medium": "P2", "minor": "P2", "warning": "P2",
    "p3": "P3", "sev4": "P3", "sev-4": "P3", "low": "P3", "info": "P3", "none": "P3",
}
RESERVED_VARS = ("incident_id", "incident_alert", "incident_priority", "incident_sev", "incident_route",
                 "alert_name", "description")


class RouteError(ValueError):
    """routes.yml is not valid; the message names the route and the field."""


def safe_playbook(playbooks_dir, name, must_exist=True):
    """Absolute path of `name` inside playbooks_dir, or RouteError. No separators, no `..`, no absolute
    paths, no odd characters, and (after resolving symlinks) still inside the directory."""
    if not isinstance(name, str) or not PLAYBOOK_NAME.match(name) or ".." in name:
        raise RouteError("playbook %r: expected a file name like p0-outage.yml ([A-Za-z0-9_.-], .yml/.yaml, "
                         "no directories)" % (name,))
    root = os.path.realpath(playbooks_dir)
    path = os.path.realpath(os.path.join(root, name))
    if os.path.dirname(path) != root:
        raise RouteError("playbook %r resolves outside %s" % (name, root))
    if must_exist and not os.path.isfile(path):
        raise RouteError("playbook %r: no such file in %s" % (name, root))
    return path


class Route:
    def __init__(self, spec, where):
        if not isinstance(spec, dict):
            raise RouteError("%s: expected a mapping" % where)
        unknown = set(spec) - {"name", "match", "match_re", "priority", "playbook", "dedupe_by", "dedupe_as",
                               "unattended_priority", "cooldown_s", "extra_vars", "awx_job_template"}
        if unknown:
            raise RouteError("%s: unknown keys %s" % (where, ", ".join(sorted(unknown))))
        self.name = spec.get("name", where)
        if not isinstance(self.name, str) or not ROUTE_NAME.match(self.name):
            raise RouteError("%s: name must match %s" % (where, ROUTE_NAME.pattern))
        where = "route %s" % self.name
        self.match = {k: _strings(v, "%s.match.%s" % (where, k)) for k, v in _mapping(spec, "match", where).items()}
        self.match_re = {}
        for key, pattern in _mapping(spec, "match_re", where).items():
            try:
                self.match_re[key] = re.compile(str(pattern))
            except re.error as exc:
                raise RouteError("%s.match_re.%s: %s" % (where, key, exc)) from None
        self.priority = _strings(spec.get("priority", []), where + ".priority")
        bad = [p for p in self.priority if p not in PRIORITIES]
        if bad:
            raise RouteError("%s.priority: %s not in %s" % (where, bad, PRIORITIES))
        self.playbook = spec.get("playbook")
        if self.playbook is not None and (not isinstance(self.playbook, str) or not PLAYBOOK_NAME.match(self.playbook)
                                          or ".." in self.playbook):
            raise RouteError("%s.playbook: %r is not a plain playbook file name ([A-Za-z0-9_.-]+.yml)"
                             % (where, self.playbook))
        self.unattended_priority = _strings(spec.get("unattended_priority", list(PRIORITIES)),
                                            where + ".unattended_priority")
        bad = [p for p in self.unattended_priority if p not in PRIORITIES]
        if bad:
            raise RouteError("%s.unattended_priority: %s not in %s" % (where, bad, PRIORITIES))
        self.dedupe_by = _strings(spec.get("dedupe_by", []), where + ".dedupe_by")
        self.dedupe_as = spec.get("dedupe_as", self.name)
        if not isinstance(self.dedupe_as, str) or not ROUTE_NAME.match(self.dedupe_as):
            raise RouteError("%s.dedupe_as: must match %s" % (where, ROUTE_NAME.pattern))
        self.cooldown_s = spec.get("cooldown_s")
        if self.cooldown_s is not None and (not isinstance(self.cooldown_s, (int, float)) or self.cooldown_s < 0):
            raise RouteError("%s.cooldown_s: expected a number >= 0" % where)
        self.extra_vars = _mapping(spec, "extra_vars", where)
        for key in self.extra_vars:
            if not VAR_NAME.match(key) or key in RESERVED_VARS:
                raise RouteError("%s.extra_vars: %r is not a valid variable name or is reserved" % (where, key))
        self.awx_job_template = spec.get("awx_job_template")

    def matches(self, alert):
        for key, allowed in self.match.items():
            if _field(alert, key) not in allowed:
                return False
        for key, pattern in self.match_re.items():
            value = _field(alert, key)
            if value is None or not pattern.fullmatch(value):
                return False
        return not self.priority or alert["priority"] in self.priority

    def runs_unattended(self, alert):
        """Whether the receiver runs this route's playbook for the alert (else it only records it)."""
        return bool(self.playbook) and alert["priority"] in self.unattended_priority

    def dedupe_key(self, alert):
        if not self.dedupe_by:
            return "%s|fp=%s" % (self.dedupe_as, alert["fingerprint"])
        return "%s|%s" % (self.dedupe_as, "|".join("%s=%s" % (k, _field(alert, k) or "") for k in self.dedupe_by))


class Router:
    def __init__(self, doc, playbooks_dir, default_cooldown_s=300):
        if not isinstance(doc, dict):
            raise RouteError("routes file: expected a mapping with `routes:`")
        self.playbooks_dir = playbooks_dir
        self.severity_label = doc.get("severity_label", "severity")
        self.service_labels = _strings(doc.get("service_labels", ["service", "job"]), "service_labels")
        self.runtime_labels = _strings(doc.get("runtime_labels", ["namespace"]), "runtime_labels")
        self.cooldown_s = doc.get("cooldown_s", default_cooldown_s)
        table = doc.get("severity_aliases")
        aliases = {} if table else dict(SEVERITY_ALIASES)
        for section in ("severity_aliases", "severity_map"):
            for key, value in (doc.get(section) or {}).items():
                if value not in PRIORITIES:
                    raise RouteError("%s.%s: %r not in %s" % (section, key, value, PRIORITIES))
                aliases[str(key).lower()] = value
        self.aliases = aliases
        self.default_priority = doc.get("default_priority", "P2")
        if self.default_priority not in PRIORITIES:
            raise RouteError("default_priority: %r not in %s" % (self.default_priority, PRIORITIES))
        routes = doc.get("routes") or []
        if not isinstance(routes, list):
            raise RouteError("routes: expected a list")
        self.routes = [Route(spec, "routes[%d]" % i) for i, spec in enumerate(routes)]
        names = [r.name for r in self.routes]
        if len(names) != len(set(names)):
            raise RouteError("routes: duplicate route names")
        self.default = Route(dict({"name": "default"}, **(doc.get("default") or {})), "default")

    def missing_playbooks(self):
        """Routes whose playbook file is absent (reported at start; such a job fails with the reason)."""
        out = []
        for route in self.routes + [self.default]:
            if route.playbook:
                try:
                    safe_playbook(self.playbooks_dir, route.playbook)
                except RouteError as exc:
                    out.append("%s: %s" % (route.name, exc))
        return out

    def enrich(self, alert):
        """Add service, runtime (kubernetes when a runtime label is present, else ""), priority (P0-P3) and
        sev (SEV1-SEV4) to a validated alert."""
        labels = alert["labels"]
        alert["service"] = next((labels[k] for k in self.service_labels if labels.get(k)), "unknown")
        alert["runtime"] = "kubernetes" if any(labels.get(k) for k in self.runtime_labels) else ""
        raw = labels.get(self.severity_label, "")
        alert["severity"] = raw
        alert["priority"] = self.aliases.get(raw.strip().lower(), self.default_priority)
        alert["sev"] = "SEV%d" % (PRIORITIES.index(alert["priority"]) + 1)
        return alert

    def route(self, alert):
        return next((r for r in self.routes if r.matches(alert)), self.default)


def load(path, repo):
    """The routes document at `path`, with `extends` resolved: the extended file (relative to the
    collection root `repo`, or absolute) is the base, this file's top-level keys replace its keys."""
    seen = []
    doc = {}
    while path:
        path = os.path.realpath(path)
        if path in seen:
            raise RouteError("routes file %s: `extends` loops back to it" % path)
        seen.append(path)
        try:
            with open(path) as fh:
                layer = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError) as exc:
            raise RouteError("routes file %s: %s" % (path, exc)) from None
        if not isinstance(layer, dict):
            raise RouteError("routes file %s: expected a mapping with `routes:`" % path)
        doc = dict(layer, **doc)
        parent = layer.get("extends")
        if parent is not None and not isinstance(parent, str):
            raise RouteError("routes file %s: extends: expected a path" % path)
        path = os.path.join(repo, parent) if parent else None
    doc.pop("extends", None)
    return doc


def _field(alert, key):
    if key in ("service", "runtime", "priority", "sev") and key not in alert["labels"]:
        return alert.get(key)
    return alert["labels"].get(key)


def _mapping(spec, key, where):
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise RouteError("%s.%s: expected a mapping" % (where, key))
    return value


def _strings(value, where):
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise RouteError("%s: expected a string or a list of strings" % where)
    return [str(v) for v in value]
