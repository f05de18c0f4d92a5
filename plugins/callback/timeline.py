# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: timeline
type: notification
short_description: Write the incident timeline (every task, every host, every milestone) to disk
description:
  - Records one JSON line per task result per host into C(<root>/<incident_id>/timeline.jsonl)
    (append-only; each line goes to the file with a single unbuffered C(write) as the result
    arrives, so a crash or SIGKILL loses nothing written before it; see O(sync) for power loss),
    plus run start/end and play start events.
  - Milestones returned by M(incident.response.incident_event) (detected, declared, acknowledged,
    escalated, mitigated, resolved, note) are written as C(milestone) events.
  - At the end of the run it renders C(timeline.md), a table like the runbooks' review template,
    from the whole incident timeline (all runs that recorded into the incident).
  - The incident id comes from the extra var C(incident_id), else the O(incident_id) option
    (env E(INCIDENT_ID)), else a new C(INC-YYYY-MM-DD-NNN) is allocated under O(root) (atomic
    C(mkdir) under a lock, so concurrent runs never share an id). The id must match
    C(^INC-[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{3,}$); anything else disables the callback with a warning.
  - A play with the play variable C(incident_record=false) is not recorded and allocates no incident (for
    playbooks that only read the record, such as C(playbooks/incidents.yml)).
  - The callback exports E(INCIDENT_ID) and E(INCIDENT_ROOT) (absolute) in its process, so modules
    and the P(incident.response.incident_id#lookup) lookup of the same run use the same incident.
    Running again with the same id appends to that incident.
  - Status is one of C(ok), C(changed), C(failed), C(skipped), C(unreachable), C(rescued) and
    C(ignored). C(rescued) is a failure of a task that sits in the C(block) part of a block with a
    C(rescue) section (decided from the task's position, as Ansible does before it runs the rescue);
    C(ignored) is a failure under C(ignore_errors). Failed, rescued and ignored events carry C(failed=true).
  - A loop is one event per task and host with C(loop_items) and per-item status counts (not one per
    item). Handlers carry C(handler=true); async tasks are one event when the job finishes (with
    C(ansible_job_id)), or when it is started for C(poll=0).
  - Results are summarised (C(msg), C(rc), a few known keys, bounded in size). Results of C(no_log)
    tasks are never written (only the task name), and secret-looking keys, URLs with passwords,
    bearer tokens, DSN passwords and the values of variables named like secrets (extra vars, play
    vars, inventory vars of the play's hosts, facts set during the run) are masked everywhere.
  - Needs no stdout, so it works under ansible-playbook, ansible-runner, AWX and molecule.
version_added: 1.0.0
author:
  - incident.response contributors (@incident-response)
requirements:
  - enable in C(callbacks_enabled)
options:
  root:
    description:
      - Directory holding one sub-directory per incident.
      - A relative path in C(ansible.cfg) is relative to that file; from the environment, to the current directory.
    type: path
    default: ./incidents
    env:
      - name: INCIDENT_ROOT
      - name: ANSIBLE_CALLBACK_TIMELINE_ROOT
    ini:
      - section: callback_timeline
        key: root
  incident_id:
    description:
      - Incident to record into (C(INC-YYYY-MM-DD-NNN)). The extra var C(incident_id) wins over this.
    type: str
    env:
      - name: INCIDENT_ID
    ini:
      - section: callback_timeline
        key: incident_id
  sync:
    description:
      - Durability of each event against power loss or a kernel crash (a crash or SIGKILL of
        ansible-playbook never loses a written event, whatever this is).
      - V(event) syncs the file after every event (about 1-3 ms each on SSDs);
        V(interval) syncs from a background thread at most every 0.2 s and syncs milestones and
        the run end immediately; V(none) leaves it to the kernel.
    type: str
    default: interval
    choices: [event, interval, none]
    env:
      - name: ANSIBLE_CALLBACK_TIMELINE_SYNC
    ini:
      - section: callback_timeline
        key: sync
  result_max_chars:
    description: Upper bound on the size of the JSON result summary kept per event.
    type: int
    default: 2000
    env:
      - name: ANSIBLE_CALLBACK_TIMELINE_RESULT_MAX_CHARS
    ini:
      - section: callback_timeline
        key: result_max_chars
"""

import functools
import getpass
import os
import time
import uuid

from ansible.plugins.callback import CallbackBase

from ansible_collections.incident.response.plugins.module_utils.incident import (
    TIMELINE, IncidentError, Timeline, incident_dir, iso, read_events, render_timeline_md, resolve_id,
    utcnow, validate_id, write_text_atomic)
from ansible_collections.incident.response.plugins.module_utils.redact import RunSecrets, redact

try:
    from ansible.playbook.handler import Handler
except ImportError:  # pragma: no cover
    Handler = ()

SUMMARY_KEYS = ("msg", "rc", "skip_reason", "ansible_job_id", "finished", "attempts",
                "healthy", "unhealthy", "verdict", "reachable", "error", "escalated", "dest", "path", "state",
                "stderr", "stdout")
LONG_TEXT = 400
NO_LOG_NOTE = "result hidden: no_log"


def task_name(result, task):
    """The templated name when it rendered (a loop var in a name does not), else the raw one."""
    name = getattr(result, "task_name", None)
    if not name or "<< error" in name:
        name = task.get_name(include_role_fqcn=False)
    return name


def _safe(method):
    """A timeline problem must never break an incident response: warn once, keep going."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._disabled:
            return None
        started = time.perf_counter()
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:  # pylint: disable=broad-except
            if not self._warned:
                self._warned = True
                self._display.warning("incident.response.timeline: %s failed: %s: %s"
                                      % (method.__name__, type(exc).__name__, exc))
            return None
        finally:
            self._spent += time.perf_counter() - started
    return wrapper


def _clip(value):
    if isinstance(value, str) and len(value) > LONG_TEXT:
        return value[:LONG_TEXT] + "... [%d chars]" % len(value)
    if isinstance(value, list) and len(value) > 20:
        return value[:20] + ["... [%d items]" % len(value)]
    return value


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "incident.response.timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._disabled = False
        self._warned = False
        self._writer = None
        self.incident_id = None
        self._dir = None
        self._run_id = uuid.uuid4().hex[:12]
        self._run_started = None
        self._playbook = None
        self._play = None
        self._check_mode = False
        self._starts = {}
        self._task_started = {}
        self._secrets = RunSecrets()
        self._max_chars = 2000
        self._spent = 0.0  # seconds spent in this callback (reported in run_end as recorder_s)

    # -- plumbing ---------------------------------------------------------------------------
    def _open(self, explicit_id=None):
        if self._writer is not None:
            return
        root = self.get_option("root")
        chosen = explicit_id or self.get_option("incident_id") or None
        try:
            if chosen:
                validate_id(str(chosen).strip())
            self.incident_id, allocated = resolve_id(root, chosen, env={})
        except (IncidentError, OSError) as exc:
            self._disabled = True
            self._display.warning("incident.response.timeline disabled: %s" % exc)
            return
        self._dir = incident_dir(root, self.incident_id)
        # modules and the incident_id lookup run in forks of this process: same id, same root
        os.environ["INCIDENT_ID"] = self.incident_id
        os.environ["INCIDENT_ROOT"] = os.path.dirname(self._dir)
        self._max_chars = self.get_option("result_max_chars")
        self._writer = Timeline(os.path.join(self._dir, TIMELINE), sync=self.get_option("sync"))
        self._write({"type": "run_start", "playbook": self._playbook, "allocated": allocated,
                     "user": getpass.getuser(), "check_mode": self._check_mode, "pid": os.getpid()})
        self._display.display("Incident %s: recording timeline to %s" % (self.incident_id, self._dir))

    def _write(self, event):
        if self._writer is None:
            return
        record = {"ts": iso(), "type": event.pop("type"), "incident_id": self.incident_id, "run_id": self._run_id}
        record.update(event)
        self._writer.append(redact(record, self._secrets.ordered), sync_now=record["type"] != "task")

    # -- playbook / play --------------------------------------------------------------------
    @_safe
    def v2_playbook_on_start(self, playbook):
        self._playbook = getattr(playbook, "_file_name", None)
        self._run_started = time.time()

    @_safe
    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name()
        self._check_mode = bool(getattr(play, "check_mode", False)) or self._check_mode
        try:
            from ansible import context
            self._check_mode = self._check_mode or bool(context.CLIARGS.get("check"))
        except Exception:  # pylint: disable=broad-except
            pass
        if self._writer is None and (play.vars or {}).get("incident_record", True) in (False, "false", "no"):
            return  # a play that only reads the record (playbooks/incidents.yml): no incident is allocated
        extra = play.get_variable_manager().extra_vars
        explicit = extra.get("incident_id")
        self._open(str(explicit).strip() if explicit else None)
        self._secrets.scan_play(play)
        self._write({"type": "play_start", "play": self._play, "hosts": str(play.hosts)})

    @_safe
    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = utcnow()

    @_safe
    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = utcnow()

    @_safe
    def v2_runner_on_start(self, host, task):
        self._starts[(host.get_name(), task._uuid)] = utcnow()

    # -- results ----------------------------------------------------------------------------
    @_safe
    def v2_runner_on_ok(self, result):
        self._record(result, "changed" if result._result.get("changed") else "ok")

    @_safe
    def v2_runner_on_failed(self, result, ignore_errors=False):
        if ignore_errors:
            status = "ignored"
        elif self._in_rescued_block(result._task):
            status = "rescued"
        else:
            status = "failed"
        self._record(result, status, failed=True)

    @_safe
    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    @_safe
    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable", failed=True)

    @staticmethod
    def _in_rescued_block(task):
        """True when the task sits in the ``block:`` part of a block that has a ``rescue:``."""
        child, parent = task, getattr(task, "_parent", None)
        while parent is not None:
            rescue = getattr(parent, "rescue", None)
            body = getattr(parent, "block", None)
            if rescue and body and any(getattr(t, "_uuid", None) == child._uuid for t in body):
                return True
            child, parent = parent, getattr(parent, "_parent", None)
        return False

    def _record(self, result, status, failed=False):
        if self._writer is None:
            return
        task, host = result._task, result._host.get_name()
        now = utcnow()
        start = self._starts.pop((host, task._uuid), None) or self._task_started.get(task._uuid) or now
        data = result._result
        facts = data.get("ansible_facts")
        if isinstance(facts, dict):
            self._secrets.learn(facts)
        role = getattr(task, "_role", None)
        event = {
            "type": "task", "start": iso(start), "end": iso(now),
            "duration_s": round((now - start).total_seconds(), 3),
            "host": host, "play": self._play, "role": role.get_name(include_role_fqcn=False) if role else None,
            "task": self._task_name(result, task),
            "action": getattr(task, "resolved_action", None) or task.action,
            "status": status,
        }
        if failed:
            event["failed"] = True
        if isinstance(Handler, type) and isinstance(task, Handler):
            event["handler"] = True
        if self._check_mode or getattr(task, "check_mode", False) is True:
            event["check_mode"] = True
        no_log = bool(data.get("_ansible_no_log") or task.no_log)
        items = data.get("results") if isinstance(data.get("results"), list) else None
        if items is not None:
            event["loop_items"] = len(items)
            event["items"] = self._item_counts(items)
        event["result"] = {"censored": NO_LOG_NOTE} if no_log else self._summary(data)
        self._write(event)
        if not no_log and status in ("ok", "changed"):
            candidates = [data] + [i for i in items or [] if isinstance(i, dict)]
            for milestone in (c.get("incident_event") for c in candidates):
                if isinstance(milestone, dict):
                    self._milestone(milestone, event)

    @staticmethod
    def _task_name(result, task):
        return task_name(result, task)

    @staticmethod
    def _item_counts(items):
        counts = {}
        for item in items:
            if not isinstance(item, dict):
                continue
            key = ("failed" if item.get("failed") else "skipped" if item.get("skipped")
                   else "changed" if item.get("changed") else "ok")
            counts[key] = counts.get(key, 0) + 1
        return counts

    def _summary(self, data):
        summary = dict((k, _clip(data[k])) for k in SUMMARY_KEYS if k in data and data[k] not in (None, "", []))
        if isinstance(data.get("findings"), list):
            summary["findings"] = [_clip(f.get("message")) if isinstance(f, dict) else _clip(f)
                                   for f in data["findings"][:10]]
        exception = data.get("exception")
        if isinstance(exception, str) and exception.strip() and "traceback unavailable" not in exception:
            summary["exception"] = exception.strip().splitlines()[-1][:LONG_TEXT]
        limit = self._max_chars
        text = repr(summary)
        while len(text) > limit and len(summary) > 1:
            summary.pop(max(summary, key=lambda k: len(repr(summary[k]))))
            text = repr(summary)
        return summary

    def _milestone(self, milestone, task_event):
        event = dict((k, v) for k, v in milestone.items() if k not in ("type", "incident_id", "run_id", "ts"))
        event.update({"type": "milestone", "host": task_event["host"], "play": task_event["play"],
                      "task": task_event["task"]})
        event.setdefault("at", task_event["end"])
        self._write(event)

    # -- end --------------------------------------------------------------------------------
    @_safe
    def v2_playbook_on_stats(self, stats):
        if self._writer is None:
            return
        hosts = dict((h, stats.summarize(h)) for h in sorted(stats.processed))
        totals = {}
        for summary in hosts.values():
            for key, value in summary.items():
                totals[key] = totals.get(key, 0) + value
        duration = round(time.time() - self._run_started, 3) if self._run_started else None
        self._write({"type": "run_end", "duration_s": duration, "totals": totals, "hosts": hosts,
                     "failed": bool(totals.get("failures") or totals.get("unreachable")),
                     "recorder_s": round(self._spent, 3), "sync": self._writer.sync})
        self._writer.close()
        events = read_events(os.path.join(self._dir, TIMELINE))
        write_text_atomic(os.path.join(self._dir, "timeline.md"), render_timeline_md(self.incident_id, events))
