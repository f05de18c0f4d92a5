"""The postgres_* modules against the lab database: each data fault is seen by postgres_diagnostics
and healed by the action modules, and the guard rails hold (own/superuser sessions, max_sessions,
max_rows, check mode, overwrite)."""
import contextlib
import hashlib
import os
import subprocess
import threading

import psycopg2
import pytest
import yaml

from tests.ansible import REPO, run_module
from tests.lab import ENV, wait_for

pytestmark = pytest.mark.lab

PORT = int(ENV["LAB_POSTGRES_PORT"])
APP = dict(login_host="127.0.0.1", login_port=PORT, login_user=ENV["LAB_POSTGRES_USER"],
           login_password=ENV["LAB_POSTGRES_PASSWORD"], login_db=ENV["LAB_POSTGRES_DB"])
ADMIN = dict(APP, login_user="postgres", login_password=ENV["LAB_POSTGRES_ADMIN_PASSWORD"])
STUCK_RETRY_SQL = ("UPDATE saga_executions SET status = 'RETRY_PENDING', retry_count = retry_count + 1, updated_at = now() "
                   "WHERE status = 'RUNNING' AND updated_at < now() - make_interval(mins => %(minutes)s) "
                   "AND retry_count < %(max_retries)s")


def pg(sql, params=None, admin=True):
    conn = psycopg2.connect(host="127.0.0.1", port=PORT, dbname=APP["login_db"],
                            user=ADMIN["login_user"] if admin else APP["login_user"],
                            password=ADMIN["login_password"] if admin else APP["login_password"])
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def sessions_of(app):
    return pg("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,))


@contextlib.contextmanager
def fault(lab, name):
    lab.faults("inject", name)
    try:
        yield
    finally:
        lab.faults("reset", name)


# The task scheduler's application checks, as the lab inventory gives them to the collection.
with open(os.path.join(REPO, "inventory", "lab.yml")) as _fh:
    LAB_CHECKS = yaml.safe_load(_fh)["all"]["vars"]["lab_app_checks"]


def diagnose(**args):
    args.setdefault("checks", LAB_CHECKS)
    res = run_module("postgres_diagnostics", dict(ADMIN, **args))
    assert not res.get("failed"), res
    return res


def diagnose_until(predicate, what, **args):
    """Re-run postgres_diagnostics until predicate(result) holds; return that result."""
    seen = {}

    def probe():
        seen["res"] = diagnose(**args)
        return predicate(seen["res"])
    wait_for(probe, timeout=10, what=what)
    return seen["res"]


def finding(res, check):
    return [f for f in res["findings"] if f["check"] == check]


def test_diagnostics_healthy(healthy_lab):
    res = diagnose(unreachable_ok=True)
    assert (res["reachable"], res["ready"], res["readiness"]) == (True, True, "accepting")
    assert res["version"].startswith("15.")
    assert res["database"]["name"] == "orchestrator" and res["database"]["size_bytes"] > 0
    conns = res["connections"]
    assert conns["max"] == 50 and conns["reserved"] == 3 and 0 < conns["total"] < 40
    assert conns["percent"] == round(100.0 * conns["total"] / 50, 1)
    assert set(res["checks"]) == {"failed_sagas_1h", "stuck_sagas", "active_workers", "due_work_backlog",
                                  "due_work_oldest_s", "orphaned_operations"}
    assert all(c["ok"] for c in res["checks"].values()), res["checks"]
    assert res["checks"]["active_workers"]["value"] >= 1
    assert res["statements"] and "statements_note" not in res
    assert {t["table"] for t in res["largest_tables"]} & {"saga_executions", "due_work"}
    assert not [f for f in res["findings"] if f["severity"] != "info"], res["findings"]


def test_diagnostics_checks_are_data(lab):
    res = diagnose(checks={
        "missing_table": {"sql": "SELECT count(*) FROM no_such_table", "max": 0},
        "saga_rows": {"sql": "SELECT count(*) FROM saga_executions", "min": 10 ** 9, "severity": "critical"}})
    assert set(res["checks"]) == {"missing_table", "saga_rows"}
    assert res["checks"]["missing_table"]["ok"] is False and "no_such_table" in res["checks"]["missing_table"]["error"]
    assert finding(res, "missing_table")[0]["severity"] == "warning"
    assert res["checks"]["saga_rows"]["ok"] is False and finding(res, "saga_rows")[0]["severity"] == "critical"
    assert res["findings"][0]["check"] == "saga_rows"  # most severe first
    # a check cannot write: the transaction is read-only
    res = diagnose(checks={"writer": {"sql": "DELETE FROM audit_log RETURNING 1", "max": 0}})
    assert "read-only" in res["checks"]["writer"]["error"]
    # a slow check hits the statement timeout and is a finding; the rest of the report is still there
    res = diagnose(statement_timeout_ms=300,
                   checks={"slow": {"sql": "SELECT count(*) FROM pg_sleep(2)", "max": 1}})
    assert "statement timeout" in res["checks"]["slow"]["error"] and res["checks"]["slow"]["duration_ms"] < 1500
    assert res["ready"] and res["largest_tables"]
    # null skips a check
    assert "orphaned_operations" not in diagnose(checks=dict(LAB_CHECKS, orphaned_operations=None))["checks"]


def test_long_query_seen_and_terminated(healthy_lab):
    with fault(healthy_lab, "long-query"):
        wait_for(lambda: len(sessions_of("lab-fault-long-query")) == 2, what="2 long queries")
        res = diagnose_until(lambda r: len(r["long_running"]) >= 2, "long queries listed", long_running_minutes=0.01)
        longest = [s for s in res["long_running"] if s["application"] == "lab-fault-long-query"]
        assert len(longest) == 2 and "pg_sleep" in longest[0]["query"] and longest[0]["duration_s"] > 0
        assert finding(res, "long_running")[0]["severity"] == "warning"

        args = dict(ADMIN, states=["active"], application_name="lab-fault-long-query", older_than_minutes=0)
        preview = run_module("postgres_sessions", args, check=True)
        assert preview["changed"] and preview["matched"] == 2
        assert len(sessions_of("lab-fault-long-query")) == 2  # check mode changed nothing

        res = run_module("postgres_sessions", args)
        assert res["changed"] and res["matched"] == 2 and all(s["done"] for s in res["sessions"]), res
        assert {s["pid"] for s in res["sessions"]} == {s["pid"] for s in longest}
        assert sessions_of("lab-fault-long-query") == []
        assert run_module("postgres_sessions", args)["changed"] is False  # idempotent


def test_idle_in_transaction_blocks_then_heals(healthy_lab):
    with fault(healthy_lab, "idle-in-transaction"):
        wait_for(lambda: pg("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lab-fault-idle-in-transaction' "
                            "AND state = 'idle in transaction'")[0][0] == 2, what="2 idle-in-transaction sessions")
        locked_id = pg("SELECT min(id) FROM saga_executions")[0][0]
        # a writer waiting on the held row lock shows up as blocked
        waiter = threading.Thread(target=pg, args=("SET statement_timeout = '20s'; UPDATE saga_executions "
                                                   "SET retry_count = retry_count WHERE id = %s", (locked_id,)))
        waiter.start()
        # both holders must have been idle past the threshold: wait until the report lists the two of them
        res = diagnose_until(lambda r: r["blocked"] and len([s for s in r["idle_in_transaction"]
                                                             if s["application"] == "lab-fault-idle-in-transaction"]) == 2,
                             "blocked + 2 idle in transaction", idle_in_transaction_minutes=0.01)
        holders = {s["pid"] for s in res["idle_in_transaction"] if s["application"] == "lab-fault-idle-in-transaction"}
        assert len(holders) == 2 and set(res["blocked"][0]["blocked_by"]) <= holders
        assert finding(res, "blocked") and finding(res, "idle_in_transaction")

        # the guarded update gives up on the lock instead of queueing behind it
        res = run_module("postgres_guarded_update", dict(APP, sql="UPDATE saga_executions SET retry_count = retry_count "
                                                         "WHERE id = %s", params=[locked_id], max_rows=1, lock_timeout_ms=300))
        assert res["failed"] and "lock" in res["msg"] and "nothing changed" in res["msg"]

        res = run_module("postgres_sessions", dict(ADMIN, states=["idle in transaction"], older_than_minutes=0.01,
                                                   application_name="lab-fault-idle-in-transaction"))
        assert res["matched"] == 2 and holders == {s["pid"] for s in res["sessions"]}
        waiter.join(15)
        assert not waiter.is_alive()  # the lock was released: the waiting writer finished
        assert diagnose(idle_in_transaction_minutes=0.01)["blocked"] == []


def test_pool_exhausted(healthy_lab):
    with fault(healthy_lab, "pool-exhausted"):
        wait_for(lambda: len(sessions_of("lab-fault-idle")) >= 40, what="the pool to fill")
        app = run_module("postgres_diagnostics", dict(APP, unreachable_ok=True))
        assert (app["reachable"], app["ready"], app["readiness"]) == (True, False, "rejecting"), app
        assert "127.0.0.1:%d" % PORT in app["error"] and finding(app, "ready")[0]["severity"] == "critical"
        failed = run_module("postgres_diagnostics", APP)
        assert failed["failed"] and "user orchestrator" in failed["msg"] and ENV["LAB_POSTGRES_PASSWORD"] not in failed["msg"]

        res = diagnose()  # the superuser gets a reserved slot
        assert res["connections"]["available"] == 0
        assert finding(res, "connections")[0]["severity"] == "critical"

        args = dict(ADMIN, application_name="lab-fault-idle", states=["idle"])
        refused = run_module("postgres_sessions", args)
        assert refused["failed"] and "max_sessions=10" in refused["msg"] and refused["matched"] >= 40
        assert len(sessions_of("lab-fault-idle")) >= 40  # nothing terminated
        res = run_module("postgres_sessions", dict(args, max_sessions=60))
        assert res["changed"] and res["matched"] >= 40
        assert sessions_of("lab-fault-idle") == []
        assert run_module("postgres_diagnostics", APP)["ready"] is True


def test_sessions_spare_own_and_superuser(lab):
    keep = psycopg2.connect(host="127.0.0.1", port=PORT, dbname=APP["login_db"], user="postgres",
                            password=ADMIN["login_password"], application_name="d-test-superuser")
    try:
        args = dict(ADMIN, application_name="d-test-superuser")
        res = run_module("postgres_sessions", args)
        assert res["changed"] is False and res["sessions"] == []
        assert "include_superuser" in res["skipped"][0]["reason"]
        refused = run_module("postgres_sessions", dict(args, include_superuser=True))
        assert refused["failed"] and "confirm=true" in refused["msg"]
        assert sessions_of("d-test-superuser")  # still there
        own = run_module("postgres_sessions", dict(ADMIN, application_name="incident.response.sessions"))
        assert own["matched"] == 0  # its own session is never a candidate
        res = run_module("postgres_sessions", dict(args, include_superuser=True, confirm=True))
        assert res["matched"] == 1 and res["sessions"][0]["user"] == "postgres"
        assert sessions_of("d-test-superuser") == []
    finally:
        keep.close()
    assert run_module("postgres_sessions", dict(ADMIN))["failed"]  # no filter at all is refused


def test_stuck_sagas_retried_with_guard_rails(healthy_lab):
    count_stuck = "SELECT count(*) FROM saga_executions WHERE saga_id LIKE 'stuck-%' AND status = 'RUNNING'"
    args = dict(APP, sql=STUCK_RETRY_SQL, params={"minutes": 30, "max_retries": 3}, key_column="saga_id")
    with fault(healthy_lab, "stuck-sagas"):
        res = diagnose()
        assert res["checks"]["stuck_sagas"]["value"] == 5 and not res["checks"]["stuck_sagas"]["ok"]
        assert finding(res, "stuck_sagas")[0]["severity"] == "critical"

        refused = run_module("postgres_guarded_update", dict(args, max_rows=2))
        assert refused["failed"] and "max_rows=2" in refused["msg"] and refused["rowcount"] == 5
        assert pg(count_stuck)[0][0] == 5

        preview = run_module("postgres_guarded_update", dict(args, max_rows=10), check=True)
        assert preview["changed"] and preview["rowcount"] == 5 and preview["committed"] is False
        assert pg(count_stuck)[0][0] == 5

        res = run_module("postgres_guarded_update", dict(args, max_rows=10, keys_limit=3))
        assert res["committed"] and res["rowcount"] == 5 and res["statement"] == "UPDATE"
        assert len(res["touched_keys"]) == 3 and res["touched_keys_truncated"]
        assert all(k.startswith("stuck-") for k in res["touched_keys"])
        assert pg(count_stuck)[0][0] == 0
        assert pg("SELECT count(*) FROM saga_executions WHERE saga_id LIKE 'stuck-%' "
                  "AND status = 'RETRY_PENDING' AND retry_count = 1")[0][0] == 5
        assert diagnose()["checks"]["stuck_sagas"]["ok"]
        assert run_module("postgres_guarded_update", dict(args, max_rows=10))["changed"] is False


def test_guarded_update_rejects_other_sql(lab):
    for sql, why in [("SELECT 1", "got SELECT"), ("DELETE FROM audit_log; DROP TABLE audit_log", "more than one"),
                     ("DELETE FROM audit_log WHERE id < 0 RETURNING id", "RETURNING")]:
        res = run_module("postgres_guarded_update", dict(APP, sql=sql, max_rows=1))
        assert res["failed"] and why in res["msg"]
    assert pg("SELECT to_regclass('audit_log') IS NOT NULL")[0][0]


def test_vacuum(lab):
    args = dict(APP, action="vacuum", tables=["due_work", "public.task_run"])
    preview = run_module("postgres_maintenance", args, check=True)
    assert preview["changed"] and "would VACUUM (ANALYZE)" in preview["msg"] and "duration_s" not in preview
    res = run_module("postgres_maintenance", args)
    assert [t["table"] for t in res["tables"]] == ["public.due_work", "public.task_run"]
    assert all(t["dead_tuples_after"] <= t["dead_tuples_before"] for t in res["tables"]), res["tables"]
    assert run_module("postgres_maintenance", dict(APP, action="vacuum", tables=["nope"]))["failed"]


@pytest.mark.parametrize("container", [None, "incident-lab_postgres_1"])
def test_dump_with_checksum(lab, tmp_path, container):
    dest = tmp_path / "orchestrator.dump"
    args = dict(APP, action="dump", dest=str(dest), container=container)
    assert run_module("postgres_maintenance", args, check=True)["changed"] and not dest.exists()
    res = run_module("postgres_maintenance", args)
    assert not res.get("failed"), res
    data = dest.read_bytes()
    assert res["size_bytes"] == len(data) > 1000 and res["sha256"] == hashlib.sha256(data).hexdigest()
    assert ENV["LAB_POSTGRES_PASSWORD"] not in " ".join(res["command"])
    listing = subprocess.run(["pg_restore", "--list", str(dest)], capture_output=True, text=True, check=True).stdout
    assert "TABLE public saga_executions" in listing
    again = run_module("postgres_maintenance", args)
    assert again["failed"] and "already exists" in again["msg"] and dest.read_bytes() == data


def test_db_stop_is_a_finding(healthy_lab):
    with fault(healthy_lab, "db-stop"):
        res = run_module("postgres_diagnostics", dict(ADMIN, unreachable_ok=True, connect_timeout=2))
        assert (res["reachable"], res["ready"], res["readiness"]) == (False, False, "no_response"), res
        assert finding(res, "ready")[0]["severity"] == "critical" and "is down" in res["findings"][0]["message"]
        failed = run_module("postgres_diagnostics", dict(ADMIN, connect_timeout=2))
        assert failed["failed"] and failed["msg"].startswith("PostgreSQL at 127.0.0.1:%d (db orchestrator, user postgres)" % PORT)
    wait_for(lambda: diagnose(unreachable_ok=True)["ready"], timeout=60, what="postgres back")
