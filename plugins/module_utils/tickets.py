# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident ticket in an issue tracker: one small adapter per tracker, all HTTP through http_client.

Adapters (``ADAPTERS``): Jira REST v2 (plain-text bodies) and v3 (Atlassian Document Format bodies),
ServiceNow Table API (``incident``), GitHub issues, GitLab issues. Each knows four verbs:
``create`` (the incident ticket or a follow-up), ``comment`` (a milestone, a work note for ServiceNow),
``attach`` (the report: a Jira attachment, a ServiceNow attachment, a GitLab upload; GitHub has no
upload API, so the report goes into the closing comment) and ``resolve``.

The record ``tickets.json`` in the incident directory (``TicketRecord``) keeps the ticket's id and URL,
the digests of the comments already posted and the follow-ups by key, written atomically under a lock,
so a re-run updates and never duplicates.

Errors raise ``TicketError`` with a short reason and never a credential."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import base64
import fcntl
import hashlib
import json
import os
import re
import time
from abc import ABC, abstractmethod

# http_client first: it imports ansible.module_utils.urls without its costly cryptography import.
from ansible_collections.incident.response.plugins.module_utils.http_client import request_with_retries, safe_url
from ansible.module_utils.urls import prepare_multipart  # pylint: disable=wrong-import-order
from ansible_collections.incident.response.plugins.module_utils.incident import iso, write_text_atomic
from ansible_collections.incident.response.plugins.module_utils import redact

RECORD = "tickets.json"
TRACKERS = ("jira", "servicenow", "github", "gitlab")
MAX_TEXT = 60000  # GitHub bodies stop at 65536 characters, Jira's at 32767 per text field (v2) - cut before
JIRA_MAX_TEXT = 30000
ERROR_BODY = 300


class TicketError(Exception):
    """A tracker call that failed: `status` (0 = no answer, None = not an HTTP failure) and `attempts`."""

    def __init__(self, text, status=None, attempts=1):
        super(TicketError, self).__init__(text)
        self.status = status
        self.attempts = attempts


def digest(text):
    return hashlib.sha256((text or "").encode("utf-8")).hexdigest()[:16]


def clip(text, limit=MAX_TEXT):
    text = text or ""
    if len(text) <= limit:
        return text
    return text[:limit - 40].rstrip() + "\n\n... (cut; the full text is attached)"


def slug(text, limit=60):
    words = re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")
    return words[:limit].rstrip("-") or digest(text)


# -- action items of the post-incident review ------------------------------------------------------
_ITEM = re.compile(r"^\s*[-*]\s+\[( |x|X)\]\s+(.*\S)\s*$")
_HORIZON = re.compile(r"^###\s+(.*\S)\s*$")


def action_items(review_text):
    """The open action items people wrote in the review's "## Action Items" section: [{key, title, horizon}].
    The template's FILL IN prompts and ticked items (done already) are not follow-ups. The key is the horizon and the words of the item, so
    ticking the box or re-running keeps it; rewording it makes a new item."""
    items, inside, horizon = [], False, ""
    for line in (review_text or "").splitlines():
        if line.startswith("## "):
            inside = line.strip().lower() == "## action items"
            continue
        if not inside:
            continue
        head = _HORIZON.match(line)
        if head:
            horizon = head.group(1)
            continue
        match = _ITEM.match(line)
        if not match or "FILL IN" in match.group(2) or match.group(1) != " ":
            continue
        title = match.group(2)
        items.append(dict(key="%s:%s" % (slug(horizon.split("(")[0], 20), slug(title)), title=title, horizon=horizon))
    return items


# -- the record in the incident directory ----------------------------------------------------------
class TicketRecord(object):
    """incidents/<id>/tickets.json, read and written under an exclusive lock (``with record:``)."""

    def __init__(self, directory):
        self.directory = directory
        self.path = os.path.join(directory, RECORD)
        self.data = {}
        self._lock = None

    def load(self):
        try:
            with open(self.path) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            data = {}
        self.data = data if isinstance(data, dict) else {}
        self.data.setdefault("tickets", {})
        return self.data

    def __enter__(self):
        os.makedirs(self.directory, exist_ok=True)
        self._lock = open(self.path + ".lock", "a")
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.load()
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()
        self._lock = None
        return False

    def save(self):
        self.data["updated_at"] = iso()
        write_text_atomic(self.path, json.dumps(self.data, indent=2, sort_keys=True) + "\n")


