#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: service_rollback
short_description: Redeploy the previous image of a compose service (or container) and wait until it is healthy
version_added: "0.1.0"
description:
  - The action modules record the image a service runs before every change (see O(state_dir)), so "the previous
    image" is the newest recorded image that is not the one running now. O(image) names one explicitly instead.
  - The image rolled back from is marked bad in the history, so running the rollback again does not flip back to
    it (it reports C(changed=false)).
  - Each replica is recreated through the Docker Engine API with its own configuration (command, environment,
    mounts, networks, limits, compose labels, so compose still owns it) and only the image changed; settings
    the old image brought (its environment, labels, command) are left for the new image to bring.
    Anonymous volumes are carried over.
  - Replicas are done one at a time, each healthy before the next. The old container is stopped and renamed
    C(<name>-rollback-<time>) while its replacement is created under its name. If the new container cannot be
    created or started, it is removed and the old one gets its name back and is started again; either way no
    renamed container is left behind (what could not be cleaned up is reported in RV(left_behind) and fails the task).
  - "podman (its Docker-compatible API): ulimits are given back under the names podman accepts (C(RLIMIT_NOFILE)
    -> C(nofile)). A container that others depend on (podman-compose creates C(depends_on) as C(--requires)) cannot
    be removed while they exist, so its dependants are replaced with it, all or nothing: stopped, recreated from their
    own configuration and image, and started again if they ran (RV(recreated_dependants)). The clones carry no
    C(--requires): the Engine API cannot set it, as after C(podman-compose up --no-deps)."
  - With O(record_only=true) the module only records the running image (for example right after a deploy).
  - Check mode reports the image it would go from and to; nothing is changed or recorded.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes.diff
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
seealso:
  - module: incident.response.service_restart
"""

EXAMPLES = r"""
- name: Remember the good image after a deploy
  incident.response.service_rollback:
    project: shop
    service: api
    record_only: true

- name: Roll the api back to the image it ran before the bad deploy
  incident.response.service_rollback:
    project: shop
    service: api
    wait_for: http
    url: http://127.0.0.1:8000/health/ready
    deadline: 60
  register: incident_rollback

- name: Roll back the app of a podman-compose project on podman's API socket
  incident.response.service_rollback:
    docker_host: unix:///run/incident-podman/podman.sock
    project: shop
    service: app
    wait_for: http
    url: http://127.0.0.1:28000/health

- name: Roll back to a named release
  incident.response.service_rollback:
    project: shop
    service: api
    image: shop/api:1.0.0
"""

RETURN = r"""
from_image:
  description: Image (reference and id) running before.
  returned: always
  type: dict
  sample: {image: shop/api:broken, image_id: "sha256:4be1..."}
to_image:
  description: Image (reference and id) rolled back to (null with O(record_only)).
  returned: always
  type: dict
  sample: {image: shop/api:current, image_id: "sha256:756b..."}
healthy:
  description: Whether every recreated replica became healthy (null in check mode and with O(record_only)).
  returned: always
  type: bool
containers:
  description: Container summaries after the rollback.
  returned: when changed and not check mode
  type: list
  elements: dict
recreated_dependants:
  description: Containers recreated with the target because they depend on it (podman C(--requires)).
  returned: when there were any
  type: list
  elements: str
  sample: [shop_web_1]
left_behind:
  description: Containers (or clones) that could not be removed or renamed back, with the reason. Never expected.
  returned: when there were any
  type: list
  elements: str
elapsed_s:
  description: Seconds from stopping the first replica to the last one healthy.
  returned: when changed and not check mode
  type: float
