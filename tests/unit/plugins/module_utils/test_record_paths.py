"""Paths in the incident record: ids validated strictly (one rule everywhere), symlinks never followed and
FIFOs never opened, fuzzed; every open runs under a timeout so a hang fails the test instead of blocking it."""
import os
import random
import signal
import string
from contextlib import contextmanager

import pytest

from ansible_collections.incident.response.plugins.module_utils import evidence, incident


@contextmanager
def deadline(seconds=5):
    def expired(_sig, _frame):
        raise AssertionError("hung for %ss" % seconds)
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("bad", [
    "INC-2026-13-45-001", "INC-0000-00-00-000", "INC-2026-02-30-001", "INC-2026-11-23-000", "INC-1999-12-31-001",
    " INC-2026-11-23-777 ", "INC-2026-11-23-777\n", "inc-2026-11-23-001", "INC-2026-11-23-" + "1" * 300,
    "INC-2026-11-23-1234567", "INC-2026-11-23-001/../x", "", None, 20261123,
])
def test_invalid_ids_are_refused(bad):
    with pytest.raises(incident.IncidentError, match="invalid incident id"):
        incident.validate_id(bad)


def test_valid_ids_and_fuzz():
    assert incident.validate_id("INC-2024-02-29-001") == "INC-2024-02-29-001"
    assert incident.validate_id("INC-2026-11-23-123456")
    rng = random.Random(16)
    alphabet = string.ascii_letters + string.digits + "-_./ \n\t\x00"
    for _i in range(3000):
        text = "".join(rng.choice(alphabet) for _c in range(rng.randint(0, 40)))
        if rng.random() < 0.5:
            text = "INC-%04d-%02d-%02d-%s" % (rng.randint(0, 3000), rng.randint(0, 13), rng.randint(0, 32), text[:8])
        try:
            value = incident.validate_id(text)
        except incident.IncidentError:
            continue
        assert value == text and "/" not in value and value == value.strip() and len(value) <= incident.ID_MAX


def test_one_rule_for_callback_lookup_and_modules(monkeypatch, tmp_path):
    """The id with spaces the issue saw accepted by the callback and the lookup is refused by all of them."""
    spaced = " INC-2026-11-23-777 "
    with pytest.raises(incident.IncidentError):
        incident.resolve_id(str(tmp_path), spaced, env={})
    with pytest.raises(incident.IncidentError):
        incident.locate(spaced, str(tmp_path), env={})
    assert os.listdir(str(tmp_path)) == []


def test_symlinked_record_paths_are_never_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    target = outside / "victim.txt"
    target.write_text("untouched\n")
    # the incident directory itself a symlink
    os.symlink(str(outside), str(root / "INC-2026-11-23-001"))
    with pytest.raises(incident.RecordPathError):
        incident.incident_dir(str(root), "INC-2026-11-23-001", create=True)
    with pytest.raises(incident.RecordPathError):
        incident.locate("INC-2026-11-23-001", str(root), env={})
    # timeline.jsonl a symlink to a file outside the root
    real = incident.incident_dir(str(root), "INC-2026-11-23-002", create=True)
    os.symlink(str(target), os.path.join(real, incident.TIMELINE))
    with pytest.raises(incident.RecordPathError, match="symlink"):
        incident.Timeline(os.path.join(real, incident.TIMELINE))
    assert incident.read_events(os.path.join(real, incident.TIMELINE)) == []
    # evidence/ a symlink
    os.symlink(str(outside), os.path.join(real, "evidence"))
    bundle = evidence.EvidenceBundle(real, "INC-2026-11-23-002")
    with pytest.raises(incident.RecordPathError):
        bundle.open_dir("x")
    # timeline.md / report written over a symlink replace the link, never the target
    os.symlink(str(target), os.path.join(real, "timeline.md"))
    incident.write_text_atomic(os.path.join(real, "timeline.md"), "table\n")
    assert not os.path.islink(os.path.join(real, "timeline.md"))
    assert target.read_text() == "untouched\n" and sorted(os.listdir(str(outside))) == ["victim.txt"]


def test_fifo_in_the_record_never_hangs(tmp_path):
    real = incident.incident_dir(str(tmp_path), "INC-2026-11-23-003", create=True)
    fifo = os.path.join(real, incident.TIMELINE)
    os.mkfifo(fifo)
    with deadline():
        with pytest.raises(incident.RecordPathError, match="FIFO|regular"):
            incident.Timeline(fifo)
        stats = {}
        assert incident.read_events(fifo, stats) == [] and stats["unreadable"]
        with pytest.raises(incident.RecordPathError):
            open(fifo, "w", opener=incident.nofollow_opener)
        with pytest.raises(incident.RecordPathError):
            incident.open_regular(fifo, os.O_RDONLY)


def test_fuzzed_record_trees_never_write_outside_the_root(tmp_path, monkeypatch):
    """Random mixes of symlinks, FIFOs and directories at each record path: every writer either writes
    inside the root (or the fallback) or refuses, never outside, never hangs."""
    monkeypatch.setenv(incident.FALLBACK_ENV, str(tmp_path / "fallback"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file").write_text("x")
    rng = random.Random(5)
    for case in range(60):
        root = tmp_path / ("root%d" % case)
        root.mkdir()
        incident_id = "INC-2026-11-23-%03d" % (case + 1)
        kinds = {}
        for rel in (incident_id, incident_id + "/" + incident.TIMELINE, incident_id + "/evidence"):
            parent = os.path.dirname(str(root / rel))
            if os.path.islink(parent) or not os.path.isdir(parent):
                break  # the test plants nothing through its own symlinks
            kind = rng.choice(["none", "none", "dir", "symlink-dir", "symlink-file", "fifo", "file"])
            kinds[rel] = kind
            path = str(root / rel)
            if kind == "dir" and not rel.endswith(".jsonl"):
                os.mkdir(path)
            elif kind == "symlink-dir":
                os.symlink(str(outside), path)
            elif kind == "symlink-file":
                os.symlink(str(outside / "file"), path)
            elif kind == "fifo":
                os.mkfifo(path)
            elif kind == "file" and rel.endswith(".jsonl"):
                open(path, "w").close()
        with deadline():
            try:
                incident.write_milestone({"event": "note", "message": "x", "at": incident.iso()}, incident_id, str(root))
            except incident.IncidentError:
                pass
            try:
                bundle = evidence.EvidenceBundle(incident.incident_dir(str(root), incident_id), incident_id)
                bundle.open_dir("fuzz")
                bundle.write_text("a.txt", "evidence\n", "test")
                bundle.finish(tarball=True)
            except (incident.IncidentError, OSError):
                pass
        assert sorted(os.listdir(str(outside))) == ["file"] and (outside / "file").read_text() == "x", (case, kinds)