# -- the adapters --------------------------------------------------------------------------------
class Tracker(ABC):
    """Common HTTP plumbing. `conf` is the module's O(tracker) dict; `secrets` are masked in errors.
    Each tracker (Jira, ServiceNow, GitHub, GitLab) implements the verbs create, comment and resolve."""

    kind = None

    def __init__(self, conf, retries=3, backoff=1.0, max_backoff=8.0, timeout=10.0, sleep=time.sleep):
        self.conf = conf
        self.base = (conf.get("url") or "").rstrip("/")
        self.retries, self.backoff, self.max_backoff, self.timeout = retries, backoff, max_backoff, timeout
        self.sleep = sleep
        self.secrets = [v for v in (conf.get("token"), conf.get("password")) if v] + list(redact.run_values())
        self.calls = []  # [{method, path, status, attempts}] for the result (no bodies, no headers)
        self.check()

    def check(self):
        if not self.base:
            raise TicketError("tracker.url is required for %s" % self.kind)

    def require(self, *names):
        missing = [n for n in names if not self.conf.get(n)]
        if missing:
            raise TicketError("tracker.%s is required for %s" % (" and tracker.".join(missing), self.kind))

    def headers(self):
        return {"Accept": "application/json"}

    def basic(self, user, secret):
        return "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode("utf-8")).decode("ascii")

    def call(self, method, path, json_body=None, body=None, headers=None, ok=(200, 201, 204)):
        hdrs = self.headers()
        hdrs.update(headers or {})
        url = path if path.startswith("http") else self.base + path
        resp = request_with_retries(url, method=method, headers=hdrs, json_body=json_body, body=body,
                                    retries=self.retries, backoff=self.backoff, max_backoff=self.max_backoff,
                                    sleep=self.sleep, timeout=self.timeout,
                                    validate_certs=self.conf.get("validate_certs", True))
        self.calls.append(dict(method=method, path=safe_url(url).replace(safe_url(self.base), "", 1) or "/",
                               status=resp.status, attempts=resp.attempts))
        if resp.status in ok:
            return resp.json() if resp.body else {}
        if resp.status == 0:
            raise TicketError("%s %s: %s" % (self.kind, safe_url(url), redact.redact_text(resp.detail or resp.reason or "", self.secrets)),
                              0, resp.attempts)
        detail = redact.clip(" ".join((resp.body or "").split()), ERROR_BODY, self.secrets)
        text = "%s %s %s: HTTP %d after %d attempt(s) %s" % (self.kind, method, safe_url(url), resp.status, resp.attempts, detail)
        raise TicketError(text, resp.status, resp.attempts)

    # verbs: every one returns/accepts a ref dict {id, key, url}
    @abstractmethod
    def create(self, title, text, severity=None, labels=None, parent=None):
        """Open a ticket; returns its ref."""

    @abstractmethod
    def comment(self, ref, text):
        """Add `text` to the ticket as a comment or work note."""

    def attach(self, ref, name, content):
        """Attach `content` as file `name`; returns a short text for the resolution comment (or None when
        this tracker cannot attach: the caller puts the report into the comment)."""
        return None

    @abstractmethod
    def resolve(self, ref, text):
        """Close the ticket as resolved with `text`."""


def _adf(text):
    """Plain text as an Atlassian Document Format document (Jira REST v3): one paragraph per block."""
    blocks = [b for b in re.split(r"\n\s*\n", text or "") if b.strip()] or [""]
    content = []
    for block in blocks:
        lines = block.split("\n")
        nodes = []
        for index, line in enumerate(lines):
            if index:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


