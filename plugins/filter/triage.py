# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""triage_report: turn the results of the diagnostics modules into one verdict per service, a
suggested severity and the scenario playbook to run. Pure logic (no I/O), so it is unit-tested
with canned results. See plugins/filter/triage_report.yml for the input and output shapes."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible.errors import AnsibleFilterError

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

DB_PERFORMANCE_CHECKS = ("long_running", "idle_in_transaction", "blocked")


def _ok(result):
    """A registered result that ran (not skipped, not failed)."""
    return isinstance(result, dict) and result and not result.get("skipped") and not result.get("failed")


def _why_failed(result):
    if not isinstance(result, dict) or not result:
        return "not run"
    if result.get("skipped"):
        return "skipped"
    return result.get("msg") or result.get("error") or "failed"


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
    def add(self, service, source, status, message):
        """status: down | degraded | ok | info | unknown."""
        self.evidence.setdefault(service, []).append(dict(source=source, status=status, message=message))

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
                    self.add(name, "docker", "unknown", "container state unknown: %s" % why)
                continue
            for svc, info in sorted((res.get("services") or {}).items()):
                name = self.service_of(svc, group)
                state = info.get("state")
                counts = "%s/%s running, %s healthy" % (info.get("running"), info.get("replicas"), info.get("healthy"))
                if state in ("down", "missing"):
                    self.add(name, "docker", "down", self.container_reason(info) or "%s: %s" % (state, counts))
                elif state == "degraded":
                    self.add(name, "docker", "degraded", self.container_reason(info) or "degraded: %s" % counts)
                else:
                    self.add(name, "docker", "ok", "running: %s" % counts)
                for f in info.get("findings") or []:
                    if f.get("check") == "restart_count" and f.get("severity") != "info":  # flapping, though up right now
                        self.add(name, "docker", "degraded", f["message"])
                for c in info.get("containers") or []:
                    self.log_evidence(name, c)
            listed = res.get("services") or {}
            for name, d in mine:
                svc = self.compose_service(name, d)
                if svc and svc not in listed:
                    self.add(name, "docker", "down", "no container for compose service %s" % svc)

    @staticmethod
    def container_reason(info):
        for f in info.get("findings") or []:
            if f.get("check") in ("container_state", "restart_loop", "missing", "health", "oom_killed"):
                return f["message"]
        return None

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
        self.add(name, "logs", "degraded" if bad and c.get("running") else "info", text)

    def http(self):
        res = self.result("http_check")
        if res is None:
            return
        for check, c in (res.get("checks") or {}).items():
            name = check if check in self.desc else self.service_of(check)
            where = "GET %s" % c.get("url")
            if c.get("healthy"):
                self.add(name, "http", "ok", "%s -> %s in %sms" % (where, c.get("status"), c.get("latency_ms")))
            elif not c.get("status"):
                self.add(name, "http", "down", "%s: %s" % (where, c.get("reason") or "no answer"))
            else:
                self.add(name, "http", "degraded", "%s -> %s: %s" % (where, c.get("status"), c.get("reason")))

    def kind_services(self, kind):
        return [name for name, d in self.desc.items() if d["kind"] == kind]

    def postgres(self):
        res = self.diag.get("postgres")
        names = self.kind_services("postgres")
        if not names or res is None:
            return
        name = names[0]
        if not _ok(res) and not (isinstance(res, dict) and res.get("error")):
            self.not_run["postgres"] = _why_failed(res)
            self.add(name, "postgres", "unknown", "diagnostics failed: %s" % _why_failed(res))
            return
        if res.get("readiness") == "no_attempt":  # up, but these credentials cannot check it
            self.add(name, "postgres", "unknown", "cannot be checked: %s" % res.get("error"))
            return
        if not res.get("ready"):
            rejecting = res.get("readiness") == "rejecting"  # it answers, but has no slot for us: overloaded, not down
            self.add(name, "postgres", "degraded" if rejecting else "down",
                     "not ready (%s): %s" % (res.get("readiness"), res.get("error")))
            if rejecting:
                self.candidate("connection-pool-exhausted", "P1", name, res.get("error") or "PostgreSQL refuses new connections")
            return
        conn = res.get("connections") or {}
        self.add(name, "postgres", "ok", "ready, %s/%s connections" % (conn.get("total"), conn.get("max")))
        check_services = dict((k, c.get("service")) for k, c in self.checks.items() if c.get("service"))
        check_services.update(self.th.get("check_services") or {})
        check_playbooks = dict((k, c.get("playbook")) for k, c in self.checks.items() if c.get("playbook"))
        check_playbooks.update(self.th.get("check_playbooks") or {})
        for f in res.get("findings") or []:
            check = f.get("check")
            if check in (res.get("checks") or {}):
                owner = check_services.get(check, name)
                self.add(owner, "postgres", STATUS_OF.get(f.get("severity"), "info"), "db check " + f["message"])
                if check in check_playbooks:
                    self.candidate(check_playbooks[check], "P1" if f.get("severity") == "critical" else "P2", owner, f["message"])
                continue
            self.add(name, "postgres", STATUS_OF.get(f.get("severity"), "info"), f["message"])
            if check == "connections":
                self.candidate("connection-pool-exhausted", "P1", name, f["message"])
            elif check in DB_PERFORMANCE_CHECKS:
                self.candidate("p2-db-performance", "P2", name, f["message"])

    def redis(self):
        res = self.diag.get("redis")
        names = self.kind_services("redis")
        if not names or res is None:
            return
        name = names[0]
        if not isinstance(res, dict) or res.get("skipped") or (res.get("failed") and not res.get("error")):
            self.add(name, "redis", "unknown", "diagnostics failed: %s" % _why_failed(res))
            return
        if res.get("auth_failed"):  # up, but these credentials cannot check it
            self.add(name, "redis", "unknown", "cannot be checked: %s" % res.get("error"))
            return
        if not res.get("ping"):
            self.add(name, "redis", "down", "no PONG: %s" % (res.get("error") or "unreachable"))
            return
        mem = res.get("memory") or {}
        self.add(name, "redis", "ok", "PONG, memory %s%% of maxmemory" % mem.get("percent"))
        for f in res.get("findings") or []:
            if f.get("severity") == "info":
                continue
            self.add(name, "redis", "degraded", f["message"])
            if f.get("check") == "memory":
                self.candidate("redis-memory", "P1" if f["severity"] == "critical" else "P2", name, f["message"])

    def host(self):
        res = self.result("host_facts")
        if res is None:
            return
        fullest = max([d.get("percent", 0) for d in res.get("disks") or []] or [0])
        self.add("host", "host", "ok", "fullest disk %s%%, memory %s%%, load %s" % (
            fullest, (res.get("memory") or {}).get("percent"), (res.get("load") or {}).get("load1")))
        for f in res.get("findings") or []:
            if f.get("check") not in ("disk", "inodes"):
                self.add("host", "host", "info", f["message"])
                continue
            owner, _sep, _rest = f["message"].partition(":")
            owner = self.service_of(owner) if _sep and not owner.startswith("/") else "host"
            self.add(owner, "host", "degraded", f["message"])
            self.candidate("disk-full", "P1" if f["severity"] == "critical" else "P2", owner, f["message"])

    def changes(self):
        changes = []
        for group, res, _key in self.results("recent_changes"):
            if res is None:
                continue
            for svc, s in (res.get("services") or {}).items():
                if s.get("recent") and s.get("redeployed"):
                    self.add(self.service_of(svc, group), "changes", "info",
                             "redeployed %s min ago: %s" % (s.get("minutes_ago"), s.get("image")))
            changes.extend(c for c in res.get("changes") or [] if c not in changes)
        return changes

    def alerts(self):
        res = self.result("prometheus")
        if res is None:
            return []
        firing = []
        for a in res.get("alerts") or []:
            labels = a.get("labels") or {}
            svc = labels.get("service") or labels.get("job")
            summary = (a.get("annotations") or {}).get("summary") or ""
            text = "alert %s firing (%s): %s" % (a.get("name"), a.get("severity"), summary)
            if text not in firing:
                firing.append(text)
                if svc:
                    self.add(self.service_of(svc), "alert", "info", text)
        return firing

    # -- verdicts and scenario -----------------------------------------------------------
    def verdicts(self):
        out = {}
        for name, items in sorted(self.evidence.items()):
            if not items:
                continue
            worst = max(items, key=lambda e: STATUS_RANK.get(e["status"], 0))
            verdict = {"ok": "healthy", "info": "unknown"}.get(worst["status"], worst["status"])
            reasons = [e["message"] for e in items if e["status"] == verdict] or [worst["message"]]
            out[name] = dict(verdict=verdict, reason=reasons[0], evidence=items,
                             kind=self.desc.get(name, {}).get("kind", "docker" if name != "host" else "host"))
        return out

    def candidate(self, playbook, severity, service, reason):
        self.candidates.append(dict(playbook=playbook, severity=severity, service=service, reason=reason))

    def down_severity(self, name):
        return self.desc.get(name, {}).get("down_severity", "P3")

    def scenarios(self, services):
        down = [n for n, s in services.items() if s["verdict"] == "down"]
        degraded = [n for n, s in services.items() if s["verdict"] == "degraded"]
        early = []  # rules about the container itself come before the resource rules collected so far
        for name in down + degraded:
            items = services[name]["evidence"]
            text = " ".join(e["message"] for e in items if e["source"] == "docker")
            sev = self.down_severity(name) if name in down else "P2"
            if self.desc.get(name, {}).get("kind") == "postgres" and name in down:
                early.append(("database-down", sev, name, services[name]["reason"]))
            if "OOMKilled" in text:
                early.append(("oom-killed", sev, name, services[name]["reason"]))
            if "restart loop" in text or "restarted" in text:
                early.append(("container-restart-loop", self.down_severity(name), name, services[name]["reason"]))
        p0_down = [n for n in down if self.down_severity(n) == "P0" and self.desc.get(n, {}).get("kind") != "postgres"]
        if len(p0_down) > 1:
            early.append(("p0-outage", "P0", ", ".join(sorted(p0_down)), "%s down" % " and ".join(sorted(p0_down))))
        late = []
        for name in down:
            playbook = self.desc.get(name, {}).get("down_playbook") or ("p0-outage" if self.down_severity(name) == "P0" else None)
            if playbook:
                late.append((playbook, self.down_severity(name), name, services[name]["reason"]))
        explained = set(c["service"] for c in self.candidates) | set(e[2] for e in early)
        for name in down + degraded:
            if name not in explained and any(e["source"] == "changes" for e in services[name]["evidence"]):
                late.append(("rollback", "P1", name,
                             "%s after a recent deploy (%s)" % (services[name]["reason"],
                                                                [e["message"] for e in services[name]["evidence"] if e["source"] == "changes"][0])))
        for name in degraded:
            if name in explained:
                continue
            late.append(("high-error-rate", "P1" if self.down_severity(name) == "P0" else "P2", name, services[name]["reason"]))
        ranked = [dict(playbook=p, severity=s, service=n, reason=r) for p, s, n, r in early]
        ranked += self.candidates
        ranked += [dict(playbook=p, severity=s, service=n, reason=r) for p, s, n, r in late]
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
                                reason="alert %s firing" % a.get("name")))
        return out

    def build(self):
        self.docker()
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
                        symptoms.append(e["message"] if e["message"].startswith((name + " ", name + ":")) else "%s: %s" % (name, e["message"]))
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
