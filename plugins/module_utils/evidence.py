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

import datetime
import getpass
import json
import os
import re
import shutil
import socket
import tarfile

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    from urllib import quote  # type: ignore

from ansible_collections.incident.response.plugins.module_utils.files import sha256_file
from ansible_collections.incident.response.plugins.module_utils.docker_api import demux_stream
from ansible_collections.incident.response.plugins.module_utils.incident import (
    check_dir, iso, nofollow_opener, open_regular, utcnow)
from ansible_collections.incident.response.plugins.module_utils.redact import StreamRedactor, redact, redact_text

SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
CHUNK = 65536
MANIFEST_COLUMNS = ("file", "size", "sha256", "collected_at", "source", "collector")


def safe_name(name):
    """A file name part from any text (no path separators, no leading dots)."""
    return SAFE_NAME.sub("_", str(name)).strip("._") or "unnamed"


class LineRedactor(object):
    """Feed bytes, get redacted bytes back (redact.StreamRedactor: cut at line ends, a private-key block held
    across chunks, the run's known secret values and the detectors; tens to hundreds of MB/s)."""

    def __init__(self, enabled, values=None):
        self.enabled = enabled
        self.stream = StreamRedactor(values) if enabled else None

    def feed(self, data):
        if not self.enabled:
            return data
        return self.stream.feed(data)

    def flush(self):
        return self.stream.flush() if self.enabled else b""

    @property
    def pending(self):
        return self.stream.pending if self.enabled else b""


