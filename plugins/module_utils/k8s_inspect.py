# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What `kubectl get`, `describe` and `rollout status` tell an SRE, from API objects (plain dicts; pure logic):
pod readiness from the Ready condition and every container (init containers too), why a pod is down,
rollout state of Deployments and StatefulSets, findings, and the last revision known to have run well."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re

from ansible_collections.incident.response.plugins.module_utils.k8s_api import revision_of

CRASH = ("CrashLoopBackOff",)
IMAGE_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
CONFIG_ERROR = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
UNITS = {"": 1, "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30,
         "Ti": 2 ** 40, "m": 0.001}


def parse_quantity(value):
    """Bytes (or cores) of a Kubernetes quantity: "512Mi" -> 536870912, "250m" -> 0.25; None when unset."""
    if value is None or value == "":
        return None
    m = re.match(r"^([0-9.]+)(e[0-9]+|[A-Za-z]*)$", str(value).strip())
    if not m or (m.group(2) not in UNITS and not m.group(2).startswith("e")):
        raise ValueError("not a Kubernetes quantity: %r" % value)
    unit = m.group(2)
    return float(m.group(1)) * (10 ** int(unit[1:]) if unit.startswith("e") else UNITS[unit])


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def container_summary(spec, status, init=False):
    status = status or {}
    state = status.get("state") or {}
    name = next(iter(state), "unknown") if state else "unknown"
    now = state.get(name) or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    limit = ((spec.get("resources") or {}).get("limits") or {}).get("memory")
    oom = last.get("reason") == "OOMKilled" or (name == "terminated" and now.get("reason") == "OOMKilled")
    return dict(name=spec.get("name") or status.get("name"), init=init, ready=bool(status.get("ready")),
                restarts=status.get("restartCount", 0), state=name, reason=now.get("reason"), message=now.get("message"),
                last_reason=last.get("reason"), last_exit_code=last.get("exitCode"), oom_killed=oom,
                image=status.get("image") or spec.get("image"), memory_limit=limit)


def pod_summary(pod, node_ready=None):
    """`kubectl get pod` + `describe` facts; `node_ready` maps node name -> Ready (True/False/None unknown)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    by_name = dict((s.get("name"), s) for s in status.get("containerStatuses") or [])
    init_by_name = dict((s.get("name"), s) for s in status.get("initContainerStatuses") or [])
    containers = [container_summary(c, init_by_name.get(c["name"]), True) for c in spec.get("initContainers") or []]
    containers += [container_summary(c, by_name.get(c["name"])) for c in spec.get("containers") or []]
    node = spec.get("nodeName")
    ready = condition(pod, "Ready").get("status") == "True"
    scheduled = condition(pod, "PodScheduled")
    reason = next((c["reason"] for c in containers if c["reason"] and not c["ready"] and c["state"] != "running"), None)
    if not reason and scheduled.get("status") == "False":
        reason = scheduled.get("reason") or "Unschedulable"
    reason = reason or status.get("reason")
    last = next((c for c in containers if c["last_reason"]), {})
    n_ready = (node_ready or {}).get(node) if node else None
    return dict(name=pod["metadata"]["name"], phase=status.get("phase"), ready=ready, node=node, node_ready=n_ready,
                restarts=sum(c["restarts"] for c in containers), reason=reason, last_reason=last.get("last_reason"),
                last_exit_code=last.get("last_exit_code"), oom_killed=any(c["oom_killed"] for c in containers),
                containers=containers, deleting=bool(pod["metadata"].get("deletionTimestamp")),
                unschedulable_message=scheduled.get("message") if scheduled.get("status") == "False" else None,
                started_at=status.get("startTime"))


def pod_findings(workload, pod):
    """Findings for one pod summary: crash loops, OOM, image pulls, config errors, scheduling, dead nodes."""
    found = []

    def add(check, message, container=None, severity="critical"):
        item = dict(severity=severity, check=check, message="%s: %s" % (workload, message), pod=pod["name"])
        if container:
            item["container"] = container
        found.append(item)

    for c in pod["containers"]:
        where = "pod %s container %s%s" % (pod["name"], c["name"], " (init)" if c["init"] else "")
        if c["reason"] in CRASH:
            add("k8s_crashloop", "%s in CrashLoopBackOff (%d restarts, last exit %s %s)"
                % (where, c["restarts"], c["last_exit_code"], c["last_reason"] or ""), c["name"])
        if c["reason"] in IMAGE_PULL:
            add("k8s_image_pull", "%s cannot pull %s: %s %s" % (where, c["image"], c["reason"], c["message"] or ""), c["name"])
        if c["reason"] in CONFIG_ERROR:
            add("k8s_config_error", "%s: %s %s" % (where, c["reason"], c["message"] or ""), c["name"])
        if c["oom_killed"]:
            add("k8s_oom", "%s was OOMKilled (memory limit %s)" % (where, c["memory_limit"] or "none"), c["name"])
    if pod["reason"] == "Unschedulable":
        add("k8s_unschedulable", "pod %s cannot be scheduled: %s" % (pod["name"], pod["unschedulable_message"] or ""))
    if pod["node"] and pod["node_ready"] is False:
        add("k8s_node_not_ready", "pod %s runs on node %s, which is NotReady" % (pod["name"], pod["node"]))
    return found


def rollout_state(dep):
    """(complete, reason) of a Deployment with the rules of `kubectl rollout status`; a paused one stops."""
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    if status.get("observedGeneration", 0) < dep["metadata"].get("generation", 0):
        return False, "waiting for the deployment spec update to be observed"
    cond = condition(dep, "Progressing")
    if cond.get("reason") == "ProgressDeadlineExceeded":
        return False, "progress deadline exceeded: %s" % cond.get("message", "")
    want = spec.get("replicas", 1)
    updated, total, ready = status.get("updatedReplicas", 0), status.get("replicas", 0), status.get("availableReplicas", 0)
    done, reason = True, "successfully rolled out"
    if updated < want:
        done, reason = False, "%d of %d new replicas updated" % (updated, want)
    elif total > updated:
        done, reason = False, "%d old replicas pending termination" % (total - updated)
    elif ready < updated:
        done, reason = False, "%d of %d updated replicas available" % (ready, updated)
    if not done and spec.get("paused"):
        return False, "deployment is paused (%s)" % reason
    return done, reason


def statefulset_rollout_state(sts):
    """(complete, reason) like kubectl's StatefulSetStatusViewer."""
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") != "RollingUpdate":
        return True, "rollout status is only available for the RollingUpdate strategy"
    if not status.get("observedGeneration") or status["observedGeneration"] < sts["metadata"].get("generation", 0):
        return False, "waiting for the statefulset spec update to be observed"
    want = spec.get("replicas", 1)
    if status.get("readyReplicas", 0) < want:
        return False, "%d of %d pods ready" % (status.get("readyReplicas", 0), want)
    partition = ((strategy.get("rollingUpdate") or {}).get("partition")) or 0
    if partition > 0:
        if status.get("updatedReplicas", 0) < want - partition:
            return False, "%d of %d pods updated (partition %d)" % (status.get("updatedReplicas", 0), want - partition, partition)
        return True, "partitioned roll out complete"
    if status.get("updateRevision") != status.get("currentRevision"):
        return False, "rolling update to %s in progress (%d of %d pods updated)" % (
            status.get("updateRevision"), status.get("updatedReplicas", 0), want)
    return True, "statefulset rolling update complete at revision %s" % status.get("currentRevision")


