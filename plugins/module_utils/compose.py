# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose services: find their containers, and run a compose CLI with an argv list, never a shell.

Three CLIs: `docker compose` (v2 plugin), `docker-compose` (v1) and `podman-compose`. By default the
one that created the project's containers (their labels say which), else the one that fits the engine
(podman -> podman-compose), else whichever is installed. Each is pointed at the same engine the
modules talk to: DOCKER_HOST for the docker CLIs, CONTAINER_HOST (podman's remote mode) for
podman-compose, which runs the podman CLI. The compose files and project directory default to what
compose recorded on the project's containers (labels), so callers rarely have to name them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import sys

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.incident.response.plugins.module_utils.docker_api import DOCKER_ARGSPEC, DockerError
from ansible_collections.incident.response.plugins.module_utils.guard import GUARD_ARGSPEC, target_key
from ansible_collections.incident.response.plugins.module_utils.wait import WAIT_ARGSPEC

CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"
DOCKER_COMPOSE_VERSION_LABEL = "com.docker.compose.version"  # set by docker compose v2 and docker-compose v1
PODMAN_COMPOSE_LABEL = "io.podman.compose.project"  # set by podman-compose (with com.docker.compose.*)

CLI_AUTO = "auto"
CLI_V2 = "docker-compose-v2"
CLI_V1 = "docker-compose"
CLI_PODMAN = "podman-compose"
COMPOSE_CLIS = (CLI_AUTO, CLI_V2, CLI_V1, CLI_PODMAN)

COMPOSE_ARGSPEC = dict(
    compose_files=dict(type="list", elements="path"),
    project_dir=dict(type="path"),
    compose_cli=dict(type="str", default=CLI_AUTO, choices=list(COMPOSE_CLIS)),
)


class ComposeError(Exception):
    pass


def _params(module):
    return getattr(module, "params", None) or {}


def _find(module, name):
    """A program on PATH, else next to the running Python (a venv's podman-compose)."""
    found = module.get_bin_path(name)
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable or ""), name)
    return beside if os.path.isfile(beside) and os.access(beside, os.X_OK) else None


def _cli_argv(module, cli):
    """argv prefix of one CLI, or None when it is not installed."""
    if cli == CLI_V2:
        docker = module.get_bin_path("docker")
        if docker:
            rc, _out, _err = module.run_command([docker, "compose", "version"])
            if rc == 0:
                return [docker, "compose"]
        return None
    if cli == CLI_V1:
        legacy = module.get_bin_path("docker-compose")
        return [legacy] if legacy else None
    tool = _find(module, "podman-compose")
    if not tool:
        return None
    podman = module.get_bin_path("podman")
    if not podman:
        raise ComposeError("podman-compose is installed but the podman CLI it runs is not")
    return [tool, "--podman-path", podman]


def cli_from_labels(labels_list):
    """The CLI that created containers with these labels, or None when they do not say."""
    for labels in labels_list:
        labels = labels or {}
        if labels.get(PODMAN_COMPOSE_LABEL):
            return CLI_PODMAN
        version = labels.get(DOCKER_COMPOSE_VERSION_LABEL)
        if version:
            return CLI_V1 if version.split(".")[0] in ("0", "1") else CLI_V2
    return None


def engine_is_podman(client):
    """Whether the engine behind the Docker-compatible API is podman (None when it cannot tell)."""
    try:
        version = client.call("GET", "/version")
    except (DockerError, AttributeError, ValueError, TypeError, OSError):
        return None
    if not isinstance(version, dict):
        return None
    names = [c.get("Name", "") for c in version.get("Components") or [] if isinstance(c, dict)]
    return any("podman" in n.lower() for n in names) or "podman" in json.dumps(version.get("Platform") or {}).lower()


