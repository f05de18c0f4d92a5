#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: service_state
short_description: Stop, start, pause or unpause a container or every replica of a compose service
version_added: "0.1.0"
description:
  - Puts the target in the wanted state, for example to isolate a compromised service (V(stopped), or V(paused)
    which keeps its memory for forensics) or to bring stopped workers back (V(started)).
  - Idempotent; only the replicas not already in the state are touched, and C(changed) says whether any was.
  - After V(started) or V(unpaused) it waits until the touched replicas are healthy (see O(wait_for)).
  - Takes the same per-target lock as the other action modules. Check mode reports the replicas that would change.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.diff
  - incident.response.actions
  - incident.response.actions.target
  - incident.response.actions.wait
  - incident.response.actions.guard
options:
  state:
    description:
      - V(stopped) stops running (and paused) replicas; V(started) starts stopped ones and unpauses paused ones;
        V(paused) freezes running ones (stopped replicas cannot be paused and are reported);
        V(unpaused) resumes paused ones.
    type: str
    required: true
    choices: [stopped, started, paused, unpaused]
  stop_timeout:
    description: Seconds a replica gets to stop after SIGTERM before it is killed (V(stopped) only).
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Isolate the compromised api (keep its memory for forensics)
  incident.response.service_state:
    project: shop
    service: api
    state: paused

- name: Bring every worker back and wait for their healthchecks
  incident.response.service_state:
    project: shop
    service: worker
    state: started
    deadline: 60
"""

RETURN = r"""
containers:
  description: Per replica, the state before, the action taken (or C(none)) and the state after.
  returned: always
  type: list
  elements: dict
  sample: [{name: shop_worker_1, before: exited, action: start, after: running, health: healthy}]
healthy:
  description: Whether the started or unpaused replicas became healthy (null when there was nothing to wait for).
  returned: always
  type: bool
skipped:
  description: Replicas that cannot reach the state (a stopped replica cannot be paused).
  returned: always
  type: list
  elements: str
"""

from ansible_collections.incident.response.plugins.module_utils.compose import (
    action_module, describe_target, find_target, lock_key_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DockerClient, DockerError, container_summary)
from ansible_collections.incident.response.plugins.module_utils.guarded_action import guarded_action
from ansible_collections.incident.response.plugins.module_utils.wait import probe_from_params, wait_healthy


EXPECTED = dict(stopped="exited", started="running", paused="paused", unpaused="running")


def current_state(listed):
    """running | paused | exited | created ... from a /containers/json entry."""
    return listed.get("State") or "unknown"


def plan(state, now):
    """The Engine API verb that brings a replica from state `now` to `state`, None if already there, or 'skip'."""
    if state == "stopped":
        return "stop" if now in ("running", "paused", "restarting") else None
    if state == "started":
        return {"paused": "unpause", "running": None}.get(now, "start")
    if state == "paused":
        return {"running": "pause", "paused": None}.get(now, "skip")
    return "unpause" if now == "paused" else None


def main():
    module = action_module(dict(
        state=dict(type="str", required=True, choices=["stopped", "started", "paused", "unpaused"]),
        stop_timeout=dict(type="int", default=10),
    ))
    p = module.params
    target = describe_target(p)
    client = DockerClient.from_module(module)
    listed = find_target(module, client, p)
    with guarded_action(module, lock_key_of(listed[0]), "putting %s in state %s" % (target, p["state"]),
                        (DockerError, ValueError)):
        listed = find_target(module, client, p)  # fresh states, now that nobody else acts on it
        rows, touched, skipped = [], [], []
        for c in listed:
            name, now = c["Names"][0].lstrip("/"), current_state(c)
            verb = plan(p["state"], now)
            if verb == "skip":
                skipped.append(name)
                verb = None
            rows.append(dict(name=name, id=c["Id"][:12], before=now, action=verb or "none"))
            if verb and not module.check_mode:
                query = {"t": str(p["stop_timeout"])} if verb == "stop" else None
                client.action(c["Id"], verb, query, timeout=p["stop_timeout"] + client.timeout)
                touched.append(c["Id"])
        healthy = None
        infos = {}
        if touched and p["state"] in ("started", "unpaused"):
            healthy, reasons, infos = wait_healthy(client, touched, probe_from_params(p), p["deadline"])
        for row, c in zip(rows, listed):
            if row["action"] != "none" and not module.check_mode:
                summary = container_summary(infos.get(c["Id"]) or client.inspect(c["Id"]))
                row.update(after=summary["status"], health=summary["health"])
            else:
                row["after"] = row["before"] if row["action"] == "none" else EXPECTED[p["state"]]

    changed = any(r["action"] != "none" for r in rows)
    result = dict(changed=changed, containers=rows, healthy=healthy, skipped=skipped,
                  diff=dict(before="".join("%s: %s\n" % (r["name"], r["before"]) for r in rows),
                            after="".join("%s: %s\n" % (r["name"], r["after"]) for r in rows)))
    if skipped:
        module.warn("cannot pause replicas that are not running: %s" % ", ".join(skipped))
    if healthy is False:
        module.fail_json(msg="%s %s but not healthy within %ss: %s" % (target, p["state"], p["deadline"], reasons), **result)
    verb = "would be" if module.check_mode and changed else "is now" if changed else "already"
    module.exit_json(msg="%s %s %s" % (target, verb, p["state"]), **result)


if __name__ == "__main__":
    main()
