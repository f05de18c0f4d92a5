# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Incident identity and the on-disk incident record (shared by the callback, lookup and modules).

Layout: ``<root>/<INC-YYYY-MM-DD-NNN>/timeline.jsonl`` (append-only, one JSON event per line),
``timeline.md``, ``report.md``, ``post-incident-review.md``, ``summary.json``, ``evidence/``.

When the incident root cannot be written (full, read-only, a symlink where a directory should be), the
record goes to the fallback directory ``fallback_dir(root, id)``: ``$INCIDENT_FALLBACK_ROOT`` (default
``<tmp>/incident-fallback-<uid>``) ``/<root key>/<id>/``; readers merge both timelines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import tempfile
import threading
import time

ID_RE = re.compile(r"INC-([0-9]{4})-([0-9]{2})-([0-9]{2})-([0-9]{3,6})")  # used with fullmatch: no trailing newline
ID_MAX = 21  # INC-YYYY-MM-DD- (15) + at most 6 digits
ID_YEARS = (2000, 2999)
MILESTONES = ("detected", "declared", "acknowledged", "escalated", "mitigated", "resolved", "note")
STATUSES = ("ok", "changed", "failed", "skipped", "unreachable", "rescued", "ignored")
TIMELINE = "timeline.jsonl"
DEFAULT_ROOT = "./incidents"
FALLBACK_ENV = "INCIDENT_FALLBACK_ROOT"
RECORD_DIR_ENV = "INCIDENT_RECORD_DIR"  # set by the timeline callback: where this run's record actually lives
PRIMARY_MARK = ".primary-root"  # in <fallback>/<root key>/: the incident root the fallback stands in for
# milestone times: at most this far in the future (clock skew), not before the incident's day minus MAX_PAST
CLOCK_SKEW = datetime.timedelta(minutes=5)
MAX_PAST = datetime.timedelta(days=30)
MAX_PAST_IMPACT = datetime.timedelta(days=366)  # impact can start long before anyone notices (silent corruption)
LOST_KEPT = 200  # descriptions of lost events kept per writer (the count is always exact)


class IncidentError(Exception):
    pass


class RecordPathError(IncidentError):
    """A path in the record is a symlink, a FIFO or another non-regular file, or escapes the root."""


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
    """Return the id if it is exactly INC-YYYY-MM-DD-NNN, else raise IncidentError.

    The one rule everywhere (callback, lookup, modules, receiver): no normalisation - surrounding spaces,
    lower case, more than 6 digits, a date that is not a real calendar day (2026-13-45, 0000-00-00) or a
    number 000 are refused, so an id is always safe in a path and always names the same directory."""
    if not isinstance(incident_id, str):
        raise IncidentError("invalid incident id %r: expected INC-YYYY-MM-DD-NNN" % (incident_id,))
    shown = incident_id if len(incident_id) <= 60 else incident_id[:60] + "... (%d chars)" % len(incident_id)
    match = ID_RE.fullmatch(incident_id) if len(incident_id) <= ID_MAX else None
    if not match:
        raise IncidentError("invalid incident id %r: expected INC-YYYY-MM-DD-NNN (3 to 6 digits, no spaces)" % (shown,))
    year, month, day, number = (int(g) for g in match.groups())
    try:
        datetime.date(year, month, day)
    except ValueError:
        raise IncidentError("invalid incident id %r: %04d-%02d-%02d is not a calendar date" % (shown, year, month, day))
    if not ID_YEARS[0] <= year <= ID_YEARS[1] or number == 0:
        raise IncidentError("invalid incident id %r: year %d-%d and a number from 001 expected" % ((shown,) + ID_YEARS))
    return incident_id


def id_date(incident_id):
    """The UTC midnight of the incident's day (from a valid id)."""
    year, month, day = (int(g) for g in ID_RE.fullmatch(incident_id).groups()[:3])
    return datetime.datetime(year, month, day, tzinfo=datetime.timezone.utc)


# -- paths: never follow a symlink or open a FIFO inside the record ------------------------------------
def _refuse(path, what):
    raise RecordPathError("%s is %s: the incident record never follows symlinks or opens non-regular files" % (path, what))


