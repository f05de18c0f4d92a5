"""k8s_rung: the rung record remediate_k8s builds from each action's registered result."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.incident.response.plugins.filter.k8s import k8s_rung


def test_a_rung_heals_only_when_its_rollout_completed():
    assert k8s_rung({"skipped": True}, "rollback") == dict(rung="rollback", ran=False, healed=False, msg="skipped")
    assert k8s_rung({"changed": True, "rollout_complete": True}, "rollback")["healed"] is True
    stalled = k8s_rung({"changed": True, "rollout_complete": False, "rollout_reason": "progress deadline exceeded"}, "rollout_restart")
    assert stalled == dict(rung="rollout_restart", ran=True, healed=False, msg="progress deadline exceeded")
    refused = k8s_rung({"failed": True, "msg": "deployment prod/api is paused"}, "rollback")
    assert refused["ran"] and not refused["healed"] and "paused" in refused["msg"]
    assert k8s_rung({"changed": False}, "pod_delete") == dict(rung="pod_delete", ran=False, healed=True, msg="nothing to change")
    with pytest.raises(AnsibleFilterError):
        k8s_rung(None, "x")
