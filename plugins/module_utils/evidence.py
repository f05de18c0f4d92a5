# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The evidence bundle of evidence_capture and the pieces that write into it.

EvidenceBundle: a new capture directory ``<incident>/evidence/<UTC stamp>[-label]/`` (mode 0700, files
0600), a manifest entry (size, sha256, source, collector) per file, ``MANIFEST``, ``ERRORS.json``,
``UNAVAILABLE.json`` and the ``evidence-<id>-<stamp>.tar.gz`` tarball with its ``.sha256``.
LineRedactor and NewestBytes let a log stream go to disk redacted and bounded, never held whole."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import getpass
import json
import os
import re
import shutil
import socket
import tarfile

from ansible_collections.incident.response.plugins.module_utils.files import sha256_file
from ansible_collections.incident.response.plugins.module_utils.incident import iso, utcnow
from ansible_collections.incident.response.plugins.module_utils.redact import redact, redact_text

SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
CHUNK = 65536
MANIFEST_COLUMNS = ("file", "size", "sha256", "collected_at", "source", "collector")


def safe_name(name):
    """A file name part from any text (no path separators, no leading dots)."""
    return SAFE_NAME.sub("_", str(name)).strip("._") or "unnamed"


class LineRedactor(object):
    """Feed bytes, get redacted bytes back line by line (partial lines wait for their end)."""

    def __init__(self, enabled):
        self.enabled = enabled
        self.pending = b""

    def feed(self, data):
        if not self.enabled:
            return data
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        self.pending = data[cut:]
        if len(self.pending) > CHUNK:  # a very long line: redact what we have
            cut, self.pending = len(data), b""
        return self._redact(data[:cut])

    def flush(self):
        out, self.pending = self._redact(self.pending) if self.enabled else self.pending, b""
        return out

    @staticmethod
    def _redact(data):
        if not data:
            return b""
        return redact_text(data.decode("utf-8", "replace")).encode("utf-8")


