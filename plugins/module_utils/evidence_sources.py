# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The sources evidence_capture collects, each written into an evidence.EvidenceBundle.

A source that fails is entered in the bundle's `errors` (one that does not exist here in `unavailable`)
and the others are still collected; in check mode each source only says what it would collect."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import gzip
import os
import shutil

from ansible_collections.incident.response.plugins.module_utils.diag_host import disks, processes
from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerError
from ansible_collections.incident.response.plugins.module_utils.evidence import (
    LineRedactor, NewestBytes, df_table, process_table, safe_name)
from ansible_collections.incident.response.plugins.module_utils.incident import iso
from ansible_collections.incident.response.plugins.module_utils.pg_dump import run_pg_dump
from ansible_collections.incident.response.plugins.module_utils.postgres import error_text, jsonable, open_connection, where
from ansible_collections.incident.response.plugins.module_utils.redact import clip, redact_text
from ansible_collections.incident.response.plugins.module_utils.stream import stream_to_file

APPLICATION_NAME = "incident.response.evidence_capture"


# -- containers ----------------------------------------------------------------------------------
def find_containers(bundle, client, project, services, names):
    """The containers of the compose `services` of `project` and the containers `names`, each once."""
    found = []
    try:
        for service in services:
            matched = client.containers(project=project, service=service)
            if not matched:
                bundle.errors.append(dict(item="service %s" % service,
                                          error="no container of service %s in project %s" % (service, project)))
            found += matched
        for name in names:
            matched = client.containers(name=name)
            if not matched:
                bundle.errors.append(dict(item="container %s" % name, error="no container named %s" % name))
            found += matched[:1]
    except DockerError as exc:
        bundle.errors.append(dict(item="docker", error=redact_text(str(exc))))
    seen, unique = set(), []
    for info in found:
        if info["Id"] not in seen:
            seen.add(info["Id"])
            unique.append(info)
    return unique


def container_logs(bundle, client, info, since, max_bytes):
    """logs/<name>.log (since epoch `since`, the newest `max_bytes`, redacted line by line) and inspect/<name>.json."""
    name = info["Names"][0].lstrip("/")
    rel, inspect_rel = "logs/%s.log" % safe_name(name), "inspect/%s.json" % safe_name(name)
    source = "docker logs %s since %s (max %d bytes)" % (
        name, iso(datetime.datetime.fromtimestamp(since, datetime.timezone.utc)), max_bytes)
    inspect_source = "docker inspect %s" % name

    def logs():
        tty = bool((client.inspect(info["Id"]).get("Config") or {}).get("Tty"))
        sink, redactor = NewestBytes(bundle.path(rel), max_bytes), LineRedactor(bundle.redact)
        try:
            for _stream, data in client.stream_logs(info["Id"], since=since, tty=tty):
                sink.write(redactor.feed(data))
            sink.write(redactor.flush())
        finally:
            truncated = sink.close()
        bundle.add(rel, source, redacted=bundle.redact, truncated=truncated)

    bundle.attempt(rel, source, logs)
    bundle.attempt(inspect_rel, inspect_source,
                   lambda: bundle.write_json(inspect_rel, client.inspect(info["Id"]), inspect_source))


# -- host ----------------------------------------------------------------------------------------
def host_snapshot(bundle):
    """host/: /proc loadavg, meminfo and uptime, df of the real filesystems, the process list."""
    for name in ("loadavg", "meminfo", "uptime"):
        path, rel = "/proc/%s" % name, "host/%s.txt" % name
        bundle.attempt(rel, path, _copy_text, bundle, path, rel)
    bundle.attempt("host/df.txt", "statvfs of mounted filesystems",
                   lambda: bundle.write_text("host/df.txt", df_table(disks()), "statvfs of /proc/mounts"))
    bundle.attempt("host/processes.txt", "/proc/<pid>/stat, status, cmdline",
                   lambda: bundle.write_text("host/processes.txt", _process_text(bundle.redact), "/proc/<pid>/stat, cmdline"))


def _process_text(redacting):
    """The process table; each command line redacted whole BEFORE the table clips it (a clip first could
    leave a piece of a secret that no rule recognises any more)."""
    procs = processes(cmdline=True)
    if redacting:
        for proc in procs.values():
            if proc.get("cmdline"):
                proc["cmdline"] = redact_text(proc["cmdline"])
    return process_table(procs)


