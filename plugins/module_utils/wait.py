# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait until containers are healthy: Docker health status, an HTTP check, a TCP port or just
running; polled every 100 ms against a deadline. A container that exits while we wait is a
definite answer (no point waiting out the deadline), so the caller can escalate at once."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import socket
import time

from ansible_collections.incident.response.plugins.module_utils.http_client import request

POLL_S = 0.1
WAIT_CHOICES = ["health", "http", "tcp", "running"]

WAIT_ARGSPEC = dict(
    wait_for=dict(type="str", default="health", choices=WAIT_CHOICES),
    url=dict(type="str"),
    port=dict(type="int"),
    host=dict(type="str", default="127.0.0.1"),
    expect_status=dict(type="list", elements="int"),
    deadline=dict(type="float", default=60.0),
)


def http_status(url, timeout=2.0, method="GET", headers=None, data=None, max_body=65536):
    """(status, body text, error): status 0 with the error when nothing answered. Never raises.
    Redirects are followed under http_client's rules (no credentials to another origin)."""
    resp = request(url, method=method, headers=headers, body=data, timeout=timeout, max_body=max_body)
    return resp.status, resp.body, resp.detail if resp.status == 0 else None


def tcp_open(host, port, timeout=1.0):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True, None
    except (OSError, socket.error) as exc:
        return False, str(exc)


def status_ok(status, expect_status=None):
    return status in expect_status if expect_status else 200 <= status < 400


class Probe(object):
    """One readiness check of the kind `wait_for`; `check(info)` -> (healthy, reason, final).

    `final` means waiting longer cannot help (the container exited)."""

    def __init__(self, wait_for="health", url=None, host="127.0.0.1", port=None, expect_status=None):
        if wait_for == "http" and not url:
            raise ValueError("wait_for=http needs url")
        if wait_for == "tcp" and not port:
            raise ValueError("wait_for=tcp needs port")
        self.wait_for = wait_for
        self.url = url
        self.host = host
        self.port = port
        self.expect_status = expect_status

    def check(self, info, remaining=2.0):
        state = info.get("State") or {}
        if not state.get("Running") or state.get("Paused"):
            if state.get("Restarting"):
                return False, "restarting", False
            if state.get("Paused"):
                return False, "paused", True
            return False, "exited with code %s" % state.get("ExitCode"), True
        if self.wait_for == "health":
            health = (state.get("Health") or {}).get("Status")
            if not health:  # Docker: no Health at all; podman: Health with an empty Status
                return True, "running (no healthcheck)", False
            return health == "healthy", "health %s" % health, False
        if self.wait_for == "http":
            status, _body, error = http_status(self.url, timeout=max(0.2, min(2.0, remaining)))
            return status_ok(status, self.expect_status), error or "HTTP %d" % status, False
        if self.wait_for == "tcp":
            ok, error = tcp_open(self.host, self.port, timeout=max(0.2, min(1.0, remaining)))
            return ok, error or "port %d open" % self.port, False
        return True, "running", False


def probe_from_params(params):
    return Probe(params["wait_for"], params.get("url"), params.get("host") or "127.0.0.1", params.get("port"),
                 params.get("expect_status"))


def wait_healthy(client, container_ids, probe, deadline_s, poll_s=POLL_S, clock=time.monotonic, sleep=time.sleep):
    """Poll every container until all pass `probe`, one fails for good, or the deadline passes.

    Returns (healthy, reasons {id: last reason}, infos {id: last inspect})."""
    end = clock() + deadline_s
    pending = list(container_ids)
    reasons, infos = {}, {}
    while True:
        tick = clock()
        for cid in list(pending):
            infos[cid] = info = client.inspect(cid)
            ok, reasons[cid], final = probe.check(info, end - clock())
            if ok:
                pending.remove(cid)
            elif final:
                return False, reasons, infos
        if not pending:
            return True, reasons, infos
        if clock() >= end:
            return False, reasons, infos
        sleep(max(0.0, min(poll_s - (clock() - tick), end - clock())))
