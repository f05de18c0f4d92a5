#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: service_restart
short_description: Restart a container or every replica of a compose service, then wait until it is healthy
version_added: "0.1.0"
description:
  - Stops and starts the target (one replica at a time, or all at once), then polls every 100 ms until it is
    healthy (Docker healthcheck, an HTTP check, a TCP port, or running) or O(deadline) passes.
  - "Escalation ladder of the runbooks: with O(escalate=true), a service still unhealthy after the restart is
    recreated with the compose CLI (C(up -d --force-recreate --no-deps <service>)) and waited for again."
  - "A compose O(service) that has no container at all (removed, for example C(docker rm -f)) is created again
    with the compose CLI (C(up -d --no-deps <service>)) from the project's compose files, as the runbooks'
    C(docker compose up -d) would, and waited for; check mode says it would. The files come from O(compose_files)
    / O(project_dir), else from the labels of the project's other containers."
  - "Works against podman's Docker-compatible API too (O(docker_host) its socket); projects created by
    podman-compose are recreated with podman-compose (see O(compose_cli))."
  - "Guard rails: at most O(max_restarts) restarts of one target per O(restart_window) seconds (a refusal is a
    failure naming the limit and when it frees), a per-target lock so two responses never restart the same
    service at once, and the running image is recorded first so M(incident.response.service_rollback) knows
    the previous one."
  - In check mode nothing is stopped; the result lists what would be restarted.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.actions
  - incident.response.actions.target
  - incident.response.actions.compose
  - incident.response.actions.wait
  - incident.response.actions.guard
options:
  stop_timeout:
    description: Seconds the container gets to stop after SIGTERM before it is killed.
    type: int
    default: 10
  serial:
    description:
      - Restart replicas one at a time, each healthy before the next is stopped (V(true)), or all at once (V(false)).
    type: bool
    default: true
  escalate:
    description:
      - When the restarted service is still unhealthy, recreate it with the compose CLI and wait again.
      - Needs a compose service (O(service), or a O(container) that compose created).
    type: bool
    default: false
  start_at:
    description:
      - The rung of the ladder to start at. V(recreate) skips the restart, for a response that has already
        restarted the service once (a quick first attempt) and has kept what the recreate destroys.
      - V(recreate) implies O(escalate).
    type: str
    choices: [restart, recreate]
    default: restart
    version_added: 0.1.0
  max_restarts:
    description: At most this many restarts of the target per O(restart_window); V(0) disables the limit.
    type: int
    default: 3
  restart_window:
    description: Length in seconds of the rate-limit window.
    type: int
    default: 900
