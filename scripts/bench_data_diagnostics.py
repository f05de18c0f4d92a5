"""Benchmark postgres_diagnostics and redis_diagnostics on the lab: wall time of the real module
(a process, as Ansible runs it) and the cost of each query/check inside it (median of N runs).

  .venv/bin/python scripts/bench_data_diagnostics.py [-n 15]
Holds the lab lock (read-only, but figures taken during someone's fault injection mean nothing)."""
import argparse
import fcntl
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "collections")]

import psycopg2  # noqa: E402
import redis  # noqa: E402

from ansible_collections.incident.response.plugins.modules import postgres_diagnostics as pgd  # noqa: E402
from tests.ansible import run_module  # noqa: E402
from tests.lab import ENV  # noqa: E402

PG = dict(login_host="127.0.0.1", login_port=int(ENV["LAB_POSTGRES_PORT"]), login_user="postgres",
          login_password=ENV["LAB_POSTGRES_ADMIN_PASSWORD"], login_db=ENV["LAB_POSTGRES_DB"])
REDIS = dict(host="127.0.0.1", port=int(ENV["LAB_REDIS_PORT"]))


def timed(fn, n):
    samples = []
    for _run in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), max(samples)


def pg_sections():
    """The module's own queries, each timed on one open read-only connection."""
    conn = psycopg2.connect(host=PG["login_host"], port=PG["login_port"], user=PG["login_user"],
                            password=PG["login_password"], dbname=PG["login_db"])
    conn.set_session(readonly=True)
    cur = conn.cursor()

    def q(sql, params=None):
        return lambda: (cur.execute(sql, params), cur.fetchall())

    sections = [("settings + db size", q(pgd.SETTINGS_SQL)), ("connections", q(pgd.CONNECTIONS_SQL)),
                ("long_running", q(pgd.LONG_RUNNING_SQL, (300,))), ("idle_in_transaction", q(pgd.IDLE_IN_TX_SQL, (300,))),
                ("blocked", q(pgd.BLOCKED_SQL)),
                ("statements top 5", q(pgd.STATEMENTS_SQL.format(total="total_exec_time", mean="mean_exec_time",
                                                                 schema="public"), (5,))),
                ("largest_tables top 5", q(pgd.TABLES_SQL, (5,)))]
    sections += [("check " + name, q(spec["sql"])) for name, spec in sorted(pgd.DEFAULT_CHECKS.items())]
    return conn, sections


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=15, help="runs per figure (median reported)")
    args = parser.parse_args()
    with open(os.environ.get("LAB_LOCK_FILE", "/tmp/incident-lab.lock"), "w") as lock:
        print("waiting for the lab lock...", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = []
        rows.append(("postgres_diagnostics module (process)",) +
                    timed(lambda: run_module("postgres_diagnostics", dict(PG, unreachable_ok=True)), args.n))
        rows.append(("  connect (tcp + auth)",) + timed(lambda: psycopg2.connect(
            host=PG["login_host"], port=PG["login_port"], user=PG["login_user"], password=PG["login_password"],
            dbname=PG["login_db"]).close(), args.n))
        conn, sections = pg_sections()
        for name, fn in sections:
            rows.append(("  " + name,) + timed(fn, args.n))
        conn.close()
        rows.append(("redis_diagnostics module (process)",) +
                    timed(lambda: run_module("redis_diagnostics", dict(REDIS, clients_sample=10)), args.n))
        client = redis.Redis(**REDIS)
        rows.append(("  PING",) + timed(client.ping, args.n))
        rows.append(("  INFO all",) + timed(lambda: client.info("all"), args.n))
        rows.append(("  CLIENT LIST",) + timed(client.client_list, args.n))
        rows.append(("module process floor (python + ansible import)",) +
                    timed(lambda: run_module("redis_diagnostics", dict(host="127.0.0.1", port=1, timeout=1,
                                                                       unreachable_ok=True)), args.n))
    width = max(len(r[0]) for r in rows)
    print("%s  %10s  %10s   (n=%s)" % ("what".ljust(width), "median ms", "max ms", args.n))
    for name, median, worst in rows:
        print("%s  %10.2f  %10.2f" % (name.ljust(width), median, worst))
    return 0


if __name__ == "__main__":
    sys.exit(main())
