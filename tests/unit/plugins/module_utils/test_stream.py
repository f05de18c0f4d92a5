"""Unit tests of module_utils/stream.py: real subprocesses, and a real DockerClient against a scripted engine."""
import io
import struct
import sys
import time

import pytest

from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient, DockerError
from ansible_collections.incident.response.plugins.module_utils.stream import CHUNK, CappedCopy, stream_exec_to_file, stream_to_file
from tests.local_servers import ScriptedHTTPServer


def frame(stream, payload):
    return (struct.pack(">BxxxI", stream, len(payload)) + payload).decode("latin-1")


def test_capped_copy_stops_before_the_limit():
    out = io.BytesIO()
    sink = CappedCopy(out, 5)
    assert sink.write(b"abc") and not sink.write(b"def") and sink.truncated
    assert out.getvalue() == b"abc" and sink.written == 3
    unlimited = CappedCopy(io.BytesIO())
    assert unlimited.write(b"x" * 100000) and not unlimited.truncated


def test_stream_to_file_whole_output_exit_code_stderr_and_env():
    out = io.BytesIO()
    res = stream_to_file(["sh", "-c", 'printf "%s" "$EXTRA"; echo oops >&2; exit 3'], out, 100, env={"EXTRA": "hello"})
    assert out.getvalue() == b"hello"
    assert (res.written, res.truncated, res.timed_out, res.code, res.stderr) == (5, False, False, 3, "oops")


def test_stream_to_file_cap_stops_the_program_and_its_children():
    out = io.BytesIO()
    started = time.monotonic()
    # "; true" keeps the shell from exec'ing yes: the cap has to stop the child too
    res = stream_to_file(["sh", "-c", "yes; true"], out, 200000)
    assert res.truncated and not res.timed_out and 200000 - CHUNK < res.written <= 200000 and res.code < 0
    assert out.getvalue() == b"y\n" * (res.written // 2) and time.monotonic() - started < 10


def test_stream_to_file_deadline_stops_a_program_that_keeps_running():
    out = io.BytesIO()
    started = time.monotonic()
    res = stream_to_file([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(30)"], out, 1000,
                         seconds=0.5)
    assert res.timed_out and not res.truncated and res.code == -15 and out.getvalue() == b"started\n"
    assert time.monotonic() - started < 5


def test_stream_to_file_a_quick_program_is_not_timed_out():
    res = stream_to_file(["true"], io.BytesIO(), 10, seconds=5)
    assert (res.timed_out, res.code) == (False, 0)


@pytest.fixture
def engine():
    srv = ScriptedHTTPServer()
    yield srv, DockerClient(srv.url.replace("http://", "tcp://"), api_version="1.41", timeout=5)
    srv.close()


def script_exec(srv, body, exit_code=0, delay=0):
    srv.script["/v1.41/containers/db/exec"] = [(201, {"Id": "e1"}, 0)]
    srv.script["/v1.41/exec/e1/start"] = [(200, body, delay)]
    srv.script["/v1.41/exec/e1/json"] = [(200, {"ExitCode": exit_code, "Running": False}, 0)]


def test_stream_exec_to_file_keeps_stdout_apart_from_stderr(engine):
    srv, client = engine
    script_exec(srv, frame(1, b"line 1\n") + frame(2, b"warning\n") + frame(1, b"line 2\n"), exit_code=0)
    out = io.BytesIO()
    res = stream_exec_to_file(client, "db", ["pg_dump", "-d", "x"], out, 100, env={"PGPASSWORD": "pw"})
    assert out.getvalue() == b"line 1\nline 2\n"
    assert (res.written, res.truncated, res.timed_out, res.code, res.stderr) == (14, False, False, 0, "warning")
    created = [r for r in srv.requests if r["path"] == "/v1.41/containers/db/exec"][0]["body"]
    assert created["Cmd"] == ["pg_dump", "-d", "x"] and created["Env"] == ["PGPASSWORD=pw"]


def test_stream_exec_to_file_cap_leaves_the_exit_code_unknown(engine):
    srv, client = engine
    script_exec(srv, frame(1, b"a" * 60) + frame(1, b"b" * 60))
    out = io.BytesIO()
    res = stream_exec_to_file(client, "db", ["pg_dump"], out, 100)
    assert res.truncated and res.code is None and out.getvalue() == b"a" * 60
    assert not [r for r in srv.requests if r["path"] == "/v1.41/exec/e1/json"]


def test_stream_exec_to_file_deadline(engine):
    srv, client = engine
    script_exec(srv, frame(1, b"late\n"), delay=3)
    res = stream_exec_to_file(client, "db", ["pg_dump"], io.BytesIO(), None, seconds=0.5)
    assert res.timed_out and res.code is None and res.written == 0


def test_stream_exec_to_file_engine_error_without_deadline_is_raised(engine):
    srv, client = engine
    srv.script["/v1.41/containers/db/exec"] = [(404, {"message": "No such container: db"}, 0)]
    with pytest.raises(DockerError, match="No such container"):
        stream_exec_to_file(client, "db", ["pg_dump"], io.BytesIO(), None)


def test_stream_to_file_lets_a_program_finish_after_its_output_ends():
    # closes stdout, then still works (as pg_dump does when it writes the archive's end): it is not terminated
    script = "import os, sys, time; sys.stdout.write('data'); sys.stdout.flush(); os.close(1); time.sleep(0.5); sys.exit(4)"
    res = stream_to_file([sys.executable, "-c", script], io.BytesIO(), 100, seconds=10)
    assert (res.written, res.timed_out, res.code) == (4, False, 4)


def test_stream_to_file_deadline_holds_after_the_output_ended():
    script = "import os, time; os.close(1); time.sleep(30)"
    started = time.monotonic()
    res = stream_to_file([sys.executable, "-c", script], io.BytesIO(), 100, seconds=0.5)
    assert (res.written, res.timed_out, res.code) == (0, True, -15) and time.monotonic() - started < 5
