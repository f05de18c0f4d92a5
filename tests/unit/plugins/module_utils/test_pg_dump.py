"""Unit tests of module_utils/pg_dump.py with a stand-in pg_dump program (a shell script) on this host."""
import io

import pytest

from ansible_collections.incident.response.plugins.module_utils.pg_dump import pg_dump_env, run_pg_dump

PARAMS = dict(login_host="db", login_port=5432, login_user="app", login_password="s3cret", login_db="app",
              connect_timeout=7, ssl_mode="require")


def test_env_carries_the_password_and_libpq_settings():
    assert pg_dump_env(PARAMS) == {"PGPASSWORD": "s3cret", "PGSSLMODE": "require", "PGCONNECT_TIMEOUT": "7"}
    assert "PGPASSWORD" not in pg_dump_env(dict(PARAMS, login_password=None))


def test_host_dump_sees_the_environment_not_the_password_on_its_command_line():
    out = io.BytesIO()
    script = 'printf "%s %s %s|%s" "$PGPASSWORD" "$PGSSLMODE" "$PGCONNECT_TIMEOUT" "$*"'
    res = run_pg_dump(["sh", "-c", script, "pg_dump", "--no-password"], out, PARAMS)
    assert out.getvalue() == b"s3cret require 7|--no-password" and res.code == 0


def test_a_failed_dump_raises_with_its_stderr():
    with pytest.raises(RuntimeError, match=r"^pg_dump exited 1: pg_dump: error: connection refused$"):
        run_pg_dump(["sh", "-c", "echo 'pg_dump: error: connection refused' >&2; exit 1"], io.BytesIO(), PARAMS)


def test_a_capped_dump_is_not_a_failure():
    out = io.BytesIO()
    res = run_pg_dump(["sh", "-c", "yes"], out, PARAMS, limit=100)
    assert res.truncated and res.code != 0 and len(out.getvalue()) <= 100


def test_a_dump_past_its_deadline_is_reported_not_raised():
    res = run_pg_dump(["sh", "-c", "sleep 30"], io.BytesIO(), PARAMS, seconds=0.3)
    assert res.timed_out
