"""triage_report decides on check codes, never on message text: every human string of the canned diagnostics and
every message triage writes is replaced by random text (laced with the words a text match would look for), and
the verdicts, severities, codes and scenarios must not move. Also: every code is documented in triage_report.yml."""
import copy
import os
import random
import re

import pytest
import yaml

from ansible_collections.incident.response.plugins.filter import triage

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

# Neutral names: triage knows services only from their descriptors.
SERVICES = [
    dict(name="front", url="http://front.example/health", down_severity="P0", down_playbook="p0-outage"),
    dict(name="app", url="http://app.example/ready", down_severity="P0", down_playbook="api-down", container_disks=True),
    dict(name="edge", url="http://edge.example/health", down_severity="P0"),  # no playbook of its own
    dict(name="jobs", down_severity="P1", down_playbook="no-active-workers"),
    dict(name="db", kind="postgres", service="db", down_severity="P0", down_playbook="database-down"),
    dict(name="cache", kind="redis", service="cache", down_severity="P1", down_playbook="redis-memory"),
    dict(name="shop", kind="k8s", workload="shop-api", group="prod/shop", down_severity="P1", down_playbook="k8s-service-down"),
    dict(name="store", kind="k8s", workload="store", workload_kind="statefulset", group="prod/shop", exec_check=["pg_isready", "-q"],
         down_severity="P0", down_playbook="k8s-service-down"),
]
COMPOSE = ("front", "app", "edge", "jobs", "db", "cache")
CHECKS = dict(stale_heartbeats=dict(service="jobs", playbook="no-active-workers"))

# Words the old text matching reacted to, and service-name prefixes a message parser would read as an owner.
BAIT = ["OOMKilled", "restart loop", "restarted 9 times", "down:", "too many clients", "FATAL", "exit code 137",
        "app:/data", "jobs:", "db down", "redeployed", "no answer", "connection refused", "100% full", "unhealthy"]
# Keys whose values are for people: scrambled in the input.
HUMAN_KEYS = ("message", "msg", "error", "reason", "summary", "description", "health_output", "log_sample", "changes")


def container(service, **kw):
    c = dict(name="proj-%s-1" % service, service=service, status="running", running=True, restarting=False, health="healthy",
             exit_code=0, oom_killed=False, restart_count=0, restart_policy="always",
             log_errors={"ERROR": 0, "FATAL": 0, "CRITICAL": 0}, log_sample=[])
    c.update(kw)
    return c


def svc(name, state="running", findings=None, **kw):
    up = state in ("running", "degraded")
    return dict(state=state, replicas=1, running=1 if up else 0, healthy=1 if state == "running" else 0,
                findings=findings or [], containers=[container(name, **kw)])


def http(url, status=200, healthy=True, reason="ok"):
    return dict(url=url, status=status, latency_ms=4.0, healthy=healthy, reason=reason)


def finding(severity, check, message, **facts):
    return dict(facts, severity=severity, check=check, message=message)


def healthy():
    return dict(
        service_info=dict(changed=False, reachable=True, findings=[], services=dict((n, svc(n)) for n in COMPOSE)),
        http_check=dict(changed=False, healthy=True, unhealthy=[], checks=dict(
            (d["name"], http(d["url"])) for d in SERVICES if d.get("url"))),
        postgres=dict(changed=False, reachable=True, ready=True, readiness="accepting", findings=[],
                      checks=dict(stale_heartbeats=dict(value=0, ok=True)), connections=dict(total=4, max=100, percent=4.0)),
        redis=dict(changed=False, reachable=True, ping=True, memory=dict(percent=3.0), findings=[]),
        prometheus=dict(changed=False, reachable=True, firing=[], alerts=[], findings=[]),
        host_facts=dict(changed=False, disks=[dict(mount="/", device="/dev/sda1", percent=30.0, inodes_percent=5.0)],
                        container_disks=[], memory=dict(percent=20.0), load=dict(load1=0.2), findings=[]),
        recent_changes=dict(changed=False, reachable=True, services={}, changes=[], findings=[]),
        **{"k8s_workload_info@prod/shop": dict(changed=False, reachable=True, findings=[], workloads={
            "shop-api": dict(kind="deployment", state="healthy"), "store": dict(kind="statefulset", state="healthy")}),
           "k8s_exec@store": dict(changed=False, rc=0, stdout="", stderr="")}
    )


def k8s_sick(d, state, *checks):
    res = d["k8s_workload_info@prod/shop"]
    res["workloads"]["shop-api"]["state"] = state
    res["findings"] = [finding("critical", check, "shop-api: %s" % check, workload="shop-api", pod="shop-api-1") for check in checks]