def workload_rollout(kind, obj):
    return statefulset_rollout_state(obj) if kind == "statefulset" else rollout_state(obj)


def template_images(template):
    return [c.get("image") for c in ((template or {}).get("spec") or {}).get("containers") or []]


def workload_summary(kind, obj):
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    done, reason = workload_rollout(kind, obj)
    available = status.get("availableReplicas", status.get("readyReplicas", 0) if kind == "statefulset" else 0)
    out = dict(kind=kind, name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"),
               replicas=spec.get("replicas", 1), ready=status.get("readyReplicas", 0), available=available,
               updated=status.get("updatedReplicas", 0), generation=obj["metadata"].get("generation"),
               images=template_images(spec.get("template")), paused=bool(spec.get("paused")),
               rollout_complete=done, rollout_reason=reason)
    if kind == "statefulset":
        out.update(current_revision=status.get("currentRevision"), update_revision=status.get("updateRevision"))
    else:
        out["revision"] = revision_of(obj)
    return out


def workload_state(summary):
    if summary["replicas"] == 0:
        return "scaled_to_zero"
    if summary["paused"]:
        return "paused"
    if summary["available"] == 0:
        return "down"
    if summary["available"] < summary["replicas"] or not summary["rollout_complete"]:
        return "degraded"
    return "healthy"


def workload_findings(name, state, summary):
    found = []
    if state == "down":
        found.append(dict(severity="critical", check="k8s_available",
                          message="%s: no replica available (0 of %d)" % (name, summary["replicas"])))
    elif state == "degraded" or (state == "paused" and summary["available"] < summary["replicas"]):
        found.append(dict(severity="warning", check="k8s_available", message="%s: %d of %d replicas available; rollout: %s"
                          % (name, summary["available"], summary["replicas"], summary["rollout_reason"])))
    if summary["paused"]:
        found.append(dict(severity="warning", check="k8s_paused",
                          message="%s: the %s is paused; rollouts, restarts and rollbacks do nothing until it is resumed"
                          % (name, summary["kind"])))
    if "deadline" in summary["rollout_reason"]:
        found.append(dict(severity="critical", check="k8s_rollout", message="%s: %s" % (name, summary["rollout_reason"])))
    return found


