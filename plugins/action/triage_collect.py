# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for incident.response.triage_collect: run several read-only modules at once.

Each module runs exactly as its own task would (same module code, same connection, ActionBase._execute_module),
but in a thread of this one task, so triage pays one task's overhead instead of seven. The other way, that of
ansible.builtin.gather_facts (async_wrapper jobs polled with async_status), costs a module start-up per launch
and per poll: 6.7 s against 3.2 s for the lab's seven diagnostics (median of 3, ansible-core 2.19).
scripts/triage_collect_matrix.sh runs this plugin on every ansible-core of the support matrix."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ALLOWED_PREFIX = "incident.response."


class ActionModule(ActionBase):
    # ActionBase.run() makes the task's remote temporary directory before the threads start, so they share it
    # instead of racing to make their own; ActionBase.cleanup(), called by the task executor, removes it.
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("diagnostics", "workers", "prebuild"))

    def __init__(self, *args, **kwargs):
        super(ActionModule, self).__init__(*args, **kwargs)
        self._build_lock = threading.Lock()
        self._built = threading.Semaphore(0)  # one release per payload built for a diagnostic

    def _configure_module(self, *args, **kwargs):
        """Build one module payload at a time: the one ActionBase internal this plugin relies on besides _execute_module.

        _execute_module() builds the payload (finds the module, discovers the interpreter into self and task_vars,
        compiles the module's source to find its module_utils, zips it), then runs it. Building in parallel threads
        breaks: on Python 3.11 compile() fails with "AST constructor recursion depth mismatch". ActionBase has no
        public way to build apart from running, so this override of the hook _execute_module calls serialises the
        building (quick) and leaves the running, what takes the time, parallel. Were the hook renamed in
        some ansible-core, the modules would still run, built without the lock."""
        with self._build_lock:
            try:
                return super(ActionModule, self)._configure_module(*args, **kwargs)
            finally:
                self._built.release()

    def _run_one(self, name, spec, task_vars):
        started = time.monotonic()
        try:
            res = self._execute_module(module_name=spec["module"], module_args=dict(spec.get("args") or {}),
                                       task_vars=task_vars)
        except Exception as exc:  # pylint: disable=broad-except  # one broken diagnostic must not hide the others
            res = dict(failed=True, msg="%s could not run: %s" % (spec["module"], exc))
        res["triage_elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
        return name, res

    def _prebuild(self, module, task_vars):
        """Build a module's payload while the diagnostics run: ansible-core caches it for this run, so the
        task that runs the module next (the first action of a response) does not pay the build (0.2 s for
        service_restart). A module that does not build is left to its own task to report."""
        try:
            self._configure_module(module_name=module, module_args={}, task_vars=task_vars)
        except Exception:  # pylint: disable=broad-except
            return dict(module=module, built=False)
        return dict(module=module, built=True)

    def _pipelining(self):
        """Whether modules are piped to the interpreter: Connection.is_pipelining_enabled on ansible-core
        2.19+, ActionBase._is_pipelining_enabled before it (scripts/version_matrix.sh runs both)."""
        public = getattr(self._connection, "is_pipelining_enabled", None)
        if public is not None:
            return public()
        return self._is_pipelining_enabled("new")

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        diagnostics = self._task.args.get("diagnostics") or {}
        if not isinstance(diagnostics, dict):
            raise AnsibleActionFail("diagnostics must be a dict of name: {module, args}")
        wanted = {}
        for name, spec in diagnostics.items():
            if not spec:
                continue
            module = (spec or {}).get("module", "")
            if not module.startswith(ALLOWED_PREFIX) or module == ALLOWED_PREFIX + "triage_collect":
                raise AnsibleActionFail("diagnostics.%s: only incident.response diagnostics modules run here, not %r" % (name, module))
            wanted[name] = spec
        modules = [spec["module"] for spec in wanted.values()]
        # Without pipelining a module is copied into the shared temporary directory under its own name:
        # two runs of one module (one per engine) would overwrite each other's file, so go one at a time.
        serial = len(set(modules)) != len(modules) and not self._pipelining()
        workers = 1 if serial else int(self._task.args.get("workers") or 8)
        started = time.monotonic()
        prebuild = self._task.args.get("prebuild") or []
        if not isinstance(prebuild, list) or not all(isinstance(m, str) and m.startswith(ALLOWED_PREFIX) for m in prebuild):
            raise AnsibleActionFail("prebuild must be a list of incident.response module names, not %r" % (prebuild,))
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted) or 1))) as pool:
            running = pool.map(lambda item: self._run_one(item[0], item[1], task_vars), wanted.items())
            if prebuild:  # after the diagnostics' own payloads, which come first
                for _diagnostic in wanted:
                    self._built.acquire(timeout=5)
            prebuilt = [self._prebuild(module, task_vars) for module in prebuild]
            done = dict(running)
        result["prebuilt"] = prebuilt
        result.update(changed=False, diagnostics=done, elapsed_ms=round((time.monotonic() - started) * 1000, 1),
                      failed_diagnostics=sorted(n for n, r in done.items() if r.get("failed")))
        return result
