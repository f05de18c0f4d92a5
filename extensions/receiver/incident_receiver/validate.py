"""Payload validation: Alertmanager webhook v4 and a generic JSON alert -> normalised alerts.

Hand-written so the reason in a 400 names the exact field (`alerts[2].labels.severity: expected a
string`). Alert content is never interpreted: it is checked for shape and size, then kept as data.
"""
import hashlib
import json
import re

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STATUSES = ("firing", "resolved")
MAX_ALERTS = 500
MAX_LABELS = 64
MAX_VALUE = 4096
MAX_TEXT = 16384


class Invalid(ValueError):
    """The payload does not match the schema; str() is the reason given to the sender."""


def parse_json(raw):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Invalid("body is not UTF-8: %s" % exc) from None
    except ValueError as exc:
        raise Invalid("body is not valid JSON: %s" % exc) from None


def alertmanager(doc):
    """Alertmanager webhook (version 4) -> list of normalised alerts."""
    _type(doc, dict, "body")
    version = doc.get("version")
    if version != "4":
        raise Invalid("version: expected \"4\" (Alertmanager webhook v4), got %s" % json.dumps(version)[:40])
    _enum(doc.get("status"), STATUSES, "status")
    group_key = _str(doc.get("groupKey", ""), "groupKey", MAX_TEXT)
    receiver = _str(doc.get("receiver", ""), "receiver", MAX_VALUE)
    for key in ("groupLabels", "commonLabels"):
        if key in doc:
            _labels(doc[key], key)
    alerts = doc.get("alerts")
    _type(alerts, list, "alerts")
    if not alerts:
        raise Invalid("alerts: empty list")
    if len(alerts) > MAX_ALERTS:
        raise Invalid("alerts: %d alerts, at most %d per notification" % (len(alerts), MAX_ALERTS))
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
            annotations=_labels(item.get("annotations", {}), where + ".annotations", names=False),
            starts_at=_time(item.get("startsAt", ""), where + ".startsAt"),
            ends_at=_time(item.get("endsAt", ""), where + ".endsAt"),
            fingerprint=item.get("fingerprint"), where=where,
            generator_url=_str(item.get("generatorURL", ""), where + ".generatorURL", MAX_VALUE),
            group_key=group_key, receiver=receiver))
    return out


def generic(doc):
    """A generic JSON alert: {alertname, status?, severity?, service?, summary?, labels?, annotations?,
    fingerprint?} -> one normalised alert (labels win over the top-level shortcuts)."""
    _type(doc, dict, "body")
    labels = dict(_labels(doc.get("labels", {}), "labels"))
    for key in ("alertname", "severity", "service"):
        if key in doc and key not in labels:
            labels[key] = _str(doc[key], key, MAX_VALUE)
    if not labels.get("alertname"):
        raise Invalid("alertname: missing (top level or in labels)")
    _labels(labels, "labels")
    annotations = dict(_labels(doc.get("annotations", {}), "annotations", names=False))
    if "summary" in doc and "summary" not in annotations:
        annotations["summary"] = _str(doc["summary"], "summary", MAX_TEXT)
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
    elif not isinstance(fingerprint, str) or not re.match(r"^[A-Za-z0-9_.:-]{1,128}$", fingerprint):
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


def _str(value, where, limit):
    _type(value, str, where)
    if len(value) > limit:
        raise Invalid("%s: longer than %d characters" % (where, limit))
    if "\x00" in value:
        raise Invalid("%s: contains a NUL character" % where)
    return value


def _enum(value, allowed, where):
    if value not in allowed:
        raise Invalid("%s: expected one of %s, got %s" % (where, "|".join(allowed), json.dumps(value)[:40]))
    return value


def _labels(value, where, names=True):
    _type(value, dict, where)
    if len(value) > MAX_LABELS:
        raise Invalid("%s: more than %d entries" % (where, MAX_LABELS))
    for key, item in value.items():
        if names and not LABEL_NAME.match(key):
            raise Invalid("%s: label name %s does not match [A-Za-z_][A-Za-z0-9_]*" % (where, json.dumps(key)[:60]))
        _str(item, "%s.%s" % (where, key if LABEL_NAME.match(key) else "<key>"), MAX_VALUE if names else MAX_TEXT)
    return value


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def _time(value, where):
    _str(value, where, 64)
    if value and not RFC3339.match(value):
        raise Invalid("%s: expected an RFC 3339 timestamp, got %s" % (where, json.dumps(value)[:40]))
    return value
