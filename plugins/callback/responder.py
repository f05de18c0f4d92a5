# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: responder
type: stdout
short_description: The on-call's console - verdict, actions, milestones, decisions and what is left to do
description:
  - Prints an incident response as it happens, one line per thing that matters, each with the time (UTC) and
    the phase (the role it ran in) - the triage verdict per service (the C(triage_report) fact of the
    P(incident.response.triage#role) role), every action of this collection's action modules (restart,
    rollback, scale, maintenance page, notices, evidence, PostgreSQL/Redis/Kubernetes actions, ...) with
    its outcome and duration, the milestones of M(incident.response.incident_event) as they are stated,
    the recovery decision of the P(incident.response.decide#role) role and who or what took it, and any
    failed task.
  - Ends with a closing block - status, MTTD/MTTA/MTTM/MTTR, customer impact, what a human must still do and
    the report path (from M(incident.response.incident_report) when the run wrote a report, else from the
    milestones of the run) - and the usual C(PLAY RECAP) lines.
  - A failure is never shown as ok. A failed task shows as C(FAILED) with its message (secrets masked),
    also when it was ignored or rescued; an action that returned C(healthy=false) or C(rollout_complete=false)
    (for example a restart under C(failed_when=false)) or a notice that some channel did not take shows as
    C(FAILED) too.
  - Everything else (task banners, C(ok:)/C(skipping:) lines, argument validation, includes, retries) is not
    printed. Debug messages of tasks outside this collection's roles are printed.
  - In check mode an action reads C(would restart api (check mode)).
  - With C(-v) or more it prints what P(ansible.builtin.default#callback) prints (it is a subclass of it),
    followed by the closing block.
  - Under ansible-runner and AWX the runner's C(awx_display) callback is the stdout callback and wraps the
    callback named in the environment variable E(ANSIBLE_STDOUT_CALLBACK) (C(ansible.cfg) is not read for
    this) - set E(ANSIBLE_STDOUT_CALLBACK=incident.response.responder) in the runner's environment
    (C(env/envvars), or AWX's extra environment variables) and the job output holds these lines.
  - The standard output is one setting away, E(ANSIBLE_STDOUT_CALLBACK=ansible.builtin.default).
version_added: "0.1.0"
author:
  - incident.response contributors (@incident-response)
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback (C(stdout_callback = incident.response.responder) in C(ansible.cfg))
"""

import os
import time

from ansible import constants as C
from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.utils.color import colorize, hostcolor

from ansible_collections.incident.response.plugins.callback.timeline import task_name
from ansible_collections.incident.response.plugins.module_utils.incident import fmt_duration
from ansible_collections.incident.response.plugins.module_utils.redact import RunSecrets, redact, redact_text
from ansible_collections.incident.response.plugins.module_utils import redact as redact_layer
from ansible_collections.incident.response.plugins.plugin_utils.vault_values import vaulted_plaintext
# The modules that act (one list, kept equal to the modules' documentation by a unit test).
from ansible_collections.incident.response.plugins.module_utils.timeline_svg import ACTION_MODULES as ACTIONS

try:
    from ansible import context
except ImportError:  # pragma: no cover
    context = None

try:
    from ansible.playbook.task_include import TaskInclude
except ImportError:  # pragma: no cover
    TaskInclude = ()

PREFIX = "incident.response."
STATE_VERBS = {"started": "start", "stopped": "stop", "paused": "pause", "unpaused": "unpause"}
# Phase of a line: the role it ran in, else the kind of action.
PHASES = {"catalog": "catalog", "triage": "triage", "declare": "declare", "evidence": "evidence", "contain": "contain",
          "decide": "decide", "verify": "verify", "communicate": "notify", "postmortem": "report"}
ACTION_PHASES = {"notify": "notify", "evidence_capture": "evidence", "maintenance_mode": "contain",
                 "incident_report": "report", "http_check": "verify"}
MILESTONE_WORDS = {"detected": "DETECTED", "declared": "DECLARED", "acknowledged": "ACKNOWLEDGED",
                   "escalated": "ESCALATED", "mitigated": "MITIGATED", "resolved": "RESOLVED", "note": "note"}
DECIDERS = {"given": "the operator (recovery_strategy given)", "asked": "the person at the terminal",
            "default (no answer)": "the automation (default: no answer at the terminal)",
            "default (unattended)": "the automation (default: unattended run)"}
# Debug output of this collection's own roles repeats what the console already shows.
ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))), "roles") + os.sep
LINE_MAX = 220


def _one_line(text, limit=LINE_MAX):
    text = " ".join(str(text if text is not None else "").split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _short(name):
    """'incident.response.service_restart' -> 'service_restart', 'ansible.builtin.debug' -> 'debug'."""
    name = str(name or "")
    for prefix in (PREFIX, "ansible.builtin.", "ansible.legacy."):
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _rescued(task):
    """True when the task sits in the block part of a block that has a rescue section (its failure is rescued)."""
    child, parent = task, getattr(task, "_parent", None)
    while parent is not None:
        if getattr(parent, "rescue", None) and any(getattr(t, "_uuid", None) == child._uuid for t in getattr(parent, "block", None) or []):
            return True
        child, parent = parent, getattr(parent, "_parent", None)
    return False


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "incident.response.responder"

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        redact_layer.VAULT_READER = vaulted_plaintext  # vault values are secrets of the run (controller side)
        self._task_started = {}
        self._host_started = {}
        self._item_mark = {}
        self._failed_shown = set()
        self._hosts_seen = set()
        self._secrets = RunSecrets.shared()  # one per run, shared with the timeline callback and the run's modules
        self._check = False
        self._report = None
        self._milestones = []
        self._todo = []
        self._failures = []
        self._maintenance = None
        self._actions = 0
        self._muted = False
        self._warned = False

    # -- plumbing --------------------------------------------------------------------------------
    def _quiet(self):
        return self._display.verbosity < 1

    def _say(self, phase, text, color=None, host=None):
        if self._muted:
            return
        if host and len(self._hosts_seen) > 1:
            text = "[%s] %s" % (host, text)
        line = "%s  %-9s  %s" % (time.strftime("%H:%M:%S", time.gmtime()), phase, text)
        self._display.display(line, color=color)

    def _clean(self, value, limit=LINE_MAX):
        # redact the whole text first: a clip of raw text can leave a piece of a secret no rule recognises
        return _one_line(redact_text(str(value if value is not None else ""), self._secrets.ordered), limit)

    def _scan_play_vars(self, play):
        hosts = self._secrets.scan_play(play)
        self._hosts_seen.update(h.get_name() for h in hosts)  # lines name their host when there are several

    def _scan_task(self, task):
        try:
            self._secrets.scan_task(task)
        except Exception:  # pylint: disable=broad-except
            pass  # masking known values is best effort; the detectors still apply

    def _check_mode(self, task):
        return self._check or getattr(task, "check_mode", False) is True

    @staticmethod
    def _action(task):
        return _short(getattr(task, "resolved_action", None) or task.action)

    @staticmethod
    def _role(task):
        role = getattr(task, "_role", None)
        return role.get_name(include_role_fqcn=False) if role else None

    def _phase(self, task, action=None):
        role = self._role(task)
        if role:
            return PHASES.get(role) or ("remediate" if role.startswith("remediate") else role)
        action = action or self._action(task)
        if action in ACTION_PHASES:
            return ACTION_PHASES[action]
        return "remediate" if action in ACTIONS else "play"

    @staticmethod
    def _task_name(result, task):
        return task_name(result, task)

    def _elapsed(self, host, task, item=False):
        now = time.monotonic()
        key = (host, task._uuid)
        start = self._host_started.get(key) or self._task_started.get(task._uuid) or now
        if item:
            start = self._item_mark.get(key, start)
            self._item_mark[key] = now
        return now - start

    def _hidden(self, task, data):
        return bool(data.get("_ansible_no_log") or task.no_log)

    # -- what one result says -----------------------------------------------------------------
    def _describe(self, action, args, data):
        """A short phrase for what the action does: 'restart api', 'maintenance page on'..."""
        target = args.get("service") or args.get("container") or args.get("name") or ""
        if isinstance(target, list):
            target = ", ".join(str(t) for t in target)
        if action == "service_restart":
            return "restart %s" % target
        if action == "service_rollback":
            return "roll back %s%s" % (target, (" to " + args["image"]) if args.get("image") else "")
        if action in ("service_scale", "k8s_scale"):
            return "scale %s to %s" % (target, args.get("replicas"))
        if action == "service_state":
            return "%s %s" % (STATE_VERBS.get(args.get("state"), str(args.get("state"))), target)
        if action == "maintenance_mode":
            return "switch the maintenance page %s" % ("on" if args.get("state") in (True, "true", "True", "on", "yes") else "off")
        if action == "container_exec":
            return "run a command in %s" % target
        if action == "postgres_maintenance":
            return "PostgreSQL %s%s" % (args.get("action") or "maintenance", (" " + ", ".join(args["tables"])) if args.get("tables") else "")
        if action == "postgres_sessions":
            return "%s PostgreSQL sessions" % (args.get("action") or "terminate")
        if action == "postgres_guarded_update":
            return "guarded PostgreSQL update"
        if action == "redis_maintenance":
            return "Redis %s" % (args.get("action") or "maintenance")
        if action == "k8s_rollout_restart":
            return "rollout restart %s" % target
        if action == "k8s_rollback":
            return "roll back %s%s" % (target, (" to revision %s" % args["to_revision"]) if args.get("to_revision") else "")
        if action == "k8s_set_resources":
            return "raise the memory limit of %s" % target
        if action == "k8s_pod_delete":
            return "delete the pods of %s" % target
        if action == "alertmanager_silence":
            return "%s an Alertmanager silence" % ("expire" if args.get("state") == "absent" else "set")
        if action == "notify":
            return "send the %s notice" % (args.get("stage") or "incident")
        if action == "evidence_capture":
            return "capture evidence"
        return action.replace("_", " ")

    @staticmethod
    def _unhealthy(action, data, check):
        """Why a result that did not fail is still a failure ('' when it is not)."""
        if check:
            return ""
        if data.get("healthy") is False:
            return "not healthy"
        if data.get("rollout_complete") is False:
            return "rollout not complete"
        if action == "notify" and data.get("failed_channels"):
            errors = sorted(set(str(d.get("error")) for d in data.get("deliveries") or [] if isinstance(d, dict) and not d.get("ok")))
            return "not delivered to %s (%s)" % (", ".join(str(c) for c in data["failed_channels"]), "; ".join(errors))
        return ""

    def _on_action(self, action, task, host, data, status, elapsed, label=None):
        """One line per action: what, outcome, duration, message."""
        self._actions += 1
        hidden = self._hidden(task, data)
        args = {} if hidden else redact((data.get("invocation") or {}).get("module_args") or {}, self._secrets.ordered)
        if not args and not hidden:
            args = redact(dict((k, v) for k, v in (task.args or {}).items() if isinstance(v, (str, int, bool, list)) and "{{" not in str(v)),
                          self._secrets.ordered)
        what = self._describe(action, args, data)
        if label:
            what += " (%s)" % label
        msg = "output hidden: no_log" if hidden else self._clean(data.get("msg") or "", 160)
        check = self._check_mode(task)
        why = self._unhealthy(action, data, check)
        took = fmt_duration(elapsed)
        if status == "failed" or why:
            detail = "; ".join(x for x in (why, msg) if x)
            self._say(self._phase(task, action), "%s: FAILED (%s)%s" % (what, took, (" - " + detail) if detail else ""),
                      color=C.COLOR_ERROR, host=host)
            self._failures.append("%s: %s" % (what, detail or "failed"))
            if action == "notify" and data.get("failed_channels"):
                channels = ", ".join(str(c) for c in data["failed_channels"])
                self._todo.append("send the %s notice by hand to %s" % (args.get("stage") or "incident", channels))
            return
        if action == "maintenance_mode" and "state" in args:
            self._maintenance = args.get("state") in (True, "true", "True", "on", "yes")
        if check:
            self._say(self._phase(task, action), "would %s (check mode)%s" % (what, (" - " + msg) if msg else ""),
                      color=C.COLOR_SKIP, host=host)
            return
        outcome = "ok" if data.get("changed") else "ok, nothing to change"
        if action == "notify":
            sent = [str(d.get("channel")) for d in data.get("deliveries") or [] if isinstance(d, dict) and d.get("ok")]
            outcome = ("sent to " + ", ".join(sent)) if sent else "no channel configured"
        self._say(self._phase(task, action), "%s: %s (%s)%s" % (what, outcome, took, (" - " + msg) if msg else ""),
                  color=C.COLOR_CHANGED if data.get("changed") else C.COLOR_OK, host=host)

    def _on_milestone(self, task, host, milestone):
        event = str(milestone.get("event") or "note")
        message = self._clean(milestone.get("message") or "")
        self._milestones.append((event, message))
        if event == "escalated":
            self._todo.append("take over: " + message)
        phase = self._phase(task) if self._role(task) else "milestone"
        self._say(phase, "%s %s" % (MILESTONE_WORDS.get(event, event), message),
                  color=C.COLOR_ERROR if event == "escalated" else C.COLOR_CHANGED if event != "note" else None, host=host)

    def _on_triage(self, host, report):
        services = report.get("services") or {}
        bad = [(n, s) for n, s in sorted(services.items()) if isinstance(s, dict) and s.get("verdict") != "healthy"]
        healthy = [n for n, s in sorted(services.items()) if isinstance(s, dict) and s.get("verdict") == "healthy"]
        took = report.get("elapsed_ms")
        head = "verdict %s: %s" % (str(report.get("verdict") or "?").upper(), self._clean(report.get("summary") or "", 160))
        if took is not None:
            head += " [%s]" % fmt_duration(float(took) / 1000.0)
        self._say("triage", head, color=C.COLOR_ERROR if bad else C.COLOR_OK, host=host)
        for name, svc in bad:
            self._say("triage", "  %-12s %-8s %s" % (name, str(svc.get("verdict")).upper(), self._clean(svc.get("reason") or "", 160)),
                      color=C.COLOR_ERROR if svc.get("verdict") == "down" else C.COLOR_WARN, host=host)
        if bad and healthy:
            self._say("triage", "  healthy: %s" % ", ".join(healthy), host=host)

    def _on_decision(self, task, host, decision):
        strategy = decision.get("strategy") or "?"
        source = str(decision.get("source") or "").strip()
        risk = decision.get("risk") if isinstance(decision.get("risk"), dict) else {}
        who = DECIDERS.get(source, source or "?")
        self._say(self._phase(task), "DECISION %s (%s) - taken by %s; risk: %s" % (
            strategy, self._clean(risk.get("label") or "", 80), who, self._clean(risk.get("risk") or "?", 80)),
            color=C.COLOR_CHANGED, host=host)
        if strategy != "rollback":
            self._todo.append("carry out the %s: %s" % (strategy, self._clean(risk.get("label") or strategy, 100)))

    def _on_debug(self, task, host, data):
        role_path = getattr(getattr(task, "_role", None), "_role_path", None)
        if role_path and os.path.realpath(role_path).startswith(ROLES_DIR):
            return  # the collection's roles show their results in the lines above
        if "msg" in data:
            lines = data["msg"] if isinstance(data["msg"], list) else [data["msg"]]
        else:
            lines = ["%s = %s" % (k, v) for k, v in data.items() if not k.startswith("_") and k not in ("changed", "failed")]
        for line in lines:
            self._say(self._phase(task), self._clean(line, 400), host=host)

    def _handle(self, result, data, status, item=False):
        """Quiet-mode line(s) for one result (a task, or one item of a loop)."""
        task, host = result._task, result._host.get_name()
        self._secrets.scan_result(result)  # what this result tells is secret, before anything is printed
        self._hosts_seen.add(host)
        elapsed = self._elapsed(host, task, item=item)
        action = self._action(task)
        if status in ("failed", "unreachable"):
            key = (host, task._uuid)
            if not item and key in self._failed_shown:
                return
            self._failed_shown.add(key)
        if action in ACTIONS and status in ("ok", "failed"):
            label = self._item_label(data) if item else None
            self._on_action(action, task, host, data, status, elapsed, label)
            return
        hidden = self._hidden(task, data)
        if status in ("failed", "unreachable"):
            msg = "output hidden: no_log" if hidden else self._clean(data.get("msg") or "failed", 300)
            name = self._clean(self._task_name(result, task), 100)
            if item:
                name += " (%s)" % self._item_label(data)
            self._failures.append("%s: %s" % (name, msg))
            self._say(self._phase(task), "%s %s: %s" % ("UNREACHABLE" if status == "unreachable" else "FAILED", name, msg),
                      color=C.COLOR_ERROR, host=host)
            return
        if hidden or status != "ok":
            return
        if isinstance(data.get("incident_event"), dict):
            self._on_milestone(task, host, data["incident_event"])
        facts = data.get("ansible_facts") if isinstance(data.get("ansible_facts"), dict) else {}
        if isinstance(facts.get("triage_report"), dict):
            self._on_triage(host, facts["triage_report"])
        if isinstance(facts.get("recovery_decision"), dict):
            self._on_decision(task, host, facts["recovery_decision"])
        if action == "incident_report" and isinstance(data.get("summary"), dict):
            self._report = dict(summary=data["summary"], files=data.get("files") or {}, check=self._check_mode(task))
        if action == "debug":
            self._on_debug(task, host, data)

    def _item_label(self, data):
        label = data.get("_ansible_item_label", data.get("item"))
        return self._clean(label if isinstance(label, (str, int, float)) else "item", 60)

    # -- playbook / play --------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook):
        if context is not None:
            self._check = bool(context.CLIARGS.get("check"))
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_start(playbook)

    def v2_playbook_on_play_start(self, play):
        self._play = play
        self._check = self._check or bool(getattr(play, "check_mode", False))
        try:
            self._scan_play_vars(play)
        except Exception:  # pylint: disable=broad-except
            pass  # masking known values is best effort; the patterns below still apply
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_play_start(play)
            return
        name = play.get_name().strip() or "play"
        self._display.display("== %s%s  (times UTC)" % (name, "  [CHECK MODE: nothing is changed]" if self._check else ""),
                              color=C.COLOR_HIGHLIGHT)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_started[task._uuid] = time.monotonic()
        self._scan_task(task)
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_started[task._uuid] = time.monotonic()
        self._scan_task(task)
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_handler_task_start(task)

    def v2_runner_on_start(self, host, task):
        self._host_started[(host.get_name(), task._uuid)] = time.monotonic()
        if not self._quiet():
            super(CallbackModule, self).v2_runner_on_start(host, task)

    def v2_playbook_on_include(self, included_file):
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_include(included_file)

    def v2_runner_retry(self, result):
        if not self._quiet():
            super(CallbackModule, self).v2_runner_retry(result)

    def v2_runner_on_async_poll(self, result):
        if not self._quiet():
            super(CallbackModule, self).v2_runner_on_async_poll(result)

    def v2_runner_on_async_ok(self, result):
        if not self._quiet():
            super(CallbackModule, self).v2_runner_on_async_ok(result)

    def v2_runner_on_async_failed(self, result):
        if not self._quiet():
            super(CallbackModule, self).v2_runner_on_async_failed(result)

    def v2_playbook_on_no_hosts_remaining(self):
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_no_hosts_remaining()
            return
        self._display.display("no hosts left to run on", color=C.COLOR_ERROR)

    # -- results ----------------------------------------------------------------------------------
    def _loop(self, result):
        return bool(result._task.loop) and isinstance(result._result.get("results"), list)

    def v2_runner_on_ok(self, result):
        quiet = self._quiet()
        if isinstance(result._task, TaskInclude):
            if not quiet:
                super(CallbackModule, self).v2_runner_on_ok(result)
            return
        if quiet:
            self._handle_warnings(result._result)
        data = dict(result._result)
        if not self._loop(result):
            self._observe(result, data, "ok", quiet)
        if not quiet:
            super(CallbackModule, self).v2_runner_on_ok(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        quiet = self._quiet()
        data = dict(result._result)
        note = " (ignored)" if ignore_errors else " (rescued)" if _rescued(result._task) else ""
        if note:
            data["msg"] = "%s%s" % (data.get("msg") or "failed", note)
        if quiet:
            self._handle_warnings(result._result)
        self._observe(result, data, "failed", quiet)
        if not quiet:
            super(CallbackModule, self).v2_runner_on_failed(result, ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result):
        quiet = self._quiet()
        self._observe(result, dict(result._result), "unreachable", quiet)
        if not quiet:
            super(CallbackModule, self).v2_runner_on_unreachable(result)

    def v2_runner_on_skipped(self, result):
        if not self._quiet():
            super(CallbackModule, self).v2_runner_on_skipped(result)

    def v2_runner_item_on_ok(self, result):
        quiet = self._quiet()
        if not isinstance(result._task, TaskInclude):
            self._observe(result, dict(result._result), "ok", quiet, item=True)
        if not quiet:
            super(CallbackModule, self).v2_runner_item_on_ok(result)

    def v2_runner_item_on_failed(self, result):
        quiet = self._quiet()
        self._observe(result, dict(result._result), "failed", quiet, item=True)
        if not quiet:
            super(CallbackModule, self).v2_runner_item_on_failed(result)

    def v2_runner_item_on_skipped(self, result):
        if not self._quiet():
            super(CallbackModule, self).v2_runner_item_on_skipped(result)

    def _observe(self, result, data, status, quiet, item=False):
        """Quiet: print the line(s). Verbose: the default prints; only remember what the closing block needs."""
        self._muted = not quiet
        try:
            self._handle(result, data, status, item=item)
        except Exception as exc:  # pylint: disable=broad-except
            # A console problem must never hide a result: say so once, the default's line instead.
            self._muted = False
            if not self._warned:
                self._warned = True
                self._display.warning("incident.response.responder: %s: %s (showing the standard line)" % (type(exc).__name__, exc))
            if quiet:
                method = getattr(super(CallbackModule, self), "v2_runner_%son_%s" % ("item_" if item else "", status))
                method(result)
        finally:
            self._muted = False

    # -- the closing block ------------------------------------------------------------------------
    def _closing(self, stats):
        totals = dict((k, 0) for k in ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored"))
        for host in stats.processed:
            for key, value in stats.summarize(host).items():
                totals[key] = totals.get(key, 0) + value
        report = self._report or {}
        summary = report.get("summary") or {}
        metrics = summary.get("metrics") or {}
        incident = summary.get("incident_id") or os.environ.get("INCIDENT_ID") or "incident"
        events = [e for e, _m in self._milestones]
        status = summary.get("status")
        if "escalated" in events and status != "resolved":
            status = "escalated to a human"
        elif not status:
            status = ("resolved" if "resolved" in events else "mitigated" if "mitigated" in events
                      else "open" if "declared" in events else "no incident declared")
        run_failed = bool(totals["failures"] or totals["unreachable"])
        if self._check:
            status += " (check mode: nothing was changed)"
        title = "-- %s: %s " % (incident, status.upper())
        self._display.display(title + "-" * max(4, 78 - len(title)), color=C.COLOR_ERROR if run_failed else C.COLOR_OK)
        lines = []
        took = " after %s" % fmt_duration(summary["duration_s"]) if summary.get("duration_s") is not None else ""
        state = "Status     %s%s; %d action(s), %d failure(s)%s" % (
            status, took, self._actions, len(self._failures),
            "; the run FAILED" if run_failed else "")
        lines.append(state)
        if summary.get("title"):
            lines.append("Incident   %s%s" % (("%s " % summary["severity"]) if summary.get("severity") else "", self._clean(summary["title"], 160)))
        if metrics:
            mtt = ", ".join("%s %s" % (label, fmt_duration(metrics.get(key)) or "n/a")
                            for label, key in (("MTTD", "mttd_s"), ("MTTA", "mtta_s"), ("MTTM", "mttm_s"), ("MTTR", "mttr_s")))
            lines.append("MTTx       " + mtt)
            impact = fmt_duration(metrics.get("customer_impact_s")) or "n/a: ongoing (no mitigated or resolved milestone)"
            services = ", ".join(summary.get("services_affected") or []) or "not listed"
            lines.append("Impact     customers affected for %s; services: %s" % (impact, services))
        elif self._milestones:
            last = self._milestones[-1]
            lines.append("Last       %s: %s" % (last[0], last[1]))
        todo = list(self._todo)
        if run_failed and not any(t.startswith("take over") for t in todo):
            todo.append("take over: the run failed (%s)" % (self._failures[-1] if self._failures else "see above"))
        if self._maintenance and not self._check:
            todo.append("take the maintenance page down once the service is healthy (it is still on)")
        files = report.get("files") or {}
        if files.get("review") and not report.get("check"):
            todo.append("complete the post-incident review: %s" % files["review"])
        if self._failures and not todo:
            todo.append("look at the failure(s) above: the run carried on past them")
        for entry in todo or ["nothing"]:
            lines.append("To do      %s" % self._clean(entry, 300))
        if files.get("report"):
            lines.append("Report     %s%s" % (files["report"], " (check mode: not written)" if report.get("check") else ""))
        elif os.environ.get("INCIDENT_ID") and os.environ.get("INCIDENT_ROOT"):
            lines.append("Report     none written by this run; timeline: %s" % os.path.join(
                os.environ.get("INCIDENT_RECORD_DIR") or os.path.join(os.environ["INCIDENT_ROOT"], os.environ["INCIDENT_ID"]),
                "timeline.jsonl"))
        if os.environ.get("INCIDENT_RECORD_PROBLEM"):  # set by the timeline callback when the record's storage failed
            lines.append("Record     FAILED STORAGE: %s" % self._clean(os.environ["INCIDENT_RECORD_PROBLEM"], 300))
        for line in lines:
            self._display.display(line, color=C.COLOR_ERROR if "FAILED" in line else None)

    def _recap(self, stats):
        self._display.display("PLAY RECAP")
        for host in sorted(stats.processed.keys()):
            summary = stats.summarize(host)
            self._display.display("%s : %s %s %s %s %s %s %s" % (
                hostcolor(host, summary),
                colorize("ok", summary["ok"], C.COLOR_OK),
                colorize("changed", summary["changed"], C.COLOR_CHANGED),
                colorize("unreachable", summary["unreachable"], C.COLOR_UNREACHABLE),
                colorize("failed", summary["failures"], C.COLOR_ERROR),
                colorize("skipped", summary["skipped"], C.COLOR_SKIP),
                colorize("rescued", summary["rescued"], C.COLOR_OK),
                colorize("ignored", summary["ignored"], C.COLOR_WARN)))

    def v2_playbook_on_stats(self, stats):
        if not self._quiet():
            super(CallbackModule, self).v2_playbook_on_stats(stats)
            self._closing(stats)
            return
        self._closing(stats)
        self._recap(stats)
