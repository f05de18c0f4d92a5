#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: evidence_capture
short_description: Collect incident evidence (logs, inspect, host snapshot, DB snapshots) into a tamper-evident bundle
version_added: 1.0.0
description:
  - Collects what the runbooks collect before anything is changed, into a new directory
    C(<root>/<incident_id>/evidence/<UTC timestamp>[-label]/) (earlier captures are never overwritten).
  - Container logs are streamed from the Docker Engine API straight to disk, bounded by O(since) and
    O(max_bytes) (the newest O(max_bytes) are kept), never held in memory.
  - Also C(docker inspect) JSON, a host snapshot from C(/proc) (load, memory, disk, processes),
    given diagnostics results, named read-only SQL snapshots, an optional C(pg_dump) (gzip, streamed)
    and an optional bounded packet capture (C(tcpdump), only where it is installed; otherwise a
    recorded "not available" entry).
  - Text evidence is redacted with the same rules as the timeline (passwords, tokens, DSNs,
    Authorization headers, C(KEY_PASSWORD=...) environment entries). A C(pg_dump) and a packet
    capture are raw data and are not redacted (files are mode 0600).
  - Writes a C(MANIFEST) (tab-separated file, size, sha256, collected_at, source, collector) and a
    tarball C(evidence-<incident_id>-<stamp>.tar.gz) with a C(.sha256) file (C(sha256sum -c) format).
  - One failing source (a stopped container, an unreachable database) does not stop the others;
    it is listed in RV(errors) and in C(ERRORS.json) inside the bundle.
  - In check mode nothing is written or queried; RV(would_collect) lists what would be collected.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.actions
  - incident.response.postgres
options:
  incident_id:
    description: Incident to file the evidence under; defaults to env E(INCIDENT_ID) (set by the timeline callback).
    type: str
  root:
    description: Incident root directory; defaults to env E(INCIDENT_ROOT), else C(./incidents).
    type: path
  label:
    description: Short label appended to the capture directory name (letters, digits, C(-), C(_)).
    type: str
  project:
    description: Compose project of O(services).
    type: str
  services:
    description: Compose services whose containers' logs and inspect JSON are collected (needs O(project)).
    type: list
    elements: str
    default: []
  containers:
    description: Containers (names or ids) whose logs and inspect JSON are collected.
    type: list
    elements: str
    default: []
  since:
    description:
      - How far back to collect logs, as a duration (C(90s), C(30m), C(2h), C(1d)) or an ISO 8601 time.
    type: str
    default: 1h
  max_bytes:
    description: Upper bound on each container log file; the newest part is kept when it is exceeded.
    type: int
    default: 5242880
  host_snapshot:
    description: Collect load, memory, disk usage and the process list of the host running the module.
    type: bool
    default: true
  diagnostics:
    description: "Results to keep as evidence, C({name: value}); each becomes C(diagnostics/<name>.json)."
    type: dict
    default: {}
  queries:
    description:
      - "Named read-only SQL snapshots, C({name: sql}); each becomes C(db/<name>.json)."
      - Run in a read-only transaction with O(statement_timeout_ms), at most O(query_row_limit) rows each.
    type: dict
    default: {}
  query_row_limit:
    description: Maximum rows kept per query.
    type: int
    default: 1000
  statement_timeout_ms:
    description: Statement timeout for each query.
    type: int
    default: 15000
  pg_dump:
    description: Also take a C(pg_dump) of O(login_db) (plain SQL, gzip-compressed, streamed to disk).
    type: bool
    default: false
  pg_dump_container:
    description:
      - Run C(pg_dump) inside this container (C(docker exec)); otherwise the host's C(pg_dump) is used.
    type: str
  pg_dump_args:
    description: Extra C(pg_dump) arguments, for example C([--schema-only]) or C([-t, audit_events]).
    type: list
    elements: str
    default: []
  pg_dump_max_bytes:
    description: Stop the dump (and mark it truncated) beyond this many uncompressed bytes.
    type: int
    default: 104857600
  tcpdump:
    description: Also capture packets with C(tcpdump) (only where it is installed and permitted).
    type: bool
    default: false
  tcpdump_interface:
    description: Interface to capture on.
    type: str
    default: any
  tcpdump_filter:
    description: A pcap filter expression, for example C(port 8000).
    type: str
  tcpdump_seconds:
    description: Capture duration (at most 300 seconds).
    type: int
    default: 10
  tcpdump_max_bytes:
    description: Stop the capture beyond this size.
    type: int
    default: 10485760
  redact:
    description: Redact secrets in text evidence. Turn off only for bundles that never leave the host.
    type: bool
    default: true
  tarball:
    description: Write the C(evidence-<id>-<stamp>.tar.gz) bundle and its C(.sha256).
    type: bool
    default: true
