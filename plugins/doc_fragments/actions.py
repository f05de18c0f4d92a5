# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the Docker action modules (service_restart, service_state, ...)."""

    # module_utils/docker_api.py DOCKER_ARGSPEC
    DOCUMENTATION = r"""
options:
  docker_host:
    description: Docker engine socket, as C(unix:///path/to/docker.sock).
    type: str
    default: unix:///var/run/docker.sock
  docker_timeout:
    description: Seconds to wait for each Engine API call (not for the whole action).
    type: float
    default: 30.0
"""

    # module_utils/compose.py TARGET_ARGSPEC
    TARGET = r"""
options:
  project:
    description:
      - Compose project of O(service) (label C(com.docker.compose.project)), for example C(incident-lab).
    type: str
  service:
    description:
      - Compose service to act on; every replica of it. Requires O(project). Mutually exclusive with O(container).
    type: str
  container:
    description:
      - A single container, by name or id, instead of a compose service.
    type: str
"""

    # module_utils/compose.py COMPOSE_ARGSPEC
    COMPOSE = r"""
options:
  compose_files:
    description:
      - Compose file(s) of the project, for the compose CLI (C(docker compose), else C(docker-compose)).
      - Defaults to the files compose recorded on the service's containers
        (label C(com.docker.compose.project.config_files)).
    type: list
    elements: path
  project_dir:
    description:
      - Project directory for the compose CLI (where its C(.env) is read).
      - Defaults to the label C(com.docker.compose.project.working_dir) of the service's containers.
    type: path
"""

    # module_utils/wait.py WAIT_ARGSPEC
    WAIT = r"""
options:
  wait_for:
    description:
      - What "healthy" means after the action.
      - V(health) waits for the Docker healthcheck to report C(healthy) (just running when the container has none);
        V(http) for O(url) to answer an expected status; V(tcp) for O(host):O(port) to accept a connection;
        V(running) only for the container to run.
      - Every replica is polled every 100 ms; a replica that exits ends the wait at once.
    type: str
    default: health
    choices: [health, http, tcp, running]
  url:
    description: URL polled when O(wait_for=http), for example C(http://127.0.0.1:18000/health/ready).
    type: str
  host:
    description: Host whose O(port) is polled when O(wait_for=tcp).
    type: str
    default: 127.0.0.1
  port:
    description: TCP port polled when O(wait_for=tcp).
    type: int
  expect_status:
    description: HTTP statuses that count as healthy for O(wait_for=http) (default any 2xx or 3xx).
    type: list
    elements: int
  deadline:
    description: Seconds to wait for health before giving up (per attempt when escalating).
    type: float
    default: 60.0
"""

    # module_utils/guard.py GUARD_ARGSPEC
    GUARD = r"""
options:
  state_dir:
    description:
      - Directory of the guard rails' state (rate-limit counters, locks, image history).
      - Defaults to the environment variable E(INCIDENT_STATE_DIR), else C(~/.local/state/incident.response).
    type: path
  lock_timeout:
    description:
      - Seconds to wait for the per-target lock when another response is acting on the same target.
    type: float
    default: 120.0
"""
