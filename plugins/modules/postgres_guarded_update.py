#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_guarded_update
short_description: Run one remediation UPDATE or DELETE that refuses to touch more than max_rows rows
version_added: 0.1.0
description:
  - Runs a single C(UPDATE) or C(DELETE) (given as SQL text, values passed as psycopg2 parameters,
    never interpolated) with C(RETURNING) O(key_column) inside one transaction, counts the rows it
    touched, and commits only when the count is within O(max_rows). Above it the transaction is rolled
    back and the task fails, so nothing changes.
  - In check mode the statement runs and is always rolled back; the count and keys say what it would do.
  - Only one statement, starting with C(UPDATE) or C(DELETE), is accepted; the statement must not have
    its own C(RETURNING) clause.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.postgres
options:
  sql:
    description:
      - The C(UPDATE) or C(DELETE) statement, with C(%s) (O(params) a list) or C(%(name\)s)
        (O(params) a dict) placeholders.
      - With O(params), a literal C(%) must be written C(%%).
    type: str
    required: true
  params:
    description: Values of the placeholders of O(sql) (a list or a dict), sent as query parameters.
    type: raw
  key_column:
    description: Column (of the updated table) returned for each touched row, to report which rows changed.
    type: str
    default: id
  max_rows:
    description: Refuse (roll back, fail) when the statement touches more rows than this.
    type: int
    required: true
  keys_limit:
    description: Report at most this many keys in RV(touched_keys).
    type: int
    default: 100
  statement_timeout_ms:
    description: Statement timeout of the session.
    type: int
    default: 30000
  lock_timeout_ms:
    description: Give up (and change nothing) when a row lock cannot be taken within this time, for
      example because an idle-in-transaction session holds it.
    type: int
    default: 5000
notes:
  - Idempotent in the usual way of remediation SQL; write the C(WHERE) clause so that a second run
    touches no rows (then the task reports no change).
"""

EXAMPLES = r"""
- name: Retry sagas stuck RUNNING for over 30 minutes (runbook P1, saga orchestration failures)
  incident.response.postgres_guarded_update:
    login_port: 5432
    login_user: shop
    login_password: "{{ incident_postgres.password }}"
    login_db: shop
    sql: >-
      UPDATE orders SET status = 'RETRY_PENDING', retry_count = retry_count + 1, updated_at = now()
      WHERE status = 'RUNNING' AND updated_at < now() - make_interval(mins => %(minutes)s) AND retry_count < %(max_retries)s
    params: {minutes: 30, max_retries: 3}
    key_column: saga_id
    max_rows: 50
  register: retried

- name: Clean up old audit rows, at most 10000 of them
  incident.response.postgres_guarded_update:
    login_port: 5432
    login_user: shop
    login_password: "{{ incident_postgres.password }}"
    login_db: shop
    sql: DELETE FROM audit_events WHERE at < now() - make_interval(days => %s)
    params: [90]
    max_rows: 10000
"""

RETURN = r"""
rowcount:
  description: Rows the statement touched (in check mode or on refusal, would have touched).
  returned: always
  type: int
  sample: 5
touched_keys:
  description: The O(key_column) values of the touched rows (at most O(keys_limit)).
  returned: always
  type: list
  elements: raw
  sample: [stuck-1-3f2a, stuck-2-9b1c]
touched_keys_truncated:
  description: Whether RV(touched_keys) was cut at O(keys_limit).
  returned: always
  type: bool
committed:
  description: Whether the change was committed.
  returned: always
  type: bool
statement:
  description: The statement type, C(UPDATE) or C(DELETE).
  returned: always
  type: str
duration_ms:
  description: Time the statement took.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.postgres import (
    POSTGRES_ARGSPEC, connect, error_text, jsonable, sql_words, where)

try:
    from psycopg2 import sql as pgsql
except ImportError:  # reported by connect() through require_psycopg2
    pgsql = None


def check_statement(module, text):
    """'UPDATE' or 'DELETE', or fail_json explaining why the SQL is not accepted."""
    try:
        words, several = sql_words(text)
    except ValueError as exc:
        module.fail_json(msg="sql refused: %s" % exc)
    if not words or words[0] not in ("UPDATE", "DELETE"):
        module.fail_json(msg="sql refused: only one UPDATE or DELETE statement is accepted, got %s"
                         % (words[0] if words else "nothing"))
    if several:
        module.fail_json(msg="sql refused: it holds more than one statement (a ';' followed by more SQL)")
    if "RETURNING" in words:
        module.fail_json(msg="sql refused: leave RETURNING out, the module returns key_column itself")
    return words[0]


def main():
    argument_spec = dict(
        POSTGRES_ARGSPEC,
        sql=dict(type="str", required=True),
        params=dict(type="raw"),
        key_column=dict(type="str", default="id", no_log=False),
        max_rows=dict(type="int", required=True),
        keys_limit=dict(type="int", default=100, no_log=False),
        statement_timeout_ms=dict(type="int", default=30000),
        lock_timeout_ms=dict(type="int", default=5000),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if p["params"] is not None and not isinstance(p["params"], (list, dict)):
        module.fail_json(msg="params must be a list (for %%s placeholders) or a dict (for %%(name)s), got %s"
                         % type(p["params"]).__name__)
    kind = check_statement(module, p["sql"])
    conn = connect(module, statement_timeout_ms=p["statement_timeout_ms"],
                   application_name="incident.response.guarded_update")
    statement = pgsql.SQL("{} RETURNING {}").format(pgsql.SQL(p["sql"].strip().rstrip(";")),
                                                    pgsql.Identifier(p["key_column"]))
    cur = conn.cursor()
    started = time.time()
    try:
        cur.execute("SET LOCAL lock_timeout = %s", ("%dms" % p["lock_timeout_ms"],))
        cur.execute(statement, p["params"])
        keys = [jsonable(row[0]) for row in cur.fetchall()]
    except Exception as exc:  # pylint: disable=broad-except
        conn.rollback()
        module.fail_json(msg="%s: %s failed, nothing changed: %s" % (where(p), kind, error_text(exc)))
    result = dict(statement=kind, rowcount=len(keys), touched_keys=keys[:p["keys_limit"]],
                  touched_keys_truncated=len(keys) > p["keys_limit"], committed=False,
                  duration_ms=round((time.time() - started) * 1000, 1))
    if len(keys) > p["max_rows"]:
        conn.rollback()
        module.fail_json(msg="%s would touch %d rows, more than max_rows=%d: rolled back, nothing changed "
                         "(tighten the WHERE clause or raise max_rows)" % (kind, len(keys), p["max_rows"]),
                         changed=False, **result)
    if module.check_mode or not keys:
        conn.rollback()
    else:
        conn.commit()
        result["committed"] = True
    conn.close()
    module.exit_json(changed=bool(keys), **result)


if __name__ == "__main__":
    main()
