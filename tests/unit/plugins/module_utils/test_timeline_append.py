"""Timeline appends that cannot tear: checked whole-line writes, a torn tail fenced before the next append,
events moved to the fallback timeline when the record's disk fails, every lost event counted and described.

Storage faults are injected at the os.write seam of module_utils.incident (short writes, ENOSPC, EROFS), so
each case is exact and fast; tests/integration/test_storage_faults.py runs the same on real full and
read-only filesystems."""
import errno
import json
import os

import pytest

from ansible_collections.incident.response.plugins.module_utils import incident


class FaultyDisk(object):
    """Replaces incident.os.write: fails (or writes short) while `failing`; counts calls."""

    def __init__(self, monkeypatch, path):
        self.real, self.path, self.failing, self.short = os.write, path, False, None
        self.calls = 0
        monkeypatch.setattr(incident.os, "write", self.write)

    def _is_target(self, fd):
        try:
            return os.path.samefile("/proc/self/fd/%d" % fd, self.path)
        except OSError:
            return False

    def write(self, fd, data):
        self.calls += 1
        if self._is_target(fd):
            if self.short is not None:  # write `short` bytes, then the disk is full
                count, self.short = self.short, None
                self.failing = True
                return self.real(fd, bytes(data[:count]))
            if self.failing:
                raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, data)


def lines(path):
    with open(path, "rb") as fh:
        return fh.read().split(b"\n")


def test_short_write_is_completed(tmp_path, monkeypatch):
    path = str(tmp_path / "timeline.jsonl")
    writer = incident.Timeline(path, sync="none")
    real = os.write
    monkeypatch.setattr(incident.os, "write", lambda fd, data: real(fd, bytes(data[:7])))  # 7 bytes per call
    assert writer.append({"type": "task", "n": 1, "pad": "x" * 100})
    writer.close()
    assert [e["n"] for e in incident.read_events(path)] == [1] and writer.lost == 0


def test_torn_line_never_swallows_the_next_event_and_losses_are_exact(tmp_path, monkeypatch):
    path = str(tmp_path / "timeline.jsonl")
    disk = FaultyDisk(monkeypatch, path)
    writer = incident.Timeline(path, sync="none")
    assert writer.append({"type": "run_start", "n": 0})
    disk.short = 5  # half a line, then ENOSPC
    assert writer.append({"type": "task", "n": 1}) is False
    assert writer.append({"type": "milestone", "event": "mitigated", "n": 2}) is False
    disk.failing = False  # space again
    assert writer.append({"type": "task", "n": 3})
    writer.close()
    stats = {}
    events = incident.read_events(path, stats)
    assert [e["n"] for e in events] == [0, 3]  # event 3 is whole: the torn fragment was fenced first
    assert stats["torn"] == 1
    # no spill file configured: after the first failure the writer keeps trying the record itself
    losses = writer.losses()
    assert losses["lost_events"] == 2 and [d.get("n") for d in losses["lost"]] == [None, None]
    assert [d["type"] for d in losses["lost"]] == ["task", "milestone"] and losses["lost"][1]["event"] == "mitigated"
    assert losses["torn_lines_fenced"] == 1


def test_failed_events_go_to_the_fallback_and_readers_merge_them(tmp_path, monkeypatch):
    root, fallback = tmp_path / "root", tmp_path / "fallback"
    monkeypatch.setenv(incident.FALLBACK_ENV, str(fallback))
    incident_id = "INC-2026-11-23-001"
    directory = incident.incident_dir(str(root), incident_id, create=True)
    path = os.path.join(directory, incident.TIMELINE)
    spill = os.path.join(incident.fallback_dir(str(root), incident_id), incident.TIMELINE)
    problems = []
    disk = FaultyDisk(monkeypatch, path)
    writer = incident.Timeline(path, sync="event", spill=spill, on_problem=problems.append,
                               spill_prepare=lambda: incident.fallback_dir(str(root), incident_id, create=True))
    assert writer.append({"type": "run_start", "n": 0})
    disk.short = 3
    for n in range(1, 6):
        assert writer.append({"type": "task", "n": n})  # kept: in the fallback
    disk.failing = False
    assert writer.append({"type": "run_end", "n": 6})  # stays in the fallback: the two files never interleave
    writer.close()
    assert writer.lost == 0 and writer.spilled == 6 and writer.where == spill
    assert problems and spill in problems[0] and "No space left" in problems[0]
    assert [e["n"] for e in incident.read_events(spill, merge=False)] == [1, 2, 3, 4, 5, 6]
    # either file gives the whole incident
    assert sorted(e["n"] for e in incident.read_events(path)) == list(range(7))
    assert sorted(e["n"] for e in incident.read_events(spill)) == list(range(7))
    # a module of the run finds the moved record through INCIDENT_RECORD_DIR
    env = {"INCIDENT_ID": incident_id, "INCIDENT_ROOT": str(root), incident.RECORD_DIR_ENV: os.path.dirname(spill)}
    assert incident.locate(env=env)[2] == os.path.dirname(spill)
    assert incident.locate(env=dict(env, INCIDENT_ID="INC-2026-11-23-002"))[2] == str(root / "INC-2026-11-23-002")


