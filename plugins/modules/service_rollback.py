#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: service_rollback
short_description: Redeploy the previous image of a compose service (or container) and wait until it is healthy
version_added: "1.0.0"
description:
  - The action modules record the image a service runs before every change (see O(state_dir)), so "the previous
    image" is the newest recorded image that is not the one running now. O(image) names one explicitly instead.
  - The image rolled back from is marked bad in the history, so running the rollback again does not flip back to
    it (it reports C(changed=false)).
  - Each replica is recreated through the Docker Engine API with its own configuration (command, environment,
    mounts, networks, limits, compose labels, so compose still owns it) and only the image changed; settings
    the old image brought (its environment, labels, command) are left for the new image to bring.
    Anonymous volumes are carried over.
  - Replicas are done one at a time, each healthy before the next. If the new container cannot be created or
    started, the old one is put back and started again.
  - With O(record_only=true) the module only records the running image (for example right after a deploy).
  - Check mode reports the image it would go from and to; nothing is changed or recorded.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.actions
  - incident.response.actions.target
  - incident.response.actions.wait
  - incident.response.actions.guard
options:
  image:
    description:
      - Image to roll back to (reference or id). Default is the previous image from the history.
      - The image must already be present on the engine; nothing is pulled.
    type: str
  record_only:
    description: Only record the image the target runs now in the history; do not redeploy.
    type: bool
    default: false
  stop_timeout:
    description: Seconds the old container gets to stop after SIGTERM before it is killed.
    type: int
    default: 10
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in diff mode) when in diff mode.
    support: full
seealso:
  - module: incident.response.service_restart
"""

EXAMPLES = r"""
- name: Remember the good image after a deploy
  incident.response.service_rollback:
    project: incident-lab
    service: api
    record_only: true

- name: Roll the api back to the image it ran before the bad deploy
  incident.response.service_rollback:
    project: incident-lab
    service: api
    wait_for: http
    url: http://127.0.0.1:18000/health/ready
    deadline: 60
  register: incident_rollback

- name: Roll back to a named release
  incident.response.service_rollback:
    project: incident-lab
    service: api
    image: incident-lab/api:1.0.0
"""

RETURN = r"""
from_image:
  description: Image (reference and id) running before.
  returned: always
  type: dict
  sample: {image: incident-lab/api:broken, image_id: "sha256:4be1..."}
to_image:
  description: Image (reference and id) rolled back to (null with O(record_only)).
  returned: always
  type: dict
  sample: {image: incident-lab/api:current, image_id: "sha256:756b..."}
healthy:
  description: Whether every recreated replica became healthy (null in check mode and with O(record_only)).
  returned: always
  type: bool
containers:
  description: Container summaries after the rollback.
  returned: when changed and not check mode
  type: list
  elements: dict
elapsed_s:
  description: Seconds from stopping the first replica to the last one healthy.
  returned: when changed and not check mode
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.compose import (
    TARGET_ARGSPEC, TARGET_RULES, describe_target, find_containers, lock_key_of, service_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, DockerClient, DockerError, container_summary)
from ansible_collections.incident.response.plugins.module_utils.guard import (
    GUARD_ARGSPEC, GuardError, TargetLock, image_history, mark_bad, previous_image, record_image, state_dir_of)
from ansible_collections.incident.response.plugins.module_utils.wait import (
    WAIT_ARGSPEC, probe_from_params, wait_healthy)

# Config fields the image also sets: dropped when equal to the old image's, so the new image brings its own.
IMAGE_DEFAULTS = ("Cmd", "Entrypoint", "WorkingDir", "User", "Healthcheck", "StopSignal", "ExposedPorts", "Volumes")
CREATE_FIELDS = ("Hostname", "Domainname", "User", "Env", "Cmd", "Entrypoint", "Labels", "WorkingDir", "Healthcheck",
                 "StopSignal", "StopTimeout", "ExposedPorts", "Volumes", "Tty", "OpenStdin", "StdinOnce",
                 "AttachStdin", "AttachStdout", "AttachStderr", "MacAddress", "Shell", "OnBuild")


