import time

from incident_receiver.store import Store


def job_fields(key="k", service="api"):
    return {"dedupe_key": key, "route": "r", "playbook": "p.yml", "alertname": "A", "fingerprint": "f1",
            "service": service, "priority": "P0", "incident_id": "INC-2026-01-01-001", "extra_vars": {"a": 1},
            "backend": "local"}


def alert(fp, status="firing"):
    return {"status": status, "fingerprint": fp, "alertname": "A", "service": "api", "priority": "P0"}


def test_wal_and_claim_exactly_once(tmp_path):
    store = Store(str(tmp_path / "q.db"))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store.transaction():
        job_id = store.add_job(job_fields())
    assert store.claim(job_id, "/runs/job-1") is True
    assert store.claim(job_id, "/runs/job-1") is False          # a second dispatcher never starts it again
    other = Store(str(tmp_path / "q.db"))                         # another process sees the committed state
    assert other.job(job_id)["status"] == "running"


def test_rolled_back_ingest_leaves_nothing(tmp_path):
    store = Store(str(tmp_path / "q.db"))
    try:
        with store.transaction():
            store.add_job(job_fields())
            raise RuntimeError("crash mid-notification")
    except RuntimeError:
        pass
    assert store.jobs() == []


def test_fold_window_covers_active_runs_and_the_cooldown(tmp_path):
    store = Store(str(tmp_path / "q.db"))
    now = time.time()
    with store.transaction():
        job_id = store.add_job(job_fields(), now)
    assert store.foldable_job("k", 60, now)["id"] == job_id       # queued
    store.claim(job_id, "/x", now)
    assert store.foldable_job("k", 60, now)["id"] == job_id       # running
    store.finish(job_id, "succeeded", 0, None, now)
    assert store.foldable_job("k", 60, now + 59)["id"] == job_id  # within the cooldown
    assert store.foldable_job("k", 60, now + 61) is None          # after it: a new run
    assert store.foldable_job("other", 60, now) is None


def test_resolution_waits_for_every_folded_alert(tmp_path):
    store = Store(str(tmp_path / "q.db"))
    with store.transaction():
        job_id = store.add_job(job_fields())
        store.add_alert(alert("f1"), "alertmanager", "queued", job_id)
        store.add_alert(alert("f2"), "alertmanager", "duplicate", job_id)
        store.add_alert(alert("f1", "resolved"), "alertmanager", "resolved", job_id)
    assert store.still_firing(job_id) == ["f2"]
    with store.transaction():
        store.add_alert(alert("f2", "resolved"), "alertmanager", "resolved", job_id)
    assert store.still_firing(job_id) == []
    assert store.mark_resolved(job_id) is True and store.mark_resolved(job_id) is False
    assert store.job_for_fingerprint("f2")["id"] == job_id


def test_running_services_and_counts(tmp_path):
    store = Store(str(tmp_path / "q.db"))
    with store.transaction():
        one = store.add_job(job_fields("a", "api"))
        store.add_job(job_fields("b", "db"))
    store.claim(one, "/x")
    assert store.running_services() == {"api"}
    assert store.counts()[0] == {"running": 1, "queued": 1}
    assert [j["id"] for j in store.runnable(10)] == [one + 1]
