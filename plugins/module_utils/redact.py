# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Mask secrets before anything is written to the incident record (one layer for every writer).

Two sources of truth, applied in this order:
- known values: every value the run knows is secret (values of secret-named variables at every level,
  vault-encrypted values, no_log task arguments and no_log module options, registered results of no_log
  tasks), masked verbatim wherever they appear. The callbacks collect them in `RunSecrets` and share them
  with the modules of the run (`INCIDENT_REDACT_VALUES_FILE`, a 0600 file on a RAM disk when there is one);
  `redact()` / `redact_text()` without `values` use them.
- detectors for the common formats: URL userinfo, Authorization schemes, key=value / key: value / "key is"
  prose for secret-named keys (env assignments such as MYSQL_PWD=, PGPASSWORD=, REDISCLI_AUTH=, *_TOKEN=),
  command-line flags (--password x, --requirepass x, mysql -px, sshpass -p x, curl -u user:x, redis-cli -a x),
  signed-URL parameters (sig=, X-Amz-Signature=, X-Amz-Credential=, key=, token=, access_token=), Slack
  webhooks and tokens, PagerDuty integration URLs, AWS access key ids and secret keys, GitHub and GitLab
  tokens, JWTs and PEM private-key blocks (multi-line, also JSON-escaped).

Speed: a long text is searched once for every rule's trigger words (google-re2 when installed, else str.find
on the lowered bytes); only the lines that hold a trigger go through the rules they trigger, and known values
are found in one pass (scripts/bench_redact.py prints the figures). Clip only after redacting (clip()), never
the other way round: a clip can otherwise leave a piece of a secret that no rule recognises any more.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import sys

try:  # google-re2: one pass over a log for every trigger word (optional; pure Python without it)
    import re2 as _re2
except ImportError:
    _re2 = None

MASK = "********"
MASK_B = MASK.encode("ascii")
ENV_VALUES_FILE = "INCIDENT_REDACT_VALUES_FILE"
MIN_VALUE_LENGTH = 4
NO_LOG_MARKER = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

SECRET_WORDS = ("password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "api-key", "authorization",
                "cookie", "dsn", "private_key", "routing_key", "integration_key", "service_key", "access_key",
                "secret_key", "signing_key", "encryption_key", "license_key", "ssh_key", "credential", "pgpassword",
                "requirepass", "masterauth", "webhook")
# short words that name a secret only as a whole word part: REDISCLI_AUTH, MYSQL_PWD, auth, pass (not author)
SHORT_WORDS = ("auth", "pwd", "pass", "sig", "signature", "pat")

_KEY_RE = re.compile("|".join(re.escape(w) for w in SECRET_WORDS) + r"|(?:^|[_.\-\s])(?:%s)(?:$|[_.\-\s])"
                     % "|".join(SHORT_WORDS), re.I)


def is_secret_key(key):
    """True when a mapping key names a secret (``db_password``, ``X-Api-Key``, ``REDISCLI_AUTH``...)."""
    return isinstance(key, str) and bool(_KEY_RE.search(key))


# -- detectors ------------------------------------------------------------------------------------
_WORDS_RE = r"(?:pass(?:word|wd|phrase)?|secret|token|api[-_ ]?key|apikey|authorization|cookie|dsn|credentials?|" \
            r"(?:private|routing|integration|service|access|secret|signing|encryption|license|ssh)[-_ ]?key|" \
            r"requirepass|masterauth|webhook(?:[-_]?url)?)"
# values: quoted (also JSON-escaped), else up to a blank or a separator (_KV_VALUE: up to a blank)
_VALUE = r"""(?:"[^"\n]*"|'[^'\n]*'|\\"(?:[^"\\\n]|\\[^"\n])*\\"|[^\s&;,'"}\]\\]+)"""
_KV_VALUE = r"""(?:"[^"\n]*"|'[^'\n]*'|\\"(?:[^"\\\n]|\\[^"\n])*\\"|[^\s'"}\]\\]+)"""
# prose values that are not secrets: "password is incorrect", "token is not set"
_PROSE_WORDS = frozenset(("incorrect", "invalid", "wrong", "required", "missing", "expired", "empty", "not", "set",
                          "unset", "changed", "null", "none", "true", "false", "too", "being", "now", "a", "an",
                          "the", "correct", "valid", "rotated", "ok", "present", "absent", MASK))


def _keep_quotes(match, group="value"):
    """Replacement keeping the value's quotes: "x" -> "********"."""
    value = match.group(group)
    start, end = match.start(group) - match.start(0), match.end(group) - match.start(0)
    whole = match.group(0)
    if value[:2] == '\\"':
        masked = '\\"' + MASK + '\\"'
    elif value[:1] in "\"'" and value[-1:] == value[:1] and len(value) > 1:
        masked = value[0] + MASK + value[0]
    else:
        masked = MASK
    return whole[:start] + masked + whole[end:]