"""

import time

from ansible_collections.incident.response.plugins.module_utils.compose import (
    action_module, describe_target, engine_is_podman, find_target, lock_key_of, service_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DockerClient, DockerError, container_summary)
from ansible_collections.incident.response.plugins.module_utils.guard import image_history, mark_bad, previous_image
from ansible_collections.incident.response.plugins.module_utils.guarded_action import guarded_action
from ansible_collections.incident.response.plugins.module_utils.wait import probe_from_params, wait_healthy

# Config fields the image also sets: dropped when equal to the old image's, so the new image brings its own.
IMAGE_DEFAULTS = ("Cmd", "Entrypoint", "WorkingDir", "User", "Healthcheck", "StopSignal", "ExposedPorts", "Volumes")
CREATE_FIELDS = ("Hostname", "Domainname", "User", "Env", "Cmd", "Entrypoint", "Labels", "WorkingDir", "Healthcheck",
                 "StopSignal", "StopTimeout", "ExposedPorts", "Volumes", "Tty", "OpenStdin", "StdinOnce",
                 "AttachStdin", "AttachStdout", "AttachStderr", "MacAddress", "Shell", "OnBuild")


# podman reports ulimits by their kernel names (RLIMIT_NOFILE) and refuses them back on create (nofile).
def ulimit_name(name):
    name = (name or "").lower()
    return name[len("rlimit_"):] if name.startswith("rlimit_") else name


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
    if host_config.get("Ulimits"):
        host_config["Ulimits"] = [dict(u, Name=ulimit_name(u.get("Name"))) for u in host_config["Ulimits"]]
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


def dependants(client, container_id):
    """podman: the containers that depend on `container_id` (created with --requires, as podman-compose does for
    depends_on), transitively, each after the containers it depends on. podman refuses to remove a container that
    others depend on, so these are replaced together with it. Docker has no such dependencies: []."""
    deps = {}
    for listed in client.containers(all_states=True):
        if listed["Id"] == container_id:
            continue
        try:
            found = client.call("GET", "/libpod/containers/%s/json" % listed["Id"]) or {}
        except DockerError as exc:
            if exc.status == 404:  # removed meanwhile
                continue
            raise
        if found.get("Dependencies"):
            deps[listed["Id"]] = set(found["Dependencies"])
    wanted, todo = set(), [container_id]
    while todo:
        cid = todo.pop()
        for other, needs in deps.items():
            if cid in needs and other not in wanted:
                wanted.add(other)
                todo.append(other)
    ordered, placed = [], {container_id}
    while wanted - set(ordered):
        ready = sorted(c for c in wanted - set(ordered) if not (deps[c] & wanted) - placed)
        ready = ready or sorted(wanted - set(ordered))  # a cycle: keep a stable order
        ordered.extend(ready)
        placed.update(ready)
    return ordered


class Replacement(object):
    """Replace containers by clones, all or nothing, and never leave a renamed original behind.

    Originals are stopped (dependants first) and renamed <name>-rollback-<time>; clones are created under the
    original names and started. If anything fails before the originals are removed, the clones are removed
    and every original gets its name back and is started again (those that ran). `left_behind` lists what
    could not be cleaned up (reported by the module, never silent)."""

    def __init__(self, client, stop_timeout):
        self.client = client
        self.stop_timeout = stop_timeout
        self.parked = []  # (info, parked name, was running)
        self.created = []  # (clone id, name)
        self.left_behind = []

    def run(self, members):
        """members: [(info, image ref)], each after those it depends on. Returns the clones' ids, in order."""
        client, stamp = self.client, int(time.time())
        try:
            for info, _image in reversed(members):  # dependants first
                running = bool((client.inspect(info["Id"]).get("State") or {}).get("Running"))
                client.action(info["Id"], "stop", {"t": str(self.stop_timeout)},
                              timeout=self.stop_timeout + client.timeout)
                self.parked.insert(0, [info, None, running])
                parked = "%s-rollback-%d" % (info["Name"].lstrip("/"), stamp)
                client.rename_container(info["Id"], parked)
                self.parked[0][1] = parked
            for index, (info, image) in enumerate(members):
                name = info["Name"].lstrip("/")
                new_id = self._create(info, image, name)
                self.created.append((new_id, name))
                if index == 0 or self.parked[index][2]:  # the target runs; dependants if they ran
                    client.action(new_id, "start")
        except DockerError:
            self.undo()
            raise
        for info, parked, _running in reversed(self.parked):  # dependants first: podman removes them in that order
            try:
                client.remove_container(info["Id"], force=True)
            except DockerError as exc:
                self.left_behind.append("%s (%s)" % (parked, exc))
        return [cid for cid, _name in self.created]

    def _create(self, info, image, name):
        client = self.client
        config, host_config, endpoints = clone_config(info, client.image(info["Image"]), image)
        primary = host_config.get("NetworkMode")
        first = dict((k, v) for k, v in endpoints.items() if k == primary) or None
        new_id = client.create_container(name, config, host_config, {"EndpointsConfig": first} if first else None)
        try:
            for net, ep in endpoints.items():
                if net != primary and net not in ("host", "none", "bridge"):
                    client.connect_network(net, new_id, ep)
        except DockerError:
            client.remove_container(new_id, force=True)
            raise
        return new_id

    def undo(self):
        """Remove the clones, give the originals their names back and start those that ran."""
        for new_id, name in reversed(self.created):
            try:
                self.client.remove_container(new_id, force=True)
            except DockerError as exc:
                self.left_behind.append("%s (clone %s: %s)" % (name, new_id[:12], exc))
        for info, parked, running in self.parked:  # the target first: its dependants need it running
            name = info["Name"].lstrip("/")
            if parked:
                try:
                    self.client.rename_container(info["Id"], name)
                except DockerError as exc:
                    self.left_behind.append("%s (%s)" % (parked, exc))
                    continue
            if running:
                try:
                    self.client.action(info["Id"], "start")
                except DockerError as exc:
                    self.left_behind.append("%s not started again (%s)" % (name, exc))
        self.created, self.parked = [], []