def _copy_text(bundle, path, rel):
    with open(path) as fh:
        bundle.write_text(rel, fh.read(), path)


# -- database ------------------------------------------------------------------------------------
def query_snapshots(bundle, params, queries, row_limit, statement_timeout_ms):
    """db/<name>.json of each read-only query {name: sql} (at most row_limit rows), on the POSTGRES_ARGSPEC `params`."""
    if not queries:
        return
    target = where(params)
    if bundle.check_mode:
        for name, sql in queries.items():
            bundle.plan.append(dict(item="db/%s.json" % safe_name(name), source=redact_text("%s: %s" % (target, sql))))
        return
    conn, err = open_connection(params, readonly=True, statement_timeout_ms=statement_timeout_ms,
                                application_name=APPLICATION_NAME)
    if conn is None:
        bundle.errors.append(dict(item="db", error=redact_text(err)))
        return
    try:
        for name, sql in queries.items():
            rel = "db/%s.json" % safe_name(name)
            try:
                with conn.cursor() as cur:
                    cur.execute(sql)
                    columns = [c[0] for c in cur.description or []]
                    rows = cur.fetchmany(row_limit + 1) if cur.description else []
                conn.rollback()
            except Exception as exc:  # pylint: disable=broad-except
                conn.rollback()
                bundle.errors.append(dict(item=rel, error=redact_text("%s: %s" % (target, error_text(exc)))))
                continue
            truncated = len(rows) > row_limit
            rows = [dict(zip(columns, (jsonable(v) for v in row))) for row in rows[:row_limit]]
            bundle.write_json(rel, dict(query=sql, columns=columns, row_count=len(rows), truncated=truncated, rows=rows),
                              "%s: %s" % (target, clip(" ".join(sql.split()), 200)))
            bundle.manifest[-1]["truncated"] = truncated
    finally:
        conn.close()


def database_dump(bundle, params, extra_args, max_bytes, container=None, client=None):
    """db/pg_dump.sql.gz: pg_dump of the POSTGRES_ARGSPEC `params` database, on this host or in `container`."""
    argv = ["pg_dump", "-h", params["login_host"], "-p", str(params["login_port"]), "-U", params["login_user"],
            "-d", params["login_db"], "--no-password"] + list(extra_args)
    rel = "db/pg_dump.sql.gz"
    source = redact_text("%s%s" % (("docker exec %s " % container) if container else "host ", " ".join(a for a in argv if a)))
    if not container and not shutil.which("pg_dump"):
        reason = "pg_dump is not installed on this host; set pg_dump_container to run it in the database container"
        bundle.unavailable.append(dict(item="pg_dump", reason=reason))
        return

    def dump():
        path = bundle.path(rel)
        try:
            with gzip.open(path, "wb") as out:
                result = run_pg_dump(argv, out, params, container, client, limit=max_bytes)
        except Exception:
            if os.path.exists(path):  # a failed dump leaves no partial file behind
                os.unlink(path)
            raise
        bundle.add(rel, source + (" (truncated at %d bytes)" % max_bytes if result.truncated else ""),
                   truncated=result.truncated)

    bundle.attempt(rel, source, dump)


# -- network -------------------------------------------------------------------------------------
def packet_capture(bundle, interface, pcap_filter, seconds, max_bytes):
    """net/capture.pcap: tcpdump on `interface` for `seconds` (1 to 300), at most max_bytes."""
    binary = shutil.which("tcpdump")
    if not binary:
        bundle.unavailable.append(dict(item="tcpdump", reason="tcpdump is not installed on this host"))
        return
    seconds = min(max(seconds, 1), 300)
    argv = [binary, "-i", interface, "-U", "-n", "-w", "-"] + (pcap_filter.split() if pcap_filter else [])
    rel = "net/capture.pcap"
    source = redact_text("%s for %ds, at most %d bytes" % (" ".join(argv), seconds, max_bytes))

    def capture():
        with open(bundle.path(rel), "wb") as out:
            result = stream_to_file(argv, out, max_bytes, seconds=seconds)
        if result.written == 0 and result.code not in (0, -15, 143):
            os.unlink(bundle.path(rel))
            raise RuntimeError("tcpdump exited %s: %s" % (result.code, redact_text(result.stderr)[-500:]))
        bundle.add(rel, source, truncated=result.truncated)

    bundle.attempt(rel, source, capture)
