#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_maintenance
short_description: VACUUM (ANALYZE) tables, or take an emergency pg_dump with size and checksum
version_added: 0.1.0
description:
  - O(action=vacuum) runs C(VACUUM (ANALYZE\)) on O(tables) (identifiers quoted, never interpolated)
    or on the whole database, and reports dead tuples before and after per table.
  - O(action=dump) writes a C(pg_dump) of O(login_db) to O(dest) (custom format by default), as the
    pre-step of a risky action, and returns its size and SHA-256. C(pg_dump) runs from the controller's
    C(PATH), or inside O(container) through the Docker Engine API (an exec, as C(docker exec)) when given
    (for hosts without the client tools). The password goes through the C(PGPASSWORD) environment variable,
    never the command line. The dump is written to a temporary file and renamed when complete; an existing
    O(dest) is kept unless O(force=true).
  - In check mode it reports what it would do and changes nothing.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.postgres
  - incident.response.actions
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [vacuum, dump]
  tables:
    description: Tables to vacuum (C(name) or C(schema.name)); all of the database when empty.
    type: list
    elements: str
    default: []
  analyze:
    description: Also C(ANALYZE) (refresh planner statistics).
    type: bool
    default: true
  dest:
    description: File to write the dump to (required with O(action=dump)).
    type: path
  format:
    description: C(pg_dump) output format (V(custom) is compressed and restorable table by table).
    type: str
    choices: [custom, plain]
    default: custom
  force:
    description: Overwrite an existing O(dest).
    type: bool
    default: false
  container:
    description:
      - Run C(pg_dump) inside this Docker container (name or id) through the Engine API of O(docker_host);
        O(login_host) and O(login_port) are then as seen from inside the container.
    type: str
  dump_timeout:
    description: Seconds after which C(pg_dump) is stopped (in O(container), its output stream closed) and the partial file removed.
    type: int
    default: 900
"""

EXAMPLES = r"""
- name: Emergency backup before touching the data (runbook, database down / security incident)
  incident.response.postgres_maintenance:
    action: dump
    login_port: 5432
    login_user: shop
    login_password: "{{ incident_postgres.password }}"
    login_db: shop
    dest: "{{ incident_dir }}/shop.dump"
  register: backup

- name: Same, with pg_dump from the database container (the controller has no client tools)
  incident.response.postgres_maintenance:
    action: dump
    container: shop_postgres_1
    login_port: 5432
    login_user: shop
    login_password: "{{ incident_postgres.password }}"
    login_db: shop
    dest: /var/backups/shop.dump

- name: Vacuum the queue tables after a backlog was drained
  incident.response.postgres_maintenance:
    action: vacuum
    tables: [job_queue, public.job_runs]
    login_port: 5432
    login_user: shop
    login_password: "{{ incident_postgres.password }}"
    login_db: shop
"""

RETURN = r"""
tables:
  description: Vacuumed tables with dead tuples before and after (empty for a whole-database vacuum).
  returned: action is vacuum
  type: list
  elements: dict
  sample: [{table: public.job_queue, dead_tuples_before: 950, dead_tuples_after: 0, duration_s: 0.02}]
path:
  description: The dump file.
  returned: action is dump
  type: str
size_bytes:
  description: Size of the dump.
  returned: action is dump and not check mode
  type: int
sha256:
  description: SHA-256 of the dump file.
  returned: action is dump and not check mode
  type: str
method:
  description: Where pg_dump ran, V(host) or V(container).
  returned: action is dump
  type: str
command:
  description: The pg_dump command line (no password in it); with O(container), as run inside it.
  returned: action is dump
  type: list
  elements: str
duration_s:
  description: Wall time of the vacuum or dump.
  returned: when not check mode
  type: float
