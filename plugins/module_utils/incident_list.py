# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incidents under an incident root, at a glance (the incident_list module and the receiver's
``incident-list`` command both use this; nothing here writes).

Each ``INC-*`` directory is read from its ``timeline.jsonl`` and, when the report was written, its
``summary.json``. Status comes from the latest status-bearing milestone, so an incident escalated
after its report was written shows ``escalated``: ``open`` (detected, declared or acknowledged last),
``escalated``, ``mitigated``, ``resolved``; ``dry-run`` when every run was in check mode; ``none``
when no milestone said there is an incident (a run that found nothing, a listing run); ``unknown``
when the record cannot be read. Symbolic links are never followed (a linked incident directory or
file is an entry with an error), a corrupt file is an entry with an error, never an exception.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import stat

from ansible_collections.incident.response.plugins.module_utils.incident import (
    DEFAULT_ROOT, ID_RE, TIMELINE, IncidentError, fmt_duration, iso, parse_iso, utcnow)
from ansible_collections.incident.response.plugins.module_utils.redact import redact

STATUSES = ("open", "escalated", "mitigated", "resolved", "dry-run", "none", "unknown")
# Shown unless asked otherwise: what happened, not the runs that found nothing or only rehearsed.
DEFAULT_STATUSES = ("open", "escalated", "mitigated", "resolved", "unknown")
OPEN_STATUSES = ("open", "escalated", "mitigated", "unknown")
STATUS_OF = {"detected": "open", "declared": "open", "acknowledged": "open", "escalated": "escalated",
             "mitigated": "mitigated", "resolved": "resolved"}
MAX_FILE = 64 * 1024 * 1024   # a record larger than this is reported, not read
COLUMNS = (("id", 19), ("sev", 3), ("status", 9), ("age", 9), ("services", 18), ("last milestone", 44), ("report", 0))


def default_root(env=None):
    env = os.environ if env is None else env
    return env.get("INCIDENT_ROOT") or DEFAULT_ROOT


def _read_nofollow(directory, name):
    """Bytes of ``directory/name``, None when absent; IncidentError for a link, a non-file or a huge file."""
    path = os.path.join(directory, name)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise IncidentError("%s is a symbolic link: not followed" % name)
        raise IncidentError("%s: %s" % (name, exc.strerror))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IncidentError("%s is not a regular file" % name)
        if info.st_size > MAX_FILE:
            raise IncidentError("%s is %d bytes, over the %d byte limit: not read" % (name, info.st_size, MAX_FILE))
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _events(data):
    """(events, unparseable line count); a torn last line (a run still writing, or killed) is not counted."""
    events, bad = [], 0
    lines = data.split(b"\n")
    torn = lines[-1] != b""
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw.decode("utf-8"))
        except ValueError:
            if not (torn and number == len(lines) - 1):
                bad += 1
            continue
        if isinstance(event, dict):
            events.append(event)
        else:
            bad += 1
    return events, bad


def _regular_file(directory, name):
    try:
        return stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode)
    except OSError:
        return False


def status_of(milestones, check_only):
    marks = [m for m in milestones if m.get("event") in STATUS_OF and parse_iso(m.get("at"))]
    if not marks:
        return "none"
    if check_only:
        return "dry-run"
    return STATUS_OF[max(marks, key=lambda m: parse_iso(m["at"]))["event"]]


