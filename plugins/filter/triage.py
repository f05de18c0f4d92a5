# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""triage_report: turn the results of the diagnostics modules into one verdict per service, a
suggested severity and the scenario playbook to run. Pure logic (no I/O), so it is unit-tested
with canned results. See plugins/filter/triage_report.yml for the input and output shapes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

# Check code -> the scenario playbook (playbooks/<name>.yml) that handles it: the one place triage names playbooks.
# Every evidence item carries a code (<source>.<what>, listed in triage_report.yml); decisions read codes, never
# messages. The triage.* codes are triage's own conclusions, not evidence. Within a severity, the scenarios keep the
# order container causes, resource causes, a service's down playbook, rollback, high-error-rate.
SCENARIO_OF = {
    "postgres.down": "database-down",
    "docker.oom_killed": "oom-killed",
    "docker.restart_loop": "container-restart-loop",
    "docker.restart_count": "container-restart-loop",
    "postgres.pool_exhausted": "connection-pool-exhausted",
    "postgres.connections": "connection-pool-exhausted",
    "postgres.long_running": "p2-db-performance",
    "postgres.idle_in_transaction": "p2-db-performance",
    "postgres.blocked": "p2-db-performance",
    "redis.memory": "redis-memory",
    "host.disk": "disk-full",
    "host.inodes": "disk-full",
    "changes.recent_deploy": "rollback",
    "k8s.oom_killed": "k8s-oom-killed",
    "k8s.crashloop": "k8s-service-down",
    "k8s.image_pull": "k8s-service-down",
    "k8s.rollout_stalled": "k8s-service-down",
    "triage.p0_outage": "p0-outage",   # several P0 services down, or one without a down playbook of its own
    "triage.degraded": "high-error-rate",  # degraded, and nothing above explains it
}
# Container causes, tried in this order on every broken service, and whether they rank as an outage of the service
# even while it is only degraded (a flapping container will be down again).
CONTAINER_CAUSES = (("postgres.down", False), ("docker.oom_killed", False), ("k8s.oom_killed", False),
                    ("docker.restart_loop", True), ("docker.restart_count", True), ("k8s.crashloop", True),
                    ("k8s.image_pull", True), ("k8s.rollout_stalled", True))
# service_info finding check -> evidence code, for the findings that explain a container state.
DOCKER_REASONS = {"container_state": "docker.exited", "restart_loop": "docker.restart_loop", "missing": "docker.missing",
                  "health": "docker.health", "oom_killed": "docker.oom_killed"}
# k8s_workload_info finding check -> evidence code: why a workload is down or degraded, most telling first.
K8S_REASONS = (("k8s_oom", "k8s.oom_killed"), ("k8s_image_pull", "k8s.image_pull"), ("k8s_config_error", "k8s.config_error"),
               ("k8s_unschedulable", "k8s.unschedulable"), ("k8s_node_not_ready", "k8s.node_not_ready"),
               ("k8s_crashloop", "k8s.crashloop"), ("k8s_rollout", "k8s.rollout_stalled"), ("k8s_paused", "k8s.paused"),
               ("k8s_exists", "k8s.missing"))
K8S_STATUS = {"healthy": "ok", "scaled_to_zero": "degraded", "degraded": "degraded", "paused": "degraded",
              "down": "down", "missing": "down"}

VERDICT_RANK = {"down": 3, "degraded": 2, "unknown": 1, "healthy": 0}
# A check that could not run outranks one that passed: unknown is never healthy.
STATUS_RANK = {"down": 4, "degraded": 3, "unknown": 2, "ok": 1, "info": 0}
SEVERITIES = ("P0", "P1", "P2", "P3")
SEV_OF = {"P0": "SEV1", "P1": "SEV2", "P2": "SEV3", "P3": "SEV4"}
STATUS_OF = {"critical": "degraded", "warning": "degraded", "info": "info"}

DEFAULT_THRESHOLDS = dict(
    # Log lines alone do not make a service degraded unless these are set (0 = never): a FATAL in
    # PostgreSQL's log is a client's failed login. They are always listed as evidence.
    log_fatal_min=0,     # FATAL/CRITICAL lines in the current run
    log_error_min=0,     # other matching lines (ERROR) in the current run
    fatal_patterns=["FATAL", "CRITICAL"],
)


def _ok(result):
    """A registered result that ran (not skipped, not failed)."""
    return isinstance(result, dict) and result and not result.get("skipped") and not result.get("failed")


