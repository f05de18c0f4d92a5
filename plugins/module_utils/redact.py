# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mask secrets before anything is written to the incident record.

One set of rules for the timeline callback, evidence capture and notifications:
- values of keys that look secret (password, token, dsn, authorization, ...) are replaced;
- in strings: ``user:password@`` in URLs/DSNs, ``Bearer xxx`` / ``Basic xxx``,
  ``password=...`` in DSNs/conninfo/env lines (``PGPASSWORD=...``), ``"token": "..."``;
- any caller-supplied known secret value (e.g. a var named like a password) wherever it appears.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

MASK = "********"

SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "apikey", "api-key", "authorization",
                "cookie", "dsn", "private_key", "routing_key", "credential", "pgpassword")

_KEY_RE = re.compile("|".join(re.escape(w) for w in SECRET_WORDS), re.I)
_WORD = r"[A-Za-z0-9_.-]*(?:%s)[A-Za-z0-9_.-]*" % "|".join(re.escape(w) for w in SECRET_WORDS)

_RULES = (
    # scheme://user:password@host
    (re.compile(r"(?P<keep>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)"), r"\g<keep>" + MASK),
    # Authorization schemes
    (re.compile(r"(?P<keep>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{4,}", re.I), r"\g<keep>" + MASK),
    # command-line flags: --password xyz, --api-token=xyz is handled below
    (re.compile(r"(?P<keep>(?<!\S)--?[A-Za-z0-9_-]*(?:password|passwd|secret|token|api[-_]?key)[A-Za-z0-9_-]*[ \t]+)"
                r"(?!-)[^\s'\"]+", re.I), r"\g<keep>" + MASK),
    # key=value / key: value / "key": "value" (conninfo, env lines, query strings, JSON, YAML)
    (re.compile(r"""(?P<keep>(?P<q>["']?)\b%s(?P=q)\s*[=:]\s*)(?!(?:Bearer|Basic|Token)\s)"""
                r"""(?:"[^"]*"|'[^']*'|[^\s&;,'"}\]]+)""" % _WORD, re.I), r"\g<keep>" + MASK),
)


# cheap pre-check: a string none of the rules could match is returned as is (most of them)
_MAYBE = re.compile(r"://|bearer|basic|token|%s" % "|".join(re.escape(w) for w in SECRET_WORDS), re.I)


def is_secret_key(key):
    """True when a mapping key names a secret (``db_password``, ``X-Api-Key``, ``routing_key``...)."""
    return isinstance(key, str) and bool(_KEY_RE.search(key))


def redact_text(text, values=()):
    """Return ``text`` with secrets masked; ``values`` are known secret strings to mask verbatim."""
    if not isinstance(text, str) or not text:
        return text
    for value in values:
        if value and value in text:
            text = text.replace(value, MASK)
    if not _MAYBE.search(text):
        return text
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return text


def redact(obj, values=()):
    """Return a copy of ``obj`` (dicts, lists, strings, scalars) with secrets masked."""
    if isinstance(obj, dict):
        out = {}
        for key, val in obj.items():
            if is_secret_key(key) and val is not None and val != "" and not isinstance(val, bool):
                out[key] = MASK
            else:
                out[key] = redact(val, values)
        return out
    if isinstance(obj, (list, tuple)):
        return [redact(v, values) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj, values)
    return obj


def secret_values(mapping, min_length=4):
    """Collect the string values of secret-named keys in a (nested) mapping, to mask them anywhere.

    Unrendered templates (``{{ ... }}``) and very short values are ignored."""
    found = set()

    def walk(obj, secret):
        if isinstance(obj, dict):
            for key, val in obj.items():
                walk(val, secret or is_secret_key(key))
        elif isinstance(obj, (list, tuple)):
            for val in obj:
                walk(val, secret)
        elif secret and isinstance(obj, (str, int)) and not isinstance(obj, bool):
            text = str(obj)
            if len(text) >= min_length and "{{" not in text and "{%" not in text:
                found.add(text)

    walk(mapping, False)
    # longest first, so a secret containing another is masked whole
    return sorted(found, key=len, reverse=True)


MAX_HOSTS_SCANNED = 50  # host vars are read for this many hosts of a play (inventories can be huge)


class RunSecrets(object):
    """The secret values a run has seen (values of secret-named variables and facts), longest first in
    `ordered`, for redact(..., secrets). Shared by the callbacks that print or record task results."""

    def __init__(self):
        self.values = set()
        self.ordered = []

    def learn(self, mapping):
        new = set(secret_values(mapping)) - self.values
        if new:
            self.values.update(new)
            self.ordered = sorted(self.values, key=len, reverse=True)

    def scan_play(self, play):
        """Learn the extra vars, play vars and host vars (first MAX_HOSTS_SCANNED hosts) of an Ansible play;
        returns the play's hosts."""
        manager = play.get_variable_manager()
        self.learn(manager.extra_vars)
        self.learn(manager.get_vars(play=play))
        inventory = getattr(manager, "_inventory", None)
        hosts = inventory.get_hosts(play.hosts) if inventory is not None else []
        for host in hosts[:MAX_HOSTS_SCANNED]:
            self.learn(manager.get_vars(play=play, host=host, include_hostvars=False))
        return hosts
