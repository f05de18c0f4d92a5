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
    escalated, mitigated, resolved, note) are written as C(milestone) events - only from that action (a
    C(debug) or any other module returning a dict named C(incident_event) states nothing), each loop item on
    its own, checked again (a full ISO 8601 time, at most 5 minutes ahead, not more than 30 days before the
    incident); one whose time goes backwards (resolved before detected) is written with C(flags) and a
    warning, one that fails the checks is written as C(milestone_refused).
  - Every line is written whole; a line cut short by a failing disk is fenced before the next append, and
    a torn last line left by an earlier run when the file is opened. When the incident root cannot take the
    record (full, read-only, a symlink or FIFO in the way) the operator is warned with the incident id
    before the first task, and the record goes to the fallback directory
    C($INCIDENT_FALLBACK_ROOT/<root key>/<incident_id>/) (default C(<tmp>/incident-fallback-<uid>)), which
    the run's modules follow (env E(INCIDENT_RECORD_DIR)). Events neither place can take are counted and
    described in C(run_end) (C(lost_events), C(lost)), in a warning at the end of the run and in the report.
  - At the end of the run it renders C(timeline.md), a table like the runbooks' review template,
    from the whole incident timeline (all runs that recorded into the incident).
  - The incident id comes from the extra var C(incident_id), else the O(incident_id) option
    (env E(INCIDENT_ID)), else a new C(INC-YYYY-MM-DD-NNN) is allocated under O(root) (atomic
    C(mkdir) under a lock, so concurrent runs never share an id). The id must be C(INC-YYYY-MM-DD-NNN) with a
    real calendar date and 3 to 6 digits, given exactly (surrounding spaces are not stripped, as in the
    lookup and the modules); anything else disables the callback with a warning.
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
  - Results are summarised (C(msg), C(rc), a few known keys, bounded in size, redacted before they are
    clipped). Results of C(no_log) tasks are never written, and their name is written untemplated.
  - Secrets are masked before anything is written (plugins/module_utils/redact.py), with the values the run
    knows are secret - variables named like secrets at every level (extra vars, play vars and vars_files,
    task and block vars, role defaults and vars, also through C(include_role), host vars of every host of
    the inventory), vault-encrypted values (inline, in vars_files, whole encrypted files, extra vars), what
    the templates of a C(no_log) task rendered, values given to C(no_log) options of a module, the
    registered result of a C(no_log) task and facts set during the run - learned before the first write
    that could hold them, and with detectors for common formats (URL passwords, bearer tokens, Slack
    webhooks, PagerDuty keys, AWS keys, GitHub and GitLab tokens, JWTs, private keys, password prose and
    flags, signed-URL parameters, secret environment assignments).
  - The values are shared with the modules of the run in a 0600 file (on C(/dev/shm) when it exists)
    named by E(INCIDENT_REDACT_VALUES_FILE) and removed at the end of the run, so the record's writers
    (M(incident.response.incident_event), M(incident.response.incident_report),
    M(incident.response.evidence_capture)) mask them too.
  - Needs no stdout, so it works under ansible-playbook, ansible-runner, AWX and molecule.
version_added: "0.1.0"
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
    FALLBACK_ENV, RECORD_DIR_ENV, TIMELINE, IncidentError, MilestoneChecker, Timeline, allocate, fallback_base,
    fallback_dir, fallback_root, incident_dir, iso, read_events, render_timeline_md, resolve_id, utcnow, validate_id,
    write_text_atomic)
from ansible_collections.incident.response.plugins.module_utils.redact import RunSecrets, clip, redact, redact_text
from ansible_collections.incident.response.plugins.module_utils import redact as redact_layer
from ansible_collections.incident.response.plugins.plugin_utils.vault_values import vaulted_plaintext

try:
    from ansible.playbook.handler import Handler
except ImportError:  # pragma: no cover
    Handler = ()

SUMMARY_KEYS = ("msg", "rc", "skip_reason", "ansible_job_id", "finished", "attempts",
                "healthy", "unhealthy", "verdict", "reachable", "error", "escalated", "dest", "path", "state",
                "stderr", "stdout")
LONG_TEXT = 400
# The only actions whose results are milestones (FQCN, the short name under `collections:`, the module's path name).
MILESTONE_ACTIONS = frozenset(("incident.response.incident_event", "incident_event",
                               "ansible_collections.incident.response.plugins.modules.incident_event"))
NO_LOG_NOTE = "result hidden: no_log"


