# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one path every acting module takes: hold the target's lock, count the action against its rate limit
right before the first change, remember the image it ran, act, and turn any refusal or failure into one clear
module failure. The guard rails themselves (lock, rate limit, image history) are in guard.py; the API clients
(docker_api.py, k8s_api.py) only make API calls.

    with guarded_action(module, key, "restart of api", errors=(DockerError,), result=result,
                        limit=RateLimitOptions("max_restarts", "restart_window")) as guard:
        guard.consume()          # the rate limit counts this action (check mode: reports, never counts)
        guard.record(service_of(info), info)  # the image it runs, for service_rollback
        ...                      # act

In check mode nothing is locked or counted: the result says what would happen and a warning says whether the
rate limit would refuse."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from collections import namedtuple
from contextlib import contextmanager

from ansible_collections.incident.response.plugins.module_utils.guard import (
    GuardError, RateLimit, TargetLock, record_image, state_dir_of)

# Names of the module options that set the rate limit: the refusal message tells the user which to raise.
RateLimitOptions = namedtuple("RateLimitOptions", "max_option window_option")


class Guard(object):
    """What the body of a guarded action may ask for: consume() the rate limit, record() an image."""

    def __init__(self, module, key, limit=None, fields=None):
        self.module = module
        self.fields = fields if fields is not None else {}
        self.key = key
        self.state_dir = state_dir_of(module)
        self.lock_waited_s = 0.0
        self.rate_limit = None
        self._limit = None
        if limit is not None:
            p = module.params
            self._limit = RateLimit(self.state_dir, key, p[limit.max_option], p[limit.window_option],
                                    options=(limit.max_option, limit.window_option))

    def consume(self):
        """Count this action against the rate limit (raises GuardError when it is spent). Returns the
        `rate_limit` result field: {used, max, window_s}. Check mode counts nothing and warns instead."""
        if self._limit is None:
            return None
        if self.module.check_mode:
            used, frees = self._limit.status()
            if not self._limit.allowed():
                self.module.warn("the rate limit would refuse this action on %s (%d of %d in %ds; frees in %ss)"
                                 % (self.key, used, self._limit.max, self._limit.window_s, frees))
        else:
            used = self._limit.acquire()
        self.rate_limit = dict(used=used, max=self._limit.max, window_s=int(self._limit.window_s))
        self.fields["rate_limit"] = self.rate_limit
        return self.rate_limit

    def record(self, target, info):
        """Remember the image a Docker container (`info`, inspect output) of `target` ((project, service)) runs
        before it is changed. Returns True when the image was new to the history; check mode writes nothing."""
        if self.module.check_mode:
            return False
        project, service = target
        return record_image(self.state_dir, project, service, info["Config"]["Image"], info["Image"])


@contextmanager
def guarded_action(module, key, what, errors=(), result=None, limit=None, explain=None):
    """Run the body holding the per-target lock `key` and yield a Guard.

    A guard-rail refusal fails with "<what> refused by a guard rail: ..."; an exception of `errors` fails with
    "<what> failed: ..." (+ `explain(exc)` when given, e.g. what was put back). Either carries `result`."""
    fields = result if result is not None else {}
    guard = Guard(module, key, limit, fields)
    try:
        if module.check_mode:
            yield guard
        else:
            with TargetLock(guard.state_dir, key, module.params["lock_timeout"]) as lock:
                guard.lock_waited_s = lock.waited_s
                fields["lock_waited_s"] = lock.waited_s
                yield guard
    except GuardError as exc:
        module.fail_json(msg="%s refused by a guard rail: %s" % (what, exc), **fields)
    except tuple(errors) as exc:  # pylint: disable=catching-non-exception
        msg = "%s failed: %s" % (what, exc)
        module.fail_json(msg=msg + (explain(exc) if explain else ""), **fields)