class NewestBytes(object):
    """Keep the newest ~max_bytes of a stream on disk with two alternating segment files."""

    NOTE = b"[evidence_capture: %d older bytes dropped to stay within max_bytes]\n"

    def __init__(self, path, max_bytes):
        self.path, self.half = path, max(max_bytes // 2, 1)
        self.segments = [path + ".seg0", path + ".seg1"]
        self.current, self.dropped = 0, 0
        self.fh = open(self.segments[0], "wb")
        self.size = 0

    def write(self, data):
        while data:
            room = self.half - self.size
            if room <= 0:
                self._rotate()
                continue
            self.fh.write(data[:room])
            self.size += len(data[:room])
            data = data[room:]

    def _rotate(self):
        self.fh.close()
        self.current = 1 - self.current
        other = self.segments[self.current]
        if os.path.exists(other):
            self.dropped += os.path.getsize(other)
        self.fh = open(other, "wb")
        self.size = 0

    def close(self):
        """Assemble the output file; returns True when older bytes were dropped."""
        self.fh.close()
        older, newer = self.segments[1 - self.current], self.segments[self.current]
        with open(self.path, "wb") as out:
            if self.dropped:
                out.write(self.NOTE % self.dropped)
                with open(older, "rb") as fh:
                    fh.readline()  # drop the partial first line
                    shutil.copyfileobj(fh, out, CHUNK)
            elif os.path.exists(older) and older != newer:
                with open(older, "rb") as fh:
                    shutil.copyfileobj(fh, out, CHUNK)
            with open(newer, "rb") as fh:
                shutil.copyfileobj(fh, out, CHUNK)
        for seg in self.segments:
            if os.path.exists(seg):
                os.unlink(seg)
        return bool(self.dropped)


def df_table(disks):
    """df-like text of diag_host.disks() rows (sizes in KiB)."""
    rows = ["%-40s %12s %12s %12s %5s" % ("mount", "size_kb", "used_kb", "avail_kb", "use%")]
    for disk in disks:
        size, used, avail = disk["size_bytes"] // 1024, disk["used_bytes"] // 1024, disk["free_bytes"] // 1024
        pct = "%d%%" % (100 * used // (used + avail)) if used + avail else "-"
        rows.append("%-40s %12d %12d %12d %5s  %s %s" % (disk["mount"], size, used, avail, pct, disk["device"], disk["fstype"]))
    return "\n".join(rows) + "\n"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def process_table(procs):
    """ps-like text of diag_host.processes(cmdline=True), by pid: one line per process, since control
    characters in a command line (a newline in an argument) become '?', as ps shows them."""
    rows = ["%7s %7s %1s %10s %s" % ("pid", "ppid", "S", "rss_kb", "command")]
    for pid in sorted(procs):
        proc = procs[pid]
        rows.append("%7d %7s %1s %10d %s" % (pid, proc["ppid"], proc["state"], proc["rss_bytes"] // 1024,
                                             _CONTROL.sub("?", proc["cmdline"] or "[%s]" % proc["name"])[:300]))
    return "\n".join(rows) + "\n"


class EvidenceBundle(object):
    """One capture of evidence for an incident: its directory, manifest, errors and tarball.

    `directory` is the incident's directory (incident.locate). In check mode nothing is written:
    attempt() lists what would be collected in `plan`."""

    def __init__(self, directory, incident_id, redact_text_files=True, check_mode=False,
                 tool="incident.response.evidence_capture"):
        self.incident_dir, self.incident_id = directory, incident_id
        self.redact, self.check_mode = redact_text_files, check_mode
        self.collector = "%s %s@%s" % (tool, getpass.getuser(), socket.gethostname())
        self.manifest, self.errors, self.unavailable, self.plan = [], [], [], []
        self.base = self.name = self.dir = None

    def open_dir(self, label=None):
        """Create evidence/<UTC stamp>[-label], or -2, -3... when a capture of the same second exists."""
        base = os.path.join(self.incident_dir, "evidence")
        os.makedirs(base, mode=0o700, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        if label:
            stamp += "-" + safe_name(label)
        name, number = stamp, 1
        while True:
            try:
                os.mkdir(os.path.join(base, name), 0o700)
                break
            except FileExistsError:
                number += 1
                name = "%s-%d" % (stamp, number)
        self.base, self.name, self.dir = base, name, os.path.join(base, name)

    def path(self, rel):
        """Absolute path of rel in the capture directory (its parent created)."""
        full = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(full), mode=0o700, exist_ok=True)
        return full

    def add(self, rel, source, redacted=False, truncated=False):
        """Enter a written file into the manifest (and make it 0600)."""
        full = os.path.join(self.dir, rel)
        os.chmod(full, 0o600)
        digest, size = sha256_file(full)
        self.manifest.append(dict(file=rel, size=size, sha256=digest, collected_at=iso(), source=source,
                                  collector=self.collector, redacted=redacted, truncated=truncated))

    def write_json(self, rel, data, source):
        if self.redact:
            data = redact(data)
        with open(self.path(rel), "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
        self.add(rel, source, redacted=self.redact)

    def write_text(self, rel, text, source):
        if self.redact:
            text = redact_text(text)
        with open(self.path(rel), "w") as fh:
            fh.write(text)
        self.add(rel, source, redacted=self.redact)

    def attempt(self, item, source, func, *args):
        """Run func(*args), recording a failure in `errors` (redacted) instead of raising; plan it in check mode."""
        if self.check_mode:
            self.plan.append(dict(item=item, source=source))
            return
        try:
            func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            self.errors.append(dict(item=item, error=redact_text("%s: %s" % (type(exc).__name__, exc))))

    def finish(self, tarball=True):
        """Write ERRORS.json, UNAVAILABLE.json, MANIFEST and (with `tarball`) the tarball; return the module's result keys."""
        if self.errors:
            self.write_json("ERRORS.json", self.errors, "collection errors")
        if self.unavailable:
            self.write_json("UNAVAILABLE.json", self.unavailable, "sources not available on this host")
        lines = ["\t".join(str(e[k]).replace("\t", " ") for k in MANIFEST_COLUMNS) for e in self.manifest]
        with open(os.path.join(self.dir, "MANIFEST"), "w") as fh:
            fh.write("\t".join(MANIFEST_COLUMNS) + "\n" + "\n".join(lines) + "\n")
        os.chmod(os.path.join(self.dir, "MANIFEST"), 0o600)
        result = dict(evidence_dir=self.dir, manifest=self.manifest, total_bytes=sum(e["size"] for e in self.manifest))
        if tarball:
            path = os.path.join(self.base, "evidence-%s-%s.tar.gz" % (self.incident_id, self.name))
            with tarfile.open(path, "w:gz") as tar:
                tar.add(self.dir, arcname=self.name)
            digest = sha256_file(path)[0]
            with open(path + ".sha256", "w") as fh:
                fh.write("%s  %s\n" % (digest, os.path.basename(path)))
            os.chmod(path, 0o600)
            result.update(tarball=path, tarball_sha256=digest)
        return result
