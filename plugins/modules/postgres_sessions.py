#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: postgres_sessions
short_description: Terminate (or cancel) PostgreSQL sessions matching a filter, with guard rails
version_added: 0.1.0
description:
  - Finds the client sessions matching every given filter (state, time in that state, application,
    user, query pattern) and terminates them with C(pg_terminate_backend) (or cancels their query with
    C(pg_cancel_backend)), reporting each pid, user, application, state, duration and query.
  - Never touches the module's own session. Superuser and replication sessions are skipped unless
    O(include_superuser=true) B(and) O(confirm=true).
  - Refuses (and changes nothing) when more than O(max_sessions) sessions match.
  - In check mode it lists the sessions it would act on.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.postgres
options:
  states:
    description: Only sessions in one of these states.
    type: list
    elements: str
    choices: [active, idle, idle in transaction, idle in transaction (aborted)]
  older_than_minutes:
    description: Only sessions that have been in their current state for longer than this.
    type: float
    default: 0
  application_name:
    description: Only sessions with exactly this C(application_name).
    type: str
  user:
    description: Only sessions of this role.
    type: str
  query_pattern:
    description: Only sessions whose last query matches this POSIX regular expression (case-insensitive).
    type: str
  all_databases:
    description: Also match sessions connected to other databases than O(login_db).
    type: bool
    default: false
  action:
    description: V(terminate) closes the session; V(cancel) only cancels its running query.
    type: str
    choices: [terminate, cancel]
    default: terminate
  max_sessions:
    description: Refuse to act when more sessions than this match (nothing is terminated).
    type: int
    default: 10
  include_superuser:
    description: Also act on superuser and replication sessions (needs O(confirm=true) too).
    type: bool
    default: false
  confirm:
    description: Confirms O(include_superuser=true).
    type: bool
    default: false
  wait_ms:
    description: On PostgreSQL 14 and later, wait up to this long for each terminated session to end.
    type: int
    default: 5000
notes:
  - At least one of O(states), O(application_name), O(user) or O(query_pattern) is required, so that a
    typo can never terminate every session.
  - The login role needs C(pg_signal_backend) (or superuser) to signal other roles' sessions.
"""

EXAMPLES = r"""
- name: Kill queries running for over 10 minutes (runbook P2, database performance)
  incident.response.postgres_sessions:
    login_port: 5432
    login_user: postgres
    login_password: "{{ incident_postgres_admin_password }}"
    login_db: shop
    states: [active]
    older_than_minutes: 10
  register: killed

- name: Close sessions idle in a transaction for over 5 minutes, holding locks
  incident.response.postgres_sessions:
    login_port: 5432
    login_user: postgres
    login_password: "{{ incident_postgres_admin_password }}"
    login_db: shop
    states: [idle in transaction, idle in transaction (aborted)]
    older_than_minutes: 5

- name: Free the pool from a leaking client (many sessions)
  incident.response.postgres_sessions:
    login_port: 5432
    login_user: postgres
    login_password: "{{ incident_postgres_admin_password }}"
    login_db: shop
    application_name: report-generator
    states: [idle]
    max_sessions: 100
"""

RETURN = r"""
sessions:
  description: The sessions acted on (or that would be, in check mode).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4242, user: shop, application: api, state: active, duration_s: 612.3,
            query: "SELECT pg_sleep(3600)", database: shop, client_addr: 127.0.0.1, done: true}]
skipped:
  description: Matching sessions left alone (superuser or replication), with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{pid: 77, user: postgres, reason: superuser session (set include_superuser=true and confirm=true)}]
matched:
  description: Number of sessions acted on (or that would be).
  returned: always
  type: int
action:
  description: V(terminate) or V(cancel).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.guard import require_confirm
from ansible_collections.incident.response.plugins.module_utils.postgres import (
    POSTGRES_ARGSPEC, connect, error_text, fetch_dicts, truncate, where)

STATES = ["active", "idle", "idle in transaction", "idle in transaction (aborted)"]

