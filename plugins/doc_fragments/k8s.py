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
      - URL of the Kubernetes API server. When unset, the server, token and CA come from O(kubeconfig).
    type: str
  api_key:
    description: Bearer token for the API server.
    type: str
  kubeconfig:
    description:
      - Kubeconfig file to read when O(host) is unset. Defaults to E(KUBECONFIG), else C(~/.kube/config).
    type: path
  context:
    description: Kubeconfig context to use; defaults to its current context.
    type: str
  validate_certs:
    description: Verify the API server's TLS certificate.
    type: bool
    default: true
  ca_cert:
    description: CA bundle that signed the API server's certificate.
    type: path
  request_timeout:
    description: Seconds to wait for each API call.
    type: float
    default: 10.0
  namespace:
    description: Namespace of the workload (the kubeconfig context's namespace when left at C(default)).
    type: str
    default: default
notes:
  - Talks to the API with the same REST calls as C(kubectl); no Kubernetes Python client needed.
  - Tested against C(lab/k8s_sim.py), a local simulation of the Kubernetes API (no cluster is reachable
    where this collection is developed), and against the real C(kubectl) client pointed at it.
"""

    # K8S_WAIT_ARGSPEC + guard.GUARD_ARGSPEC + the rate limit of the action modules
    ACTION = r"""
options:
  wait:
    description: Wait until the rollout is complete, with the rules of C(kubectl rollout status).
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
