#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: evidence_capture
short_description: Collect incident evidence (logs, inspect, host snapshot, DB snapshots) into a tamper-evident bundle
version_added: "0.1.0"
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
  - Recording never blocks remediation. When the incident directory cannot be written (disk full,
    read-only, a symlink in the record), the capture goes to the fallback directory
    C($INCIDENT_FALLBACK_ROOT/<root key>/<incident_id>/evidence/) (default
    C(<tmp>/incident-fallback-<uid>)); when that fails too, nothing is captured
    and the module still succeeds (RV(capture_skipped)). Either way it warns (RV(storage_warnings)).
  - A capture in progress carries an C(INCOMPLETE) file in its directory, removed once the C(MANIFEST)
    and the tarball are complete (a capture killed midway, or cut short by a full disk, keeps it); files
    being written have a C(.partial) suffix and the tarball a C(.tmp) one until they are whole.
  - Logs are read from their end - the container's json-file log when the engine runs on this host and
    the file is readable, else the Engine API with C(tail) - so a log of gigabytes is capped in seconds.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
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
    description:
      - Upper bound on each container log file; the newest part is kept when it is exceeded (also for
        data without line ends). Only about this much of the end of the log is read.
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
capture_skipped:
  description: True when neither the incident directory nor the fallback could take the capture (nothing was collected).
  returned: when skipped
  type: bool
  sample: true
incomplete:
  description: True when the disk failed while the bundle was finished (the capture keeps its C(INCOMPLETE) marker).
  returned: when incomplete
  type: bool
  sample: true
storage_warnings:
  description: What went wrong with the storage (the capture moved to the fallback, was cut short or skipped).
  returned: always
  type: list
  elements: str
  sample: ["evidence written to the fallback /tmp/incident-fallback-0/srv_incidents-1a2b3c4d5e/INC-2026-11-23-001/evidence/..."]
log_reader:
  description: How each container's log was read (its json-file tail, or the Engine API with C(tail)), by container id.
  returned: when logs were collected
  type: dict
  sample: {"3f2a...": "json-file tail of /var/lib/docker/containers/3f2a.../3f2a...-json.log"}
would_collect:
  description: In check mode, what would be collected.
  returned: check mode
  type: list
  elements: dict
  sample: [{item: logs/shop_api_1.log, source: "docker logs shop_api_1 since 2h"}]
"""

import datetime
import os
import re
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import DOCKER_ARGSPEC, DockerClient
from ansible_collections.incident.response.plugins.module_utils.evidence import EvidenceBundle, TailLogs, safe_name
from ansible_collections.incident.response.plugins.module_utils.evidence_sources import (
    container_logs, database_dump, find_containers, host_snapshot, packet_capture, query_snapshots)
from ansible_collections.incident.response.plugins.module_utils.incident import (
    IncidentError, RecordPathError, fallback_dir, fallback_root, locate, parse_iso, validate_id)
from ansible_collections.incident.response.plugins.module_utils.postgres import POSTGRES_ARGSPEC, require_psycopg2

DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


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
    try:
        try:
            incident_id, root, directory = locate(p["incident_id"], p["root"])
        except RecordPathError:  # a symlink where the incident directory should be: open_capture falls back
            incident_id = validate_id(p["incident_id"] or os.environ.get("INCIDENT_ID"))
            root = p["root"] or os.environ.get("INCIDENT_ROOT") or "./incidents"
            directory = os.path.join(os.path.abspath(root), incident_id)
        since = since_epoch(p["since"])
    except (IncidentError, ValueError) as exc:
        module.fail_json(msg=str(exc))
    if p["max_bytes"] < 1024:
        module.fail_json(msg="max_bytes must be at least 1024")
    if p["services"] and not p["project"]:
        module.fail_json(msg="services needs project (the compose project, e.g. shop)")
    dump_in_container = p["pg_dump"] and p["pg_dump_container"] and not module.check_mode
    docker = DockerClient.from_module(module) if p["services"] or p["containers"] or dump_in_container else None
    if p["queries"] and not module.check_mode:
        require_psycopg2(module)

    bundle = EvidenceBundle(directory, incident_id, p["redact"], module.check_mode)
    warnings = []
    if not module.check_mode:
        bundle = open_capture(bundle, root, incident_id, p, module.check_mode, warnings)
        if bundle is None:  # neither the record nor the fallback can take it: skip, loudly, and let remediation go on
            for text in warnings:
                module.warn(text)
            module.exit_json(changed=False, incident_id=incident_id, capture_skipped=True, storage_warnings=warnings,
                             errors=[dict(item="evidence", error=warnings[-1])], unavailable=[])
    if docker is not None:
        docker = TailLogs(docker, p["max_bytes"])  # read only the tail of each log
        for info in find_containers(bundle, docker, p["project"], p["services"], p["containers"]):
            container_logs(bundle, docker, info, since, p["max_bytes"])
    if p["host_snapshot"]:
        host_snapshot(bundle)
    for name, value in p["diagnostics"].items():
        rel, source = "diagnostics/%s.json" % safe_name(name), "diagnostics result %s" % name
        bundle.attempt(rel, source, bundle.write_json, rel, value, source)
    query_snapshots(bundle, p, p["queries"], p["query_row_limit"], p["statement_timeout_ms"])
    if p["pg_dump"]:
        database_dump(bundle, p, p["pg_dump_args"], p["pg_dump_max_bytes"], p["pg_dump_container"], docker)
    if p["tcpdump"]:
        packet_capture(bundle, p["tcpdump_interface"], p["tcpdump_filter"], p["tcpdump_seconds"], p["tcpdump_max_bytes"])

    result = dict(changed=False, incident_id=incident_id, errors=bundle.errors, unavailable=bundle.unavailable,
                  storage_warnings=warnings)
    if module.check_mode:
        result["would_collect"] = bundle.plan
        module.exit_json(**result)
    if docker is not None and docker.used:
        result["log_reader"] = docker.used
    try:
        result.update(bundle.finish(p["tarball"]))
    except (OSError, IncidentError) as exc:
        # the disk filled (or went read-only) during the capture: what was written stays, marked INCOMPLETE
        warnings.append("evidence capture INCOMPLETE in %s (the %s marker stays): %s" % (bundle.dir, bundle.MARKER, exc))
        result.update(evidence_dir=bundle.dir, manifest=bundle.manifest, incomplete=True,
                      total_bytes=sum(e["size"] for e in bundle.manifest))
    for text in warnings:
        module.warn(text)
    result["changed"] = True
    module.exit_json(**result)


def open_capture(bundle, root, incident_id, params, check_mode, warnings):
    """The bundle with its capture directory open: in the incident's record, else (full, read-only, a
    symlink in the way) in the fallback directory (incident.fallback_dir). None, with the reasons in
    ``warnings``, when neither can take it."""
    try:
        bundle.open_dir(params["label"])
        return bundle
    except (OSError, IncidentError) as exc:
        first = exc
    try:
        fallback = fallback_dir(root, incident_id, create=True)
        moved = EvidenceBundle(fallback, incident_id, params["redact"], check_mode)
        moved.open_dir(params["label"])
    except (OSError, IncidentError) as exc:
        warnings.append("evidence NOT captured: cannot write under %s (%s) nor in the fallback %s (%s); "
                        "remediation goes on without it" % (bundle.incident_dir, first, fallback_root(), exc))
        return None
    warnings.append("evidence written to the fallback %s: cannot write under %s (%s); copy it back when the "
                    "incident disk is fixed" % (moved.dir, bundle.incident_dir, first))
    return moved


if __name__ == "__main__":
    main()
