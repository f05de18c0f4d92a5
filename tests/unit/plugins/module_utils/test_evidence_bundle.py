"""Unit tests of the evidence bundle (module_utils/evidence.py) and the host sources of evidence_sources.py."""
import hashlib
import json
import os
import stat
import tarfile

from ansible_collections.incident.response.plugins.module_utils import evidence, evidence_sources

SECRET = "postgresql://u:secret-pw@db/x"
HOST_FILES = ["host/loadavg.txt", "host/meminfo.txt", "host/uptime.txt", "host/df.txt", "host/processes.txt"]


def test_newest_bytes_keeps_tail_within_bound(tmp_path):
    path = str(tmp_path / "x.log")
    sink = evidence.NewestBytes(path, 1000)
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
    sink = evidence.NewestBytes(path, 1000)
    sink.write(b"a\nb\n")
    assert sink.close() is False
    assert open(path, "rb").read() == b"a\nb\n"


def test_line_redactor_handles_split_lines():
    red = evidence.LineRedactor(True)
    out = red.feed(b"connect postgresql://u:sec") + red.feed(b"ret-pw@db/x\nBearer abc") + red.feed(b"defgh\n")
    out += red.flush()
    assert b"secret-pw" not in out and b"abcdefgh" not in out
    assert out.count(b"\n") == 2


def test_line_redactor_disabled_passes_bytes_through():
    red = evidence.LineRedactor(False)
    assert red.feed(SECRET.encode()) + red.flush() == SECRET.encode()


def test_safe_name():
    assert evidence.safe_name("../../etc/passwd") == "etc_passwd"
    assert evidence.safe_name("audit log 2h") == "audit_log_2h"
    assert evidence.safe_name("..") == "unnamed"


def test_df_table_in_kib_with_df_percent():
    rows = [dict(mount="/", device="/dev/vda", fstype="ext4", size_bytes=4096 * 1024, used_bytes=1024 * 1024,
                 free_bytes=1024 * 1024),
            dict(mount="/full", device="/dev/vdb", fstype="xfs", size_bytes=1024, used_bytes=0, free_bytes=0)]
    lines = evidence.df_table(rows).splitlines()
    assert lines[0].split() == ["mount", "size_kb", "used_kb", "avail_kb", "use%"]
    assert lines[1].split() == ["/", "4096", "1024", "1024", "50%", "/dev/vda", "ext4"]
    assert lines[2].split() == ["/full", "1", "0", "0", "-", "/dev/vdb", "xfs"]


def test_process_table_by_pid_with_kernel_threads_named():
    procs = {20: dict(ppid=1, state="S", rss_bytes=8192, cmdline="python app.py", name="python"),
             2: dict(ppid=0, state="S", rss_bytes=0, cmdline="", name="kthreadd")}
    lines = evidence.process_table(procs).splitlines()
    assert lines[0].split() == ["pid", "ppid", "S", "rss_kb", "command"]
    assert lines[1].split() == ["2", "0", "S", "0", "[kthreadd]"]
    assert lines[2].split() == ["20", "1", "S", "8", "python", "app.py"]


def test_process_table_keeps_one_line_per_process_when_an_argument_holds_newlines():
    procs = {7: dict(ppid=1, state="S", rss_bytes=0, cmdline="bash -c LARGE='#!/bin/bash\necho\t1'", name="bash")}
    lines = evidence.process_table(procs).splitlines()
    assert len(lines) == 2 and lines[1].split()[:5] == ["7", "1", "S", "0", "bash"]
    assert lines[1].endswith("LARGE='#!/bin/bash?echo?1'")


def bundle_in(tmp_path, redact=True, check_mode=False):
    return evidence.EvidenceBundle(str(tmp_path / "INC-2026-11-23-001"), "INC-2026-11-23-001", redact, check_mode)


def test_capture_directories_never_collide(tmp_path):
    first, second = bundle_in(tmp_path), bundle_in(tmp_path)
    first.open_dir("before restart")
    second.open_dir("before restart")
    assert first.name.endswith("Z-before_restart") and second.name == first.name + "-2"
    assert stat.S_IMODE(os.stat(first.dir).st_mode) == 0o700


def test_files_are_redacted_and_entered_with_their_checksum(tmp_path):
    bundle = bundle_in(tmp_path)
    bundle.open_dir()
    bundle.write_json("diagnostics/triage.json", {"dsn": SECRET}, "diagnostics result triage")
    bundle.write_text("host/note.txt", "connect %s\n" % SECRET, "a note")
    for entry in bundle.manifest:
        path = os.path.join(bundle.dir, entry["file"])
        data = open(path, "rb").read()
        assert b"secret-pw" not in data and entry["redacted"] is True
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert bundle.manifest[0]["collector"].startswith("incident.response.evidence_capture ")


