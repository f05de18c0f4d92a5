#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_restore_drill
short_description: Prove a pg_dump restorable - restore it into a scratch database, check it, drop it
version_added: "0.1.0"
description:
  - The runbooks' "restore from backup" (001, 004) made safe to run during an incident. The dump O(dump) (the
    emergency backup of M(incident.response.postgres_maintenance), or the evidence's C(db/pg_dump.sql.gz)) is
    restored into a new scratch database C(<login_db>_drill_<id>) on the same server, the application's checks
    run against the restored copy, and the scratch database is dropped again, also when the restore or a check
    failed. RV(passed) says whether the backup is usable.
  - It never restores into the live database. A target equal to O(login_db) (or to O(maintenance_db), C(postgres),
    C(template0), C(template1)), or whose name does not contain C(_drill_), is refused, and so is a scratch
    database that already exists (it is never overwritten nor dropped). Restoring over the live database stays
    with a human; this module has no option for it.
  - Archives (C(pg_dump -Fc), the default of M(incident.response.postgres_maintenance)) are restored with
    C(pg_restore --no-owner --no-privileges --exit-on-error), plain SQL (also gzip-compressed) with
    C(psql -v ON_ERROR_STOP=1); the first error fails the drill. They run on this host, or in O(container) through
    the Docker Engine API (the dump is uploaded into the container's C(/tmp) and removed afterwards), as the
    dump itself was taken. The password goes through E(PGPASSWORD), never the command line.
  - Checks on the restored copy - every table of the live database is there (RV(missing_tables) fails the drill),
    the row count of each restored table next to the live one's estimate, and O(checks), the inventory's SQL
    checks (C(sql) returning one number, with C(min) and/or C(max)).
  - The login role needs C(CREATEDB) and whatever the dump creates (extensions usually need a superuser).
  - O(report) receives the result as JSON (for the incident directory). Check mode validates the dump and the
    target and reports the plan; it creates nothing.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.postgres
  - incident.response.actions
options:
  dump:
    description: The dump file to prove (custom archive, plain SQL, or gzip-compressed plain SQL; detected from its content).
    type: path
    required: true
  drill_id:
    description: Identifier in the scratch database's name C(<login_db>_drill_<drill_id>). Default the UTC time and the process id.
    type: str
  scratch_db:
    description: Name of the scratch database instead of the generated one; it must contain C(_drill_) and not exist.
    type: str
  maintenance_db:
    description: Database connected to for C(CREATE DATABASE) and C(DROP DATABASE).
    type: str
    default: postgres
  checks:
    description:
      - SQL checks run against the restored copy, C({name - {sql, min, max, description}}); C(sql) returns one number.
        A check out of its bounds fails the drill. The inventory's integrity checks (for example the verify role's)
        fit as they are.
    type: dict
    default: {}
  compare_tables:
    description: Check that every table of the live database was restored, and report row counts.
    type: bool
    default: true
  container:
    description:
      - Run C(pg_restore) / C(psql) inside this Docker container (name or id) through the Engine API of O(docker_host)
        (when the controller has no client tools; O(login_host) and O(login_port) are then as seen from inside it).
    type: str
  restore_timeout:
    description: Seconds the restore may take; then it fails (and the scratch database is dropped).
    type: int
    default: 900
  statement_timeout:
    description: Milliseconds each check query may take.
    type: int
    default: 30000
  report:
    description: File to write the result to as JSON (for example C(<incident dir>/restore-drill.json)).
    type: path
seealso:
  - module: incident.response.postgres_maintenance
"""

EXAMPLES = r"""
- name: Take the emergency backup
  incident.response.postgres_maintenance:
    action: dump
    login_user: postgres
    login_password: "{{ pg_admin_password }}"
    login_db: shop
    dest: "{{ incident_dir }}/emergency-backup.dump"
  register: backup

- name: Prove it restorable (scratch database shop_drill_<id>, dropped afterwards)
  incident.response.postgres_restore_drill:
    dump: "{{ backup.path }}"
    login_user: postgres
    login_password: "{{ pg_admin_password }}"
    login_db: shop
    checks:
      orders_present: {sql: "SELECT count(*) FROM orders", min: 1}
    report: "{{ incident_dir }}/restore-drill.json"
  register: drill