def choose_cli(module, labels_list=(), podman=None):
    """(name, argv prefix) of the compose CLI to run. Raises ComposeError when none fits."""
    wanted = _params(module).get("compose_cli") or CLI_AUTO
    if wanted != CLI_AUTO:
        argv = _cli_argv(module, wanted)
        if not argv:
            raise ComposeError("compose_cli=%s is not installed on this host" % wanted)
        return wanted, argv
    made_by = cli_from_labels(labels_list)
    first = made_by or (CLI_PODMAN if podman else None)
    order = [CLI_V2, CLI_V1, CLI_PODMAN]
    if first:
        order.remove(first)
        order.insert(0, first)
    if made_by == CLI_PODMAN:  # the docker CLIs name and label containers differently: they would make duplicates
        order = [CLI_PODMAN]
    for cli in order:
        argv = _cli_argv(module, cli)
        if argv:
            return cli, argv
    if order == [CLI_PODMAN]:
        raise ComposeError("the project was created by podman-compose, and podman-compose is not installed on this "
                           "host (pip install podman-compose; it runs the podman CLI)")
    raise ComposeError("no compose CLI is installed on this host (docker compose, docker-compose, podman-compose)")


def compose_base(module, labels_list=(), podman=None):
    """argv prefix of the compose CLI for this project (see choose_cli)."""
    return choose_cli(module, labels_list, podman)[1]


def engine_env(module, cli):
    """Environment that points the CLI at the engine the modules use (the docker_host option)."""
    host = _params(module).get("docker_host")
    if cli == CLI_PODMAN:  # podman reads CONTAINER_HOST, not DOCKER_HOST
        host = host or os.environ.get("DOCKER_HOST")
        return {"CONTAINER_HOST": host} if host else {}
    env = {"DOCKER_HOST": host} if host else {}  # unset: the CLI inherits DOCKER_HOST like the modules
    params = _params(module)
    if params.get("cert_path"):
        env["DOCKER_CERT_PATH"] = params["cert_path"]
    if params.get("validate_certs"):
        env["DOCKER_TLS_VERIFY"] = "1"
    elif params.get("tls"):
        env["DOCKER_TLS"] = "1"
    return env


def project_files(labels, compose_files=None, project_dir=None):
    """(files, project_dir) from the options, else from the labels compose put on the container."""
    labels = labels or {}
    files = list(compose_files or [f for f in (labels.get(CONFIG_FILES_LABEL) or "").split(",") if f])
    return files, project_dir or labels.get(WORKING_DIR_LABEL) or None


def compose_argv(base, project, files, project_dir, args, cli=None):
    argv = list(base) + ["-p", project]
    for path in files:
        argv += ["-f", path]
    if project_dir and cli != CLI_PODMAN:  # podman-compose has no --project-directory: cwd + COMPOSE_PROJECT_DIR
        argv += ["--project-directory", project_dir]
    return argv + list(args)


def compose_command(module, project, labels, args, compose_files=None, project_dir=None, labels_list=None,
                    podman=None):
    """(argv, run_command keyword arguments) of `compose -p project -f file... args`. Raises ComposeError.

    `labels` are the labels of one of the project's containers (files, directory, CLI); with no file
    known, `project_dir` alone is enough (the CLI then finds its default compose file there)."""
    files, directory = project_files(labels, compose_files, project_dir)
    if not files and not (project_dir and os.path.isdir(project_dir)):
        raise ComposeError("no compose file known for project %s: pass compose_files or project_dir (the containers "
                           "carry no %s label)" % (project, CONFIG_FILES_LABEL))
    if directory and files:
        files = [f if os.path.isabs(f) else os.path.join(directory, f) for f in files]
    cli, base = choose_cli(module, labels_list if labels_list is not None else [labels], podman)
    argv = compose_argv(base, project, files, directory, args, cli)
    env = engine_env(module, cli)
    if cli == CLI_PODMAN and directory:
        env["COMPOSE_PROJECT_DIR"] = directory
    kwargs = dict(cwd=directory)
    if env:
        kwargs["environ_update"] = env
    return argv, kwargs


