#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark of the redaction layer (plugins/module_utils/redact.py) on a container-log-like stream.

Prints MB/s of StreamRedactor (what evidence_capture runs on `docker logs`) over a generated log
(default 100 MB, fed in 64 KiB chunks as the Docker API delivers them), with secrets planted every
`--every` lines and `--values` known secret values of the run. Not a test: a figure to watch (the
target is >= 50 MB/s on the 2-core CI machine). Usage: .venv/bin/python scripts/bench_redact.py [--mb 100]
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "collections"))

from ansible_collections.incident.response.plugins.module_utils import redact as redact_module  # noqa: E402
from ansible_collections.incident.response.plugins.module_utils.redact import StreamRedactor  # noqa: E402

SECRETS = ("password=hunter2-bench", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
           "AKIAIOSFODNN7EXAMPLE", "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
           "postgresql://app:pgpass@db/app", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")


def make_log(size, every, seed=7):
    rnd = random.Random(seed)
    paths = ["/api/v1/orders", "/api/v1/items/%d", "/healthz", "/api/v1/users/%d/cart", "/static/app.js"]
    lines, total, number = [], 0, 0
    while total < size:
        number += 1
        path = rnd.choice(paths)
        if "%d" in path:
            path = path % rnd.randint(1, 99999)
        line = ('%s - - [30/Nov/2026:21:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)" '
                'rt=%.3f request_id=%032x upstream=10.0.%d.%d:8000\n'
                % ("10.1.%d.%d" % (rnd.randint(0, 255), rnd.randint(1, 254)), number // 60 % 60, number % 60, path,
                   rnd.choice((200, 200, 200, 201, 304, 404, 500)), rnd.randint(200, 90000), rnd.random(),
                   rnd.getrandbits(128), rnd.randint(0, 9), rnd.randint(1, 254)))
        if every and number % every == 0:
            line = "%s WARN login attempt with %s\n" % (line[:40], SECRETS[number // every % len(SECRETS)])
        lines.append(line)
        total += len(line)
    return "".join(lines).encode("utf-8")


def run(data, values, chunk=65536):
    redactor = StreamRedactor(values=values)
    out = 0
    started = time.perf_counter()
    for pos in range(0, len(data), chunk):
        out += len(redactor.feed(data[pos:pos + chunk]))
    out += len(redactor.flush())
    return time.perf_counter() - started, out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="size of the generated log in MB (default 100)")
    parser.add_argument("--every", type=int, default=1000, help="a planted secret every N lines (default 1000)")
    parser.add_argument("--values", type=int, default=20, help="known secret values of the run (default 20)")
    args = parser.parse_args()
    data = make_log(args.mb * 1000 * 1000, args.every)
    values = sorted(("known-secret-%04d-%s" % (i, "x" * (i % 7)) for i in range(args.values)), key=len, reverse=True)
    seconds, out = run(data, values)
    print("redact: %.1f MB in %.2f s = %.1f MB/s (%d known values, a secret every %d lines, output %.1f MB)"
          % (len(data) / 1e6, seconds, len(data) / 1e6 / seconds, len(values), args.every, out / 1e6))
    many = sorted(("known-secret-%04d" % i for i in range(2000)), key=len, reverse=True)
    seconds, out = run(data, many)
    print("redact: %.1f MB in %.2f s = %.1f MB/s (2000 known values)" % (len(data) / 1e6, seconds, len(data) / 1e6 / seconds))
    dense = make_log(20 * 1000 * 1000, 1)
    seconds, out = run(dense, values)
    print("redact: %.1f MB in %.2f s = %.1f MB/s (worst case: a secret on every line)" % (len(dense) / 1e6, seconds, len(dense) / 1e6 / seconds))
    print("engine: %s" % ("google-re2 (trigger scan and known values in one pass each)" if redact_module._re2 is not None
                          else "pure Python (google-re2 not installed)"))


if __name__ == "__main__":
    main()