def case_k8s_oom(d):
    k8s_sick(d, "down", "k8s_available", "k8s_crashloop", "k8s_oom")


def case_k8s_crashloop(d):
    k8s_sick(d, "down", "k8s_available", "k8s_crashloop")


def case_k8s_bad_image(d):
    k8s_sick(d, "degraded", "k8s_available", "k8s_image_pull", "k8s_rollout")


def case_k8s_stalled(d):
    k8s_sick(d, "degraded", "k8s_rollout")


def case_k8s_store_refuses(d):
    d["k8s_exec@store"] = dict(changed=False, rc=2, stdout="", stderr="no response")


def case_k8s_store_exec_forbidden(d):
    d["k8s_exec@store"] = dict(failed=True, msg="403 forbidden: pods/exec")


def case_k8s_unreachable(d):
    d["k8s_workload_info@prod/shop"] = dict(changed=False, reachable=False, error="API at https://k8s:6443 did not answer",
                                            workloads={}, findings=[])


def stop(d, name, **kw):
    text = "%s down: exited exit code %s%s" % (name, kw.get("exit_code", 0), ", OOMKilled" if kw.get("oom_killed") else "")
    d["service_info"]["services"][name] = svc(name, "down", findings=[finding(
        "critical", "container_state", text, container="proj-%s-1" % name, oom_killed=bool(kw.get("oom_killed")))],
        status="exited", running=False, **kw)


def unanswered(d, name, status=0, reason="connection refused"):
    d["http_check"]["checks"][name] = http(d["http_check"]["checks"][name]["url"], status, False, reason)


def case_oom(d):
    stop(d, "jobs", exit_code=137, oom_killed=True)


def case_oom_before_last_start(d):
    d["service_info"]["services"]["jobs"] = svc("jobs", "degraded", health="unhealthy", oom_killed=True, findings=[
        finding("warning", "oom_killed", "jobs was OOMKilled before its last start"),
        finding("warning", "health", "jobs unhealthy: check failing")])


def two_stopped_replicas(d, oom_first):
    """The service's first finding explains it; which container it is about decides whether it was an OOM kill."""
    plain, oom = container("jobs", status="exited", running=False), container(
        "jobs", name="proj-jobs-2", status="exited", running=False, exit_code=137, oom_killed=True)
    found = [finding("critical", "container_state", "jobs down: exited exit code 0", container=plain["name"], oom_killed=False),
             finding("critical", "container_state", "jobs down: exited exit code 137, OOMKilled", container=oom["name"],
                     oom_killed=True)]
    s = svc("jobs", "down", findings=found[::-1] if oom_first else found)
    s.update(replicas=2, containers=[oom, plain] if oom_first else [plain, oom])
    d["service_info"]["services"]["jobs"] = s


def case_oom_first_replica(d):
    two_stopped_replicas(d, True)


def case_oom_second_replica(d):
    two_stopped_replicas(d, False)


def case_restart_loop(d):
    d["service_info"]["services"]["jobs"] = svc("jobs", "down", status="restarting", restarting=True, running=False,
                                                restart_count=6, findings=[finding("critical", "restart_loop", "jobs restart loop: restarting, 6 restarts")])


def case_flapping(d):
    d["service_info"]["services"]["jobs"] = svc("jobs", "degraded", health="starting", restart_count=5, findings=[
        finding("warning", "restart_count", "jobs restarted 5 times")])


def case_old_restart_count(d):
    d["service_info"]["services"]["jobs"]["findings"] = [finding("info", "restart_count", "jobs restarted 7 times")]


def case_exited(d):
    stop(d, "jobs", exit_code=1)


def case_missing(d):
    del d["service_info"]["services"]["jobs"]


def case_app_killed(d):
    stop(d, "app", exit_code=137)
    unanswered(d, "app")


def case_app_hung(d):
    d["service_info"]["services"]["app"] = svc("app", "degraded", health="unhealthy", findings=[
        finding("warning", "health", "app unhealthy: timeout")])
    unanswered(d, "app", reason="timeout")


def case_edge_down(d):
    stop(d, "edge")
    unanswered(d, "edge")


def case_two_fronts_down(d):
    case_app_killed(d)
    stop(d, "front")
    unanswered(d, "front")


def case_db_down(d):
    stop(d, "db")
    d["postgres"] = dict(changed=False, reachable=False, ready=False, readiness="no_response", error="db unreachable",
                         findings=[finding("critical", "ready", "db is down")])
    unanswered(d, "app", 503, "status 503")