def task_name(result, task):
    """The templated name when it rendered (a loop var in a name does not), else the raw one. A no_log task
    keeps its raw name: its templates may render secrets."""
    if getattr(task, "no_log", None) is True or (result is not None and (getattr(result, "_result", None) or {}).get("_ansible_no_log")):
        # the task of a result is the templated one: the untemplated name was kept at task start
        return RunSecrets.shared().raw_name(task) or getattr(task, "action", None) or "(no_log task)"
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


def _clip(value, values=None):
    """Redact, then bound: a clip of raw text can leave a piece of a secret that no rule recognises."""
    value = redact(value, values)
    if isinstance(value, str) and len(value) > LONG_TEXT:
        return clip(value, LONG_TEXT, ()) + "... [%d chars]" % len(value)
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
        redact_layer.VAULT_READER = vaulted_plaintext  # vault values are secrets of the run (controller side)
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
        self._secrets = RunSecrets.shared()  # one per run, shared with the responder and the run's modules
        self._max_chars = 2000
        self._spent = 0.0  # seconds spent in this callback (reported in run_end as recorder_s)
        self._problems = []  # storage problems of this run, said when they happen and again at the end
        self._checker = None  # MilestoneChecker, made when the incident is known

    # -- plumbing ---------------------------------------------------------------------------
    def _open(self, explicit_id=None):
        """Pick the incident, open its timeline and write run_start - loudly, before any task runs, when the
        incident root cannot take the record: the record then goes to the fallback directory."""
        if self._writer is not None:
            return
        root = os.path.abspath(os.path.expanduser(self.get_option("root")))
        chosen = explicit_id or self.get_option("incident_id") or None
        try:
            if chosen:
                validate_id(chosen)
        except IncidentError as exc:
            self._disabled = True
            self._display.warning("incident.response.timeline disabled, nothing is recorded: %s" % exc)
            return
        self._max_chars = self.get_option("result_max_chars")
        os.environ[FALLBACK_ENV] = fallback_root()  # modules of this run fall back to the same place
        allocated, problem = False, None
        try:
            self.incident_id, allocated = resolve_id(root, chosen, env={})
            self._dir = incident_dir(root, self.incident_id)
            self._writer = Timeline(os.path.join(self._dir, TIMELINE), sync=self.get_option("sync"),
                                    spill=os.path.join(fallback_dir(root, self.incident_id), TIMELINE),
                                    spill_prepare=lambda: fallback_dir(root, self.incident_id, create=True),
                                    on_problem=self._storage_problem)
        except (IncidentError, OSError) as exc:
            problem = exc
        if problem is not None:  # the root cannot take the record at all (read-only, symlinks, ...)
            try:
                if not self.incident_id:
                    self.incident_id, allocated = allocate(fallback_base(root, create=True), also=(root,)), True
                self._dir = fallback_dir(root, self.incident_id, create=True)
                self._writer = Timeline(os.path.join(self._dir, TIMELINE), sync=self.get_option("sync"),
                                        on_problem=self._storage_problem)
            except (IncidentError, OSError) as exc:
                self._disabled = True
                self._display.warning("incident.response.timeline disabled, NOTHING IS RECORDED: cannot write the "
                                      "incident record under %s (%s) nor in the fallback %s (%s)" % (root, problem, fallback_root(), exc))
                return
            self._storage_problem("cannot write the incident record under %s (%s): recording to %s instead"
                                  % (root, problem, self._dir))
        # modules and the incident_id lookup run in forks of this process: same id, same root, same record
        os.environ["INCIDENT_ID"] = self.incident_id
        os.environ["INCIDENT_ROOT"] = root
        self._write({"type": "run_start", "playbook": self._playbook, "allocated": allocated,
                     "user": getpass.getuser(), "check_mode": self._check_mode, "pid": os.getpid(),
                     "record_problem": str(problem) if problem is not None else None})
        self._point_modules()
        if self._writer.torn_at_open:
            self._storage_problem("the last line of %s was torn (an earlier run was cut short or the disk was full): "
                                  "fenced, so it stays one unreadable line" % self._writer.path)
        self._display.display("Incident %s: recording timeline to %s" % (self.incident_id, self._writer.where))

    def _storage_problem(self, text):
        """Say it now (the operator sees it before the next task) and keep it for the closing summary."""
        self._problems.append(text)
        os.environ["INCIDENT_RECORD_PROBLEM"] = text
        self._display.warning("Incident %s: %s" % (self.incident_id or "(no id)", text))

    def _point_modules(self):
        """Where this run's record lives now, for the modules it starts (evidence, report)."""
        if self._writer is not None:
            os.environ[RECORD_DIR_ENV] = os.path.dirname(self._writer.where)

    def _write(self, event):
        if self._writer is None:
            return
        record = {"ts": iso(), "type": event.pop("type"), "incident_id": self.incident_id, "run_id": self._run_id}
        record.update(event)
        moved = self._writer.where
        self._writer.append(redact(record, self._secrets.ordered), sync_now=record["type"] != "task")
        if self._writer.where != moved:
            self._point_modules()

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
        self._secrets.scan_play(play)  # before the first write of the play (run_start included)
        self._open(str(explicit) if explicit else None)
        self._write({"type": "play_start", "play": self._play, "hosts": str(play.hosts)})

    @_safe
    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = utcnow()
        self._secrets.scan_task(task)

    @_safe
    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = utcnow()
        self._secrets.scan_task(task)

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
        self._secrets.scan_result(result)  # what this result tells is secret, before it is written
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
        if not no_log and self._states_milestones(task):
            # the task's own result, or each loop item that succeeded: one bad item never drops the good ones
            candidates = [data] if items is None else [i for i in items if isinstance(i, dict)]
            for candidate in candidates:
                if candidate.get("failed") or candidate.get("skipped") or "incident_event" not in candidate:
                    continue
                self._milestone(candidate["incident_event"], event)

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
        values = self._secrets.ordered
        summary = dict((k, _clip(data[k], values)) for k in SUMMARY_KEYS if k in data and data[k] not in (None, "", []))
        if isinstance(data.get("findings"), list):
            summary["findings"] = [_clip(f.get("message"), values) if isinstance(f, dict) else _clip(f, values)
                                   for f in data["findings"][:10]]
        exception = data.get("exception")
        if isinstance(exception, str) and exception.strip() and "traceback unavailable" not in exception:
            summary["exception"] = clip(redact_text(exception.strip(), values).splitlines()[-1], LONG_TEXT, ())
        limit = self._max_chars
        text = repr(summary)
        while len(text) > limit and len(summary) > 1:
            summary.pop(max(summary, key=lambda k: len(repr(summary[k]))))
            text = repr(summary)
        return summary

    @staticmethod
    def _states_milestones(task):
        """Only incident.response.incident_event states milestones (a debug or set_fact of a dict named
        incident_event, or any other module returning one, is a task result like any other)."""
        resolved = getattr(task, "resolved_action", None)
        if resolved:
            return resolved in MILESTONE_ACTIONS
        return task.action in MILESTONE_ACTIONS

    def _milestone(self, milestone, task_event):
        if self._checker is None:
            self._checker = MilestoneChecker(self.incident_id, read_events(self._writer.where) if self._writer else ())
        raw = dict((k, v) for k, v in milestone.items() if k not in ("type", "incident_id", "run_id", "ts", "flags")) \
            if isinstance(milestone, dict) else milestone
        if isinstance(raw, dict):
            raw.setdefault("at", task_event["end"])
        event, reason = self._checker.check(raw)
        where = {"host": task_event["host"], "play": task_event["play"], "task": task_event["task"]}
        if event is None:
            self._display.warning("incident.response.timeline: milestone from task %r refused: %s" % (task_event["task"], reason))
            self._write(dict(where, type="milestone_refused", reason=reason,
                             event=raw.get("event") if isinstance(raw, dict) else None))
            return
        if event.get("flags"):
            self._display.warning("incident.response.timeline: milestone %s from task %r flagged: %s"
                                  % (event["event"], task_event["task"], "; ".join(event["flags"])))
        event.update(where, type="milestone")
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
        end = {"type": "run_end", "duration_s": duration, "totals": totals, "hosts": hosts,
               "failed": bool(totals.get("failures") or totals.get("unreachable")),
               "recorder_s": round(self._spent, 3), "sync": self._writer.sync}
        end.update(self._writer.losses())  # exact counts; if run_end itself is lost, the warning below says it
        self._write(end)
        self._writer.close()
        if self._writer.lost or self._writer.spilled:
            lost = "; ".join(" ".join("%s=%s" % kv for kv in sorted(d.items())) for d in self._writer.lost_events[:10])
            self._storage_problem("record of this run: %d event(s) lost%s, %d written to the fallback%s" % (
                self._writer.lost, " (%s%s)" % (lost, "; ..." if self._writer.lost > 10 else "") if lost else "",
                self._writer.spilled, " " + self._writer.spill_path if self._writer.spilled else ""))
        where = os.path.dirname(self._writer.where)
        events = read_events(self._writer.where)
        try:
            write_text_atomic(os.path.join(where, "timeline.md"), render_timeline_md(self.incident_id, events))
        except (OSError, IncidentError) as exc:
            self._storage_problem("timeline.md not written in %s: %s" % (where, exc))
