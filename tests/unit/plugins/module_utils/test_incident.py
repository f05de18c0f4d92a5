import json
import multiprocessing
import os
import threading

import pytest

from ansible_collections.incident.response.plugins.module_utils import incident


def test_validate_id():
    assert incident.validate_id("INC-2026-11-23-001") == "INC-2026-11-23-001"
    assert incident.validate_id("INC-2026-11-23-1234")
    for bad in ["../etc", "INC-2026-11-23-01", "INC-2026-11-23-001/..", "inc-2026-11-23-001", "", None,
                "INC-2026-11-23-001\n"]:
        with pytest.raises(incident.IncidentError):
            incident.validate_id(bad)


def test_allocate_sequence(tmp_path):
    first = incident.allocate(str(tmp_path))
    second = incident.allocate(str(tmp_path))
    assert first.endswith("-001") and second.endswith("-002")
    assert (tmp_path / first).is_dir()


def test_allocate_threads_never_collide(tmp_path):
    ids = []
    threads = [threading.Thread(target=lambda: ids.append(incident.allocate(str(tmp_path)))) for _i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 20 and len(set(ids)) == 20


def _alloc(root, queue):
    queue.put(incident.allocate(root))


def test_allocate_processes_never_collide(tmp_path):
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_alloc, args=(str(tmp_path), queue)) for _i in range(12)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    ids = [queue.get() for _p in procs]
    assert len(set(ids)) == 12
    assert sorted(int(i.rsplit("-", 1)[1]) for i in ids) == list(range(1, 13))


def test_resolve_id_prefers_explicit_then_env(tmp_path):
    assert incident.resolve_id(str(tmp_path), "INC-2026-01-02-007", env={}) == ("INC-2026-01-02-007", False)
    assert incident.resolve_id(str(tmp_path), None, env={"INCIDENT_ID": "INC-2026-01-02-008"})[0] == "INC-2026-01-02-008"
    new_id, allocated = incident.resolve_id(str(tmp_path), None, env={})
    assert allocated and incident.ID_RE.fullmatch(new_id)
    with pytest.raises(incident.IncidentError):
        incident.resolve_id(str(tmp_path), "../../tmp", env={})


def test_timeline_appends_and_reader_skips_torn_line(tmp_path):
    path = str(tmp_path / "timeline.jsonl")
    writer = incident.Timeline(path)
    writer.append({"type": "task", "n": 1})
    writer.append({"type": "task", "n": 2})
    writer.close()
    with open(path, "a") as fh:
        fh.write('{"type": "task", "n"')  # a write cut short
    assert [e["n"] for e in incident.read_events(path)] == [1, 2]
    with open(path) as fh:
        assert json.loads(fh.readline())["n"] == 1


def test_metrics_from_milestones():
    events = [
        {"type": "milestone", "event": "detected", "at": "2026-11-23T10:05:00Z", "impact_started_at": "2026-11-23T10:00:00Z"},
        {"type": "milestone", "event": "acknowledged", "at": "2026-11-23T10:07:00Z"},
        {"type": "milestone", "event": "mitigated", "at": "2026-11-23T10:35:00Z"},
        {"type": "milestone", "event": "resolved", "at": "2026-11-23T12:05:00Z"},
        {"type": "task", "status": "changed", "start": "2026-11-23T10:30:00Z"},
    ]
    m = incident.compute_metrics(events)
    assert (m["mttd_s"], m["mtta_s"], m["mttm_s"], m["mttr_s"], m["customer_impact_s"]) == (300, 120, 1800, 7200, 2100)
    override = incident.compute_metrics(events, impact_started_at="2026-11-23T09:05:00Z")
    assert override["mttd_s"] == 3600


def test_metrics_missing_milestones_are_none():
    m = incident.compute_metrics([{"type": "milestone", "event": "declared", "at": "2026-11-23T10:00:00Z"}])
    assert m["mttd_s"] is None and m["mtta_s"] is None and m["mttr_s"] is None and m["customer_impact_s"] is None


def test_timeline_markdown_escapes_and_orders():
    events = [
        {"type": "task", "start": "2026-11-23T10:01:00.000Z", "task": "b|c", "action": "x", "status": "ok",
         "host": "h", "duration_s": 75},
        {"type": "milestone", "event": "declared", "at": "2026-11-23T10:00:00.000Z", "message": "API down"},
    ]
    md = incident.render_timeline_md("INC-2026-11-23-001", events)
    assert md.index("**DECLARED** API down") < md.index("b\\|c [x]")
    assert "1m 15s" in md


def test_fmt_duration():
    assert incident.fmt_duration(3.21) == "3.2s"
    assert incident.fmt_duration(3725) == "1h 02m 05s"
    assert os.path.basename(incident.incident_dir("/tmp/x", "INC-2026-11-23-001")) == "INC-2026-11-23-001"


def test_locate_prefers_options_then_env_then_default_root(tmp_path):
    env = {"INCIDENT_ID": "INC-2026-01-02-008", "INCIDENT_ROOT": str(tmp_path / "env-root")}
    assert incident.locate("INC-2026-01-02-007", str(tmp_path), env=env) == (
        "INC-2026-01-02-007", str(tmp_path), str(tmp_path / "INC-2026-01-02-007"))
    assert incident.locate(None, None, env=env) == (
        "INC-2026-01-02-008", str(tmp_path / "env-root"), str(tmp_path / "env-root" / "INC-2026-01-02-008"))
    assert incident.locate("INC-2026-01-02-009", None, env={})[1:] == (
        incident.DEFAULT_ROOT, os.path.abspath(os.path.join(incident.DEFAULT_ROOT, "INC-2026-01-02-009")))
    assert not os.listdir(str(tmp_path))  # nothing created


def test_locate_refuses_a_missing_or_bad_id(tmp_path):
    with pytest.raises(incident.IncidentError, match="no incident id"):
        incident.locate(None, str(tmp_path), env={"INCIDENT_ROOT": str(tmp_path)})
    with pytest.raises(incident.IncidentError, match="invalid incident id"):
        incident.locate(None, str(tmp_path), env={"INCIDENT_ID": "../../etc"})


def test_write_milestone_files_into_the_env_incident(tmp_path, monkeypatch):
    monkeypatch.setenv("INCIDENT_ID", "INC-2026-01-02-010")
    monkeypatch.setenv("INCIDENT_ROOT", str(tmp_path))
    path = incident.write_milestone({"event": "note", "message": "hello"})
    assert path == str(tmp_path / "INC-2026-01-02-010" / "timeline.jsonl")
    (event,) = incident.read_events(path)
    assert (event["incident_id"], event["event"], event["type"]) == ("INC-2026-01-02-010", "note", "milestone")
    monkeypatch.delenv("INCIDENT_ID")
    with pytest.raises(incident.IncidentError, match="no incident id"):
        incident.write_milestone({"event": "note", "message": "hello"})