notes:
  - Talks to the Docker Engine API (or podman's Docker-compatible API); the compose CLI is only run to escalate
    or to create a service that has no container.
seealso:
  - module: incident.response.service_rollback
  - module: incident.response.service_state
"""

EXAMPLES = r"""
- name: Restart the api and wait for its healthcheck
  incident.response.service_restart:
    project: shop
    service: api
    deadline: 60

- name: P0 ladder - restart, and recreate the service if it is still down
  incident.response.service_restart:
    project: shop
    service: api
    wait_for: http
    url: http://127.0.0.1:8000/health/ready
    escalate: true
    deadline: 30
  register: incident_restart

- name: Restart the app of a podman-compose project (podman's API socket); created again if it was removed
  incident.response.service_restart:
    docker_host: unix:///run/incident-podman/podman.sock
    project: shop
    service: app
    compose_cli: podman-compose
    project_dir: /srv/shop
    wait_for: http
    url: http://127.0.0.1:28000/health
    escalate: true

- name: Restart every worker at once, at most twice an hour
  incident.response.service_restart:
    project: shop
    service: worker
    serial: false
    max_restarts: 2
    restart_window: 3600
"""

RETURN = r"""
healthy:
  description: Whether every replica was healthy at the end.
  returned: always
  type: bool
escalated:
  description: Whether the service had to be recreated with the compose CLI.
  returned: always
  type: bool
restarted:
  description: Names of the containers restarted (or that would be, in check mode).
  returned: always
  type: list
  elements: str
before:
  description: Container summaries before the restart (id, name, status, health, image, started_at...).
  returned: always
  type: list
  elements: dict
after:
  description: Container summaries after the restart (and recreate).
  returned: when not check mode
  type: list
  elements: dict
phases:
  description: Seconds each phase took, summed over replicas (C(recreate_s) only when escalated; C(create_s),
    C(healthy_s) and C(total_s) when a missing service was created).
  returned: when not check mode
  type: dict
  sample: {stop_s: 0.41, start_s: 0.12, healthy_s: 2.05, total_s: 2.61}
attempts:
  description: Each step of the ladder with its outcome and the last health reason per container.
  returned: when not check mode
  type: list
  elements: dict
  sample: [{action: restart, healthy: false, reasons: {shop_api_1: "health unhealthy"}}]
compose_command:
  description: The compose argv run to escalate, or to create a service that had no container.
  returned: when escalated or created
  type: list
  elements: str
created:
  description: Whether the service had no container and was created with the compose CLI (C(up -d --no-deps)).
  returned: always
  type: bool
lock_waited_s:
  description: Seconds spent waiting for another response's lock on the same target.
  returned: when not check mode
  type: float
rate_limit:
  description: Restarts of this target counted in the window (including this one), the maximum and the window.
  returned: always
  type: dict
  sample: {used: 1, max: 3, window_s: 900}
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.incident.response.plugins.module_utils.compose import (
    ComposeError, action_module, cli_from_labels, compose_command, describe_target, engine_is_podman, find_containers,
    find_target, lock_key_of, project_labels, run_compose, service_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DockerClient, DockerError, container_summary)
from ansible_collections.incident.response.plugins.module_utils.guard import target_key
from ansible_collections.incident.response.plugins.module_utils.guarded_action import RateLimitOptions, guarded_action
from ansible_collections.incident.response.plugins.module_utils.wait import probe_from_params, wait_healthy


def act(pool, client, batch, verb, stop_timeout):
    """One Engine API verb on every container of the batch at once; {id: reason} of those that failed."""
    query = {"t": str(stop_timeout)} if verb == "stop" else None
    calls = [(cid, pool.submit(client.action, cid, verb, query, stop_timeout + client.timeout)) for cid in batch]
    failed = {}
    for cid, call in calls:
        try:
            call.result()
        except DockerError as exc:  # e.g. a start that fails: recreating may still heal it
            failed[cid] = "%s failed: %s" % (verb, exc)
    return failed


def restart_and_wait(client, ids, stop_timeout, probe, deadline, serial=True):
    """Stop, start and wait for each container (serially, or all at once). Returns (healthy, phases, reasons, infos).

    A rolling restart stops at the first replica that does not come back."""
    phases = dict(stop_s=0.0, start_s=0.0, healthy_s=0.0)
    reasons, infos = {}, {}
    batches = [[cid] for cid in ids] if serial else [list(ids)]
    with ThreadPoolExecutor(max_workers=max(1, len(ids))) as pool:
        for batch in batches:
            for verb in ("stop", "start"):
                began = time.monotonic()
                failed = act(pool, client, batch, verb, stop_timeout)
                phases[verb + "_s"] += time.monotonic() - began
                if failed:
                    reasons.update(failed)
                    infos.update((cid, client.inspect(cid)) for cid in failed)
                    return False, phases, reasons, infos
            began = time.monotonic()
            ok, batch_reasons, batch_infos = wait_healthy(client, batch, probe, deadline)
            phases["healthy_s"] += time.monotonic() - began
            reasons.update(batch_reasons)
            infos.update(batch_infos)
            if not ok:
                return False, phases, reasons, infos
    return True, phases, reasons, infos


def named(reasons, infos):
    return dict((infos[cid].get("Name", cid).lstrip("/"), reason) for cid, reason in reasons.items())


def recreate(module, client, info, replicas):
    """Escalation: `compose up -d --force-recreate --no-deps --scale service=N service`; returns (argv, new ids)."""
    project, service = service_of(info)
    if project == "container":
        raise ComposeError("container %s was not created by compose: it cannot be recreated" % service)
    labels = info["Config"].get("Labels") or {}
    podman = None if cli_from_labels([labels]) else engine_is_podman(client)
    argv, _out = run_compose(module, project, labels,
                             ["up", "-d", "--force-recreate", "--no-deps", "--scale", "%s=%d" % (service, replicas), service],
                             module.params["compose_files"], module.params["project_dir"], podman=podman)
    ids = [c["Id"] for c in client.containers(project=project, service=service, all_states=True)]
    return argv, ids


RESTART_LIMIT = RateLimitOptions("max_restarts", "restart_window")
ACTION_ERRORS = (DockerError, ComposeError, ValueError)


def create_missing(module, client, result):
    """The service has no container (removed): `compose up -d --no-deps <service>` from the project's compose
    files (options, else the labels of the project's other containers), then wait until it is healthy.
    Returns only when another response created it while this one waited for the lock."""
    p = module.params
    project, service = p["project"], p["service"]
    target = describe_target(p)
    try:
        siblings = project_labels(client, project)
        podman = None if cli_from_labels(siblings) else engine_is_podman(client)
        argv, kwargs = compose_command(module, project, siblings[0] if siblings else {}, ["up", "-d", "--no-deps", service],
                                       p["compose_files"], p["project_dir"], labels_list=siblings, podman=podman)
    except (ComposeError, DockerError) as exc:
        module.fail_json(msg="no container found for %s (Docker engine at %s), and it cannot be created: %s"
                         % (target, p["docker_host"], exc), **result)
    result.update(healthy=False, created=True, compose_command=argv)
    started = time.monotonic()
    with guarded_action(module, target_key(project, service), "creating %s" % target, ACTION_ERRORS, result,
                        RESTART_LIMIT) as guard:
        if find_containers(client, p):  # another response created it while we waited for the lock
            return
        guard.consume()
        result["changed"] = True
        if module.check_mode:
            result["healthy"] = None
            module.exit_json(msg="%s has no container: would create it with %s" % (target, " ".join(argv)), **result)
        rc, out, err = module.run_command(argv, **kwargs)
        if rc != 0:
            raise ComposeError("%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()[-2000:]))
        created = time.monotonic()
        ids = [c["Id"] for c in find_containers(client, p)]
        if not ids:
            raise ComposeError("%s succeeded but %s still has no container" % (" ".join(argv), target))
        healthy, reasons, infos = wait_healthy(client, ids, probe_from_params(p), p["deadline"])
        phases = dict(create_s=created - started, healthy_s=time.monotonic() - created,
                      total_s=time.monotonic() - started)
        result.update(healthy=healthy, after=[container_summary(infos.get(cid) or client.inspect(cid)) for cid in ids],
                      attempts=[dict(action="create", healthy=healthy, reasons=named(reasons, infos))],
                      phases=dict((k, round(v, 3)) for k, v in phases.items()))
    if not healthy:
        module.fail_json(msg="%s had no container; created it with %s but it is not healthy: %s"
                         % (target, " ".join(argv), result["attempts"][-1]["reasons"]), **result)
    module.exit_json(msg="%s had no container: created with the compose CLI and healthy in %.1fs"
                     % (target, phases["total_s"]), **result)


DONE = dict(restart="restarted", recreate="recreated")


def restart_ladder(module, client, before, probe):
    """Restart every container of `before` (inspect output); when still unhealthy and asked to, recreate the
    service with the compose CLI. Returns (healthy, phases, attempts, ids, infos, compose argv or None)."""
    p = module.params
    ids = [info["Id"] for info in before]
    if p["start_at"] == "recreate":
        healthy, phases, attempts, infos = False, dict(stop_s=0.0, start_s=0.0, healthy_s=0.0), [], {}
    else:
        healthy, phases, reasons, infos = restart_and_wait(client, ids, p["stop_timeout"], probe, p["deadline"], p["serial"])
        attempts = [dict(action="restart", healthy=healthy, reasons=named(reasons, infos))]
        if healthy or not p["escalate"]:
            return healthy, phases, attempts, ids, infos, None
    began = time.monotonic()
    argv, ids = recreate(module, client, before[0], len(ids))
    phases["recreate_s"] = time.monotonic() - began
    began = time.monotonic()
    healthy, reasons, infos = wait_healthy(client, ids, probe, p["deadline"])
    phases["healthy_s"] += time.monotonic() - began
    attempts.append(dict(action="recreate", healthy=healthy, reasons=named(reasons, infos)))
    return healthy, phases, attempts, ids, infos, argv


def main():
    module = action_module(dict(
        stop_timeout=dict(type="int", default=10),
        serial=dict(type="bool", default=True),
        escalate=dict(type="bool", default=False),
        start_at=dict(type="str", default="restart", choices=["restart", "recreate"]),
        max_restarts=dict(type="int", default=3),
        restart_window=dict(type="int", default=900),
    ), compose=True)
    p = module.params
    target = describe_target(p)
    client = DockerClient.from_module(module)
    started = time.monotonic()
    result = dict(changed=False, healthy=False, escalated=False, created=False, restarted=[], before=[])
    listed = find_target(module, client, p, required=not p["service"])
    if not listed:
        create_missing(module, client, result)
        listed = find_target(module, client, p)  # created by another response meanwhile: restart as asked
        result["created"] = False
    with guarded_action(module, lock_key_of(listed[0]), "restart of %s" % target, ACTION_ERRORS, result,
                        RESTART_LIMIT) as guard:
        before = [client.inspect(c["Id"]) for c in listed]  # under the lock: another response may have acted
        result.update(restarted=[c["Names"][0].lstrip("/") for c in listed], before=[container_summary(i) for i in before])
        guard.consume()
        result["changed"] = True
        if module.check_mode:
            result["healthy"] = None
            module.exit_json(msg="would restart %s (%d container(s))" % (target, len(before)), **result)
        for info in before:
            guard.record(service_of(info), info)
        healthy, phases, attempts, ids, infos, argv = restart_ladder(module, client, before, probe_from_params(p))
        if argv:
            result.update(escalated=True, compose_command=argv)

    phases["total_s"] = time.monotonic() - started
    after = [container_summary(infos.get(cid) or client.inspect(cid)) for cid in ids]
    result.update(healthy=healthy, after=after, attempts=attempts,
                  phases=dict((k, round(v, 3)) for k, v in phases.items()))
    if not healthy:
        module.fail_json(msg="%s is still unhealthy after %s: %s" % (
            target, " and ".join(a["action"] for a in attempts), attempts[-1]["reasons"]), **result)
    module.exit_json(msg="%s %s and healthy in %.1fs" % (
        target, " and ".join(DONE[a["action"]] for a in attempts), phases["total_s"]), **result)


if __name__ == "__main__":
    main()
