"""Workload controllers: Deployment (rolling/recreate, paused, progress deadline, revisions), ReplicaSet,
StatefulSet (ordered pods, ControllerRevisions), HorizontalPodAutoscaler (keeps replicas within [min, max]),
garbage collection, validation and defaulting, and the seeding of workloads."""
import copy
import math
import re
import time

from k8s_sim import core, pods
from k8s_sim.core import STORE, emit, now_iso, priv

REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# -- defaulting and validation ----------------------------------------------------------------------
def default_template(template):
    spec = template.setdefault("spec", {})
    template.setdefault("metadata", {})
    for key, default in (("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30), ("dnsPolicy", "ClusterFirst"),
                         ("schedulerName", "default-scheduler"), ("securityContext", {})):
        spec.setdefault(key, default)
    for container in spec.get("initContainers", []) + spec.get("containers", []):
        if isinstance(container, dict):
            container.setdefault("imagePullPolicy", "Always" if str(container.get("image", "")).endswith(":latest") else "IfNotPresent")
            container.setdefault("resources", {})
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
    return template


def default_workload(kind, obj):
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    if kind == "deployments":
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("maxSurge", "25%")
            strategy["rollingUpdate"].setdefault("maxUnavailable", "25%")
        spec.setdefault("progressDeadlineSeconds", 600)
    elif kind == "statefulsets":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("serviceName", obj["metadata"]["name"])
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    default_template(spec.setdefault("template", {}))
    return obj


def validate_pod_spec(spec, field):
    causes = []
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not containers:
        return [(field + ".containers", "FieldValueRequired", "Required value")]
    seen = set()
    for group in ("initContainers", "containers"):
        for n, container in enumerate(spec.get(group) or []):
            where = "%s.%s[%d]" % (field, group, n)
            if not isinstance(container, dict):
                causes.append((where, "FieldValueInvalid", "Invalid value: %r: must be an object" % (container,)))
                continue
            name = container.get("name")
            if not name:
                causes.append((where + ".name", "FieldValueRequired", "Required value"))
            elif not DNS_LABEL.match(str(name)):
                causes.append((where + ".name", "FieldValueInvalid", 'Invalid value: "%s": a lowercase RFC 1123 label must consist of '
                               "lower case alphanumeric characters or '-'" % name))
            elif name in seen:
                causes.append((where + ".name", "FieldValueDuplicate", 'Duplicate value: "%s"' % name))
            seen.add(name)
            if not str(container.get("image") or "").strip():
                causes.append((where + ".image", "FieldValueRequired", "Required value"))
            for part in ("limits", "requests"):
                for res, value in ((container.get("resources") or {}).get(part) or {}).items():
                    try:
                        pods.quantity(value)
                    except ValueError as exc:
                        causes.append(("%s.resources.%s[%s]" % (where, part, res), "FieldValueInvalid",
                                       "Invalid value: %r: %s" % (value, exc)))
    return causes


def validate_workload(kind, obj, old=None):
    """FieldErrors of a Deployment or StatefulSet (the API server's validation that matters here)."""
    spec = obj.get("spec") or {}
    causes = []
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        causes.append(("spec.replicas", "FieldValueInvalid", "Invalid value: %r: must be an integer" % (replicas,)))
    elif replicas < 0:
        causes.append(("spec.replicas", "FieldValueInvalid", "Invalid value: %d: must be greater than or equal to 0" % replicas))
    selector = spec.get("selector")
    try:
        reqs = core.selector_requirements(selector)
    except (KeyError, TypeError, AttributeError):
        reqs = None
    if not selector or not reqs:
        causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if reqs and not core.labels_match(labels, reqs):
        causes.append(("spec.template.metadata.labels", "FieldValueInvalid",
                       "Invalid value: %s: `selector` does not match template `labels`" % _go_map(labels)))
    if old is not None and selector != old["spec"].get("selector"):
        causes.append(("spec.selector", "FieldValueInvalid", "Invalid value: %s: field is immutable" % _go_selector(selector)))
    causes += validate_pod_spec((spec.get("template") or {}).get("spec"), "spec.template.spec")
    if kind == "deployments" and isinstance(spec.get("progressDeadlineSeconds"), int) and spec["progressDeadlineSeconds"] <= 0:
        causes.append(("spec.progressDeadlineSeconds", "FieldValueInvalid", "Invalid value: %d: must be greater than minReadySeconds"
                       % spec["progressDeadlineSeconds"]))
    return causes


def _go_map(labels):
    return "map[string]string{%s}" % ", ".join('"%s":"%s"' % kv for kv in sorted(labels.items()))


def _go_selector(selector):
    return "v1.LabelSelector{MatchLabels:%s}" % _go_map((selector or {}).get("matchLabels") or {})


def check_valid(kind, obj, old=None):
    causes = validate_workload(kind, obj, old)
    if causes:
        raise core.invalid(core.KIND_OF[kind], core.GROUP.get(kind, ""), obj["metadata"]["name"], causes)


# -- helpers ----------------------------------------------------------------------------------------
def pruned(value):
    """Drop empty values and the hash label, so templates that only differ in defaults hash equal."""
    if isinstance(value, dict):
        value = {k: pruned(v) for k, v in value.items() if k not in ("creationTimestamp", "pod-template-hash")}
        return {k: v for k, v in value.items() if v not in (None, {}, [], "")}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def template_hash(template):
    return core.short_hash(pruned(template))


def children(kind, owner):
    return [o for o in STORE[kind].values() if core.owned_by(o, owner)]


def revision(obj):
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0") or 0)


def set_annotation(obj, key, value):
    obj["metadata"].setdefault("annotations", {})[key] = value


def resolve(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        exact = total * int(value[:-1]) / 100.0
        return int(math.ceil(exact) if round_up else math.floor(exact))
    return int(value or 0)


def surge_unavailable(dep):
    strategy = dep["spec"].get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, dep["spec"]["replicas"]
    ru = strategy.get("rollingUpdate") or {}
    desired = dep["spec"]["replicas"]
    surge = resolve(ru.get("maxSurge", "25%"), desired, True)
    unavailable = resolve(ru.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def set_condition(conditions, ctype, status, reason, message, progressed=False):
    """Set a condition the way the controllers do: lastTransitionTime only moves with status."""
    stamp = now_iso()
    old = next((c for c in conditions if c["type"] == ctype), None)
    if old and old["status"] == status and old.get("reason") == reason and not progressed:
        return conditions
    cond = {"type": ctype, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp, "reason": reason, "message": message}
    if old and old["status"] == status:
        cond["lastTransitionTime"] = old["lastTransitionTime"]
    return [cond if c is old else c for c in conditions] if old else conditions + [cond]


def ready_count(pod_list):
    return sum(1 for p in pod_list if pods.active(p) and pods.pod_is_ready(p))


def scale_rs(dep, rs, replicas):
    old = rs["spec"]["replicas"]
    if old == replicas:
        return
    rs["spec"]["replicas"] = replicas
    rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
    core.modified("replicasets", rs)
    emit(dep, "Normal", "ScalingReplicaSet", "Scaled %s replica set %s to %d from %d" % (
        "up" if replicas > old else "down", rs["metadata"]["name"], replicas, old), "deployment-controller")


# -- Deployment -------------------------------------------------------------------------------------
def new_replicaset(dep, h, rev):
    template = copy.deepcopy(dep["spec"]["template"])
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
    selector = copy.deepcopy(dep["spec"]["selector"])
    selector.setdefault("matchLabels", {})["pod-template-hash"] = h
    ns, name = dep["metadata"]["namespace"], dep["metadata"]["name"]
    meta = core.new_meta(ns, "%s-%s" % (name, h), template["metadata"]["labels"], dep, {REVISION: str(rev)})
    meta["generation"] = 1
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta,
          "spec": {"replicas": 0, "minReadySeconds": dep["spec"].get("minReadySeconds", 0), "selector": selector, "template": template},
          "status": {"replicas": 0}}
    return core.add("replicasets", rs)


def current_rs(dep, rss):
    """The ReplicaSet of the current template, created (or revived with a new revision, as on rollback) when due."""
    h = template_hash(dep["spec"]["template"])
    top = max([revision(rs) for rs in rss] or [0])
    new = next((rs for rs in rss if rs["metadata"]["labels"].get("pod-template-hash") == h), None)
    if dep["spec"].get("paused"):
        return new
    if new is None:
        new = new_replicaset(dep, h, top + 1)
        priv(dep)["progress"] = ("NewReplicaSetCreated", 'Created new replica set "%s"' % new["metadata"]["name"])
    elif revision(new) < top:
        old_rev = str(revision(new))
        hist = [r for r in (new["metadata"].get("annotations") or {}).get(HISTORY, "").split(",") if r]
        set_annotation(new, HISTORY, ",".join(hist + [old_rev]))
        set_annotation(new, REVISION, str(top + 1))
        core.modified("replicasets", new)
        priv(dep)["progress"] = ("FoundNewReplicaSet", 'Found new replica set "%s"' % new["metadata"]["name"])
    return new


def rolling(dep, new, old):
    desired = dep["spec"]["replicas"]
    surge, unavailable = surge_unavailable(dep)
    old_total = sum(rs["spec"]["replicas"] for rs in old)
    if new["spec"]["replicas"] > desired:
        scale_rs(dep, new, desired)
    elif new["spec"]["replicas"] < desired:
        room = desired + surge - old_total - new["spec"]["replicas"]
        scale_rs(dep, new, new["spec"]["replicas"] + max(0, min(room, desired - new["spec"]["replicas"])))
    min_available = desired - unavailable
    new_ready = ready_count(pods.pods_of_owner(new))
    total = sum(rs["spec"]["replicas"] for rs in old) + new["spec"]["replicas"]
    budget = total - min_available - (new["spec"]["replicas"] - new_ready)
    for rs in sorted(old, key=revision):  # unhealthy old pods go first
        unhealthy = rs["spec"]["replicas"] - ready_count(pods.pods_of_owner(rs))
        cut = max(0, min(budget, unhealthy))
        if cut:
            scale_rs(dep, rs, rs["spec"]["replicas"] - cut)
            budget -= cut
    available = sum(ready_count(pods.pods_of_owner(rs)) for rs in old) + new_ready
    budget = available - min_available
    for rs in sorted(old, key=revision):
        cut = max(0, min(budget, rs["spec"]["replicas"]))
        if cut:
            scale_rs(dep, rs, rs["spec"]["replicas"] - cut)
            budget -= cut


def recreate(dep, new, old):
    for rs in old:
        scale_rs(dep, rs, 0)
    if any(pods.pods_of_owner(rs) for rs in old):
        return
    scale_rs(dep, new, dep["spec"]["replicas"])


def scale_paused(dep, new, rss):
    """A paused Deployment still scales (its newest ReplicaSet), but rolls nothing out."""
    target = new or max(rss, key=revision, default=None)
    if target is None:
        return
    others = sum(rs["spec"]["replicas"] for rs in rss if rs is not target)
    scale_rs(dep, target, max(0, dep["spec"]["replicas"] - others))


def reconcile_deployment(dep):
    rss = children("replicasets", dep)
    new = current_rs(dep, rss)
    rss = children("replicasets", dep)
    if new is not None and REVISION in (new["metadata"].get("annotations") or {}):
        if (dep["metadata"].get("annotations") or {}).get(REVISION) != str(revision(new)):
            set_annotation(dep, REVISION, str(revision(new)))
            core.modified("deployments", dep)
        surge, _u = surge_unavailable(dep)
        annotations = new["metadata"]["annotations"]
        want = {"deployment.kubernetes.io/desired-replicas": str(dep["spec"]["replicas"]),
                "deployment.kubernetes.io/max-replicas": str(dep["spec"]["replicas"] + surge)}
        if any(annotations.get(k) != v for k, v in want.items()):
            annotations.update(want)
            core.modified("replicasets", new)
    old = [rs for rs in rss if rs is not new]
    if dep["spec"].get("paused") or new is None:
        scale_paused(dep, new, rss)
    elif (dep["spec"].get("strategy") or {}).get("type") == "Recreate":
        recreate(dep, new, old)
    else:
        rolling(dep, new, old)
    cleanup_history(dep, new, old)
    deployment_status(dep, new, children("replicasets", dep))


def cleanup_history(dep, new, old):
    limit = dep["spec"].get("revisionHistoryLimit", 10)
    idle = sorted((rs for rs in old if rs["spec"]["replicas"] == 0 and not pods.pods_of_owner(rs)), key=revision)
    for rs in idle[:max(0, len(idle) - limit)]:
        core.remove("replicasets", rs)


def deployment_status(dep, new, rss):
    desired = dep["spec"]["replicas"]
    state = priv(dep)
    all_pods = [p for rs in rss for p in pods.pods_of_owner(rs) if pods.active(p)]
    new_pods = [p for p in pods.pods_of_owner(new) if pods.active(p)] if new else []
    ready = ready_count(all_pods)
    _s, unavailable = surge_unavailable(dep)
    counts = {"replicas": len(all_pods), "updatedReplicas": len(new_pods), "readyReplicas": ready, "availableReplicas": ready,
              "unavailableReplicas": max(0, desired - ready)}
    terminating = sum(1 for rs in rss for p in pods.pods_of_owner(rs) if not pods.active(p))
    old_status = dep.get("status") or {}
    conds = copy.deepcopy(old_status.get("conditions", []))
    conds = set_condition(conds, "Available", *(("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
                                                if ready >= desired - unavailable else
                                                ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")))
    conds = progressing(dep, new, conds, counts, old_status)
    status = {"observedGeneration": dep["metadata"].get("generation", 1), "conditions": conds}
    status.update({k: v for k, v in counts.items() if v})
    if terminating:
        status["terminatingReplicas"] = terminating
    state["last_counts"] = counts
    core.set_status("deployments", dep, status)


def progressing(dep, new, conds, counts, _old_status):
    state = priv(dep)
    now = time.time()
    cur = next((c for c in conds if c["type"] == "Progressing"), {})
    name = new["metadata"]["name"] if new else ""
    desired = dep["spec"]["replicas"]
    if dep["spec"].get("paused"):
        state["was_paused"] = True
        return set_condition(conds, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
    if state.pop("was_paused", False) and cur.get("reason") == "DeploymentPaused":
        state["progress_at"] = now
        return set_condition(conds, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed")
    complete = (new is not None and counts["updatedReplicas"] == desired and counts["replicas"] == desired
                and counts["availableReplicas"] >= desired)
    if complete:
        return set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable", 'ReplicaSet "%s" has successfully progressed.' % name)
    event = state.pop("progress", None)
    previous = state.get("last_counts") or {}
    moved = any(counts.get(k, 0) > previous.get(k, 0) for k in ("updatedReplicas", "readyReplicas", "availableReplicas"))
    if event or moved or "progress_at" not in state:
        state["progress_at"] = now
        reason, message = event or ("ReplicaSetUpdated", 'ReplicaSet "%s" is progressing.' % name)
        return set_condition(conds, "Progressing", "True", reason, message, progressed=True)
    if cur.get("reason") == "NewReplicaSetAvailable":
        return conds  # a finished rollout never times out (DeploymentTimedOut)
    if now - state["progress_at"] > dep["spec"].get("progressDeadlineSeconds", 600):
        return set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded", 'ReplicaSet "%s" has timed out progressing.' % name)
    return conds


# -- ReplicaSet -------------------------------------------------------------------------------------
def reconcile_replicaset(rs):
    live = sorted((p for p in pods.pods_of_owner(rs) if pods.active(p)),
                  key=lambda p: (pods.pod_is_ready(p), p["metadata"]["creationTimestamp"]))
    ns = rs["metadata"]["namespace"]
    want = rs["spec"]["replicas"]
    while len(live) > want:
        victim = live.pop(0)  # not-ready and youngest first, as the controller picks
        pods.delete_pod(victim)
        emit(rs, "Normal", "SuccessfulDelete", "Deleted pod: %s" % victim["metadata"]["name"], "replicaset-controller")
    while len(live) < want:
        template = rs["spec"]["template"]
        pod = pods.make_pod(ns, "%s-%s" % (rs["metadata"]["name"], core.rand_suffix()), template["metadata"].get("labels"),
                            template["spec"], rs, template["metadata"].get("annotations"))
        inherit_fault(pod, rs)
        emit(rs, "Normal", "SuccessfulCreate", "Created pod: %s" % pod["metadata"]["name"], "replicaset-controller")
        live.append(pod)
    ready = ready_count(live)
    status = {"replicas": len(live), "fullyLabeledReplicas": len(live), "observedGeneration": rs["metadata"].get("generation", 1)}
    if ready:
        status.update(readyReplicas=ready, availableReplicas=ready)
    terminating = sum(1 for p in pods.pods_of_owner(rs) if not pods.active(p))
    if terminating:
        status["terminatingReplicas"] = terminating
    core.set_status("replicasets", rs, status)


def workload_of(pod_owner):
    """The Deployment or StatefulSet behind a ReplicaSet or StatefulSet."""
    if pod_owner["kind"] == "ReplicaSet":
        ref = (pod_owner["metadata"].get("ownerReferences") or [{}])[0]
        return ref.get("name"), pod_owner["metadata"]["labels"].get("pod-template-hash")
    return pod_owner["metadata"]["name"], pod_owner["status"].get("updateRevision", "").rsplit("-", 1)[-1]


def inherit_fault(pod, owner):
    """Sticky faults: crash/oom stay with new pods of the same template; oom_below with any template below the limit."""
    name, h = workload_of(owner)
    fault = pods.FAULTS.get((pod["metadata"]["namespace"], name))
    if not fault:
        return
    container = fault.get("container") or pod["spec"]["containers"][0]["name"]
    if fault.get("oom_below"):
        spec = next((c for c in pod["spec"]["containers"] if c["name"] == container), None)
        limit = pods.quantity(((spec or {}).get("resources") or {}).get("limits", {}).get("memory"))
        if spec and (limit is None or limit < pods.quantity(fault["oom_below"])):
            pods.set_fault(pod, "oom", container)
    elif fault.get("hash") in (None, h):
        pods.set_fault(pod, fault["fault"], container)


# -- StatefulSet ------------------------------------------------------------------------------------
def sts_revision(sts):
    """The ControllerRevision of the current template (created on first sight)."""
    h = template_hash(sts["spec"]["template"])
    name = "%s-%s" % (sts["metadata"]["name"], h)
    revs = children("controllerrevisions", sts)
    found = next((cr for cr in revs if cr["metadata"]["name"] == name), None)
    top = max([cr["revision"] for cr in revs] or [0])
    if found is None:
        labels = dict(sts["spec"]["template"]["metadata"].get("labels", {}), **{"controller.kubernetes.io/hash": h})
        template = dict(copy.deepcopy(sts["spec"]["template"]), **{"$patch": "replace"})
        found = core.add("controllerrevisions", {"apiVersion": "apps/v1", "kind": "ControllerRevision",
                                                 "metadata": core.new_meta(sts["metadata"]["namespace"], name, labels, sts),
                                                 "data": {"spec": {"template": template}}, "revision": top + 1})
    elif found["revision"] < top:
        found["revision"] = top + 1
        core.modified("controllerrevisions", found)
    return found


def reconcile_statefulset(sts):
    update = sts_revision(sts)["metadata"]["name"]
    name = sts["metadata"]["name"]
    owned = {p["metadata"]["name"]: p for p in pods.pods_of_owner(sts)}
    want = sts["spec"]["replicas"]
    live = [owned.get("%s-%d" % (name, i)) for i in range(max(want, len(owned)))]
    settled = all(p is None or pods.active(p) for p in live)
    for i in range(want):  # OrderedReady: pod i only once 0..i-1 are Ready
        if live[i] is None:
            if settled and all(p and pods.pod_is_ready(p) for p in live[:i]):
                create_sts_pod(sts, i, update)
            break
    extra = [p for p in live[want:] if p is not None and pods.active(p)]
    if extra and settled:
        pods.delete_pod(extra[-1])
        emit(sts, "Normal", "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful" % (extra[-1]["metadata"]["name"], name),
             "statefulset-controller")
    elif settled and all(p is not None for p in live[:want]):
        stale = [p for p in live[:want] if p["metadata"]["labels"].get("controller-revision-hash") != update]
        if stale and all(pods.pod_is_ready(p) for p in live[:want] if p is not stale[-1]):
            pods.delete_pod(stale[-1])  # the rolling update goes from the highest ordinal down
    statefulset_status(sts, update)


def create_sts_pod(sts, ordinal, revision_name):
    template = sts["spec"]["template"]
    name = "%s-%d" % (sts["metadata"]["name"], ordinal)
    labels = dict(template["metadata"].get("labels", {}))
    labels.update({"controller-revision-hash": revision_name, "statefulset.kubernetes.io/pod-name": name,
                   "apps.kubernetes.io/pod-index": str(ordinal)})
    spec = dict(copy.deepcopy(template["spec"]), hostname=name, subdomain=sts["spec"].get("serviceName", sts["metadata"]["name"]))
    pod = pods.make_pod(sts["metadata"]["namespace"], name, labels, spec, sts, template["metadata"].get("annotations"))
    inherit_fault(pod, sts)
    emit(sts, "Normal", "SuccessfulCreate", "create Pod %s in StatefulSet %s successful" % (name, sts["metadata"]["name"]),
         "statefulset-controller")


def statefulset_status(sts, update):
    live = [p for p in pods.pods_of_owner(sts) if pods.active(p)]
    updated = [p for p in live if p["metadata"]["labels"].get("controller-revision-hash") == update]
    ready = ready_count(live)
    old = sts.get("status") or {}
    current = old.get("currentRevision") or update
    if len(updated) == sts["spec"]["replicas"] == len(live) and ready == len(live):
        current = update
    status = {"observedGeneration": sts["metadata"].get("generation", 1), "replicas": len(live), "readyReplicas": ready,
              "currentReplicas": sum(1 for p in live if p["metadata"]["labels"].get("controller-revision-hash") == current),
              "updatedReplicas": len(updated), "currentRevision": current, "updateRevision": update, "collisionCount": 0,
              "availableReplicas": ready}
    for key in ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"):
        if not status[key]:
            status.pop(key)
    core.set_status("statefulsets", sts, status)


# -- HorizontalPodAutoscaler ------------------------------------------------------------------------
def reconcile_hpa(hpa):
    ref = hpa["spec"]["scaleTargetRef"]
    kind = {"Deployment": "deployments", "StatefulSet": "statefulsets"}.get(ref.get("kind"))
    target = STORE.get(kind, {}).get((hpa["metadata"]["namespace"], ref.get("name"))) if kind else None
    conds = copy.deepcopy((hpa.get("status") or {}).get("conditions", []))
    status = dict(hpa.get("status") or {})
    if target is None:
        conds = set_condition(conds, "AbleToScale", "False", "FailedGetScale",
                              'the HPA controller was unable to get the target\'s current scale: %s "%s" not found' % (
                                  core.qualified(kind or "deployments"), ref.get("name")))
        status.update(conditions=strip_update(conds), desiredReplicas=status.get("desiredReplicas", 0))
        core.set_status("horizontalpodautoscalers", hpa, status)
        return
    current = target["spec"]["replicas"]
    low, high = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
    if current == 0:
        desired = 0
        conds = set_condition(conds, "ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
    else:
        desired = min(max(current, low), high)
        conds = set_condition(conds, "ScalingActive", "True", "ValidMetricFound", "the HPA was able to successfully calculate a replica "
                              "count from cpu resource utilization (percentage of request)")
    if desired != current:
        why = "Current number of replicas below Spec.MinReplicas" if desired > current else "Current number of replicas above Spec.MaxReplicas"
        target["spec"]["replicas"] = desired
        target["metadata"]["generation"] = target["metadata"].get("generation", 1) + 1
        core.modified(kind, target)
        status["lastScaleTime"] = now_iso()
        emit(hpa, "Normal", "SuccessfulRescale", "New size: %d; reason: %s" % (desired, why), "horizontal-pod-autoscaler")
        conds = set_condition(conds, "AbleToScale", "True", "SucceededRescale", "the HPA controller was able to update the target scale to %d" % desired)
    else:
        conds = set_condition(conds, "AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size")
    limited = ("True", "TooFewReplicas", "the desired replica count is less than the minimum replica count") if current and current < low else \
        ("True", "TooManyReplicas", "the desired replica count is more than the maximum replica count") if current > high else \
        ("False", "DesiredWithinRange", "the desired count is within the acceptable range")
    conds = set_condition(conds, "ScalingLimited", *limited)
    status.update(currentReplicas=(target.get("status") or {}).get("replicas", 0), desiredReplicas=desired,
                  conditions=strip_update(conds), observedGeneration=hpa["metadata"].get("generation", 1))
    if not status["currentReplicas"]:
        status.pop("currentReplicas")
    core.set_status("horizontalpodautoscalers", hpa, status)


def strip_update(conds):
    """HPA conditions have no lastUpdateTime."""
    return [{k: v for k, v in c.items() if k != "lastUpdateTime"} for c in conds]


def make_hpa(ns, name, kind, low, high, cpu=80):
    meta = core.new_meta(ns, name)
    meta["generation"] = 1
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta,
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name}, "minReplicas": low, "maxReplicas": high,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}],
                    "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                        {"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]},
                        "scaleDown": {"stabilizationWindowSeconds": 300, "selectPolicy": "Max", "policies": [
                            {"type": "Percent", "value": 100, "periodSeconds": 15}]}}},
           "status": {"desiredReplicas": 0}}
    return core.add("horizontalpodautoscalers", hpa)


