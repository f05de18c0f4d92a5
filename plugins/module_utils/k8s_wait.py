# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on the Kubernetes API by watch, as kubectl does: list, then watch from the list's resourceVersion,
re-list on 410 Gone, back off on errors; polling with backoff only when the server cannot watch."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import time

from ansible_collections.incident.response.plugins.module_utils.k8s_api import K8sError
from ansible_collections.incident.response.plugins.module_utils.k8s_inspect import workload_rollout

MIN_BACKOFF = 0.2
MAX_BACKOFF = 2.0


class _NoWatch(Exception):
    """The server answered the watch with something that is not a watch stream."""


def wait_for(client, resource, namespace, predicate, timeout_s, label_selector=None, field_selector=None,
             clock=time.monotonic, sleep=time.sleep):
    """Until predicate(list of objects) returns (True, value) or the timeout; returns (finished, value)."""
    deadline = clock() + timeout_s
    backoff, can_watch, rv, cache = MIN_BACKOFF, True, None, {}
    finished, value = False, None
    while True:
        if rv is None:
            doc = client.list(resource, namespace, label_selector=label_selector, field_selector=field_selector)
            cache = dict((o["metadata"]["name"], o) for o in doc.get("items") or [])
            rv = (doc.get("metadata") or {}).get("resourceVersion") or None
            finished, value = predicate(list(cache.values()))
            if finished:
                return True, value
        remaining = deadline - clock()
        if remaining <= 0:
            return False, value
        progressed = False
        if can_watch and rv:
            try:
                for event in client.watch(resource, namespace, rv, min(remaining, 30), label_selector, field_selector):
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind is None:
                        raise _NoWatch()
                    if kind == "ERROR":
                        rv = None  # 410 Gone (or another error): re-list
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if kind == "BOOKMARK":
                        continue
                    progressed = True
                    if kind == "DELETED":
                        cache.pop(obj["metadata"]["name"], None)
                    else:
                        cache[obj["metadata"]["name"]] = obj
                    finished, value = predicate(list(cache.values()))
                    if finished:
                        return True, value
                    if clock() >= deadline:
                        return False, value
            except _NoWatch:
                can_watch, rv = False, None
            except K8sError as exc:
                if exc.status and exc.status not in (410, 429, 500, 502, 503, 504) and exc.status < 500:
                    can_watch = False  # the server refuses watches (e.g. RBAC without watch): poll instead
                rv = None
        else:
            rv = None
        if not progressed:
            sleep(min(backoff, max(deadline - clock(), 0)))
            backoff = min(backoff * 2, MAX_BACKOFF)
        else:
            backoff = MIN_BACKOFF


def wait_rollout(client, kind, namespace, name, timeout_s, **kw):
    """Wait like `kubectl rollout status`; (complete, object, reason). Stops early on a progress deadline or
    a paused Deployment."""
    resource = "statefulsets" if kind == "statefulset" else "deployments"

    def check(objs):
        if not objs:
            return True, (False, None, "%s %s/%s was deleted" % (kind, namespace, name))
        done, reason = workload_rollout(kind, objs[0])
        stop = done or reason.startswith("progress deadline") or reason.startswith("deployment is paused")
        return stop, (done, objs[0], reason)

    finished, value = wait_for(client, resource, namespace, check, timeout_s,
                               field_selector="metadata.name=%s" % name, **kw)
    if value is None:
        obj = client.get(resource, namespace, name)
        done, reason = workload_rollout(kind, obj)
        value = (done, obj, reason)
    if not finished and not value[0]:
        value = (False, value[1], "%s after %ss" % (value[2], timeout_s))
    return value
