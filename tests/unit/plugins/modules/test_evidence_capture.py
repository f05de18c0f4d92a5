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