"""

RETURN = r"""
passed:
  description: Whether the dump restored without error, every live table is in it and every check passed.
  returned: when not check mode
  type: bool
scratch_db:
  description: The scratch database restored into (and dropped).
  returned: always
  type: str
dropped:
  description: Whether the scratch database is gone at the end (null in check mode, false only if the drop failed).
  returned: always
  type: bool
format:
  description: The dump's format, V(custom), V(plain) or V(plain-gzip).
  returned: always
  type: str
command:
  description: The restore command (no password in it).
  returned: always
  type: list
  elements: str
restore_s:
  description: Seconds the restore took.
  returned: when the restore ran
  type: float
checks:
  description: Result of each check on the restored copy - C(name), C(value), C(ok), C(min), C(max), C(description).
  returned: when the restore succeeded
  type: list
  elements: dict
tables:
  description: Per table of the restored copy, C(table), C(restored_rows) (exact) and C(live_rows) (the live
    database's estimate, C(pg_stat_user_tables.n_live_tup)).
  returned: when the restore succeeded and O(compare_tables)
  type: list
  elements: dict
missing_tables:
  description: Tables of the live database missing from the restored copy.
  returned: when the restore succeeded and O(compare_tables)
  type: list
  elements: str
errors:
  description: What failed (restore error output, failed checks, missing tables, a failed drop).
  returned: always
  type: list
  elements: str
report:
  description: The JSON report written (O(report)).
  returned: when O(report) is set and not check mode
  type: str
duration_s:
  description: Seconds from creating the scratch database to dropping it.
  returned: when not check mode
  type: float
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import DOCKER_ARGSPEC, DockerClient, DockerError
from ansible_collections.incident.response.plugins.module_utils.postgres import (
    POSTGRES_ARGSPEC, error_text, open_connection, require_psycopg2, where)
from ansible_collections.incident.response.plugins.module_utils.restore_drill import (
    CUSTOM, PLAIN_GZ, DrillError, dump_format, evaluate, refuse_target, restore_argv, run_restore, scratch_name, tar_of)

try:
    from psycopg2 import sql as pgsql
except ImportError:  # reported by require_psycopg2
    pgsql = None

APP = "incident.response.restore_drill"
TABLES_SQL = ("SELECT schemaname || '.' || relname, n_live_tup FROM pg_stat_user_tables "
              "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
PROTECTED = ("postgres", "template0", "template1")


def connect_to(module, database, autocommit=True, readonly=False):
    params = dict(module.params, login_db=database)
    conn, err = open_connection(params, autocommit=autocommit, readonly=readonly,
                                statement_timeout_ms=module.params["statement_timeout"], application_name=APP)
    if conn is None:
        raise DrillError(err)
    return conn


def exists(conn, name):
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        return cur.fetchone() is not None


def drop(conn, name):
    """DROP DATABASE, ending any session still in it. Returns an error text or None."""
    try:
        with conn.cursor() as cur:
            if conn.server_version >= 130000:
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name)))
            else:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
                cur.execute(pgsql.SQL("DROP DATABASE IF EXISTS {}").format(pgsql.Identifier(name)))
        return None if not exists(conn, name) else "%s still exists after DROP DATABASE" % name
    except Exception as exc:  # pylint: disable=broad-except
        return "dropping %s failed: %s" % (name, error_text(exc))


