# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared Redis connection code for the redis_* modules (redis-py).

`REDIS_ARGSPEC` is the connection options (documented by the `incident.response.redis` doc
fragment); `connect()` returns a client that has answered PING, or fails with a message naming
where it tried to go (never the password)."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import traceback

from ansible.module_utils.basic import missing_required_lib

try:
    import redis
    HAS_REDIS = True
    REDIS_IMPORT_ERROR = None
except ImportError:
    HAS_REDIS = False
    REDIS_IMPORT_ERROR = traceback.format_exc()

try:  # redis-py >= 4: no silent retries with backoff, so a dead server is reported at once
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    NO_RETRY = dict(retry=Retry(NoBackoff(), 0))
except ImportError:
    NO_RETRY = {}

REDIS_ARGSPEC = dict(
    host=dict(type="str", default="127.0.0.1"),
    port=dict(type="int", default=6379),
    password=dict(type="str", no_log=True),
    username=dict(type="str"),
    db=dict(type="int", default=0),
    tls=dict(type="bool", default=False),
    timeout=dict(type="float", default=5.0),
)


def where(params):
    """'Redis at host:port (db n)' for messages; never includes the password."""
    return "Redis at %s%s:%s (db %s)" % ("tls://" if params.get("tls") else "", params["host"], params["port"], params["db"])


def require_redis(module):
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)


def open_client(params, detail=False):
    """Return (client, None) once the server answered PING, or (None, error message).
    With `detail`, a third item says whether the server refused the credentials (it is up, but
    nothing can be checked with them: "unknown", not "down")."""
    client = redis.Redis(host=params["host"], port=params["port"], db=params["db"],
                         username=params.get("username"), password=params.get("password"),
                         ssl=params["tls"], socket_timeout=params["timeout"],
                         socket_connect_timeout=params["timeout"], decode_responses=True, **NO_RETRY)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        auth = is_auth_error(exc)
        err = "%s %s: %s" % (where(params), "refused the credentials" if auth else "unreachable", exc)
        return (None, err, auth) if detail else (None, err)
    return (client, None, False) if detail else (client, None)


def is_auth_error(exc):
    """WRONGPASS / NOAUTH / invalid username-password pair: the server answered, the credentials are wrong."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).upper().startswith(("NOAUTH", "WRONGPASS"))


def connect(module):
    """A redis.Redis client that answered PING, or fail_json naming the target."""
    require_redis(module)
    client, err = open_client(module.params)
    if client is None:
        module.fail_json(msg=err)
    return client


def redis_error():
    """The base exception class of redis-py (for except clauses in modules)."""
    return redis.exceptions.RedisError
