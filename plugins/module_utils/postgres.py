# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL connection code for the postgres_* modules (psycopg2).

`POSTGRES_ARGSPEC` is the login options every module takes (documented by the
`incident.response.postgres` doc fragment); `connect()` opens a session that names itself
(application_name) and optionally is read-only and time-bounded, and fails with a message
naming where it tried to go (never the password)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import datetime
import decimal
import re
import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import psycopg2
    import psycopg2.extras
    HAS_PSYCOPG2 = True
    PSYCOPG2_IMPORT_ERROR = None
except ImportError:
    HAS_PSYCOPG2 = False
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

POSTGRES_ARGSPEC = dict(
    login_host=dict(type="str", default="127.0.0.1"),
    login_port=dict(type="int", default=5432),
    login_user=dict(type="str", default="postgres"),
    login_password=dict(type="str", no_log=True),
    login_db=dict(type="str", default="postgres"),
    connect_timeout=dict(type="int", default=5),
    ssl_mode=dict(type="str", default="prefer", choices=SSL_MODES),
)


def where(params):
    """'PostgreSQL at host:port (db d, user u)' for messages; never includes the password."""
    return "PostgreSQL at %s:%s (db %s, user %s)" % (
        params["login_host"], params["login_port"], params["login_db"], params["login_user"])


def require_psycopg2(module):
    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=PSYCOPG2_IMPORT_ERROR)


def open_connection(params, autocommit=False, readonly=False, statement_timeout_ms=None,
                    application_name="incident.response"):
    """Return (connection, None) or (None, error message). For modules that report unreachable."""
    options = None
    if statement_timeout_ms:
        options = "-c statement_timeout=%d" % int(statement_timeout_ms)
    try:
        conn = psycopg2.connect(
            host=params["login_host"], port=params["login_port"], user=params["login_user"],
            password=params.get("login_password"), dbname=params["login_db"],
            connect_timeout=params["connect_timeout"], sslmode=params["ssl_mode"],
            application_name=application_name, options=options)
        conn.set_session(readonly=readonly, autocommit=autocommit)
    except psycopg2.Error as exc:
        return None, connect_error(params, exc)
    return conn, None


# libpq's words for "the server answered, but these credentials / this database cannot be used"
# (connection-time errors carry no SQLSTATE in psycopg2, only libpq's text).
AUTH_ERRORS = ("password authentication failed", "no pg_hba.conf entry", "authentication failed",
               "does not exist", "permission denied for database", "no password supplied")


def is_auth_error(text):
    return any(words in text for words in AUTH_ERRORS)


def connect_error(params, exc):
    """'<where> refused: <why>' when the server answered (FATAL), else '<where> unreachable: <why>'."""
    text = re.sub(r'^connection to server at "[^"]*"(?: \([^)]*\))?, port \d+ failed: ', "", error_text(exc))
    return "%s %s: %s" % (where(params), "refused" if text.startswith("FATAL:") else "unreachable", text)


def connect(module, autocommit=False, readonly=False, statement_timeout_ms=None,
            application_name="incident.response"):
    """Open a psycopg2 connection from the module's login options or fail_json naming the target."""
    require_psycopg2(module)
    conn, err = open_connection(module.params, autocommit=autocommit, readonly=readonly,
                                statement_timeout_ms=statement_timeout_ms, application_name=application_name)
    if conn is None:
        module.fail_json(msg=err)
    return conn


def error_text(exc):
    """One line from a psycopg2 error: the server's message without the LINE/caret context."""
    pgerror = getattr(exc, "pgerror", None)
    if pgerror:
        first = pgerror.strip().splitlines()[0]
        return " ".join(first.split(":", 1)[-1].split()) if first.startswith(("ERROR:", "FATAL:")) else " ".join(first.split())
    lines = [" ".join(line.split()) for line in (str(exc) or exc.__class__.__name__).splitlines() if line.strip()]
    return "".join(line + ("" if i == len(lines) - 1 else " " if line.endswith(":") else "; ") for i, line in enumerate(lines))


def jsonable(value):
    """Make a value from psycopg2 JSON-serialisable (Decimal, datetime, timedelta, memoryview)."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, memoryview):
        return value.tobytes().hex()
    if isinstance(value, dict):
        return dict((k, jsonable(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def fetch_dicts(cursor, query, params=None):
    """Run a query and return its rows as JSON-able dicts keyed by column name."""
    cursor.execute(query, params)
    names = [col[0] for col in cursor.description]
    return [dict(zip(names, (jsonable(v) for v in row))) for row in cursor.fetchall()]


def truncate(text, limit=200):
    """Collapse whitespace and cut a query text for reports."""
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _skip_quoted(sql, i):
    """Index just past the literal, identifier, comment or dollar-quoted body starting at sql[i], else i."""
    ch, nxt = sql[i], sql[i + 1:i + 2]
    if ch in ("'", '"'):
        backslash = ch == "'" and i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
        j = i + 1
        while j < len(sql):
            if backslash and sql[j] == "\\":
                j += 2
                continue
            if sql[j] == ch:
                if sql[j + 1:j + 2] == ch:  # doubled quote = escaped
                    j += 2
                    continue
                return j + 1
            j += 1
        raise ValueError("unterminated %s" % ("string literal" if ch == "'" else "quoted identifier"))
    if ch == "-" and nxt == "-":
        end = sql.find("\n", i)
        return len(sql) if end < 0 else end + 1
    if ch == "/" and nxt == "*":
        end = sql.find("*/", i + 2)
        if end < 0:
            raise ValueError("unterminated /* comment")
        return end + 2
    if ch == "$":
        tag_end = sql.find("$", i + 1)
        tag = sql[i:tag_end + 1] if tag_end > 0 else ""
        if tag and (tag == "$$" or tag[1:-1].replace("_", "a").isalnum() and not tag[1].isdigit()):
            end = sql.find(tag, tag_end + 1)
            if end < 0:
                raise ValueError("unterminated dollar-quoted string %s" % tag)
            return end + len(tag)
    return i


def sql_words(sql):
    """Top-level words of one SQL text (outside literals, identifiers and comments), upper-cased,
    and whether it holds more than one statement. Raises ValueError on unterminated quoting."""
    words, word, i, statements_after = [], "", 0, False
    seen_semicolon = False
    while i < len(sql):
        j = _skip_quoted(sql, i)
        if j != i:
            if word:
                words.append(word.upper())
                word = ""
            i = j
            continue
        ch = sql[i]
        if seen_semicolon and not ch.isspace():
            statements_after = True
        if ch == ";":
            seen_semicolon = True
        if ch.isalnum() or ch == "_":
            word += ch
        elif word:
            words.append(word.upper())
            word = ""
        i += 1
    if word:
        words.append(word.upper())
    return words, statements_after
