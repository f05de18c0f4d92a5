"""The triage role against every lab fault: it names the broken service, the symptom and the
scenario playbook, and calls the untouched services healthy. Faults that touch different services
are injected together to keep the run short; each group is reset in `finally`."""
import json
import os
import tempfile
import time

import psycopg2
import pytest

from tests.ansible import run_playbook

PLAYBOOK = "tests/integration/playbooks/triage.yml"
# Sessions of the long-query / idle-in-transaction faults are seconds old when triage runs.
THRESHOLDS = dict(long_running_minutes=0.02, idle_in_transaction_minutes=0.02, restart_warn=3)
ALWAYS_HEALTHY = ["nginx", "prometheus", "alertmanager", "sink"]


def triage(check=False):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "report.json")
        res = run_playbook(PLAYBOOK, dict(triage_report_file=path, triage_thresholds=THRESHOLDS, triage_show=False),
                           check=check, timeout=120)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
        with open(path) as fh:
            return json.load(fh), res.stdout


def container_state(lab, service):
    c = lab.container(service)
    return c["State"] if c else {}


def pool_full(lab):
    try:
        psycopg2.connect(host="127.0.0.1", port=lab.ENV["LAB_POSTGRES_PORT"], dbname=lab.ENV["LAB_POSTGRES_DB"],
                         user=lab.ENV["LAB_POSTGRES_USER"], password=lab.ENV["LAB_POSTGRES_PASSWORD"], connect_timeout=2).close()
        return False
    except psycopg2.OperationalError as exc:
        return "slots" in str(exc) or "too many" in str(exc)


# faults, what to wait for after injecting, {service: (verdict, symptom text)}, expected top scenario, other scenarios
GROUPS = {
    "api-kill+workers-stop+redis-full+long-query+stuck-sagas": (
        ["api-kill", "workers-stop", "redis-full", "long-query", "stuck-sagas"], None,
        {"api": ("down", "exit code 137"), "worker": ("down", "worker down: exited"),
         "redis": ("degraded", "noeviction"), "postgres": ("degraded", "pg_sleep")},
        "api-down", ["no-active-workers", "redis-memory", "p2-db-performance", "p1-saga-failures"]),
    "db-stop+disk-full": (
        ["db-stop", "disk-full"], None,
        {"postgres": ("down", "postgres down: exited"), "api": ("degraded", "/var/spool/lab 100% full")},
        "database-down", ["disk-full"]),
    "api-hang+oom": (
        ["api-hang", "oom"], lambda lab: container_state(lab, "worker").get("OOMKilled"),
        {"api": ("down", "timeout"), "worker": ("down", "OOMKilled")},
        "api-down", ["oom-killed"]),
    "pool-exhausted+restart-loop": (
        ["pool-exhausted", "restart-loop"],
        lambda lab: pool_full(lab) and container_state(lab, "worker").get("Restarting")
        and lab.container("worker")["RestartCount"] >= 2,
        {"postgres": ("degraded", "connection slots"), "worker": ("down|degraded", "restart")},  # down or between restarts
        "container-restart-loop", ["connection-pool-exhausted"]),
    "bad-deploy+idle-in-transaction": (
        ["bad-deploy", "idle-in-transaction"], None,
        {"api": ("degraded", "incident-lab/api:broken"), "postgres": ("degraded", "idle in transaction")},
        "rollback", ["p2-db-performance"]),
}


def test_healthy_lab_is_healthy_and_check_mode_works(healthy_lab):
    report, out = triage(check=True)
    assert report["verdict"] == "healthy", report["symptoms"]
    assert report["down"] == [] and report["degraded"] == [] and report["unknown"] == []
    assert set(report["healthy"]) >= {"nginx", "api", "worker", "postgres", "redis", "host"} | set(ALWAYS_HEALTHY)
    assert report["not_run"] == {}
    assert set(report["check_ms"]) == {"service_info@default/incident-lab", "http_check", "postgres", "redis", "prometheus", "host_facts",
                                       "recent_changes@default/incident-lab"}
    assert "changed=1 " in out  # the one change is the test's own report file: triage changed nothing


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_triage_names_the_fault(healthy_lab, group):
    lab = healthy_lab
    faults, ready, broken, top, others = GROUPS[group]
    injected = []
    try:
        for fault in faults:
            lab.faults("inject", fault)
            injected.append(fault)
        time.sleep(3)  # let the held sessions age past the thresholds and healthchecks notice
        if ready:
            lab.wait_for(lambda: ready(lab), timeout=60, what="%s to show" % group)
        report, _out = triage()
    finally:
        for fault in reversed(injected):
            lab.faults("reset", fault)
    context = json.dumps({k: report[k] for k in ("summary", "symptoms", "scenarios")}, indent=1)
    for service, (verdict, symptom) in broken.items():
        got = report["services"][service]
        assert got["verdict"] in verdict.split("|"), "%s: %s\n%s" % (service, got, context)
        assert any(symptom in s for s in report["symptoms"] if s.startswith(service)), "%s: %r\n%s" % (service, symptom, context)
    assert report["scenario"] == top, context
    assert set(others) <= set(c["playbook"] for c in report["scenarios"]), context
    assert report["severity"] in ("P0", "P1") and report["sev"] == {"P0": "SEV1", "P1": "SEV2"}[report["severity"]]
    for service in ALWAYS_HEALTHY:
        assert report["services"][service]["verdict"] == "healthy", "%s\n%s" % (service, context)