def clone_config(info, old_image, new_image):
    """Create-API (config, host_config, networking_config) of container `info` with `new_image`."""
    cfg = info.get("Config") or {}
    img = (old_image or {}).get("Config") or {}
    config = dict((k, cfg[k]) for k in CREATE_FIELDS if cfg.get(k) not in (None, "", [], {}))
    for key in IMAGE_DEFAULTS:
        if key in config and config[key] == img.get(key):
            del config[key]
    image_env = set(img.get("Env") or [])
    config["Env"] = [e for e in cfg.get("Env") or [] if e not in image_env]
    image_labels = img.get("Labels") or {}
    config["Labels"] = dict((k, v) for k, v in (cfg.get("Labels") or {}).items() if image_labels.get(k) != v)
    host_config = dict(info.get("HostConfig") or {})
    network_mode = host_config.get("NetworkMode") or ""
    if network_mode in ("host", "none") or network_mode.startswith("container:") \
            or config.get("Hostname") == info["Id"][:12]:
        config.pop("Hostname", None)
        config.pop("Domainname", None)
    config["Image"] = new_image
    # anonymous volumes are not in Binds: carry them over, as compose does
    bound = set(b.split(":")[1] for b in host_config.get("Binds") or [] if ":" in b)
    bound.update(m.get("Target") for m in host_config.get("Mounts") or [])
    extra = ["%s:%s%s" % (m["Name"], m["Destination"], "" if m.get("RW", True) else ":ro")
             for m in info.get("Mounts") or [] if m.get("Type") == "volume" and m["Destination"] not in bound]
    if extra:
        host_config["Binds"] = list(host_config.get("Binds") or []) + extra
    networks = dict(((info.get("NetworkSettings") or {}).get("Networks") or {}))
    endpoints = {}
    for name, ep in networks.items():
        endpoints[name] = dict(Aliases=[a for a in ep.get("Aliases") or [] if a != info["Id"][:12]] or None,
                               IPAMConfig=ep.get("IPAMConfig"), Links=ep.get("Links"))
    return config, host_config, endpoints


def redeploy(client, info, image_ref, stop_timeout):
    """Replace container `info` by a clone running `image_ref`; put the old one back if that fails. Returns new id."""
    name = info["Name"].lstrip("/")
    old_image = client.image(info["Image"])
    config, host_config, endpoints = clone_config(info, old_image, image_ref)
    primary = host_config.get("NetworkMode")
    first = dict((k, v) for k, v in endpoints.items() if k == primary) or None
    client.action(info["Id"], "stop", {"t": str(stop_timeout)}, timeout=stop_timeout + client.timeout)
    parked = "%s-rollback-%d" % (name, int(time.time()))
    client.rename_container(info["Id"], parked)
    new_id = None
    try:
        new_id = client.create_container(name, config, host_config, {"EndpointsConfig": first} if first else None)
        for net, ep in endpoints.items():
            if net != primary and net not in ("host", "none", "bridge"):
                client.connect_network(net, new_id, ep)
        client.action(new_id, "start")
    except DockerError:
        if new_id:
            client.remove_container(new_id, force=True)
        client.rename_container(info["Id"], name)
        client.action(info["Id"], "start")
        raise
    client.remove_container(info["Id"], force=True)
    return new_id


def image_entry(ref, image_id):
    return dict(image=ref, image_id=image_id)


