"""Payload validation: Alertmanager webhook v4 and a generic JSON alert -> normalised alerts.

Hand-written so the reason in a 400 names the exact field (`alerts[2].labels.severity: expected a
string`). Alert content is never interpreted: it is checked for shape, then kept as data.

Every string that passes can reach a playbook unchanged (see dispatch.dump_extravars); the few that
could not are refused here, before the acknowledgment: lone surrogates (`"\\ud800"`: not encodable
as UTF-8), NUL, and label or annotation names starting with `__ansible` (reserved by Ansible's JSON
format). Nothing else caps a notification but the body size: no limit on the number of alerts,
labels or the length of a value, since a 4xx is never retried and would lose the alerts.
"""
import hashlib
import json
import re

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
RESERVED_PREFIX = "__ansible"     # {"__ansible_unsafe": ...}, __ansible_vault, __ansible_type
STATUSES = ("firing", "resolved")
MAX_DEPTH = 32                    # an Alertmanager body nests 4 levels deep
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
FINGERPRINT = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


class Invalid(ValueError):
    """The payload does not match the schema; str() is the reason given to the sender."""


def parse_json(raw):
    """Bytes -> document, or Invalid: not UTF-8, not JSON, nested deeper than MAX_DEPTH, or holding a
    string that is not valid Unicode (a lone surrogate escape)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Invalid("body is not UTF-8: %s" % exc) from None
    except RecursionError:
        raise Invalid("body nested deeper than %d levels" % MAX_DEPTH) from None
    except ValueError as exc:
        raise Invalid("body is not valid JSON: %s" % exc) from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        check_depth(doc)
    if SURROGATE_ESCAPE.search(raw):
        check_unicode(doc)
    return doc


def check_depth(doc):
    """Iteratively (no recursion): Invalid if containers nest deeper than MAX_DEPTH."""
    stack = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise Invalid("body nested deeper than %d levels" % MAX_DEPTH)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items if isinstance(item, (dict, list)))


def check_unicode(doc):
    """Invalid if any key or string holds a lone surrogate (JSON allows `\\ud800`; UTF-8 does not)."""
    stack = [doc]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise Invalid("body holds a string with a lone surrogate (%s): not valid Unicode"
                              % json.dumps(value)[:40]) from None


def alertmanager(doc):
    """Alertmanager webhook (version 4) -> list of normalised alerts."""
    _type(doc, dict, "body")
    version = doc.get("version")
    if version != "4":
        raise Invalid("version: expected \"4\" (Alertmanager webhook v4), got %s" % json.dumps(version)[:40])
    _enum(doc.get("status"), STATUSES, "status")
    group_key = _str(doc.get("groupKey", ""), "groupKey")
    receiver = _str(doc.get("receiver", ""), "receiver")
    for key in ("groupLabels", "commonLabels"):
        if key in doc:
            _labels(doc[key], key)
    alerts = doc.get("alerts")
    _type(alerts, list, "alerts")
    if not alerts:
        raise Invalid("alerts: empty list")
    out = []
    for i, item in enumerate(alerts):
        where = "alerts[%d]" % i
        _type(item, dict, where)
        labels = _labels(item.get("labels"), where + ".labels")
        if "alertname" not in labels:
            raise Invalid(where + ".labels.alertname: missing")
        out.append(_alert(
            status=_enum(item.get("status"), STATUSES, where + ".status"),
            labels=labels,
            annotations=_labels(item.get("annotations", {}), where + ".annotations"),
            starts_at=_time(item.get("startsAt", ""), where + ".startsAt"),
            ends_at=_time(item.get("endsAt", ""), where + ".endsAt"),
            fingerprint=item.get("fingerprint"), where=where,
            generator_url=_str(item.get("generatorURL", ""), where + ".generatorURL"),
            group_key=group_key, receiver=receiver))
    return out


def generic(doc):
    """A generic JSON alert: {alertname, status?, severity?, service?, summary?, labels?, annotations?,
    fingerprint?} -> one normalised alert (labels win over the top-level shortcuts)."""
    _type(doc, dict, "body")
    labels = dict(_labels(doc.get("labels", {}), "labels"))
    for key in ("alertname", "severity", "service"):
        if key in doc and key not in labels:
            labels[key] = _str(doc[key], key)
    if not labels.get("alertname"):
        raise Invalid("alertname: missing (top level or in labels)")
    annotations = dict(_labels(doc.get("annotations", {}), "annotations"))
    if "summary" in doc and "summary" not in annotations:
        annotations["summary"] = _str(doc["summary"], "summary")
    return [_alert(status=_enum(doc.get("status", "firing"), STATUSES, "status"), labels=labels,
                   annotations=annotations, starts_at=_time(doc.get("startsAt", ""), "startsAt"),
                   ends_at=_time(doc.get("endsAt", ""), "endsAt"), fingerprint=doc.get("fingerprint"),
                   where="body", generator_url="", group_key="", receiver="")]


def fingerprint_of(labels):
    """Stable id of a label set when the sender gave none (16 hex, like Alertmanager's)."""
    blob = json.dumps(sorted(labels.items()), separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _alert(status, labels, annotations, starts_at, ends_at, fingerprint, where, **extra):
    if fingerprint is None or fingerprint == "":
        fingerprint = fingerprint_of(labels)
    elif not isinstance(fingerprint, str) or not FINGERPRINT.fullmatch(fingerprint):
        raise Invalid(where + ".fingerprint: expected 1-128 characters of [A-Za-z0-9_.:-]")
    alert = {"status": status, "alertname": labels["alertname"], "fingerprint": fingerprint, "labels": labels,
             "annotations": annotations, "starts_at": starts_at, "ends_at": ends_at}
    alert.update(extra)
    return alert


def _type(value, kind, where):
    if not isinstance(value, kind) or isinstance(value, bool):
        names = {dict: "an object", list: "a list", str: "a string"}
        raise Invalid("%s: expected %s, got %s" % (where, names[kind], _kind(value)))
    return value


def _kind(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _str(value, where):
    _type(value, str, where)
    if "\x00" in value:
        raise Invalid("%s: contains a NUL character" % where)
    return value


def _enum(value, allowed, where):
    if value not in allowed:
        raise Invalid("%s: expected one of %s, got %s" % (where, "|".join(allowed), json.dumps(value)[:40]))
    return value


def _labels(value, where):
    """A map of names to strings (labels or annotations). Any name is kept (Prometheus 3 allows UTF-8
    label names) except an empty one, one with NUL, or one Ansible reserves."""
    _type(value, dict, where)
    for key, item in value.items():
        shown = key if LABEL_NAME.match(key) else json.dumps(key)[:60]
        if not key or "\x00" in key:
            raise Invalid("%s: name %s is empty or contains a NUL character" % (where, shown))
        if key.startswith(RESERVED_PREFIX):
            raise Invalid("%s: name %s is reserved (names starting with %s)" % (where, shown, RESERVED_PREFIX))
        _str(item, "%s.%s" % (where, shown))
    return value


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def _time(value, where):
    _str(value, where)
    if value and not RFC3339.fullmatch(value):
        raise Invalid("%s: expected an RFC 3339 timestamp, got %s" % (where, json.dumps(value)[:40]))
    return value