class Jira(Tracker):
    kind = "jira"

    def check(self):
        Tracker.check(self)
        self.require("project")
        if not self.conf.get("token"):
            raise TicketError("tracker.token is required for jira (an API token with tracker.user, or a personal access token)")
        self.version = str(self.conf.get("api_version") or "2")
        self.api = "/rest/api/%s" % self.version

    def headers(self):
        hdrs = Tracker.headers(self)
        if self.conf.get("user"):
            hdrs["Authorization"] = self.basic(self.conf["user"], self.conf["token"])  # Cloud: e-mail + API token
        else:
            hdrs["Authorization"] = "Bearer " + self.conf["token"]  # Data Center personal access token
        return hdrs

    def text(self, text):
        text = clip(text, JIRA_MAX_TEXT)
        return _adf(text) if self.version == "3" else text

    def browse(self, key):
        return "%s/browse/%s" % (self.base, key)

    def create(self, title, text, severity=None, labels=None, parent=None):
        issue_type = self.conf.get("followup_issue_type" if parent else "issue_type") or ("Task" if parent else "Bug")
        fields = {"project": {"key": self.conf["project"]}, "summary": title[:250], "issuetype": {"name": issue_type},
                  "description": self.text(text), "labels": [re.sub(r"\s+", "-", lab) for lab in labels or []]}
        if severity and self.conf.get("priorities", {}).get(severity):
            fields["priority"] = {"name": self.conf["priorities"][severity]}
        fields.update(self.conf.get("fields") or {})
        data = self.call("POST", self.api + "/issue", json_body={"fields": fields}, ok=(201,))
        ref = dict(id=str(data.get("id")), key=data.get("key"), url=self.browse(data.get("key")))
        if parent and self.conf.get("link_type", "Relates"):
            self.call("POST", self.api + "/issueLink", ok=(200, 201), json_body={
                "type": {"name": self.conf.get("link_type", "Relates")},
                "inwardIssue": {"key": parent["key"]}, "outwardIssue": {"key": ref["key"]}})
        return ref

    def comment(self, ref, text):
        data = self.call("POST", "%s/issue/%s/comment" % (self.api, ref["key"]), json_body={"body": self.text(text)}, ok=(201,))
        return str(data.get("id"))

    def attach(self, ref, name, content):
        ctype, body = prepare_multipart({"file": {"filename": name, "content": content, "mime_type": "text/markdown",
                                                  "multipart_encoding": "7or8bit"}})
        self.call("POST", "%s/issue/%s/attachments" % (self.api, ref["key"]), body=body,
                  headers={"Content-Type": ctype, "X-Atlassian-Token": "no-check"}, ok=(200,))
        return "%s attached to %s." % (name, ref["key"])

    def resolve(self, ref, text):
        self.comment(ref, text)
        wanted = [w.lower() for w in (self.conf.get("resolve_transitions") or ["Resolve Issue", "Resolve", "Done", "Close Issue", "Closed"])]
        data = self.call("GET", "%s/issue/%s/transitions" % (self.api, ref["key"]), ok=(200,))
        choices = data.get("transitions") or []
        for name in wanted:
            for tr in choices:
                if name in ((tr.get("name") or "").lower(), ((tr.get("to") or {}).get("name") or "").lower()):
                    self.call("POST", "%s/issue/%s/transitions" % (self.api, ref["key"]),
                              json_body={"transition": {"id": str(tr.get("id"))}}, ok=(204,))
                    return tr.get("name")
        raise TicketError("jira: no transition of %s is one of %s (available: %s)" % (
            ref["key"], ", ".join(wanted), ", ".join(t.get("name") or "?" for t in choices) or "none"))


class ServiceNow(Tracker):
    kind = "servicenow"
    URGENCY = {"P0": "1", "P1": "1", "P2": "2", "P3": "3"}
    IMPACT = {"P0": "1", "P1": "2", "P2": "2", "P3": "3"}

    def check(self):
        Tracker.check(self)
        self.require("user", "password")
        self.table = self.conf.get("table") or "incident"

    def headers(self):
        hdrs = Tracker.headers(self)
        hdrs["Authorization"] = self.basic(self.conf["user"], self.conf["password"])
        return hdrs

    def create(self, title, text, severity=None, labels=None, parent=None):
        record = {"short_description": title[:160], "description": clip(text)}
        if severity in self.URGENCY:
            record.update(urgency=self.URGENCY[severity], impact=self.IMPACT[severity])
        if self.conf.get("assignment_group"):
            record["assignment_group"] = self.conf["assignment_group"]
        if parent:
            record["parent_incident"] = parent["id"]
        record.update(self.conf.get("fields") or {})
        data = (self.call("POST", "/api/now/table/%s" % self.table, json_body=record, ok=(201,)) or {}).get("result") or {}
        if not data.get("sys_id"):
            raise TicketError("servicenow: the created record has no sys_id")
        return dict(id=data["sys_id"], key=data.get("number") or data["sys_id"],
                    url="%s/nav_to.do?uri=%s.do?sys_id=%s" % (self.base, self.table, data["sys_id"]))

    def comment(self, ref, text):
        self.call("PATCH", "/api/now/table/%s/%s" % (self.table, ref["id"]), json_body={"work_notes": clip(text)}, ok=(200,))

    def attach(self, ref, name, content):
        self.call("POST", "/api/now/attachment/file?table_name=%s&table_sys_id=%s&file_name=%s" % (self.table, ref["id"], name),
                  body=content.encode("utf-8"), headers={"Content-Type": "text/plain"}, ok=(201,))
        return "%s attached to %s." % (name, ref["key"])

    def resolve(self, ref, text):
        self.call("PATCH", "/api/now/table/%s/%s" % (self.table, ref["id"]), ok=(200,), json_body={
            "state": str(self.conf.get("resolved_state") or "6"),
            "close_code": self.conf.get("close_code") or "Solved (Permanently)", "close_notes": clip(text)})
        return "Resolved"


