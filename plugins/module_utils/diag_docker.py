# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container diagnostics shared by service_info, recent_changes and host_facts.

`fan_out()` runs every Engine API call of every container in one thread pool, so the cost of
looking at 50 containers is about the cost of looking at one. `service_states()` folds container
facts into per-service states, `container_findings()` turns them into findings."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import re
import time
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.incident.response.plugins.module_utils.docker_api import (
    DockerError, container_summary, stats_summary)

DEFAULT_LOG_PATTERNS = ["ERROR", "FATAL", "CRITICAL"]


def finding(severity, check, message, **facts):
    """A finding: severity, machine `check` code, a message for people, and structured `facts` to decide on."""
    return dict(facts, severity=severity, check=check, message=message)


def fan_out(calls, workers=16):
    """Run {key: (fn, args)} concurrently; return {key: (result, error_text or None)}."""
    out = {}
    if not calls:
        return out
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
        futures = dict((key, pool.submit(fn, *args)) for key, (fn, args) in calls.items())
        for key, future in futures.items():
            try:
                out[key] = (future.result(), None)
            except (DockerError, OSError, ValueError, KeyError) as exc:
                out[key] = (None, str(exc))
    return out


def count_log_lines(lines, patterns, sample=5):
    """({pattern: count}, [up to `sample` most recent matching lines]) for word-like patterns."""
    compiled = [(p, re.compile(r"\b%s\b" % re.escape(p)) if p.isalnum() else re.compile(p)) for p in patterns]
    counts = dict((p, 0) for p in patterns)
    matched = []
    for line in lines:
        hit = False
        for name, rx in compiled:
            if rx.search(line):
                counts[name] += 1
                hit = True
        if hit:
            matched.append(line[:300])
    return counts, matched[-sample:] if sample else []


def current_run(lines, started_at=None):
    """Strip the engine's timestamps; with started_at, keep only lines of the current run (to the second)."""
    start = (started_at or "")[:19]
    out = []
    for line in lines:
        stamp, _sep, text = line.partition(" ")
        if not start or stamp[:19] >= start:
            out.append(text)
    return out


def run_start_for_logs(summary):
    """Where a container's log count starts: its current run, unless its restart policy has been
    restarting it (a crash loop's evidence is the previous run's last words) or it is not running."""
    if summary.get("running") and not summary.get("restart_count"):
        return summary.get("started_at")
    return None


def health_output(info):
    """The output of the last healthcheck run, one line (empty when there is none)."""
    log = ((info.get("State") or {}).get("Health") or {}).get("Log") or []
    return " ".join((log[-1].get("Output") or "").split())[:200] if log else ""


def describe_containers(client, listed, stats=True, logs=True, log_since_s=900, log_lines=200,
                        patterns=None, sample=5, workers=16):
    """container_summary + stats + log error counts for each container of a /containers/json list."""
    patterns = patterns or DEFAULT_LOG_PATTERNS
    since = time.time() - log_since_s
    calls = {}
    for c in listed:
        cid = c["Id"]
        calls[(cid, "inspect")] = (client.inspect, (cid,))
        if stats and c.get("State") == "running":
            calls[(cid, "stats")] = (client.stats, (cid,))
        if logs:
            calls[(cid, "logs")] = (client.logs, (cid, since, log_lines, True))
    results = fan_out(calls, workers)
    described = []
    for c in listed:
        cid = c["Id"]
        info, err = results[(cid, "inspect")]
        if info is None:  # removed between list and inspect: say so instead of failing
            described.append(dict(id=cid[:12], name=(c.get("Names") or ["?"])[0].lstrip("/"), status="gone", running=False,
                                  error=err, restart_count=0, oom_killed=False, health="none", exit_code=None))
            continue
        summary = container_summary(info)
        summary["created"] = info.get("Created")
        summary["health_output"] = health_output(info) if summary["health"] == "unhealthy" else ""
        if (cid, "stats") in results:
            sample_stats, err = results[(cid, "stats")]
            if sample_stats:
                summary.update(stats_summary(sample_stats))
            else:
                summary["stats_error"] = err
        if (cid, "logs") in results:
            lines, err = results[(cid, "logs")]
            if lines is None:
                summary["logs_error"] = err
            else:
                lines = current_run(lines, run_start_for_logs(summary))
                summary["log_errors"], summary["log_sample"] = count_log_lines(lines, patterns, sample)
        described.append(summary)
    return described


def is_up(container):
    return bool(container.get("running")) and not container.get("restarting")


def is_healthy(container):
    return is_up(container) and container.get("health") in ("healthy", "none")


def service_state(containers):
    """running | degraded | down | missing, and the replica counts behind it."""
    replicas = len(containers)
    running = sum(1 for c in containers if is_up(c))
    healthy = sum(1 for c in containers if is_healthy(c))
    if not replicas:
        state = "missing"
    elif not running:
        state = "down"
    elif healthy < replicas:
        state = "degraded"
    else:
        state = "running"
    return dict(state=state, replicas=replicas, running=running, healthy=healthy, containers=containers)


def container_findings(service, c, restart_warn=3, memory_warn_percent=90.0):
    """Findings for one container summary (as built by describe_containers)."""
    found = []
    name = service or c.get("name")
    if c.get("restarting") or (c.get("status") == "restarting"):
        found.append(finding("critical", "restart_loop", "%s restart loop: restarting, %d restarts, last exit %s"
                             % (name, c.get("restart_count") or 0, c.get("exit_code"))))
    elif not c.get("running"):
        why = "OOMKilled" if c.get("oom_killed") else (c.get("error") or "")
        found.append(finding("critical", "container_state", "%s down: %s %s%s" % (
            name, c.get("status"), "exit code %s" % c.get("exit_code") if c.get("exit_code") is not None else "",
            (", " + why) if why else ""), container=c.get("name"), oom_killed=bool(c.get("oom_killed"))))
    elif c.get("oom_killed"):
        found.append(finding("warning", "oom_killed", "%s was OOMKilled before its last start" % name))
    if not c.get("restarting") and (c.get("restart_count") or 0) >= restart_warn:
        if c.get("restart_policy", "no") == "no":  # a count left from an earlier loop: it cannot grow any more
            found.append(finding("info", "restart_count", "%s restarted %d times (restart policy no: no longer restarting)"
                                 % (name, c["restart_count"])))
        else:
            found.append(finding("warning", "restart_count", "%s restarted %d times" % (name, c["restart_count"])))
    if c.get("health") == "unhealthy" and is_up(c):
        found.append(finding("warning", "health", "%s unhealthy: %s" % (name, c.get("health_output") or "healthcheck failing")))
    errors = dict((k, v) for k, v in (c.get("log_errors") or {}).items() if v)
    if errors:
        found.append(finding("warning", "log_errors", "%s log errors: %s" % (
            name, ", ".join("%s %d" % kv for kv in sorted(errors.items())))))
    if (c.get("memory_percent") or 0) >= memory_warn_percent:
        found.append(finding("warning", "memory", "%s memory at %.0f%% of its limit" % (name, c["memory_percent"])))
    return found


SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


def sort_findings(findings):
    """Most severe first; the order within a severity is kept."""
    return sorted(findings, key=lambda f: SEVERITY_ORDER.get(f.get("severity"), 3))
