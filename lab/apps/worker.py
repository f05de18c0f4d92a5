"""The lab's worker: claims due_work items (FOR UPDATE SKIP LOCKED), completes their sagas,
records task_run rows and a worker_heartbeat every couple of seconds.
Faults: SIGUSR1 makes it allocate memory until the kernel OOM-kills it; a crash flag file makes
it exit at start-up (a restart loop under restart=always)."""
import os
import signal
import sys
import time
import uuid

import psycopg2

from labcommon import STOP, env, handle_sigterm, pg_connect, setup_logging

log = setup_logging("worker")
WORKER_ID = "worker-" + uuid.uuid4().hex[:8]
CRASH_FLAG = os.path.join(env("LAB_FAULTS_DIR", "/var/lib/lab/faults"), "worker-crash")
HEARTBEAT_FILE = "/tmp/worker-heartbeat"
HOG = []


def hog_memory(_signum, _frame):
    log.warning("SIGUSR1: allocating memory until the container limit is hit")
    while True:
        HOG.append(bytearray(16 * 1024 * 1024))


def process_one(cur):
    cur.execute("""
        UPDATE due_work SET locked_until = now() + interval '30 seconds', locked_by = %s
        WHERE id = (SELECT id FROM due_work WHERE run_at <= now()
                      AND (locked_until IS NULL OR locked_until < now())
                    ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING id, payload""", (WORKER_ID,))
    row = cur.fetchone()
    if not row:
        return False
    work_id, payload = row
    started = time.time()
    saga_id = (payload or {}).get("saga_id")
    time.sleep(0.02)  # the "work"
    cur.execute("UPDATE saga_executions SET status = 'COMPLETED', updated_at = now() WHERE saga_id = %s", (saga_id,))
    cur.execute("""INSERT INTO task_run (due_work_id, worker_id, started_at, finished_at, success)
                   VALUES (%s, %s, to_timestamp(%s), now(), true)""", (work_id, WORKER_ID, started))
    cur.execute("DELETE FROM due_work WHERE id = %s", (work_id,))
    return True


def check_config():
    """The crash flag stands for a broken configuration: fatal at start-up and when re-read."""
    if os.path.exists(CRASH_FLAG):
        log.critical("FATAL invalid configuration (%s present): exiting", CRASH_FLAG)
        sys.exit(1)


def main():
    check_config()
    handle_sigterm()
    signal.signal(signal.SIGUSR1, hog_memory)
    log.info("%s starting", WORKER_ID)
    processed, conn, last_beat = 0, None, 0.0
    while not STOP.is_set():
        check_config()
        try:
            if conn is None or conn.closed:
                conn = pg_connect("lab-worker")
            with conn, conn.cursor() as cur:
                did = process_one(cur)
                processed += int(did)
                if time.time() - last_beat >= 2:
                    cur.execute("""INSERT INTO worker_heartbeat (worker_id, last_seen, processed_count)
                                   VALUES (%s, now(), %s) ON CONFLICT (worker_id)
                                   DO UPDATE SET last_seen = now(), processed_count = EXCLUDED.processed_count""",
                                (WORKER_ID, processed))
                    last_beat = time.time()
                    with open(HEARTBEAT_FILE, "w") as fh:
                        fh.write(str(processed))
            if not did:
                STOP.wait(0.5)
        except psycopg2.Error as exc:
            log.error("database error: %s", str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
            conn = None
            STOP.wait(2)
    log.info("%s stopped after %d items", WORKER_ID, processed)


if __name__ == "__main__":
    main()
