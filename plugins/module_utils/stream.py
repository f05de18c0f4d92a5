# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a program and stream its stdout into an open file with a byte cap and an optional time limit,
on this host (a subprocess) or in a container (an Engine API exec).

`AnsibleModule.run_command` keeps all output in memory; evidence (pg_dump, tcpdump) can be large,
so it goes to disk as it arrives and the program is stopped once the cap or the deadline is hit."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import collections
import os
import select
import signal
import subprocess
import time

from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerError

CHUNK = 64 * 1024
STDERR_KEPT = 2000

# written: bytes written; truncated: the cap stopped it; timed_out: the deadline stopped it while it still ran;
# code: exit code (None for an exec stopped early: it may still run; a signal's negative code for a subprocess);
# stderr: its last STDERR_KEPT bytes as text.
Streamed = collections.namedtuple("Streamed", "written truncated timed_out code stderr")


class CappedCopy(object):
    """Write chunks to `out` until the next one would pass `limit` bytes (None: no limit)."""

    def __init__(self, out, limit=None):
        self.out, self.limit = out, limit
        self.written, self.truncated = 0, False

    def write(self, data):
        """Write data and return True, or return False (truncated) when it would pass the limit."""
        if self.limit is not None and self.written + len(data) > self.limit:
            self.truncated = True
            return False
        self.out.write(data)
        self.written += len(data)
        return True


def _deadline(seconds):
    return time.monotonic() + seconds if seconds else None


def stream_to_file(argv, out, limit=None, env=None, seconds=None):
    """Write the program's stdout to `out` (at most `limit` bytes, for at most `seconds` when given).

    Returns a Streamed. The program (and what it started: it runs in a process group of its own) is
    terminated when the cap or the deadline stops the capture; its exit code is then the signal's (negative).
    `env` is added to this process' environment."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, **(env or {})), start_new_session=True)
    deadline, sink, timed_out = _deadline(seconds), CappedCopy(out, limit), False
    while True:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            timed_out = proc.poll() is None
            break
        ready, _w, _x = select.select([proc.stdout], [], [], 0.5 if left is None else min(0.5, left))
        if not ready:
            if proc.poll() is not None:
                break
            continue
        data = os.read(proc.stdout.fileno(), CHUNK)
        if not data or not sink.write(data):
            break
    if not (sink.truncated or timed_out):  # its output ended: let it finish (within the deadline)
        try:
            proc.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    if sink.truncated or timed_out or proc.poll() is None:
        try:  # the whole group: a child left behind would hold the pipes open
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:  # it ended meanwhile
            pass
    proc.stdout.close()
    code = proc.wait()
    stderr = proc.stderr.read()[-STDERR_KEPT:].decode("utf-8", "replace").strip()
    return Streamed(sink.written, sink.truncated, timed_out, code, stderr)


def stream_exec_to_file(client, container, argv, out, limit=None, env=None, seconds=None):
    """The same for argv run in `container` through the Docker Engine API (client: docker_api.DockerClient).

    Without `seconds`, each read waits at most the client's docker_timeout. An exec stopped early is not
    killed (the Engine API cannot): closing its stream ends a program that still writes."""
    deadline, sink, stderr, timed_out = _deadline(seconds), CappedCopy(out, limit), b"", False
    exec_id, frames = client.exec_stream(container, argv, env=env, timeout=seconds)
    try:
        for stream, data in frames:
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                break
            if stream == 2:
                stderr = (stderr + data)[-STDERR_KEPT:]
            elif not sink.write(data):
                break
    except DockerError:
        if deadline is None or time.monotonic() < deadline:
            raise
        timed_out = True  # the read that outlived the deadline
    finally:
        frames.close()
    code = None if sink.truncated or timed_out else client.exec_exit_code(exec_id)
    return Streamed(sink.written, sink.truncated, timed_out, code, stderr.decode("utf-8", "replace").strip())
