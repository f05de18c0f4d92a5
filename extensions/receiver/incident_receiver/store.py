"""Durable state: every alert and every job lives in SQLite (WAL) before anything answers 2xx.

Job states: queued -> running -> succeeded | failed | interrupted (every attempt ended without an
outcome, `max_attempts` times); queued -> canceled (every alert of the job resolved before it started:
there is nothing left to remediate). A job is claimed with a conditional UPDATE, so it can only ever
start once.

While `running`, each step is committed before the next one happens, so a restarted receiver reads
where a crash left the job: claimed (started_at, private_data_dir) -> attempt N begun (attempts=N,
pid NULL) -> launched (pid, pid_start: the process start time, so a recycled pid is never mistaken
for it; launched_at) -> finished. Its run directory then tells whether attempt N is alive (its lock),
ended (artifacts/attempt-N/status) or died / never started (neither: run again).
"""
import json
import sqlite3
import threading
import time

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key TEXT NOT NULL,
    route TEXT NOT NULL,
    playbook TEXT NOT NULL,
    alertname TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    priority TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    extra_vars TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    backend TEXT,
    external_id TEXT,
    private_data_dir TEXT,
    rc INTEGER,
    error TEXT,
    duplicates INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    pid_start INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    launched_at REAL,
    finished_at REAL,
    resolved_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs(status);
CREATE INDEX IF NOT EXISTS jobs_dedupe ON jobs(dedupe_key, id);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at REAL NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    service TEXT NOT NULL,
    priority TEXT NOT NULL,
    disposition TEXT NOT NULL,
    job_id INTEGER REFERENCES jobs(id),
    alert TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_fp ON alerts(fingerprint, id);
