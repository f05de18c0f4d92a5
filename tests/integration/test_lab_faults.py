"""Every fault of the lab makes its runbook symptom really happen, and the lab recovers after reset."""
import contextlib
import subprocess

import psycopg2
import pytest
import redis


@contextlib.contextmanager
def injected(lab, name):
    lab.faults("inject", name)
    try:
        yield
    finally:
        lab.faults("reset", name)


def pg(lab, user="LAB_POSTGRES_USER", password="LAB_POSTGRES_PASSWORD", **kw):
    return psycopg2.connect(host="127.0.0.1", port=lab.ENV["LAB_POSTGRES_PORT"], dbname=lab.ENV["LAB_POSTGRES_DB"],
                            user=lab.ENV[user] if user.startswith("LAB_") else user, password=lab.ENV[password],
                            connect_timeout=3, **kw)


def sessions(lab, app):
    with pg(lab, user="postgres", password="LAB_POSTGRES_ADMIN_PASSWORD") as conn, conn.cursor() as cur:
        cur.execute("SELECT state, query FROM pg_stat_activity WHERE application_name = %s", (app,))
        return cur.fetchall()


def test_lab_is_healthy_end_to_end(healthy_lab):
    lab = healthy_lab
    status, body = lab.http(lab.url("nginx", "/api/sagas"), "POST", {"saga_name": "smoke"})
    assert status == 201 and body["status"] == "accepted"
    status, body = lab.http(lab.url("api", "/health/ready"))
    assert status == 200 and set(body["checks"].values()) == {"ok"}
    # the worker completes the saga that went through nginx -> api -> postgres -> due_work
    status, body = lab.http(lab.url("api", "/api/workflows/health"))
    assert status == 200 and body["saga_coordinator"]["status"] == "healthy"

    def scrape_health():
        targets = lab.http(lab.url("prometheus", "/api/v1/targets"))[1]["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in targets}
    expected = dict.fromkeys(["api", "postgres", "redis", "prometheus", "alertmanager"], "up")
    lab.wait_for(lambda: scrape_health() == expected, timeout=20, what="every scrape target up")
    assert lab.http(lab.url("alertmanager", "/api/v2/status"))[0] == 200
    assert lab.http(lab.url("sink", "/healthz"))[0] == 200


def test_api_kill(healthy_lab):
    lab = healthy_lab
    with injected(lab, "api-kill"):
        state = lab.container("api")["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137
        assert lab.http(lab.url("api", "/health"))[0] == 0
        assert lab.http(lab.url("nginx", "/health"))[0] == 502
        lab.wait_for(lambda: "TaskSchedulerAPIDown" in lab.firing_alerts(), timeout=30, what="TaskSchedulerAPIDown")


def test_api_hang(healthy_lab):
    lab = healthy_lab
    with injected(lab, "api-hang"):
        status, reason = lab.http(lab.url("api", "/health"), timeout=1)
        assert status == 0 and "timed out" in reason
        assert lab.container("api")["State"]["Status"] == "running"
        lab.wait_for(lambda: lab.container("api")["State"]["Health"]["Status"] == "unhealthy", timeout=30, what="unhealthy")


def test_db_stop(healthy_lab):
    lab = healthy_lab
    with injected(lab, "db-stop"):
        assert lab.container("postgres")["State"]["Status"] == "exited"
        status, body = lab.http(lab.url("api", "/health/ready"))
        assert status == 503 and body["checks"]["database"].startswith("error")
        lab.wait_for(lambda: "TaskSchedulerDatabaseDown" in lab.firing_alerts(), timeout=30, what="TaskSchedulerDatabaseDown")


def test_workers_stop(healthy_lab):
    lab = healthy_lab
    with injected(lab, "workers-stop"):
        assert lab.container("worker")["State"]["Status"] == "exited"
        lab.wait_for(lambda: "lab_active_workers 0\n" in lab.http(lab.url("api", "/metrics"))[1], timeout=40,
                     what="lab_active_workers 0")


def test_stuck_sagas(healthy_lab):
    lab = healthy_lab
    with injected(lab, "stuck-sagas"):
        status, body = lab.http(lab.url("api", "/api/workflows/health"))
        assert body["saga_coordinator"]["status"] == "degraded" and body["saga_coordinator"]["stuck_sagas"] == 5
        lab.wait_for(lambda: "StuckSagas" in lab.firing_alerts(), timeout=30, what="StuckSagas")


@pytest.mark.parametrize("fault,state", [("long-query", "active"), ("idle-in-transaction", "idle in transaction")])
def test_long_and_idle_sessions(healthy_lab, fault, state):
    lab = healthy_lab
    with injected(lab, fault):
        lab.wait_for(lambda: len([r for r in sessions(lab, "lab-fault-" + fault) if r[0] == state]) == 2, timeout=10,
                     what="2 sessions %s" % state)
    lab.wait_for(lambda: not sessions(lab, "lab-fault-" + fault), timeout=10, what="sessions gone after reset")


def test_pool_exhausted(healthy_lab):
    lab = healthy_lab
    with injected(lab, "pool-exhausted"):
        lab.wait_for(lambda: len(sessions(lab, "lab-fault-idle")) >= 40, timeout=10, what="held connections")
        with pytest.raises(psycopg2.OperationalError, match="remaining connection slots are reserved"):
            pg(lab).close()
        status, body = lab.http(lab.url("api", "/health/ready"))
        assert status == 503 and "remaining connection slots" in body["checks"]["database"]


def test_redis_full(healthy_lab):
    lab = healthy_lab
    client = redis.Redis(port=int(lab.ENV["LAB_REDIS_PORT"]))
    with injected(lab, "redis-full"):
        mem = client.info("memory")
        assert mem["used_memory"] / mem["maxmemory"] > 0.95
        lab.wait_for(lambda: "RedisMemoryHigh" in lab.firing_alerts(), timeout=30, what="RedisMemoryHigh")
    assert client.info("memory")["used_memory"] / client.info("memory")["maxmemory"] < 0.5


def test_restart_loop(healthy_lab):
    lab = healthy_lab
    with injected(lab, "restart-loop"):
        lab.wait_for(lambda: lab.container("worker")["RestartCount"] >= 2, timeout=30, what="restarts")
        assert lab.container("worker")["HostConfig"]["RestartPolicy"]["Name"] == "always"


def test_oom(healthy_lab):
    lab = healthy_lab
    with injected(lab, "oom"):
        state = lab.wait_for(lambda: lab.container("worker")["State"]["Status"] == "exited" and lab.container("worker")["State"],
                             timeout=30, what="worker OOM-killed")
        assert state["OOMKilled"] is True and state["ExitCode"] == 137


def test_bad_deploy(healthy_lab):
    lab = healthy_lab
    with injected(lab, "bad-deploy"):
        assert lab.container("api")["Config"]["Image"] == "incident-lab/api:broken"
        lab.wait_for(lambda: lab.http(lab.url("api", "/health/ready"))[0], timeout=20, what="broken api answering")
        status, body = lab.http(lab.url("api", "/health/ready"))
        assert status == 503 and body["version"] == "1.1.0-broken" and "migration" in body["checks"]["migrations"]
        assert lab.http(lab.url("nginx", "/api/sagas"), "POST", {})[0] == 500
    lab.wait_for(lambda: lab.container("api")["Config"]["Image"] == "incident-lab/api:current", timeout=5, what="rolled back")


def test_disk_full(healthy_lab):
    lab = healthy_lab
    with injected(lab, "disk-full"):
        status, body = lab.http(lab.url("api", "/health/ready"))
        assert status == 503 and "spool disk full" in body["checks"]["spool"]
        assert lab.http(lab.url("nginx", "/api/sagas"), "POST", {})[0] == 500
        lab.wait_for(lambda: "DiskSpaceLow" in lab.firing_alerts(), timeout=30, what="DiskSpaceLow")


def test_fault_cli_rejects_unknown_fault(lab):
    res = subprocess.run([lab.LAB + "/faults.py", "inject", "no-such-fault"], capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "invalid choice" in res.stderr
