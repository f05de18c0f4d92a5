"""Unit tests of the triage_report filter: canned diagnostics results in, verdicts and scenario out."""
import copy

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.incident.response.plugins.filter.triage import (
    FilterModule, triage_disk_services, triage_http_checks, triage_report)

SERVICES = [
    dict(name="nginx", url="http://127.0.0.1:18080/nginx-health", down_severity="P0", down_playbook="p0-outage"),
    dict(name="api", url="http://127.0.0.1:18000/health/ready", down_severity="P0", down_playbook="api-down",
         container_disks=True),
    dict(name="worker", down_severity="P1", down_playbook="no-active-workers"),
    dict(name="postgres", kind="postgres", service="postgres", down_severity="P0", down_playbook="database-down"),
    dict(name="redis", kind="redis", service="redis", down_severity="P1", down_playbook="redis-memory"),
]


def container(name, **kw):
    c = dict(name="lab_%s_1" % name, service=name, status="running", running=True, restarting=False, health="healthy",
             exit_code=0, oom_killed=False, restart_count=0, log_errors={"ERROR": 0, "FATAL": 0, "CRITICAL": 0},
             log_sample=[])
    c.update(kw)
    return c


def svc(name, state="running", findings=None, **kw):
    up = state in ("running", "degraded")
    return dict(state=state, replicas=1, running=1 if up else 0, healthy=1 if state == "running" else 0,
                findings=findings or [], containers=[container(name, **kw)])


def http(url, status=200, healthy=True, reason="ok"):
    return dict(url=url, status=status, latency_ms=3.0, healthy=healthy, reason=reason)


def healthy_diag():
    checks = dict((n, dict(value=0, ok=True)) for n in ("stuck_sagas", "active_workers", "failed_sagas_1h"))
    return dict(
        service_info=dict(changed=False, reachable=True, findings=[],
                          services=dict((n, svc(n)) for n in ("nginx", "api", "worker", "postgres", "redis", "sink"))),
        http_check=dict(changed=False, healthy=True, unhealthy=[], checks=dict(
            nginx=http("http://127.0.0.1:18080/nginx-health"), api=http("http://127.0.0.1:18000/health/ready"))),
        postgres=dict(changed=False, reachable=True, ready=True, readiness="accepting", findings=[], checks=checks,
                      connections=dict(total=5, max=50, percent=10.0)),
        redis=dict(changed=False, reachable=True, ping=True, memory=dict(percent=2.0), findings=[]),
        prometheus=dict(changed=False, reachable=True, firing=[], alerts=[], findings=[]),
        host_facts=dict(changed=False, disks=[dict(mount="/", percent=24.0)], memory=dict(percent=5.0),
                        load=dict(load1=0.5), findings=[]),
        recent_changes=dict(changed=False, reachable=True, services={}, changes=[], deployed_within=False, findings=[]),
    )


# The application checks as the service catalog gives them: which service each speaks for, which playbook fixes it.
CHECKS = dict(stuck_sagas=dict(service="api", playbook="p1-saga-failures"),
              failed_sagas_1h=dict(service="api", playbook="p1-saga-failures"),
              active_workers=dict(service="worker", playbook="no-active-workers"))


def report(diag, **kw):
    return triage_report(diag, SERVICES, kw or None, CHECKS)


def down(diag, name, message, **kw):
    diag["service_info"]["services"][name] = svc(
        name, "down", findings=[dict(severity="critical", check="container_state", message=message)],
        status="exited", running=False, **kw)


def test_healthy_lab_has_no_scenario_and_every_service_healthy():
    r = report(healthy_diag())
    assert r["verdict"] == "healthy"
    assert r["scenario"] is None and r["severity"] is None and r["sev"] is None
    assert r["broken"] == [] and r["symptoms"] == []
    assert set(r["healthy"]) >= {"nginx", "api", "worker", "postgres", "redis", "sink", "host"}
    assert r["summary"].startswith("no problem found")


def test_api_killed_is_p0_api_down():
    d = healthy_diag()
    down(d, "api", "api down: exited exit code 137", exit_code=137)
    d["http_check"]["checks"]["api"] = http("http://127.0.0.1:18000/health/ready", 0, False, "connection refused")
    r = report(d)
    assert r["down"] == ["api"]
    assert (r["scenario"], r["severity"], r["sev"]) == ("api-down", "P0", "SEV1")
    assert r["services"]["api"]["reason"] == "api down: exited exit code 137"
    assert any("connection refused" in s for s in r["symptoms"])
    assert r["services"]["nginx"]["verdict"] == "healthy"


