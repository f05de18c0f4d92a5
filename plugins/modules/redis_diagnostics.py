#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: redis_diagnostics
short_description: Answer "what is wrong with this Redis" in one read-only pass
version_added: 0.1.0
description:
  - PING, used memory against C(maxmemory) and the eviction policy, evicted and rejected counts,
    keyspace, connected and blocked clients, and optionally a bounded sample of C(CLIENT LIST).
  - Returns C(findings) (severity, check, message) from which the triage verdict is computed.
    It never changes anything.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.info
  - incident.response.redis
options:
  memory_warn_percent:
    description: A warning finding when used memory reaches this percentage of C(maxmemory).
    type: float
    default: 80
  memory_crit_percent:
    description: A critical finding when used memory reaches this percentage of C(maxmemory).
    type: float
    default: 95
  clients_sample:
    description: Include up to this many entries of C(CLIENT LIST) in C(sample) of RV(clients) (0 = none).
    type: int
    default: 0
  unreachable_ok:
    description:
      - When V(true), a server that cannot be reached is reported (RV(reachable), RV(error), a
        critical finding) instead of failing the task.
    type: bool
    default: false
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Diagnose the cache
  incident.response.redis_diagnostics:
    host: 127.0.0.1
    port: 6379
    unreachable_ok: true
  register: cache

- name: With a sample of the connected clients
  incident.response.redis_diagnostics:
    port: 6379
    password: "{{ redis_password }}"
    clients_sample: 10
    memory_warn_percent: 70
"""

RETURN = r"""
reachable:
  description: Whether the server answered PING.
  returned: always
  type: bool
ping:
  description: Whether PING returned PONG.
  returned: always
  type: bool
auth_failed:
  description: The server answered but refused the credentials (only with O(unreachable_ok)); nothing could be checked.
  returned: when the server could not be used
  type: bool
error:
  description: Why the server is not reachable (only with O(unreachable_ok)).
  returned: when not reachable
  type: str
version:
  description: Redis server version.
  returned: when reachable
  type: str
  sample: 7.0.15
role:
  description: Replication role.
  returned: when reachable
  type: str
  sample: master
memory:
  description: Used memory against C(maxmemory) (C(percent) is null without a limit) and the policy.
  returned: when reachable
  type: dict
  sample: {used_bytes: 66437120, max_bytes: 67108864, percent: 99.0, policy: noeviction, fragmentation_ratio: 1.1}
evicted_keys:
  description: Keys evicted since the server started.
  returned: when reachable
  type: int
rejected_connections:
  description: Connections refused since the server started (C(maxclients)).
  returned: when reachable
  type: int
keyspace:
  description: Keys per database.
  returned: when reachable
  type: dict
  sample: {db0: {keys: 1200, expires: 1100, avg_ttl: 3500000}}
clients:
  description: Connected and blocked clients, and a sample of C(CLIENT LIST) when asked.
  returned: when reachable
  type: dict
  sample: {connected: 5, blocked: 0, max: 10000, sample: [{id: 7, addr: "127.0.0.1:51234", name: "", age: 3, idle: 0, db: 0, cmd: ping}]}
findings:
  description: What is wrong, most severe first.
  returned: always
  type: list
  elements: dict
  sample: [{severity: critical, check: memory, message: "used 63.4 MiB of 64.0 MiB (99.0%), policy noeviction: writes fail with OOM"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.redis_client import (
    REDIS_ARGSPEC, open_client, redis_error, require_redis)

CLIENT_FIELDS = ("id", "addr", "name", "age", "idle", "db", "cmd")
NUMERIC_CLIENT_FIELDS = ("id", "age", "idle", "db")


def mib(n):
    return "%.1f MiB" % (n / 1048576.0)


def client_entry(entry):
    """The useful fields of one CLIENT LIST entry, numbers as numbers."""
    out = dict((k, entry.get(k)) for k in CLIENT_FIELDS)
    for key in NUMERIC_CLIENT_FIELDS:
        if str(out[key]).isdigit():
            out[key] = int(out[key])
    return out


def memory_findings(memory, warn, crit):
    if not memory["max_bytes"]:
        return []
    severity = "critical" if memory["percent"] >= crit else "warning" if memory["percent"] >= warn else None
    if severity is None:
        return []
    consequence = ("writes fail with OOM" if memory["policy"] == "noeviction" and severity == "critical"
                   else "keys are being evicted" if memory["policy"] != "noeviction" else "writes will soon fail with OOM")
    return [dict(severity=severity, check="memory", message="used %s of %s (%s%%), policy %s: %s" % (
        mib(memory["used_bytes"]), mib(memory["max_bytes"]), memory["percent"], memory["policy"], consequence))]


def diagnose(client, params):
    info = client.info("all")
    maxmemory = int(info.get("maxmemory", 0))
    used = int(info["used_memory"])
    memory = dict(used_bytes=used, max_bytes=maxmemory, policy=info.get("maxmemory_policy"),
                  percent=round(100.0 * used / maxmemory, 1) if maxmemory else None,
                  fragmentation_ratio=info.get("mem_fragmentation_ratio"))
    keyspace = dict((db, dict(keys=v.get("keys", 0), expires=v.get("expires", 0), avg_ttl=v.get("avg_ttl", 0)))
                    for db, v in info.items() if db.startswith("db") and isinstance(v, dict))
    clients = dict(connected=info.get("connected_clients", 0), blocked=info.get("blocked_clients", 0),
                   max=info.get("maxclients"))
    if params["clients_sample"] > 0:
        clients["sample"] = [client_entry(c) for c in client.client_list()[:params["clients_sample"]]]
    findings = memory_findings(memory, params["memory_warn_percent"], params["memory_crit_percent"])
    if int(info.get("rejected_connections", 0)):
        findings.append(dict(severity="warning", check="clients", message="%d connections rejected since start "
                             "(maxclients %s)" % (info["rejected_connections"], clients["max"])))
    if clients["blocked"]:
        findings.append(dict(severity="info", check="clients", message="%d clients blocked in BLPOP-like calls"
                             % clients["blocked"]))
    if int(info.get("evicted_keys", 0)):
        findings.append(dict(severity="info", check="evictions", message="%d keys evicted since start (policy %s)"
                             % (info["evicted_keys"], memory["policy"])))
    return dict(reachable=True, ping=True, version=info.get("redis_version"), role=info.get("role"), memory=memory,
                evicted_keys=int(info.get("evicted_keys", 0)), rejected_connections=int(info.get("rejected_connections", 0)),
                keyspace=keyspace, clients=clients, findings=findings)


def main():
    argument_spec = dict(
        REDIS_ARGSPEC,
        memory_warn_percent=dict(type="float", default=80),
        memory_crit_percent=dict(type="float", default=95),
        clients_sample=dict(type="int", default=0),
        unreachable_ok=dict(type="bool", default=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    require_redis(module)
    client, err, auth_failed = open_client(module.params, detail=True)
    if client is None:
        if not module.params["unreachable_ok"]:
            module.fail_json(msg=err, reachable=auth_failed)
        module.exit_json(changed=False, reachable=auth_failed, ping=False, auth_failed=auth_failed, error=err,
                         findings=[dict(severity="critical", check="credentials" if auth_failed else "ping", message=err)])
    try:
        result = diagnose(client, module.params)
    except redis_error() as exc:
        module.fail_json(msg="Redis answered PING but INFO failed: %s" % exc)
    finally:
        client.close()
    result["findings"].sort(key=lambda f: {"critical": 0, "warning": 1, "info": 2}[f["severity"]])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
