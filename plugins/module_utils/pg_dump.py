# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump on this host or inside the database container (Docker Engine API exec), streamed to a file.

Used by evidence_capture and postgres_maintenance. The password goes through PGPASSWORD, never the
command line, and the other libpq settings follow the module's POSTGRES_ARGSPEC options."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

from ansible_collections.incident.response.plugins.module_utils.stream import stream_exec_to_file, stream_to_file


def pg_dump_env(params):
    """libpq environment for pg_dump from the POSTGRES_ARGSPEC options."""
    env = {"PGSSLMODE": params["ssl_mode"], "PGCONNECT_TIMEOUT": str(params["connect_timeout"])}
    if params.get("login_password"):
        env["PGPASSWORD"] = params["login_password"]
    return env


def run_pg_dump(argv, out, params, container=None, client=None, limit=None, seconds=None):
    """Run argv (pg_dump and its arguments) on this host, or in `container` through `client`
    (docker_api.DockerClient), writing its output to `out` (at most `limit` bytes, `seconds` long).

    Returns a stream.Streamed; raises RuntimeError when pg_dump failed (it was not stopped by the
    cap or the deadline and exited with another code than 0)."""
    env = pg_dump_env(params)
    if container:
        result = stream_exec_to_file(client, container, argv, out, limit, env=env, seconds=seconds)
    else:
        result = stream_to_file(argv, out, limit, env=env, seconds=seconds)
    if not (result.truncated or result.timed_out) and result.code != 0:
        raise RuntimeError("pg_dump exited %s: %s" % (result.code, result.stderr))
    return result