notes:
  - Evidence directories are mode 0700 and files 0600; the bundle may still contain business data.
"""

EXAMPLES = r"""
- name: Capture evidence before touching anything
  incident.response.evidence_capture:
    incident_id: "{{ lookup('incident.response.incident_id') }}"
    project: shop
    services: [api, worker, postgres]
    since: 2h
    queries:
      audit_events_2h: "SELECT * FROM audit_events WHERE created_at > now() - interval '2 hours' ORDER BY created_at"
      stuck_sagas: "SELECT id, status, updated_at FROM orders WHERE status = 'RUNNING' AND updated_at < now() - interval '2 hours'"
    login_host: 127.0.0.1
    login_port: 5432
    login_user: shop
    login_password: "{{ incident_postgres.password }}"
    login_db: shop
    diagnostics:
      triage: "{{ triage_result }}"
"""

RETURN = r"""
incident_id:
  description: Incident the evidence was filed under.
  returned: always
  type: str
  sample: INC-2026-11-23-001
evidence_dir:
  description: The capture directory (absolute).
  returned: when written
  type: str
  sample: /srv/incidents/INC-2026-11-23-001/evidence/20261123T170211Z-before-restart
manifest:
  description: One entry per collected file.
  returned: when written
  type: list
  elements: dict
  sample: [{file: logs/shop_api_1.log, size: 5120, sha256: "ab12...", collected_at: "2026-11-23T17:02:11.120Z",
            source: "docker logs shop_api_1 since 2026-11-23T15:02:11Z", collector: "incident.response.evidence_capture root@host",
            redacted: true, truncated: false}]
total_bytes:
  description: Sum of the collected files' sizes.
  returned: when written
  type: int
  sample: 48213
tarball:
  description: Path of the bundle.
  returned: when written and O(tarball=true)
  type: str
  sample: /srv/incidents/INC-2026-11-23-001/evidence/evidence-INC-2026-11-23-001-20261123T170211Z.tar.gz
tarball_sha256:
  description: SHA-256 of the bundle (also in C(<tarball>.sha256)).
  returned: when written and O(tarball=true)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
unavailable:
  description: Requested sources that do not exist here (for example tcpdump not installed).
  returned: always
  type: list
  elements: dict
  sample: [{item: tcpdump, reason: tcpdump is not installed on this host}]
errors:
  description: Sources that failed; the rest was still collected.
  returned: always
  type: list
  elements: dict
  sample: [{item: "db/audit_events_2h", error: "PostgreSQL at 127.0.0.1:5432 (db shop, user shop) unreachable: ..."}]
would_collect:
  description: In check mode, what would be collected.
  returned: check mode
  type: list
  elements: dict
  sample: [{item: logs/shop_api_1.log, source: "docker logs shop_api_1 since 2h"}]