def redeploy(client, info, image_ref, stop_timeout, podman=False, result=None):
    """Replace container `info` by a clone running `image_ref` (and its podman dependants by clones of themselves);
    put everything back if that fails. Returns the target's new id."""
    members = [(info, image_ref)]
    if podman:
        for cid in dependants(client, info["Id"]):
            dep = client.inspect(cid)
            members.append((dep, dep["Config"]["Image"]))
    replacement = Replacement(client, stop_timeout)
    try:
        ids = replacement.run(members)
    finally:
        if result is not None and replacement.left_behind:
            result.setdefault("left_behind", []).extend(replacement.left_behind)
    if result is not None and len(members) > 1:
        result.setdefault("recreated_dependants", []).extend(m[0]["Name"].lstrip("/") for m in members[1:])
    if replacement.left_behind:
        raise DockerError("rolled back, but could not remove %s" % ", ".join(replacement.left_behind))
    return ids[0]


def image_entry(ref, image_id):
    return dict(image=ref, image_id=image_id)


def previous_choice(module, client, guard, target, project_service, current, result):
    """The image to roll back to when none is given: the newest recorded one that is not running and not marked
    bad, deployed by id when its tag has moved since. Exits when an earlier rollback already left the service on
    a good image; fails when nothing usable is recorded."""
    wanted = previous_image(guard.state_dir, project_service[0], project_service[1], current["image_id"])
    bad = [h["image"] for h in image_history(guard.state_dir, *project_service) if h.get("bad")]
    if not wanted and bad:  # a second run after a rollback: stay, never go back to the bad image
        module.exit_json(msg="%s already rolled back: it runs %s; %s was rolled back from (marked bad)"
                         % (target, current["image"], ", ".join(bad)), **result)
    if not wanted:
        module.fail_json(msg="no previous image of %s is recorded in %s (only %s): pass image=<ref> (the action "
                             "modules record the running image before each change; record_only=true records it "
                             "after a deploy)" % (target, guard.state_dir, current["image"]), **result)
    try:
        if client.image(wanted["image"])["Id"] != wanted["image_id"]:
            wanted = image_entry(wanted["image_id"], wanted["image_id"])
        client.image(wanted["image_id"])
    except DockerError as exc:
        module.fail_json(msg="previous image %s (%s) of %s is no longer on the engine: %s"
                         % (wanted["image"], wanted["image_id"][:19], target, exc), **result)
    return wanted