def case_db_container_down_diagnostics_skipped(d):
    stop(d, "db")
    d["postgres"] = dict(skipped=True)


def case_pool_rejecting(d):
    d["postgres"] = dict(changed=False, reachable=True, ready=False, readiness="rejecting", error="no slot",
                         findings=[finding("critical", "ready", "db refuses connections")])


def case_pool_connections(d):
    d["postgres"]["findings"] = [finding("warning", "connections", "85/100 connections")]


def case_slow_db(d):
    d["postgres"]["findings"] = [finding("warning", c, "2 sessions") for c in ("long_running", "idle_in_transaction", "blocked")]


def case_app_check(d):
    d["postgres"]["checks"]["stale_heartbeats"] = dict(value=3, ok=False)
    d["postgres"]["findings"] = [finding("critical", "stale_heartbeats", "stale_heartbeats = 3 (max 0)")]


def case_redis_memory(d):
    d["redis"]["memory"]["percent"] = 99.0
    d["redis"]["findings"] = [finding("critical", "memory", "used 99%"), finding("info", "evictions", "0 keys evicted")]


def case_redis_down(d):
    d["redis"] = dict(changed=False, reachable=False, ping=False, error="no route",
                      findings=[finding("critical", "ping", "no route")])


def case_recent_deploy(d):
    unanswered(d, "app", 503, "status 503")
    d["recent_changes"]["services"] = {"app": dict(recent=True, redeployed=True, minutes_ago=2, image="registry/app:new")}
    d["recent_changes"]["changes"] = ["app redeployed 2 min ago"]


def case_http_5xx(d):
    unanswered(d, "app", 500, "status 500")


def case_refused_credentials(d):
    d["postgres"] = dict(changed=False, reachable=True, ready=False, readiness="no_attempt", auth_failed=True,
                         error="password authentication failed", findings=[finding("critical", "credentials", "refused")])
    d["redis"] = dict(changed=False, reachable=True, ping=False, auth_failed=True, error="WRONGPASS",
                      findings=[finding("critical", "credentials", "WRONGPASS")])


def case_docker_unreachable(d):
    d["service_info"] = dict(changed=False, reachable=False, error="engine did not answer", services={}, findings=[])


def case_failed_diagnostics(d):
    d["host_facts"] = dict(failed=True, msg="boom")
    d["recent_changes"] = dict(skipped=True)


def case_disks(d):
    hf = d["host_facts"]
    hf["disks"].append(dict(mount="/var", device="/dev/sdb1", percent=88.0, inodes_percent=10.0))
    hf["container_disks"] = [dict(service="app", container="proj-app-1", mount="/data", device="tmpfs", percent=100.0),
                             dict(service="app", container="proj-app-1", mount="/tmp", device="tmpfs", percent=12.0)]
    # as host_facts sorts them: critical first, then warnings, each in row order (host disks, then containers)
    hf["findings"] = [finding("critical", "disk", "app:/data 100% full", mount="/data", service="app"),
                      finding("warning", "disk", "/var 88% full", mount="/var", service=None),
                      finding("warning", "memory", "memory 91% used")]


def case_inodes(d):
    d["host_facts"]["disks"][0]["inodes_percent"] = 99.0
    d["host_facts"]["findings"] = [finding("critical", "inodes", "/ inodes 99% used", mount="/", service=None)]


def case_alert_only(d):
    d["prometheus"]["alerts"] = [dict(name="OddLogins", severity="P0", labels={"service": "app"},
                                      annotations={"summary": "logins from everywhere", "runbook": "security-breach"})]


def case_log_errors(d):
    d["service_info"]["services"]["app"]["containers"][0].update(log_errors={"ERROR": 40, "FATAL": 0}, log_sample=["ERROR x"])


