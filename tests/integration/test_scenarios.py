"""Scenario playbooks against the lab faults they heal (a fast subset; the molecule game days run
database-down, no-active-workers, p2-db-performance, redis-memory, rollback and security-breach)."""
import contextlib
import glob
import json
import os
import subprocess

import psycopg2
import pytest

from tests.ansible import run_playbook


@contextlib.contextmanager
def injected(lab, name):
    lab.faults("inject", name)
    try:
        yield
    finally:
        lab.faults("reset", name)


@pytest.fixture
def incident_env(tmp_path):
    """A private incident root and guard-rail state (rate limits) for each run."""
    return {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_STATE_DIR": str(tmp_path / "state")}


def incidents(env):
    """{incident_id: [milestone dicts]} of every run recorded under the test's incident root."""
    found = {}
    for path in glob.glob(os.path.join(env["INCIDENT_ROOT"], "INC-*", "timeline.jsonl")):
        with open(path) as fh:
            events = [json.loads(line) for line in fh if line.strip()]
        found[os.path.basename(os.path.dirname(path))] = [e for e in events if e["type"] == "milestone"]
    return found


def responded(env, playbook):
    """(incident dir, milestones) of the run of `playbook` that declared an incident."""
    for incident_id, milestones in incidents(env).items():
        if any(m["event"] == "declared" for m in milestones):
            return os.path.join(env["INCIDENT_ROOT"], incident_id), milestones
    raise AssertionError("%s declared no incident: %s" % (playbook, incidents(env)))


def run(playbook, env, check=False, extra=None):
    res = run_playbook("playbooks/" + playbook, extra_vars=extra, check=check, env=env, timeout=240)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    return res


def recap_changed(res):
    return int(res.stdout.rsplit("changed=", 1)[1].split()[0])


def sql(lab, query):
    with psycopg2.connect(host="127.0.0.1", port=lab.ENV["LAB_POSTGRES_PORT"], dbname=lab.ENV["LAB_POSTGRES_DB"],
                          user=lab.ENV["LAB_POSTGRES_USER"], password=lab.ENV["LAB_POSTGRES_PASSWORD"],
                          connect_timeout=3) as conn, conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchall()


def test_database_down_restarts_postgres_with_a_backup(healthy_lab, incident_env):
    with injected(healthy_lab, "db-stop"):
        run("database-down.yml", incident_env)
        status, body = healthy_lab.http(healthy_lab.url("api", "/health/ready"))
        assert status == 200 and body["checks"]["database"] == "ok"
        path, milestones = responded(incident_env, "database-down.yml")
    events = [m["event"] for m in milestones]
    assert events.index("declared") < events.index("mitigated") < events.index("resolved")
    assert any("PostgreSQL restarted" in m["message"] for m in milestones)
    backup = os.path.join(path, "emergency-backup-after-restart.dump")
    assert os.path.getsize(backup) > 1000
    assert os.path.exists(os.path.join(path, "report.md"))
    # the responders heard about it from start to end
    status, records = healthy_lab.http(healthy_lab.url("sink", "/_sink/requests?path=/pagerduty"))
    actions = [r["body"].get("event_action") for r in records if os.path.basename(path) in json.dumps(r["body"])]
    assert "trigger" in actions and "resolve" in actions


def test_check_mode_changes_nothing(healthy_lab, incident_env):
    with injected(healthy_lab, "db-stop"):
        res = run_playbook("playbooks/database-down.yml", check=True, env=incident_env, timeout=240)
        assert res.returncode == 0, res.stdout[-5000:]
        state = healthy_lab.container("postgres")["State"]
        assert not state["Running"], "check mode started PostgreSQL:\n" + res.stdout[-3000:]
        assert not glob.glob(os.path.join(incident_env["INCIDENT_ROOT"], "INC-*", "emergency-backup-*"))


def test_stuck_sagas_are_retried_within_the_row_cap(healthy_lab, incident_env):
    with injected(healthy_lab, "stuck-sagas"):
        run("p1-saga-failures.yml", incident_env)
        rows = sql(healthy_lab, "SELECT status, retry_count FROM saga_executions WHERE saga_id LIKE 'stuck-%'")
        assert rows and set(rows) == {("RETRY_PENDING", 1)}
        path, milestones = responded(incident_env, "p1-saga-failures.yml")
        assert any("5 stuck saga(s) set to RETRY_PENDING" in m["message"] for m in milestones)
        # the inventory's snapshot queries ran into the evidence before the rows changed
        captured = [f for _d, _s, files in os.walk(os.path.join(path, "evidence")) for f in files]
        assert any(f.startswith("stuck_sagas") for f in captured), captured


def test_row_cap_refuses_and_escalates(healthy_lab, incident_env):
    with injected(healthy_lab, "stuck-sagas"):
        res = run_playbook("playbooks/p1-saga-failures.yml", extra_vars={"remediate_data_max_rows": 2},
                           env=incident_env, timeout=240)
        assert res.returncode != 0
        rows = sql(healthy_lab, "SELECT DISTINCT status FROM saga_executions WHERE saga_id LIKE 'stuck-%'")
        assert rows == [("RUNNING",)], "the guarded update changed rows beyond its cap"
        _path, milestones = responded(incident_env, "p1-saga-failures.yml")
        assert any(m["event"] == "escalated" for m in milestones)


def test_redis_memory_gets_headroom_without_losing_keys(healthy_lab, incident_env):
    redis_cli = ["docker", "exec", healthy_lab.container("redis")["Id"], "redis-cli", "-h", "127.0.0.1",
                 "-p", healthy_lab.ENV["LAB_REDIS_PORT"]]
    try:
        with injected(healthy_lab, "redis-full"):
            keys_before = int(subprocess.check_output(redis_cli + ["dbsize"], text=True))
            run("redis-memory.yml", incident_env)
            assert int(subprocess.check_output(redis_cli + ["dbsize"], text=True)) >= keys_before
            maxmemory = int(subprocess.check_output(redis_cli + ["config", "get", "maxmemory"], text=True).split()[1])
            assert maxmemory > 64 * 1024 * 1024
            # a second run on the healed Redis changes nothing
            assert recap_changed(run("redis-memory.yml", incident_env)) == 0
    finally:
        subprocess.run(redis_cli + ["config", "set", "maxmemory", healthy_lab.ENV["LAB_REDIS_MAXMEMORY"]], check=True,
                       capture_output=True)


def test_long_queries_are_terminated(healthy_lab, incident_env):
    with injected(healthy_lab, "long-query"):
        healthy_lab.wait_for(lambda: len(sql(healthy_lab, "SELECT pid FROM pg_stat_activity WHERE application_name = "
                                                          "'lab-fault-long-query' AND now() - query_start > interval '3 seconds'")) == 2,
                             timeout=15, what="two aged long queries")
        run("p2-db-performance.yml", incident_env, extra={"remediate_performance_terminate_after_minutes": 0.05})
        assert sql(healthy_lab, "SELECT pid FROM pg_stat_activity WHERE application_name = 'lab-fault-long-query'") == []
        _path, milestones = responded(incident_env, "p2-db-performance.yml")
        assert any(m["message"].startswith("Terminated 2 session") for m in milestones)
