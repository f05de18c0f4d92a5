"""Recording webhook sink: stands in for Slack, PagerDuty, a status page and Alertmanager's receiver.
Every request is kept (in memory and in a JSONL file) and can be read back or cleared:
  GET /_sink/requests[?path=/prefix]   DELETE /_sink/requests   POST /_sink/fail {"path": "/x", "status": 500, "count": 2}
Authorization headers are recorded as present/absent only."""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from labcommon import env, handle_sigterm, setup_logging

log = setup_logging("sink")
LOCK = threading.Lock()
RECORDS = []
FAILURES = {}
LOG_FILE = env("LAB_SINK_LOG", "/var/lib/lab/sink/requests.jsonl")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def do_GET(self):
        path, _sep, query = self.path.partition("?")
        if path == "/healthz":
            return self._reply(200, {"status": "ok", "recorded": len(RECORDS)})
        if path == "/_sink/requests":
            prefix = query[5:] if query.startswith("path=") else ""
            with LOCK:
                return self._reply(200, [r for r in RECORDS if r["path"].startswith(prefix)])
        return self._reply(404, {"error": "not found"})

    def do_DELETE(self):
        with LOCK:
            RECORDS.clear()
            FAILURES.clear()
        return self._reply(200, {"cleared": True})

    def do_POST(self):
        body = self._read()
        path = self.path.split("?")[0]
        if path == "/_sink/fail":
            with LOCK:
                FAILURES[body["path"]] = [int(body.get("status", 500)), int(body.get("count", 1))]
            return self._reply(200, {"armed": body})
        record = {"at": time.time(), "method": self.command, "path": path, "body": body,
                  "content_type": self.headers.get("Content-Type"),
                  "authorization": "present" if self.headers.get("Authorization") else "absent"}
        with LOCK:
            failure = FAILURES.get(path)
            if failure and failure[1] > 0:
                failure[1] -= 1
                record["answered"] = failure[0]
            RECORDS.append(record)
            with open(LOG_FILE, "a") as fh:
                fh.write(json.dumps(record) + "\n")
        if failure and record.get("answered"):
            return self._reply(failure[0], {"error": "injected failure"})
        if path.startswith("/pagerduty"):
            dedup = (body or {}).get("dedup_key", "") if isinstance(body, dict) else ""
            return self._reply(202, {"status": "success", "message": "Event processed", "dedup_key": dedup})
        return self._reply(200, {"ok": True})

    do_PUT = do_PATCH = do_POST


def main():
    os.makedirs(os.path.dirname(LOG_FILE), exist_ok=True)
    server = ThreadingHTTPServer((env("LAB_BIND", "127.0.0.1"), int(env("LAB_SINK_PORT", "9099"))), Handler)
    server.daemon_threads = True
    handle_sigterm(lambda: threading.Thread(target=server.shutdown).start())
    log.info("webhook sink listening on port %s", env("LAB_SINK_PORT"))
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