# case -> (builder, thresholds, expected (scenario, severity), expected verdict of the service it is about)
CASES = {
    "healthy": (None, None, (None, None), {}),
    "oom": (case_oom, None, ("oom-killed", "P1"), {"jobs": "down"}),
    "oom-before-last-start": (case_oom_before_last_start, None, ("oom-killed", "P2"), {"jobs": "degraded"}),
    "oom-first-replica": (case_oom_first_replica, None, ("oom-killed", "P1"), {"jobs": "down"}),
    "oom-second-replica": (case_oom_second_replica, None, ("no-active-workers", "P1"), {"jobs": "down"}),
    "restart-loop": (case_restart_loop, None, ("container-restart-loop", "P1"), {"jobs": "down"}),
    "flapping": (case_flapping, None, ("container-restart-loop", "P1"), {"jobs": "degraded"}),
    "old-restart-count": (case_old_restart_count, None, (None, None), {"jobs": "healthy"}),
    "exited": (case_exited, None, ("no-active-workers", "P1"), {"jobs": "down"}),
    "missing": (case_missing, None, ("no-active-workers", "P1"), {"jobs": "down"}),
    "app-killed": (case_app_killed, None, ("api-down", "P0"), {"app": "down"}),
    "app-hung": (case_app_hung, None, ("api-down", "P0"), {"app": "down"}),
    "edge-down": (case_edge_down, None, ("p0-outage", "P0"), {"edge": "down"}),
    "two-fronts-down": (case_two_fronts_down, None, ("p0-outage", "P0"), {"app": "down", "front": "down"}),
    "db-down": (case_db_down, None, ("database-down", "P0"), {"db": "down", "app": "degraded"}),
    "db-container-down": (case_db_container_down_diagnostics_skipped, None, ("database-down", "P0"), {"db": "down"}),
    "pool-rejecting": (case_pool_rejecting, None, ("connection-pool-exhausted", "P1"), {"db": "degraded"}),
    "pool-connections": (case_pool_connections, None, ("connection-pool-exhausted", "P1"), {"db": "degraded"}),
    "slow-db": (case_slow_db, None, ("p2-db-performance", "P2"), {"db": "degraded"}),
    "app-check": (case_app_check, None, ("no-active-workers", "P1"), {"jobs": "degraded", "db": "healthy"}),
    "redis-memory": (case_redis_memory, None, ("redis-memory", "P1"), {"cache": "degraded"}),
    "redis-down": (case_redis_down, None, ("redis-memory", "P1"), {"cache": "down"}),
    "recent-deploy": (case_recent_deploy, None, ("rollback", "P1"), {"app": "degraded"}),
    "http-5xx": (case_http_5xx, None, ("high-error-rate", "P1"), {"app": "degraded"}),
    "refused-credentials": (case_refused_credentials, None, (None, None), {"db": "unknown", "cache": "unknown"}),
    "docker-unreachable": (case_docker_unreachable, None, (None, None), {"jobs": "unknown", "app": "unknown"}),
    "failed-diagnostics": (case_failed_diagnostics, None, (None, None), {"app": "healthy"}),
    "disks": (case_disks, None, ("disk-full", "P1"), {"app": "degraded", "host": "degraded"}),
    "inodes": (case_inodes, None, ("disk-full", "P1"), {"host": "degraded", "app": "healthy"}),
    "alert-only": (case_alert_only, None, ("security-breach", "P0"), {"app": "healthy"}),
    "k8s-oom": (case_k8s_oom, None, ("k8s-oom-killed", "P1"), {"shop": "down"}),
    "k8s-crashloop": (case_k8s_crashloop, None, ("k8s-service-down", "P1"), {"shop": "down"}),
    "k8s-bad-image": (case_k8s_bad_image, None, ("k8s-service-down", "P1"), {"shop": "degraded"}),
    "k8s-stalled": (case_k8s_stalled, None, ("k8s-service-down", "P1"), {"shop": "degraded"}),
    "k8s-unreachable": (case_k8s_unreachable, None, (None, None), {"shop": "unknown"}),
    "k8s-store-refuses": (case_k8s_store_refuses, None, ("k8s-service-down", "P0"), {"store": "down", "shop": "healthy"}),
    "k8s-store-exec-forbidden": (case_k8s_store_exec_forbidden, None, (None, None), {"store": "unknown"}),
    "log-errors": (case_log_errors, dict(log_error_min=20), ("high-error-rate", "P1"), {"app": "degraded"}),
}


def diagnostics(case):
    build = CASES[case][0]
    d = healthy()
    if build:
        build(d)
    return d


def run(case, diag=None):
    return triage.triage_report(diag or diagnostics(case), SERVICES, CASES[case][1], CHECKS)


def decisions(r):
    """Everything triage decides; nothing it merely says."""
    return dict(
        top=(r["verdict"], r["severity"], r["sev"], r["scenario"], r["assessed"]),
        lists=[r[k] for k in ("down", "degraded", "unknown", "healthy", "broken")],
        not_run=sorted(r["not_run"]),
        services=dict((n, (s["verdict"], s["check"], s["kind"], [(e["source"], e["status"], e["check"]) for e in s["evidence"]]))
                      for n, s in r["services"].items()),
        scenarios=[(c["playbook"], c["severity"], c["service"], c["check"]) for c in r["scenarios"]],
    )