def test_api_hung_answers_nothing_so_it_is_down_although_running():
    d = healthy_diag()
    d["service_info"]["services"]["api"] = svc("api", "degraded", health="unhealthy", findings=[
        dict(severity="warning", check="health", message="api unhealthy: curl: (28) timeout")])
    d["http_check"]["checks"]["api"] = http("http://127.0.0.1:18000/health/ready", 0, False, "timeout")
    r = report(d)
    assert r["services"]["api"]["verdict"] == "down"
    assert r["scenario"] == "api-down"


def test_database_stopped_is_database_down_and_api_only_degraded():
    d = healthy_diag()
    down(d, "postgres", "postgres down: exited exit code 0")
    d["postgres"] = dict(changed=False, reachable=False, ready=False, readiness="no_response",
                         error="PostgreSQL at 127.0.0.1:15432 unreachable: connection refused",
                         findings=[dict(severity="critical", check="ready", message="down")])
    d["http_check"]["checks"]["api"] = http("http://127.0.0.1:18000/health/ready", 503, False, "status 503")
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("database-down", "P0")
    assert r["services"]["postgres"]["verdict"] == "down"
    assert r["services"]["api"]["verdict"] == "degraded"
    assert r["services"]["redis"]["verdict"] == "healthy"


def test_workers_stopped_is_p1_no_active_workers():
    d = healthy_diag()
    down(d, "worker", "worker down: exited exit code 0")
    r = report(d)
    assert (r["scenario"], r["severity"], r["sev"]) == ("no-active-workers", "P1", "SEV2")


def test_oom_killed_worker_names_oom_first():
    d = healthy_diag()
    down(d, "worker", "worker down: exited exit code 137, OOMKilled", exit_code=137, oom_killed=True)
    d["service_info"]["services"]["worker"]["findings"][0].update(container="lab_worker_1", oom_killed=True)
    r = report(d)
    assert r["scenario"] == "oom-killed" and r["severity"] == "P1"
    assert [c["playbook"] for c in r["scenarios"]][:2] == ["oom-killed", "no-active-workers"]


def test_restart_loop():
    d = healthy_diag()
    loop = dict(severity="critical", check="restart_loop", message="worker restart loop: restarting, 6 restarts")
    d["service_info"]["services"]["worker"] = svc("worker", "down", status="restarting", restarting=True, restart_count=6,
                                                  findings=[loop])
    r = report(d)
    assert r["scenario"] == "container-restart-loop"
    assert r["services"]["worker"]["verdict"] == "down"


def test_redis_full_is_redis_memory():
    d = healthy_diag()
    d["redis"]["memory"]["percent"] = 99.1
    d["redis"]["findings"] = [dict(severity="critical", check="memory", message="used 63.4 MiB of 64 MiB (99.1%)")]
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("redis-memory", "P1")
    assert r["services"]["redis"]["verdict"] == "degraded"
    assert r["services"]["postgres"]["verdict"] == "healthy"


@pytest.mark.parametrize("pg", [
    dict(ready=True, readiness="accepting", checks={}, connections={},
         findings=[dict(severity="critical", check="connections", message="47/50 connections: no slot left")]),
    dict(ready=False, reachable=True, readiness="rejecting", error="FATAL: sorry, too many clients already",
         findings=[dict(severity="critical", check="ready", message="refuses connections")]),
])
def test_pool_exhausted(pg):
    d = healthy_diag()
    d["postgres"] = dict(pg, changed=False)
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("connection-pool-exhausted", "P1")


@pytest.mark.parametrize("check", ["long_running", "idle_in_transaction", "blocked"])
def test_slow_database_is_p2_db_performance(check):
    d = healthy_diag()
    d["postgres"]["findings"] = [dict(severity="warning", check=check, message="2 sessions ...")]
    r = report(d)
    assert (r["scenario"], r["severity"], r["sev"]) == ("p2-db-performance", "P2", "SEV3")
    assert r["services"]["postgres"]["verdict"] == "degraded"


