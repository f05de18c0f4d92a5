# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restore drill: prove a pg_dump restorable by restoring it into a scratch database, never the live one.

What a dump file is (custom archive, plain SQL, gzip of plain SQL), the scratch database's name, the restore
command (pg_restore or psql, on this host or in the database container through the Docker Engine API) and the
checks run against the restored copy. The password goes through PGPASSWORD, never the command line."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import io
import os
import re
import tarfile
import time

from ansible_collections.incident.response.plugins.module_utils.pg_dump import pg_dump_env
from ansible_collections.incident.response.plugins.module_utils.stream import stream_exec_to_file, stream_to_file

CUSTOM, PLAIN, PLAIN_GZ = "custom", "plain", "plain-gzip"
MAX_IDENTIFIER = 63  # PostgreSQL's NAMEDATALEN - 1
SCRATCH_MARK = "_drill_"


class DrillError(Exception):
    pass


def dump_format(path):
    """custom (pg_dump -Fc archive, starts with PGDMP), plain-gzip (gzip magic) or plain (SQL text)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(5)
    except (IOError, OSError) as exc:
        raise DrillError("cannot read the dump %s: %s" % (path, exc))
    if not head:
        raise DrillError("the dump %s is empty" % path)
    if head == b"PGDMP":
        return CUSTOM
    if head[:2] == b"\x1f\x8b":
        return PLAIN_GZ
    return PLAIN


def scratch_name(live_db, drill_id):
    """<live db>_drill_<id>, cut to PostgreSQL's 63 characters (the id is kept whole)."""
    ident = re.sub(r"[^a-z0-9_]", "_", str(drill_id).lower())
    suffix = SCRATCH_MARK + ident
    return (re.sub(r"[^a-z0-9_]", "_", live_db.lower())[:MAX_IDENTIFIER - len(suffix)] + suffix)[:MAX_IDENTIFIER]


def refuse_target(name, live_db, protected=()):
    """Why `name` must not be restored into (None when it may): the live database, a protected one, or a name
    that does not say it is a drill's scratch database."""
    if name == live_db or name in protected:
        return ("refusing to restore into %s: it is the live database (a drill restores into a scratch database "
                "<db>%s<id>; restoring over the live database stays with a human)" % (name, SCRATCH_MARK))
    if SCRATCH_MARK not in name:
        return "refusing to restore into %s: a scratch database's name must contain %r" % (name, SCRATCH_MARK)
    if len(name) > MAX_IDENTIFIER:
        return "scratch database name %s is longer than %d characters" % (name, MAX_IDENTIFIER)
    return None


def restore_argv(fmt, params, database, path):
    """argv that restores `path` (as seen by the program) into `database` with the POSTGRES_ARGSPEC `params`.

    pg_restore --no-owner --no-privileges --exit-on-error for archives; psql with ON_ERROR_STOP for plain SQL
    (a gzip is fed to psql on stdin, path None). The first error fails the drill."""
    conn = ["--host", params["login_host"], "--port", str(params["login_port"]), "--username", params["login_user"],
            "--no-password"]
    if fmt == CUSTOM:
        return ["pg_restore"] + conn + ["--dbname", database, "--no-owner", "--no-privileges", "--exit-on-error", path]
    argv = ["psql"] + conn + ["--dbname", database, "--quiet", "--no-psqlrc", "--set", "ON_ERROR_STOP=1",
                              "--output", "/dev/null"]
    return argv + (["--file", path] if path else [])


def run_restore(argv, params, seconds, stdin_path=None, container=None, client=None):
    """Run the restore; return (exit code, stderr tail). On this host a gzip dump is decompressed into psql's
    stdin; in a container the dump was uploaded first (see upload)."""
    env = pg_dump_env(params)
    sink = io.BytesIO()
    if container:
        streamed = stream_exec_to_file(client, container, argv, sink, env=env, seconds=seconds)
    elif stdin_path:
        streamed = _gunzip_into(argv, stdin_path, env, seconds)
    else:
        streamed = stream_to_file(argv, sink, env=env, seconds=seconds)
    if streamed.timed_out:
        raise DrillError("the restore did not finish within %ss" % seconds)
    return streamed.code, streamed.stderr or sink.getvalue().decode("utf-8", "replace")[-2000:].strip()


class _Gunzipped(object):
    code = None
    stderr = ""
    timed_out = False


def _gunzip_into(argv, path, env, seconds):
    """psql < gunzip(path), bounded by `seconds`."""
    import gzip  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    result = _Gunzipped()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=dict(os.environ, **env))
    deadline = time.monotonic() + seconds if seconds else None
    try:
        with gzip.open(path, "rb") as src:
            while True:
                if deadline and time.monotonic() > deadline:
                    result.timed_out = True
                    proc.kill()
                    break
                chunk = src.read(65536)
                if not chunk:
                    break
                proc.stdin.write(chunk)
    except (OSError, EOFError) as exc:  # a corrupt gzip, or psql stopped reading (ON_ERROR_STOP)
        result.stderr = "gzip: %s; " % exc
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()) if deadline else None)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        result.timed_out = True
    result.code = proc.returncode if not result.stderr else (proc.returncode or 1)
    result.stderr += proc.stderr.read()[-2000:].decode("utf-8", "replace").strip()
    proc.stderr.close()
    return result


def tar_of(path, name):
    """A tar (in a temporary file, never in memory) holding `path` as `name`, for the Engine API's archive upload."""
    import tempfile  # pylint: disable=import-outside-toplevel
    handle = tempfile.TemporaryFile()
    with tarfile.open(fileobj=handle, mode="w") as tar:
        info = tar.gettarinfo(path, arcname=name)
        info.mode = 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        with open(path, "rb") as src:
            tar.addfile(info, src)
    handle.seek(0)
    return handle


def evaluate(name, check, value):
    """One check result: `value` against the check's min / max (the form of the inventory's SQL checks)."""
    ok = True
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        number = None
    if check.get("max") not in (None, "") and (number is None or number > float(check["max"])):
        ok = False
    if check.get("min") not in (None, "") and (number is None or number < float(check["min"])):
        ok = False
    return dict(name=name, value=value if number is None else number, ok=ok, min=check.get("min"), max=check.get("max"),
                description=check.get("description") or name)