def main():
    argument_spec = dict(
        image=dict(type="str"),
        record_only=dict(type="bool", default=False),
        stop_timeout=dict(type="int", default=10),
    )
    for spec in (DOCKER_ARGSPEC, TARGET_ARGSPEC, WAIT_ARGSPEC, GUARD_ARGSPEC):
        argument_spec.update(spec)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True,
                           mutually_exclusive=TARGET_RULES["mutually_exclusive"] + [["image", "record_only"]],
                           required_one_of=TARGET_RULES["required_one_of"], required_by=TARGET_RULES["required_by"],
                           required_if=[("wait_for", "http", ["url"]), ("wait_for", "tcp", ["port"])])
    p = module.params
    target = describe_target(p)
    client = DockerClient.from_module(module)
    state_dir = state_dir_of(module)
    result = dict(changed=False, healthy=None, to_image=None)
    try:
        listed = find_containers(client, p)
        if not listed:
            module.fail_json(msg="no container found for %s (Docker engine at %s)" % (target, p["docker_host"]))
        with TargetLock(state_dir, lock_key_of(listed[0]), p["lock_timeout"]):
            infos = [client.inspect(c["Id"]) for c in listed]
            project, service = service_of(infos[0])
            current = image_entry(infos[0]["Config"]["Image"], infos[0]["Image"])
            result["from_image"] = current
            if p["record_only"]:
                result["changed"] = not module.check_mode and record_image(state_dir, project, service, **current)
                module.exit_json(msg="%s runs %s (%s)" % (target, current["image"], current["image_id"][:19]), **result)
            if p["image"]:
                wanted = image_entry(p["image"], client.image(p["image"])["Id"])
            else:
                wanted = previous_image(state_dir, project, service, current["image_id"])
                bad = [h["image"] for h in image_history(state_dir, project, service) if h.get("bad")]
                if not wanted and bad:  # a second run after a rollback: stay, never go back to the bad image
                    module.exit_json(msg="%s already rolled back: it runs %s; %s was rolled back from (marked bad)"
                                     % (target, current["image"], ", ".join(bad)), **result)
                if not wanted:
                    module.fail_json(msg="no previous image of %s is recorded in %s (only %s): pass image=<ref> "
                                         "(the action modules record the running image before each change; "
                                         "record_only=true records it after a deploy)"
                                         % (target, state_dir, current["image"]), **result)
                # the tag may have moved since: deploy by id unless the reference still names that image
                try:
                    if client.image(wanted["image"])["Id"] != wanted["image_id"]:
                        wanted = image_entry(wanted["image_id"], wanted["image_id"])
                    client.image(wanted["image_id"])
                except DockerError as exc:
                    module.fail_json(msg="previous image %s (%s) of %s is no longer on the engine: %s"
                                     % (wanted["image"], wanted["image_id"][:19], target, exc), **result)
            result.update(to_image=wanted, diff=dict(before="image: %s\n" % current["image"],
                                                     after="image: %s\n" % wanted["image"]))
            stale = [i for i in infos if i["Image"] != wanted["image_id"]]
            if not stale:
                module.exit_json(msg="%s already runs %s" % (target, wanted["image"]), **result)
            result["changed"] = True
            if module.check_mode:
                module.exit_json(msg="would roll %s back from %s to %s (%d replica(s))"
                                 % (target, current["image"], wanted["image"], len(stale)), **result)
            for info in stale:
                record_image(state_dir, project, service, info["Config"]["Image"], info["Image"])
                mark_bad(state_dir, project, service, info["Image"])
            probe = probe_from_params(p)
            began = time.monotonic()
            healthy, reasons, after = True, {}, {}
            for info in stale:  # one replica at a time, each healthy before the next
                new_id = redeploy(client, info, wanted["image"], p["stop_timeout"])
                healthy, reasons, waited = wait_healthy(client, [new_id], probe, p["deadline"])
                after.update(waited)
                if not healthy:
                    break
    except (DockerError, GuardError, ValueError) as exc:
        module.fail_json(msg="rollback of %s failed: %s" % (target, exc), **result)

    result.update(healthy=healthy, elapsed_s=round(time.monotonic() - began, 3),
                  containers=[container_summary(i) for i in after.values()])
    if not healthy:
        module.fail_json(msg="%s rolled back to %s but not healthy within %ss: %s"
                         % (target, wanted["image"], p["deadline"], reasons), **result)
    module.exit_json(msg="%s rolled back from %s to %s and healthy" % (target, current["image"], wanted["image"]),
                     **result)


if __name__ == "__main__":
    main()
