"""Fake issue trackers for tests: Jira (REST v2 and v3), ServiceNow (Table and Attachment API), GitHub
and GitLab issues, each a real HTTP server on 127.0.0.1 with an ephemeral port.

They check requests the way the real APIs document them - the authentication header form (Jira Basic
e-mail:API token or Bearer personal access token, ServiceNow Basic, GitHub `Authorization: Bearer|token`
with `Accept: application/vnd.github+json`, GitLab `PRIVATE-TOKEN`), JSON content types, required fields
(Jira summary/project/issuetype and a v2 string or v3 Atlassian Document Format description, ServiceNow
short_description and close_code/close_notes when resolving, GitHub and GitLab title/body), the
attachment forms (Jira multipart with `X-Atlassian-Token: no-check`) - and answer with the real status
codes (201, 200, 204, 400, 401, 403, 404, 415, 422). Everything received is kept in `requests`
(the Authorization value replaced by its scheme) and the issues in `issues`.

`fail` is a list of (status, headers) answered to the next requests, whatever they are (429 with
Retry-After, 503...). `close()` takes the server down (connection refused afterwards).

Run as a script for molecule: `ticket_fakes.py --kind github --port-file F [--lifetime S]`;
GET /_fake/state returns {issues, requests} as JSON."""
import argparse
import base64
import email
import email.policy
import itertools
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CREDENTIALS = {
    "jira": {"user": "oncall@example.test", "token": "jira-api-token-1234", "pat": "jira-pat-5678"},
    "servicenow": {"user": "incident.bot", "password": "snow-password-1234"},
    "github": {"token": "ghp_faketoken1234"},
    "gitlab": {"token": "glpat-faketoken1234"},
}
PROJECTS = {"jira": "OPS", "github": "acme/ops", "gitlab": "acme/ops"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        pass


class FakeTracker:
    """One tracker of `kind` (jira, servicenow, github, gitlab)."""

    def __init__(self, kind):
        assert kind in CREDENTIALS, kind
        self.kind = kind
        self.issues = {}  # key -> {fields..., comments: [], attachments: [], state}
        self.links = []
        self.requests = []
        self.fail = []
        self.lock = threading.Lock()
        self._ids = itertools.count(10001)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply, headers = outer.handle(self.command, self.path, self.headers, raw)
                data = b"" if reply is None else json.dumps(reply).encode()
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- what a test reads -------------------------------------------------------------------------
    def conf(self, **extra):
        """The incident_ticket tracker dict that authenticates against this fake."""
        cred = CREDENTIALS[self.kind]
        conf = {"type": self.kind, "url": self.url}
        if self.kind == "jira":
            conf.update(project=PROJECTS["jira"], user=cred["user"], token=cred["token"])
        elif self.kind == "servicenow":
            conf.update(user=cred["user"], password=cred["password"])
        else:
            conf.update(project=PROJECTS[self.kind], token=cred["token"])
        conf.update(extra)
        return conf

    def tickets(self, followups=None):
        """The issues; followups=True only follow-ups, False only incident tickets."""
        out = list(self.issues.values())
        if followups is not None:
            out = [i for i in out if bool(i.get("followup")) == followups]
        return out

    def state(self):
        return {"issues": self.issues, "links": self.links, "requests": self.requests}

    # -- the request path ----------------------------------------------------------------------------
    def handle(self, method, path, headers, raw):
        with self.lock:
            parts = urlsplit(path)
            record = {"method": method, "path": parts.path, "query": parts.query, "auth": _scheme(headers.get("Authorization")),
                      "content_type": headers.get("Content-Type"), "body": _body(raw, headers)}
            if parts.path.startswith("/_fake/"):
                return 200, json.loads(json.dumps(self.state(), default=str)), None
            self.requests.append(record)
            if self.fail:
                status, extra = self.fail.pop(0)
                return status, {"message": "scripted failure"}, extra
            denied = self.authenticate(headers)
            if denied:
                return denied
            if method in ("POST", "PUT", "PATCH") and not _is_upload(parts.path):
                if not (headers.get("Content-Type") or "").startswith("application/json"):
                    return 415, {"message": "Unsupported Media Type: send application/json"}, None
                if not isinstance(record["body"], dict):
                    return 400, {"message": "Problems parsing JSON"}, None
            route = getattr(self, "route_" + self.kind)
            return route(method, parts.path, parse_qs(parts.query), record["body"], headers, raw)

    def authenticate(self, headers):
        cred = CREDENTIALS[self.kind]
        auth = headers.get("Authorization") or ""
        if self.kind == "jira":
            ok = auth in ("Basic " + _b64("%s:%s" % (cred["user"], cred["token"])), "Bearer " + cred["pat"])
        elif self.kind == "servicenow":
            ok = auth == "Basic " + _b64("%s:%s" % (cred["user"], cred["password"]))
        elif self.kind == "github":
            ok = auth in ("Bearer " + cred["token"], "token " + cred["token"])
            if ok and (headers.get("Accept") or "") not in ("application/vnd.github+json", "application/vnd.github.v3+json"):
                return 415, {"message": "Unsupported 'Accept' header: use application/vnd.github+json"}, None
        else:
            ok = headers.get("PRIVATE-TOKEN") == cred["token"]
        if not ok:
            body = {"message": "Bad credentials"} if self.kind != "gitlab" else {"message": "401 Unauthorized"}
            return 401, body, {"WWW-Authenticate": "Basic realm=\"fake\""} if self.kind in ("jira", "servicenow") else None
        return None

    def new_issue(self, key, **fields):
        issue = dict(fields, key=key, id=str(next(self._ids)), comments=[], attachments=[], state="open")
        self.issues[key] = issue
        return issue

    # -- Jira --------------------------------------------------------------------------------------
    def route_jira(self, method, path, query, body, headers, raw):
        match = re.fullmatch(r"/rest/api/(2|3)(/.*)", path)
        if not match:
            return 404, {"errorMessages": ["not found"]}, None
        version, rest = match.groups()
        if method == "POST" and rest == "/issue":
            fields = (body or {}).get("fields") or {}
            errors = {}
            if not fields.get("summary"):
                errors["summary"] = "You must specify a summary of the issue."
            if (fields.get("project") or {}).get("key") != PROJECTS["jira"]:
                errors["project"] = "valid project is required"
            if not (fields.get("issuetype") or {}).get("name"):
                errors["issuetype"] = "valid issue type is required"
            error = _jira_text_error(version, fields.get("description"))
            if error:
                errors["description"] = error
            if not isinstance(fields.get("labels", []), list) or any(" " in lab for lab in fields.get("labels", [])):
                errors["labels"] = "labels are a list of words without spaces"
            if errors:
                return 400, {"errorMessages": [], "errors": errors}, None
            key = "OPS-%d" % (len(self.issues) + 1)
            issue = self.new_issue(key, summary=fields["summary"], description=fields.get("description"),
                                   issuetype=fields["issuetype"]["name"], labels=fields.get("labels", []),
                                   followup=fields["issuetype"]["name"] != "Bug", api_version=version)
            return 201, {"id": issue["id"], "key": key, "self": "%s/rest/api/%s/issue/%s" % (self.url, version, issue["id"])}, None
        if method == "POST" and rest == "/issueLink":
            keys = [((body or {}).get(side) or {}).get("key") for side in ("inwardIssue", "outwardIssue")]
            if not ((body or {}).get("type") or {}).get("name") or any(k not in self.issues for k in keys):
                return 404, {"errorMessages": ["issue or link type not found"]}, None
            self.links.append(dict(type=body["type"]["name"], inward=keys[0], outward=keys[1]))
            return 201, None, None
        match = re.fullmatch(r"/issue/([A-Z]+-\d+)/(comment|attachments|transitions)", rest)
        if not match or match.group(1) not in self.issues:
            return 404, {"errorMessages": ["Issue does not exist or you do not have permission to see it."]}, None
        issue, what = self.issues[match.group(1)], match.group(2)
        if what == "comment" and method == "POST":
            error = _jira_text_error(version, (body or {}).get("body"), required=True)
            if error:
                return 400, {"errorMessages": [], "errors": {"comment": error}}, None
            issue["comments"].append(_plain(body["body"]))
            return 201, {"id": str(next(self._ids)), "body": body["body"]}, None
        if what == "attachments" and method == "POST":
            if headers.get("X-Atlassian-Token") != "no-check":
                return 403, {"message": "XSRF check failed"}, None
            files = _multipart(headers, raw)
            if "file" not in files:
                return 400, {"errorMessages": ["the multipart field must be named file"]}, None
            issue["attachments"].append(files["file"])
            return 200, [{"id": str(next(self._ids)), "filename": files["file"]["filename"]}], None
        if what == "transitions" and method == "GET":
            return 200, {"transitions": [{"id": "11", "name": "In Progress", "to": {"name": "In Progress"}},
                                         {"id": "31", "name": "Done", "to": {"name": "Done"}}]}, None
        if what == "transitions" and method == "POST":
            wanted = str(((body or {}).get("transition") or {}).get("id"))
            if wanted not in ("11", "31"):
                return 400, {"errorMessages": ["Transition id '%s' is not valid for this issue." % wanted]}, None
            issue["state"] = "Done" if wanted == "31" else "In Progress"
            return 204, None, None
        return 405, {"errorMessages": ["method not allowed"]}, None

    # -- ServiceNow -------------------------------------------------------------------------------
    def route_servicenow(self, method, path, query, body, headers, raw):
        if path == "/api/now/table/incident" and method == "POST":
            if not (body or {}).get("short_description"):
                return 400, {"error": {"message": "Data Policy Exception: Short description is mandatory"}, "status": "failure"}, None
            number = "INC%07d" % (10000 + len(self.issues) + 1)
            sys_id = "%032x" % (len(self.issues) + 0xabc000)
            issue = self.new_issue(number, sys_id=sys_id, summary=body["short_description"], description=body.get("description"),
                                   urgency=body.get("urgency"), impact=body.get("impact"),
                                   followup=bool(body.get("parent_incident")), parent=body.get("parent_incident"))
            issue["state"] = "1"
            return 201, {"result": {"sys_id": sys_id, "number": number, "state": "1"}}, None
        match = re.fullmatch(r"/api/now/table/incident/([0-9a-f]{32})", path)
        if match:
            found = [i for i in self.issues.values() if i["sys_id"] == match.group(1)]
            if not found:
                return 404, {"error": {"message": "No Record found"}, "status": "failure"}, None
            issue = found[0]
            if method in ("PATCH", "PUT"):
                if str(body.get("state")) in ("6", "7") and not (body.get("close_code") and body.get("close_notes")):
                    return 400, {"error": {"message": "Data Policy Exception: Resolution code, Resolution notes are mandatory"},
                                 "status": "failure"}, None
                if body.get("work_notes"):
                    issue["comments"].append(body["work_notes"])
                if body.get("state"):
                    issue["state"] = str(body["state"])
                    issue.update(close_code=body.get("close_code"), close_notes=body.get("close_notes"))
                return 200, {"result": {"sys_id": issue["sys_id"], "number": issue["key"], "state": issue["state"]}}, None
            return 200, {"result": {"sys_id": issue["sys_id"], "number": issue["key"], "state": issue["state"]}}, None
        if path == "/api/now/attachment/file" and method == "POST":
            missing = [k for k in ("table_name", "table_sys_id", "file_name") if not query.get(k)]
            if missing or not headers.get("Content-Type"):
                return 400, {"error": {"message": "Missing parameters %s or Content-Type" % missing}}, None
            found = [i for i in self.issues.values() if i["sys_id"] == query["table_sys_id"][0]]
            if not found:
                return 404, {"error": {"message": "Record not found"}}, None
            found[0]["attachments"].append({"filename": query["file_name"][0], "content": raw.decode("utf-8")})
            return 201, {"result": {"sys_id": "%032x" % next(self._ids), "file_name": query["file_name"][0]}}, None
        return 400, {"error": {"message": "Invalid table or path"}, "status": "failure"}, None

    # -- GitHub ------------------------------------------------------------------------------------
    def route_github(self, method, path, query, body, headers, raw):
        match = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues(?:/(\d+))?(/comments)?", path)
        if not match or match.group(1) != PROJECTS["github"]:
            return 404, {"message": "Not Found"}, None
        number, comments = match.group(2), match.group(3)
        if number is None and method == "POST":
            if not body.get("title"):
                return 422, {"message": "Validation Failed", "errors": [{"resource": "Issue", "field": "title", "code": "missing_field"}]}, None
            key = str(len(self.issues) + 1)
            issue = self.new_issue(key, summary=body["title"], description=body.get("body"), labels=body.get("labels", []),
                                   followup="follow-up" in body.get("labels", []))
            return 201, {"id": int(issue["id"]), "number": int(key), "state": "open",
                         "html_url": "https://github.example/%s/issues/%s" % (PROJECTS["github"], key)}, None
        if number not in self.issues:
            return 404, {"message": "Not Found"}, None
        issue = self.issues[number]
        if comments and method == "POST":
            if not body.get("body"):
                return 422, {"message": "Validation Failed", "errors": [{"field": "body", "code": "missing_field"}]}, None
            issue["comments"].append(body["body"])
            return 201, {"id": next(self._ids), "body": body["body"]}, None
        if not comments and method == "PATCH":
            if body.get("state") not in (None, "open", "closed"):
                return 422, {"message": "Validation Failed"}, None
            issue["state"] = body.get("state") or issue["state"]
            return 200, {"number": int(number), "state": issue["state"]}, None
        return 404, {"message": "Not Found"}, None

    # -- GitLab ------------------------------------------------------------------------------------
    def route_gitlab(self, method, path, query, body, headers, raw):
        match = re.fullmatch(r"/api/v4/projects/([^/]+)/(issues|uploads)(?:/(\d+))?(/notes)?", path)
        if not match or unquote(match.group(1)) != PROJECTS["gitlab"]:
            return 404, {"message": "404 Project Not Found"}, None
        what, iid, notes = match.group(2), match.group(3), match.group(4)
        if what == "uploads" and method == "POST":
            files = _multipart(headers, raw)
            if "file" not in files:
                return 400, {"error": "file is missing"}, None
            self.uploads = getattr(self, "uploads", []) + [files["file"]]
            name = files["file"]["filename"]
            return 201, {"alt": name, "url": "/uploads/abc123/%s" % name, "markdown": "[%s](/uploads/abc123/%s)" % (name, name)}, None
        if iid is None and method == "POST":
            if not body.get("title"):
                return 400, {"message": {"title": ["can't be blank"]}}, None
            key = str(len(self.issues) + 1)
            labels = [lab for lab in (body.get("labels") or "").split(",") if lab]
            issue = self.new_issue(key, summary=body["title"], description=body.get("description"), labels=labels,
                                   followup="follow-up" in labels)
            return 201, {"id": int(issue["id"]), "iid": int(key), "state": "opened",
                         "web_url": "https://gitlab.example/%s/-/issues/%s" % (PROJECTS["gitlab"], key)}, None
        if iid not in self.issues:
            return 404, {"message": "404 Issue Not Found"}, None
        issue = self.issues[iid]
        if notes and method == "POST":
            if not body.get("body"):
                return 400, {"message": {"body": ["can't be blank"]}}, None
            issue["comments"].append(body["body"])
            return 201, {"id": next(self._ids), "body": body["body"]}, None
        if not notes and method == "PUT":
            if body.get("state_event") == "close":
                issue["state"] = "closed"
            return 200, {"iid": int(iid), "state": issue["state"]}, None
        return 404, {"message": "404 Not Found"}, None


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _scheme(auth):
    return (auth or "").split(" ")[0] or None


def _is_upload(path):
    return path.endswith("/attachments") or path.endswith("/uploads") or path == "/api/now/attachment/file"


def _body(raw, headers):
    if not raw:
        return None
    if (headers.get("Content-Type") or "").startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode(errors="replace")
    return "<%d bytes>" % len(raw)


def _multipart(headers, raw):
    ctype = headers.get("Content-Type") or ""
    if not ctype.startswith("multipart/form-data"):
        return {}
    msg = email.message_from_bytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + raw, policy=email.policy.HTTP)
    out = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        out[name] = {"filename": part.get_filename(), "content": payload.decode("utf-8", errors="replace")}
    return out