# -- garbage collection and the loop ----------------------------------------------------------------
def collect_garbage():
    uids = {o["metadata"]["uid"] for kind in ("deployments", "replicasets", "statefulsets") for o in STORE[kind].values()}
    for kind in ("replicasets", "pods", "controllerrevisions"):
        for obj in list(STORE[kind].values()):
            refs = obj["metadata"].get("ownerReferences") or []
            if refs and not any(r["uid"] in uids for r in refs):
                if kind == "pods":
                    if pods.active(obj):
                        pods.delete_pod(obj)
                else:
                    core.remove(kind, obj)


def reconcile_all():
    """One pass of every controller; a failing object is logged and skipped, the loop lives on."""
    steps = [(reconcile_hpa, "horizontalpodautoscalers"), (reconcile_deployment, "deployments"),
             (reconcile_replicaset, "replicasets"), (reconcile_statefulset, "statefulsets"), (pods.reconcile_pod, "pods")]
    for func, kind in steps:
        for obj in list(STORE[kind].values()):
            if core.key_of(kind, obj) not in STORE[kind]:
                continue
            try:
                func(obj)
            except Exception:  # pylint: disable=broad-except
                core.log_error("%s %s" % (func.__name__, obj["metadata"].get("name")))
    try:
        collect_garbage()
    except Exception:  # pylint: disable=broad-except
        core.log_error("garbage collection")