"""

import datetime
import getpass
import gzip
import hashlib
import json
import os
import re
import shutil
import socket
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, DockerClient, DockerError)
from ansible_collections.incident.response.plugins.module_utils.incident import (
    DEFAULT_ROOT, IncidentError, incident_dir, iso, parse_iso, utcnow)
from ansible_collections.incident.response.plugins.module_utils.postgres import (
    POSTGRES_ARGSPEC, error_text, jsonable, open_connection, require_psycopg2, where)
from ansible_collections.incident.response.plugins.module_utils.redact import redact, redact_text
from ansible_collections.incident.response.plugins.module_utils.stream import stream_to_file

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
CHUNK = 65536


def safe_name(name):
    return SAFE_NAME.sub("_", str(name)).strip("._") or "unnamed"


def since_epoch(value, now=None):
    """Duration ('2h', '30m', '90') back from now, or an ISO 8601 time -> epoch seconds."""
    match = DURATION_RE.match(str(value))
    now = now or time.time()
    if match:
        return now - float(match.group(1)) * UNITS[match.group(2)]
    parsed = parse_iso(value)
    if parsed is None:
        raise ValueError("since=%r is neither a duration (90s, 30m, 2h, 1d) nor an ISO 8601 time" % (value,))
    return (parsed - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds()


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
                out.write(b"[evidence_capture: %d older bytes dropped to stay within max_bytes]\n" % self.dropped)
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


class Capture(object):
    def __init__(self, module, incident_id, root):
        self.module = module
        self.params = module.params
        self.incident_id = incident_id
        self.root = root
        self.collector = "incident.response.evidence_capture %s@%s" % (getpass.getuser(), socket.gethostname())
        self.manifest, self.errors, self.unavailable, self.plan = [], [], [], []
        self.dir = None
        self._docker = None

    # -- bookkeeping -------------------------------------------------------------------------
    def docker(self):
        if self._docker is None:
            self._docker = DockerClient.from_module(self.module)
        return self._docker

    def open_dir(self):
        base = os.path.join(incident_dir(self.root, self.incident_id, create=True), "evidence")
        os.makedirs(base, mode=0o700, exist_ok=True)
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        if self.params["label"]:
            stamp += "-" + safe_name(self.params["label"])
        name, n = stamp, 1
        while True:
            try:
                os.mkdir(os.path.join(base, name), 0o700)
                break
            except FileExistsError:
                n += 1
                name = "%s-%d" % (stamp, n)
        self.base, self.name, self.dir = base, name, os.path.join(base, name)

    def path(self, rel):
        full = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(full), mode=0o700, exist_ok=True)
        return full

    def add(self, rel, source, redacted=False, truncated=False):
        full = os.path.join(self.dir, rel)
        os.chmod(full, 0o600)
        digest = hashlib.sha256()
        with open(full, "rb") as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                digest.update(block)
        self.manifest.append(dict(file=rel, size=os.path.getsize(full), sha256=digest.hexdigest(),
                                  collected_at=iso(), source=source, collector=self.collector,
                                  redacted=redacted, truncated=truncated))

    def write_json(self, rel, data, source):
        if self.params["redact"]:
            data = redact(data)
        with open(self.path(rel), "w") as fh:
            json.dump(data, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
        self.add(rel, source, redacted=self.params["redact"])

    def write_text(self, rel, text, source):
        if self.params["redact"]:
            text = redact_text(text)
        with open(self.path(rel), "w") as fh:
            fh.write(text)
        self.add(rel, source, redacted=self.params["redact"])

    def attempt(self, item, source, func, *args):
        if self.module.check_mode:
            self.plan.append(dict(item=item, source=source))
            return
        try:
            func(*args)
        except Exception as exc:  # pylint: disable=broad-except
            self.errors.append(dict(item=item, error=redact_text("%s: %s" % (type(exc).__name__, exc))))

    # -- containers --------------------------------------------------------------------------
    def containers(self):
        found, p = [], self.params
        if p["services"] and not p["project"]:
            self.module.fail_json(msg="services needs project (the compose project, e.g. shop)")
        try:
            for service in p["services"]:
                matched = self.docker().containers(project=p["project"], service=service)
                if not matched:
                    self.errors.append(dict(item="service %s" % service,
                                            error="no container of service %s in project %s" % (service, p["project"])))
                found += matched
            for name in p["containers"]:
                matched = self.docker().containers(name=name)
                if not matched:
                    self.errors.append(dict(item="container %s" % name, error="no container named %s" % name))
                found += matched[:1]
        except DockerError as exc:
            self.errors.append(dict(item="docker", error=str(exc)))
        seen, unique = set(), []
        for info in found:
            if info["Id"] not in seen:
                seen.add(info["Id"])
                unique.append(info)
        return unique

    def container_logs(self, info, since):
        name = info["Names"][0].lstrip("/")
        rel = "logs/%s.log" % safe_name(name)
        source = "docker logs %s since %s (max %d bytes)" % (name, iso(datetime.datetime.fromtimestamp(
            since, datetime.timezone.utc)), self.params["max_bytes"])
        inspect_source = "docker inspect %s" % name

        def logs():
            tty = bool((self.docker().inspect(info["Id"]).get("Config") or {}).get("Tty"))
            sink, redactor = NewestBytes(self.path(rel), self.params["max_bytes"]), LineRedactor(self.params["redact"])
            try:
                for _stream, data in self.docker().stream_logs(info["Id"], since=since, tty=tty):
                    sink.write(redactor.feed(data))
                sink.write(redactor.flush())
            finally:
                truncated = sink.close()
            self.add(rel, source, redacted=self.params["redact"], truncated=truncated)

        self.attempt(rel, source, logs)
        self.attempt("inspect/%s.json" % safe_name(name), inspect_source,
                     lambda: self.write_json("inspect/%s.json" % safe_name(name), self.docker().inspect(info["Id"]),
                                             inspect_source))

    # -- host --------------------------------------------------------------------------------
    def host_snapshot(self):
        for name in ("loadavg", "meminfo", "uptime"):
            path = "/proc/%s" % name
            self.attempt("host/%s.txt" % name, path, self._copy_proc, path, "host/%s.txt" % name)
        self.attempt("host/df.txt", "statvfs of mounted filesystems", self._df)
        self.attempt("host/processes.txt", "/proc/<pid>/stat, status, cmdline", self._processes)

    def _copy_proc(self, path, rel):
        with open(path) as fh:
            self.write_text(rel, fh.read(), path)

    def _df(self):
        rows = ["%-40s %12s %12s %12s %5s" % ("mount", "size_kb", "used_kb", "avail_kb", "use%")]
        seen = set()
        with open("/proc/mounts") as fh:
            for line in fh:
                dev, mount, fstype = line.split()[:3]
                if fstype in ("proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "debugfs", "tracefs",
                              "securityfs", "pstore", "bpf", "configfs", "fusectl", "nsfs", "autofs") or mount in seen:
                    continue
                seen.add(mount)
                try:
                    st = os.statvfs(mount)
                except OSError:
                    continue
                size, avail = st.f_blocks * st.f_frsize // 1024, st.f_bavail * st.f_frsize // 1024
                used = size - st.f_bfree * st.f_frsize // 1024
                pct = "%d%%" % (100 * used // (used + avail)) if used + avail else "-"
                rows.append("%-40s %12d %12d %12d %5s  %s %s" % (mount, size, used, avail, pct, dev, fstype))
        self.write_text("host/df.txt", "\n".join(rows) + "\n", "statvfs of /proc/mounts")

    def _processes(self):
        rows = ["%7s %7s %1s %10s %s" % ("pid", "ppid", "S", "rss_kb", "command")]
        for pid in sorted((int(p) for p in os.listdir("/proc") if p.isdigit())):
            try:
                with open("/proc/%d/stat" % pid) as fh:
                    stat = fh.read()
                with open("/proc/%d/cmdline" % pid, "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            except OSError:
                continue
            comm_end = stat.rfind(")")
            fields = stat[comm_end + 2:].split()
            rss_kb = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
            rows.append("%7d %7s %1s %10d %s" % (pid, fields[1], fields[0], rss_kb,
                                                 (cmd or "[%s]" % stat[stat.find("(") + 1:comm_end])[:300]))
        self.write_text("host/processes.txt", "\n".join(rows) + "\n", "/proc/<pid>/stat, cmdline")

    # -- database ----------------------------------------------------------------------------
    def queries(self):
        p = self.params
        if not p["queries"]:
            return
        target = where(p)
        if self.module.check_mode:
            for name, sql in p["queries"].items():
                self.plan.append(dict(item="db/%s.json" % safe_name(name), source="%s: %s" % (target, sql)))
            return
        require_psycopg2(self.module)
        conn, err = open_connection(p, readonly=True, statement_timeout_ms=p["statement_timeout_ms"],
                                    application_name="incident.response.evidence_capture")
        if conn is None:
            self.errors.append(dict(item="db", error=err))
            return
        try:
            for name, sql in p["queries"].items():
                rel = "db/%s.json" % safe_name(name)
                try:
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        columns = [c[0] for c in cur.description or []]
                        rows = cur.fetchmany(p["query_row_limit"] + 1) if cur.description else []
                    conn.rollback()
                except Exception as exc:  # pylint: disable=broad-except
                    conn.rollback()
                    self.errors.append(dict(item=rel, error="%s: %s" % (target, error_text(exc))))
                    continue
                truncated = len(rows) > p["query_row_limit"]
                rows = [dict(zip(columns, (jsonable(v) for v in row))) for row in rows[:p["query_row_limit"]]]
                self.write_json(rel, dict(query=sql, columns=columns, row_count=len(rows), truncated=truncated,
                                          rows=rows), "%s: %s" % (target, " ".join(sql.split())[:200]))
                self.manifest[-1]["truncated"] = truncated
        finally:
            conn.close()

    def pg_dump(self):
        p = self.params
        argv = ["pg_dump", "-h", p["login_host"], "-p", str(p["login_port"]), "-U", p["login_user"],
                "-d", p["login_db"], "--no-password"] + list(p["pg_dump_args"])
        env = {"PGPASSWORD": p["login_password"]} if p["login_password"] else {}
        rel = "db/pg_dump.sql.gz"
        where_ = ("docker exec %s " % p["pg_dump_container"]) if p["pg_dump_container"] else "host "
        source = "%s%s" % (where_, " ".join(a for a in argv if a))
        if not p["pg_dump_container"] and not shutil.which("pg_dump"):
            reason = "pg_dump is not installed on this host; set pg_dump_container to run it in the database container"
            self.unavailable.append(dict(item="pg_dump", reason=reason))
            return
        self.attempt(rel, source, self._pg_dump, argv, env, rel, source)

    def _pg_dump(self, argv, env, rel, source):
        limit, written, truncated = self.params["pg_dump_max_bytes"], 0, False
        stderr = b""
        with gzip.open(self.path(rel), "wb") as out:
            if self.params["pg_dump_container"]:
                exec_id, frames = self.docker().exec_stream(self.params["pg_dump_container"], argv, env=env)
                for stream, data in frames:
                    if stream == 2:
                        stderr = (stderr + data)[-2000:]
                        continue
                    if written + len(data) > limit:
                        truncated = True
                        break
                    out.write(data)
                    written += len(data)
                code = None if truncated else self.docker().exec_exit_code(exec_id)
            else:
                written, truncated, code, stderr = stream_to_file(argv, out, limit, env=env)
        if not truncated and code != 0:
            os.unlink(self.path(rel))
            if isinstance(stderr, bytes):
                stderr = stderr.decode("utf-8", "replace").strip()
            raise RuntimeError("pg_dump exited %s: %s" % (code, stderr))
        self.add(rel, source + (" (truncated at %d bytes)" % limit if truncated else ""), truncated=truncated)

    # -- network -----------------------------------------------------------------------------
    def tcpdump(self):
        p = self.params
        binary = shutil.which("tcpdump")
        if not binary:
            self.unavailable.append(dict(item="tcpdump", reason="tcpdump is not installed on this host"))
            return
        seconds = min(max(p["tcpdump_seconds"], 1), 300)
        argv = [binary, "-i", p["tcpdump_interface"], "-U", "-n", "-w", "-"]
        if p["tcpdump_filter"]:
            argv += p["tcpdump_filter"].split()
        rel = "net/capture.pcap"
        source = "%s for %ds, at most %d bytes" % (" ".join(argv), seconds, p["tcpdump_max_bytes"])
        self.attempt(rel, source, self._tcpdump, argv, seconds, rel, source)

    def _tcpdump(self, argv, seconds, rel, source):
        with open(self.path(rel), "wb") as out:
            written, truncated, code, stderr = stream_to_file(argv, out, self.params["tcpdump_max_bytes"], seconds=seconds)
        if written == 0 and code not in (0, -15, 143):
            os.unlink(self.path(rel))
            raise RuntimeError("tcpdump exited %s: %s" % (code, stderr[-500:]))
        self.add(rel, source, truncated=truncated)

    # -- finish ------------------------------------------------------------------------------
    def finish(self):
        if self.errors:
            self.write_json("ERRORS.json", self.errors, "collection errors")
        if self.unavailable:
            self.write_json("UNAVAILABLE.json", self.unavailable, "sources not available on this host")
        header = "file\tsize\tsha256\tcollected_at\tsource\tcollector\n"
        columns = ("file", "size", "sha256", "collected_at", "source", "collector")
        lines = ["\t".join(str(e[k]).replace("\t", " ") for k in columns) for e in self.manifest]
        with open(os.path.join(self.dir, "MANIFEST"), "w") as fh:
            fh.write(header + "\n".join(lines) + "\n")
        os.chmod(os.path.join(self.dir, "MANIFEST"), 0o600)
        result = dict(evidence_dir=self.dir, manifest=self.manifest,
                      total_bytes=sum(e["size"] for e in self.manifest))
        if self.params["tarball"]:
            tarball = os.path.join(self.base, "evidence-%s-%s.tar.gz" % (self.incident_id, self.name))
            with tarfile.open(tarball, "w:gz") as tar:
                tar.add(self.dir, arcname=self.name)
            digest = hashlib.sha256()
            with open(tarball, "rb") as fh:
                for block in iter(lambda: fh.read(CHUNK), b""):
                    digest.update(block)
            with open(tarball + ".sha256", "w") as fh:
                fh.write("%s  %s\n" % (digest.hexdigest(), os.path.basename(tarball)))
            os.chmod(tarball, 0o600)
            result.update(tarball=tarball, tarball_sha256=digest.hexdigest())
        return result


def main():
    argument_spec = dict(
        incident_id=dict(type="str"),
        root=dict(type="path"),
        label=dict(type="str"),
        project=dict(type="str"),
        services=dict(type="list", elements="str", default=[]),
        containers=dict(type="list", elements="str", default=[]),
        since=dict(type="str", default="1h"),
        max_bytes=dict(type="int", default=5 * 1024 * 1024),
        host_snapshot=dict(type="bool", default=True),
        diagnostics=dict(type="dict", default={}),
        queries=dict(type="dict", default={}),
        query_row_limit=dict(type="int", default=1000),
        statement_timeout_ms=dict(type="int", default=15000),
        pg_dump=dict(type="bool", default=False),
        pg_dump_container=dict(type="str"),
        pg_dump_args=dict(type="list", elements="str", default=[]),
        pg_dump_max_bytes=dict(type="int", default=100 * 1024 * 1024),
        tcpdump=dict(type="bool", default=False),
        tcpdump_interface=dict(type="str", default="any"),
        tcpdump_filter=dict(type="str"),
        tcpdump_seconds=dict(type="int", default=10),
        tcpdump_max_bytes=dict(type="int", default=10 * 1024 * 1024),
        redact=dict(type="bool", default=True),
        tarball=dict(type="bool", default=True),
    )
    argument_spec.update(DOCKER_ARGSPEC)
    argument_spec.update(POSTGRES_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    incident_id = p["incident_id"] or os.environ.get("INCIDENT_ID")
    root = p["root"] or os.environ.get("INCIDENT_ROOT") or DEFAULT_ROOT
    if not incident_id:
        module.fail_json(msg="no incident id: pass incident_id (lookup('incident.response.incident_id')) "
                             "or enable the incident.response.timeline callback")
    try:
        incident_dir(root, incident_id)
        since = since_epoch(p["since"])
    except (IncidentError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    if p["max_bytes"] < 1024:
        module.fail_json(msg="max_bytes must be at least 1024")

    cap = Capture(module, incident_id, root)
    if not module.check_mode:
        try:
            cap.open_dir()
        except OSError as exc:
            module.fail_json(msg="cannot create the evidence directory under %s: %s" % (root, exc))
    for info in cap.containers():
        cap.container_logs(info, since)
    if p["host_snapshot"]:
        cap.host_snapshot()
    for name, value in p["diagnostics"].items():
        rel = "diagnostics/%s.json" % safe_name(name)
        cap.attempt(rel, "diagnostics result %s" % name, cap.write_json, rel, value, "diagnostics result %s" % name)
    cap.queries()
    if p["pg_dump"]:
        cap.pg_dump()
    if p["tcpdump"]:
        cap.tcpdump()

    result = dict(changed=False, incident_id=incident_id, errors=cap.errors, unavailable=cap.unavailable)
    if module.check_mode:
        result["would_collect"] = cap.plan
        module.exit_json(**result)
    try:
        result.update(cap.finish())
    except OSError as exc:
        module.fail_json(msg="cannot write the evidence bundle in %s: %s" % (cap.dir, exc), **result)
    result["changed"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
