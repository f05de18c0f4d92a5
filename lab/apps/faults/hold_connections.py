"""Fault helper run inside the postgres container: open N sessions and hold them.
  --mode idle                  pool exhaustion (idle sessions up to max_connections)
  --mode idle-in-transaction   BEGIN; lock a row; then wait
  --mode long-query            SELECT pg_sleep(...) in each session
Exits when all its sessions are terminated (e.g. by pg_terminate_backend) or after --seconds."""
import argparse
import threading
import time

import psycopg2

from labcommon import pg_connect


def hold(mode, seconds, done):
    try:
        conn = pg_connect("lab-fault-" + mode, timeout=3)
        cur = conn.cursor()
        if mode == "long-query":
            cur.execute("SELECT pg_sleep(%s)", (seconds,))
        else:
            if mode == "idle-in-transaction":
                cur.execute("SELECT id FROM saga_executions ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED")
            else:
                conn.commit()
            end = time.time() + seconds
            while time.time() < end:
                time.sleep(1)
                if conn.closed or conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_UNKNOWN:
                    break
                # a cheap liveness probe that keeps the transaction open: poll the socket only
                conn.poll()
    except psycopg2.Error:
        pass
    finally:
        done.release()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["idle", "idle-in-transaction", "long-query"], required=True)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=3600)
    args = parser.parse_args()
    done = threading.Semaphore(0)
    for _session in range(args.count):
        threading.Thread(target=hold, args=(args.mode, args.seconds, done), daemon=True).start()
        time.sleep(0.02)
    for _session in range(args.count):
        done.acquire()


if __name__ == "__main__":
    main()
