#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: redis_maintenance
short_description: Flush a Redis database (with an explicit confirm) or set maxmemory idempotently
version_added: 0.1.0
description:
  - O(action=flushdb) empties database O(db); O(action=flushall) empties every database. Both are
    destructive and refused unless O(confirm=true); they report the keys before and after.
  - O(action=config_set) sets C(maxmemory) and/or C(maxmemory-policy) at runtime when they differ
    from the running values (idempotent, with a diff).
  - In check mode it reports what it would do and changes nothing.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.diff
  - incident.response.redis
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [flushdb, flushall, config_set]
  confirm:
    description: Confirms a flush (it deletes data and cannot be undone).
    type: bool
    default: false
  asynchronous:
    description: Flush in the background (C(FLUSHDB ASYNC)), so a big flush does not block the server.
    type: bool
    default: false
  maxmemory:
    description: New C(maxmemory) for O(action=config_set), in bytes or with a Redis unit (V(128mb), V(1gb), V(0) = no limit).
    type: str
  maxmemory_policy:
    description: New C(maxmemory-policy) for O(action=config_set).
    type: str
    choices: [noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru, volatile-lfu, volatile-random, volatile-ttl]
notes:
  - C(CONFIG SET) changes the running server only; persist it in the server's configuration as well.
"""

EXAMPLES = r"""
- name: Give Redis room while the leak is investigated (runbook, Redis memory high)
  incident.response.redis_maintenance:
    host: 127.0.0.1
    port: 6379
    action: config_set
    maxmemory: 128mb
  register: redis_mem

- name: Put the previous limit back afterwards
  incident.response.redis_maintenance:
    port: 6379
    action: config_set
    maxmemory: "{{ redis_mem.before.maxmemory }}"

- name: Flush the cache database (destructive, needs the confirm flag)
  incident.response.redis_maintenance:
    port: 6379
    db: 0
    action: flushdb
    confirm: "{{ incident_confirm_flush | default(false) }}"
"""

RETURN = r"""
keys_before:
  description: Keys in the flushed database (all databases for V(flushall)) before the flush.
  returned: action is flushdb or flushall
  type: int
keys_after:
  description: Keys left after the flush (an asynchronous flush may still be running).
  returned: action is flushdb or flushall and not check mode
  type: int
before:
  description: Running values before C(CONFIG SET) (maxmemory in bytes).
  returned: action is config_set
  type: dict
  sample: {maxmemory: 67108864, maxmemory_policy: noeviction}
after:
  description: Values after C(CONFIG SET) (what they would be in check mode).
  returned: action is config_set
  type: dict
  sample: {maxmemory: 134217728, maxmemory_policy: noeviction}
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.guard import require_confirm
from ansible_collections.incident.response.plugins.module_utils.redis_client import (
    REDIS_ARGSPEC, connect, redis_error, where)

# Redis' own units: k/m/g are powers of 1000, kb/mb/gb powers of 1024.
UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 ** 2, "mb": 1024 ** 2, "g": 1000 ** 3, "gb": 1024 ** 3}


def parse_bytes(text):
    """'128mb' -> 134217728 (Redis semantics); None when it is not a size."""
    match = re.match(r"^\s*(\d+)\s*([a-z]*)\s*$", str(text).lower())
    if not match or match.group(2) not in UNITS:
        return None
    return int(match.group(1)) * UNITS[match.group(2)]


def keys_in(client, everything):
    if everything:
        return sum(v.get("keys", 0) for k, v in client.info("keyspace").items() if isinstance(v, dict))
    return client.dbsize()


def flush(module, client):
    p = module.params
    everything = p["action"] == "flushall"
    scope = "every database" if everything else "db %d" % p["db"]
    before = keys_in(client, everything)
    result = dict(keys_before=before, changed=before > 0)
    confirmed = require_confirm(module, "confirm", "%s of %s (%d keys)" % (p["action"].upper(), where(p), before))
    if module.check_mode or not confirmed:
        module.exit_json(msg="would %s %s (%d keys)" % (p["action"].upper(), scope, before), **result)
    if everything:
        client.flushall(asynchronous=p["asynchronous"])
    else:
        client.flushdb(asynchronous=p["asynchronous"])
    result["keys_after"] = keys_in(client, everything)
    module.exit_json(msg="%s of %s: %d keys removed" % (p["action"].upper(), scope, before - result["keys_after"]),
                     **result)


def config_set(module, client):
    p = module.params
    wanted = {}
    if p["maxmemory"] is not None:
        wanted["maxmemory"] = parse_bytes(p["maxmemory"])
        if wanted["maxmemory"] is None:
            module.fail_json(msg="maxmemory %r is not a size (bytes, or a number with k, kb, m, mb, g or gb)" % p["maxmemory"])
    if p["maxmemory_policy"] is not None:
        wanted["maxmemory_policy"] = p["maxmemory_policy"]
    if not wanted:
        module.fail_json(msg="action=config_set needs maxmemory and/or maxmemory_policy")
    current = client.config_get("maxmemory*")
    before = dict(maxmemory=int(current["maxmemory"]), maxmemory_policy=current["maxmemory-policy"])
    after = dict(before, **wanted)
    changes = dict((k, v) for k, v in wanted.items() if before[k] != v)
    result = dict(changed=bool(changes), before=before, after=after,
                  diff=dict(before="".join("%s: %s\n" % kv for kv in sorted(before.items())),
                            after="".join("%s: %s\n" % kv for kv in sorted(after.items()))))
    if changes and not module.check_mode:
        for key, value in sorted(changes.items()):
            client.config_set(key.replace("_", "-"), value)
        if changes.get("maxmemory"):
            used = int(client.info("memory")["used_memory"])
            if used > changes["maxmemory"]:
                module.warn("used memory (%d bytes) is above the new maxmemory (%d)" % (used, changes["maxmemory"]))
    module.exit_json(**result)


def main():
    argument_spec = dict(
        REDIS_ARGSPEC,
        action=dict(type="str", required=True, choices=["flushdb", "flushall", "config_set"]),
        confirm=dict(type="bool", default=False),
        asynchronous=dict(type="bool", default=False),
        maxmemory=dict(type="str"),
        maxmemory_policy=dict(type="str", choices=["noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                                                   "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = connect(module)
    try:
        if module.params["action"] == "config_set":
            config_set(module, client)
        else:
            flush(module, client)
    except redis_error() as exc:
        module.fail_json(msg="%s: %s failed: %s" % (where(module.params), module.params["action"], exc))


if __name__ == "__main__":
    main()