class Upload(object):
    """The dump copied into the container's /tmp (a gzip decompressed first: psql reads plain SQL), removed at the end."""

    def __init__(self, client, container, path, fmt, scratch):
        self.client, self.container = client, container
        self.path = self.path_for(scratch, fmt)
        self.name = os.path.basename(self.path)
        self.fmt = fmt
        self.local = path

    @staticmethod
    def path_for(scratch, fmt):
        return "/tmp/incident-restore-drill-%s.%s" % (scratch, "dump" if fmt == CUSTOM else "sql")

    def __enter__(self):
        source, tmp = self.local, None
        if self.fmt == PLAIN_GZ:
            import gzip  # pylint: disable=import-outside-toplevel
            import shutil  # pylint: disable=import-outside-toplevel
            import tempfile  # pylint: disable=import-outside-toplevel
            fd, tmp = tempfile.mkstemp(suffix=".sql")
            try:
                with os.fdopen(fd, "wb") as out, gzip.open(self.local, "rb") as src:
                    shutil.copyfileobj(src, out)
            except (OSError, EOFError) as exc:
                os.unlink(tmp)
                raise DrillError("the dump %s is not a readable gzip: %s" % (self.local, exc))
            source = tmp
        try:
            with tar_of(source, self.name) as archive:
                # the Engine API's archive upload (the SDK's put_archive): the wrapper has no method for it
                self.client._sdk("PUT /containers/%s/archive" % self.container,  # pylint: disable=protected-access
                                 lambda api: api.put_archive(self.container, "/tmp", archive))
        finally:
            if tmp:
                os.unlink(tmp)
        return self

    def __exit__(self, *exc):
        try:
            self.client.exec_run(self.container, ["rm", "-f", self.path], timeout=30)
        except DockerError:
            pass


def table_report(module, scratch_conn):
    """(tables, missing): exact row counts of the restored tables next to the live estimates."""
    live = connect_to(module, module.params["login_db"], autocommit=False, readonly=True)
    try:
        with live.cursor() as cur:
            cur.execute(TABLES_SQL)
            live_rows = dict(cur.fetchall())
    finally:
        live.close()
    with scratch_conn.cursor() as cur:
        cur.execute(TABLES_SQL)
        restored = [row[0] for row in cur.fetchall()]
        tables = []
        for name in restored:
            schema, table = name.split(".", 1)
            cur.execute(pgsql.SQL("SELECT count(*) FROM {}").format(pgsql.Identifier(schema, table)))
            tables.append(dict(table=name, restored_rows=cur.fetchone()[0], live_rows=live_rows.get(name)))
    return tables, sorted(set(live_rows) - set(restored))


def run_checks(scratch_conn, checks):
    results = []
    for name, check in sorted((checks or {}).items()):
        check = check if isinstance(check, dict) else dict(sql=check)
        try:
            with scratch_conn.cursor() as cur:
                cur.execute(check["sql"])
                row = cur.fetchone()
            results.append(evaluate(name, check, row[0] if row else None))
        except Exception as exc:  # pylint: disable=broad-except
            scratch_conn.rollback()
            results.append(dict(name=name, value=None, ok=False, error=error_text(exc),
                                description=check.get("description") or name))
    return results


def drill(module, result, fmt, scratch, argv, client):
    """Create the scratch database, restore, check; the caller drops it. Fills `result`."""
    p = module.params
    admin = connect_to(module, p["maintenance_db"])
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user")
            row = cur.fetchone()
        if not (row and row[0]):
            raise DrillError("cannot run the drill: role %s may not create databases (it needs CREATEDB); the backup "
                             "was not tested" % p["login_user"])
        if exists(admin, scratch):
            raise DrillError("refusing to use %s: the database already exists (a drill never overwrites nor drops a "
                             "database it did not create; choose another drill_id)" % scratch)
        with admin.cursor() as cur:
            cur.execute(pgsql.SQL("CREATE DATABASE {} TEMPLATE template0").format(pgsql.Identifier(scratch)))
        result["created"] = True
        began = time.monotonic()
        try:
            if p["container"]:
                with Upload(client, p["container"], p["dump"], fmt, scratch):
                    code, err = run_restore(argv, p, p["restore_timeout"], container=p["container"], client=client)
            else:
                code, err = run_restore(argv, p, p["restore_timeout"], stdin_path=p["dump"] if fmt == PLAIN_GZ else None)
        finally:
            result["restore_s"] = round(time.monotonic() - began, 3)
        if code != 0:
            result["errors"].append("restore exited %s: %s" % (code, err[-1500:] or "no output"))
            return
        copy = connect_to(module, scratch, autocommit=False, readonly=True)
        try:
            result["checks"] = run_checks(copy, p["checks"])
            result["errors"].extend("check %s: %s" % (c["name"], c.get("error") or "%s is out of bounds (min %s, max %s)"
                                                      % (c["value"], c.get("min"), c.get("max")))
                                    for c in result["checks"] if not c["ok"])
            if p["compare_tables"]:
                copy.rollback()
                result["tables"], result["missing_tables"] = table_report(module, copy)
                if result["missing_tables"]:
                    result["errors"].append("tables missing from the restored copy: %s" % ", ".join(result["missing_tables"]))
        finally:
            copy.close()
    finally:
        admin.close()


