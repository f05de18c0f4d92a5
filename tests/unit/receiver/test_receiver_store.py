import sqlite3
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


OLD_JOBS = """CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, dedupe_key TEXT NOT NULL, route TEXT NOT NULL,
    playbook TEXT NOT NULL, alertname TEXT NOT NULL, fingerprint TEXT NOT NULL, service TEXT NOT NULL,
    priority TEXT NOT NULL, incident_id TEXT NOT NULL, extra_vars TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
    backend TEXT, external_id TEXT, private_data_dir TEXT, rc INTEGER, error TEXT,
    duplicates INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL, started_at REAL, launched_at REAL,
    finished_at REAL, resolved_at REAL)"""


def test_a_database_of_an_older_receiver_is_migrated(tmp_path):
    path = str(tmp_path / "q.db")
    old = sqlite3.connect(path)
    old.execute(OLD_JOBS)
    old.execute("INSERT INTO jobs (dedupe_key, route, playbook, alertname, fingerprint, service, priority, incident_id,"
                " extra_vars, status, private_data_dir, created_at, started_at) VALUES"
                " ('k','r','p.yml','A','f','api','P0','INC-1','{}','running','/runs/job-1',1,2)")
    old.commit()
    old.close()
    store = Store(path)
    job = store.job(1)
    assert job["status"] == "running" and job["attempts"] == 0 and job["pid"] is None   # recovery: nothing launched
    assert store.begin_attempt(1) == 1
    Store(path)                                                   # opening again changes nothing
    assert Store(path).job(1)["attempts"] == 1


def test_attempts_pid_and_launch_time_are_committed_step_by_step(tmp_path):
    store = Store(str(tmp_path / "q.db"))
    with store.transaction():
        job_id = store.add_job(job_fields())
    assert store.begin_attempt(job_id) == 0                       # queued: no attempt before the claim
    store.claim(job_id, "/runs/job-1", 10)
    assert store.begin_attempt(job_id) == 1 and store.job(job_id)["pid"] is None
    store.set_launched(job_id, 4242, 987654, now=11)
    other = Store(str(tmp_path / "q.db"))                         # what a restarted receiver reads
    assert {k: other.job(job_id)[k] for k in ("attempts", "pid", "pid_start", "launched_at")} == \
        {"attempts": 1, "pid": 4242, "pid_start": 987654, "launched_at": 11}
    assert store.begin_attempt(job_id) == 2 and store.job(job_id)["pid"] is None   # the next launch forgets the pid
    store.set_launched(job_id, 4343, 1, now=20)
    assert store.job(job_id)["launched_at"] == 11                 # the first launch stays the dispatch latency
    store.finish(job_id, "succeeded", 0, None)
    assert store.begin_attempt(job_id) == 2                       # finished: never launched again