class NewestBytes(object):
    """Keep the newest max_bytes of a stream on disk: a ring of SEGMENTS + 1 files of max_bytes / SEGMENTS each.

    While it runs, the data is in ``<path>.partial.seg<N>`` (so a capture killed midway is visibly partial);
    close() assembles ``<path>.partial`` from the newest max_bytes and renames it to ``path``. The result is
    at most max_bytes plus the one-line note (the partial first line is dropped only when a line end is
    near its start, so data without newlines keeps its whole cap)."""

    NOTE = b"[evidence_capture: %d older bytes dropped to stay within max_bytes]\n"
    LINE_SEARCH = 4096  # how far into the kept data a line end is looked for
    SEGMENTS = 4

    def __init__(self, path, max_bytes):
        self.path, self.max_bytes = path, max(max_bytes, 1)
        self.seg_size = max(self.max_bytes // self.SEGMENTS, 1)
        self.partial = path + ".partial"
        self.number, self.dropped = 0, 0
        self.segments = [self._segment(0)]
        self.fh = open(self.segments[0], "wb", opener=_new_file)
        self.size = 0

    def _segment(self, number):
        return "%s.seg%d" % (self.partial, number)

    def write(self, data):
        while data:
            room = self.seg_size - self.size
            if room <= 0:
                self._rotate()
                continue
            self.fh.write(data[:room])
            self.size += len(data[:room])
            data = data[room:]

    def _rotate(self):
        self.fh.close()
        self.number += 1
        self.segments.append(self._segment(self.number))
        if len(self.segments) > self.SEGMENTS + 1:
            oldest = self.segments.pop(0)
            self.dropped += os.path.getsize(oldest)
            os.unlink(oldest)
        self.fh = open(self.segments[-1], "wb", opener=_new_file)
        self.size = 0

    def close(self):
        """Assemble the output file; returns True when older bytes were dropped."""
        self.fh.close()
        sizes = [os.path.getsize(seg) for seg in self.segments]
        skip = max(sum(sizes) - self.max_bytes, 0)
        if skip or self.dropped:
            skip += len(self.NOTE % (self.dropped + skip + self.LINE_SEARCH + 999999)) + 1  # room for the note: <= max_bytes
        with open(self.partial, "wb", opener=_new_file) as out:
            first = True
            for seg, size in zip(self.segments, sizes):
                if skip >= size:
                    skip -= size
                    self.dropped += size
                    continue
                with open(seg, "rb") as fh:
                    if first and (skip or self.dropped):
                        fh.seek(skip)
                        self.dropped += skip
                        head = fh.read(self.LINE_SEARCH)
                        cut = head.find(b"\n") + 1  # 0: no line end near the start, keep it all
                        self.dropped += cut
                        out.write(self.NOTE % self.dropped)
                        out.write(head[cut:])
                    first, skip = False, 0
                    shutil.copyfileobj(fh, out, CHUNK)
        os.replace(self.partial, self.path)
        for seg in self.segments:
            if os.path.exists(seg):
                os.unlink(seg)
        return bool(self.dropped)


def _new_file(path, flags):
    """opener for evidence files: never through a symlink, never a FIFO, 0600."""
    return nofollow_opener(path, flags | os.O_TRUNC)


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
    attempt() lists what would be collected in `plan`.

    The capture directory holds an ``INCOMPLETE`` marker from open_dir() until finish() has written the
    MANIFEST and the tarball: a capture killed midway (or stopped by a full disk) says so. The tarball is
    written as ``.tar.gz.tmp`` and renamed when whole. No path of the bundle is followed through a symlink."""

    MARKER = "INCOMPLETE"

    def __init__(self, directory, incident_id, redact_text_files=True, check_mode=False,
                 tool="incident.response.evidence_capture"):
        self.incident_dir, self.incident_id = directory, incident_id
        self.redact, self.check_mode = redact_text_files, check_mode
        self.collector = "%s %s@%s" % (tool, getpass.getuser(), socket.gethostname())
        self.manifest, self.errors, self.unavailable, self.plan = [], [], [], []
        self.base = self.name = self.dir = None

    def open_dir(self, label=None):
        """Create evidence/<UTC stamp>[-label], or -2, -3... when a capture of the same second exists, with
        its INCOMPLETE marker (so a directory that cannot take a small file fails here, before collecting)."""
        check_dir(self.incident_dir, create=True)
        base = check_dir(os.path.join(self.incident_dir, "evidence"), create=True, mode=0o700)
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
        with open(os.path.join(self.dir, self.MARKER), "w", opener=_new_file) as fh:
            fh.write("capture started %s by %s (pid %d); this marker is removed when the MANIFEST and the tarball are "
                     "complete\n" % (iso(), self.collector, os.getpid()))

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

    def _write_whole(self, rel, text):
        """Write text as rel.partial, then rename it: a file under its final name is complete."""
        full = self.path(rel)
        with open(full + ".partial", "w", opener=_new_file) as fh:
            fh.write(text)
        os.replace(full + ".partial", full)

    def write_json(self, rel, data, source):
        if self.redact:
            data = redact(data)
        self._write_whole(rel, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
        self.add(rel, source, redacted=self.redact)

    def write_text(self, rel, text, source):
        if self.redact:
            text = redact_text(text)
        self._write_whole(rel, text)
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
        """Write ERRORS.json, UNAVAILABLE.json, MANIFEST and (with `tarball`) the tarball; return the module's result keys.
        The INCOMPLETE marker goes last (it is never in the tarball)."""
        if self.errors:
            self.write_json("ERRORS.json", self.errors, "collection errors")
        if self.unavailable:
            self.write_json("UNAVAILABLE.json", self.unavailable, "sources not available on this host")
        lines = ["\t".join(str(e[k]).replace("\t", " ") for k in MANIFEST_COLUMNS) for e in self.manifest]
        self._write_whole("MANIFEST", "\t".join(MANIFEST_COLUMNS) + "\n" + "\n".join(lines) + "\n")
        os.chmod(os.path.join(self.dir, "MANIFEST"), 0o600)
        result = dict(evidence_dir=self.dir, manifest=self.manifest, total_bytes=sum(e["size"] for e in self.manifest))
        marker = os.path.join(self.dir, self.MARKER)
        if tarball:
            path = os.path.join(self.base, "evidence-%s-%s.tar.gz" % (self.incident_id, self.name))
            tmp = path + ".tmp"

            def skip_marker(info):
                return None if info.name == "%s/%s" % (self.name, self.MARKER) else info

            try:
                with open(tmp, "wb", opener=_new_file) as raw:
                    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                        tar.add(self.dir, arcname=self.name, filter=skip_marker)
                    raw.flush()
                    os.fsync(raw.fileno())
                os.replace(tmp, path)
            except BaseException:
                if os.path.lexists(tmp):
                    os.unlink(tmp)
                raise
            digest = sha256_file(path)[0]
            with open(path + ".sha256", "w", opener=_new_file) as fh:
                fh.write("%s  %s\n" % (digest, os.path.basename(path)))
            os.chmod(path, 0o600)
            result.update(tarball=path, tarball_sha256=digest)
        os.unlink(marker)
        return result


# -- container logs: read only the tail (a 2 GB log is capped in seconds, not streamed whole) ---------
TAIL_LINE_GUESS = 32  # bytes per log line assumed when asking the Engine API for `tail` lines


class TailLogs(object):
    """A docker_api.DockerClient whose stream_logs() reads only about the newest ``max_bytes`` of a log:

    - from the container's json-file log when the engine runs here and the file is readable (a seek to
      the end, then a JSON line parse of the window), the fastest way;
    - else through the Engine API with ``tail=<lines>`` (max_bytes / TAIL_LINE_GUESS lines) and ``since``.

    ``used`` says which, per container id. Everything else is the wrapped client's."""

    def __init__(self, client, max_bytes, use_file=True):
        self._client, self.max_bytes, self.used, self.use_file = client, max_bytes, {}, use_file

    def __getattr__(self, name):
        return getattr(self._client, name)

    def stream_logs(self, container_id, since=None, timestamps=True, tty=False):
        info = self._client.inspect(container_id)
        path = info.get("LogPath") or ""
        kind = ((info.get("HostConfig") or {}).get("LogConfig") or {}).get("Type")
        if self.use_file and kind == "json-file" and path and os.path.isfile(path) and os.access(path, os.R_OK):
            self.used[container_id] = "json-file tail of %s" % path
            return json_log_tail(path, self.max_bytes, since, timestamps)
        lines = max(self.max_bytes // TAIL_LINE_GUESS, 100)
        self.used[container_id] = "engine API tail=%d" % lines
        query = {"stdout": "1", "stderr": "1", "timestamps": "1" if timestamps else "0", "tail": str(lines)}
        if since:
            query["since"] = str(int(since))
        chunks = self._client.stream_raw("GET", "/containers/%s/logs" % quote(container_id), query)
        return ((0, c) for c in chunks) if tty else demux_stream(chunks)


def json_log_tail(path, max_bytes, since=None, timestamps=True):
    """(stream, bytes) frames of the newest entries of a Docker json-file log: a window of the file's end
    big enough for ~max_bytes of log text (estimated from the JSON overhead of its last 64 KiB), entries
    before epoch ``since`` skipped. Reads at most a few times max_bytes whatever the file's size."""
    fd = open_regular(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        sample_at = max(0, size - CHUNK)
        fh.seek(sample_at)
        sample = fh.read(CHUNK)
        text = sum(len(_entry(line)[1]) for line in sample.splitlines()[1:] if line) or 1
        ratio = min(max(len(sample) / float(text), 1.0), 64.0)
        start = max(0, size - int(max_bytes * ratio * 1.25) - CHUNK)
        fh.seek(start)
        if start:
            fh.readline()  # the partial first entry
        since_text = None
        if since:
            since_text = datetime.datetime.fromtimestamp(since, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        for line in fh:
            stamp, data, stream = _entry(line)
            if not data or (since_text and stamp and stamp[:19] < since_text):
                continue
            if timestamps and stamp:
                data = stamp.encode("ascii", "replace") + b" " + data
            yield (2 if stream == "stderr" else 1), data


def _entry(line):
    """(time, log bytes, stream) of one json-file line; ("", b"", "") for a torn or foreign line."""
    try:
        entry = json.loads(line)
        return entry.get("time") or "", (entry.get("log") or "").encode("utf-8", "replace"), entry.get("stream") or ""
    except (ValueError, AttributeError):
        return "", b"", ""
