"""The shop's application: a small order API in front of PostgreSQL (stdlib http.server + psycopg2).

GET  /health                  200 when a query on the database works, else 503 (the bad release: 500)
GET  /orders                  the public API (503 with the message while maintenance mode is on)
GET  /admin/maintenance-mode  {"mode": "enabled"|"disabled", "message": ...}   (header X-Admin-Key)
POST /admin/maintenance-mode  {"mode": "enabled"|"disabled", "message": "..."} as runbook 003
                              (401 without the right X-Admin-Key, 400 on a bad body)

Every request opens its own short-lived connection, so the app is back as soon as the database is.
The maintenance state is a file on a volume: it survives a restart or a recreate of the container."""
import hmac
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2

BIND = os.environ.get("SHOP_BIND", "127.0.0.1")
PORT = int(os.environ.get("SHOP_APP_PORT", "28000"))
VERSION = os.environ.get("SHOP_VERSION", "1.0")
BROKEN = os.environ.get("SHOP_BROKEN") == "1"
ADMIN_KEY = os.environ.get("ADMIN_KEY", "")
STATE_FILE = os.environ.get("SHOP_STATE_FILE", "/var/lib/shop/maintenance.json")
DSN = dict(host=os.environ.get("SHOP_DB_HOST", "127.0.0.1"), port=int(os.environ.get("SHOP_DB_PORT", "25432")),
           dbname=os.environ.get("SHOP_DB_NAME", "shopdb"), user=os.environ.get("SHOP_DB_USER", "shop"),
           password=os.environ.get("SHOP_DB_PASSWORD", ""), connect_timeout=2,
           options="-c statement_timeout=2000", application_name="shop-app")
STATE_LOCK = threading.Lock()


def log(msg, *args):
    sys.stderr.write("%s shop-app %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), msg % args))
    sys.stderr.flush()


def query(sql, params=None):
    conn = psycopg2.connect(**DSN)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def read_state():
    try:
        with open(STATE_FILE) as fh:
            state = json.load(fh)
    except (OSError, ValueError):
        state = {}
    return {"mode": state.get("mode", "disabled"), "message": state.get("message", ""),
            "since": state.get("since")}


def write_state(mode, message):
    state = {"mode": mode, "message": message, "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    os.makedirs(os.path.dirname(STATE_FILE), exist_ok=True)
    tmp = STATE_FILE + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(state, fh)
    os.replace(tmp, STATE_FILE)
    return state


class Handler(BaseHTTPRequestHandler):
    server_version = "shop/" + VERSION
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        log("%s %s", self.address_string(), format % args)

    def reply(self, status, body):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def admin_ok(self):
        given = self.headers.get("X-Admin-Key", "")
        if ADMIN_KEY and hmac.compare_digest(given.encode("utf-8"), ADMIN_KEY.encode("utf-8")):
            return True
        self.reply(401, {"error": "missing or wrong X-Admin-Key"})
        return False

    def do_GET(self):  # pylint: disable=invalid-name
        path = self.path.split("?", 1)[0]
        if path == "/health":
            return self.health()
        if path == "/admin/maintenance-mode":
            if self.admin_ok():
                self.reply(200, read_state())
            return None
        state = read_state()
        if state["mode"] == "enabled":
            return self.reply(503, {"error": "maintenance", "message": state["message"]})
        if path in ("/", "/orders"):
            try:
                rows = query("SELECT id, item, quantity FROM orders ORDER BY id LIMIT 100")
            except psycopg2.Error as exc:
                log("orders: database error: %s", str(exc).strip())
                return self.reply(503, {"error": "database unavailable"})
            return self.reply(200, {"version": VERSION,
                                    "orders": [{"id": r[0], "item": r[1], "quantity": r[2]} for r in rows]})
        return self.reply(404, {"error": "not found"})

    def health(self):
        if BROKEN:
            log("health: release %s is broken (SHOP_BROKEN=1)", VERSION)
            return self.reply(500, {"status": "error", "version": VERSION, "error": "release misconfigured"})
        try:
            query("SELECT 1 FROM orders LIMIT 1")
        except psycopg2.Error as exc:
            log("health: database error: %s", str(exc).strip())
            return self.reply(503, {"status": "unavailable", "version": VERSION, "database": "down"})
        return self.reply(200, {"status": "ok", "version": VERSION, "database": "ok"})

    def do_POST(self):  # pylint: disable=invalid-name
        if self.path.split("?", 1)[0] != "/admin/maintenance-mode":
            return self.reply(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self.admin_ok():
            return None
        try:
            body = json.loads(raw.decode("utf-8") or "null")
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("mode") not in ("enabled", "disabled") \
                or not isinstance(body.get("message", ""), str):
            return self.reply(400, {"error": 'body must be {"mode": "enabled"|"disabled", "message": "..."}'})
        with STATE_LOCK:
            state = write_state(body["mode"], body.get("message", ""))
        log("maintenance mode %s: %s", state["mode"], state["message"])
        return self.reply(200, state)


def main():
    server = ThreadingHTTPServer((BIND, PORT), Handler)
    server.daemon_threads = True

    def stop(_signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    log("version %s listening on %s:%d%s", VERSION, BIND, PORT, " (BROKEN release)" if BROKEN else "")
    try:
        server.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        log("stopping")
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