class GitHub(Tracker):
    kind = "github"

    def check(self):
        if not self.conf.get("url"):
            self.conf = dict(self.conf, url="https://api.github.com")
            self.base = self.conf["url"]
        Tracker.check(self)
        self.require("project", "token")
        self.repo = "/repos/%s" % self.conf["project"].strip("/")

    def headers(self):
        return {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                "Authorization": "Bearer " + self.conf["token"]}

    def create(self, title, text, severity=None, labels=None, parent=None):
        body = clip(text) + ("\n\nFollow-up of #%s" % parent["key"] if parent else "")
        payload = {"title": title[:250], "body": body, "labels": list(labels or [])}
        data = self.call("POST", self.repo + "/issues", json_body=payload, ok=(201,))
        return dict(id=str(data.get("id")), key=str(data.get("number")), url=data.get("html_url"))

    def comment(self, ref, text):
        self.call("POST", "%s/issues/%s/comments" % (self.repo, ref["key"]), json_body={"body": clip(text)}, ok=(201,))

    def resolve(self, ref, text):
        self.comment(ref, text)
        self.call("PATCH", "%s/issues/%s" % (self.repo, ref["key"]), json_body={"state": "closed", "state_reason": "completed"},
                  ok=(200,))
        return "closed"


class GitLab(Tracker):
    kind = "gitlab"

    def check(self):
        if not self.conf.get("url"):
            self.conf = dict(self.conf, url="https://gitlab.com")
            self.base = self.conf["url"]
        Tracker.check(self)
        self.require("project", "token")
        project = str(self.conf["project"]).strip("/")
        self.project = "/api/v4/projects/%s" % (project if project.isdigit() else project.replace("/", "%2F"))

    def headers(self):
        hdrs = Tracker.headers(self)
        hdrs["PRIVATE-TOKEN"] = self.conf["token"]
        return hdrs

    def create(self, title, text, severity=None, labels=None, parent=None):
        body = clip(text) + ("\n\nFollow-up of #%s" % parent["key"] if parent else "")
        payload = {"title": title[:250], "description": body, "labels": ",".join(labels or [])}
        if not parent and self.conf.get("issue_type"):
            payload["issue_type"] = self.conf["issue_type"]  # "incident" where the project allows it
        data = self.call("POST", self.project + "/issues", json_body=payload, ok=(201,))
        return dict(id=str(data.get("id")), key=str(data.get("iid")), url=data.get("web_url"))

    def comment(self, ref, text):
        self.call("POST", "%s/issues/%s/notes" % (self.project, ref["key"]), json_body={"body": clip(text)}, ok=(201,))

    def attach(self, ref, name, content):
        ctype, body = prepare_multipart({"file": {"filename": name, "content": content, "mime_type": "text/markdown",
                                                  "multipart_encoding": "7or8bit"}})
        data = self.call("POST", self.project + "/uploads", body=body, headers={"Content-Type": ctype}, ok=(201,))
        return "Report: %s" % (data.get("markdown") or data.get("url") or name)

    def resolve(self, ref, text):
        self.comment(ref, text)
        self.call("PUT", "%s/issues/%s" % (self.project, ref["key"]), json_body={"state_event": "close"}, ok=(200,))
        return "closed"


ADAPTERS = {"jira": Jira, "servicenow": ServiceNow, "github": GitHub, "gitlab": GitLab}


def tracker_for(conf, **kwargs):
    kind = conf.get("type")
    if kind not in ADAPTERS:
        raise TicketError("tracker.type must be one of %s, got %r" % (", ".join(TRACKERS), kind))
    return ADAPTERS[kind](dict(conf), **kwargs)
