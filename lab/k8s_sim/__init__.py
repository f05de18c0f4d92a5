"""A simulation of the Kubernetes API for code that cannot reach a real cluster here (stdlib only).

Run it as `python3 lab/k8s_sim.py --port P [...]` (see --help). Every answer is shaped as the API server's
(JSON that deserializes into the official client's typed models and validates against the OpenAPI v2
definitions; tests/integration/test_k8s_sim_contract.py checks it).

Simulated:
  - HTTPS with a server certificate, client certificates verified against --client-ca (CN = user),
    bearer tokens (--token TOKEN=USER, scheme case-insensitive), 401 without identity, RBAC denials
    (--forbid USER:VERB:RESOURCE[:NS]) as 403 Status with the API server's message.
  - Discovery (/version, /api, /apis, group versions), core/v1 namespaces, nodes (two, with conditions),
    pods (label selectors incl. set-based, field selectors), pods/log (text; the API server's 400s for
    multi-container pods, containers waiting to start, missing previous runs; tailLines, timestamps),
    events (recorded by the simulated controllers, kubelet and scheduler, folded with count);
    apps/v1 deployments (+scale), replicasets, statefulsets (+scale), controllerrevisions;
    autoscaling/v2 horizontalpodautoscalers (v1 and v2beta2 views for old clients);
    metrics.k8s.io/v1beta1 pod and node metrics.
  - Writes: create, update (PUT, 409 on a stale resourceVersion), patch (merge, strategic with
    directives, RFC 6902 JSON patch; 415 for other types, apply-patch included; 422 on a failed test op),
    validation (422 Invalid with causes), dryRun=All, graceful pod deletes (deletionTimestamp, removed
    after grace * --grace-scale seconds), cascading deletes through ownerReferences.
  - Controllers: Deployment (RollingUpdate with maxSurge/maxUnavailable, Recreate, paused, progress
    deadline, Available/Progressing conditions, revision and revision-history annotations on rollback,
    desired/max-replicas annotations, revisionHistoryLimit), ReplicaSet, StatefulSet (OrderedReady pods
    NAME-0..N-1, ControllerRevisions, rolling update from the highest ordinal), HPA (keeps the target
    within [min, max]), a scheduler over ready nodes, a kubelet (init containers, every container's
    status with imageID/containerID, Pod conditions, crash loops, image pull and config errors, OOM).
  - Watches: resourceVersion resume over a window of the last 1000 changes, ERROR 410 Expired when older,
    ADDED/MODIFIED/DELETED, BOOKMARKs every second with allowWatchBookmarks, timeoutSeconds.
  - pods/exec over WebSocket (v4/v5.channel.k8s.io, as the official client speaks it; not SPDY, so not
    `kubectl exec` 1.20): the command runs on the HOST, without a shell, with a 10 s timeout.
  - /_sim endpoints (no auth): seed, fault, crash (old alias), errors (429/5xx injection), metrics, rbac, healthz.

Not simulated: Services, ConfigMaps, Secrets, PVCs, Jobs, DaemonSets, admission, server-side apply,
Table output (clients print their own columns), exec over SPDY, probes, real resource accounting (the
HPA only clamps to [min, max]; it does not follow metrics), leader election, eviction of pods from
NotReady nodes, protobuf. Times are compressed: readiness after --ready-delay, crash-loop restarts
every --restart-every seconds, BOOKMARKs every second, HPA decisions on every controller pass."""