def run_compose(module, project, labels, args, compose_files=None, project_dir=None, labels_list=None, podman=None):
    """Run `compose -p project -f file... args`; return (argv, stdout+stderr). Raises ComposeError."""
    argv, kwargs = compose_command(module, project, labels, args, compose_files, project_dir, labels_list, podman)
    rc, out, err = module.run_command(argv, **kwargs)
    if rc != 0:
        raise ComposeError("%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()[-2000:]))
    return argv, (out + err).strip()


def project_labels(client, project):
    """Labels of the project's containers (any service): where its compose files are, which CLI made it."""
    return [c.get("Labels") or {} for c in client.containers(project=project, all_states=True)
            if (c.get("Labels") or {}).get("com.docker.compose.oneoff") != "True"]


# -- addressing a service or a container --------------------------------------------------------
TARGET_ARGSPEC = dict(
    project=dict(type="str"),
    service=dict(type="str"),
    container=dict(type="str"),
)
TARGET_RULES = dict(mutually_exclusive=[["service", "container"]], required_one_of=[["service", "container"]],
                    required_by={"service": "project"})


WAIT_RULES = [("wait_for", "http", ["url"]), ("wait_for", "tcp", ["port"])]


def action_module(own, target=True, compose=False, wait=True, **rules):
    """The AnsibleModule of a Docker action module: its `own` options over the shared option sets (engine,
    guard rails, and as asked the target, the compose files and the wait), check mode supported, and the
    rules those sets need plus the module's own `rules` (lists are added to, not replaced)."""
    spec = dict(DOCKER_ARGSPEC, **GUARD_ARGSPEC)
    merged = dict(mutually_exclusive=[], required_one_of=[], required_by={}, required_if=[])
    for wanted, options, needs in ((target, TARGET_ARGSPEC, TARGET_RULES), (compose, COMPOSE_ARGSPEC, {}),
                                   (wait, WAIT_ARGSPEC, dict(required_if=WAIT_RULES)), (True, own, rules)):
        if not wanted:
            continue
        spec.update(options)
        for key, value in needs.items():
            if isinstance(value, dict):
                merged[key].update(value)
            else:
                merged[key] = merged[key] + list(value)
    return AnsibleModule(argument_spec=spec, supports_check_mode=True,
                         **dict((k, v) for k, v in merged.items() if v))


def describe_target(params):
    if params.get("service"):
        return "service %s of compose project %s" % (params["service"], params["project"])
    return "container %s" % params["container"]


def find_containers(client, params, running_only=False):
    """Containers of the addressed service (every replica, in container-number order) or the container."""
    if params.get("service"):
        found = client.containers(project=params["project"], service=params["service"], all_states=not running_only)
    else:
        found = client.containers(name=params["container"], all_states=not running_only)
        found = [c for c in found if "/" + params["container"] in c.get("Names", [])
                 or c["Id"].startswith(params["container"])]
    return [c for c in found if (c.get("Labels") or {}).get("com.docker.compose.oneoff") != "True"]


def find_target(module, client, params, running_only=False, required=True):
    """find_containers for a module: a Docker error fails it, and so does no container when `required`."""
    try:
        found = find_containers(client, params, running_only)
    except DockerError as exc:
        module.fail_json(msg="could not list the containers of %s: %s" % (describe_target(params), exc))
    if required and not found:
        module.fail_json(msg="no %scontainer found for %s (Docker engine at %s)"
                         % ("running " if running_only else "", describe_target(params), params.get("docker_host")))
    return found


def service_of(info):
    """(project, service) of an inspected container; a plain container is its own service."""
    return service_of_labels((info.get("Config") or {}).get("Labels"), info.get("Name", ""))


def service_of_labels(labels, name):
    labels = labels or {}
    if labels.get("com.docker.compose.service"):
        return labels.get("com.docker.compose.project") or "default", labels["com.docker.compose.service"]
    return "container", name.lstrip("/")


def lock_key_of(listed):
    """The lock/rate-limit key of a /containers/json entry: its compose service when it belongs to one,
    so acting on a replica by name and on the whole service serialise; else the container itself."""
    project, service = service_of_labels(listed.get("Labels"), listed["Names"][0])
    return target_key(container=service) if project == "container" else target_key(project, service)
