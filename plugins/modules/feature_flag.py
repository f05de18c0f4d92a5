#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
module: feature_flag
short_description: Turn a feature of a compose service off (or on) and put the previous value back later
version_added: "0.1.0"
description:
  - The runbooks' feature-flag rollback (004) as one guarded action. Two ways to reach the flag, O(method)
  - V(env) - the flag is an environment variable of the service. Its line in the compose project's env file
    (O(env_file), default the project directory's C(.env)) is set, and the service is recreated with
    C(compose up -d --no-deps --force-recreate) so its containers run with it. The module then checks that the new
    containers really carry the value (RV(verified)) and waits until they are healthy.
  - V(command) - the application sets the flag itself. The allow-listed command O(get_command) of O(commands) reads
    it and O(set_command) sets it (the value is appended as one argument); both run in the first running replica
    through the Docker exec API, never a shell, as M(incident.response.container_exec) does. The value the set
    command prints must be the one asked for, then the service must turn healthy.
  - Before the first change the value the flag had (and, for V(env), the env file's line, or its absence) is
    recorded under O(state_dir); O(state=restored) puts exactly that back and drops the record. Turning the flag
    again keeps the first recorded value, so a restore always returns to the value before the incident.
  - Holds the service's lock (shared with the other action modules), counts each change against a rate limit
    (O(max_changes) per O(change_window)) and records the running image for M(incident.response.service_rollback)
    before a recreate.
  - O(state=query) only reads the flag (running value, env file value, record). Check mode reports the change and
    a diff, and changes nothing.
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
    description: Compose project of the service.
    type: str
    required: true
  service:
    description: Compose service whose feature flag is changed (every replica).
    type: str
    required: true
  flag:
    description: Name of the flag (for the record, the messages and the timeline), for example C(new_checkout).
    type: str
    required: true
  state:
    description:
      - V(disabled) sets O(off_value), V(enabled) sets O(on_value), V(restored) puts back the value recorded before
        the first change (fails when nothing is recorded), V(query) reads only.
    type: str
    choices: [disabled, enabled, restored, query]
    default: disabled
  method:
    description: How the flag is reached, V(env) (env file and recreate) or V(command) (allow-listed command).
    type: str
    choices: [env, command]
    default: env
  variable:
    description: Environment variable of the flag (required with O(method=env)), for example C(FEATURE_X_ENABLED).
    type: str
  env_file:
    description:
      - Env file the variable is set in (O(method=env)). Compose must read it, through C(env_file) or as the project's
        C(.env) interpolated into C(environment).
      - Default C(.env) in O(project_dir), else in the project directory compose recorded on the containers.
    type: path
  on_value:
    description: Value that turns the feature on.
    type: str
    default: "true"
  off_value:
    description: Value that turns the feature off.
    type: str
    default: "false"
  commands:
    description:
      - The allow-list (O(method=command)), as for M(incident.response.container_exec) - each key a command name, each
        value an argv list or a dict with C(argv), C(extra_args) and C(timeout). The set command must have
        C(extra_args=true) (the value is its one extra argument).
    type: dict
  get_command:
    description: Name of the allow-listed command that prints the flag's value (its last output line).
    type: str
    default: get
  set_command:
    description: Name of the allow-listed command that sets the flag; the value is appended, and it prints the new value.
    type: str
    default: set
  command_timeout:
    description: Seconds each command may run (unless its entry sets C(timeout)).
    type: float
    default: 60.0
  max_changes:
    description: At most this many changes of the service's flags within O(change_window) seconds (V(0) disables).
    type: int
    default: 5
  change_window:
    description: Sliding window of the rate limit, in seconds.
    type: int
    default: 3600
seealso:
  - module: incident.response.container_exec
  - module: incident.response.service_rollback
"""

EXAMPLES = r"""
- name: Turn the new checkout off in the project's .env and recreate the api
  incident.response.feature_flag:
    project: shop
    service: api
    flag: new_checkout
    variable: FEATURE_NEW_CHECKOUT_ENABLED
    state: disabled
    wait_for: http
    url: http://127.0.0.1:8000/health/ready
  register: flag_off

- name: Put the flag back as it was before the incident
  incident.response.feature_flag:
    project: shop
    service: api
    flag: new_checkout
    variable: FEATURE_NEW_CHECKOUT_ENABLED
    state: restored

- name: Turn a feature off through the application's own command (no recreate)
  incident.response.feature_flag:
    project: shop
    service: api
    flag: bulk_pricing
    method: command
    commands:
      get: [php, artisan, feature:get, bulk_pricing]
      set: {argv: [php, artisan, feature:set, bulk_pricing], extra_args: true}
    state: disabled
    wait_for: http
    url: http://127.0.0.1:8000/health/ready
"""

RETURN = r"""
before:
  description: The flag's value before (the running containers' environment for V(env), the get command's output for
    V(command)); null when the variable is not set.
  returned: always
  type: str
after:
  description: The value asked for (null when a restore drops the variable).
  returned: unless O(state=query)
  type: str
enabled:
  description: Whether the feature was on before (RV(before) equals O(on_value), without case).
  returned: always
  type: bool
file_value:
  description: The value in the env file before (null when it has no line for the variable).
  returned: with O(method=env)
  type: str
env_file:
  description: The env file read and written.
  returned: with O(method=env)
  type: str
record:
  description: The recorded value before the first change (C(previous), C(previous_file), C(set), C(changed_at), ...),
    null when none is recorded.
  returned: always
  type: dict
record_path:
  description: File of the record under O(state_dir).
  returned: always
  type: str
verified:
  description: Whether the service runs with the value asked for (the recreated containers' environment, or what the
    set command printed). Null in check mode and when nothing changed.
  returned: unless O(state=query)
  type: bool
healthy:
  description: Whether every replica was healthy after the change (null in check mode and when nothing changed).
  returned: unless O(state=query)
  type: bool
compose_command:
  description: The compose argv that recreated the service (V(env)).
  returned: when the service was recreated
  type: list
  elements: str
argv:
  description: The set command's argv (V(command)).
  returned: when the set command ran or would run
  type: list
  elements: str
containers:
  description: Container summaries after the change.
  returned: when changed and not check mode
  type: list
  elements: dict
elapsed_s:
  description: Seconds from the change to every replica healthy.
  returned: when changed and not check mode
  type: float
"""

import os
import time

from ansible_collections.incident.response.plugins.module_utils.compose import (
    ComposeError, WORKING_DIR_LABEL, action_module, cli_from_labels, engine_is_podman, run_compose, service_of)
from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DockerClient, DockerError, container_summary)
from ansible_collections.incident.response.plugins.module_utils.feature_flag import (
    ABSENT, FlagError, allowed_argv, container_env_value, output_value, read_env_value, read_file, read_record,
    record_path, same, set_env_value, shown, utc, write_file, write_record)
from ansible_collections.incident.response.plugins.module_utils.guard import state_dir_of, target_key
from ansible_collections.incident.response.plugins.module_utils.guarded_action import RateLimitOptions, guarded_action
from ansible_collections.incident.response.plugins.module_utils.wait import probe_from_params, wait_healthy

LIMIT = RateLimitOptions("max_changes", "change_window")


class Flag(object):
    """Reads and changes one flag of the running service (module params `p`, Docker `client`)."""

    def __init__(self, module, client, running):
        self.module = module
        self.p = module.params
        self.client = client
        self.running = running  # /containers/json entries of the running replicas
        self.env_file = None
        self.text = None
        self.file_value = ABSENT
        self.replica_values = []

    def read(self):
        """The current value (and, for env, the env file's)."""
        p = self.p
        if p["method"] == "env":
            labels = self.running[0].get("Labels") or {}
            project_dir = p["project_dir"] or labels.get(WORKING_DIR_LABEL) or ""
            self.env_file = p["env_file"] or os.path.join(project_dir, ".env")
            if not p["env_file"] and not project_dir:
                raise FlagError("no env file known: pass env_file or project_dir (the containers carry no %s label)"
                                % WORKING_DIR_LABEL)
            self.text = read_file(self.env_file) if os.path.exists(self.env_file) or p["env_file"] else ""
            self.file_value = read_env_value(self.text, p["variable"])
            values = [container_env_value(self.client.inspect(c["Id"]), p["variable"]) for c in self.running]
            self.replica_values = values
            return values[0]
        argv, timeout = allowed_argv(p["commands"], p["get_command"])
        return self.run(argv, timeout)

    def run(self, argv, timeout):
        rc, output = self.client.exec_run(self.running[0]["Id"], argv, timeout=float(timeout or self.p["command_timeout"]))
        if rc != 0:
            raise FlagError("%s exited %s: %s" % (" ".join(argv), rc, output.strip()[-300:]))
        return output_value(output)

    def needs_change(self, current, wanted, wanted_file):
        if self.p["method"] == "env":
            return self.text != set_env_value(self.text, self.p["variable"], wanted_file) \
                or any(not same(v, wanted) for v in self.replica_values)
        return not same(current, wanted)


def wanted_values(module, record, current, file_value):
    """(effective value wanted, env file value wanted) for the state."""
    p = module.params
    if p["state"] == "disabled":
        return p["off_value"], p["off_value"]
    if p["state"] == "enabled":
        return p["on_value"], p["on_value"]
    if not record:
        module.fail_json(msg="nothing to restore for flag %s of service %s: no value was recorded (the flag was not "
                             "changed by this collection, or was restored already)" % (p["flag"], p["service"]),
                         before=current, file_value=file_value, record=None)
    return record.get("previous"), record.get("previous_file") if p["method"] == "env" else record.get("previous")


def apply_env(module, client, flag, guard, wanted, wanted_file, result):
    """Write the env file, recreate the service, check the new containers' value. Returns (verified, new ids)."""
    p = module.params
    write_file(flag.env_file, set_env_value(flag.text, p["variable"], wanted_file))
    info = client.inspect(flag.running[0]["Id"])
    guard.record(service_of(info), info)
    labels = info["Config"].get("Labels") or {}
    podman = None if cli_from_labels([labels]) else engine_is_podman(client)
    try:
        argv, _out = run_compose(module, p["project"], labels,
                                 ["up", "-d", "--no-deps", "--force-recreate", "--scale",
                                  "%s=%d" % (p["service"], len(flag.running)), p["service"]],
                                 p["compose_files"], p["project_dir"], podman=podman)
    except ComposeError:
        write_file(flag.env_file, flag.text)  # the service was not recreated: the file goes back as it was
        raise
    result["compose_command"] = argv
    ids = [c["Id"] for c in client.containers(project=p["project"], service=p["service"], all_states=False)]
    values = [container_env_value(client.inspect(cid), p["variable"]) for cid in ids]
    result["running_values"] = values
    if wanted_file is ABSENT:  # the line was dropped: compose decides what that means; the running value is reported
        return bool(ids), ids
    return bool(ids) and all(same(v, wanted) for v in values), ids


def apply_command(flag, set_command, wanted, result):
    """Run the allow-listed set command; the value it prints must be the one asked for. Returns (verified, ids)."""
    argv, timeout = set_command
    printed = flag.run(argv, timeout)
    result["running_values"] = [printed]
    return same(printed, wanted), [c["Id"] for c in flag.running]


def main():
    module = action_module(dict(
        project=dict(type="str", required=True),
        service=dict(type="str", required=True),
        flag=dict(type="str", required=True),
        state=dict(type="str", default="disabled", choices=["disabled", "enabled", "restored", "query"]),
        method=dict(type="str", default="env", choices=["env", "command"]),
        variable=dict(type="str"),
        env_file=dict(type="path"),
        on_value=dict(type="str", default="true"),
        off_value=dict(type="str", default="false"),
        commands=dict(type="dict"),
        get_command=dict(type="str", default="get"),
        set_command=dict(type="str", default="set"),
        command_timeout=dict(type="float", default=60.0),
        max_changes=dict(type="int", default=5),
        change_window=dict(type="int", default=3600),
    ), target=False, compose=True, required_if=[["method", "env", ["variable"]], ["method", "command", ["commands"]]])
    p = module.params
    target = "service %s of compose project %s" % (p["service"], p["project"])
    what = "feature flag %s of %s" % (p["flag"], target)
    client = DockerClient.from_module(module)
    path = record_path(state_dir_of(module), p["project"], p["service"], p["flag"])
    record = read_record(path)
    result = dict(changed=False, flag=p["flag"], method=p["method"], record=record, record_path=path)
    if p["state"] != "query":
        result.update(verified=None, healthy=None)
    began = time.monotonic()
    with guarded_action(module, target_key(p["project"], p["service"]), "changing %s" % what,
                        (DockerError, ComposeError, FlagError, OSError, ValueError), result, LIMIT) as guard:
        running = client.containers(project=p["project"], service=p["service"], all_states=False)
        if not running:
            module.fail_json(msg="no running container of %s (Docker engine at %s)" % (target, p["docker_host"]), **result)
        flag = Flag(module, client, running)
        current = flag.read()
        result.update(before=current, enabled=same(current, p["on_value"]))
        if p["method"] == "env":
            result.update(file_value=flag.file_value, env_file=flag.env_file)
        if p["state"] == "query":
            module.exit_json(msg="%s is %s" % (what, shown(current)), **result)
        wanted, wanted_file = wanted_values(module, record, current, flag.file_value)
        result["after"] = wanted
        name = p["variable"] if p["method"] == "env" else p["flag"]
        before_text = "%s=%s\n" % (name, shown(current))
        after_text = "%s=%s\n" % (name, shown(wanted))
        if p["method"] == "env":
            before_text += "%s: %s=%s\n" % (flag.env_file, p["variable"], shown(flag.file_value))
            after_text += "%s: %s=%s\n" % (flag.env_file, p["variable"], shown(wanted_file))
        result["diff"] = dict(before=before_text, after=after_text)
        set_command = None
        if p["method"] == "command":  # refused by the allow-list before anything changes
            set_command = allowed_argv(p["commands"], p["set_command"], wanted)
            result["argv"] = set_command[0]
        if not flag.needs_change(current, wanted, wanted_file):
            if p["state"] == "restored" and not module.check_mode:
                os.unlink(path)  # already as it was: the record is done with
            module.exit_json(msg="%s is already %s" % (what, shown(current)), **result)
        result["changed"] = True
        guard.consume()
        if module.check_mode:
            module.exit_json(msg="would set %s from %s to %s%s" % (
                what, shown(current), shown(wanted), " and recreate the service" if p["method"] == "env" else ""),
                **result)
        if p["state"] != "restored":
            first = record or dict(previous=current, previous_file=flag.file_value if p["method"] == "env" else current,
                                   recorded_at=utc(), method=p["method"], variable=p["variable"], env_file=flag.env_file)
            first.update(set=wanted, changed_at=utc())
            write_record(path, first)
            result["record"] = first
        began = time.monotonic()
        if p["method"] == "env":
            verified, ids = apply_env(module, client, flag, guard, wanted, wanted_file, result)
        else:
            verified, ids = apply_command(flag, set_command, wanted, result)
        healthy, reasons, infos = wait_healthy(client, ids, probe_from_params(p), p["deadline"]) if ids else (False, {}, {})
        if p["state"] == "restored" and verified:
            os.unlink(path)

    result.update(verified=verified, healthy=healthy, elapsed_s=round(time.monotonic() - began, 3),
                  containers=[container_summary(infos[cid]) for cid in ids if cid in infos])
    if not verified:
        module.fail_json(msg="%s set to %s, but the service runs with %s" % (
            what, shown(wanted), ", ".join(shown(v) for v in result.get("running_values") or []) or "no container"),
            **result)
    if not healthy:
        module.fail_json(msg="%s set from %s to %s, but the service is not healthy within %ss: %s" % (
            what, shown(current), shown(wanted), p["deadline"], "; ".join(sorted(set(reasons.values())))), **result)
    module.exit_json(msg="%s set from %s to %s in %.1fs; healthy" % (
        what, shown(current), shown(wanted), result["elapsed_s"]), **result)


if __name__ == "__main__":
    main()