def _jira_text_error(version, value, required=False):
    if value is None:
        return "Comment body can not be empty!" if required else None
    if version == "2":
        return None if isinstance(value, str) else "Operation value must be a string"
    if not (isinstance(value, dict) and value.get("type") == "doc" and value.get("version") == 1
            and isinstance(value.get("content"), list)):
        return "Operation value must be an Atlassian Document (type doc, version 1, content)"
    for block in value["content"]:
        if block.get("type") not in ("paragraph", "heading", "bulletList", "orderedList", "codeBlock", "table", "rule"):
            return "INVALID_INPUT: unknown node %s" % block.get("type")
        for node in block.get("content", []):
            if node.get("type") == "text" and not node.get("text"):
                return "INVALID_INPUT: text nodes must not be empty"
    return None


def _plain(value):
    """A Jira body as text (ADF flattened)."""
    if isinstance(value, str):
        return value
    out = []
    for block in value.get("content", []):
        out.append("".join(n.get("text", "\n") if n.get("type") != "hardBreak" else "\n" for n in block.get("content", [])))
    return "\n\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--kind", required=True, choices=sorted(CREDENTIALS))
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--lifetime", type=float, default=900.0, help="seconds before the server exits by itself")
    args = parser.parse_args(argv)
    fake = FakeTracker(args.kind)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(fake.conf(), fh)
    os.replace(tmp, args.port_file)
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline and os.path.exists(args.port_file):
        time.sleep(0.2)
    fake.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
