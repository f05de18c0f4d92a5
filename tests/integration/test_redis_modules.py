"""The redis_* modules against the lab Redis: the redis-full fault is seen and relieved, flushes need
the confirm flag, CONFIG SET is idempotent and reversible."""
import pytest
import redis

from tests.ansible import run_module
from tests.lab import ENV

pytestmark = pytest.mark.lab

PORT = int(ENV["LAB_REDIS_PORT"])
CONN = dict(host="127.0.0.1", port=PORT)
LAB_MAXMEMORY = 64 * 1024 * 1024
SCRATCH_DB = 15  # the lab application uses db 0 only


def client(db=0):
    return redis.Redis(host="127.0.0.1", port=PORT, db=db)


def diagnose(**args):
    res = run_module("redis_diagnostics", dict(CONN, **args))
    assert not res.get("failed"), res
    return res


def test_diagnostics_healthy(healthy_lab):
    res = diagnose(clients_sample=2)
    assert res["reachable"] and res["ping"] and res["role"] == "master"
    mem = res["memory"]
    assert mem["max_bytes"] == LAB_MAXMEMORY and mem["policy"] == "noeviction"
    assert mem["percent"] == round(100.0 * mem["used_bytes"] / LAB_MAXMEMORY, 1) < 80
    assert res["clients"]["connected"] >= 1 and 1 <= len(res["clients"]["sample"]) <= 2
    assert isinstance(res["clients"]["sample"][0]["idle"], int)
    assert res["keyspace"]["db0"]["keys"] >= 0 and res["evicted_keys"] == 0
    assert [f for f in res["findings"] if f["severity"] != "info"] == []


def test_unreachable(lab):
    res = run_module("redis_diagnostics", dict(host="127.0.0.1", port=1, unreachable_ok=True, timeout=1))
    assert (res["reachable"], res["ping"]) == (False, False) and res["findings"][0]["severity"] == "critical"
    res = run_module("redis_diagnostics", dict(host="127.0.0.1", port=1, timeout=1))
    assert res["failed"] and res["msg"].startswith("Redis at 127.0.0.1:1 (db 0) unreachable")


def test_redis_full_seen_and_relieved(healthy_lab):
    try:
        healthy_lab.faults("inject", "redis-full")
        res = diagnose()
        assert res["memory"]["percent"] >= 95 and res["findings"][0]["check"] == "memory"
        assert res["findings"][0]["severity"] == "critical" and "OOM" in res["findings"][0]["message"]

        keys = client().dbsize()
        refused = run_module("redis_maintenance", dict(CONN, action="flushdb"))
        assert refused["failed"] and "confirm=true" in refused["msg"] and refused["confirm_required"] == "confirm"
        assert client().dbsize() >= keys  # nothing flushed (the app may still add small keys)

        args = dict(CONN, action="config_set", maxmemory="128mb")
        preview = run_module("redis_maintenance", args, check=True)
        assert preview["changed"] and preview["after"]["maxmemory"] == 2 * LAB_MAXMEMORY
        assert int(client().config_get("maxmemory")["maxmemory"]) == LAB_MAXMEMORY
        res = run_module("redis_maintenance", args)
        assert res["changed"] and res["before"]["maxmemory"] == LAB_MAXMEMORY
        assert run_module("redis_maintenance", args)["changed"] is False  # idempotent
        assert client().set("d-test:write", "ok")  # writes work again
        assert diagnose()["memory"]["percent"] < 60
    finally:
        client().delete("d-test:write")
        healthy_lab.faults("reset", "redis-full")
        restored = run_module("redis_maintenance", dict(CONN, action="config_set", maxmemory=str(LAB_MAXMEMORY)))
        assert not restored.get("failed"), restored
    assert int(client().config_get("maxmemory")["maxmemory"]) == LAB_MAXMEMORY


def test_flushdb_with_confirm(lab):
    scratch = client(SCRATCH_DB)
    scratch.mset({"d-test:a": 1, "d-test:b": 2, "d-test:c": 3})
    app_keys = client().dbsize()
    args = dict(CONN, db=SCRATCH_DB, action="flushdb", confirm=True)
    preview = run_module("redis_maintenance", args, check=True)
    assert preview["changed"] and preview["keys_before"] == 3 and scratch.dbsize() == 3
    res = run_module("redis_maintenance", args)
    assert (res["keys_before"], res["keys_after"]) == (3, 0) and scratch.dbsize() == 0
    assert client().dbsize() >= app_keys - 5  # db 0 untouched (the app only adds keys)
    assert run_module("redis_maintenance", args)["changed"] is False