def controller_loop(interval=0.05):
    while True:
        with core.LOCK:
            reconcile_all()
        time.sleep(interval)


# -- seeding ----------------------------------------------------------------------------------------
def containers_of(spec, name):
    given = spec.get("containers") or [{"name": name, "image": spec["image"]}]
    return [dict({"name": c.get("name") or "%s-%d" % (name, n)}, **{k: v for k, v in c.items() if k != "name"}) for n, c in enumerate(given)]


def strategy_of(value):
    if isinstance(value, dict):
        return copy.deepcopy(value)
    return {"type": value or "RollingUpdate"}


def seed(spec):
    """/_sim/seed and --seed: a Deployment, StatefulSet or bare Pod (with sidecars, init containers, an HPA)."""
    ns, name = spec.get("namespace", "default"), spec["name"]
    kind = (spec.get("kind") or "Deployment").lower()
    labels = spec.get("labels") or {"app": name}
    template = {"metadata": {"labels": dict(labels)}, "spec": {"containers": containers_of(spec, name)}}
    if spec.get("init_containers"):
        template["spec"]["initContainers"] = containers_of({"containers": spec["init_containers"]}, name + "-init")
    if kind == "pod":
        check_pod(ns, name, template["spec"])
        return pods.make_pod(ns, name, labels, default_template(template)["spec"])
    plural = {"deployment": "deployments", "statefulset": "statefulsets"}[kind]
    if (ns, name) in STORE[plural]:
        raise core.already_exists(plural, name)
    meta = core.new_meta(ns, name, labels)
    meta["generation"] = 1
    obj = {"apiVersion": "apps/v1", "kind": core.KIND_OF[plural], "metadata": meta,
           "spec": {"replicas": int(spec.get("replicas", 1)), "selector": copy.deepcopy(spec.get("selector") or {"matchLabels": dict(labels)}),
                    "template": template}, "status": {}}
    if plural == "deployments":
        obj["spec"].update(strategy=strategy_of(spec.get("strategy")), progressDeadlineSeconds=int(spec.get("progress_deadline_s", 10)))
        if spec.get("paused"):
            obj["spec"]["paused"] = True
    default_workload(plural, obj)
    check_valid(plural, obj)
    core.add(plural, obj)
    if spec.get("hpa"):
        make_hpa(ns, name, obj["kind"], int(spec["hpa"].get("min", 1)), int(spec["hpa"]["max"]))
    return obj


def check_pod(ns, name, spec):
    if (ns, name) in STORE["pods"]:
        raise core.already_exists("pods", name)
    causes = validate_pod_spec(spec, "spec")
    if causes:
        raise core.invalid("Pod", "", name, causes)