def test_stuck_sagas_speak_for_the_api():
    d = healthy_diag()
    d["postgres"]["checks"]["stuck_sagas"] = dict(value=5, ok=False)
    d["postgres"]["findings"] = [dict(severity="critical", check="stuck_sagas", message="stuck_sagas = 5 (max 0)")]
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("p1-saga-failures", "P1")
    assert r["services"]["api"]["verdict"] == "degraded"
    assert r["services"]["postgres"]["verdict"] == "healthy"


def test_check_services_can_be_remapped():
    d = healthy_diag()
    d["postgres"]["checks"]["stuck_sagas"] = dict(value=5, ok=False)
    d["postgres"]["findings"] = [dict(severity="critical", check="stuck_sagas", message="stuck_sagas = 5")]
    r = report(d, check_services={"stuck_sagas": "worker"})
    assert r["services"]["worker"]["verdict"] == "degraded" and r["services"]["api"]["verdict"] == "healthy"


def test_container_disk_full_is_disk_full_on_that_service():
    d = healthy_diag()
    # as host_facts returns it: the container's filesystem row, and its finding naming the service (not in words only)
    d["host_facts"]["container_disks"] = [dict(service="api", container="lab_api_1", mount="/var/spool/lab", device="tmpfs",
                                               size_bytes=1048576, used_bytes=1048576, free_bytes=0, percent=100.0)]
    d["host_facts"]["findings"] = [dict(severity="critical", check="disk", message="api:/var/spool/lab 100% full (0 B free)",
                                        mount="/var/spool/lab", service="api")]
    d["http_check"]["checks"]["api"] = http("http://127.0.0.1:18000/health/ready", 503, False, "status 503")
    d["recent_changes"]["services"] = {"api": dict(recent=True, redeployed=True, minutes_ago=3, image="lab/api:current")}
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("disk-full", "P1")
    assert r["services"]["api"]["verdict"] == "degraded"
    assert r["services"]["host"]["verdict"] == "healthy"


def test_host_disk_warning_is_p2_on_host():
    d = healthy_diag()
    d["host_facts"]["findings"] = [dict(severity="warning", check="disk", message="/var 88% full (2.1 GiB free)")]
    r = report(d)
    assert r["services"]["host"]["verdict"] == "degraded"
    assert (r["scenario"], r["severity"]) == ("disk-full", "P2")


def test_bad_deploy_suggests_rollback():
    d = healthy_diag()
    d["http_check"]["checks"]["api"] = http("http://127.0.0.1:18000/health/ready", 503, False, "status 503")
    d["recent_changes"]["services"] = {"api": dict(recent=True, redeployed=True, minutes_ago=2, image="lab/api:broken")}
    d["recent_changes"]["changes"] = ["api redeployed 2 min ago: lab/api:broken"]
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("rollback", "P1")
    assert "lab/api:broken" in r["scenarios"][0]["reason"]
    assert r["changes"] == ["api redeployed 2 min ago: lab/api:broken"]


def test_degraded_without_deploy_is_high_error_rate():
    d = healthy_diag()
    d["http_check"]["checks"]["api"] = http("http://127.0.0.1:18000/health/ready", 500, False, "status 500")
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("high-error-rate", "P1")


def test_two_front_services_down_is_p0_outage():
    d = healthy_diag()
    down(d, "api", "api down: exited")
    down(d, "nginx", "nginx down: exited")
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("p0-outage", "P0")


def test_docker_unreachable_gives_unknown_not_a_crash():
    d = healthy_diag()
    d["service_info"] = dict(changed=False, reachable=False, error="Docker engine at /var/run/docker.sock did not answer",
                             services={}, findings=[])
    r = report(d)
    assert r["services"]["worker"]["verdict"] == "unknown"
    assert "did not answer" in r["services"]["worker"]["reason"]
    # Unknown is not healthy: the health URL answered, but the container state could not be read.
    assert r["services"]["api"]["verdict"] == "unknown"
    assert r["assessed"] is False and r["scenario"] is None
    assert r["summary"].startswith("cannot tell whether there is an incident") and "did not answer" in r["summary"]


def test_failed_and_skipped_diagnostics_are_listed_not_fatal():
    d = healthy_diag()
    d["host_facts"] = dict(failed=True, msg="boom")
    d["recent_changes"] = dict(skipped=True)
    r = report(d)
    assert r["not_run"] == {"host_facts": "boom", "recent_changes": "skipped"}
    assert r["verdict"] == "healthy"


