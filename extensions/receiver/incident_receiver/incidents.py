"""Incident ids and timeline lines, from the collection itself (plugins/module_utils/incident.py),
so a run started by the receiver and the incident.response.timeline callback share one identity
and one file format."""
import importlib
import os
import sys

_SHARED = {}


def shared(repo):
    """The collection's module_utils.incident (repo/collections is the collections path)."""
    if "mod" not in _SHARED:
        collections = os.path.join(repo, "collections")
        if collections not in sys.path:
            sys.path.append(collections)
        _SHARED["mod"] = importlib.import_module("ansible_collections.incident.response.plugins.module_utils.incident")
    return _SHARED["mod"]


def allocate(repo, root):
    """A new INC-YYYY-MM-DD-NNN whose directory now exists under root (atomic mkdir under a lock)."""
    return shared(repo).allocate(root)


def timeline_path(repo, root, incident_id):
    mod = shared(repo)
    return os.path.join(mod.incident_dir(root, incident_id), mod.TIMELINE)


def milestone(repo, root, incident_id, event, message, **data):
    """Append a milestone line in the callback's format (one O_APPEND write; the SQLite queue is the
    durable record, so no fsync here)."""
    mod = shared(repo)
    path = os.path.join(mod.incident_dir(root, incident_id, create=True), mod.TIMELINE)
    now = mod.iso()
    record = {"ts": now, "type": "milestone", "incident_id": incident_id, "run_id": "incident-receiver",
              "event": event, "message": message, "at": now, "source": "incident-receiver"}
    record.update(data)
    writer = mod.Timeline(path, sync=False)
    try:
        if writer.append(record) is False:  # lost (full or read-only disk): the caller logs it, loudly
            raise OSError("cannot write %s: %s" % (path, getattr(writer, "error", None) or "write failed"))
    finally:
        writer.close()
    return path


class Allocator:
    """Ids for a burst of alerts: the collection's allocate() (directory scan under its lock) for
    the first id of the day, then the next number by atomic mkdir alone, skipping taken ones, so
    an alert storm costs no scan per alert. Ids stay unique across processes: mkdir decides."""

    def __init__(self, repo, root):
        self.repo, self.root, self.last = repo, os.path.abspath(root), None

    def allocate(self):
        mod = shared(self.repo)
        prefix = "INC-%s-" % mod.utcnow().strftime("%Y-%m-%d")
        if self.last is None or not self.last.startswith(prefix):
            self.last = mod.allocate(self.root)
            return self.last
        number = int(self.last[len(prefix):]) + 1
        while True:
            incident_id = "%s%03d" % (prefix, number)
            try:
                os.mkdir(os.path.join(self.root, incident_id))
            except FileExistsError:
                number += 1
                continue
            except FileNotFoundError:       # root removed under us: start over the slow way
                self.last = None
                return self.allocate()
            self.last = incident_id
            return incident_id
