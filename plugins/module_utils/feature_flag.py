# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Feature flags of a service: the line of a compose project's env file, the value a container runs with,
the allow-listed command that reads or sets a flag inside the service, and the record of the value a flag had
before the collection changed it (so it can be put back). Pure logic apart from the files; the module
feature_flag does the Docker and compose side."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json
import os
import re
import time

from ansible.module_utils.six import string_types

ABSENT = None  # the env file has no line for the variable


class FlagError(Exception):
    pass


def _line_re(variable):
    return re.compile(r"^\s*(?:export\s+)?%s\s*=(.*)$" % re.escape(variable))


def _unquote(raw):
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    if " #" in value:  # an inline comment after an unquoted value
        value = value.split(" #", 1)[0].rstrip()
    return value


def read_env_value(text, variable):
    """The value of `variable` in env-file `text` (the last line that sets it wins, as compose reads it), or ABSENT."""
    found = ABSENT
    pattern = _line_re(variable)
    for line in text.splitlines():
        match = pattern.match(line)
        if match:
            found = _unquote(match.group(1))
    return found


def set_env_value(text, variable, value):
    """`text` with `variable` set to `value` (ABSENT drops it): the first line that sets it is replaced in place,
    later ones are dropped, a new variable is appended. Everything else is kept byte for byte."""
    if value is not ABSENT and ("\n" in value or "\r" in value):
        raise FlagError("a flag value must be one line")
    pattern = _line_re(variable)
    out, done = [], False
    for line in text.splitlines(True):
        if pattern.match(line.rstrip("\r\n")):
            if not done and value is not ABSENT:
                out.append("%s=%s%s" % (variable, value, "\n" if line.endswith("\n") else ""))
            done = True
            continue
        out.append(line)
    if not done and value is not ABSENT:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append("%s=%s\n" % (variable, value))
    return "".join(out)


def read_file(path):
    try:
        with open(path) as fh:
            return fh.read()
    except (IOError, OSError) as exc:
        raise FlagError("cannot read the env file %s: %s" % (path, exc))


def write_file(path, text):
    """Write atomically (temporary file + rename), keeping the file's mode."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o640
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except (IOError, OSError) as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise FlagError("cannot write the env file %s: %s" % (path, exc))


def container_env_value(info, variable):
    """The value of `variable` in an inspected container's environment, or ABSENT."""
    prefix = variable + "="
    for item in (info.get("Config") or {}).get("Env") or []:
        if item.startswith(prefix):
            return item[len(prefix):]
    return ABSENT


def same(a, b):
    """Flag values compare without case (True/true); ABSENT equals only ABSENT."""
    if a is ABSENT or b is ABSENT:
        return a is b
    return str(a).strip().lower() == str(b).strip().lower()


def allowed_argv(commands, name, value=None):
    """argv of allow-listed command `name` (container_exec's allow-list form), `value` appended as one argument
    when given (the entry must allow extra arguments). Never a shell string."""
    if name not in (commands or {}):
        raise FlagError("command %r is not in the allow-list (allowed: %s)" % (name, ", ".join(sorted(commands or {})) or "none"))
    entry = commands[name]
    if not isinstance(entry, dict):
        entry = dict(argv=entry)
    argv = entry.get("argv")
    if isinstance(argv, string_types) or not isinstance(argv, list) or not argv:
        raise FlagError("allow-list entry %r must be a non-empty argv list (never a shell string)" % name)
    argv = [str(a) for a in argv]
    if value is not None:
        if not entry.get("extra_args", False):
            raise FlagError("allow-list entry %r takes no value argument (set extra_args: true on it)" % name)
        argv.append(str(value))
    return argv, entry.get("timeout")


def output_value(output):
    """The flag value a get/set command printed: its last non-empty output line."""
    lines = [ln.strip() for ln in (output or "").splitlines() if ln.strip()]
    if not lines:
        raise FlagError("the command printed no value")
    return lines[-1]


# -- the record of the value before the change ------------------------------------------------
def _safe(text):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text or "default")


def record_path(state_dir, project, service, flag):
    return os.path.join(state_dir, "flags", _safe(project), _safe(service), _safe(flag) + ".json")


def read_record(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (IOError, OSError, ValueError):
        return None


def write_record(path, record):
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as fh:
        json.dump(record, fh, indent=1, sort_keys=True)
    os.rename(tmp, path)


def utc(ts=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if ts is None else ts))


def shown(value):
    """A value for messages and diffs."""
    return "(unset)" if value is ABSENT else str(value)
