"""Small real servers for tests, on 127.0.0.1 with an ephemeral port: an HTTP server that records
requests and answers from a script, and a minimal SMTP receiver (aiosmtpd is not installed)."""
import json
import socketserver
import threading
import time
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops bursts of concurrent connects (1 s SYN retry)

    def handle_error(self, request, client_address):
        pass  # clients that gave up (timeout tests) make the handler's write fail; that is expected


class ScriptedHTTPServer:
    """Answers `script[path]` entries in order (status, body, delay_s[, headers]), then 200 {"ok": true}.
    Every request is kept in `requests` as {method, path, headers, body}."""

    def __init__(self):
        self.script = {}
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                outer.requests.append(dict(method=self.command, path=self.path, headers=dict(self.headers), body=body))
                queue = outer.script.get(self.path.split("?")[0]) or []
                entry = queue.pop(0) if queue else (200, {"ok": True}, 0)
                status, reply, delay = entry[:3]
                time.sleep(delay)
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (entry[3] if len(entry) > 3 else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SMTPReceiver:
    """Speaks just enough SMTP for smtplib (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).
    `fail_sessions` first sessions get a 451 on MAIL FROM (a temporary failure). Delivered mails
    are parsed into `messages` (email.message.EmailMessage with .envelope_to)."""

    def __init__(self, fail_sessions=0):
        self.messages = []
        self.sessions = 0
        self.fail_sessions = fail_sessions
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write((line + "\r\n").encode())

            def handle(self):
                outer.sessions += 1
                failing = outer.sessions <= outer.fail_sessions
                rcpts = []
                self.reply("220 test-smtp ready")
                for raw in self.rfile:
                    cmd = raw.decode(errors="replace").strip()
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 test-smtp")
                    elif verb == "MAIL":
                        self.reply("451 try again later" if failing else "250 ok")
                    elif verb == "RCPT":
                        rcpts.append(cmd.split(":", 1)[1].strip(" <>"))
                        self.reply("250 ok")
                    elif verb == "DATA":
                        self.reply("354 end with .")
                        lines = []
                        for data in self.rfile:
                            if data in (b".\r\n", b".\n"):
                                break
                            lines.append(data[1:] if data.startswith(b"..") else data)
                        mail = message_from_bytes(b"".join(lines), policy=policy.default)
                        mail.envelope_to = rcpts
                        outer.messages.append(mail)
                        self.reply("250 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
