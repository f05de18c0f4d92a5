# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compose services: find their containers, and run the compose CLI that is present
(`docker compose` v2, else `docker-compose` v1) with an argv list, never a shell. The compose
files and project directory default to what compose itself recorded on the service's containers
(labels), so callers rarely have to name them."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.incident.response.plugins.module_utils.guard import target_key

CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"

COMPOSE_ARGSPEC = dict(
    compose_files=dict(type="list", elements="path"),
    project_dir=dict(type="path"),
)


class ComposeError(Exception):
    pass


def compose_base(module):
    """argv prefix of the compose CLI found on this host."""
    docker = module.get_bin_path("docker")
    if docker:
        rc, _out, _err = module.run_command([docker, "compose", "version"])
        if rc == 0:
            return [docker, "compose"]
    legacy = module.get_bin_path("docker-compose")
    if legacy:
        return [legacy]
    raise ComposeError("neither `docker compose` nor `docker-compose` is installed on %s" % "this host")


def project_files(labels, compose_files=None, project_dir=None):
    """(files, project_dir) from the options, else from the labels compose put on the container."""
    labels = labels or {}
    files = list(compose_files or [f for f in (labels.get(CONFIG_FILES_LABEL) or "").split(",") if f])
    return files, project_dir or labels.get(WORKING_DIR_LABEL) or None


def compose_argv(base, project, files, project_dir, args):
    argv = list(base) + ["-p", project]
    for path in files:
        argv += ["-f", path]
    if project_dir:
        argv += ["--project-directory", project_dir]
    return argv + list(args)


def run_compose(module, project, labels, args, compose_files=None, project_dir=None):
    """Run `compose -p project -f file... args`; return (argv, stdout+stderr). Raises ComposeError."""
    files, directory = project_files(labels, compose_files, project_dir)
    if not files:
        raise ComposeError("no compose file known for project %s: pass compose_files (the containers carry no %s label)"
                           % (project, CONFIG_FILES_LABEL))
    argv = compose_argv(compose_base(module), project, files, directory, args)
    rc, out, err = module.run_command(argv, cwd=directory)
    if rc != 0:
        raise ComposeError("%s failed (rc %d): %s" % (" ".join(argv), rc, (err or out).strip()[-2000:]))
    return argv, (out + err).strip()


# -- addressing a service or a container --------------------------------------------------------
TARGET_ARGSPEC = dict(
    project=dict(type="str"),
    service=dict(type="str"),
    container=dict(type="str"),
)
TARGET_RULES = dict(mutually_exclusive=[["service", "container"]], required_one_of=[["service", "container"]],
                    required_by={"service": "project"})


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
