import os

import pytest

from ansible_collections.incident.response.plugins.modules import evidence_capture as ec
from tests.ansible import run_module


def test_since_epoch():
    assert ec.since_epoch("2h", now=10000) == 10000 - 7200
    assert ec.since_epoch("90", now=100) == 10
    assert ec.since_epoch("1d", now=100000) == 100000 - 86400
    assert ec.since_epoch("1970-01-01T00:01:00Z") == 60
    with pytest.raises(ValueError):
        ec.since_epoch("yesterday")


def test_newest_bytes_keeps_tail_within_bound(tmp_path):
    path = str(tmp_path / "x.log")
    sink = ec.NewestBytes(path, 1000)
    for i in range(500):
        sink.write(b"line %05d\n" % i)
    assert sink.close() is True
    data = open(path, "rb").read()
    assert data.startswith(b"[evidence_capture:")
    assert len(data) <= 1000 + 100
    assert data.endswith(b"line 00499\n")
    body = data.split(b"\n", 1)[1]
    assert all(line.startswith(b"line ") and len(line) == 10 for line in body.splitlines())
    assert not [p for p in os.listdir(str(tmp_path)) if ".seg" in p]


def test_newest_bytes_small_stream_is_whole(tmp_path):
    path = str(tmp_path / "x.log")
    sink = ec.NewestBytes(path, 1000)
    sink.write(b"a\nb\n")
    assert sink.close() is False
    assert open(path, "rb").read() == b"a\nb\n"


def test_line_redactor_handles_split_lines():
    red = ec.LineRedactor(True)
    out = red.feed(b"connect postgresql://u:sec") + red.feed(b"ret-pw@db/x\nBearer abc") + red.feed(b"defgh\n")
    out += red.flush()
    assert b"secret-pw" not in out and b"abcdefgh" not in out
    assert out.count(b"\n") == 2


def test_safe_name():
    assert ec.safe_name("../../etc/passwd") == "etc_passwd"
    assert ec.safe_name("audit log 2h") == "audit_log_2h"


def test_check_mode_lists_and_writes_nothing(tmp_path):
    res = run_module("evidence_capture", dict(incident_id="INC-2026-11-23-001", root=str(tmp_path),
                                              queries={"q": "SELECT 1"}, diagnostics={"triage": {"a": 1}},
                                              host_snapshot=True), check=True)
    assert not res["changed"]
    items = [w["item"] for w in res["would_collect"]]
    assert "db/q.json" in items and "diagnostics/triage.json" in items and "host/processes.txt" in items
    assert not os.listdir(str(tmp_path))


def test_rejects_bad_incident_id(tmp_path):
    res = run_module("evidence_capture", dict(incident_id="../x", root=str(tmp_path)))
    assert res["failed"] and "invalid incident id" in res["msg"]