def test_both_places_failing_counts_every_lost_event(tmp_path, monkeypatch):
    path = str(tmp_path / "timeline.jsonl")
    problems = []
    disk = FaultyDisk(monkeypatch, path)

    def read_only():
        raise OSError(errno.EROFS, "Read-only file system")

    writer = incident.Timeline(path, sync="none", spill=str(tmp_path / "ro" / "timeline.jsonl"), on_problem=problems.append,
                               spill_prepare=read_only)
    disk.failing = True
    for n in range(250):
        assert writer.append({"type": "task", "n": n, "task": "t%d" % n}) is False
    writer.close()
    assert writer.lost == 250 and len(writer.lost_events) == incident.LOST_KEPT
    assert writer.lost_events[0]["task"] == "t0"
    assert any("Read-only" in p for p in problems) and any("250" not in p and "lost so far" in p for p in problems)
    assert len(problems) < 20  # loud, not one warning per event


def test_a_torn_tail_from_an_earlier_run_is_fenced_at_open(tmp_path):
    path = str(tmp_path / "timeline.jsonl")
    with open(path, "w") as fh:
        fh.write('{"type":"run_start","n":0}\n{"type":"task","n"')  # cut short by a crash or a full disk
    writer = incident.Timeline(path, sync="none")
    assert writer.torn_at_open == 1
    writer.append({"type": "run_start", "n": 1})
    writer.close()
    assert [e["n"] for e in incident.read_events(path)] == [0, 1]
    assert lines(path)[1] == b'{"type":"task","n"' and writer.losses()["torn_lines_fenced"] == 1


def test_record_losses_and_timeline_md_say_what_was_lost():
    events = [{"type": "run_end", "run_id": "a", "lost_events": 2, "spilled_events": 3,
               "lost": [{"type": "task", "task": "x"}, {"type": "milestone", "event": "mitigated"}]},
              {"type": "run_end", "run_id": "b", "lost_events": 0, "spilled_events": 0, "lost": []}]
    losses = incident.record_losses(events, {"torn": 1})
    assert losses["lost_events"] == 2 and losses["spilled_events"] == 3 and losses["torn_lines"] == 1
    assert losses["lost"][1] == {"type": "milestone", "event": "mitigated", "run_id": "a"}
    assert "2 events lost, 3 written to the fallback directory" in incident.render_timeline_md("INC-2026-11-23-001", events)


def test_write_milestone_falls_back_when_the_record_is_read_only(tmp_path, monkeypatch):
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.setenv(incident.FALLBACK_ENV, str(tmp_path / "fb"))
    real_mkdir = os.mkdir

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(root)):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(incident.os, "mkdir", refuse)
    written = incident.write_milestone({"event": "note", "message": "x", "at": incident.iso()}, "INC-2026-11-23-004", str(root))
    assert written.startswith(str(tmp_path / "fb")) and json.loads(open(written).read())["event"] == "note"


@pytest.mark.parametrize("sync", ["event", "interval", "none"])
def test_sync_modes_still_write_whole_lines(tmp_path, sync):
    path = str(tmp_path / "timeline.jsonl")
    writer = incident.Timeline(path, sync=sync)
    for n in range(50):
        assert writer.append({"type": "task", "n": n})
    writer.close()
    assert [e["n"] for e in incident.read_events(path)] == list(range(50))