def main():
    argument_spec = dict(
        POSTGRES_ARGSPEC,
        dump=dict(type="path", required=True),
        drill_id=dict(type="str"),
        scratch_db=dict(type="str"),
        maintenance_db=dict(type="str", default="postgres"),
        checks=dict(type="dict", default={}),
        compare_tables=dict(type="bool", default=True),
        container=dict(type="str"),
        restore_timeout=dict(type="int", default=900),
        statement_timeout=dict(type="int", default=30000),
        report=dict(type="path"),
    )
    argument_spec.update(DOCKER_ARGSPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=[["drill_id", "scratch_db"]])
    p = module.params
    require_psycopg2(module)
    drill_id = p["drill_id"] or "%s_%d" % (time.strftime("%Y%m%dt%H%M%S", time.gmtime()), os.getpid())
    scratch = p["scratch_db"] or scratch_name(p["login_db"], drill_id)
    result = dict(changed=False, scratch_db=scratch, dropped=None, errors=[], live=where(p))
    refusal = refuse_target(scratch, p["login_db"], PROTECTED + (p["maintenance_db"],))
    if refusal:
        module.fail_json(msg=refusal, **result)
    try:
        fmt = dump_format(p["dump"])
    except DrillError as exc:
        module.fail_json(msg=str(exc), **result)
    if p["container"]:
        argv = restore_argv(fmt, p, scratch, Upload.path_for(scratch, fmt))
    else:
        argv = restore_argv(fmt, p, scratch, None if fmt == PLAIN_GZ else p["dump"])
        program = module.get_bin_path(argv[0])
        if not program:
            module.fail_json(msg="%s is not in PATH on this host: install the PostgreSQL client, or set container to run "
                                 "it inside the database container" % argv[0], **result)
        argv[0] = program
    result.update(format=fmt, command=argv)
    if module.check_mode:
        result["changed"] = True
        module.exit_json(msg="would restore %s (%s) into scratch database %s, check it and drop it"
                         % (p["dump"], fmt, scratch), **result)
    client = DockerClient.from_module(module) if p["container"] else None
    result.update(changed=True, created=False)
    began = time.monotonic()
    try:
        drill(module, result, fmt, scratch, argv, client)
    except (DrillError, DockerError, OSError) as exc:
        result["errors"].append(str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        result["errors"].append(error_text(exc))
    finally:
        if result.get("created"):
            try:
                admin = connect_to(module, p["maintenance_db"])
                failure = drop(admin, scratch)
                admin.close()
            except DrillError as exc:
                failure = "dropping %s failed: %s" % (scratch, exc)
            result["dropped"] = failure is None
            if failure:
                result["errors"].append(failure)
        else:
            result["dropped"] = True  # nothing was created
    result.update(passed=not result["errors"], duration_s=round(time.monotonic() - began, 3))
    if p["report"]:
        report = dict((k, v) for k, v in result.items() if k != "changed")
        report.update(dump=os.path.abspath(p["dump"]), at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        try:
            parent = os.path.dirname(os.path.abspath(p["report"]))
            if not os.path.isdir(parent):
                os.makedirs(parent, 0o750)
            with open(p["report"], "w") as fh:
                json.dump(report, fh, indent=1, sort_keys=True, default=str)
            result["report"] = p["report"]
        except (IOError, OSError) as exc:
            result["errors"].append("cannot write the report %s: %s" % (p["report"], exc))
            result["passed"] = False
    summary = "%s into %s (%s)" % (p["dump"], scratch, "dropped" if result["dropped"] else "NOT dropped")
    if not result["passed"]:
        module.fail_json(msg="restore drill failed for %s: %s" % (summary, "; ".join(result["errors"])[:2000]), **result)
    module.exit_json(msg="restore drill passed: %s restored in %ss, %d check(s) ok, %d table(s)" % (
        summary, result.get("restore_s"), len(result.get("checks") or []), len(result.get("tables") or [])), **result)


if __name__ == "__main__":
    main()