CREATE INDEX IF NOT EXISTS alerts_job ON alerts(job_id);
CREATE INDEX IF NOT EXISTS jobs_by_service ON jobs(service, id);
CREATE TABLE IF NOT EXISTS fold_releases (
    cause_job_id INTEGER PRIMARY KEY REFERENCES jobs(id),
    due_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS fold_releases_due ON fold_releases(due_at);
"""

ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "interrupted", "canceled")
JOB_COLUMNS = ("id", "dedupe_key", "route", "playbook", "alertname", "fingerprint", "service", "priority",
               "incident_id", "extra_vars", "status", "backend", "external_id", "private_data_dir", "rc",
               "error", "duplicates", "attempts", "pid", "pid_start", "created_at", "started_at", "launched_at",
               "finished_at", "resolved_at")
# Columns added since the first schema: (name, declaration), added to an existing database on open.
MIGRATIONS = (("attempts", "INTEGER NOT NULL DEFAULT 0"), ("pid", "INTEGER"), ("pid_start", "INTEGER"))


class Store:
    """One connection shared by the event loop and the dispatch threads, serialised by a lock."""

    def __init__(self, path, synchronous="FULL"):
        self.path = path
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed alert survives a power cut, not only a SIGKILL (NORMAL would).
        self.db.execute("PRAGMA synchronous=%s" % ("NORMAL" if synchronous == "NORMAL" else "FULL"))
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self.migrate()

    def migrate(self):
        """Bring a database written by an older receiver up to this schema."""
        with self.lock:
            have = {r["name"] for r in self.db.execute("PRAGMA table_info(jobs)")}
            for name, decl in MIGRATIONS:
                if name not in have:
                    self.db.execute("ALTER TABLE jobs ADD COLUMN %s %s" % (name, decl))

    def close(self):
        with self.lock:
            self.db.close()

    def transaction(self):
        return _Transaction(self)

    # -- ingestion ---------------------------------------------------------------------------
    def add_alert(self, alert, source, disposition, job_id=None, now=None):
        self.db.execute(
            "INSERT INTO alerts (received_at, source, status, fingerprint, alertname, service, priority,"
            " disposition, job_id, alert) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (now or time.time(), source, alert["status"], alert["fingerprint"], alert["alertname"],
             alert["service"], alert["priority"], disposition, job_id, json.dumps(alert, sort_keys=True)))

    def foldable_job(self, dedupe_key, cooldown_s, now=None):
        """The job a firing alert with this key folds into: active, or finished within the cooldown."""
        now = now or time.time()
        row = self.db.execute(
            "SELECT * FROM jobs WHERE dedupe_key=? AND status!='canceled'"
            " AND (status IN ('queued','running') OR finished_at>=?)"
            " ORDER BY id DESC LIMIT 1", (dedupe_key, now - cooldown_s)).fetchone()
        return _job(row)

    def add_job(self, fields, now=None):
        cur = self.db.execute(
            "INSERT INTO jobs (dedupe_key, route, playbook, alertname, fingerprint, service, priority,"
            " incident_id, extra_vars, backend, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (fields["dedupe_key"], fields["route"], fields["playbook"], fields["alertname"],
             fields["fingerprint"], fields["service"], fields["priority"], fields["incident_id"],
             json.dumps(fields["extra_vars"], sort_keys=True), fields["backend"], now or time.time()))
        return cur.lastrowid

    def count_duplicate(self, job_id):
        self.db.execute("UPDATE jobs SET duplicates=duplicates+1 WHERE id=?", (job_id,))

    def job_for_fingerprint(self, fingerprint):
        """The latest job a (firing) alert with this fingerprint started or was folded into."""
        row = self.db.execute(
            "SELECT j.* FROM alerts a JOIN jobs j ON j.id=a.job_id WHERE a.fingerprint=? AND a.status='firing'"
            " ORDER BY a.id DESC LIMIT 1", (fingerprint,)).fetchone()
        return _job(row)

    def still_firing(self, job_id):
        """Fingerprints linked to the job whose latest notification is not `resolved`."""
        rows = self.db.execute(
            "SELECT a.fingerprint, a.status FROM alerts a JOIN (SELECT fingerprint, MAX(id) AS id FROM alerts"
            " WHERE fingerprint IN (SELECT fingerprint FROM alerts WHERE job_id=?) GROUP BY fingerprint) l"
            " ON a.id=l.id", (job_id,)).fetchall()
        return [r["fingerprint"] for r in rows if r["status"] != "resolved"]

    def reopen(self, job_id):
        """A folded alert fires again after the job's alerts had all resolved; True if it was resolved."""
        return self.db.execute("UPDATE jobs SET resolved_at=NULL WHERE id=? AND resolved_at IS NOT NULL",
                               (job_id,)).rowcount == 1

    def cancel_queued(self, job_id, reason, now=None):
        return self.db.execute("UPDATE jobs SET status='canceled', error=?, finished_at=? WHERE id=? AND status='queued'",
                               (reason, now or time.time(), job_id)).rowcount == 1

    def mark_resolved(self, job_id, now=None):
        cur = self.db.execute("UPDATE jobs SET resolved_at=? WHERE id=? AND resolved_at IS NULL",
                              (now or time.time(), job_id))
        return cur.rowcount == 1

    # -- dispatch ----------------------------------------------------------------------------
    def runnable(self, limit):
        with self.lock:
            rows = self.db.execute("SELECT * FROM jobs WHERE status='queued' ORDER BY id LIMIT ?",
                                   (limit,)).fetchall()
        return [_job(r) for r in rows]

    def running_services(self):
        with self.lock:
            return {r[0] for r in self.db.execute("SELECT DISTINCT service FROM jobs WHERE status='running'")}

    def claim(self, job_id, private_data_dir, now=None):
        """queued -> running, committed before the job starts; False if someone else got it."""
        with self.lock:
            cur = self.db.execute(
                "UPDATE jobs SET status='running', started_at=?, private_data_dir=? WHERE id=? AND status='queued'",
                (now or time.time(), private_data_dir, job_id))
            return cur.rowcount == 1

    def begin_attempt(self, job_id):
        """Committed before a launch: attempt N of a running job (pid unknown until it is launched)."""
        with self.lock:
            self.db.execute("UPDATE jobs SET attempts=attempts+1, pid=NULL, pid_start=NULL WHERE id=? AND status='running'",
                            (job_id,))
            return self.db.execute("SELECT attempts FROM jobs WHERE id=?", (job_id,)).fetchone()[0]

    def set_launched(self, job_id, pid=None, pid_start=None, now=None):
        """The current attempt's process exists; launched_at stays the first launch."""
        with self.lock:
            self.db.execute("UPDATE jobs SET pid=?, pid_start=?, launched_at=COALESCE(launched_at, ?) WHERE id=?",
                            (pid, pid_start, now or time.time(), job_id))

    def set_external_id(self, job_id, external_id):
        with self.lock:
            self.db.execute("UPDATE jobs SET external_id=? WHERE id=?", (str(external_id), job_id))

    def finish(self, job_id, status, rc=None, error=None, now=None):
        with self.lock:
            self.db.execute("UPDATE jobs SET status=?, rc=?, error=?, finished_at=? WHERE id=? AND status='running'",
                            (status, rc, error, now or time.time(), job_id))

    # -- read API ----------------------------------------------------------------------------
    def jobs(self, status=None, limit=100):
        with self.lock:
            if status:
                rows = self.db.execute("SELECT * FROM jobs WHERE status=? ORDER BY id DESC LIMIT ?", (status, limit))
            else:
                rows = self.db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
            return [_job(r) for r in rows.fetchall()]

    def job(self, job_id):
        with self.lock:
            return _job(self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone())

    def job_alerts(self, job_id):
        with self.lock:
            rows = self.db.execute("SELECT id, received_at, status, fingerprint, alertname, disposition FROM alerts"
                                   " WHERE job_id=? ORDER BY id", (job_id,)).fetchall()
            return [dict(r) for r in rows]

    def counts(self):
        with self.lock:
            jobs = dict(self.db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
            alerts = dict(self.db.execute("SELECT disposition, COUNT(*) FROM alerts GROUP BY disposition").fetchall())
            return jobs, alerts

    # -- one incident per root cause (folding; called inside the ingest transaction) -----------------
    def open_incident_of(self, services, max_open_s, settle_s=0, now=None):
        """The oldest job of one of `services` whose incident is open: its alerts still fire (queued,
        running, or finished), or they all resolved less than settle_s ago; created within max_open_s."""
        services = sorted(services)
        if not services:
            return None
        now = now or time.time()
        row = self.db.execute(
            "SELECT * FROM jobs WHERE service IN (%s) AND (resolved_at IS NULL OR resolved_at>?)"
            " AND created_at>=? ORDER BY id LIMIT 1" % ",".join("?" * len(services)),
            services + [now - settle_s, now - max_open_s]).fetchone()
        return _job(row)

    def schedule_release(self, job_id, due_at):
        """Symptoms folded into the job are to be released at due_at (its cause resolved)."""
        self.db.execute("INSERT OR REPLACE INTO fold_releases (cause_job_id, due_at) VALUES (?,?)", (job_id, due_at))

    def take_due_releases(self, now=None):
        """Jobs whose folded symptoms are due for release, removed from the schedule."""
        ids = [r[0] for r in self.db.execute("SELECT cause_job_id FROM fold_releases WHERE due_at<=? ORDER BY due_at",
                                             (now or time.time(),))]
        self.db.executemany("DELETE FROM fold_releases WHERE cause_job_id=?", [(i,) for i in ids])
        return [self.job(i) for i in ids]

    def queued_jobs_of(self, services):
        """Jobs of `services` not started yet."""
        services = sorted(services)
        if not services:
            return []
        rows = self.db.execute("SELECT * FROM jobs WHERE status='queued' AND service IN (%s) ORDER BY id"
                               % ",".join("?" * len(services)), services).fetchall()
        return [_job(r) for r in rows]

    def own_alerts_firing(self, job_id):
        """Like still_firing, without the symptoms folded into the job: is its own cause still firing?"""
        return [r["fingerprint"] for r in self._latest_rows(job_id, "a.disposition!='folded'")
                if r["status"] != "resolved"]

    def folded_symptoms(self, job_id):
        """[(alert, source)]: the alerts folded into the job whose latest notification still fires there."""
        return [(json.loads(r["alert"]), r["source"]) for r in self._latest_rows(job_id, "a.disposition='folded'")
                if r["status"] == "firing" and r["disposition"] == "folded" and r["job_id"] == job_id]

    def firing_alerts(self, job_id):
        """[(alert, source)]: the alerts of the job whose latest notification is firing."""
        return [(json.loads(r["alert"]), r["source"]) for r in self._latest_rows(job_id, "1")
                if r["status"] == "firing"]

    def folded_into(self, fingerprint):
        """The job an alert is folded into as a symptom right now (its latest notification), or None."""
        row = self.db.execute(
            "SELECT j.* FROM alerts a JOIN jobs j ON j.id=a.job_id WHERE a.id=(SELECT MAX(id) FROM alerts"
            " WHERE fingerprint=?) AND a.disposition='folded' AND a.status='firing'", (fingerprint,)).fetchone()
        return _job(row)

    def _latest_rows(self, job_id, linked):
        """The latest notification of each fingerprint linked to the job by a row matching `linked`
        (a fixed SQL condition on `a`), whichever job that latest row belongs to."""
        return self.db.execute(
            "SELECT l.fingerprint, l.alert, l.source, l.status, l.disposition, l.job_id FROM alerts l JOIN"
            " (SELECT fingerprint, MAX(id) AS id FROM alerts WHERE fingerprint IN"
            "  (SELECT a.fingerprint FROM alerts a WHERE a.job_id=? AND %s) GROUP BY fingerprint) m"
            " ON l.id=m.id ORDER BY l.id" % linked, (job_id,)).fetchall()


class _Transaction:
    """`with store.transaction():` BEGIN IMMEDIATE ... COMMIT under the store lock."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        self.store.lock.acquire()
        self.store.db.execute("BEGIN IMMEDIATE")
        return self.store

    def __exit__(self, exc_type, exc, tb):
        try:
            self.store.db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self.store.lock.release()
        return False


def _job(row):
    if row is None:
        return None
    job = {k: row[k] for k in JOB_COLUMNS}
    job["extra_vars"] = json.loads(job["extra_vars"])
    return job