def _why_failed(result):
    if not isinstance(result, dict) or not result:
        return "not run"
    if result.get("skipped"):
        return "skipped"
    return result.get("msg") or result.get("error") or "failed"


def docker_code(finding):
    """The evidence code of a service_info finding: a stopped container's finding says whether it was OOM-killed."""
    if finding.get("check") == "container_state" and finding.get("oom_killed"):
        return "docker.oom_killed"
    return DOCKER_REASONS.get(finding.get("check"), "docker.%s" % finding.get("check"))


class Report(object):
    def __init__(self, diag, descriptors, thresholds, checks=None):
        self.diag = diag or {}
        self.checks = checks or {}
        self.th = dict(DEFAULT_THRESHOLDS, **(thresholds or {}))
        self.desc = {}
        for d in descriptors or []:
            if not isinstance(d, dict) or not d.get("name"):
                raise AnsibleFilterError("triage_report: every service descriptor needs a name, got %r" % (d,))
            self.desc[d["name"]] = dict(d, kind=d.get("kind", "docker"))
        self.evidence = dict((name, []) for name in self.desc)
        self.candidates = []
        self.not_run = {}

    # -- evidence --------------------------------------------------------------------------
    def add(self, service, source, status, check, message):
        """status: down | degraded | ok | info | unknown; check: the evidence code (what decisions read);
        message: for people only."""
        self.evidence.setdefault(service, []).append(dict(source=source, status=status, check=check, message=message))

    @staticmethod
    def compose_service(name, d):
        """The compose service a descriptor stands for (kind docker: its name unless `service` says otherwise)."""
        return d["service"] if "service" in d else (name if d["kind"] == "docker" else None)

    def service_of(self, compose_service, group=None):
        for name, d in self.desc.items():
            if self.compose_service(name, d) == compose_service and (group is None or d.get("group") in (None, group)):
                return name
        return compose_service

    def results(self, module):
        """(group, result) of every run of a per-project diagnostic: `module` or `module@<engine>/<project>`."""
        out = []
        for key in sorted(self.diag):
            if key == module or key.startswith(module + "@"):
                group = key.partition("@")[2] or None
                res = self.diag.get(key)
                if not _ok(res) and res is not None:
                    self.not_run[key] = _why_failed(res)
                out.append((group, res if _ok(res) else None, key))
        return out

    def result(self, key):
        res = self.diag.get(key)
        if _ok(res):
            return res
        if res is not None:
            self.not_run[key] = _why_failed(res)
        return None

    def docker(self):
        runs = self.results("service_info")
        if not runs:
            runs = [(None, None, "service_info")]
        for group, res, key in runs:
            mine = [(n, d) for n, d in self.desc.items()
                    if self.compose_service(n, d) and (group is None or d.get("group") in (None, group))]
            if res is None or res.get("reachable") is False:
                why = (res or {}).get("error") or self.not_run.get(key, "service_info not run")
                for name, _d in mine:
                    self.add(name, "docker", "unknown", "docker.unknown", "container state unknown: %s" % why)
                continue
            for svc, info in sorted((res.get("services") or {}).items()):
                name = self.service_of(svc, group)
                state = info.get("state")
                counts = "%s/%s running, %s healthy" % (info.get("running"), info.get("replicas"), info.get("healthy"))
                findings = [(f, docker_code(f)) for f in info.get("findings") or []]
                reason = [(code, f.get("message")) for f, code in findings if f.get("check") in DOCKER_REASONS][:1]
                if state in ("down", "missing"):
                    code, text = (reason or [("docker.%s" % state, "%s: %s" % (state, counts))])[0]
                    self.add(name, "docker", "down", code, text)
                elif state == "degraded":
                    code, text = (reason or [("docker.degraded", "degraded: %s" % counts)])[0]
                    self.add(name, "docker", "degraded", code, text)
                else:
                    self.add(name, "docker", "ok", "docker.ok", "running: %s" % counts)
                for f, code in findings:
                    if f.get("check") == "restart_count" and f.get("severity") != "info":  # flapping, though up right now
                        self.add(name, "docker", "degraded", code, f.get("message"))
                for c in info.get("containers") or []:
                    self.log_evidence(name, c)
            listed = res.get("services") or {}
            for name, d in mine:
                svc = self.compose_service(name, d)
                if svc and svc not in listed:
                    self.add(name, "docker", "down", "docker.missing", "no container for compose service %s" % svc)

    def k8s(self):
        """Evidence of the kubernetes services from k8s_workload_info, run once per cluster and namespace."""
        for group, res, key in self.results("k8s_workload_info"):
            mine = [(n, d) for n, d in self.desc.items() if d["kind"] == "k8s" and (group is None or d.get("group") == group)]
            if res is None or res.get("reachable") is False:
                why = (res or {}).get("error") or self.not_run.get(key, "k8s_workload_info not run")
                for name, _d in mine:
                    self.add(name, "k8s", "unknown", "k8s.unknown", "workload state unknown: %s" % why)
                continue
            for name, d in mine:
                workload = d.get("workload") or name
                info = (res.get("workloads") or {}).get(workload) or {}
                state = info.get("state") or "missing"
                status = K8S_STATUS.get(state, "unknown")
                findings = [f for f in res.get("findings") or [] if f.get("workload") == workload]
                if status == "ok":
                    self.add(name, "k8s", "ok", "k8s.ok", "%s %s: every replica available" % (info.get("kind", "workload"), workload))
                    continue
                checks = set(f.get("check") for f in findings)
                code = next((c for check, c in K8S_REASONS if check in checks), "k8s.%s" % state)
                text = next((f.get("message") for check, c in K8S_REASONS if c == code for f in findings if f.get("check") == check),
                            "%s %s %s" % (info.get("kind", "workload"), workload, state))
                self.add(name, "k8s", status, code, text)
        for name, d in self.desc.items():
            if d["kind"] == "k8s" and d.get("exec_check"):
                self.k8s_exec(name, d)

    def k8s_exec(self, name, d):
        """Runbook 001's psql / redis-cli in a pod of a kubernetes database or cache without a direct connection."""
        key = "k8s_exec@" + name
        res = self.result(key)
        what = "%s in a pod of %s" % (" ".join(d["exec_check"][:2]), d.get("workload"))
        if res is None:
            self.add(name, "k8s", "unknown", "k8s.exec_unknown", "%s could not run: %s" % (what, self.not_run.get(key, "not run")))
        elif res.get("rc") == 0:
            self.add(name, "k8s", "ok", "k8s.exec_ok", "%s: answered" % what)
        else:
            self.add(name, "k8s", "down", "k8s.exec_failed", "%s: exit %s %s" % (what, res.get("rc"), (res.get("stderr") or "")[:160]))

    def log_evidence(self, name, c):
        counts = c.get("log_errors") or {}
        fatal = sum(counts.get(p, 0) for p in self.th["fatal_patterns"])
        errors = sum(v for k, v in counts.items() if k not in self.th["fatal_patterns"])
        if not fatal and not errors:
            return
        sample = (c.get("log_sample") or [""])[-1]
        text = "log: %s in %s (last: %s)" % (", ".join("%s %d" % kv for kv in sorted(counts.items()) if kv[1]),
                                             c.get("name"), sample[:160])
        bad = (self.th["log_fatal_min"] and fatal >= self.th["log_fatal_min"]) or \
            (self.th["log_error_min"] and errors >= self.th["log_error_min"])
        self.add(name, "logs", "degraded" if bad and c.get("running") else "info", "logs.errors", text)

    def http(self):
        res = self.result("http_check")
        if res is None:
            return
        for check, c in (res.get("checks") or {}).items():
            name = check if check in self.desc else self.service_of(check)
            where = "GET %s" % c.get("url")
            if c.get("healthy"):
                self.add(name, "http", "ok", "http.ok", "%s -> %s in %sms" % (where, c.get("status"), c.get("latency_ms")))
            elif not c.get("status"):
                self.add(name, "http", "down", "http.down", "%s: %s" % (where, c.get("reason") or "no answer"))
            else:
                self.add(name, "http", "degraded", "http.status", "%s -> %s: %s" % (where, c.get("status"), c.get("reason")))

    def kind_services(self, kind):
        return [name for name, d in self.desc.items() if d["kind"] == kind]

    def subject(self, kind):
        """(service, result) of the diagnostic of the catalog's `kind` service (postgres, redis); (None, None)
        when the catalog has none or the diagnostic was not asked for."""
        res = self.diag.get(kind)
        names = self.kind_services(kind)
        return (names[0], res) if names and res is not None else (None, None)

    def postgres(self):
        name, res = self.subject("postgres")
        if name is None:
            return
        if not _ok(res) and not (isinstance(res, dict) and res.get("error")):
            self.not_run["postgres"] = _why_failed(res)
            self.add(name, "postgres", "unknown", "postgres.not_run", "diagnostics failed: %s" % _why_failed(res))
            return
        if res.get("readiness") == "no_attempt":  # up, but these credentials cannot check it
            self.add(name, "postgres", "unknown", "postgres.credentials", "cannot be checked: %s" % res.get("error"))
            return
        if not res.get("ready"):
            # rejecting: it answers, but has no slot for us: overloaded, not down
            code = "postgres.pool_exhausted" if res.get("readiness") == "rejecting" else "postgres.down"
            self.add(name, "postgres", "degraded" if code == "postgres.pool_exhausted" else "down", code,
                     "not ready (%s): %s" % (res.get("readiness"), res.get("error")))
            if code == "postgres.pool_exhausted":
                self.suggest(code, "P1", name, res.get("error") or "PostgreSQL refuses new connections")
            return
        conn = res.get("connections") or {}
        self.add(name, "postgres", "ok", "postgres.ok", "ready, %s/%s connections" % (conn.get("total"), conn.get("max")))
        check_services = dict((k, c.get("service")) for k, c in self.checks.items() if c.get("service"))
        check_services.update(self.th.get("check_services") or {})
        check_playbooks = dict((k, c.get("playbook")) for k, c in self.checks.items() if c.get("playbook"))
        check_playbooks.update(self.th.get("check_playbooks") or {})
        for f in res.get("findings") or []:
            check = f.get("check")
            status = STATUS_OF.get(f.get("severity"), "info")
            if check in (res.get("checks") or {}):  # an application check of the catalog
                owner = check_services.get(check, name)
                code = "postgres.check:%s" % check
                self.add(owner, "postgres", status, code, "db check %s" % f.get("message"))
                if check in check_playbooks:
                    self.candidate(check_playbooks[check], "P1" if f.get("severity") == "critical" else "P2", owner,
                                   f.get("message"), code)
                continue
            code = "postgres.%s" % check
            self.add(name, "postgres", status, code, f.get("message"))
            if code in SCENARIO_OF:  # a pool near its limit is P1 already (new requests queue); slow sessions P2
                self.suggest(code, "P1" if code == "postgres.connections" else "P2", name, f.get("message"))

    def redis(self):
        name, res = self.subject("redis")
        if name is None:
            return
        if not isinstance(res, dict) or res.get("skipped") or (res.get("failed") and not res.get("error")):
            self.add(name, "redis", "unknown", "redis.not_run", "diagnostics failed: %s" % _why_failed(res))
            return
        if res.get("auth_failed"):  # up, but these credentials cannot check it
            self.add(name, "redis", "unknown", "redis.credentials", "cannot be checked: %s" % res.get("error"))
            return
        if not res.get("ping"):
            self.add(name, "redis", "down", "redis.down", "no PONG: %s" % (res.get("error") or "unreachable"))
            return
        mem = res.get("memory") or {}
        self.add(name, "redis", "ok", "redis.ok", "PONG, memory %s%% of maxmemory" % mem.get("percent"))
        for f in res.get("findings") or []:
            if f.get("severity") == "info":
                continue
            code = "redis.%s" % f.get("check")
            self.add(name, "redis", "degraded", code, f.get("message"))
            if code in SCENARIO_OF:
                self.suggest(code, "P1" if f.get("severity") == "critical" else "P2", name, f.get("message"))

    def host(self):
        res = self.result("host_facts")
        if res is None:
            return
        fullest = max([d.get("percent", 0) for d in res.get("disks") or []] or [0])
        self.add("host", "host", "ok", "host.ok", "fullest disk %s%%, memory %s%%, load %s" % (
            fullest, (res.get("memory") or {}).get("percent"), (res.get("load") or {}).get("load1")))
        for f in res.get("findings") or []:
            code = "host.%s" % f.get("check")
            if f.get("check") not in ("disk", "inodes"):
                self.add("host", "host", "info", code, f.get("message"))
                continue
            # a container's own filesystem belongs to its service
            owner = self.service_of(f["service"]) if f.get("service") else "host"
            self.add(owner, "host", "degraded", code, f.get("message"))
            self.suggest(code, "P1" if f.get("severity") == "critical" else "P2", owner, f.get("message"))

    def changes(self):
        changes = []
        for group, res, _key in self.results("recent_changes"):
            if res is None:
                continue
            for svc, s in (res.get("services") or {}).items():
                if s.get("recent") and s.get("redeployed"):
                    self.add(self.service_of(svc, group), "changes", "info", "changes.recent_deploy",
                             "redeployed %s min ago: %s" % (s.get("minutes_ago"), s.get("image")))
            changes.extend(c for c in res.get("changes") or [] if c not in changes)
        return changes

    def alerts(self):
        res = self.result("prometheus")
        if res is None:
            return []
        firing, seen = [], set()
        for a in res.get("alerts") or []:
            labels = a.get("labels") or {}
            svc = labels.get("service") or labels.get("job")
            summary = (a.get("annotations") or {}).get("summary") or ""
            if (a.get("name"), a.get("severity"), summary) in seen:
                continue
            seen.add((a.get("name"), a.get("severity"), summary))
            text = "alert %s firing (%s): %s" % (a.get("name"), a.get("severity"), summary)
            firing.append(text)
            if svc:
                self.add(self.service_of(svc), "alert", "info", "alert.firing", text)
        return firing

    # -- verdicts and scenario -----------------------------------------------------------
    def verdicts(self):
        out = {}
        for name, items in sorted(self.evidence.items()):
            if not items:
                continue
            worst = max(items, key=lambda e: STATUS_RANK.get(e["status"], 0))
            verdict = {"ok": "healthy", "info": "unknown"}.get(worst["status"], worst["status"])
            why = ([e for e in items if e["status"] == verdict] or [worst])[0]
            out[name] = dict(verdict=verdict, reason=why["message"], check=why["check"], evidence=items,
                             kind=self.desc.get(name, {}).get("kind", "docker" if name != "host" else "host"))
        return out

    def candidate(self, playbook, severity, service, reason, check):
        self.candidates.append(dict(playbook=playbook, severity=severity, service=service, reason=reason, check=check))

    def suggest(self, code, severity, service, reason):
        """A resource cause found while gathering evidence: the playbook SCENARIO_OF names for its code."""
        self.candidate(SCENARIO_OF[code], severity, service, reason, code)

    def down_severity(self, name):
        return self.desc.get(name, {}).get("down_severity", "P3")

    @staticmethod
    def codes(service):
        """The codes of a service's evidence; a service whose verdict is down also counts as <kind>.down (a stopped
        PostgreSQL container is postgres.down even when postgres_diagnostics could not run)."""
        codes = set(e["check"] for e in service["evidence"])
        if service["verdict"] == "down":
            codes.add("%s.down" % service["kind"])
        return codes

    def scenarios(self, services):
        down = [n for n, s in services.items() if s["verdict"] == "down"]
        degraded = [n for n, s in services.items() if s["verdict"] == "degraded"]
        codes = dict((n, self.codes(services[n])) for n in down + degraded)
        early = []  # rules about the container itself come before the resource rules collected so far
        for name in down + degraded:
            for code, as_outage in CONTAINER_CAUSES:
                if code in codes[name]:
                    sev = self.down_severity(name) if name in down or as_outage else "P2"
                    early.append((code, SCENARIO_OF[code], sev, name, services[name]["reason"]))
        # several front services down at once; the database down is its own scenario
        p0_down = [n for n in down if self.down_severity(n) == "P0" and "postgres.down" not in codes[n]]
        if len(p0_down) > 1:
            early.append(("triage.p0_outage", SCENARIO_OF["triage.p0_outage"], "P0", ", ".join(sorted(p0_down)),
                          "%s down" % " and ".join(sorted(p0_down))))
        late = []
        for name in down:
            playbook = self.desc.get(name, {}).get("down_playbook")
            code = "triage.service_down" if playbook else "triage.p0_outage"
            playbook = playbook or (SCENARIO_OF[code] if self.down_severity(name) == "P0" else None)
            if playbook:
                late.append((code, playbook, self.down_severity(name), name, services[name]["reason"]))
        explained = set(c["service"] for c in self.candidates) | set(e[3] for e in early)
        for name in down + degraded:
            deploys = [e["message"] for e in services[name]["evidence"] if e["check"] == "changes.recent_deploy"]
            if name not in explained and deploys:
                late.append(("changes.recent_deploy", SCENARIO_OF["changes.recent_deploy"], "P1", name,
                             "%s after a recent deploy (%s)" % (services[name]["reason"], deploys[0])))
        for name in degraded:
            if name in explained:
                continue
            late.append(("triage.degraded", SCENARIO_OF["triage.degraded"], "P1" if self.down_severity(name) == "P0" else "P2",
                         name, services[name]["reason"]))
        ranked = [dict(playbook=p, severity=s, service=n, reason=r, check=c) for c, p, s, n, r in early]
        ranked += self.candidates
        ranked += [dict(playbook=p, severity=s, service=n, reason=r, check=c) for c, p, s, n, r in late]
        if not ranked:
            ranked = self.alert_candidates()
        ranked = sorted(enumerate(ranked), key=lambda ic: (SEVERITIES.index(ic[1]["severity"]) if ic[1]["severity"] in SEVERITIES else 9, ic[0]))
        seen, out = set(), []
        for _i, c in ranked:
            if c["playbook"] not in seen:
                seen.add(c["playbook"])
                out.append(c)
        return out

    def alert_candidates(self):
        res = self.diag.get("prometheus") if _ok(self.diag.get("prometheus")) else {}
        out = []
        for a in res.get("alerts") or []:
            runbook = (a.get("annotations") or {}).get("runbook")
            if runbook and a.get("severity") in SEVERITIES:
                out.append(dict(playbook=runbook, severity=a["severity"], service=(a.get("labels") or {}).get("service"),
                                reason="alert %s firing" % a.get("name"), check="alert.runbook"))
        return out

    def build(self):
        self.docker()
        self.k8s()
        self.http()
        self.postgres()
        self.redis()
        self.host()
        changes = self.changes()
        firing = self.alerts()
        services = self.verdicts()
        scenarios = self.scenarios(services)
        top = scenarios[0] if scenarios else None
        by = dict((v, sorted(n for n, s in services.items() if s["verdict"] == v)) for v in VERDICT_RANK)
        symptoms = []
        for verdict in ("down", "degraded", "unknown"):
            for name in by[verdict]:
                for e in services[name]["evidence"]:
                    if e["status"] in ("down", "degraded", "unknown") or e["source"] in ("logs", "changes"):
                        text = e["message"] or e["check"]
                        symptoms.append(text if text.startswith((name + " ", name + ":")) else "%s: %s" % (name, text))
        overall = max([s["verdict"] for s in services.values()] or ["unknown"], key=lambda v: VERDICT_RANK[v])
        report = dict(
            verdict=overall, services=services, down=by["down"], degraded=by["degraded"], unknown=by["unknown"],
            healthy=by["healthy"], broken=by["down"] + by["degraded"],
            severity=top["severity"] if top else None, sev=SEV_OF.get(top["severity"]) if top else None,
            scenario=top["playbook"] if top else None, scenarios=scenarios, symptoms=symptoms,
            firing_alerts=firing, changes=changes, not_run=self.not_run,
            check_ms=dict((k, v.get("triage_elapsed_ms")) for k, v in self.diag.items()
                          if isinstance(v, dict) and "triage_elapsed_ms" in v),
        )
        # Unknown is not healthy: a check that could not run blocks any "no problem" conclusion.
        report["assessed"] = not by["unknown"]
        unknown_why = "; ".join("%s: %s" % (n, services[n]["reason"]) for n in by["unknown"])
        if top:
            report["summary"] = "%s/%s %s: %s (%s)" % (top["severity"], report["sev"], top["playbook"], top["service"], top["reason"])
            if by["unknown"]:
                report["summary"] += "; also unknown: %s" % unknown_why
        elif by["unknown"]:
            report["summary"] = "cannot tell whether there is an incident: %s" % unknown_why
        elif not self.desc:
            report["summary"] = "nothing to examine: the service catalog is empty"
        else:
            report["summary"] = "no problem found: %d services healthy" % len(by["healthy"])
        return report


def triage_report(diagnostics, services=None, thresholds=None, checks=None):
    """One verdict per service, a suggested severity and the matching scenario playbook."""
    if not isinstance(diagnostics, dict):
        raise AnsibleFilterError("triage_report expects a dict of registered diagnostics results, got %s" % type(diagnostics).__name__)
    return Report(diagnostics, services, thresholds, checks).build()


def triage_http_checks(services):
    """http_check `checks` entries for the service descriptors that have a health `url`."""
    return [dict(d.get("http") or {}, name=d["name"], url=d["url"]) for d in services or [] if d.get("url")]


def triage_disk_services(services):
    """Compose services whose containers' own filesystems host_facts should check (`container_disks: true`)."""
    return [Report.compose_service(d["name"], dict(d, kind=d.get("kind", "docker")))
            for d in services or [] if d.get("container_disks")]


class FilterModule(object):
    def filters(self):
        return {"triage_report": triage_report, "triage_http_checks": triage_http_checks,
                "triage_disk_services": triage_disk_services}
