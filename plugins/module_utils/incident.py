# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident identity and the on-disk incident record (shared by the callback, lookup and modules).

Layout: ``<root>/<INC-YYYY-MM-DD-NNN>/timeline.jsonl`` (append-only, one JSON event per line),
``timeline.md``, ``report.md``, ``post-incident-review.md``, ``summary.json``, ``evidence/``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import fcntl
import json
import os
import re
import threading
import time

ID_RE = re.compile(r"INC-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{3,}")  # used with fullmatch: no trailing newline
MILESTONES = ("detected", "declared", "acknowledged", "escalated", "mitigated", "resolved", "note")
STATUSES = ("ok", "changed", "failed", "skipped", "unreachable", "rescued", "ignored")
TIMELINE = "timeline.jsonl"
DEFAULT_ROOT = "./incidents"


class IncidentError(Exception):
    pass


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(dt=None):
    """UTC ISO 8601 with milliseconds and a Z suffix."""
    dt = dt or utcnow()
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


def parse_iso(text):
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC). None when empty/invalid."""
    if not text:
        return None
    try:
        dt = datetime.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=datetime.timezone.utc)


def validate_id(incident_id):
    """Return the id if it is exactly INC-YYYY-MM-DD-NNN (no path tricks possible), else raise."""
    if not isinstance(incident_id, str) or not ID_RE.fullmatch(incident_id):
        raise IncidentError("invalid incident id %r: expected INC-YYYY-MM-DD-NNN" % (incident_id,))
    return incident_id


def incident_dir(root, incident_id, create=False):
    path = os.path.join(os.path.abspath(os.path.expanduser(root)), validate_id(incident_id))
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def locate(incident_id=None, root=None, env=None):
    """The incident a module files into: (incident_id, root, incident directory).

    The options given, else env INCIDENT_ID and INCIDENT_ROOT (exported by the timeline callback), else
    DEFAULT_ROOT for the root. Raises IncidentError without an id, or with one that is not INC-YYYY-MM-DD-NNN.
    The directory is not created."""
    env = os.environ if env is None else env
    incident_id = incident_id or env.get("INCIDENT_ID")
    root = root or env.get("INCIDENT_ROOT") or DEFAULT_ROOT
    if not incident_id:
        raise IncidentError("no incident id: pass incident_id (lookup('incident.response.incident_id')), "
                            "set env INCIDENT_ID or enable the incident.response.timeline callback")
    return incident_id, root, incident_dir(root, incident_id)


def allocate(root, now=None):
    """Allocate the next free INC-<today>-NNN under ``root`` and create its directory.

    ``mkdir`` is atomic, so two responders can never get the same id; the lock file only keeps
    concurrent allocators from racing each other through retries."""
    root = os.path.abspath(os.path.expanduser(root))
    os.makedirs(root, exist_ok=True)
    prefix = "INC-%s-" % (now or utcnow()).strftime("%Y-%m-%d")
    with open(os.path.join(root, ".allocate.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            taken = [int(name[len(prefix):]) for name in os.listdir(root)
                     if name.startswith(prefix) and name[len(prefix):].isdigit()]
            number = max(taken) + 1 if taken else 1
            while True:
                incident_id = "%s%03d" % (prefix, number)
                try:
                    os.mkdir(os.path.join(root, incident_id))
                    return incident_id
                except OSError as exc:
                    if exc.errno != errno.EEXIST:
                        raise
                    number += 1
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def resolve_id(root, explicit=None, env=None):
    """The incident to record into: ``explicit``, else env INCIDENT_ID, else a newly allocated one.

    Returns (incident_id, allocated: bool)."""
    env = os.environ if env is None else env
    chosen = explicit or env.get("INCIDENT_ID")
    if chosen:
        incident_dir(root, validate_id(str(chosen).strip()), create=True)
        return str(chosen).strip(), False
    return allocate(root), True


class Timeline(object):
    """Append-only JSONL writer: one unbuffered ``write()`` per event (O_APPEND keeps concurrent
    runs' lines whole), so a crash or SIGKILL of the writer loses nothing already written.

    ``sync`` adds durability against power loss / kernel crash: ``event`` fdatasyncs after each
    event; ``interval`` fdatasyncs from a background thread at most every ``interval`` seconds
    (the writer never waits on the disk); ``none`` leaves it to the kernel. ``close()`` always syncs."""

    def __init__(self, path, sync="event", interval=0.2):
        self.path = path
        self.sync = {True: "event", False: "none"}.get(sync, sync)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        self._dirty = threading.Event()
        self._stop = False
        self._lock = threading.Lock()
        if self.sync == "interval":
            self._thread = threading.Thread(target=self._syncer, args=(interval,), name="timeline-sync")
            self._thread.daemon = True
            self._thread.start()

    def _syncer(self, interval):
        while not self._stop:
            self._dirty.wait()
            time.sleep(interval)
            self._dirty.clear()
            with self._lock:
                if self._fd is not None:
                    os.fdatasync(self._fd)

    def append(self, event, sync_now=False):
        data = (json.dumps(event, sort_keys=False, default=str, separators=(",", ":")) + "\n").encode("utf-8")
        os.write(self._fd, data)
        if self.sync == "event" or sync_now:
            os.fdatasync(self._fd)
        elif self.sync == "interval":
            self._dirty.set()

    def close(self):
        self._stop = True
        self._dirty.set()
        with self._lock:
            if self._fd is not None:
                os.fdatasync(self._fd)
                os.close(self._fd)
                self._fd = None


def read_events(path):
    """Every parseable event in a timeline file (a torn last line is skipped, never fatal)."""
    events = []
    if not os.path.exists(path):
        return events
    with open(path, "rb") as fh:
        for raw in fh:
            try:
                event = json.loads(raw.decode("utf-8"))
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def event_time(event):
    return event.get("at") or event.get("start") or event.get("ts") or ""


def fmt_duration(seconds):
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return "%.1fs" % seconds
    minutes, sec = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return ("%dh %02dm %02ds" % (hours, minutes, sec)) if hours else ("%dm %02ds" % (minutes, sec))


def _cell(text, limit=160):
    text = " ".join(str(text if text is not None else "").split())
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("|", "\\|")


def describe(event):
    """(phase, event text, host, status, duration) for one timeline event."""
    kind = event.get("type")
    if kind == "milestone":
        text = "**%s** %s" % (str(event.get("event", "")).upper(), event.get("message") or "")
        return "milestone", text, event.get("host", ""), event.get("severity") or "", ""
    if kind == "task":
        items = " (%d items)" % event["loop_items"] if event.get("loop_items") else ""
        text = "%s [%s]%s" % (event.get("task") or "", event.get("action") or "", items)
        if event.get("handler"):
            text = "handler: " + text
        return (event.get("role") or event.get("play") or "", text, event.get("host", ""), event.get("status", ""),
                fmt_duration(event.get("duration_s")))
    if kind == "run_start":
        text = "Run started: %s%s" % (event.get("playbook") or "", " (check mode)" if event.get("check_mode") else "")
        return "run", text, "", "", ""
    if kind == "run_end":
        totals = event.get("totals") or {}
        text = "Run finished: " + ", ".join("%s=%s" % (k, totals[k]) for k in sorted(totals))
        return "run", text, "", "failed" if event.get("failed") else "ok", fmt_duration(event.get("duration_s"))
    if kind == "play_start":
        return "play", "Play: %s" % event.get("play", ""), "", "", ""
    return kind or "", "", "", "", ""


def timeline_table(events, kinds=("run_start", "play_start", "task", "milestone", "run_end")):
    rows = ["| Time (UTC) | Phase / role | Event | Host | Status | Duration |",
            "|---|---|---|---|---|---|"]
    for event in sorted((e for e in events if e.get("type") in kinds), key=event_time):
        phase, text, host, status, duration = describe(event)
        stamp = event_time(event).replace("T", " ")[:19]
        rows.append("| %s | %s | %s | %s | %s | %s |" % (stamp, _cell(phase), _cell(text, 200), _cell(host),
                                                         _cell(status), duration))
    return "\n".join(rows) + "\n"


def render_timeline_md(incident_id, events):
    milestones = [e for e in events if e.get("type") == "milestone"]
    tasks = [e for e in events if e.get("type") == "task"]
    runs = [e for e in events if e.get("type") == "run_start"]
    lines = ["# Timeline: %s" % incident_id, ""]
    if events:
        times = sorted(event_time(e) for e in events if event_time(e))
        lines.append("- **First event**: %s" % times[0] if times else "")
        lines.append("- **Last event**: %s" % times[-1] if times else "")
    lines.append("- **Runs**: %d, **tasks recorded**: %d, **milestones**: %d" % (len(runs), len(tasks), len(milestones)))
    counts = task_counts(tasks)
    lines.append("- **Task results**: " + (", ".join("%s %d" % (k, v) for k, v in counts.items() if v) or "none"))
    lines += ["", "_Generated by the incident.response.timeline callback from timeline.jsonl; "
              "edit the review documents, not this file._", "", timeline_table(events)]
    return "\n".join(lines)


def task_counts(tasks):
    counts = dict((s, 0) for s in STATUSES)
    for task in tasks:
        status = task.get("status")
        counts[status] = counts.get(status, 0) + 1
    return counts


def write_text_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _first(milestones, name):
    stamps = [parse_iso(m.get("at")) for m in milestones if m.get("event") == name]
    stamps = [s for s in stamps if s]
    return min(stamps) if stamps else None


def _secs(start, end):
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def compute_metrics(events, impact_started_at=None):
    """Milestone metrics (seconds; None when a milestone is missing).

    MTTD: impact start -> detected; MTTA: detected -> acknowledged; MTTM: detected -> mitigated;
    MTTR: detected -> resolved; customer impact: impact start (or detected) -> mitigated (or resolved).
    Impact start is ``impact_started_at``, else the earliest ``impact_started_at`` on a milestone."""
    milestones = [e for e in events if e.get("type") == "milestone"]
    impact = parse_iso(impact_started_at)
    if impact is None:
        marks = [parse_iso(m.get("impact_started_at")) for m in milestones]
        marks = [m for m in marks if m]
        impact = min(marks) if marks else None
    at = dict((name, _first(milestones, name)) for name in MILESTONES)
    detected = at["detected"] or at["declared"]
    restored = at["mitigated"] or at["resolved"]
    return {
        "impact_started_at": iso(impact) if impact else None,
        "milestones": dict((k, iso(v) if v else None) for k, v in at.items() if k != "note"),
        "mttd_s": _secs(impact, detected),
        "mtta_s": _secs(detected, at["acknowledged"]),
        "mttm_s": _secs(detected, at["mitigated"]),
        "mttr_s": _secs(detected, at["resolved"]),
        "customer_impact_s": _secs(impact or detected, restored),
    }


# -- milestones (incident_event module and action plugin) -----------------------------------------
def build_milestone(params):
    """The milestone dict from incident_event's options (raises IncidentError on a bad timestamp).
    Redaction is the caller's job (module_utils.redact)."""
    def stamp(name):
        value = params.get(name)
        if not value:
            return None
        parsed = parse_iso(value)
        if parsed is None:
            raise IncidentError("%s=%r is not an ISO 8601 timestamp (e.g. 2026-11-23T17:02:11Z)" % (name, value))
        return iso(parsed)

    if params.get("event") not in MILESTONES:
        raise IncidentError("event must be one of %s, got %r" % (", ".join(MILESTONES), params.get("event")))
    if not params.get("msg"):
        raise IncidentError("msg is required: one line, in words for the review")
    event = {"event": params["event"], "message": params["msg"], "at": stamp("at") or iso()}
    for key in ("severity", "owner"):
        if params.get(key):
            event[key] = params[key]
    impact = stamp("impact_started_at")
    if impact:
        event["impact_started_at"] = impact
    return event


def write_milestone(event, incident_id=None, root=None):
    """Append a milestone to the incident's timeline (for runs without the callback); returns the path."""
    incident_id, root, directory = locate(incident_id, root)
    try:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, TIMELINE)
        writer = Timeline(path)
        writer.append(dict({"ts": iso(), "type": "milestone", "incident_id": incident_id, "run_id": "module"}, **event))
        writer.close()
    except OSError as exc:
        raise IncidentError("cannot write the milestone to the timeline under %s: %s" % (root, exc))
    return path