def strip_empty(value):
    """Drop None, {} and [] recursively: the equality kubectl's semantic DeepEqual gives for templates."""
    if isinstance(value, dict):
        out = dict((k, strip_empty(v)) for k, v in value.items())
        return dict((k, v) for k, v in out.items() if v not in (None, {}, []))
    if isinstance(value, list):
        return [strip_empty(v) for v in value]
    return value


def template_without_hash(template):
    tpl = strip_empty(template or {})
    labels = (tpl.get("metadata") or {}).get("labels")
    if labels and HASH_LABEL in labels:
        labels = dict(labels)
        labels.pop(HASH_LABEL)
        tpl["metadata"] = dict(tpl["metadata"], labels=labels)
    return strip_empty(tpl)


def templates_equal(a, b):
    """kubectl's equalIgnoreHash."""
    return template_without_hash(a) == template_without_hash(b)


def same_version(a, b):
    """Equal templates once the hash label and a rollout restart's stamp are ignored (a restart is no new version)."""
    def unstamped(template):
        tpl = template_without_hash(template)
        ann = dict((tpl.get("metadata") or {}).get("annotations") or {})
        ann.pop(RESTARTED_AT, None)
        tpl["metadata"] = dict(tpl.get("metadata") or {}, annotations=ann)
        return strip_empty(tpl)
    return unstamped(a) == unstamped(b)


def last_good_revision(dep, replicasets):
    """(revision, basis): the current revision when its rollout is complete; else the newest older revision
    whose ReplicaSet still serves all its replicas; else the newest older one with another template (unproven)."""
    current = revision_of(dep)
    if rollout_state(dep)[0] and not (dep.get("spec") or {}).get("paused"):
        return current, "the current revision %d is fully rolled out" % current
    older = sorted((rs for rs in replicasets if revision_of(rs) < current
                    and not same_version(rs["spec"].get("template"), dep["spec"].get("template"))),
                   key=revision_of, reverse=True)
    for rs in older:
        want, status = rs["spec"].get("replicas", 0), rs.get("status") or {}
        if want > 0 and status.get("availableReplicas", 0) >= want:
            return revision_of(rs), "revision %d still serves all its %d replicas" % (revision_of(rs), want)
    if older:
        return revision_of(older[0]), "revision %d is the newest older template (scaled down, not proven)" % revision_of(older[0])
    return None, "no older revision with another template"


CHANGED_BY_US = "incident.response/change"  # pod-template annotation of the changes the action modules make
HISTORY = "deployment.kubernetes.io/revision-history"


def current_version(dep, replicasets):
    """When the running version came and how: {since (creationTimestamp of its first revision, rollout restarts
    walked back over), rolled_back (an old ReplicaSet brought back: an undo, not a deploy), by_responder (made by
    this collection's actions, e.g. a memory-limit raise)} - what "a recent deploy" must leave out."""
    ordered = sorted(replicasets, key=revision_of)
    current = next((rs for rs in ordered if revision_of(rs) == revision_of(dep)), None)
    if current is None:
        return dict(since=None, rolled_back=False, by_responder=False)
    first = current
    for rs in reversed([r for r in ordered if revision_of(r) < revision_of(current)]):
        if not same_version(rs["spec"].get("template"), first["spec"].get("template")):
            break
        first = rs
    annotations = (current["spec"]["template"].get("metadata") or {}).get("annotations") or {}
    return dict(since=first["metadata"].get("creationTimestamp"),
                rolled_back=bool((current["metadata"].get("annotations") or {}).get(HISTORY)),
                by_responder=CHANGED_BY_US in annotations)


def previous_revision(dep, replicasets):
    """The newest older revision with another pod template: what `kubectl rollout undo` goes back to (a rollout
    restart only changes an annotation, so the revision it made is skipped)."""
    current = revision_of(dep)
    older = [rs for rs in replicasets if revision_of(rs) < current
             and not same_version(rs["spec"].get("template"), dep["spec"].get("template"))]
    return max([revision_of(rs) for rs in older] or [None], key=lambda r: r or 0)


def last_good_statefulset(sts, revisions):
    status = sts.get("status") or {}
    by_name = dict((r["metadata"]["name"], r.get("revision")) for r in revisions)
    if statefulset_rollout_state(sts)[0]:
        rev = by_name.get(status.get("currentRevision"))
        return rev, "the current revision %s is fully rolled out" % rev
    if status.get("currentRevision") and status.get("currentRevision") != status.get("updateRevision"):
        rev = by_name.get(status["currentRevision"])
        return rev, "revision %s is what the pods not yet updated run" % rev
    return None, "no older revision known to be good"
