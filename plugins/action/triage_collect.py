# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin for incident.response.triage_collect: run several read-only modules at once.

Each module runs exactly as its own task would (same module code, same connection), but in a
thread of this one task, so triage pays one task's overhead instead of seven."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ALLOWED_PREFIX = "incident.response."


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("diagnostics", "workers"))

    def _run_one(self, name, spec, task_vars):
        started = time.monotonic()
        try:
            res = self._execute_module(module_name=spec["module"], module_args=dict(spec.get("args") or {}),
                                       task_vars=task_vars)
        except Exception as exc:  # pylint: disable=broad-except  # one broken diagnostic must not hide the others
            res = dict(failed=True, msg="%s could not run: %s" % (spec["module"], exc))
        res["triage_elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
        return name, res

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
        serial = len(set(modules)) != len(modules) and not self._is_pipelining_enabled("new")
        # Make the temporary directory once, before the threads, so they share it instead of racing for it.
        if not self._is_pipelining_enabled("new") and self._connection._shell.tmpdir is None:
            self._make_tmp_path()
        # Building a module payload parses Python (ast), which is not safe in parallel threads:
        # build one at a time, run them all at once (the running is what takes the time).
        build_lock = threading.Lock()
        configure = self._configure_module

        def configure_locked(*args, **kwargs):
            with build_lock:
                return configure(*args, **kwargs)
        self._configure_module = configure_locked
        started = time.monotonic()
        workers = 1 if serial else int(self._task.args.get("workers") or 8)
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(wanted) or 1))) as pool:
                done = dict(pool.map(lambda item: self._run_one(item[0], item[1], task_vars), wanted.items()))
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        result.update(changed=False, diagnostics=done, elapsed_ms=round((time.monotonic() - started) * 1000, 1),
                      failed_diagnostics=sorted(n for n, r in done.items() if r.get("failed")))
        return result