def read_incident(root, name, now=None):
    """The entry of one incident directory (``name`` under ``root``, an INC id)."""
    now = now or utcnow()
    directory = os.path.join(root, name)
    entry = dict(id=name, severity=None, status="unknown", title=None, services=[], started_at=None, updated_at=None,
                 age_s=None, age="", last_milestone=None, report=None, html=None, check_mode=False, error=None)
    errors = []
    try:
        info = os.lstat(directory)
    except OSError as exc:
        entry["error"] = "cannot read %s: %s" % (name, exc.strerror)
        return entry
    if stat.S_ISLNK(info.st_mode):
        entry["error"] = "the incident directory is a symbolic link: not followed"
        return entry
    if not stat.S_ISDIR(info.st_mode):
        entry["error"] = "not a directory"
        return entry
    events, summary = [], {}
    try:
        if not os.listdir(directory):   # allocated, nothing recorded yet
            entry["status"] = "none"
            return entry
    except OSError as exc:
        entry["error"] = "cannot read %s: %s" % (name, exc.strerror)
        return entry
    try:
        data = _read_nofollow(directory, TIMELINE)
        if data is None:
            errors.append("no %s" % TIMELINE)
        else:
            events, bad = _events(data)
            if bad:
                errors.append("%s: %d unreadable line(s)" % (TIMELINE, bad))
    except IncidentError as exc:
        errors.append(str(exc))
    try:
        data = _read_nofollow(directory, "summary.json")
        if data is not None:
            summary = json.loads(data.decode("utf-8"))
            if not isinstance(summary, dict):
                raise ValueError("not an object")
    except IncidentError as exc:
        errors.append(str(exc))
        summary = {}
    except ValueError as exc:
        errors.append("summary.json is not valid JSON (%s)" % exc)
        summary = {}

    milestones = sorted((e for e in events if e.get("type") == "milestone" and parse_iso(e.get("at"))),
                        key=lambda e: parse_iso(e["at"]))
    runs = [e for e in events if e.get("type") == "run_start"]
    from_runs_only = all(m.get("run_id") not in (None, "module", "incident-receiver") for m in milestones)
    entry["check_mode"] = bool(runs) and all(r.get("check_mode") for r in runs) and from_runs_only
    if events or summary:
        entry["status"] = status_of(milestones, entry["check_mode"])
        if entry["status"] == "none" and summary.get("status") in STATUSES:
            entry["status"] = summary["status"]
    severities = [m.get("severity") for m in milestones if m.get("severity")]
    entry["severity"] = summary.get("severity") or (severities[-1] if severities else None)
    declared = [m for m in milestones if m.get("event") in ("declared", "detected")]
    entry["title"] = summary.get("title") or (declared[0].get("message") if declared else None)
    services = summary.get("services_affected") if isinstance(summary.get("services_affected"), list) else []
    for milestone in milestones:
        for key in ("service", "symptom_service"):
            if isinstance(milestone.get(key), str):
                services.append(milestone[key])
        if isinstance(milestone.get("services"), list):
            services.extend(s for s in milestone["services"] if isinstance(s, str))
    entry["services"] = sorted(set(str(s) for s in services))
    starts = [parse_iso(m["at"]) for m in milestones if m.get("event") in STATUS_OF]
    stamps = [parse_iso(e.get("at") or e.get("start") or e.get("ts")) for e in events]
    stamps = [s for s in stamps if s]
    first = min(starts) if starts else (min(stamps) if stamps else parse_iso(summary.get("started_at")))
    if first:
        entry["started_at"] = iso(first)
        entry["age_s"] = round(max((now - first).total_seconds(), 0.0), 3)
        entry["age"] = age_text(entry["age_s"])
    if stamps:
        entry["updated_at"] = iso(max(stamps))
    marks = [m for m in milestones if m.get("event") != "note"] or milestones
    if marks:
        last = marks[-1]
        entry["last_milestone"] = dict(event=last.get("event"), at=iso(parse_iso(last["at"])), message=last.get("message"))
    for key, name in (("report", "report.md"), ("html", "report.html")):
        if _regular_file(directory, name):
            entry[key] = os.path.join(directory, name)
    if errors:
        entry["error"] = "; ".join(errors)
    return redact(entry)


def age_text(seconds):
    if seconds < 60:
        return fmt_duration(seconds)
    minutes = int(seconds // 60)
    if minutes < 60:
        return "%dm" % minutes
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return "%dh %02dm" % (hours, minutes)
    return "%dd %02dh" % (hours // 24, hours % 24)


def _sort_key(name):
    date, number = name[4:14], name[15:]
    return (date, int(number) if number.isdigit() else 0)


def list_incidents(root=None, statuses=None, now=None):
    """(absolute root, entries newest first) for the incidents under ``root`` whose status is in ``statuses``
    (default DEFAULT_STATUSES). A missing root has no incidents; a root that is not a directory raises."""
    root = os.path.abspath(os.path.expanduser(root or default_root()))
    wanted = set(statuses or DEFAULT_STATUSES)
    unknown = wanted - set(STATUSES)
    if unknown:
        raise IncidentError("unknown status %s: expected %s" % (", ".join(sorted(unknown)), ", ".join(STATUSES)))
    if not os.path.exists(root):
        return root, []
    if not os.path.isdir(root):
        raise IncidentError("the incident root %s is not a directory" % root)
    try:
        names = sorted((n for n in os.listdir(root) if ID_RE.fullmatch(n)), key=_sort_key, reverse=True)
    except OSError as exc:
        raise IncidentError("cannot list the incident root %s: %s" % (root, exc.strerror))
    now = now or utcnow()
    entries = [read_incident(root, name, now) for name in names]
    return root, [e for e in entries if e["status"] in wanted]


def _fit(text, width):
    text = " ".join(str(text if text is not None else "").split())
    if width and len(text) > width:
        text = text[:width - 1] + u"\u2026"
    return text.ljust(width) if width else text


def table(entries):
    """Header plus one line per incident (fixed-width columns, the report path last)."""
    lines = ["  ".join(_fit(name.upper(), width) for name, width in COLUMNS).rstrip()]
    for e in entries:
        last = e["last_milestone"]
        milestone = "%s %s" % (last["event"], (last["at"] or "")[11:19]) if last else ""
        if last and last.get("message"):
            milestone += ": " + last["message"]
        if e["error"]:
            milestone = "ERROR: " + e["error"]
        cells = (e["id"], e["severity"] or "-", e["status"], e["age"] or "-", ",".join(e["services"]) or "-", milestone,
                 e["report"] or "-")
        lines.append("  ".join(_fit(c, w) for c, (_n, w) in zip(cells, COLUMNS)).rstrip())
    return lines


def counts(entries):
    found = dict((s, 0) for s in STATUSES)
    for e in entries:
        found[e["status"]] = found.get(e["status"], 0) + 1
    return found