def check_dir(path, create=False, mode=0o750):
    """``path`` must be a real directory (not a symlink to one); with ``create`` it is made when missing."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        if not create:
            raise
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            pass
        st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        _refuse(path, "a symlink")
    if not stat.S_ISDIR(st.st_mode):
        _refuse(path, "not a directory")
    return path


def safe_path(base, *parts, **kwargs):
    """join(base, *parts) after checking that every directory below ``base`` on the way is a real directory
    (``create=True`` makes the missing ones). ``base`` itself (the configured root) may be a symlink."""
    create, mode = kwargs.get("create", False), kwargs.get("mode", 0o750)
    path = os.path.abspath(base)
    for part in parts[:-1]:
        if not part or part in (".", "..") or os.sep in part:
            raise RecordPathError("bad path component %r under %s" % (part, base))
        path = check_dir(os.path.join(path, part), create, mode)
    return os.path.join(path, parts[-1]) if parts else path


def open_regular(path, flags, mode=0o640):
    """os.open with O_NOFOLLOW and O_NONBLOCK (a FIFO can never block the run), then refuse anything that
    is not a regular file. The descriptor is returned in blocking mode."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            _refuse(path, "a symlink")
        if exc.errno == errno.ENXIO:
            _refuse(path, "a FIFO or device with no reader")
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            _refuse(path, "not a regular file")
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def nofollow_opener(path, flags):
    """An ``opener`` for open(): the same checks as open_regular (files 0600)."""
    return open_regular(path, flags, 0o600)


def incident_dir(root, incident_id, create=False):
    """<root>/<id> (checked: a real directory when it exists; made with ``create``)."""
    root = os.path.abspath(os.path.expanduser(root))
    path = os.path.join(root, validate_id(incident_id))
    if create:
        os.makedirs(root, exist_ok=True)
        check_dir(path, create=True)
    elif os.path.lexists(path):
        check_dir(path)
    return path


def fallback_root(env=None):
    """Where the record goes when the incident root cannot take it: $INCIDENT_FALLBACK_ROOT, else
    <tmp>/incident-fallback-<uid>."""
    env = os.environ if env is None else env
    base = env.get(FALLBACK_ENV) or os.path.join(tempfile.gettempdir(), "incident-fallback-%d" % os.getuid())
    return os.path.abspath(os.path.expanduser(base))


def root_key(root):
    """A directory name for an incident root inside the fallback: readable tail + hash of the absolute path."""
    root = os.path.abspath(os.path.expanduser(root))
    tail = re.sub(r"[^A-Za-z0-9_.-]+", "_", root).strip("._")[-40:] or "root"
    return "%s-%s" % (tail, hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:10])


def fallback_base(root, create=False, env=None):
    """<fallback root>/<root key>: the fallback's stand-in for ``root`` (0700, this user's; with ``create``
    made and marked with the root it stands in for, which is how readers find the real timeline)."""
    root = os.path.abspath(os.path.expanduser(root))
    base = fallback_root(env)
    if create:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.lstat(base)
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            _refuse(base, "not a directory of this user")
    keyed = os.path.join(base, root_key(root))
    if create:
        check_dir(keyed, create=True, mode=0o700)
        mark = os.path.join(keyed, PRIMARY_MARK)
        if not os.path.lexists(mark):
            fd = open_regular(mark, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, (root + "\n").encode("utf-8", "surrogateescape"))
            finally:
                os.close(fd)
    return keyed


def fallback_dir(root, incident_id, create=False, env=None):
    """<fallback root>/<root key>/<id> (0700; made with ``create``)."""
    keyed = fallback_base(root, create, env)
    path = os.path.join(keyed, validate_id(incident_id))
    if create:
        check_dir(path, create=True, mode=0o700)
    elif os.path.lexists(path):
        check_dir(keyed)
        check_dir(path)
    return path


def locate(incident_id=None, root=None, env=None):
    """The incident a module files into: (incident_id, root, incident directory).

    The options given, else env INCIDENT_ID and INCIDENT_ROOT (exported by the timeline callback), else
    DEFAULT_ROOT for the root. The directory is <root>/<id>, or the fallback directory when the timeline
    callback moved this run's record there (env INCIDENT_RECORD_DIR). Raises IncidentError without an id,
    or with one that is not INC-YYYY-MM-DD-NNN. The directory is not created."""
    env = os.environ if env is None else env
    incident_id = incident_id or env.get("INCIDENT_ID")
    root = root or env.get("INCIDENT_ROOT") or DEFAULT_ROOT
    if not incident_id:
        raise IncidentError("no incident id: pass incident_id (lookup('incident.response.incident_id')), "
                            "set env INCIDENT_ID or enable the incident.response.timeline callback "
                            "(if it is enabled, its warning at the start of the run says why it has no id)")
    directory = incident_dir(root, incident_id)
    moved = env.get(RECORD_DIR_ENV)
    if moved and os.path.basename(moved) == incident_id and env.get("INCIDENT_ID") == incident_id \
            and os.path.abspath(os.path.expanduser(root)) == os.path.abspath(env.get("INCIDENT_ROOT") or DEFAULT_ROOT):
        directory = moved
    return incident_id, root, directory


