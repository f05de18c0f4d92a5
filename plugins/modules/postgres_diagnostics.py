#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_diagnostics
short_description: Answer "what is wrong with this PostgreSQL database" in one read-only pass
version_added: 0.1.0
description:
  - Readiness (the C(pg_isready) equivalent, with the reason), version, database size, connections
    by state against C(max_connections), long-running and idle-in-transaction sessions, sessions
    blocked on locks, the top statements of C(pg_stat_statements) when the extension exists, the
    largest tables, and named application checks given as data.
  - Everything runs in one C(READ ONLY) transaction with a statement timeout; it never changes
    anything. A failing application check (for example a missing table) is a finding, not a failure.
  - Returns C(findings) (severity, check, message) from which the triage verdict is computed.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.info
  - incident.response.postgres
options:
  long_running_minutes:
    description: Active queries running for longer than this are reported in RV(long_running).
    type: float
    default: 5
  idle_in_transaction_minutes:
    description: Sessions idle in a transaction for longer than this are reported in RV(idle_in_transaction).
    type: float
    default: 5
  top:
    description: How many statements (RV(statements)) and tables (RV(largest_tables)) to report.
    type: int
    default: 5
  list_limit:
    description: At most this many sessions are listed in each of RV(long_running), RV(idle_in_transaction)
      and RV(blocked) (the findings still give the full count).
    type: int
    default: 20
  connections_warn_percent:
    description: A warning finding when connections reach this percentage of C(max_connections).
      It is critical when no slot is left for ordinary roles (C(superuser_reserved_connections)).
    type: float
    default: 80
  checks:
    description:
      - Application checks as data (the service catalog's C(checks)), by name; none by default, because only
        your inventory knows your schema. A name mapped to V(null) is skipped.
      - Each check is a dict with C(sql) (a query returning one numeric value), C(max) and/or C(min)
        (the value must stay within them), C(severity) (V(warning) or V(critical), default V(warning))
        and an optional C(description); C(service) and C(playbook) are carried for the caller (triage).
    type: dict
  statement_timeout_ms:
    description: Statement timeout of the diagnostic session, so a sick server cannot hang triage.
    type: int
    default: 5000
  unreachable_ok:
    description:
      - When V(true), a server that cannot be reached or refuses the connection is reported
        (RV(reachable), RV(ready), RV(error), a critical finding) instead of failing the task.
    type: bool
    default: false
notes:
  - Connect as a superuser (or a role with C(pg_monitor)) to see every session's query; during a
    connection-pool exhaustion only the reserved superuser slots are left.
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Diagnose the application's database
  incident.response.postgres_diagnostics:
    login_host: db.example.internal
    login_port: 5432
    login_user: postgres
    login_password: "{{ vault_postgres_password }}"
    login_db: shop
    unreachable_ok: true
  register: pg

- name: Same, with application checks from the service catalog
  incident.response.postgres_diagnostics:
    login_host: db.example.internal
    login_user: postgres
    login_password: "{{ vault_postgres_password }}"
    login_db: shop
    long_running_minutes: 1
    checks:
      unpaid_orders_1h:
        sql: SELECT count(*) FROM orders WHERE state = 'payment_failed' AND created_at > now() - interval '1 hour'
        max: 10
        severity: critical
      orphaned_operations: null
"""

RETURN = r"""
reachable:
  description: Whether the server answered (a refusal such as "too many clients" counts as an answer).
  returned: always
  type: bool
ready:
  description: Whether the server accepted the connection and ran C(SELECT 1).
  returned: always
  type: bool
readiness:
  description:
    - C(pg_isready) vocabulary - C(accepting), C(rejecting) (it answered but takes no connection, e.g. no slot left),
      C(no_response) (down or unreachable), C(no_attempt) (it answered but refused these credentials or this
      database - nothing could be checked).
  returned: always
  type: str
  sample: accepting
auth_failed:
  description: The server refused the credentials or the database (RV(readiness) C(no_attempt)).
  returned: when the credentials were refused
  type: bool
error:
  description: Why the server is not ready (only with O(unreachable_ok)).
  returned: when not ready
  type: str
version:
  description: Server version.
  returned: when ready
  type: str
  sample: "15.18 (Debian 15.18-0+deb12u1)"
database:
  description: The database connected to and its size.
  returned: when ready
  type: dict
  sample: {name: shop, size_bytes: 8402723}
connections:
  description: Client connections by state against C(max_connections).
  returned: when ready
  type: dict
  sample: {total: 12, max: 50, reserved: 3, available: 35, percent: 24.0, by_state: {active: 1, idle: 11}}
long_running:
  description: Active queries older than O(long_running_minutes), longest first.
  returned: when ready
  type: list
  elements: dict
  sample: [{pid: 4242, user: shop, application: api, state: active, duration_s: 612.3, query: SELECT ...}]
idle_in_transaction:
  description: Sessions idle in a transaction for longer than O(idle_in_transaction_minutes), oldest first.
  returned: when ready
  type: list
  elements: dict
blocked:
  description: Sessions waiting on a lock, with the pids blocking them.
  returned: when ready
  type: list
  elements: dict
  sample: [{pid: 4250, user: shop, application: api, blocked_by: [4242], duration_s: 12.0, query: UPDATE ...}]
statements:
  description: Top O(top) statements of C(pg_stat_statements) by total execution time.
  returned: when ready and the extension exists
  type: list
  elements: dict
  sample: [{queryid: 123, calls: 10, total_ms: 1200.5, mean_ms: 120.05, rows: 10, query: SELECT ...}]
statements_note:
  description: Why RV(statements) is empty.
  returned: when ready and the extension is not usable
  type: str
largest_tables:
  description: The O(top) largest tables with their size and dead tuples.
  returned: when ready
  type: list
  elements: dict
  sample: [{schema: public, table: orders, size_bytes: 98304, live_tuples: 112, dead_tuples: 3}]
checks:
  description: Application checks by name.
  returned: when ready
  type: dict
  sample: {unpaid_orders: {value: 5, max: 0, min: null, ok: false, severity: critical, description: ...}}
findings:
  description: What is wrong, most severe first.
  returned: always
  type: list
  elements: dict
  sample: [{severity: critical, check: unpaid_orders, message: "unpaid_orders = 5 (max 0): orders unpaid ..."}]
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six import integer_types

from ansible_collections.incident.response.plugins.module_utils.postgres import (
    POSTGRES_ARGSPEC, error_text, fetch_dicts, is_auth_error, open_connection, require_psycopg2, truncate, where)

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

# service and playbook are the service catalog's: which service a check speaks for, which playbook fixes it.
CHECK_KEYS = ("sql", "max", "min", "severity", "description", "service", "playbook")

SESSION_COLUMNS = """pid, usename AS user, application_name AS application, state,
    host(client_addr) AS client_addr, wait_event_type, query"""

LONG_RUNNING_SQL = """SELECT %s, round(extract(epoch FROM now() - query_start)::numeric, 1) AS duration_s
    FROM pg_stat_activity
    WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND query_start < now() - make_interval(secs => %%s)
    ORDER BY query_start""" % SESSION_COLUMNS

IDLE_IN_TX_SQL = """SELECT %s, round(extract(epoch FROM now() - xact_start)::numeric, 1) AS duration_s,
    round(extract(epoch FROM now() - state_change)::numeric, 1) AS idle_s
    FROM pg_stat_activity
    WHERE state IN ('idle in transaction', 'idle in transaction (aborted)') AND pid <> pg_backend_pid()
      AND state_change < now() - make_interval(secs => %%s)
    ORDER BY xact_start""" % SESSION_COLUMNS

BLOCKED_SQL = """SELECT %s, pg_blocking_pids(pid) AS blocked_by,
    round(extract(epoch FROM now() - coalesce(query_start, backend_start))::numeric, 1) AS duration_s
    FROM pg_stat_activity WHERE cardinality(pg_blocking_pids(pid)) > 0
    ORDER BY query_start""" % SESSION_COLUMNS

CONNECTIONS_SQL = """SELECT coalesce(state, 'unknown') AS state, count(*) AS n FROM pg_stat_activity
    WHERE backend_type = 'client backend' GROUP BY 1"""

SETTINGS_SQL = """SELECT current_setting('server_version'), current_setting('server_version_num')::int,
    current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int,
    coalesce(current_setting('reserved_connections', true), '0')::int,
    current_database(), pg_database_size(current_database())"""

TABLES_SQL = """SELECT schemaname AS schema, relname AS table, pg_total_relation_size(relid) AS size_bytes,
    n_live_tup AS live_tuples, n_dead_tup AS dead_tuples, last_vacuum, last_autovacuum
    FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC, relname LIMIT %s"""

STATEMENTS_SQL = """SELECT queryid, calls, round({total}::numeric, 2) AS total_ms, round({mean}::numeric, 2) AS mean_ms,
    rows, query FROM {schema}.pg_stat_statements ORDER BY {total} DESC LIMIT %s"""


class Diagnosis(object):
    """Collects the report and its findings."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.result = dict(changed=False, reachable=False, ready=False, readiness="no_response", findings=[])

    def finding(self, severity, check, message):
        self.result["findings"].append(dict(severity=severity, check=check, message=message))

    def run(self):
        conn, err = open_connection(self.p, readonly=True, statement_timeout_ms=self.p["statement_timeout_ms"],
                                    application_name="incident.response.diagnostics")
        if conn is None:
            self.unreachable(err)
        else:
            try:
                self.diagnose(conn)
            except Exception as exc:  # pylint: disable=broad-except
                # e.g. the statement timeout or a server crash mid-way: report what was gathered
                msg = "%s: diagnosis interrupted: %s" % (where(self.p), error_text(exc))
                if not self.p["unreachable_ok"]:
                    self.module.fail_json(msg=msg, **self.result)
                self.result["error"] = msg
                self.finding("critical", "diagnosis", msg)
            finally:
                conn.close()
        self.result["findings"].sort(key=lambda f: SEVERITY_ORDER[f["severity"]])
        return self.result

    def unreachable(self, err):
        rejecting = err.startswith(where(self.p) + " refused")  # the server answered: pg_isready's "rejecting"
        if not self.p["unreachable_ok"]:
            self.module.fail_json(msg=err, reachable=rejecting, ready=False)
        if rejecting and is_auth_error(err):
            # up, but these credentials (or this database) cannot be used: pg_isready's "no attempt"
            self.result.update(reachable=True, readiness="no_attempt", auth_failed=True, error=err)
            self.finding("critical", "credentials", "%s cannot be checked: %s" % (where(self.p), err.split(": ", 1)[-1]))
            return
        self.result.update(reachable=rejecting, readiness="rejecting" if rejecting else "no_response", error=err)
        self.finding("critical", "ready", ("%s refuses connections: %s" if rejecting else "%s is down: %s")
                     % (where(self.p), err.split(": ", 1)[-1]))

    def diagnose(self, conn):
        cur = conn.cursor()
        cur.execute("SELECT 1")
        self.result.update(reachable=True, ready=True, readiness="accepting")
        cur.execute(SETTINGS_SQL)
        version, version_num, max_conn, su_reserved, reserved, dbname, size = cur.fetchone()
        self.result["version"] = version
        self.result["database"] = dict(name=dbname, size_bytes=size)
        self.connections(cur, max_conn, su_reserved + reserved)
        self.sessions(cur)
        self.statements(cur, version_num)
        self.result["largest_tables"] = fetch_dicts(cur, TABLES_SQL, (self.p["top"],))
        self.checks(cur)

    def connections(self, cur, max_conn, reserved):
        by_state = dict((r["state"], r["n"]) for r in fetch_dicts(cur, CONNECTIONS_SQL))
        total = sum(by_state.values())
        percent = round(100.0 * total / max_conn, 1)
        available = max(max_conn - reserved - total, 0)
        self.result["connections"] = dict(total=total, max=max_conn, reserved=reserved, available=available,
                                          percent=percent, by_state=by_state)
        states = ", ".join("%s %d" % kv for kv in sorted(by_state.items(), key=lambda kv: -kv[1]))
        if available == 0:
            self.finding("critical", "connections", "%d/%d connections (%s%%): no slot left for ordinary roles "
                         "(%d reserved for superusers); %s" % (total, max_conn, percent, reserved, states))
        elif percent >= self.p["connections_warn_percent"]:
            self.finding("warning", "connections", "%d/%d connections (%s%%, warn at %s%%); %s"
                         % (total, max_conn, percent, self.p["connections_warn_percent"], states))

    def session_list(self, cur, name, sql, params, describe):
        rows = fetch_dicts(cur, sql, params)
        for row in rows:
            row["query"] = truncate(row["query"])
        self.result[name] = rows[:self.p["list_limit"]]
        if rows:
            top = rows[0]
            self.finding("warning", name, "%d %s (longest %ss: pid %s, %s/%s: %s)"
                         % (len(rows), describe, top["duration_s"], top["pid"], top["user"],
                            top["application"] or "-", truncate(top["query"], 80)))

    def sessions(self, cur):
        self.session_list(cur, "long_running", LONG_RUNNING_SQL, (self.p["long_running_minutes"] * 60,),
                          "queries active for over %s min" % self.p["long_running_minutes"])
        self.session_list(cur, "idle_in_transaction", IDLE_IN_TX_SQL, (self.p["idle_in_transaction_minutes"] * 60,),
                          "sessions idle in transaction for over %s min" % self.p["idle_in_transaction_minutes"])
        self.session_list(cur, "blocked", BLOCKED_SQL, None, "sessions waiting on a lock")

    def statements(self, cur, version_num):
        cur.execute("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                    "WHERE e.extname = 'pg_stat_statements'")
        row = cur.fetchone()
        if row is None:
            self.result["statements"] = []
            self.result["statements_note"] = ("pg_stat_statements is not installed in database %s "
                                              "(CREATE EXTENSION pg_stat_statements)" % self.p["login_db"])
            return
        total, mean = ("total_exec_time", "mean_exec_time") if version_num >= 130000 else ("total_time", "mean_time")
        sql = STATEMENTS_SQL.format(total=total, mean=mean, schema='"%s"' % row[0].replace('"', '""'))
        ok, rows = self.guarded(cur, sql, (self.p["top"],))
        if not ok:
            self.result["statements"] = []
            self.result["statements_note"] = "pg_stat_statements unusable: %s" % rows
            return
        for r in rows:
            r["query"] = truncate(r["query"])
        self.result["statements"] = rows

    def guarded(self, cur, sql, params=None):
        """Run a query in a savepoint: (True, rows) or (False, error text) without aborting the transaction."""
        cur.execute("SAVEPOINT diag")
        try:
            rows = fetch_dicts(cur, sql, params)
        except Exception as exc:  # pylint: disable=broad-except
            cur.execute("ROLLBACK TO SAVEPOINT diag")
            return False, error_text(exc)
        cur.execute("RELEASE SAVEPOINT diag")
        return True, rows

    def checks(self, cur):
        results = {}
        for name, spec in sorted(merged_checks(self.module).items()):
            started = time.time()
            ok, rows = self.guarded(cur, spec["sql"])
            entry = dict(value=None, max=spec.get("max"), min=spec.get("min"), severity=spec.get("severity", "warning"),
                         description=spec.get("description"), ok=False)
            if not ok:
                entry["error"] = rows
                self.finding("warning", name, "check %s could not run: %s" % (name, rows))
            else:
                entry["value"] = first_value(rows)
                entry["ok"] = within(entry["value"], entry["min"], entry["max"])
                if not entry["ok"]:
                    self.finding(entry["severity"], name, "%s = %s (%s)%s" % (
                        name, entry["value"], bounds(entry["min"], entry["max"]),
                        ": " + entry["description"] if entry["description"] else ""))
            entry["duration_ms"] = round((time.time() - started) * 1000, 1)
            results[name] = entry
        self.result["checks"] = results


def merged_checks(module):
    checks = {}
    for name, spec in (module.params["checks"] or {}).items():
        if spec is None:
            checks.pop(name, None)
            continue
        if not isinstance(spec, dict) or not isinstance(spec.get("sql"), str):
            module.fail_json(msg="checks.%s must be a dict with a 'sql' string (and max/min/severity)" % name)
        unknown = set(spec) - set(CHECK_KEYS)
        if unknown:
            module.fail_json(msg="checks.%s: unknown keys %s (known: %s)" % (name, ", ".join(sorted(unknown)), ", ".join(CHECK_KEYS)))
        if spec.get("severity", "warning") not in ("warning", "critical", "info"):
            module.fail_json(msg="checks.%s.severity must be info, warning or critical" % name)
        for bound in ("max", "min"):
            if spec.get(bound) is not None and not is_number(spec[bound]):
                module.fail_json(msg="checks.%s.%s must be a number, got %r" % (name, bound, spec[bound]))
        checks[name] = spec
    return checks


def is_number(value):
    return isinstance(value, integer_types + (float,)) and not isinstance(value, bool)


def first_value(rows):
    if not rows:
        return None
    value = list(rows[0].values())[0]
    if isinstance(value, bool):
        return int(value)
    return value


def within(value, low, high):
    if value is None:
        return low is None
    if not is_number(value):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def bounds(low, high):
    return ", ".join(s for s in (("min %s" % low) if low is not None else "",
                                 ("max %s" % high) if high is not None else "") if s) or "no bounds"


def main():
    argument_spec = dict(
        POSTGRES_ARGSPEC,
        long_running_minutes=dict(type="float", default=5),
        idle_in_transaction_minutes=dict(type="float", default=5),
        top=dict(type="int", default=5),
        list_limit=dict(type="int", default=20),
        connections_warn_percent=dict(type="float", default=80),
        checks=dict(type="dict"),
        statement_timeout_ms=dict(type="int", default=5000),
        unreachable_ok=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_psycopg2(module)
    module.exit_json(**Diagnosis(module).run())


if __name__ == "__main__":
    main()
