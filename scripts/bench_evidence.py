#!/usr/bin/env python
"""Evidence capture of a huge container log: only the tail is read.

Starts a throwaway container (not a lab service, so no lab lock) whose json-file log grows to --log-gb
gigabytes, then measures:
  - evidence_capture (the real module, max_bytes 5 MiB): wall time, how the log was read, bytes kept;
  - the two tail readers alone: the json-file tail (seek to the end) and the Engine API with `tail=`;
  - the old way (the whole log streamed through the Engine API) for --old-seconds, extrapolated;
  - a log without newlines (--flat-mb): the cap is kept whole, not halved.
The containers are removed at the end.

    .venv/bin/python scripts/bench_evidence.py [--log-gb 2] [--flat-mb 200] [--image IMAGE]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "collections"))

from tests.ansible import run_module  # noqa: E402  pylint: disable=wrong-import-position

from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient  # noqa: E402
from ansible_collections.incident.response.plugins.module_utils.evidence import TailLogs  # noqa: E402

LINE = "2026-11-30T12:00:00.000Z INFO request id=4f1c2a path=/v1/items status=200 took=12ms user=alice shard=7"
MAX_BYTES = 5 * 1024 * 1024


def docker(*args):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=True).stdout.strip()


def default_image():
    for ref in ("incident-lab/base", "debian", "alpine", "busybox"):
        found = docker("image", "ls", "--filter", "reference=%s*" % ref, "--format", "{{.Repository}}:{{.Tag}}")
        if found:
            return found.splitlines()[0]
    raise SystemExit("no image with a shell found; pass --image")


def start(name, image, script):
    docker("run", "-d", "--name", name, "--log-driver", "json-file", image, "sh", "-c", script + "; sleep 3600")
    path = docker("inspect", "-f", "{{.LogPath}}", name)
    last, still = -1, 0
    while still < 3:  # wait until the log stops growing
        time.sleep(1)
        size = os.path.getsize(path) if os.path.exists(path) else 0
        still = still + 1 if size == last else 0
        last = size
    return path, last


def drain(frames, limit_s=None):
    started, total = time.monotonic(), 0
    for _stream, data in frames:
        total += len(data)
        if limit_s and time.monotonic() - started > limit_s:
            break
    return total, time.monotonic() - started


def capture(name, tmp):
    started = time.monotonic()
    res = run_module("evidence_capture", dict(incident_id="INC-2026-11-30-001", root=tmp, containers=[name], since="1d",
                                              max_bytes=MAX_BYTES, host_snapshot=False), timeout=900)
    took = time.monotonic() - started
    assert not res.get("failed"), res
    log = [m for m in res["manifest"] if m["file"].startswith("logs/")][0]
    return took, res.get("log_reader"), log


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-gb", type=float, default=2.0)
    parser.add_argument("--flat-mb", type=int, default=200)
    parser.add_argument("--old-seconds", type=float, default=10.0)
    parser.add_argument("--image")
    args = parser.parse_args()
    image = args.image or default_image()
    name, flat = "bench-evidence-%d" % os.getpid(), "bench-evidence-flat-%d" % os.getpid()
    client = DockerClient()
    try:
        # json-file adds ~60 bytes of JSON per line: write enough text for a log file of --log-gb
        text_bytes = int(args.log_gb * (1 << 30) * len(LINE) / (len(LINE) + 62))
        made = time.monotonic()
        path, size = start(name, image, "yes '%s' | head -c %d" % (LINE, text_bytes))
        print("log: %.2f GB json-file (%s), written in %.0fs" % (size / 1e9, path, time.monotonic() - made))
        cid = docker("inspect", "-f", "{{.Id}}", name)
        with tempfile.TemporaryDirectory() as tmp:
            took, reader, log = capture(name, tmp)
            print("evidence_capture: %.1fs, %s, kept %d bytes (cap %d), truncated=%s" % (
                took, list(reader.values())[0], log["size"], MAX_BYTES, log["truncated"]))
        for use_file in (True, False):
            tail = TailLogs(client, MAX_BYTES, use_file=use_file)
            total, secs = drain(tail.stream_logs(cid, since=time.time() - 86400))
            print("tail reader %-38s %.2fs, %d MB read" % (tail.used[cid][:38], secs, total // 2 ** 20))
        total, secs = drain(client.stream_logs(cid, since=time.time() - 86400), limit_s=args.old_seconds)
        rate = total / secs
        print("old full stream: %.0f MB/s before redaction -> %.0fs for the whole log (%.1f GB of text)" % (
            rate / 1e6, text_bytes / rate, text_bytes / 1e9))
        # no newlines at all: the cap must be kept whole
        start(flat, image, "head -c %d /dev/zero | tr '\\000' x" % (args.flat_mb << 20))
        with tempfile.TemporaryDirectory() as tmp:
            took, reader, log = capture(flat, tmp)
            print("no-newline log (%d MB): %.1fs, kept %d bytes of the %d cap (%.0f%%)" % (
                args.flat_mb, took, log["size"], MAX_BYTES, 100.0 * log["size"] / MAX_BYTES))
    finally:
        for container in (name, flat):
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


if __name__ == "__main__":
    main()