def replace_replicas(module, client, guard, project_service, stale, wanted, result):
    """Redeploy each stale replica with `wanted`, one at a time, each healthy before the next; the image
    replaced is marked bad once it is gone. Returns (healthy, reasons, {id: inspect} of the new replicas)."""
    p = module.params
    for info in stale:
        guard.record(project_service, info)
    probe = probe_from_params(p)
    healthy, reasons, after = True, {}, {}
    podman = engine_is_podman(client)
    for info in stale:
        new_id = redeploy(client, info, wanted["image"], p["stop_timeout"], podman, result)
        # marked bad once replaced: a failed redeploy put it back, and it runs again
        mark_bad(guard.state_dir, project_service[0], project_service[1], info["Image"])
        healthy, reasons, waited = wait_healthy(client, [new_id], probe, p["deadline"])
        after.update(waited)
        if not healthy:
            break
    return healthy, reasons, after


def main():
    module = action_module(dict(
        image=dict(type="str"),
        record_only=dict(type="bool", default=False),
        stop_timeout=dict(type="int", default=10),
    ), mutually_exclusive=[["image", "record_only"]])
    p = module.params
    target = describe_target(p)
    client = DockerClient.from_module(module)
    result = dict(changed=False, healthy=None, to_image=None)
    listed = find_target(module, client, p)

    def cleanup_note(exc):
        if "could not remove" in str(exc):
            return ""
        if result.get("left_behind"):
            return "; and could not clean up: %s" % ", ".join(result["left_behind"])
        return "; the containers being replaced were put back as they were" if result["changed"] else ""

    began = time.monotonic()
    with guarded_action(module, lock_key_of(listed[0]), "rollback of %s" % target, (DockerError, ValueError), result,
                        explain=cleanup_note) as guard:
        infos = [client.inspect(c["Id"]) for c in listed]
        project_service = service_of(infos[0])
        current = image_entry(infos[0]["Config"]["Image"], infos[0]["Image"])
        result["from_image"] = current
        if p["record_only"]:
            result["changed"] = guard.record(project_service, infos[0])
            module.exit_json(msg="%s runs %s (%s)" % (target, current["image"], current["image_id"][:19]), **result)
        if p["image"]:
            wanted = image_entry(p["image"], client.image(p["image"])["Id"])
        else:
            wanted = previous_choice(module, client, guard, target, project_service, current, result)
        result.update(to_image=wanted, diff=dict(before="image: %s\n" % current["image"],
                                                 after="image: %s\n" % wanted["image"]))
        stale = [i for i in infos if i["Image"] != wanted["image_id"]]
        if not stale:
            module.exit_json(msg="%s already runs %s" % (target, wanted["image"]), **result)
        result["changed"] = True
        if module.check_mode:
            module.exit_json(msg="would roll %s back from %s to %s (%d replica(s))"
                             % (target, current["image"], wanted["image"], len(stale)), **result)
        began = time.monotonic()
        healthy, reasons, after = replace_replicas(module, client, guard, project_service, stale, wanted, result)

    result.update(healthy=healthy, elapsed_s=round(time.monotonic() - began, 3),
                  containers=[container_summary(i) for i in after.values()])
    if not healthy:
        module.fail_json(msg="%s rolled back to %s but not healthy within %ss: %s"
                         % (target, wanted["image"], p["deadline"], reasons), **result)
    module.exit_json(msg="%s rolled back from %s to %s and healthy" % (target, current["image"], wanted["image"]),
                     **result)


if __name__ == "__main__":
    main()
