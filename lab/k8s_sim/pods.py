"""Pods as the kubelet and scheduler report them, nodes, faults and container logs."""
import copy
import hashlib
import re
import time

from k8s_sim import core
from k8s_sim.core import OPTS, STORE, emit, now_iso, priv

NODES = ("sim-node-1", "sim-node-2")
FAULTS = {}  # (namespace, workload) -> {"fault", "container", "oom_below", "hash"}: faults new pods inherit
METRICS = []  # [{"namespace", "pod_prefix", "cpu", "memory"}], the newest first
CRASHING = ("crash", "oom")
WAITING = ("image_pull", "config_error")


# -- quantities -------------------------------------------------------------------------------------
UNITS = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "k": 10 ** 3, "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9,
         "T": 10 ** 12, "m": 0.001, "": 1}


def quantity(text):
    """A resource.Quantity as a number ("512Mi" -> 536870912, "250m" -> 0.25); None when absent."""
    if text in (None, ""):
        return None
    match = re.fullmatch(r"([0-9.]+(?:[eE][0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T|m)?", str(text).strip())
    if not match:
        raise ValueError("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    return float(match.group(1)) * UNITS[match.group(2) or ""]


# -- nodes ------------------------------------------------------------------------------------------
def make_node(name, index):
    stamp = now_iso()
    node = {"apiVersion": "v1", "kind": "Node",
            "metadata": core.new_meta("", name, {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                                 "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "sim"}),
            "spec": {"podCIDR": "10.244.%d.0/24" % index, "podCIDRs": ["10.244.%d.0/24" % index]},
            "status": {"capacity": {"cpu": "4", "memory": "16369636Ki", "pods": "110", "ephemeral-storage": "102626232Ki"},
                       "allocatable": {"cpu": "4", "memory": "16267236Ki", "pods": "110", "ephemeral-storage": "94580335255"},
                       "conditions": node_conditions(True, stamp),
                       "addresses": [{"type": "InternalIP", "address": "172.18.0.%d" % (index + 2)},
                                     {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": hashlib.md5(name.encode()).hexdigest(),
                                    "systemUUID": hashlib.md5(name.encode() + b"u").hexdigest(),
                                    "bootID": hashlib.md5(name.encode() + b"b").hexdigest(),
                                    "kernelVersion": "6.1.0-sim", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "containerRuntimeVersion": "containerd://1.7.13", "kubeletVersion": "v1.29.0",
                                    "kubeProxyVersion": "v1.29.0", "operatingSystem": "linux", "architecture": "amd64"}}}
    return core.add("nodes", node)


def node_conditions(ready, stamp):
    if ready:
        pressure = [(t, "False", "KubeletHas" + r, "kubelet has " + m) for t, r, m in (
            ("MemoryPressure", "SufficientMemory", "sufficient memory available"),
            ("DiskPressure", "NoDiskPressure", "no disk pressure"),
            ("PIDPressure", "SufficientPID", "sufficient PID available"))]
        rows = pressure + [("Ready", "True", "KubeletReady", "kubelet is posting ready status")]
    else:
        rows = [(t, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
                for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")]
    return [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": stamp, "lastTransitionTime": stamp}
            for t, s, r, m in rows]


def node_ready(name):
    node = STORE["nodes"].get(("", name))
    return bool(node) and not priv(node).get("not_ready")


def set_node_ready(node, ready):
    if priv(node).get("not_ready", False) == (not ready):
        return
    priv(node)["not_ready"] = not ready
    node["status"]["conditions"] = node_conditions(ready, now_iso())
    taints = [] if ready else [{"key": "node.kubernetes.io/unreachable", "effect": e, "timeAdded": now_iso()}
                               for e in ("NoSchedule", "NoExecute")]
    node["spec"]["taints"] = taints
    if not taints:
        node["spec"].pop("taints")
    node["spec"]["unschedulable"] = False
    node["spec"].pop("unschedulable")
    core.modified("nodes", node)
    emit(node, "Normal", "NodeReady" if ready else "NodeNotReady",
         "Node %s status is now: %s" % (node["metadata"]["name"], "NodeReady" if ready else "NodeNotReady"),
         "node-controller")
    if not ready:
        for pod in pods_on(node["metadata"]["name"]):
            emit(pod, "Warning", "NodeNotReady", "Node is not ready", "node-controller")


def pods_on(node_name):
    return [p for p in STORE["pods"].values() if p["spec"].get("nodeName") == node_name]


def schedule(pod):
    """Bind the pod to the ready node with the fewest pods, or report why it cannot be."""
    state = priv(pod)
    if state.get("fault", {}).get("*") == "unschedulable":
        return unschedulable(pod, "0/%d nodes are available: %d Insufficient memory. preemption: 0/%d nodes are available: "
                             "%d No preemption victims found for incoming pod." % ((len(NODES),) * 4))
    ready = [n for n in NODES if node_ready(n)]
    if not ready:
        return unschedulable(pod, "0/%d nodes are available: %d node(s) had untolerated taint {node.kubernetes.io/unreachable: }. "
                             "preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling."
                             % ((len(NODES),) * 4))
    node = min(ready, key=lambda n: (len(pods_on(n)), n))
    pod["spec"]["nodeName"] = node
    state["scheduled"] = time.time()
    state.pop("unschedulable", None)
    emit(pod, "Normal", "Scheduled", "Successfully assigned %s/%s to %s" % (pod["metadata"]["namespace"], pod["metadata"]["name"], node),
         "default-scheduler")
    return True


def unschedulable(pod, message):
    state = priv(pod)
    if state.get("unschedulable") != message:
        state["unschedulable"] = message
        emit(pod, "Warning", "FailedScheduling", message, "default-scheduler")
    return False


# -- pods -------------------------------------------------------------------------------------------
def make_pod(ns, name, labels, template_spec, owner=None, annotations=None):
    spec = copy.deepcopy(template_spec)
    for key, default in (("restartPolicy", "Always"), ("terminationGracePeriodSeconds", 30), ("dnsPolicy", "ClusterFirst"),
                         ("schedulerName", "default-scheduler"), ("serviceAccountName", "default"), ("securityContext", {}),
                         ("enableServiceLinks", True), ("preemptionPolicy", "PreemptLowerPriority"), ("priority", 0)):
        spec.setdefault(key, default)
    spec["serviceAccount"] = spec["serviceAccountName"]
    for container in spec.get("initContainers", []) + spec["containers"]:
        container.setdefault("imagePullPolicy", "Always" if container.get("image", "").endswith(":latest") else "IfNotPresent")
        container.setdefault("resources", {})
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": core.new_meta(ns, name, labels, owner, annotations),
           "spec": spec, "status": {"phase": "Pending", "qosClass": qos_class(spec)}}
    priv(pod).update(born=time.time(), fault={}, restarts={}, fault_since={})
    return core.add("pods", pod)  # the scheduler binds it on the next reconcile


def qos_class(spec):
    res = [c.get("resources") or {} for c in spec["containers"]]
    if not any(r.get("limits") or r.get("requests") for r in res):
        return "BestEffort"
    if all(r.get("limits", {}).get(k) and r.get("requests", r.get("limits", {})).get(k) == r["limits"][k]
           for r in res for k in ("cpu", "memory")):
        return "Guaranteed"
    return "Burstable"


def set_fault(pod, fault, container=None, since=None):
    state = priv(pod)
    names = [c["name"] for c in pod["spec"]["containers"]]
    if fault == "clear":
        state["fault"], state["fault_since"] = {}, {}
        return
    if fault == "unschedulable":
        state["fault"]["*"] = fault
        return
    for name in ([container] if container else names[:1]):
        state["fault"][name] = fault
        state["fault_since"][name] = since or time.time()


def container_fault(pod, container):
    """The fault a container has: injected, or from its image tag (broken: crash-loop, missing: pull error)."""
    fault = priv(pod).get("fault", {}).get(container["name"])
    if fault:
        return fault
    tag = container.get("image", "").rsplit("/", 1)[-1].partition(":")[2]
    if "broken" in tag:
        return "crash"
    if "missing" in tag:
        return "image_pull"
    return None


def hexid(*parts):
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def image_ref(image):
    name = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    if "/" not in name:
        name = "library/" + name
    if "." not in name.split("/")[0]:
        name = "docker.io/" + name
    return name


def image_id(image):
    return "%s@sha256:%s" % (image_ref(image), hexid("image", image))


def container_status(pod, container, start, now, init=False):
    """One container's status at `now`, given when the kubelet could start it; also says whether it has run."""
    name, image = container["name"], container["image"]
    fault = container_fault(pod, container)
    state = priv(pod)
    base = {"name": name, "image": image, "imageID": "", "ready": False, "restartCount": 0, "started": False,
            "state": {}, "lastState": {}}
    if start is None or now < start:
        reason = "PodInitializing" if start is None and not init else "ContainerCreating"
        base["state"] = {"waiting": {"reason": reason}}
        return base
    if fault == "image_pull":
        ref = image if "/" in image else "docker.io/library/" + image
        if now - start < OPTS["pull_backoff_after"]:
            base["state"] = {"waiting": {"reason": "ErrImagePull", "message": 'failed to pull and unpack image "%s": '
                                         'failed to resolve reference "%s": %s: not found' % (ref, ref, ref)}}
        else:
            base["state"] = {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "%s"' % image}}
        return base
    base["imageID"] = image_id(image)
    if fault == "config_error":
        base["state"] = {"waiting": {"reason": "CreateContainerConfigError",
                                     "message": 'configmap "%s-config" not found' % container["name"]}}
        return base
    if init:
        base["state"] = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now_iso(start),
                                        "finishedAt": now_iso(start), "containerID": "containerd://" + hexid(pod["metadata"]["uid"], name, 0)}}
        base["containerID"] = base["state"]["terminated"]["containerID"]
        base["ready"] = True  # a completed init container reports ready
        return base
    restarts0 = state.get("restarts", {}).get(name, 0)  # restarts before the current fault
    if fault in CRASHING:
        since = max(start, state.get("fault_since", {}).get(name, start))
        runs = 1 + int((now - since) / OPTS["restart_every"])
        count = restarts0 + runs
        oom = fault == "oom"
        last_start = since + (runs - 1) * OPTS["restart_every"]
        cid = "containerd://" + hexid(pod["metadata"]["uid"], name, count - 1)
        base.update(restartCount=count, containerID=cid, state={"waiting": {
            "reason": "CrashLoopBackOff", "message": "back-off %ds restarting failed container=%s pod=%s_%s(%s)" % (
                min(300, 10 * 2 ** min(runs - 1, 5)), name, pod["metadata"]["name"], pod["metadata"]["namespace"],
                pod["metadata"]["uid"])}},
            lastState={"terminated": {"exitCode": 137 if oom else 1, "reason": "OOMKilled" if oom else "Error",
                                      "startedAt": now_iso(last_start), "finishedAt": now_iso(last_start + 0.1), "containerID": cid}})
        return base
    if state.get("healed_at", {}).get(name) is None and restarts0:
        state.setdefault("healed_at", {})[name] = now
    run_start = state.get("healed_at", {}).get(name, start)
    base.update(ready=True, started=True, restartCount=restarts0,
                containerID="containerd://" + hexid(pod["metadata"]["uid"], name, restarts0),
                state={"running": {"startedAt": now_iso(run_start)}})
    if state.get("last_terminated", {}).get(name):
        base["lastState"] = {"terminated": state["last_terminated"][name]}
    return base


def clear_pod_faults(pod):
    """A fault cleared: crash-looping containers restart for good, keeping their restart counts and last termination."""
    now = time.time()
    for cs in pod["status"].get("containerStatuses", []):
        if "waiting" in cs["state"] and cs["state"]["waiting"]["reason"] == "CrashLoopBackOff":
            state = priv(pod)
            state.setdefault("restarts", {})[cs["name"]] = cs["restartCount"]
            state.setdefault("last_terminated", {})[cs["name"]] = cs["lastState"]["terminated"]
            state.setdefault("healed_at", {})[cs["name"]] = now
    set_fault(pod, "clear")


def pod_conditions(pod, statuses, init_statuses, scheduled):
    state = priv(pod)
    stamps = state.setdefault("cond_times", {})
    rows = []
    if not scheduled:
        rows.append(("PodScheduled", "False", "Unschedulable", state.get("unschedulable")))
    else:
        inited = all("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0 for s in init_statuses)
        unready = [s["name"] for s in statuses if not s["ready"]]
        deleting = "deletionTimestamp" in pod["metadata"]
        on_ready_node = node_ready(pod["spec"]["nodeName"])
        sandbox = time.time() - state["born"] >= OPTS["ready_delay"] / 3
        rows.append(("PodReadyToStartContainers", "True" if sandbox else "False", None, None))
        if inited:
            rows.append(("Initialized", "True", None, None))
        else:
            rows.append(("Initialized", "False", "ContainersNotInitialized", "containers with incomplete status: [%s]" % " ".join(
                s["name"] for s in init_statuses if "terminated" not in s["state"])))
        ready = not unready and not deleting
        if ready and not on_ready_node:
            rows.append(("Ready", "False", None, None))
        elif ready:
            rows.append(("Ready", "True", None, None))
        else:
            rows.append(("Ready", "False", "ContainersNotReady", "containers with unready status: [%s]" % " ".join(unready)))
        rows.append(("ContainersReady", "False" if unready else "True",
                     "ContainersNotReady" if unready else None,
                     "containers with unready status: [%s]" % " ".join(unready) if unready else None))
        rows.append(("PodScheduled", "True", None, None))
    out = []
    for ctype, status, reason, message in rows:
        prev = stamps.get(ctype)
        if not prev or prev[0] != status:
            stamps[ctype] = (status, now_iso())
        cond = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": stamps[ctype][1]}
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        out.append(cond)
    return out


def reconcile_pod(pod):
    """Recompute the pod's status from its spec, faults, node and the clock; record events on changes."""
    state = priv(pod)
    now = time.time()
    if state.get("delete_at") and now >= state["delete_at"]:
        core.remove("pods", pod)
        return
    scheduled = bool(pod["spec"].get("nodeName")) or schedule(pod)
    status = {"phase": "Pending", "qosClass": pod["status"].get("qosClass", "BestEffort")}
    if not scheduled:
        status["conditions"] = pod_conditions(pod, [], [], False)
        core.set_status("pods", pod, status)
        return
    start = state.get("scheduled", state["born"]) + OPTS["ready_delay"]
    init_statuses, cursor = [], start
    for container in pod["spec"].get("initContainers", []):
        cs = container_status(pod, container, cursor, now, init=True)
        init_statuses.append(cs)
        cursor = None if cursor is None or "terminated" not in cs["state"] else cursor + OPTS["ready_delay"] / 2
    if not init_statuses:
        cursor = start
    statuses = [container_status(pod, c, cursor, now) for c in pod["spec"]["containers"]]
    node = STORE["nodes"][("", pod["spec"]["nodeName"])]
    ip = node["status"]["addresses"][0]["address"]
    status.update(hostIP=ip, hostIPs=[{"ip": ip}], startTime=now_iso(state.get("scheduled", state["born"])),
                  conditions=pod_conditions(pod, statuses, init_statuses, True), containerStatuses=statuses)
    if init_statuses:
        status["initContainerStatuses"] = init_statuses
    if cursor is not None and now >= cursor:
        status["podIP"] = "10.244.%d.%d" % (NODES.index(pod["spec"]["nodeName"]) + 1, int(hexid(pod["metadata"]["uid"])[:4], 16) % 250 + 2)
        status["podIPs"] = [{"ip": status["podIP"]}]
    if any(s.get("started") or "CrashLoopBackOff" in str(s["state"]) for s in statuses):
        status["phase"] = "Running"
    pod_events(pod, init_statuses + statuses)
    core.set_status("pods", pod, status)


def pod_events(pod, statuses):
    """The kubelet's events for what a container went through since the last look."""
    seen = priv(pod).setdefault("seen", {})
    for cs in statuses:
        name, image = cs["name"], cs["image"]
        waiting = cs["state"].get("waiting", {}).get("reason")
        key = (waiting or next(iter(cs["state"]), ""), cs["restartCount"])
        if seen.get(name) == key:
            continue
        seen[name] = key
        if waiting == "ErrImagePull":
            emit(pod, "Normal", "Pulling", 'Pulling image "%s"' % image, host=pod["spec"]["nodeName"])
            emit(pod, "Warning", "Failed", 'Failed to pull image "%s": %s' % (image, cs["state"]["waiting"]["message"]),
                 host=pod["spec"]["nodeName"])
            emit(pod, "Warning", "Failed", "Error: ErrImagePull", host=pod["spec"]["nodeName"])
        elif waiting == "ImagePullBackOff":
            emit(pod, "Normal", "BackOff", 'Back-off pulling image "%s"' % image, host=pod["spec"]["nodeName"])
            emit(pod, "Warning", "Failed", "Error: ImagePullBackOff", host=pod["spec"]["nodeName"])
        elif waiting == "CreateContainerConfigError":
            emit(pod, "Warning", "Failed", "Error: " + cs["state"]["waiting"]["message"], host=pod["spec"]["nodeName"])
        elif waiting == "CrashLoopBackOff":
            if cs["lastState"]["terminated"]["reason"] == "OOMKilled":
                node = STORE["nodes"][("", pod["spec"]["nodeName"])]
                emit(node, "Warning", "OOMKilling", "Memory cgroup out of memory: Killed process %d (%s) total-vm:1048576kB, "
                     "anon-rss:%dkB, file-rss:0kB, shmem-rss:0kB" % (1000 + cs["restartCount"], name, 512 * 1024),
                     "kernel-monitor", pod["spec"]["nodeName"])
            emit(pod, "Warning", "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)" % (
                name, pod["metadata"]["name"], pod["metadata"]["namespace"], pod["metadata"]["uid"]), host=pod["spec"]["nodeName"])
        elif cs.get("started") or "terminated" in cs["state"]:
            emit(pod, "Normal", "Pulled", 'Container image "%s" already present on machine' % image, host=pod["spec"]["nodeName"])
            emit(pod, "Normal", "Created", "Created container %s" % name, host=pod["spec"]["nodeName"])
            emit(pod, "Normal", "Started", "Started container %s" % name, host=pod["spec"]["nodeName"])


def delete_pod(pod, grace=None):
    """Graceful delete: deletionTimestamp now + grace; the pod goes after grace * --grace-scale seconds."""
    if grace is None:
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    state = priv(pod)
    if grace <= 0:
        core.remove("pods", pod)
        return pod
    if "deletionTimestamp" in pod["metadata"] and pod["metadata"].get("deletionGracePeriodSeconds", grace) <= grace:
        return pod  # a second delete: already terminating
    pod["metadata"]["deletionTimestamp"] = now_iso(time.time() + grace)
    pod["metadata"]["deletionGracePeriodSeconds"] = grace
    state["delete_at"] = time.time() + grace * OPTS["grace_scale"]
    for cs in pod["status"].get("containerStatuses", []):
        if cs.get("started"):
            emit(pod, "Normal", "Killing", "Stopping container %s" % cs["name"], host=pod["spec"].get("nodeName"))
    core.modified("pods", pod)
    return pod


def active(pod):
    return "deletionTimestamp" not in pod["metadata"]


def pod_is_ready(pod):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


# -- logs -------------------------------------------------------------------------------------------
def run_lines(pod, cs, container, previous):
    """The lines one run of a container wrote."""
    stamp = (cs["lastState"].get("terminated") or {}).get("startedAt") if previous or "waiting" in cs["state"] else None
    stamp = stamp or cs["state"].get("running", {}).get("startedAt") or now_iso()
    image = container["image"]
    lines = ["%s INFO starting %s (pod %s)" % (stamp, image, pod["metadata"]["name"]),
             "%s INFO listening on :8080" % stamp]
    term = cs["lastState"].get("terminated") if (previous or "waiting" in cs["state"]) else None
    if term and term.get("reason") == "OOMKilled":
        lines.append("%s WARN heap usage at 98%% of the memory limit" % stamp)
        lines.append("%s ERROR java.lang.OutOfMemoryError: Java heap space" % stamp)
    elif term:
        lines.append('%s ERROR fatal: connection to database failed: dial tcp 10.96.0.20:5432: connect: connection refused' % stamp)
        lines.append("%s ERROR exiting with status %d" % (stamp, term.get("exitCode", 1)))
    else:
        lines.append('%s INFO GET /healthz 200 1ms' % stamp)
    return lines


def pod_log(pod, params):
    """pods/log: text lines, or an ApiError 400 with the API server's messages."""
    name = pod["metadata"]["name"]
    containers = pod["spec"]["containers"]
    inits = pod["spec"].get("initContainers", [])
    cname = params.get("container")
    if not cname:
        if len(containers) > 1:
            msg = "a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(c["name"] for c in containers))
            if inits:
                msg += " or one of the init containers: [%s]" % " ".join(c["name"] for c in inits)
            raise core.bad_request(msg)
        cname = containers[0]["name"]
    spec = next((c for c in containers + inits if c["name"] == cname), None)
    if spec is None:
        raise core.bad_request("container %s is not valid for pod %s" % (cname, name))
    statuses = pod["status"].get("containerStatuses", []) + pod["status"].get("initContainerStatuses", [])
    cs = next((s for s in statuses if s["name"] == cname), None)
    previous = params.get("previous") in ("true", "1", "True")
    if previous:
        if not cs or not cs["lastState"].get("terminated"):
            raise core.bad_request('previous terminated container "%s" in pod "%s" not found' % (cname, name))
    elif not cs or ("waiting" in cs["state"] and not cs["lastState"].get("terminated")):
        reason = (cs or {}).get("state", {}).get("waiting", {}).get("reason", "ContainerCreating")
        text = {"ImagePullBackOff": "trying and failing to pull image", "ErrImagePull": "trying and failing to pull image"}.get(reason, reason)
        raise core.bad_request('container "%s" in pod "%s" is waiting to start: %s' % (cname, name, text))
    lines = run_lines(pod, cs, spec, previous)
    tail = params.get("tailLines")
    if tail not in (None, ""):
        lines = lines[-int(tail):] if int(tail) > 0 else []
    if params.get("timestamps") in ("true", "1"):
        lines = ["%s %s" % (line.split(" ", 1)[0].replace("Z", ".000000000Z"), line) for line in lines]
    return "".join(line + "\n" for line in lines)


# -- metrics.k8s.io ---------------------------------------------------------------------------------
def pod_usage(pod, container):
    for rule in METRICS:
        if rule["namespace"] == pod["metadata"]["namespace"] and pod["metadata"]["name"].startswith(rule.get("pod_prefix", "")):
            if rule.get("container") in (None, container["name"]):
                return {"cpu": rule.get("cpu", "5m"), "memory": rule.get("memory", "48Mi")}
    limit = quantity((container.get("resources") or {}).get("limits", {}).get("memory"))
    if container_fault(pod, container) == "oom" and limit:
        return {"cpu": "180m", "memory": "%dKi" % (limit // 1024)}
    return {"cpu": "%dm" % (3 + int(hexid(pod["metadata"]["uid"], container["name"])[:2], 16) % 7), "memory": "%dKi" % (48 * 1024 + 128)}


def pod_metrics(pod):
    meta = pod["metadata"]
    return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "creationTimestamp": now_iso(),
                         "labels": dict(meta.get("labels", {}))},
            "timestamp": now_iso(), "window": "15s",
            "containers": [{"name": c["name"], "usage": pod_usage(pod, c)} for c in pod["spec"]["containers"]]}


def node_metrics(node):
    name = node["metadata"]["name"]
    mem = 1024 * 1024 + sum(quantity(pod_usage(p, c)["memory"]) // 1024 for p in pods_on(name) for c in p["spec"]["containers"])
    return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {"name": name, "creationTimestamp": now_iso(), "labels": dict(node["metadata"].get("labels", {}))},
            "timestamp": now_iso(), "window": "20s",
            "usage": {"cpu": "%dm" % (120 + 10 * len(pods_on(name))), "memory": "%dKi" % mem}}


def metrics_running(pod):
    return pod["status"].get("phase") == "Running"


def pods_of_owner(owner):
    if owner is None:
        return []
    return [p for p in STORE["pods"].values() if core.owned_by(p, owner)]
