"""The lab's API: health endpoints, Prometheus metrics, an admin maintenance switch and saga
executions written to PostgreSQL (with an idempotency key in Redis and a receipt on the spool disk)."""
import hmac
import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool
import redis

import flags
from labcommon import STOP, env, handle_sigterm, setup_logging

log = setup_logging("api")
VERSION = env("LAB_VERSION", "1.0.0")
BROKEN = env("LAB_BROKEN") == "1"  # set in the deliberately bad `incident-lab/api:broken` image
SPOOL = env("LAB_SPOOL_DIR", "/var/spool/lab")
SPOOL_MIN_FREE = 0.05
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """Counters and a latency histogram in Prometheus text format, no client library needed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, method, path, status, seconds):
        with self.lock:
            key = (method, path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            self.count += 1
            self.total += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1

    def render(self, gauges):
        out = ["# TYPE http_requests_total counter"]
        with self.lock:
            for (method, path, status), n in sorted(self.requests.items()):
                out.append('http_requests_total{method="%s",path="%s",status="%s"} %d' % (method, path, status, n))
            out.append("# TYPE http_request_duration_seconds histogram")
            for bound, n in zip(BUCKETS, self.buckets):
                out.append('http_request_duration_seconds_bucket{le="%s"} %d' % (bound, n))
            out.append('http_request_duration_seconds_bucket{le="+Inf"} %d' % self.count)
            out.append("http_request_duration_seconds_sum %f" % self.total)
            out.append("http_request_duration_seconds_count %d" % self.count)
        for name, value in gauges.items():
            out.append("# TYPE %s gauge" % name.split("{")[0])
            out.append("%s %s" % (name, value))
        return "\n".join(out) + "\n"


class App:
    def __init__(self):
        self.metrics = Metrics()
        self.maintenance = False
        self.pool = None
        self.pool_lock = threading.Lock()
        self.redis = redis.Redis(host=env("LAB_BIND", "127.0.0.1"), port=int(env("LAB_REDIS_PORT", "6379")),
                                 socket_timeout=1, socket_connect_timeout=1)

    def db(self):
        with self.pool_lock:
            if self.pool is None:
                # minconn 0: connections are opened per request and not kept idle, so the api
                # feels a saturated database at once (as a real short-lived-connection app does).
                self.pool = psycopg2.pool.ThreadedConnectionPool(
                    0, int(env("LAB_API_POOL_SIZE", "10")), host=env("LAB_BIND", "127.0.0.1"),
                    port=int(env("LAB_POSTGRES_PORT", "5432")), user=env("LAB_POSTGRES_USER"),
                    password=env("LAB_POSTGRES_PASSWORD"), dbname=env("LAB_POSTGRES_DB"),
                    connect_timeout=2, application_name="lab-api")
            return self.pool

    def query(self, sql, args=(), fetch=True):
        pool = self.db()
        conn = pool.getconn()
        broken = False
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SET LOCAL statement_timeout = 2000")
                cur.execute(sql, args)
                return cur.fetchall() if fetch else cur.rowcount
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            broken = True
            raise
        finally:
            pool.putconn(conn, close=broken or conn.closed != 0)

    def spool_free(self):
        st = os.statvfs(SPOOL)
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize

    def readiness(self):
        checks = {}
        try:
            self.query("SELECT 1")
            checks["database"] = "ok"
        except Exception as exc:  # any failure is a readiness finding
            checks["database"] = "error: %s" % str(exc).strip().splitlines()[0]
        try:
            self.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = "error: %s" % exc
        free, size = self.spool_free()
        checks["spool"] = "ok" if size and free / size >= SPOOL_MIN_FREE else "error: spool disk full (%d bytes free)" % free
        if BROKEN:
            checks["migrations"] = "error: schema migration 0042 missing (bad deploy)"
        if flags.is_on("new_scheduler", self.redis):
            try:
                self.query("SELECT count(*) FROM saga_executions_v2")
                checks["feature new_scheduler"] = "ok"
            except Exception as exc:
                checks["feature new_scheduler"] = "error: %s" % str(exc).strip().splitlines()[0]
        return all(v == "ok" for v in checks.values()), checks

    def gauges(self):
        g = {'lab_app_info{version="%s"}' % VERSION: 1, "lab_maintenance_mode": int(self.maintenance),
             'lab_feature_enabled{flag="new_scheduler"}': int(flags.is_on("new_scheduler", self.redis))}
        try:
            row = self.query("""
                SELECT (SELECT count(*) FROM worker_heartbeat WHERE last_seen > now() - interval '15 seconds'),
                       (SELECT count(*) FROM due_work WHERE run_at <= now()
                           AND (locked_until IS NULL OR locked_until < now())),
                       (SELECT coalesce(extract(epoch FROM now() - min(run_at)), 0) FROM due_work WHERE run_at <= now()),
                       (SELECT count(*) FROM saga_executions WHERE status = 'RUNNING'
                           AND updated_at < now() - interval '30 minutes'),
                       (SELECT count(*) FROM saga_executions WHERE status = 'FAILED'
                           AND updated_at > now() - interval '1 hour')""")[0]
            g.update({"lab_db_up": 1, "lab_active_workers": row[0], "lab_due_work_backlog": row[1],
                      "lab_due_work_oldest_seconds": float(row[2]), "lab_sagas_stuck": row[3],
                      "lab_saga_failures_1h": row[4]})
        except Exception:
            g["lab_db_up"] = 0
        try:
            self.redis.ping()
            g["lab_redis_up"] = 1
        except Exception:
            g["lab_redis_up"] = 0
        free, size = self.spool_free()
        g.update({"lab_spool_free_bytes": free, "lab_spool_size_bytes": size})
        return g

    def create_saga(self, body):
        if BROKEN:
            raise RuntimeError("relation saga_executions_v2 does not exist (bad deploy)")
        if flags.is_on("new_scheduler", self.redis):  # the feature behind the flag: its table was never migrated
            self.query("SELECT count(*) FROM saga_executions_v2")
        key = body.get("idempotency_key") or uuid.uuid4().hex
        if not self.redis.set("idem:" + key, "1", nx=True, ex=3600):
            return 200, {"status": "duplicate", "idempotency_key": key}
        saga_id = "saga-" + uuid.uuid4().hex[:12]
        name = str(body.get("saga_name", "provision_service"))[:64]
        with open(os.path.join(SPOOL, saga_id + ".json"), "w") as fh:
            json.dump({"saga_id": saga_id, "payload": body}, fh)
        self.query("""
            WITH s AS (INSERT INTO saga_executions (saga_id, saga_name, status, correlation_id)
                       VALUES (%s, %s, 'RUNNING', %s) RETURNING id),
                 i AS (INSERT INTO idempotent_operations (operation_key, status) VALUES (%s, 'ACCEPTED'))
            INSERT INTO due_work (payload, run_at) VALUES (json_build_object('saga_id', %s::text), now())
            """, (saga_id, name, key, key, saga_id), fetch=False)
        return 201, {"status": "accepted", "saga_id": saga_id}


APP = App()


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-api/" + VERSION
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # access log only for errors, see _send
        pass

    def _send(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        if status >= 500:
            log.error("%s %s -> %d %s", self.command, self.path, status, data[:200].decode(errors="replace"))

    def _authorized(self):
        token = env("LAB_ADMIN_TOKEN", "")
        given = self.headers.get("Authorization", "")
        return bool(token) and hmac.compare_digest(given.encode(), ("Bearer " + token).encode())

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 65536:
            raise ValueError("body too large")
        raw = self.rfile.read(length) if length else b"{}"
        return json.loads(raw or b"{}")

    def _route(self):
        path = self.path.split("?")[0]
        if path == "/health":
            return 200, {"status": "ok", "version": VERSION}
        if path == "/health/ready":
            ok, checks = APP.readiness()
            return (200 if ok else 503), {"status": "ready" if ok else "not ready", "checks": checks, "version": VERSION}
        if path == "/metrics":
            return 200, APP.metrics.render(APP.gauges())
        if path == "/api/workflows/health":
            try:
                active, stuck = APP.query("""SELECT count(*) FILTER (WHERE status = 'RUNNING'),
                    count(*) FILTER (WHERE status = 'RUNNING' AND updated_at < now() - interval '30 minutes')
                    FROM saga_executions""")[0]
                status = "healthy" if stuck == 0 else "degraded"
                return 200, {"saga_coordinator": {"status": status, "active_sagas": active, "stuck_sagas": stuck}}
            except Exception as exc:
                return 503, {"saga_coordinator": {"status": "down", "error": str(exc).strip()}}
        if path in ("/admin/maintenance", "/admin/maintenance-mode"):
            if not self._authorized():
                return 401, {"error": "admin token required"}
            if self.command == "POST":
                APP.maintenance = bool(self._body().get("enabled", True))
                log.warning("maintenance mode %s", "ON" if APP.maintenance else "OFF")
            return 200, {"maintenance": APP.maintenance}
        if path == "/admin/cache/clear":
            if not self._authorized():
                return 401, {"error": "admin token required"}
            removed = 0
            for key in APP.redis.scan_iter("idem:*", count=1000):
                removed += APP.redis.delete(key)
            return 200, {"cleared": removed}
        if path.startswith("/api/"):
            if APP.maintenance:
                return 503, {"error": "maintenance mode"}
            if path == "/api/sagas" and self.command == "POST":
                return APP.create_saga(self._body())
        return 404, {"error": "not found"}

    def _handle(self):
        start = time.monotonic()
        try:
            status, body = self._route()
        except Exception as exc:
            status, body = 500, {"error": "%s: %s" % (type(exc).__name__, str(exc).strip())}
        ctype = "text/plain; version=0.0.4" if isinstance(body, str) else "application/json"
        self._send(status, body, ctype)
        route = self.path.split("?")[0] if self.path.split("?")[0] in ROUTES else "other"
        APP.metrics.observe(self.command, route, status, time.monotonic() - start)

    do_GET = do_POST = _handle


ROUTES = {"/health", "/health/ready", "/metrics", "/api/workflows/health", "/api/sagas", "/admin/maintenance"}


def spool_janitor():
    """Receipts older than five minutes are removed; anything else on the spool is left alone."""
    while not STOP.wait(30):
        cutoff = time.time() - 300
        for name in os.listdir(SPOOL):
            path = os.path.join(SPOOL, name)
            if name.endswith(".json") and os.path.getmtime(path) < cutoff:
                os.unlink(path)


def main():
    threading.Thread(target=spool_janitor, daemon=True).start()
    port = int(env("LAB_API_PORT", "8000"))
    server = ThreadingHTTPServer((env("LAB_BIND", "127.0.0.1"), port), Handler)
    server.daemon_threads = True
    handle_sigterm(lambda: threading.Thread(target=server.shutdown).start())
    log.info("api %s listening on %s:%d%s", VERSION, env("LAB_BIND"), port, " (BROKEN build)" if BROKEN else "")
    if BROKEN:
        log.critical("FATAL schema migration 0042 missing: requests will fail")
    server.serve_forever(poll_interval=0.2)
    STOP.set()


if __name__ == "__main__":
    main()
