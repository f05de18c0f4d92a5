"""Evidence that says when it is partial (INCOMPLETE marker, .partial names, .tmp tarball), the log cap kept
whole for data without newlines, the json-file tail reader, and the fallback when the incident disk fails."""
import json
import os
import signal
import subprocess
import sys
import tarfile
import time

from ansible_collections.incident.response.plugins.module_utils import evidence, incident
from tests.ansible import COLLECTIONS, run_module


def test_cap_is_kept_whole_for_data_without_newlines(tmp_path):
    path = str(tmp_path / "flat.log")
    sink = evidence.NewestBytes(path, 100000)
    for _i in range(100):
        sink.write(b"x" * 7919)
    assert sink.close() is True
    data = open(path, "rb").read()
    note, body = data.split(b"\n", 1)
    assert note.startswith(b"[evidence_capture:") and len(data) <= 100000 and len(body) >= 100000 - 100
    assert int(note.split()[1]) == 100 * 7919 - len(body)  # dropped bytes, exactly


def test_cap_with_lines_drops_only_the_partial_first_line(tmp_path):
    path = str(tmp_path / "lines.log")
    sink = evidence.NewestBytes(path, 10000)
    for i in range(5000):
        sink.write(b"line %06d\n" % i)
    sink.close()
    body = open(path, "rb").read().split(b"\n", 1)[1]
    assert 9800 <= len(body) <= 10000 and body.endswith(b"line 004999\n")
    assert all(len(line) == 11 for line in body.splitlines())


def test_segments_are_partial_until_closed(tmp_path):
    path = str(tmp_path / "x.log")
    sink = evidence.NewestBytes(path, 4096)
    sink.write(b"a" * 10000)
    names = os.listdir(str(tmp_path))
    assert names and all(".partial.seg" in n for n in names) and "x.log" not in names
    sink.close()
    assert os.listdir(str(tmp_path)) == ["x.log"]


def test_incomplete_marker_until_finish_and_never_in_the_tarball(tmp_path):
    bundle = evidence.EvidenceBundle(str(tmp_path / "INC-2026-11-23-001"), "INC-2026-11-23-001")
    bundle.open_dir("t")
    assert os.path.exists(os.path.join(bundle.dir, "INCOMPLETE"))
    bundle.write_text("a.txt", "hello\n", "test")
    result = bundle.finish()
    assert not os.path.exists(os.path.join(bundle.dir, "INCOMPLETE"))
    with tarfile.open(result["tarball"]) as tar:
        names = tar.getnames()
    assert not [n for n in names if n.endswith("INCOMPLETE") or n.endswith(".partial")] and any(n.endswith("a.txt") for n in names)
    assert not [n for n in os.listdir(bundle.base) if n.endswith(".tmp")]


KILLED = r"""
import sys, time
from ansible_collections.incident.response.plugins.module_utils import evidence
bundle = evidence.EvidenceBundle(sys.argv[1], "INC-2026-11-23-001")
bundle.open_dir("killed")
sink = evidence.NewestBytes(bundle.path("logs/x.log"), 1 << 20)
sink.write(b"line\n" * 1000)
print(bundle.dir, flush=True)
time.sleep(60)
"""


def test_a_capture_killed_midway_is_marked_incomplete(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "INC-2026-11-23-001")], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, PYTHONPATH=COLLECTIONS))
    directory = proc.stdout.readline().strip()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert os.path.exists(os.path.join(directory, "INCOMPLETE"))
    logs = os.listdir(os.path.join(directory, "logs"))
    assert logs and all(".partial" in n for n in logs)  # nothing under a final name


def test_json_log_tail_reads_only_the_end(tmp_path):
    path = str(tmp_path / "c-json.log")
    with open(path, "w") as fh:
        for i in range(200000):
            stream = "stderr" if i % 10 == 0 else "stdout"
            fh.write(json.dumps({"log": "message %06d\n" % i, "stream": stream, "time": "2026-11-30T12:%02d:00.%09dZ" % (i // 4000, i)}) + "\n")
    size = os.path.getsize(path)
    started = time.monotonic()
    frames = list(evidence.json_log_tail(path, 50000, since=None, timestamps=False))
    assert time.monotonic() - started < 2
    text = b"".join(d for _s, d in frames)
    assert text.endswith(b"message 199999\n") and 50000 <= len(text) < size / 10
    assert {s for s, _d in frames} == {1, 2}
    since = incident.parse_iso("2026-11-30T12:49:00Z").timestamp()
    recent = b"".join(d for _s, d in evidence.json_log_tail(path, 10 ** 7, since=since, timestamps=True))
    assert recent.startswith(b"2026-11-30T12:49:00") and b"message 195999" not in recent


def test_capture_falls_back_or_skips_but_never_fails(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(str(tmp_path), str(root / "INC-2026-11-23-001"))  # the record's directory is a symlink: refused
    args = dict(incident_id="INC-2026-11-23-001", root=str(root), host_snapshot=False, diagnostics={"x": 1})
    monkeypatch.setenv(incident.FALLBACK_ENV, str(tmp_path / "fallback"))  # run_module passes the environment on
    res = run_module("evidence_capture", args)
    assert not res.get("failed") and res["changed"], res
    assert res["evidence_dir"].startswith(str(tmp_path / "fallback")) and "fallback" in res["storage_warnings"][0]
    assert res["warnings"] and not os.path.exists(os.path.join(res["evidence_dir"], "INCOMPLETE"))
    (tmp_path / "not-a-dir").write_text("")
    monkeypatch.setenv(incident.FALLBACK_ENV, str(tmp_path / "not-a-dir"))  # the fallback is unusable too
    res = run_module("evidence_capture", args)
    assert not res.get("failed") and res["capture_skipped"] is True, res
    assert "evidence NOT captured" in res["storage_warnings"][0]
