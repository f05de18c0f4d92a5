# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Guard rails shared by the action modules: a per-target rate limit, a per-target lock, a confirm
flag for destructive actions and the image history that makes "roll back to the previous image"
possible. State is a few small JSON files under `state_dir` (one per target), written atomically
under an fcntl lock, so concurrent responses on one controller see each other."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import errno
import fcntl
import json
import os
import re
import time
from contextlib import contextmanager

DEFAULT_STATE_DIR = "~/.local/state/incident.response"
STATE_DIR_ENV = "INCIDENT_STATE_DIR"
HISTORY_LIMIT = 20

GUARD_ARGSPEC = dict(
    state_dir=dict(type="path"),
    lock_timeout=dict(type="float", default=120.0),
)


class GuardError(Exception):
    """A guard rail refused the action; the message says which one and what to do."""


def resolve_state_dir(state_dir=None):
    """The option if given, else env INCIDENT_STATE_DIR, else ~/.local/state/incident.response."""
    path = os.path.expanduser(state_dir or os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)
    _makedirs(path)
    return path


def state_dir_of(module):
    return resolve_state_dir(module.params.get("state_dir"))


def target_key(project=None, service=None, container=None):
    """One name per target, shared by every module acting on it (lock, rate limit)."""
    if service:
        return "docker-%s-%s" % (project or "default", service)
    return "docker-container-%s" % container


def _safe(key):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", key)


def _makedirs(path):
    try:
        os.makedirs(path, 0o700)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise


@contextmanager
def _locked(path):
    """Exclusive fcntl lock on `path` for a short read-modify-write of a state file."""
    _makedirs(os.path.dirname(path))
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_json(path, default):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (IOError, OSError, ValueError):
        return default


def _write_json(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
    os.rename(tmp, path)


class RateLimit(object):
    """At most `max` actions on `key` within a sliding window of `window_s` seconds.

    `acquire()` records the action when allowed and raises GuardError otherwise; `max` 0 disables it."""

    def __init__(self, state_dir, key, max, window_s, now=time.time,  # pylint: disable=redefined-builtin
                 options=("max_actions", "action_window")):
        self.options = options  # the module options that set max and window, named when refusing
        self.path = os.path.join(state_dir, "ratelimit", _safe(key) + ".json")
        self.key = key
        self.max = int(max)
        self.window_s = float(window_s)
        self.now = now

    def _recent(self, now):
        return [t for t in _read_json(self.path, []) if now - t < self.window_s]

    def status(self):
        """(used, frees_in_s): actions counted in the window, and seconds until one slot frees."""
        now = self.now()
        recent = self._recent(now)
        frees = round(min(recent) + self.window_s - now, 1) if recent else 0.0
        return len(recent), frees

    def allowed(self):
        return self.max <= 0 or self.status()[0] < self.max

    def acquire(self):
        if self.max <= 0:
            return 0
        with _locked(self.path + ".lock"):
            now = self.now()
            recent = self._recent(now)
            if len(recent) >= self.max:
                frees = min(recent) + self.window_s - now
                raise GuardError(
                    "rate limit: %s was already acted on %d times in the last %ds (max %d per %ds); "
                    "refusing so a flapping alert cannot loop. Next slot frees in %ds (at %s UTC); "
                    "raise %s/%s or act by hand if this is deliberate"
                    % (self.key, len(recent), self.window_s, self.max, self.window_s, int(frees + 0.999),
                       time.strftime("%H:%M:%S", time.gmtime(now + frees)), self.options[0], self.options[1]))
            recent.append(now)
            _write_json(self.path, recent)
            return len(recent)


class TargetLock(object):
    """An exclusive per-target lock (fcntl, released when the process dies), waited for up to timeout_s.

        with TargetLock(state_dir, key, 60) as lock:
            ...  # lock.waited_s says how long another response held it"""

    def __init__(self, state_dir, key, timeout_s, poll_s=0.05):
        self.path = os.path.join(state_dir, "locks", _safe(key) + ".lock")
        self.key = key
        self.timeout_s = float(timeout_s)
        self.poll_s = poll_s
        self.waited_s = 0.0
        self._fh = None

    def acquire(self):
        _makedirs(os.path.dirname(self.path))
        self._fh = open(self.path, "a")
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() - start >= self.timeout_s:
                    self._fh.close()
                    self._fh = None
                    raise GuardError("lock: another response is acting on %s (lock %s held for more than %ss); "
                                     "wait for it or raise lock_timeout" % (self.key, self.path, self.timeout_s))
                time.sleep(self.poll_s)
        self.waited_s = round(time.monotonic() - start, 3)
        return self

    def release(self):
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def require_confirm(module, flag_name, what="this destructive action"):
    """Fail unless the boolean option `flag_name` is true. In check mode warn instead (nothing changes)."""
    if module.params.get(flag_name) is True:
        return True
    msg = "%s refused: set %s=true to confirm it" % (what, flag_name)
    if module.check_mode:
        module.warn(msg + " (check mode: reporting what it would do)")
        return False
    module.fail_json(msg=msg, confirm_required=flag_name)
    return False  # unreachable with a real module; keeps callers simple in tests


# -- image history ---------------------------------------------------------------------------
def _history_path(state_dir, project, service):
    return os.path.join(state_dir, "images", _safe(project or "default"), _safe(service) + ".json")


def image_history(state_dir, project, service):
    """Recorded images of a service, oldest first: [{image, image_id, recorded_at}]."""
    return _read_json(_history_path(state_dir, project, service), [])


def record_image(state_dir, project, service, image, image_id, now=time.time):
    """Remember the image a service runs (called before every change). Returns True when it was new.

    An image already known moves to the end (newest) and keeps its `bad` mark."""
    path = _history_path(state_dir, project, service)
    with _locked(path + ".lock"):
        history = _read_json(path, [])
        if history and history[-1].get("image_id") == image_id:
            return False
        known = [h for h in history if h.get("image_id") == image_id]
        entry = dict(image=image, image_id=image_id, recorded_at=_utc(now()))
        if known and known[0].get("bad"):
            entry.update(bad=True, bad_at=known[0].get("bad_at"))
        history = [h for h in history if h.get("image_id") != image_id] + [entry]
        _write_json(path, history[-HISTORY_LIMIT:])
        return not known


def mark_bad(state_dir, project, service, image_id, now=time.time):
    """Flag an image rolled back from, so a second rollback never goes back to it."""
    path = _history_path(state_dir, project, service)
    with _locked(path + ".lock"):
        history = _read_json(path, [])
        for entry in history:
            if entry.get("image_id") == image_id:
                entry.update(bad=True, bad_at=_utc(now()))
        _write_json(path, history)


def _utc(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def previous_image(state_dir, project, service, current_image_id=None):
    """The newest recorded image that is neither `current_image_id` nor marked bad, or None."""
    for entry in reversed(image_history(state_dir, project, service)):
        if entry.get("image_id") != current_image_id and not entry.get("bad"):
            return entry
    return None
