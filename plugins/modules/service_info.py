#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: service_info
short_description: State, resources and recent log errors of Docker services, in one pass
description:
  - Answers C(docker ps), C(docker inspect), C(docker stats --no-stream) and C(docker logs --since | grep ERROR)
    for one container, one compose service, or every service of a compose project.
  - Every Engine API call of every container runs concurrently in a thread pool, so 50 containers cost
    about as much as one.
  - Never changes anything.
version_added: "0.1.0"
author:
  - incident.response contributors (@incident-response)
options:
  project:
    description: Compose project (label C(com.docker.compose.project)). With no O(service), every service of the project.
    type: str
  service:
    description:
      - Compose service name(s) in O(project). A named service with no container is reported as C(missing).
    type: list
    elements: str
    aliases: [services]
  container:
    description: A plain container, by name or id. Mutually exclusive with O(project).
    type: str
  stats:
    description: Take one stats sample (CPU, memory) per running container.
    type: bool
    default: true
  logs:
    description: Read recent log lines and count the O(log_patterns) in them.
    type: bool
    default: true
  log_since_minutes:
    description: Only log lines from the last N minutes are read.
    type: int
    default: 15
  log_lines:
    description: At most this many of the most recent log lines are read per container.
    type: int
    default: 200
  log_patterns:
    description: Words (or regular expressions) counted in the log lines.
    type: list
    elements: str
    default: [ERROR, FATAL, CRITICAL]
  log_sample:
    description: How many of the most recent matching lines are returned per container.
    type: int
    default: 5
  restart_warn:
    description: A restart count at or above this is a warning finding.
    type: int
    default: 3
  workers:
    description:
      - Size of the thread pool. A stats sample takes about a second (the engine waits for its next reading), so
        the pool is wide enough for every container to be sampled at once.
    type: int
    default: 64
  unreachable_ok:
    description: When the Docker engine does not answer, return RV(reachable=false) instead of failing.
    type: bool
    default: false
extends_documentation_fragment:
  - incident.response.attributes.info
  - incident.response.actions
notes:
  - Supports check mode (it never changes anything).
"""

EXAMPLES = r"""
- name: Every service of the lab
  incident.response.service_info:
    project: shop
  register: services

- name: The API only, fast (no stats, no logs)
  incident.response.service_info:
    project: shop
    service: api
    stats: false
    logs: false

- name: A plain container, counting timeouts too
  incident.response.service_info:
    container: legacy-billing
    log_patterns: [ERROR, FATAL, CRITICAL, Timeout]
    log_since_minutes: 60
"""

RETURN = r"""
reachable:
  description: Whether the Docker engine answered.
  returned: always
  type: bool
error:
  description: Why the engine could not be reached (with O(unreachable_ok)).
  returned: when not reachable
  type: str
services:
  description:
    - Per service (compose service name, or the container name for a plain container).
    - C(state) is C(running) (all replicas up and healthy), C(degraded), C(down) (none running) or C(missing) (no container).
  returned: always
  type: dict
  sample:
    api:
      state: down
      replicas: 1
      running: 0
      healthy: 0
      findings: [{severity: critical, check: container_state, message: "api down: exited exit code 137"}]
      containers:
        - name: shop_api_1
          status: exited
          exit_code: 137
          oom_killed: false
          restart_count: 0
          health: unhealthy
          image: shop/api:current
          image_id: sha256:0123
          cpu_percent: null
          memory_bytes: null
          log_errors: {ERROR: 2, FATAL: 0, CRITICAL: 0}
          log_sample: ["ERROR POST /api/sagas -> 500"]
findings:
  description:
    - Findings (severity critical|warning|info, check, message), most severe first.
    - A C(container_state) finding (a stopped container) also names the C(container) and whether it was
      C(oom_killed), so a reader decides without parsing the message.
  returned: always
  type: list
  elements: dict
  sample: [{severity: critical, check: container_state, message: "api down: exited exit code 137, OOMKilled",
            container: shop_api_1, oom_killed: true}]
elapsed_ms:
  description: Wall time of the diagnostics.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, SERVICE_LABEL, DockerClient, DockerError)
from ansible_collections.incident.response.plugins.module_utils.diag_docker import (
    DEFAULT_LOG_PATTERNS, container_findings, describe_containers, finding, service_state, sort_findings)


def collect(client, params):
    if params["container"]:
        listed = client.containers(name=params["container"])
        listed = [c for c in listed if "/" + params["container"] in c.get("Names", []) or c["Id"].startswith(params["container"])]
    else:
        listed = client.containers(project=params["project"])
        if params["service"]:
            listed = [c for c in listed if (c.get("Labels") or {}).get(SERVICE_LABEL) in params["service"]]
    described = describe_containers(
        client, listed, stats=params["stats"], logs=params["logs"], log_since_s=params["log_since_minutes"] * 60,
        log_lines=params["log_lines"], patterns=params["log_patterns"], sample=params["log_sample"],
        workers=params["workers"])
    grouped = {}
    if params["container"]:
        grouped[params["container"]] = described
    for name in params["service"] or []:
        grouped.setdefault(name, [])
    for c in described:
        if not params["container"]:
            grouped.setdefault(c.get("service") or c["name"], []).append(c)
    services, findings = {}, []
    for name, containers in sorted(grouped.items()):
        services[name] = service_state(containers)
        own = [finding("critical", "missing", "%s missing: no container found" % name)] if not containers else []
        for c in containers:
            own.extend(container_findings(name, c, params["restart_warn"]))
        services[name]["findings"] = sort_findings(own)
        findings.extend(own)
    return services, sort_findings(findings)


def main():
    spec = dict(
        project=dict(type="str"),
        service=dict(type="list", elements="str", aliases=["services"]),
        container=dict(type="str"),
        stats=dict(type="bool", default=True),
        logs=dict(type="bool", default=True),
        log_since_minutes=dict(type="int", default=15),
        log_lines=dict(type="int", default=200),
        log_patterns=dict(type="list", elements="str", default=list(DEFAULT_LOG_PATTERNS)),
        log_sample=dict(type="int", default=5),
        restart_warn=dict(type="int", default=3),
        workers=dict(type="int", default=64),
        unreachable_ok=dict(type="bool", default=False),
    )
    spec.update(DOCKER_ARGSPEC)
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True,
                           required_one_of=[("project", "container")], mutually_exclusive=[("project", "container")],
                           required_by={"service": "project"})
    started = time.monotonic()
    try:
        client = DockerClient.from_module(module)
        services, findings = collect(client, module.params)
    except DockerError as exc:
        where = "project %s" % module.params["project"] if module.params["project"] else "container %s" % module.params["container"]
        msg = "Docker engine at %s could not be queried for %s: %s" % (module.params["docker_host"], where, exc)
        if not module.params["unreachable_ok"] or exc.status:
            module.fail_json(msg=msg)
        module.exit_json(changed=False, reachable=False, error=msg, services={},
                         findings=[finding("critical", "docker", msg)], elapsed_ms=round((time.monotonic() - started) * 1000, 1))
    module.exit_json(changed=False, reachable=True, services=services, findings=findings,
                     elapsed_ms=round((time.monotonic() - started) * 1000, 1))


if __name__ == "__main__":
    main()
