# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options of the Kubernetes workload modules (module_utils/k8s_api.py K8S_ARGSPEC)."""

    DOCUMENTATION = r"""
options:
  host:
    description:
      - URL of the Kubernetes API server. When set, O(kubeconfig) is not read.
      - Falls back to the E(K8S_AUTH_HOST) environment variable.
      - Without O(host), the connection comes from O(kubeconfig), else E(KUBECONFIG), else C(~/.kube/config),
        else the in-cluster service account (E(KUBERNETES_SERVICE_HOST)).
    type: str
  api_key:
    description:
      - Bearer token for the API server; overrides the kubeconfig user's credentials.
      - Falls back to the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  kubeconfig:
    description:
      - Kubeconfig file(s) to load when O(host) is unset; several paths joined by C(:) are merged like E(KUBECONFIG).
      - Read by the official C(kubernetes) client's loader, so tokens, C(tokenFile), client certificates (files or
        C(-data)), C(exec) credential plugins, the C(oidc) auth-provider, relative certificate paths, C(proxy-url)
        and C(tls-server-name) all work.
      - Falls back to the E(K8S_AUTH_KUBECONFIG) environment variable, then E(KUBECONFIG), then C(~/.kube/config).
    type: str
  context:
    description:
      - Kubeconfig context to use; defaults to its current context. An unknown context fails and names the known ones.
      - Falls back to the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  validate_certs:
    description:
      - Verify the API server's TLS certificate. V(false) overrides the kubeconfig.
      - Falls back to the E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    default: true
  ca_cert:
    description:
      - CA bundle that signed the API server's certificate; overrides the kubeconfig's.
      - Falls back to the E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
  client_cert:
    description:
      - Client certificate for TLS client authentication; overrides the kubeconfig's.
      - Falls back to the E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
  client_key:
    description:
      - Private key of O(client_cert).
      - Falls back to the E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
  proxy:
    description:
      - HTTP proxy URL to reach the API server; overrides the kubeconfig's C(proxy-url).
      - Falls back to the E(K8S_AUTH_PROXY) environment variable.
    type: str
  request_timeout:
    description: Seconds to wait for each API call.
    type: float
    default: 10.0
  namespace:
    description:
      - Namespace of the workload. An explicit value always wins (also V(default)); unset, the kubeconfig
        context's namespace, else the service account's, else V(default).
    type: str
requirements:
  - kubernetes (the official Python client)
notes:
  - API calls go through the official C(kubernetes) Python client; answers 429, 500, 502, 503 and 504 are retried
    up to 4 times, honouring C(Retry-After) (capped at 10 seconds) with jittered backoff.
  - Tested against C(lab/k8s_sim.py), a local simulation of the Kubernetes API with TLS client verification
    (no cluster is reachable where this collection is developed), and against a pinned C(kubectl) pointed at it.
"""

    # K8S_WAIT_ARGSPEC + guard.GUARD_ARGSPEC + the rate limit of the action modules
    ACTION = r"""
options:
  name:
    description: The workload to act on (a Deployment or a StatefulSet, see O(kind)).
    type: str
    required: true
  kind:
    description: Kind of the workload named by O(name).
    type: str
    choices: [deployment, statefulset]
    default: deployment
  wait:
    description: Wait until the rollout is complete, with the rules of C(kubectl rollout status), by watching the workload (not polling).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the rollout. A rollout that is not complete by then, or whose progress deadline is exceeded, fails the task.
    type: float
    default: 120.0
  max_actions:
    description:
      - Rate limit. At most this many actions on this workload within O(action_window) seconds, so a flapping
        alert cannot act in a loop; the refusal fails the task and says when a slot frees. V(0) disables it.
    type: int
    default: 3
  action_window:
    description: Window of the rate limit, in seconds.
    type: int
    default: 900
  state_dir:
    description:
      - Where the rate-limit and lock state lives. Defaults to E(INCIDENT_STATE_DIR), else C(~/.local/state/incident.response).
    type: path
  lock_timeout:
    description: Seconds to wait for another response acting on the same workload to finish.
    type: float
    default: 120.0
"""
