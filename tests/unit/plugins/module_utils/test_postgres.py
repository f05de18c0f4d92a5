"""Unit tests of the PostgreSQL helpers that need no server: SQL statement scanning, JSON-able
values, messages that never carry the password."""
import datetime
import decimal

import psycopg2
import pytest

from ansible_collections.incident.response.plugins.module_utils.postgres import (
    connect_error, error_text, is_auth_error, jsonable, open_connection, sql_words, truncate, where)

PARAMS = dict(login_host="db.example", login_port=5433, login_db="app", login_user="ops", login_password="s3cret",
              connect_timeout=1, ssl_mode="disable")


@pytest.mark.parametrize("sql, first, several", [
    ("UPDATE t SET a = 1 WHERE b = 'x;y'", "UPDATE", False),
    ("update t set a = 1;  \n", "UPDATE", False),
    ("-- why\n/* note; */ DELETE FROM t WHERE x = $$a;b$$", "DELETE", False),
    ("UPDATE t SET a = 'it''s; fine'", "UPDATE", False),
    ("UPDATE t SET a = E'x\\';y' WHERE b = 1", "UPDATE", False),
    ('UPDATE "weird;name" SET a = $1', "UPDATE", False),
    ("UPDATE t SET a = $tag$;$tag$ WHERE b = $1", "UPDATE", False),
    ("update t set a = 1; delete from t", "UPDATE", True),
    ("update t set a = 1 where e = 'x\\'; drop table t", "UPDATE", True),
    ("update t set a = 1; -- trailing comment", "UPDATE", False),
])
def test_sql_words_sees_only_top_level_words_and_statements(sql, first, several):
    words, more = sql_words(sql)
    assert (words[0], more) == (first, several)


def test_sql_words_hides_quoted_returning():
    assert "RETURNING" not in sql_words("UPDATE t SET note = 'returning' WHERE id = 1")[0]
    assert "RETURNING" in sql_words("DELETE FROM t RETURNING id")[0]


@pytest.mark.parametrize("sql", ["UPDATE t SET a = 'open", 'UPDATE "open SET a = 1', "DELETE FROM t /* open", "UPDATE t SET a = $x$open"])
def test_sql_words_rejects_unterminated_quoting(sql):
    with pytest.raises(ValueError, match="unterminated"):
        sql_words(sql)


def test_jsonable_converts_driver_types():
    value = jsonable({"n": decimal.Decimal("12"), "f": decimal.Decimal("1.5"),
                      "t": datetime.datetime(2026, 1, 2, 3, 4, 5), "d": datetime.timedelta(minutes=2), "l": (1, "a")})
    assert value == {"n": 12, "f": 1.5, "t": "2026-01-02T03:04:05", "d": 120.0, "l": [1, "a"]}


def test_truncate_collapses_whitespace_and_cuts():
    assert truncate("SELECT\n   1") == "SELECT 1"
    assert truncate("x" * 300) == "x" * 197 + "..." and truncate(None) is None


def test_where_never_names_the_password():
    assert where(PARAMS) == "PostgreSQL at db.example:5433 (db app, user ops)"


def test_unreachable_server_is_an_error_message_not_an_exception():
    conn, err = open_connection(dict(PARAMS, login_host="127.0.0.1", login_port=1))
    assert conn is None and err.startswith("PostgreSQL at 127.0.0.1:1 (db app, user ops) unreachable: ")
    assert "s3cret" not in err


def test_error_text_keeps_the_message_line_only():
    exc = psycopg2.Error()
    assert error_text(exc) == "Error"
    exc = psycopg2.OperationalError("connection failed:\n  FATAL:  too many clients\n")
    assert error_text(exc) == "connection failed: FATAL: too many clients"
    exc = psycopg2.OperationalError("Connection refused\n\tIs the server running?\n")
    assert error_text(exc) == "Connection refused; Is the server running?"


def test_connect_error_says_refused_or_unreachable():
    refused = psycopg2.OperationalError('connection to server at "127.0.0.1", port 5433 failed: FATAL:  too many clients already\n')
    assert connect_error(PARAMS, refused) == "PostgreSQL at db.example:5433 (db app, user ops) refused: FATAL: too many clients already"
    down = psycopg2.OperationalError('connection to server at "db.example" (10.0.0.5), port 5433 failed: Connection refused\n')
    assert connect_error(PARAMS, down) == "PostgreSQL at db.example:5433 (db app, user ops) unreachable: Connection refused"


@pytest.mark.parametrize("text, auth", [
    ('FATAL:  password authentication failed for user "shop"', True),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "shop", database "shopdb"', True),
    ('FATAL:  database "shopdb" does not exist', True),
    ("FATAL:  sorry, too many clients already", False),
    ("FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute", False),
    ("FATAL:  the database system is starting up", False),
])
def test_refused_credentials_are_told_from_an_overloaded_server(text, auth):
    assert is_auth_error(text) is auth