"""

import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import DOCKER_ARGSPEC, DockerClient, DockerError
from ansible_collections.incident.response.plugins.module_utils.files import sha256_file
from ansible_collections.incident.response.plugins.module_utils.pg_dump import run_pg_dump
from ansible_collections.incident.response.plugins.module_utils.postgres import (
    POSTGRES_ARGSPEC, connect, error_text, where)

try:
    from psycopg2 import sql as pgsql
except ImportError:  # reported by connect() through require_psycopg2
    pgsql = None

DEAD_TUPLES_SQL = "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass"


def vacuum(module):
    p = module.params
    conn = connect(module, autocommit=True, application_name="incident.response.maintenance")
    cur = conn.cursor()
    tables = []
    for name in p["tables"]:
        cur.execute("SELECT n.nspname, c.relname, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = to_regclass(%s)", (name,))
        row = cur.fetchone()
        if row is None:
            module.fail_json(msg="%s: table %s not found, nothing vacuumed" % (where(p), name))
        tables.append(row)
    what = ", ".join("%s.%s" % t[:2] for t in tables) or "database %s" % p["login_db"]
    if module.check_mode:
        module.exit_json(changed=True, msg="would VACUUM%s %s" % (" (ANALYZE)" if p["analyze"] else "", what),
                         tables=[dict(table="%s.%s" % t[:2]) for t in tables])
    command = pgsql.SQL("VACUUM (ANALYZE)" if p["analyze"] else "VACUUM")
    started = time.time()
    report = []
    try:
        if not tables:
            cur.execute(command)
        for schema, table, oid in tables:
            cur.execute(DEAD_TUPLES_SQL, (oid,))
            before = cur.fetchone()[0]
            t0 = time.time()
            cur.execute(pgsql.SQL("{} {}").format(command, pgsql.Identifier(schema, table)))
            cur.execute(DEAD_TUPLES_SQL, (oid,))
            report.append(dict(table="%s.%s" % (schema, table), dead_tuples_before=before,
                               dead_tuples_after=cur.fetchone()[0], duration_s=round(time.time() - t0, 3)))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="%s: VACUUM of %s failed: %s" % (where(p), what, error_text(exc)), tables=report)
    conn.close()
    module.exit_json(changed=True, msg="VACUUM of %s done" % what, tables=report,
                     duration_s=round(time.time() - started, 3))


def dump_command(module):
    """(argv, method): pg_dump on this host, or in the container (the password stays in the environment)."""
    p = module.params
    args = ["--host", p["login_host"], "--port", str(p["login_port"]), "--username", p["login_user"],
            "--dbname", p["login_db"], "--format", p["format"], "--no-password"]
    if p["container"]:
        return ["pg_dump"] + args, "container"
    pg_dump = module.get_bin_path("pg_dump")
    if not pg_dump:
        module.fail_json(msg="pg_dump is not in PATH on this host: install the PostgreSQL client, "
                         "or set container to run it inside the database container")
    return [pg_dump] + args, "host"


def dump(module):
    p = module.params
    dest = os.path.abspath(p["dest"])
    if os.path.exists(dest) and not p["force"]:
        module.fail_json(msg="%s already exists: refusing to overwrite it (set force=true or choose another dest)" % dest)
    argv, method = dump_command(module)
    client = DockerClient.from_module(module) if p["container"] else None
    result = dict(path=dest, method=method, command=argv, format=p["format"])
    if module.check_mode:
        module.exit_json(changed=True, msg="would write a %s pg_dump of %s to %s" % (p["format"], where(p), dest), **result)
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o750)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(dest), dir=parent)
    started = time.time()
    try:
        with os.fdopen(fd, "wb") as out:
            streamed = run_pg_dump(argv, out, p, p["container"], client, seconds=p["dump_timeout"])
        if streamed.timed_out:
            os.unlink(tmp)
            module.fail_json(msg="pg_dump of %s did not finish within %ds; partial file removed" % (where(p), p["dump_timeout"]),
                             **result)
        digest, size = sha256_file(tmp)
        os.chmod(tmp, 0o600)
        os.rename(tmp, dest)
    except (RuntimeError, OSError, DockerError) as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        module.fail_json(msg="dump of %s failed: %s" % (where(p), exc), **result)
    result.update(size_bytes=size, sha256=digest, duration_s=round(time.time() - started, 3))
    module.exit_json(changed=True, msg="dumped %s to %s (%d bytes)" % (where(p), dest, size), **result)


def main():
    argument_spec = dict(
        POSTGRES_ARGSPEC,
        action=dict(type="str", required=True, choices=["vacuum", "dump"]),
        tables=dict(type="list", elements="str", default=[]),
        analyze=dict(type="bool", default=True),
        dest=dict(type="path"),
        format=dict(type="str", choices=["custom", "plain"], default="custom"),
        force=dict(type="bool", default=False),
        container=dict(type="str"),
        dump_timeout=dict(type="int", default=900),
    )
    argument_spec.update(DOCKER_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_if=[["action", "dump", ["dest"]]])
    if module.params["action"] == "vacuum":
        vacuum(module)
    else:
        dump(module)


if __name__ == "__main__":
    main()