def allocate(root, now=None, also=()):
    """Allocate the next free INC-<today>-NNN under ``root`` and create its directory.

    ``mkdir`` is atomic, so two responders can never get the same id; the lock file only keeps
    concurrent allocators from racing each other through retries. Numbers taken in the directories
    ``also`` (the real root, when allocating in the fallback) are skipped too."""
    root = os.path.abspath(os.path.expanduser(root))
    os.makedirs(root, exist_ok=True)
    prefix = "INC-%s-" % (now or utcnow()).strftime("%Y-%m-%d")
    lock = open_regular(os.path.join(root, ".allocate.lock"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        taken = []
        for directory in (root,) + tuple(also):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            taken += [int(name[len(prefix):]) for name in names if name.startswith(prefix) and name[len(prefix):].isdigit()]
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
        os.close(lock)


def resolve_id(root, explicit=None, env=None):
    """The incident to record into: ``explicit``, else env INCIDENT_ID, else a newly allocated one.

    Returns (incident_id, allocated: bool). The id is validated as given (never stripped)."""
    env = os.environ if env is None else env
    chosen = explicit or env.get("INCIDENT_ID")
    if chosen:
        incident_dir(root, validate_id(chosen), create=True)
        return chosen, False
    return allocate(root), True


def _write_all(fd, data):
    """Write all of ``data`` (os.write may write less); returns the bytes written before an OSError,
    which is re-raised with ``written`` set on it."""
    written = 0
    try:
        while written < len(data):
            count = os.write(fd, data[written:])
            if count <= 0:  # pragma: no cover - regular files report ENOSPC instead
                raise OSError(errno.ENOSPC, "short write")
            written += count
    except OSError as exc:
        exc.written = written
        raise
    return written


def describe_lost(event):
    """What a lost event was, in a few fields (for run_end, the warning and the report)."""
    kept = dict((k, event[k]) for k in ("ts", "type", "event", "task", "host", "status", "at") if event.get(k) is not None)
    return dict((k, v if not isinstance(v, str) else v[:160]) for k, v in kept.items())


class _Appender(object):
    """One JSONL file opened for whole-line appends. A line cut short by a failed write leaves the tail
    torn; the next append first writes a newline (the fence), so the torn fragment stays one unreadable
    line and never swallows the next event. A tail found torn at open (a crash, an earlier full disk)
    is fenced the same way and counted."""

    def __init__(self, path):
        self.path = path
        self.fd = open_regular(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        self.torn = False
        self.fenced = 0
        size = os.fstat(self.fd).st_size
        if size and os.pread(self.fd, 1, size - 1) != b"\n":
            self.torn = True

    def write_line(self, data):
        """Append one line; True when it is whole on the file. Raises nothing on a storage failure:
        returns False with the OSError in ``self.error``."""
        fence = self.torn
        if fence:
            data = b"\n" + data
        try:
            _write_all(self.fd, data)
        except OSError as exc:
            self.error = exc
            if getattr(exc, "written", 0):
                self.torn = True  # a fragment is on the file: the next append fences it
                if fence and exc.written >= 1:
                    self.fenced += 1
            return False
        if fence:
            self.fenced += 1
            self.torn = False
        return True

    def sync(self):
        os.fdatasync(self.fd)

    def close(self):
        if self.fd is not None:
            try:
                os.fdatasync(self.fd)
            finally:
                os.close(self.fd)
                self.fd = None


class Timeline(object):
    """Append-only JSONL writer: one unbuffered ``write()`` per event (O_APPEND keeps concurrent
    runs' lines whole), so a crash or SIGKILL of the writer loses nothing already written.

    Every write is checked: a short or failed write (full disk, read-only remount, I/O error) never
    merges two events (see _Appender). When the file cannot take an event, the event goes to ``spill``
    (a path in the fallback directory, opened on first need; after the first failure every later event
    goes there too, so the two files never interleave); when that fails as well the event is lost:
    ``lost`` counts every one and ``lost_events`` describes the first LOST_KEPT. ``on_problem`` is called
    (with a sentence) the first time events move to the spill file and each time one is lost.
    The file is opened with O_NOFOLLOW and must be a regular file (a symlink or FIFO raises RecordPathError).

    ``sync`` adds durability against power loss / kernel crash: ``event`` fdatasyncs after each
    event; ``interval`` fdatasyncs from a background thread at most every ``interval`` seconds
    (the writer never waits on the disk); ``none`` leaves it to the kernel. ``close()`` always syncs."""

    def __init__(self, path, sync="event", interval=0.2, spill=None, on_problem=None, spill_prepare=None):
        self.path, self.spill_prepare = path, spill_prepare
        self.sync = {True: "event", False: "none"}.get(sync, sync)
        self.spill_path, self.on_problem = spill, on_problem
        self.lost, self.lost_events, self.spilled, self.sync_errors = 0, [], 0, 0
        self.error = None
        self._primary = _Appender(path)
        self.torn_at_open = 1 if self._primary.torn else 0
        self._spill = None
        self._use_spill = False
        self._dirty = threading.Event()
        self._stop = False
        self._lock = threading.Lock()
        if self.sync == "interval":
            self._thread = threading.Thread(target=self._syncer, args=(interval,), name="timeline-sync")
            self._thread.daemon = True
            self._thread.start()

    @property
    def _fd(self):
        return self._primary.fd

    @property
    def fenced(self):
        return self._primary.fenced + (self._spill.fenced if self._spill else 0)

    def _syncer(self, interval):
        while not self._stop:
            self._dirty.wait()
            time.sleep(interval)
            self._dirty.clear()
            with self._lock:
                self._sync()

    def _sync(self):
        for appender in (self._primary, self._spill):
            if appender is not None and appender.fd is not None:
                try:
                    appender.sync()
                except OSError:
                    self.sync_errors += 1

    def _problem(self, text):
        if self.on_problem is not None:
            try:
                self.on_problem(text)
            except Exception:  # pylint: disable=broad-except
                pass

    def _to_spill(self, data):
        if self.spill_path is None:
            return False
        if self._spill is None:
            try:
                if self.spill_prepare is not None:
                    self.spill_prepare()
                else:
                    os.makedirs(os.path.dirname(self.spill_path), mode=0o700, exist_ok=True)
                self._spill = _Appender(self.spill_path)
            except (OSError, IncidentError) as exc:
                self.spill_path, self._use_spill = None, False
                self._problem("cannot open the fallback timeline either: %s" % exc)
                return False
        return self._spill.write_line(data)

    @property
    def where(self):
        """The file events go to now."""
        return self.spill_path if self._use_spill and self.spill_path else self.path

    def append(self, event, sync_now=False):
        """Write one event; True when it is on disk (in the timeline or its fallback), False when lost."""
        data = (json.dumps(event, sort_keys=False, default=str, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            written = False
            if not self._use_spill:
                written = self._primary.write_line(data)
                if not written:
                    self.error = self._primary.error
                    if self.spill_path:  # without one, the next event tries the record again
                        self._use_spill = True
                        if not event.get("record_problem"):  # the first line in the fallback says why it is there
                            data = (json.dumps(dict(event, record_problem="cannot write %s: %s" % (self.path, self.error)),
                                               sort_keys=False, default=str, separators=(",", ":")) + "\n").encode("utf-8")
                        self._problem("cannot write %s (%s): events go to %s from now on"
                                      % (self.path, self.error, self.spill_path))
            if not written and self._use_spill:
                written = self._to_spill(data)
                if written:
                    self.spilled += 1
            if not written:
                self.lost += 1
                if len(self.lost_events) < LOST_KEPT:
                    self.lost_events.append(describe_lost(event))
                if self.lost <= 5 or self.lost % 100 == 0:  # loud, but not one warning per task on a long outage
                    self._problem("%d event(s) lost so far (the last: %s)" % (self.lost, describe_lost(event)))
                return False
            if self.sync == "event" or sync_now:
                self._sync()
        if self.sync == "interval":
            self._dirty.set()
        return True

    def losses(self):
        """The counters run_end carries: lost events (described), events moved to the fallback, torn lines fenced."""
        return dict(lost_events=self.lost, lost=list(self.lost_events), spilled_events=self.spilled,
                    spilled_to=self.spill_path if self.spilled else None, torn_lines_fenced=self.fenced,
                    write_error=str(self.error) if self.error else None)

    def close(self):
        self._stop = True
        self._dirty.set()
        with self._lock:
            for appender in (self._primary, self._spill):
                if appender is not None:
                    try:
                        appender.close()
                    except OSError:
                        self.sync_errors += 1


def _counterpart(path):
    """The other timeline of the same incident: the fallback one for <root>/<id>/timeline.jsonl, the
    real one for a fallback timeline (its root named in PRIMARY_MARK). None when there is none."""
    directory = os.path.dirname(os.path.abspath(path))
    incident_id, base = os.path.basename(directory), os.path.dirname(directory)
    try:
        validate_id(incident_id)
    except IncidentError:
        return None
    mark = os.path.join(base, PRIMARY_MARK)
    try:
        if os.path.isfile(mark) and not os.path.islink(mark):
            with open(mark, encoding="utf-8", errors="surrogateescape") as fh:
                return os.path.join(fh.read().strip(), incident_id, TIMELINE)
        return os.path.join(fallback_dir(base, incident_id), TIMELINE)
    except (OSError, IncidentError):
        return None


def _read_lines(path, stats):
    events = []
    try:
        fd = open_regular(path, os.O_RDONLY)
    except (OSError, IncidentError) as exc:
        if not isinstance(exc, FileNotFoundError):
            stats.setdefault("unreadable", []).append("%s: %s" % (path, exc))
        return events
    with os.fdopen(fd, "rb") as fh:
        for raw in fh:
            try:
                event = json.loads(raw.decode("utf-8"))
            except ValueError:
                if raw.strip():
                    stats["torn"] = stats.get("torn", 0) + 1
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def read_events(path, stats=None, merge=True):
    """Every parseable event in a timeline file, plus (``merge``) those of its counterpart in the fallback
    directory (or, for a fallback timeline, in the real one). Unreadable (torn) lines are skipped, never
    fatal, and counted in ``stats['torn']``; a symlink or FIFO is not read (``stats['unreadable']``)."""
    stats = {} if stats is None else stats
    events = _read_lines(path, stats)
    other = _counterpart(path) if merge else None
    if other and os.path.lexists(other):
        try:
            same = os.path.exists(path) and os.path.samefile(path, other)
        except OSError:
            same = False
        if not same:
            events += _read_lines(other, stats)
            stats["merged"] = other
    return events


def timeline_exists(path):
    """True when the timeline or its counterpart (fallback / real one) exists."""
    other = _counterpart(path)
    return os.path.lexists(path) or bool(other and os.path.lexists(other))


def record_losses(events, stats=None):
    """What the record says it lost: events lost and moved (from the run_end events), torn lines found."""
    lost, spilled, details = 0, 0, []
    for event in events:
        if event.get("type") == "run_end":
            lost += int(event.get("lost_events") or 0)
            spilled += int(event.get("spilled_events") or 0)
            details += [dict(d, run_id=event.get("run_id")) for d in event.get("lost") or [] if isinstance(d, dict)]
    return dict(lost_events=lost, lost=details, spilled_events=spilled, torn_lines=(stats or {}).get("torn", 0))


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
    losses = record_losses(events)
    if losses["lost_events"] or losses["spilled_events"]:
        lines.append("- **Record**: %d events lost, %d written to the fallback directory" % (
            losses["lost_events"], losses["spilled_events"]))
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
    """Write a temporary file next to ``path`` (never through a symlink), then rename it over ``path``
    (a symlink there is replaced, not followed). A failed write leaves no temporary file behind."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8", opener=lambda name, flags: open_regular(name, flags | os.O_TRUNC, 0o640)) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _first(milestones, name):
    stamps = [parse_iso(m.get("at")) for m in milestones if m.get("event") == name]
    stamps = [s for s in stamps if s]
    return min(stamps) if stamps else None


def _secs(start, end, name=None, anomalies=None):
    """end - start in seconds; None (and an anomaly noted) when end is before start."""
    if start is None or end is None:
        return None
    seconds = round((end - start).total_seconds(), 3)
    if seconds < 0:
        if anomalies is not None:
            anomalies.append("%s not computed: it would end (%s) before it starts (%s)" % (name, iso(end), iso(start)))
        return None
    return seconds


def compute_metrics(events, impact_started_at=None):
    """Milestone metrics (seconds; None when a milestone is missing or the times go backwards).

    MTTD: impact start -> detected; MTTA: detected -> acknowledged; MTTM: detected -> mitigated;
    MTTR: detected -> resolved; customer impact: impact start (or detected) -> mitigated (or resolved).
    Impact start is ``impact_started_at``, else the earliest ``impact_started_at`` on a milestone.
    A metric is never negative: times that go backwards leave it None and are listed in ``anomalies``,
    with milestones that carry ``flags`` (set by the timeline callback)."""
    milestones = [e for e in events if e.get("type") == "milestone"]
    impact = parse_iso(impact_started_at)
    if impact is None:
        marks = [parse_iso(m.get("impact_started_at")) for m in milestones]
        marks = [m for m in marks if m]
        impact = min(marks) if marks else None
    at = dict((name, _first(milestones, name)) for name in MILESTONES)
    detected = at["detected"] or at["declared"]
    restored = at["mitigated"] or at["resolved"]
    anomalies = []
    metrics = {
        "impact_started_at": iso(impact) if impact else None,
        "milestones": dict((k, iso(v) if v else None) for k, v in at.items() if k != "note"),
        "mttd_s": _secs(impact, detected, "MTTD", anomalies),
        "mtta_s": _secs(detected, at["acknowledged"], "MTTA", anomalies),
        "mttm_s": _secs(detected, at["mitigated"], "MTTM", anomalies),
        "mttr_s": _secs(detected, at["resolved"], "MTTR", anomalies),
        "customer_impact_s": _secs(impact or detected, restored, "customer impact", anomalies),
    }
    for m in milestones:
        for flag in m.get("flags") or []:
            anomalies.append("%s at %s: %s" % (m.get("event"), m.get("at"), flag))
    metrics["anomalies"] = anomalies
    return metrics


# -- milestones (incident_event module and action plugin, checked again by the timeline callback) -------
DATE_ONLY_RE = re.compile(r"\s*[0-9]{4}-?[0-9]{2}-?[0-9]{2}\s*")


def check_time(name, value, now=None, incident_id=None):
    """A milestone time as UTC ISO text, or IncidentError: it must be a full ISO 8601 time (a date alone
    is refused: midnight UTC is not when anything happened), at most CLOCK_SKEW in the future and not
    more than MAX_PAST before the incident's day (or before now without an id)."""
    if DATE_ONLY_RE.fullmatch(str(value)):
        raise IncidentError("%s=%r is a date without a time: give the time too (e.g. %sT17:02:11Z)" % (name, value, str(value).strip()))
    parsed = parse_iso(value)
    if parsed is None:
        raise IncidentError("%s=%r is not an ISO 8601 timestamp (e.g. 2026-11-23T17:02:11Z)" % (name, value))
    now = now or utcnow()
    if parsed > now + CLOCK_SKEW:
        raise IncidentError("%s=%s is in the future (now %s; %d s of clock skew allowed)"
                            % (name, iso(parsed), iso(now), CLOCK_SKEW.total_seconds()))
    bound = MAX_PAST_IMPACT if name == "impact_started_at" else MAX_PAST
    earliest = (id_date(incident_id) if incident_id else now) - bound
    if parsed < earliest:
        raise IncidentError("%s=%s is more than %d days before the incident%s" % (
            name, iso(parsed), bound.days, " %s" % incident_id if incident_id else ""))
    return iso(parsed)


def _known_id(incident_id):
    try:
        return validate_id(incident_id) if incident_id else None
    except IncidentError:
        return None


def build_milestone(params, now=None):
    """The milestone dict from incident_event's options (raises IncidentError on a bad event or time).
    Redaction is the caller's job (module_utils.redact)."""
    if params.get("event") not in MILESTONES:
        raise IncidentError("event must be one of %s, got %r" % (", ".join(MILESTONES), params.get("event")))
    if not params.get("msg"):
        raise IncidentError("msg is required: one line, in words for the review")
    now = now or utcnow()
    incident_id = _known_id(params.get("incident_id") or os.environ.get("INCIDENT_ID"))
    event = {"event": params["event"], "message": params["msg"],
             "at": check_time("at", params["at"], now, incident_id) if params.get("at") else iso(now)}
    for key in ("severity", "owner"):
        if params.get(key):
            event[key] = params[key]
    if params.get("impact_started_at"):
        event["impact_started_at"] = check_time("impact_started_at", params["impact_started_at"], now, incident_id)
        if parse_iso(event["impact_started_at"]) > parse_iso(event["at"]):
            raise IncidentError("impact_started_at=%s is after at=%s" % (event["impact_started_at"], event["at"]))
    return event


# The order an incident goes through: detected first, resolved last. Declared, acknowledged and
# mitigated may come in any order between (an automated restart mitigates before anyone acknowledges;
# an incident may be declared once its first action is done). A milestone against it is flagged.
LIFECYCLE = ("detected", "declared", "acknowledged", "mitigated", "resolved")
MUST_PRECEDE = {"detected": frozenset(LIFECYCLE[1:]), "declared": frozenset(["resolved"]),
                "acknowledged": frozenset(["resolved"]), "mitigated": frozenset(["resolved"])}


class MilestoneChecker(object):
    """The timeline callback's check of each milestone it is handed (defence in depth: incident_event
    has checked it already). ``check(milestone)`` returns (event, None) with ``flags`` added when its time
    goes backwards against the lifecycle (e.g. mitigated before detected), or (None, reason) when refused."""

    def __init__(self, incident_id=None, history=()):
        self.incident_id = _known_id(incident_id)
        self.seen = {}
        for event in history:
            self._remember(event)

    def _remember(self, event):
        if event.get("type", "milestone") == "milestone" and event.get("event") in LIFECYCLE:
            stamp = parse_iso(event.get("at"))
            if stamp is not None:
                name = event["event"]
                self.seen[name] = min(self.seen.get(name, stamp), stamp)

    def check(self, milestone, now=None):
        if not isinstance(milestone, dict):
            return None, "not a dict"
        name = milestone.get("event")
        if name not in MILESTONES:
            return None, "unknown milestone %r" % (name,)
        if not isinstance(milestone.get("message"), str) or not milestone.get("message").strip():
            return None, "no message"
        event = dict(milestone)
        try:
            for key in ("at", "impact_started_at"):
                if event.get(key):
                    event[key] = check_time(key, event[key], now, self.incident_id)
        except IncidentError as exc:
            return None, str(exc)
        flags = []
        stamp = parse_iso(event.get("at"))
        if stamp is not None and name in LIFECYCLE:
            for other in LIFECYCLE:
                if other not in self.seen:
                    continue
                if name in MUST_PRECEDE.get(other, ()) and stamp < self.seen[other]:
                    flags.append("before %s (%s)" % (other, iso(self.seen[other])))
                elif other in MUST_PRECEDE.get(name, ()) and stamp > self.seen[other]:
                    flags.append("after %s (%s)" % (other, iso(self.seen[other])))
        impact = parse_iso(event.get("impact_started_at"))
        if impact is not None and stamp is not None and impact > stamp:
            flags.append("impact_started_at after at")
        if flags:
            event["flags"] = flags
        self._remember(event)
        return event, None


def write_milestone(event, incident_id=None, root=None):
    """Append a milestone to the incident's timeline (for runs without the callback); returns the path.
    When the incident directory cannot take it, it goes to the fallback directory (and that path is returned)."""
    incident_id, root, directory = locate(incident_id, root)
    record = dict({"ts": iso(), "type": "milestone", "incident_id": incident_id, "run_id": "module"}, **event)
    failures = []
    for where in ("record", "fallback"):
        try:
            if where == "record":
                if directory == incident_dir(root, incident_id):
                    incident_dir(root, incident_id, create=True)
                else:
                    check_dir(directory)
                path = os.path.join(directory, TIMELINE)
            else:
                path = os.path.join(fallback_dir(root, incident_id, create=True), TIMELINE)
            writer = Timeline(path, sync="none")
            try:
                if writer.append(record):
                    return path
                failures.append("%s: %s" % (path, writer.error))
            finally:
                writer.close()
        except (OSError, IncidentError) as exc:
            failures.append("%s: %s" % (where, exc))
    raise IncidentError("cannot write the milestone to the timeline under %s: %s" % (root, "; ".join(failures)))