class Scrambler(object):
    """Random replacement text, remembered so the test can tell it was used. mode plain: no word a text match could
    find; bait: every BAIT word in every message; mixed: a random few."""

    def __init__(self, mode, seed):
        self.mode = mode
        self.rng = random.Random("%s/%s" % (mode, seed))
        self.made = set()

    def text(self):
        bait = dict(plain=[], bait=list(BAIT), mixed=self.rng.sample(BAIT, self.rng.randint(0, 4)))[self.mode]
        words = bait + ["%08x" % self.rng.getrandbits(32)]
        self.rng.shuffle(words)
        out = " ".join(words)
        self.made.add(out)
        return out

    def diagnostics(self, value, key=None):
        if key in HUMAN_KEYS:
            if isinstance(value, list):
                return [self.text() for _v in value]
            return self.text() if value else value  # keep emptiness: a missing error is structure
        if isinstance(value, dict):
            return dict((k, self.diagnostics(v, k)) for k, v in value.items())
        if isinstance(value, list):
            return [self.diagnostics(v) for v in value]
        return value


def test_cases_decide_what_they_are_about():
    for case, (_build, _th, (scenario, severity), verdicts) in CASES.items():
        r = run(case)
        assert (r["scenario"], r["severity"]) == (scenario, severity), (case, r["scenarios"])
        for service, verdict in verdicts.items():
            assert r["services"][service]["verdict"] == verdict, (case, service, r["services"][service])
        assert all(e.get("check") for s in r["services"].values() for e in s["evidence"]), case


@pytest.mark.parametrize("mode", ["plain", "bait", "mixed"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_renaming_every_message_changes_no_decision(monkeypatch, case, mode):
    expected = decisions(run(case))
    scrambler = Scrambler(mode, case)
    original_add = triage.Report.add

    def add(self, service, source, status, check, message):  # pylint: disable=too-many-arguments
        original_add(self, service, source, status, check, scrambler.text())

    monkeypatch.setattr(triage.Report, "add", add)
    scrambled = scrambler.diagnostics(diagnostics(case))
    r = run(case, scrambled)
    assert decisions(r) == expected
    # the renaming happened: every message of the report is random text
    messages = [e["message"] for s in r["services"].values() for e in s["evidence"]]
    assert messages and all(m in scrambler.made for m in messages)


def test_scrambling_does_reach_the_finding_messages():
    d = diagnostics("oom")
    scrambled = Scrambler("plain", 0).diagnostics(copy.deepcopy(d))
    before = d["service_info"]["services"]["jobs"]["findings"][0]
    after = scrambled["service_info"]["services"]["jobs"]["findings"][0]
    assert after["message"] != before["message"] and after["check"] == before["check"] == "container_state"


def _documented():
    with open(os.path.join(REPO, "plugins", "filter", "triage_report.yml"), encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    text = " ".join(doc["DOCUMENTATION"]["description"])
    return set(re.findall(r"C\(([a-z0-9_]+\.[a-z0-9_]+(?::<name>)?)\)", text))


def test_every_code_is_documented_and_every_playbook_exists():
    documented = _documented()
    emitted = set()
    for case in CASES:
        r = run(case)
        emitted |= set(e["check"] for s in r["services"].values() for e in s["evidence"])
        emitted |= set(c["check"] for c in r["scenarios"])
    named = set(re.sub(r":.*", ":<name>", c) for c in emitted)
    assert named - documented == set()
    assert set(triage.SCENARIO_OF) - documented == set()
    for playbook in set(triage.SCENARIO_OF.values()):
        assert os.path.exists(os.path.join(REPO, "playbooks", playbook + ".yml")), playbook


def test_the_cases_cover_every_code_of_the_scenario_table():
    evidence, chosen = set(), set()
    for case in CASES:
        r = run(case)
        evidence |= set(e["check"] for s in r["services"].values() for e in s["evidence"])
        chosen |= set(c["check"] for c in r["scenarios"])
    assert set(c for c in triage.SCENARIO_OF if not c.startswith("triage.")) <= evidence
    assert set(c for c in triage.SCENARIO_OF if c.startswith("triage.")) | {"triage.service_down", "alert.runbook"} <= chosen


def test_no_message_text_decides():
    """The filter's source compares no message with a literal: messages are only formatted."""
    with open(triage.__file__, encoding="utf-8") as fh:
        source = fh.read()
    assert not re.search(r"""["'][^"']*["']\s+(?:not\s+)?in\s+(?:text|e\[["']message|f\[["']message|reason)""", source)
    assert not re.search(r"""message["']\]?\)?\s*(?:==|\.partition|\.find|\.split)""", source)
