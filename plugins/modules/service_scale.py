#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: service_scale
short_description: Scale a compose service to N running replicas and wait for them to be healthy
version_added: "0.1.0"
description:
  - Runs the compose CLI that is present (C(docker compose), else C(docker-compose)) as
    C(up -d --no-recreate --no-deps --scale <service>=N <service>), so running replicas are kept as they are,
    then waits until every running replica is healthy.
  - C(changed) only when the number of running replicas differs from O(replicas).
  - Records the running image first (for M(incident.response.service_rollback)) and holds the per-target lock.
  - In check mode the result says how many replicas would be added or removed.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.diff
  - incident.response.actions
  - incident.response.actions.compose
  - incident.response.actions.wait
  - incident.response.actions.guard
options:
  project:
    description: Compose project of O(service), for example C(shop).
    type: str
    required: true
  service:
    description: Compose service to scale.
    type: str
    required: true
  replicas:
    description: Number of running replicas wanted (V(0) stops and removes them all).
    type: int
    required: true
"""

EXAMPLES = r"""
- name: Four workers to drain the backlog
  incident.response.service_scale:
    project: shop
    service: worker
    replicas: 4
    compose_files: [/srv/shop/compose.yml]
"""

RETURN = r"""
before:
  description: Running replicas before.
  returned: always
  type: int
after:
  description: Running replicas after (the wanted count in check mode).
  returned: always
  type: int
healthy:
  description: Whether every running replica was healthy at the end (null in check mode or when nothing changed).
  returned: always
  type: bool
containers:
  description: Container summaries of the running replicas after scaling.
  returned: when changed and not check mode
  type: list
  elements: dict
compose_command:
  description: The compose argv that was run.
  returned: when changed and not check mode
  type: list
  elements: str
elapsed_s:
  description: Seconds from the compose command to every replica healthy.
  returned: when changed and not check mode
  type: float
"""

import time

from ansible_collections.incident.response.plugins.module_utils.compose import (
    ComposeError, action_module, run_compose, service_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DockerClient, DockerError, container_summary)
from ansible_collections.incident.response.plugins.module_utils.guard import target_key
from ansible_collections.incident.response.plugins.module_utils.guarded_action import guarded_action
from ansible_collections.incident.response.plugins.module_utils.wait import probe_from_params, wait_healthy


def main():
    module = action_module(dict(
        project=dict(type="str", required=True),
        service=dict(type="str", required=True),
        replicas=dict(type="int", required=True),
    ), target=False, compose=True)
    p = module.params
    if p["replicas"] < 0:
        module.fail_json(msg="replicas must be 0 or more, not %d" % p["replicas"])
    target = "service %s of compose project %s" % (p["service"], p["project"])
    client = DockerClient.from_module(module)
    result = dict(changed=False, healthy=None)
    with guarded_action(module, target_key(p["project"], p["service"]), "scaling %s" % target,
                        (DockerError, ComposeError, ValueError), result) as guard:
        every = client.containers(project=p["project"], service=p["service"])
        running = [c for c in every if c.get("State") in ("running", "paused", "restarting")]
        result.update(before=len(running), after=p["replicas"],
                      diff=dict(before="%s replicas: %d\n" % (p["service"], len(running)),
                                after="%s replicas: %d\n" % (p["service"], p["replicas"])))
        if len(running) == p["replicas"]:
            module.exit_json(msg="%s already runs %d replica(s)" % (target, p["replicas"]), **result)
        result["changed"] = True
        if module.check_mode:
            module.exit_json(msg="would scale %s from %d to %d replica(s)" % (target, len(running), p["replicas"]),
                             **result)
        if not every:
            module.fail_json(msg="%s has no container: compose labels tell where its compose file is, so create "
                                 "it once first (compose up) or pass compose_files" % target, **result)
        info = client.inspect(every[0]["Id"])
        guard.record(service_of(info), info)
        began = time.monotonic()
        argv, _out = run_compose(module, p["project"], every[0].get("Labels") or {},
                                 ["up", "-d", "--no-recreate", "--no-deps", "--scale",
                                  "%s=%d" % (p["service"], p["replicas"]), p["service"]],
                                 p["compose_files"], p["project_dir"])
        ids = [c["Id"] for c in client.containers(project=p["project"], service=p["service"], all_states=False)]
        healthy, reasons, infos = wait_healthy(client, ids, probe_from_params(p), p["deadline"])

    result.update(after=len(ids), healthy=healthy, compose_command=argv, elapsed_s=round(time.monotonic() - began, 3),
                  containers=[container_summary(infos[cid]) for cid in ids])
    if not healthy or len(ids) != p["replicas"]:
        module.fail_json(msg="%s scaled to %d running replica(s) (wanted %d); not healthy within %ss: %s"
                         % (target, len(ids), p["replicas"], p["deadline"], reasons), **result)
    module.exit_json(msg="%s scaled from %d to %d replica(s), all healthy" % (target, result["before"], len(ids)),
                     **result)


if __name__ == "__main__":
    main()