def test_missing_compose_service_is_down():
    d = healthy_diag()
    del d["service_info"]["services"]["worker"]
    r = report(d)
    assert r["services"]["worker"]["verdict"] == "down"
    assert "no container" in r["services"]["worker"]["reason"]


def test_alerts_are_evidence_and_the_last_resort_scenario():
    d = healthy_diag()
    d["prometheus"]["alerts"] = [dict(name="SuspiciousLogins", severity="P0", labels={"service": "api"},
                                      annotations={"summary": "logins from 40 countries", "runbook": "security-breach"})]
    r = report(d)
    assert (r["scenario"], r["severity"]) == ("security-breach", "P0")
    assert r["services"]["api"]["verdict"] == "healthy"
    assert r["firing_alerts"] == ["alert SuspiciousLogins firing (P0): logins from 40 countries"]


def test_log_errors_only_count_when_asked():
    d = healthy_diag()
    d["service_info"]["services"]["api"]["containers"][0]["log_errors"] = {"ERROR": 50, "FATAL": 0}
    d["service_info"]["services"]["api"]["containers"][0]["log_sample"] = ["ERROR POST /api/sagas -> 500"]
    assert report(d)["services"]["api"]["verdict"] == "healthy"
    r = report(d, log_error_min=20)
    assert r["services"]["api"]["verdict"] == "degraded"
    assert "ERROR 50" in r["services"]["api"]["reason"]


def test_check_timings_are_reported():
    d = healthy_diag()
    d["postgres"]["triage_elapsed_ms"] = 12.5
    assert report(d)["check_ms"] == {"postgres": 12.5}


def test_bad_input_is_a_clear_error():
    with pytest.raises(AnsibleFilterError):
        triage_report(["not", "a", "dict"], SERVICES)
    with pytest.raises(AnsibleFilterError):
        triage_report({}, [dict(kind="docker")])


def test_input_is_not_modified():
    d = healthy_diag()
    before = copy.deepcopy(d)
    report(d)
    assert d == before


def test_helper_filters():
    assert triage_http_checks(SERVICES) == [
        dict(name="nginx", url="http://127.0.0.1:18080/nginx-health"),
        dict(name="api", url="http://127.0.0.1:18000/health/ready")]
    assert triage_disk_services(SERVICES + [dict(name="db", kind="postgres", service="pg", container_disks=True)]) == ["api", "pg"]
    assert set(FilterModule().filters()) == {"triage_report", "triage_http_checks", "triage_disk_services"}


def test_flapping_container_that_is_up_right_now_is_still_a_restart_loop():
    d = healthy_diag()
    d["service_info"]["services"]["worker"] = svc("worker", "degraded", health="starting", restart_count=5, findings=[
        dict(severity="warning", check="restart_count", message="worker restarted 5 times")])
    r = report(d)
    assert r["services"]["worker"]["verdict"] == "degraded"
    assert (r["scenario"], r["severity"]) == ("container-restart-loop", "P1")


def test_an_old_restart_count_under_policy_no_is_not_a_loop():
    d = healthy_diag()
    d["service_info"]["services"]["worker"]["findings"] = [
        dict(severity="info", check="restart_count", message="worker restarted 7 times (restart policy no: no longer restarting)")]
    r = report(d)
    assert r["services"]["worker"]["verdict"] == "healthy" and r["scenario"] is None


def test_refused_credentials_are_unknown_not_down_nor_pool_exhausted():
    d = healthy_diag()
    d["postgres"] = dict(changed=False, reachable=True, ready=False, readiness="no_attempt", auth_failed=True,
                         error='refused: FATAL: password authentication failed for user "app"', findings=[])
    d["redis"] = dict(changed=False, reachable=True, ping=False, auth_failed=True, error="refused the credentials: WRONGPASS",
                      findings=[])
    r = report(d)
    assert r["services"]["postgres"]["verdict"] == "unknown" and "password authentication" in r["services"]["postgres"]["reason"]
    assert r["services"]["redis"]["verdict"] == "unknown"
    assert "connection-pool-exhausted" not in [s["playbook"] for s in r["scenarios"]]
    assert r["assessed"] is False and r["summary"].startswith("cannot tell")