CANDIDATES_SQL = """SELECT a.pid, a.usename AS user, a.application_name AS application, a.state,
    round(extract(epoch FROM now() - coalesce(a.state_change, a.backend_start))::numeric, 1) AS duration_s,
    a.query, a.datname AS database, host(a.client_addr) AS client_addr, a.backend_type,
    coalesce(r.rolsuper, false) AS superuser
  FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
  WHERE a.pid <> pg_backend_pid() AND a.backend_type IN ('client backend', 'walsender')
    AND coalesce(a.state_change, a.backend_start) < now() - make_interval(secs => %(older_s)s)
    AND (%(states)s::text[] IS NULL OR a.state = ANY(%(states)s::text[]))
    AND (%(app)s::text IS NULL OR a.application_name = %(app)s)
    AND (%(user)s::text IS NULL OR a.usename = %(user)s)
    AND (%(pattern)s::text IS NULL OR a.query ~* %(pattern)s)
    AND (%(all_dbs)s OR a.datname = current_database() OR a.backend_type = 'walsender')
  ORDER BY a.state_change"""


def protected_reason(row):
    if row["backend_type"] == "walsender":
        return "replication session"
    if row["superuser"]:
        return "superuser session"
    return None


def split(module, rows):
    """(targets, skipped): superuser/replication sessions only with include_superuser + confirm."""
    targets, skipped, protected = [], [], []
    for row in rows:
        reason = protected_reason(row)
        if reason and not module.params["include_superuser"]:
            skipped.append(dict(pid=row["pid"], user=row["user"], application=row["application"],
                                reason=reason + " (set include_superuser=true and confirm=true)"))
        else:
            (protected if reason else targets).append(row)
    if protected and require_confirm(module, "confirm", "acting on %d superuser/replication sessions" % len(protected)):
        targets.extend(protected)
    elif protected:  # check mode without confirm: say so, act on none of them
        skipped.extend(dict(pid=r["pid"], user=r["user"], application=r["application"],
                            reason=protected_reason(r) + " (confirm=true missing)") for r in protected)
    return targets, skipped


def main():
    argument_spec = dict(
        POSTGRES_ARGSPEC,
        states=dict(type="list", elements="str", choices=STATES),
        older_than_minutes=dict(type="float", default=0),
        application_name=dict(type="str"),
        user=dict(type="str"),
        query_pattern=dict(type="str"),
        all_databases=dict(type="bool", default=False),
        action=dict(type="str", choices=["terminate", "cancel"], default="terminate"),
        max_sessions=dict(type="int", default=10),
        include_superuser=dict(type="bool", default=False),
        confirm=dict(type="bool", default=False),
        wait_ms=dict(type="int", default=5000),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           required_one_of=[["states", "application_name", "user", "query_pattern"]])
    p = module.params
    conn = connect(module, autocommit=True, application_name="incident.response.sessions")
    cur = conn.cursor()
    try:
        rows = fetch_dicts(cur, CANDIDATES_SQL, dict(
            older_s=p["older_than_minutes"] * 60, states=p["states"] or None, app=p["application_name"],
            user=p["user"], pattern=p["query_pattern"], all_dbs=p["all_databases"]))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="%s: listing sessions failed: %s" % (where(p), error_text(exc)))
    targets, skipped = split(module, rows)
    for row in targets:
        row["query"] = truncate(row["query"])
        for key in ("backend_type", "superuser"):
            row.pop(key)
    result = dict(changed=bool(targets), action=p["action"], matched=len(targets), sessions=targets, skipped=skipped)
    if len(targets) > p["max_sessions"]:
        module.fail_json(msg="%d sessions match the filter, more than max_sessions=%d: refusing, nothing was %sed "
                         "(narrow the filter or raise max_sessions)" % (len(targets), p["max_sessions"], p["action"]),
                         **result)
    if module.check_mode or not targets:
        module.exit_json(**result)
    cur.execute("SELECT current_setting('server_version_num')::int >= 140000")
    can_wait = cur.fetchone()[0] and p["action"] == "terminate" and p["wait_ms"] > 0
    for row in targets:
        try:
            if can_wait:
                cur.execute("SELECT pg_terminate_backend(%s, %s)", (row["pid"], p["wait_ms"]))
            else:
                cur.execute("SELECT pg_%s_backend(%%s)" % p["action"], (row["pid"],))
            row["done"] = bool(cur.fetchone()[0])
        except Exception as exc:  # pylint: disable=broad-except
            row["done"] = False
            row["error"] = error_text(exc)
    conn.close()
    failed = [r for r in targets if not r["done"]]
    if failed and any("error" in r for r in failed):
        module.fail_json(msg="%s: could not %s %d of %d sessions: %s" % (
            where(p), p["action"], len(failed), len(targets), next(r["error"] for r in failed if "error" in r)), **result)
    if failed:
        module.warn("%d sessions had already ended or did not end within %d ms: %s"
                    % (len(failed), p["wait_ms"], ", ".join(str(r["pid"]) for r in failed)))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