def test_unredacted_bundle_keeps_the_text(tmp_path):
    bundle = bundle_in(tmp_path, redact=False)
    bundle.open_dir()
    bundle.write_text("note.txt", SECRET, "a note")
    assert open(os.path.join(bundle.dir, "note.txt")).read() == SECRET and bundle.manifest[0]["redacted"] is False


def test_a_failing_source_is_an_error_entry_redacted(tmp_path):
    bundle = bundle_in(tmp_path)
    bundle.open_dir()

    def fails():
        raise RuntimeError("cannot reach %s" % SECRET)
    bundle.attempt("db/q.json", "somewhere", fails)
    bundle.attempt("note.txt", "a note", bundle.write_text, "note.txt", "ok\n", "a note")
    assert [e["item"] for e in bundle.errors] == ["db/q.json"]
    assert bundle.errors[0]["error"].startswith("RuntimeError: ") and "secret-pw" not in bundle.errors[0]["error"]
    assert [e["file"] for e in bundle.manifest] == ["note.txt"]


def test_check_mode_plans_and_runs_nothing(tmp_path):
    bundle = bundle_in(tmp_path, check_mode=True)
    ran = []
    bundle.attempt("note.txt", "a note", ran.append, 1)
    evidence_sources.host_snapshot(bundle)
    assert not ran and bundle.plan[0] == dict(item="note.txt", source="a note")
    assert [p["item"] for p in bundle.plan[1:]] == HOST_FILES
    assert not os.path.exists(str(tmp_path / "INC-2026-11-23-001"))


def test_finish_writes_manifest_errors_and_a_verifiable_tarball(tmp_path):
    bundle = bundle_in(tmp_path)
    bundle.open_dir("x")
    bundle.write_text("a.txt", "a\n", "source\twith a tab")
    bundle.errors.append(dict(item="db", error="unreachable"))
    bundle.unavailable.append(dict(item="tcpdump", reason="not installed"))
    result = bundle.finish()
    assert [e["file"] for e in result["manifest"]] == ["a.txt", "ERRORS.json", "UNAVAILABLE.json"]
    assert result["total_bytes"] == sum(os.path.getsize(os.path.join(bundle.dir, e["file"])) for e in result["manifest"])
    header, *rows = open(os.path.join(bundle.dir, "MANIFEST")).read().splitlines()
    assert header.split("\t") == ["file", "size", "sha256", "collected_at", "source", "collector"]
    assert rows[0].split("\t")[:3] == ["a.txt", "2", hashlib.sha256(b"a\n").hexdigest()]
    assert rows[0].split("\t")[4] == "source with a tab"
    assert json.load(open(os.path.join(bundle.dir, "ERRORS.json"))) == [dict(item="db", error="unreachable")]
    tarball = result["tarball"]
    assert tarball == os.path.join(bundle.base, "evidence-INC-2026-11-23-001-%s.tar.gz" % bundle.name)
    digest, name = open(tarball + ".sha256").read().split()
    assert digest == result["tarball_sha256"] == hashlib.sha256(open(tarball, "rb").read()).hexdigest()
    assert name == os.path.basename(tarball) and stat.S_IMODE(os.stat(tarball).st_mode) == 0o600
    with tarfile.open(tarball) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == sorted(
            "%s/%s" % (bundle.name, f) for f in ["a.txt", "ERRORS.json", "UNAVAILABLE.json", "MANIFEST"])


def test_finish_without_tarball(tmp_path):
    bundle = bundle_in(tmp_path)
    bundle.open_dir()
    result = bundle.finish(tarball=False)
    assert "tarball" not in result and result["manifest"] == [] and result["total_bytes"] == 0
    assert os.listdir(bundle.base) == [bundle.name]


def test_host_snapshot_reads_this_host(tmp_path):
    bundle = bundle_in(tmp_path, redact=False)
    bundle.open_dir()
    evidence_sources.host_snapshot(bundle)
    assert not bundle.errors
    assert [e["file"] for e in bundle.manifest] == HOST_FILES
    processes = open(os.path.join(bundle.dir, "host", "processes.txt")).read().splitlines()
    mine = [line for line in processes[1:] if int(line.split()[0]) == os.getpid()]
    assert len(mine) == 1 and "pytest" in mine[0]
    df_mounts = [line.split()[0] for line in open(os.path.join(bundle.dir, "host", "df.txt")).read().splitlines()[1:]]
    assert "/" in df_mounts and not [m for m in df_mounts if m.startswith(("/proc", "/sys"))]
