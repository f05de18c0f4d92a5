#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: container_exec
short_description: Run an allow-listed command inside a container (Docker exec, never a shell)
version_added: "0.1.0"
description:
  - The allow-list O(commands) maps names to argv lists (data, typically kept in group_vars); the caller picks one
    by O(command). Extra arguments O(args) are appended only when that entry allows them, and always as separate
    argv items, so nothing an alert or a user typed is ever interpreted by a shell.
  - Runs through the Docker Engine exec API, in the first running replica of the service (or every replica with
    O(all_replicas)), with a timeout and bounded captured output.
  - Check mode reports the argv and the containers, and runs nothing.
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - incident.response.attributes
  - incident.response.actions
  - incident.response.actions.target
options:
  commands:
    description:
      - The allow-list. Each key is a command name; each value is either the argv list, or a dict with
        C(argv) (list), C(extra_args) (bool, default false; may the caller append O(args)) and C(timeout) (seconds).
    type: dict
    required: true
  command:
    description: Name of the allow-listed command to run (a key of O(commands)).
    type: str
    required: true
  args:
    description: Extra arguments appended to the argv; refused unless the entry has C(extra_args=true).
    type: list
    elements: str
    default: []
  all_replicas:
    description: Run in every running replica of the service instead of the first one.
    type: bool
    default: false
  user:
    description: User (name or uid) to run as inside the container.
    type: str
  env:
    description: Extra environment variables of the command.
    type: dict
  timeout:
    description:
      - Seconds to wait for the command (unless its entry sets C(timeout)). On timeout the module fails;
        the Docker exec API cannot kill the process, so bound long commands in the argv itself (C(timeout 30 ...)).
    type: float
    default: 60.0
  max_output:
    description: Characters of output kept (the end of it) per container.
    type: int
    default: 65536
  fail_on_rc:
    description: Fail when the command exits non-zero.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Clear the application cache (allow-listed command, no shell)
  incident.response.container_exec:
    project: shop
    service: api
    commands:
      cache_clear: [python3, /opt/app/manage.py, clear_cache]
      migrate_to:
        argv: [python3, /opt/app/manage.py, migrate, app]
        extra_args: true
        timeout: 300
    command: cache_clear
    all_replicas: true

- name: Roll the schema back one migration (the target is an argument, never shell text)
  incident.response.container_exec:
    project: shop
    service: api
    commands: "{{ incident_allowed_commands }}"
    command: migrate_to
    args: ["0041"]
"""

RETURN = r"""
argv:
  description: The argv run (or that would run).
  returned: always
  type: list
  elements: str
rc:
  description: Exit code (of the last container when several).
  returned: when not check mode
  type: int
output:
  description: Output, stdout and stderr interleaved (of the last container when several), at most O(max_output) characters.
  returned: when not check mode
  type: str
results:
  description: Per container, C(container), C(rc), C(output), C(output_truncated) and C(elapsed_s).
  returned: when not check mode
  type: list
  elements: dict
containers:
  description: Names of the containers the command runs (or would run) in.
  returned: always
  type: list
  elements: str
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six import string_types
from ansible_collections.incident.response.plugins.module_utils.compose import (
    TARGET_ARGSPEC, TARGET_RULES, describe_target, find_containers)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DOCKER_ARGSPEC, DockerClient, DockerError)


class NotAllowed(Exception):
    pass


def resolve(commands, name, args, default_timeout):
    """(argv, timeout) of allow-listed `name` with `args` appended if the entry allows it."""
    if name not in commands:
        raise NotAllowed("command %r is not in the allow-list (allowed: %s)" % (name, ", ".join(sorted(commands)) or "none"))
    entry = commands[name]
    if not isinstance(entry, dict):
        entry = dict(argv=entry)
    argv = entry.get("argv")
    if isinstance(argv, string_types) or not isinstance(argv, list) or not argv:
        raise NotAllowed("allow-list entry %r must be a non-empty argv list (never a shell string)" % name)
    if args and not entry.get("extra_args", False):
        raise NotAllowed("allow-list entry %r takes no extra arguments (set extra_args: true on it to allow them)" % name)
    return [str(a) for a in argv] + list(args), float(entry.get("timeout") or default_timeout)


def main():
    argument_spec = dict(
        commands=dict(type="dict", required=True),
        command=dict(type="str", required=True),
        args=dict(type="list", elements="str", default=[]),
        all_replicas=dict(type="bool", default=False),
        user=dict(type="str"),
        env=dict(type="dict"),
        timeout=dict(type="float", default=60.0),
        max_output=dict(type="int", default=65536),
        fail_on_rc=dict(type="bool", default=True),
    )
    for spec in (DOCKER_ARGSPEC, TARGET_ARGSPEC):
        argument_spec.update(spec)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **TARGET_RULES)
    p = module.params
    target = describe_target(p)
    try:
        argv, timeout = resolve(p["commands"], p["command"], p["args"], p["timeout"])
    except NotAllowed as exc:
        module.fail_json(msg="refused: %s" % exc, command=p["command"])
    client = DockerClient.from_module(module)
    result = dict(changed=False, argv=argv)
    began = time.monotonic()
    try:
        listed = find_containers(client, p, running_only=True)
        if not listed:
            module.fail_json(msg="no running container for %s (Docker engine at %s)" % (target, p["docker_host"]), **result)
        listed = listed if p["all_replicas"] else listed[:1]
        result.update(changed=True, containers=[c["Names"][0].lstrip("/") for c in listed])
        if module.check_mode:
            module.exit_json(msg="would run %s in %s" % (p["command"], ", ".join(result["containers"])), **result)
        env = dict((k, str(v)) for k, v in (p["env"] or {}).items())
        results = []
        for c, name in zip(listed, result["containers"]):
            began = time.monotonic()
            rc, output = client.exec_run(c["Id"], argv, timeout=timeout, env=env, user=p["user"])
            results.append(dict(container=name, rc=rc, output=output[-p["max_output"]:],
                                output_truncated=len(output) > p["max_output"], elapsed_s=round(time.monotonic() - began, 3)))
    except DockerError as exc:
        hint = " (it may still be running in the container)" if "timed out" in str(exc) else ""
        module.fail_json(msg="running %s in %s failed after %.1fs (timeout %ss)%s: %s"
                         % (p["command"], target, time.monotonic() - began, timeout, hint, exc), **result)

    result.update(results=results, rc=results[-1]["rc"], output=results[-1]["output"])
    failed = [r for r in results if r["rc"] != 0]
    if failed and p["fail_on_rc"]:
        module.fail_json(msg="%s exited %s in %s: %s" % (p["command"], failed[0]["rc"], failed[0]["container"],
                                                         failed[0]["output"][-300:].strip()), **result)
    module.exit_json(msg="%s ran in %s" % (p["command"], ", ".join(result["containers"])), **result)


if __name__ == "__main__":
    main()
