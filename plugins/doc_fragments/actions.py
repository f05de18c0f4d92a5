# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Options shared by the Docker action modules (service_restart, service_state, ...)."""

    # module_utils/docker_api.py DOCKER_ARGSPEC (names and environment variables as the Docker CLI and community.docker)
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - URL of the Docker engine API.
      - V(unix:///path/to/docker.sock) for a local engine, also Podman's API socket
        (for example V(unix:///run/podman/podman.sock));
        V(tcp://host:port) over the network (TLS with O(tls) or O(validate_certs));
        V(ssh://user@host) for an engine reached through SSH (see O(use_ssh_client)).
      - Defaults to the environment variable E(DOCKER_HOST), else V(unix:///var/run/docker.sock).
    type: str
    default: unix:///var/run/docker.sock
  tls:
    description:
      - Talk TLS to a V(tcp://) engine without checking its certificate (the Docker CLI's C(--tls)).
        A client certificate from O(cert_path) is still presented.
      - Defaults to the environment variable E(DOCKER_TLS). O(validate_certs) or O(cert_path) also turn TLS on.
      - Ignored for V(unix://) and V(ssh://) engines.
    type: bool
    default: false
  validate_certs:
    description:
      - Talk TLS to a V(tcp://) engine and verify its certificate (the Docker CLI's C(--tlsverify))
        against C(ca.pem) in O(cert_path), else against the system's CA certificates.
      - Defaults to the environment variable E(DOCKER_TLS_VERIFY).
      - Ignored for V(unix://) and V(ssh://) engines.
    type: bool
    default: false
    aliases: [tls_verify]
  cert_path:
    description:
      - Directory of the TLS files, laid out as for the Docker CLI. C(ca.pem) is the CA that signed the engine's
        certificate (required with O(validate_certs)); C(cert.pem) and C(key.pem) are the client certificate
        (both or neither).
      - Setting it turns TLS on for V(tcp://) engines.
      - Defaults to the environment variable E(DOCKER_CERT_PATH); without either, TLS uses the files present
        in C(~/.docker).
    type: path
  api_version:
    description:
      - Engine API version to speak. V(auto) asks the engine (one C(GET /version) per module run).
      - Defaults to the environment variable E(DOCKER_API_VERSION), else V(auto).
    type: str
    default: auto
  use_ssh_client:
    description:
      - For V(ssh://) engines, run the C(ssh) command (and its configuration) instead of the Python
        library C(paramiko), which is then not needed.
    type: bool
    default: false
  docker_timeout:
    description: Seconds to wait for each Engine API call (not for the whole action).
    type: float
    default: 30.0
requirements:
  - docker (the Docker SDK for Python) on the host the module runs on
  - paramiko, for V(ssh://) engines without O(use_ssh_client)
"""

    # module_utils/compose.py TARGET_ARGSPEC
    TARGET = r"""
options:
  project:
    description:
      - Compose project of O(service) (label C(com.docker.compose.project)), for example C(shop).
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
      - Compose file(s) of the project, for the compose CLI (see O(compose_cli)).
      - Defaults to the files compose recorded on the project's containers
        (label C(com.docker.compose.project.config_files); podman-compose sets it too).
    type: list
    elements: path
  project_dir:
    description:
      - Project directory for the compose CLI (where its C(.env) is read, and its default compose file when no file
        is known). C(--project-directory) for the docker CLIs; the working directory and E(COMPOSE_PROJECT_DIR) for
        podman-compose.
      - Defaults to the label C(com.docker.compose.project.working_dir) of the project's containers.
    type: path
  compose_cli:
    description:
      - Compose CLI to run. V(docker-compose-v2) is the C(docker compose) plugin, V(docker-compose) the standalone
        v1 program, V(podman-compose) the Python podman-compose (from C(PATH) or beside the Python running the module,
        for example a virtualenv's C(bin/)).
      - V(auto) takes the CLI that created the project's containers (podman-compose sets C(io.podman.compose.*)
        labels, docker compose C(com.docker.compose.version)), else podman-compose when the engine is podman, else
        C(docker compose), then C(docker-compose), whichever is installed.
      - Every CLI is pointed at the engine of O(docker_host) - E(DOCKER_HOST) for the docker CLIs, E(CONTAINER_HOST)
        (podman's remote mode) for podman-compose, which runs the C(podman) CLI (that must be installed) - and is run
        with an argument list, never a shell.
    type: str
    default: auto
    choices: [auto, docker-compose-v2, docker-compose, podman-compose]
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
    description: URL polled when O(wait_for=http), for example C(http://127.0.0.1:8000/health/ready).
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