def _key_value(match):
    start = match.start("word")
    if match.group("word").lower() in ("auth", "pwd", "pass") and start > match.start() and match.string[start - 1].isalnum():
        return match.group(0)  # oauth=, bypass=: not a secret-named key
    if match.group("sep").strip().lower() in ("is", "was") and match.group("value").strip("\"'\\").lower() in _PROSE_WORDS:
        return match.group(0)
    value = match.group("value")
    if value == MASK or value.startswith(("Bearer", "Basic", "Token")):
        return match.group(0)
    if "=" in match.group("sep") and value[:1] not in "\"'\\":
        stop = min([i for i in (value.find("&"), value.find(";"), value.find(",")) if i > 0] or [len(value)])
        return match.group(0)[:match.start("value") - match.start(0)] + MASK + value[stop:]
    return _keep_quotes(match)


def _aws_secret(match):
    value = match.group(0)
    if re.search(r"[A-Z]", value) and re.search(r"[a-z]", value) and re.search(r"[0-9/+]", value):
        return MASK
    return value  # a git SHA (lower-case hex), a word: not a key


def _sub(pattern, flags=0):
    return re.compile(pattern, flags)


# (trigger words searched in the lowered text, pattern, replacement); a rule runs on a line only when one of
# its triggers is in that line
_RULES = (
    (("://",), _sub(r"(?P<keep>://[^:/@\s]*:)[^@\s?#]+(?=@)"), r"\g<keep>" + MASK),
    (("hooks.slack",), _sub(r"(?P<keep>hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/+-]+", re.I),
     r"\g<keep>" + MASK),
    (("xox",), _sub(r"\bxox[abposrec]-[A-Za-z0-9-]{8,}"), MASK),
    (("pagerduty",), _sub(r"(?P<keep>pagerduty\.com/(?:integration|x-ere|integrations?/v\d)/)[A-Za-z0-9_-]+", re.I),
     r"\g<keep>" + MASK),
    (("akia", "asia", "abia", "acca", "agpa", "aida", "aipa", "anpa", "anva", "aroa", "apka"),
     _sub(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b"), MASK),
    (("aws", "akia", "asia", "secret", "amz", "credential"),
     _sub(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"), _aws_secret),
    (("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     _sub(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,255}|github_pat_[A-Za-z0-9_]{20,255})"), MASK),
    (("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glsoat-", "gloas-"),
     _sub(r"\bgl(?:pat|dt|rt|ptt|cbt|soat|oas)-[A-Za-z0-9_-]{16,}"), MASK),
    (("eyj",), _sub(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    (("bearer", "basic", "token"),
     _sub(r"(?P<keep>\b(?:Bearer|Basic|Token)\s+)(?!%s)[A-Za-z0-9._~+/=-]{4,}" % re.escape(MASK), re.I), r"\g<keep>" + MASK),
    (("mysql", "mariadb"), _sub(r"(?P<keep>\b(?:mysql|mariadb)[\w-]*\b[^\n|;&]*?\s-p)(?=[^\s-])(?P<value>%s)" % _VALUE),
     _keep_quotes),
    (("sshpass",), _sub(r"(?P<keep>\bsshpass\b[^\n|;&]*?\s-p\s*)(?P<value>%s)" % _VALUE), _keep_quotes),
    (("redis-cli",), _sub(r"(?P<keep>\bredis-cli\b[^\n|;&]*?\s-a\s+)(?P<value>%s)" % _VALUE), _keep_quotes),
    (("-u", "--user", "--proxy-user"),
     _sub(r"""(?P<keep>(?<!\S)(?:-u|-U|--user|--proxy-user)(?:\s+|=)?["']?[^\s:'"]*:)(?P<value>[^\s'"@]+)"""), _keep_quotes),
    (("sig=", "signature=", "x-amz-", "x-goog-", "key=", "token=", "secret=", "password=", "code=", "auth="),
     _sub(r"(?P<keep>[?&;](?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
          r"x-goog-credential|key|api_?key|token|access_token|refresh_token|id_token|client_secret|password|code|auth)=)"
          r"(?P<value>[^&\s#'\"]+)", re.I), _keep_quotes),
    # --password x, --requirepass x, -password=x is the key=value rule below
    (("pass", "secret", "token", "key", "auth"),
     _sub(r"""(?P<keep>(?<!\S)--?(?:[\w-]*[_-])?(?:pass(?:word|wd|phrase)?|secret|token|api[-_]?key|requirepass|"""
          r"""masterauth|auth)(?:[_-][\w-]*)?[ \t]+)(?!-)(?P<value>%s)""" % _VALUE, re.I), _keep_quotes),
    # key=value, key: value, "key": "value", key is value (conninfo, env lines, JSON, YAML, prose): _key_values()
    (("pass", "secret", "token", "key", "auth", "cookie", "dsn", "credential", "pwd", "webhook"), None, None),
)
_KV_ANCHORS = ("pass", "pwd", "secret", "token", "key", "auth", "cookie", "dsn", "credential", "webhook")
_KV_FROM = re.compile(r"""[A-Za-z0-9_.-]*?(?P<word>%s|(?:auth|pwd|pass)(?![A-Za-z0-9]))[A-Za-z0-9_.-]*(?:\\?["'])?"""
                      r"""(?P<sep>\s*[=:]\s*|\s+(?:is|was)\s+)(?P<value>%s)""" % (_WORDS_RE, _KV_VALUE), re.I)
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


def _key_values(text):
    """Mask the values of secret-named keys. The secret words are found with str.find, and the pattern runs
    only from the start of the key that holds one (a regex scanning every position is 20 times slower)."""
    lowered = text.lower()
    starts = set()
    for anchor in _KV_ANCHORS:
        pos = lowered.find(anchor)
        while pos != -1:
            start = pos
            while start and lowered[start - 1] in _KEY_CHARS:
                start -= 1
            starts.add(start)
            if start > 1 and lowered[start - 1] == " " and lowered[start - 2] in _KEY_CHARS:  # "routing key is"
                before = start - 1
                while before and lowered[before - 1] in _KEY_CHARS:
                    before -= 1
                starts.add(before)
            pos = lowered.find(anchor, pos + len(anchor))
    out, last = [], 0
    for start in sorted(starts):
        if start < last:
            continue
        match = _KV_FROM.match(text, start)
        if match is None:
            continue
        out.append(text[last:start])
        out.append(_key_value(match))
        last = match.end()
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


_TRIGGERS = sorted(set(t for rule in _RULES for t in rule[0]))

# -- PEM private-key blocks (multi-line, also with JSON-escaped newlines, also under log-line prefixes) ---------
_PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----")
# on one line with escaped newlines (JSON, Python reprs): BEGIN, then \n-separated base64, then END or not
_PEM_ESCAPED = re.compile(r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY[A-Z ]*-----(?:(?:\\r)?\\n[A-Za-z0-9+/=: -]*)*")
_PEM_BODY_LINE = re.compile(r"^(?:.*\s)?(?:[A-Za-z0-9+/]{16,100}={0,2}|[A-Za-z0-9+/]{1,100}={1,2}|Proc-Type:.*|DEK-Info:.*)\s*$")
PEM_MASK = "[private key %s]" % MASK


def mask_pem(text, open_block=False):
    """Mask private-key blocks: BEGIN to END, or to the end of its base64 lines when END is missing. A line
    may carry a prefix (a log timestamp). `open_block`: the text continues a block opened earlier
    (streaming). Returns (text, still_open)."""
    if not open_block and "PRIVATE KEY" not in text:
        return text, False
    out = []
    for line in text.splitlines(True):
        body, newline = (line[:-1], "\n") if line.endswith("\n") else (line, "")
        if open_block:
            end = _PEM_END.search(body)
            if end:
                open_block = False
                body = body[end.end():]
                if not body.strip():
                    continue
            elif not body.strip() or _PEM_BODY_LINE.match(body):
                continue  # a line of the key: dropped
            else:
                open_block = False  # the block ended without END
        if "PRIVATE KEY" in body and not _PEM_BEGIN.search(body) and _PEM_END.search(body):
            # an END without its BEGIN (a capture that starts inside a block): drop the key lines before it
            while out and (_PEM_BODY_LINE.match(out[-1].rstrip("\r\n")) or not out[-1].strip()):
                out.pop()
            out.append(PEM_MASK + body[_PEM_END.search(body).end():] + newline)
            continue
        if "PRIVATE KEY" in body:
            if "\\n" in body:
                body = _PEM_ESCAPED.sub(PEM_MASK, body)
            begin = _PEM_BEGIN.search(body)
            if begin:
                end = _PEM_END.search(body, begin.end())
                if end:
                    body = body[:begin.start()] + PEM_MASK + body[end.end():]
                else:
                    body = body[:begin.start()] + PEM_MASK
                    open_block = True
        out.append(body + newline)
    return "".join(out), open_block


# -- known values -----------------------------------------------------------------------------------
class _Known(object):
    """Finds a set of known secret values in text (str or UTF-8 bytes): str.replace for a few, one regex for many
    (RE2 when google-re2 is installed, else a trie-shaped Python regex)."""

    LOOP_MAX = 24

    def __init__(self, values):
        self.values = [v for v in values if isinstance(v, str) and v]
        self.bvalues = [v.encode("utf-8", "surrogateescape") for v in self.values]
        self.regex = self.bregex = None
        if _re2 is not None and self.values:  # one pass, whatever the number of values (logs are large)
            self.bregex = _re2.compile(b"|".join(_re2.escape(v) for v in self.bvalues))
        if len(self.values) > self.LOOP_MAX:
            if _re2 is not None:
                self.regex = _re2.compile("|".join(_re2.escape(v) for v in self.values))
            else:
                self.regex = re.compile(_trie_pattern(self.values))
                self.bregex = re.compile(_trie_pattern(self.values).encode("utf-8", "surrogateescape"))

    def sub(self, text):
        if self.regex is not None:
            return self.regex.sub(MASK, text)
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def sub_bytes(self, data):
        if self.bregex is not None:
            return self.bregex.sub(MASK_B, data)
        for value in self.bvalues:
            if value in data:
                data = data.replace(value, MASK_B)
        return data


def _trie_pattern(values):
    trie = {}
    for value in values:
        node = trie
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node):
        if "" in node and len(node) == 1:
            return ""
        branches, end = [], "" in node
        for char in sorted(k for k in node if k):
            branches.append(re.escape(char) + build(node[char]))
        body = branches[0] if len(branches) == 1 else "(?:%s)" % "|".join(branches)
        return "(?:%s)?" % body if end else body  # greedy: the longest value wins
    return build(trie)


_MATCHERS = {}


def _matcher(values):
    if isinstance(values, _Known):
        return values
    key = id(values)
    hit = _MATCHERS.get(key)
    if hit is not None and hit[0] is values:
        return hit[1]
    if len(_MATCHERS) > 64:
        _MATCHERS.clear()
    known = _Known(values)
    _MATCHERS[key] = (values, known)
    return known


_RUN_VALUES = {"stamp": None, "values": (), "module": None, "module_values": (), "merged": ()}


def run_values():
    """The secret values known here, longest first: those the callbacks of this run learned
    (``INCIDENT_REDACT_VALUES_FILE``) and, inside a module, the values of its own secret-named arguments
    (login_password, token, api_key...), which the callbacks learn only from the module's result."""
    path = os.environ.get(ENV_VALUES_FILE)
    changed = False
    if path:
        try:
            stat = os.stat(path)
            stamp = (path, stat.st_mtime_ns, stat.st_size)
            if stamp != _RUN_VALUES["stamp"]:
                with open(path) as fh:
                    loaded = json.load(fh)
                _RUN_VALUES.update(stamp=stamp, values=tuple(v for v in loaded if isinstance(v, str)))
                changed = True
        except (OSError, ValueError):
            pass
    raw = _module_args()
    if raw is not _RUN_VALUES["module"]:
        values = ()
        try:
            args = json.loads(raw).get("ANSIBLE_MODULE_ARGS") if raw else None
            values = tuple(secret_values(args, vault=False)) if isinstance(args, dict) else ()
        except (ValueError, TypeError, AttributeError):
            pass
        _RUN_VALUES.update(module=raw, module_values=values)
        changed = True
    if changed:
        merged = set(_RUN_VALUES["values"]) | set(_RUN_VALUES["module_values"])
        _RUN_VALUES["merged"] = tuple(sorted(merged, key=len, reverse=True))
    return _RUN_VALUES["merged"]


def _module_args():
    """The raw arguments of the module running in this process (None on the controller)."""
    basic = sys.modules.get("ansible.module_utils.basic")
    return getattr(basic, "_ANSIBLE_ARGS", None) if basic is not None else None


# -- the API ----------------------------------------------------------------------------------------
LINE_SCAN_MIN = 4096  # longer texts: only the lines that hold a trigger go through the rules
_TRIGGERS_B = [t.encode("ascii") for t in _TRIGGERS]
# longest first: at one position the longest trigger is reported, and it stands for the triggers it contains
_TRIGGER_SCAN = (_re2.compile("(?i)(?:%s)" % "|".join(_re2.escape(t) for t in sorted(_TRIGGERS, key=len, reverse=True)))
                 if _re2 is not None else None)
_RULE_INDEX = dict((t.encode("ascii"), frozenset(i for i, rule in enumerate(_RULES) for other in rule[0] if other in t))
                   for t in _TRIGGERS)


def _rules_on(text, lowered):
    for triggers, pattern, repl in _RULES:
        for trigger in triggers:
            if trigger in lowered:
                text = pattern.sub(repl, text) if pattern is not None else _key_values(text)
                break
    return text


def _apply(text, rule_ids):
    for index in sorted(rule_ids):
        pattern, repl = _RULES[index][1], _RULES[index][2]
        text = pattern.sub(repl, text) if pattern is not None else _key_values(text)
    return text


def _trigger_lines(data):
    """[start, end, rule indexes] of the lines of `data` (bytes) that hold a trigger word, in order, each once."""
    spans = []
    if _TRIGGER_SCAN is not None:
        hits = ((match.start(), match.group().lower()) for match in _TRIGGER_SCAN.finditer(data))
    else:
        lowered, found = data.lower(), []
        for trigger in _TRIGGERS_B:
            pos = lowered.find(trigger)
            while pos != -1:
                found.append((pos, trigger))
                pos = lowered.find(trigger, pos + len(trigger))
        hits = sorted(found)
    for pos, trigger in hits:
        rules = _RULE_INDEX.get(trigger, ())
        if spans and pos < spans[-1][1]:
            spans[-1][2].update(rules)
            continue
        start = data.rfind(b"\n", 0, pos) + 1
        end = data.find(b"\n", pos)
        spans.append([start, len(data) if end == -1 else end, set(rules)])
    return spans


def _detect_bytes(data):
    spans = _trigger_lines(data)
    if not spans:
        return data
    out, last = [], 0
    for start, end, rules in spans:
        line = data[start:end].decode("utf-8", "surrogateescape")
        out.append(data[last:start])
        out.append(_apply(line, rules).encode("utf-8", "surrogateescape"))
        last = end
    out.append(data[last:])
    return b"".join(out)


def redact_bytes(data, values=None):
    """redact_text() for UTF-8 (or undecodable) bytes: undecodable bytes pass through unchanged."""
    if not data:
        return data
    known = _matcher(run_values() if values is None else values)
    if known.values:
        data = known.sub_bytes(data)
    if b"PRIVATE KEY" in data:
        text = mask_pem(data.decode("utf-8", "surrogateescape"))[0]
        data = text.encode("utf-8", "surrogateescape")
    return _detect_bytes(data)


def redact_text(text, values=None):
    """Return ``text`` with secrets masked. ``values``: known secret strings (default: the run's, run_values())."""
    if not isinstance(text, str) or not text:
        return text
    if len(text) >= LINE_SCAN_MIN:
        return redact_bytes(text.encode("utf-8", "surrogatepass"), values).decode("utf-8", "surrogatepass")
    known = _matcher(run_values() if values is None else values)
    if known.values:
        text = known.sub(text)
    if "PRIVATE KEY" in text:
        text = mask_pem(text)[0]
    return _rules_on(text, text.lower())


_FLAG_WITH_VALUE = re.compile(r"^--?(?:[\w-]*[_-])?(?:pass(?:word|wd|phrase)?|secret|token|api[-_]?key|requirepass|"
                              r"masterauth|auth)(?:[_-][\w-]*)?$|^-a$", re.I)


def redact(obj, values=None):
    """Return a copy of ``obj`` (dicts, lists, strings, scalars) with secrets masked. In a list of strings
    (an argv: docker inspect Cmd/Args) the item after a secret flag (``--requirepass``) is masked too."""
    if values is None:
        values = run_values()
    if isinstance(obj, dict):
        out = {}
        for key, val in obj.items():
            name = redact_text(key, values) if isinstance(key, str) else key
            if is_secret_key(key) and val is not None and val != "" and not isinstance(val, (bool, dict, list)):
                out[name] = MASK
            elif is_secret_key(key) and isinstance(val, (dict, list)):
                out[name] = _mask_leaves(val)
            else:
                out[name] = redact(val, values)
        return out
    if isinstance(obj, (list, tuple)):
        out, mask_next = [], False
        for item in obj:
            if mask_next and isinstance(item, str) and item:
                out.append(MASK)
                mask_next = False
                continue
            mask_next = isinstance(item, str) and bool(_FLAG_WITH_VALUE.match(item))
            out.append(redact(item, values))
        return out
    if isinstance(obj, str):
        return redact_text(obj, values)
    return obj


def _mask_leaves(obj):
    if isinstance(obj, dict):
        return dict((k, _mask_leaves(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [_mask_leaves(v) for v in obj]
    if obj is None or isinstance(obj, bool) or obj == "":
        return obj
    return MASK


def clip(text, limit, values=None):
    """Redact, then cut to `limit` characters (never inside a mask): no piece of a secret survives a clip."""
    if not isinstance(text, str):
        return text
    text = redact_text(text, values)
    if len(text) <= limit:
        return text
    start = text.rfind(MASK, max(0, limit - len(MASK) + 1), limit + len(MASK) - 1)
    if start != -1 and start < limit < start + len(MASK):
        return text[:start]
    return text[:limit]


class StreamRedactor(object):
    """Bytes in, redacted bytes out, for logs of any size: cuts only at line ends (a line longer than
    `max_line` at a blank, keeping a `overlap` tail back), holds the state of a private-key block across chunks.
    Undecodable bytes pass through unchanged (surrogateescape)."""

    def __init__(self, values=None, max_line=65536, overlap=8192):
        self.values = run_values() if values is None else values
        self.max_line, self.overlap = max_line, overlap
        self.pending = b""
        self.in_pem = False

    def feed(self, data):
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        if cut == 0 and len(data) > self.max_line:
            limit = len(data) - self.overlap
            blank = max(data.rfind(b" ", 0, limit), data.rfind(b"\t", 0, limit))
            cut = blank + 1 if blank > 0 else limit
        self.pending = data[cut:]
        return self._redact(data[:cut])

    def flush(self):
        out = self._redact(self.pending)
        self.pending = b""
        if self.in_pem:
            self.in_pem = False
            out += PEM_MASK.encode("ascii") if not out.endswith(PEM_MASK.encode("ascii")) else b""
        return out

    def _redact(self, data):
        if not data:
            return b""
        if self.in_pem or b"PRIVATE KEY" in data:
            text, self.in_pem = mask_pem(data.decode("utf-8", "surrogateescape"), self.in_pem)
            data = text.encode("utf-8", "surrogateescape")
        return redact_bytes(data, self.values)


# -- what a run knows is secret (controller side: the callbacks) -----------------------------------------
def secret_values(mapping, min_length=MIN_VALUE_LENGTH, vault=True):
    """Collect the string values of secret-named keys in a (nested) mapping, and vault-encrypted values
    anywhere in it, to mask them anywhere. Unrendered templates and very short values are ignored."""
    found = set()

    def walk(obj, secret):
        vaulted = _vaulted(obj) if vault else None
        if vaulted is not None:
            _add_value(found, vaulted, min_length)
        elif isinstance(obj, dict):
            for key, val in obj.items():
                walk(val, secret or is_secret_key(key))
        elif isinstance(obj, (list, tuple)):
            for val in obj:
                walk(val, secret)
        elif secret and isinstance(obj, (str, int)) and not isinstance(obj, bool):
            _add_value(found, obj, min_length)

    walk(mapping, False)
    # longest first, so a secret containing another is masked whole
    return sorted(found, key=len, reverse=True)


def leaf_values(obj, min_length=MIN_VALUE_LENGTH, skip_keys=()):
    """Every string (and number) leaf of `obj`, for results and arguments that are secret as a whole."""
    found = set()

    def walk(node):
        vaulted = _vaulted(node)
        if vaulted is not None:
            _add_value(found, vaulted, min_length)
        elif isinstance(node, dict):
            for key, val in node.items():
                if key not in skip_keys and not (isinstance(key, str) and key.startswith("_ansible")):
                    walk(val)
        elif isinstance(node, (list, tuple)):
            for val in node:
                walk(val)
        elif isinstance(node, (str, int)) and not isinstance(node, bool):
            _add_value(found, node, min_length)
    walk(obj)
    return found


def _add_value(found, value, min_length):
    text = str(value)
    if len(text) >= min_length and "{{" not in text and "{%" not in text and text != MASK and text != NO_LOG_MARKER:
        found.add(text)
        stripped = text.strip()
        if stripped != text and len(stripped) >= min_length:
            found.add(stripped)


# The plaintext of a vault-encrypted value, or None: installed by the callbacks on the controller
# (plugins/plugin_utils/vault_values.py), since module_utils may not import ansible.parsing. Modules
# never hold vault objects, so None here just means "no vault values to find".
VAULT_READER = None


def _vaulted(value):
    if VAULT_READER is None or value is None or isinstance(value, (bool, int, float, dict, list, tuple)):
        return None
    return VAULT_READER(value)


_TEMPLATE = re.compile(r"{{.*?}}|{%.*?%}", re.S)


def template_pieces(raw, rendered):
    """The parts of `rendered` that came from the templates in `raw` ("echo {{ pw }}" / "echo s3cr3t" -> ["s3cr3t"])."""
    if not isinstance(raw, str) or not isinstance(rendered, str) or "{" not in raw:
        return []
    literals = _TEMPLATE.split(raw)
    if len(literals) < 2:
        return []
    pattern = "(.*?)".join(re.escape(part) for part in literals)
    match = re.match(pattern + r"\Z", rendered, re.S)
    if not match:
        return [rendered]  # the literal parts did not survive (a filter in a string): the whole value
    return [piece for piece in match.groups() if piece]


RESULT_META_KEYS = ("changed", "failed", "rc", "start", "end", "delta", "cmd", "invocation", "attempts", "msg", "warnings",
                    "deprecations", "skipped", "skip_reason", "ansible_job_id", "finished", "results_file", "started",
                    "censored", "item", "ansible_loop_var", "failed_when_result", "changed_when_result", "stdout_lines",
                    "stderr_lines")


class RunSecrets(object):
    """The secret values a run has seen, longest first in `ordered`, for redact(..., secrets.ordered).

    One instance per run is shared by the callbacks (`RunSecrets.shared()`), and written for the modules of
    the run to a 0600 file named by INCIDENT_REDACT_VALUES_FILE (on /dev/shm when it exists). Every method
    is called BEFORE the callback writes or prints what the values could appear in."""

    _shared = None

    def __init__(self, export=False):
        self.values = set()
        self.ordered = []
        self._export = export
        self._path = None
        self._roles = set()
        self._tasks = set()
        self._raw = {}  # task uuid -> (raw name, raw args): callbacks get results of the templated task
        self._plays = {}
        self._pending = []
        self._manager = None

    @classmethod
    def shared(cls):
        if cls._shared is None:
            cls._shared = cls(export=True)
        return cls._shared

    # -- adding values -------------------------------------------------------------------------------
    def add(self, values):
        new = set(v for v in values if isinstance(v, str) and len(v) >= MIN_VALUE_LENGTH) - self.values
        if new:
            self.values.update(new)
            self.ordered = sorted(self.values, key=len, reverse=True)
            if self._export:
                try:
                    self._write_file()
                except (IOError, OSError):
                    pass  # the callbacks still mask them; the modules have their detectors and own arguments
        return bool(new)

    def learn(self, mapping):
        """Values of secret-named keys and vault-encrypted values in `mapping`."""
        return self.add(secret_values(mapping))

    def learn_all(self, obj, skip_keys=()):
        """Every leaf of `obj` (a no_log result, the value of a no_log option)."""
        return self.add(leaf_values(obj, skip_keys=skip_keys))

    # -- where Ansible keeps them --------------------------------------------------------------------
    def scan_play(self, play):
        """Learn the extra vars, play vars (vars, vars_files, vars_prompt) and the vars of EVERY host of the
        inventory (a play may print hostvars of any host); returns the play's hosts."""
        manager = play.get_variable_manager()
        self._manager = manager
        if id(play) in self._plays:  # both callbacks ask
            return self._plays[id(play)][1]
        _guard(self.learn, manager.extra_vars)
        _guard(lambda: self.learn(manager.get_vars(play=play, include_hostvars=False)))
        inventory = getattr(manager, "_inventory", None)
        if inventory is None:
            return []
        # every host of the inventory, not only the play's (get_hosts() honours the play's restriction)
        for host in list((getattr(inventory, "hosts", None) or {}).values()):
            _guard(lambda one=host: self.learn(manager.get_vars(host=one, include_hostvars=False)))
        for role in getattr(play, "roles", None) or []:
            _guard(self._scan_role, role)
        hosts = _guard(inventory.get_hosts, play.hosts) or []
        self._plays[id(play)] = (play, hosts)
        return hosts

    def _scan_role(self, role):
        if role is None or id(role) in self._roles:
            return
        self._roles.add(id(role))
        for getter in ("get_default_vars", "get_vars"):
            try:
                self.learn(getattr(role, getter)())
            except Exception:  # pylint: disable=broad-except
                pass
        for dep in getattr(role, "get_all_dependencies", lambda: [])() or []:
            self._scan_role(dep)

    def scan_task(self, task):
        """At task start: see _scan_task (a failure to learn never stops the caller)."""
        _guard(self._scan_task, task)

    def scan_result(self, result):
        """Before a result is written: see _scan_result (a failure to learn never stops the caller)."""
        _guard(self._scan_result, result)

    def _scan_task(self, task):
        """At task start: task and block vars, the role's defaults and vars (include_role too), vaulted and
        secret-named arguments, and the literal arguments of a no_log task."""
        self.flush_pending()
        uuid = getattr(task, "_uuid", None)
        if uuid is not None and uuid in self._tasks:
            return
        self._tasks.add(uuid)
        self._raw[uuid] = (_raw_name(task), getattr(task, "args", None) or {})
        try:
            self.learn(task.get_vars())
        except Exception:  # pylint: disable=broad-except
            self.learn(getattr(task, "vars", None) or {})
        self._scan_role(getattr(task, "_role", None))
        args = getattr(task, "args", None) or {}
        self.learn(args)
        if _no_log(task):
            self.learn_all(args)

    def _scan_result(self, result):
        """Before a result is written: the templated arguments of a no_log task (what its templates rendered),
        the values given to no_log options of the module (its argspec), secret-named or vaulted facts, the
        result of a task registered under a secret name; a no_log task's registered result is learned at the
        next event (Ansible registers it after the callbacks ran)."""
        self.flush_pending()
        task = result._task
        data = result._result
        fields = getattr(result, "task_fields", None) or getattr(result, "_task_fields", None) or {}
        rendered = fields.get("args") if isinstance(fields.get("args"), dict) else getattr(task, "args", None) or {}
        raw_name, raw = self._raw.get(getattr(task, "_uuid", None), (None, {}))
        hidden = bool(_no_log(task) or data.get("_ansible_no_log"))
        if hidden:
            self._learn_rendered(raw, rendered)
            name = fields.get("name") or getattr(task, "name", None)
            if isinstance(name, str) and isinstance(raw_name, str):
                self.add(template_pieces(raw_name, name))
            register = getattr(task, "register", None)
            if register and self._manager is not None:
                self._pending.append((result._host.get_name(), register))
        invocation = (data.get("invocation") or {}).get("module_args")
        if isinstance(invocation, dict):
            self._learn_no_log_options(invocation, rendered)
        facts = data.get("ansible_facts")
        if isinstance(facts, dict):
            self.learn(facts)
        register = getattr(task, "register", None)
        if register and is_secret_key(register) and not hidden:
            self.learn_all(data, skip_keys=RESULT_META_KEYS)
        for item in data.get("results") or [] if isinstance(data.get("results"), list) else []:
            if isinstance(item, dict) and isinstance((item.get("invocation") or {}).get("module_args"), dict):
                self._learn_no_log_options(item["invocation"]["module_args"], rendered)

    def raw_name(self, task):
        """The untemplated name of a task (its templates may render secrets: for no_log tasks), else None."""
        name = self._raw.get(getattr(task, "_uuid", None), (None, None))[0]
        return name if isinstance(name, str) and name.strip() else None

    def _learn_rendered(self, raw, rendered):
        """What the templates of a no_log task's arguments rendered (not the arguments Ansible adds itself)."""
        if isinstance(raw, dict) and isinstance(rendered, dict):
            for key, val in rendered.items():
                if key in raw:
                    self._learn_rendered(raw[key], val)
                elif is_secret_key(key):
                    self.learn_all(val)
        elif isinstance(raw, list) and isinstance(rendered, list):
            for one, two in zip(raw, rendered):
                self._learn_rendered(one, two)
        elif isinstance(raw, str) and isinstance(rendered, (str, int)) and not isinstance(rendered, bool):
            if "{{" in raw or "{%" in raw:
                self.add(template_pieces(raw, str(rendered)))

    def _learn_no_log_options(self, invocation, rendered):
        for key, val in invocation.items():
            if val == NO_LOG_MARKER and isinstance(rendered, dict) and key in rendered:
                self.learn_all(rendered[key])
            elif isinstance(val, dict) and isinstance(rendered, dict) and isinstance(rendered.get(key), dict):
                self._learn_no_log_options(val, rendered[key])

    def flush_pending(self):
        """Learn the registered results of no_log tasks, now that Ansible has registered them."""
        if not self._pending or self._manager is None:
            return
        pending, self._pending = self._pending, []
        cache = getattr(self._manager, "_nonpersistent_fact_cache", {}) or {}
        for host, register in pending:
            value = (cache.get(host) or {}).get(register)
            if value is not None:
                self.learn_all(value, skip_keys=RESULT_META_KEYS)
            else:
                self._pending.append((host, register))
        if len(self._pending) > 1000:
            self._pending = self._pending[-1000:]

    # -- sharing with the modules of the run ---------------------------------------------------------
    def _write_file(self):
        if self._path is None:
            import atexit
            import tempfile
            base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
            _remove_stale(base)
            directory = tempfile.mkdtemp(prefix="incident-redact-%d-" % os.getpid(), dir=base)
            self._path = os.path.join(directory, "values.json")
            os.environ[ENV_VALUES_FILE] = self._path
            atexit.register(self.close)
        tmp = self._path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.ordered, fh)
        os.rename(tmp, self._path)

    def close(self):
        """Remove the shared file (end of the run)."""
        if self._path is None:
            return
        for path in (self._path, self._path + ".tmp"):
            try:
                os.unlink(path)
            except OSError:
                pass
        try:
            os.rmdir(os.path.dirname(self._path))
        except OSError:
            pass
        if os.environ.get(ENV_VALUES_FILE) == self._path:
            del os.environ[ENV_VALUES_FILE]
        self._path = None


def _remove_stale(base):
    """Remove the values files of runs that were killed (SIGKILL, SIGTERM: no atexit) by this user."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if not name.startswith("incident-redact-") or len(parts) < 4 or not parts[2].isdigit():
            continue
        path = os.path.join(base, name)
        try:
            if os.stat(path).st_uid != os.getuid():
                continue
            os.kill(int(parts[2]), 0)
            continue  # its run is still going
        except ProcessLookupError:
            pass
        except OSError:
            continue
        for leftover in ("values.json", "values.json.tmp"):
            try:
                os.unlink(os.path.join(path, leftover))
            except OSError:
                pass
        try:
            os.rmdir(path)
        except OSError:
            pass


def _raw_name(task):
    """The name as written in the playbook (Ansible templates task.name before the task-start callback)."""
    source = getattr(task, "_ds", None)
    if isinstance(source, dict) and isinstance(source.get("name"), str):
        return str(source["name"])
    return getattr(task, "name", None)


def _guard(func, *args):
    """Learning is best effort: a failure (an odd variable, an Ansible internals change) must never stop a
    callback from recording; the detectors still apply."""
    try:
        return func(*args)
    except Exception:  # pylint: disable=broad-except
        return None


def _no_log(task):
    value = getattr(task, "no_log", None)
    return value is True or (isinstance(value, str) and value.lower() in ("true", "yes", "1"))
