# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`kubectl rollout undo` as kubectl's DeploymentRollbacker and StatefulSetRollbacker do it (pure logic):
which revision, the JSON patch replacing /spec/template and the annotations, when to skip."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import copy

from ansible_collections.incident.response.plugins.module_utils.k8s_api import REVISION, K8sError, revision_of
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import HASH_LABEL, templates_equal

# annotations kubectl keeps from the Deployment instead of copying them from the ReplicaSet
ANNOTATIONS_TO_SKIP = ("kubectl.kubernetes.io/last-applied-configuration", REVISION,
                       "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
                       "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to")


def owned_by(obj, uid):
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def pick_revision(objects, to_revision, number=revision_of, name="deployment"):
    """kubectl's deploymentRevision: `to_revision` exactly, or (0/None) the second newest revision."""
    if to_revision:
        found = next((o for o in objects if number(o) == to_revision), None)
        if found is None:
            raise K8sError("unable to find the specified revision %d of %s (known: %s)"
                           % (to_revision, name, sorted(number(o) for o in objects)))
        return found
    ordered = sorted(objects, key=number, reverse=True)
    if len(ordered) < 2:
        raise K8sError("no rollout history found for %s" % name)
    return ordered[1]


def deployment_rollback_patch(dep, rs):
    """The JSON patch kubectl sends: replace /spec/template (hash label removed) and /metadata/annotations."""
    template = copy.deepcopy(rs["spec"]["template"])
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(HASH_LABEL, None)
    annotations = dict((k, v) for k, v in ((dep["metadata"].get("annotations") or {}).items()) if k in ANNOTATIONS_TO_SKIP)
    for key, value in (rs["metadata"].get("annotations") or {}).items():
        if key not in ANNOTATIONS_TO_SKIP:
            annotations[key] = value
    return [{"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations}]


def plan_deployment_rollback(dep, replicasets, to_revision=None):
    """(target ReplicaSet, patch or None when the template already matches); refuses paused Deployments."""
    name = "deployment %s" % dep["metadata"]["name"]
    owned = [rs for rs in replicasets if owned_by(rs, dep["metadata"]["uid"])]
    target = pick_revision(owned, to_revision, name=name)
    if (dep.get("spec") or {}).get("paused"):
        raise K8sError("%s is paused; resume it first (kubectl rollout resume) and try again" % name)
    if templates_equal(target["spec"]["template"], dep["spec"]["template"]):
        return target, None
    return target, deployment_rollback_patch(dep, target)


def revision_template(revision):
    """The pod template a StatefulSet ControllerRevision holds (its data is a strategic patch of spec.template)."""
    template = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    template.pop("$patch", None)
    return template


def plan_statefulset_rollback(sts, revisions, to_revision=None):
    """(target ControllerRevision, strategic merge patch or None when the template already matches)."""
    name = "statefulset %s" % sts["metadata"]["name"]
    owned = [r for r in revisions if owned_by(r, sts["metadata"]["uid"])]
    target = pick_revision(owned, to_revision, number=lambda r: r.get("revision", 0), name=name)
    if templates_equal(revision_template(target), sts["spec"]["template"]):
        return target, None
    return target, target.get("data") or {}
