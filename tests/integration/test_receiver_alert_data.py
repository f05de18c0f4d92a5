"""Alert data arrives exactly as sent: the real receiver (subprocess), real ansible-runner and
ansible-playbook (tests/integration/playbooks/receiver_types.yml reports what the play sees). Strings
that YAML would re-type stay strings of the same value; Jinja in a label stays text; a string that
cannot run (lone surrogate) is refused with 400 before the acknowledgment. No lab service is touched."""
import json
import os

import pytest

from tests.integration.receiver_support import ReceiverProcess, am_payload, request, write_config

pytestmark = pytest.mark.lab   # collected with the integration suite (takes the lab lock; touches no container)

RETYPED = ["yes", "no", "0x10", "~", "", "007", "1_000", ".nan", "null", "true", "1e3", "2026-11-23",
           "2026-11-23T10:00:00Z", "<<", "!unsafe x", "+1", "-.inf"]
ODD = ["{{ 7 * 6 }}", "{% if true %}x{% endif %}", "{#", "\x01\x1f\x7f", "\r\n\t", "\ufeff\u2028", "\U0010ffff",
       "😀 ü", "\\", "'\"", "$(id) `id`"]


def types_alert(labels, annotations):
    return {"status": "firing", "labels": dict({"alertname": "Types", "service": "svc"}, **labels),
            "annotations": annotations, "startsAt": "2026-11-23T10:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "types0000000001", "generatorURL": "http://127.0.0.1:19090/graph"}


def test_alert_strings_reach_the_playbook_as_strings_of_the_same_value(tmp_path):
    marker = tmp_path / "markers"
    marker.mkdir()
    pwned = tmp_path / "pwned"
    routes = {"routes": [{"name": "types", "match": {"alertname": "Types"}, "playbook": "receiver_types.yml",
                          "extra_vars": {"receiver_test_marker_dir": str(marker)}}], "default": {"playbook": None}}
    rcv = ReceiverProcess(write_config(tmp_path, routes)).start()
    try:
        labels = {"v%d" % i: v for i, v in enumerate(RETYPED + ODD)}
        labels["evil"] = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % pwned
        annotations = {"summary": "no", "description": "yes", "{{ 7 * 6 }}": "key"}
        status, body = rcv.post("/alertmanager", am_payload(types_alert(labels, annotations)))
        assert status == 200 and body["queued"], body
        run = rcv.wait_runs(lambda r: r and r[0]["status"] in ("succeeded", "failed", "interrupted"), 90)[0]
        assert run["status"] == "succeeded", rcv.get("/runs/%d" % run["id"])
        with open(os.path.join(str(marker), run["incident_id"] + ".types.json")) as fh:
            seen = json.load(fh)
        sent = dict({"alertname": "Types", "service": "svc"}, **labels)
        assert seen["labels"] == sent                                    # same values, Jinja left as text
        assert set(seen["label_types"].values()) == {"str"}, seen["label_types"]
        assert seen["annotations"] == annotations and seen["annotation_types"] == ["str"]
        assert (seen["starts_at"], seen["starts_at_type"]) == ("2026-11-23T10:00:00.123Z", "str")
        assert (seen["alert_name"], seen["alert_name_type"]) == ("Types", "str")
        assert (seen["description"], seen["description_type"]) == ("no", "str")   # the summary, not `false`
        assert not pwned.exists()
    finally:
        rcv.stop()


def test_strings_that_cannot_run_are_refused_before_the_ack(tmp_path):
    routes = {"routes": [{"name": "types", "match": {"alertname": "Types"}, "playbook": "receiver_types.yml",
                          "extra_vars": {"receiver_test_marker_dir": str(tmp_path)}}], "default": {"playbook": None}}
    rcv = ReceiverProcess(write_config(tmp_path, routes, dispatch={"backend": "none"})).start()
    try:
        auth = {"Authorization": "Bearer " + rcv.token}
        for labels in ({"x": "\ud800"}, {"\udc00": "x"}, {"x": "a\x00b"}, {"__ansible_unsafe": "x"}):
            raw = json.dumps(am_payload(types_alert(labels, {}))).encode()       # \ud800 escaped: valid JSON
            status, body = request(rcv.base + "/alertmanager", "POST", raw, auth)
            assert status == 400, (labels, body)
        assert rcv.runs() == []
    finally:
        rcv.stop()
