"""kubectl's rollbacker: revision choice, the JSON patch, skip when equal, refuse paused (pure logic)."""
import pytest

from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_rollout import (
    plan_deployment_rollback, plan_statefulset_rollback)

OWNER = [{"uid": "dep-uid", "kind": "Deployment", "name": "api"}]


def rs(revision, containers, extra_annotations=None):
    ann = {"deployment.kubernetes.io/revision": str(revision), "deployment.kubernetes.io/desired-replicas": "2"}
    ann.update(extra_annotations or {})
    return {"metadata": {"name": "api-%d" % revision, "ownerReferences": OWNER, "annotations": ann},
            "spec": {"template": {"metadata": {"labels": {"app": "api", "pod-template-hash": "h%d" % revision}},
                                  "spec": {"containers": containers}}}}


GOOD = [{"name": "api", "image": "api:1"}]
BAD = [{"name": "api", "image": "api:broken"}, {"name": "sidecar", "image": "proxy:1"}]


def deployment(containers, revision, paused=False):
    return {"metadata": {"name": "api", "uid": "dep-uid", "annotations": {
        "deployment.kubernetes.io/revision": str(revision), "kubectl.kubernetes.io/last-applied-configuration": "{}",
        "team": "old"}},
        "spec": {"paused": paused, "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": containers}}}}


def test_patch_replaces_the_template_and_annotations_like_kubectl():
    sets = [rs(1, GOOD, {"change-cause": "v1"}), rs(2, BAD), dict(rs(9, GOOD), metadata=dict(rs(9, GOOD)["metadata"], ownerReferences=[]))]
    target, patch = plan_deployment_rollback(deployment(BAD, 2), sets)
    assert target["metadata"]["name"] == "api-1"
    assert patch[0] == {"op": "replace", "path": "/spec/template",
                        "value": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": GOOD}}}
    # the Deployment keeps its bookkeeping annotations, takes the others from the ReplicaSet, drops the rest
    assert patch[1] == {"op": "replace", "path": "/metadata/annotations", "value": {
        "deployment.kubernetes.io/revision": "2", "kubectl.kubernetes.io/last-applied-configuration": "{}", "change-cause": "v1"}}
    assert sets[0]["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == "h1"  # input untouched


def test_revision_choice_skip_and_refusals():
    sets = [rs(1, GOOD), rs(2, BAD), rs(3, GOOD)]
    target, patch = plan_deployment_rollback(deployment(GOOD, 3), sets)
    assert target["metadata"]["name"] == "api-2" and patch is not None
    target, patch = plan_deployment_rollback(deployment(GOOD, 3), sets, to_revision=1)
    assert target["metadata"]["name"] == "api-1" and patch is None  # template already matches: skip
    with pytest.raises(K8sError, match="unable to find the specified revision 7"):
        plan_deployment_rollback(deployment(GOOD, 3), sets, to_revision=7)
    with pytest.raises(K8sError, match="is paused; resume it first"):
        plan_deployment_rollback(deployment(BAD, 2, paused=True), sets)
    with pytest.raises(K8sError, match="no rollout history"):
        plan_deployment_rollback(deployment(GOOD, 1), [rs(1, GOOD)])


def test_statefulset_rollback_applies_the_controller_revision():
    def cr(n, containers):
        return {"metadata": {"name": "db-%d" % n, "ownerReferences": [{"uid": "sts-uid"}]}, "revision": n,
                "data": {"spec": {"template": {"$patch": "replace", "metadata": {"labels": {"app": "db"}},
                                               "spec": {"containers": containers}}}}}
    sts = {"metadata": {"name": "db", "uid": "sts-uid"},
           "spec": {"template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": BAD}}}}
    target, patch = plan_statefulset_rollback(sts, [cr(1, GOOD), cr(2, BAD)])
    assert target["revision"] == 1 and patch["spec"]["template"]["$patch"] == "replace"
    assert plan_statefulset_rollback(sts, [cr(1, GOOD), cr(2, BAD)], to_revision=2)[1] is None
