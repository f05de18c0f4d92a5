# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a program and stream its stdout into an open file with a byte cap and an optional time limit.

`AnsibleModule.run_command` keeps all output in memory; evidence (pg_dump, tcpdump) can be large,
so it goes to disk as it arrives and the program is stopped once the cap or the deadline is hit."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import os
import select
import subprocess
import time

CHUNK = 64 * 1024


def stream_to_file(argv, out, limit, env=None, seconds=None):
    """Write the program's stdout to `out` (at most `limit` bytes, for at most `seconds` when given).

    Returns (written, truncated, exit_code, stderr_text). The program is terminated when the cap or
    the deadline stops the capture; its exit code is then the signal's (negative)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, **(env or {})))
    deadline = time.monotonic() + seconds if seconds else None
    written, truncated = 0, False
    while deadline is None or time.monotonic() < deadline:
        wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
        ready, _w, _x = select.select([proc.stdout], [], [], wait)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        data = os.read(proc.stdout.fileno(), CHUNK)
        if not data:
            break
        if written + len(data) > limit:
            truncated = True
            break
        out.write(data)
        written += len(data)
    if proc.poll() is None:
        proc.terminate()
    code = proc.wait()
    stderr = proc.stderr.read()[-2000:].decode("utf-8", "replace").strip()
    return written, truncated, code, stderr
