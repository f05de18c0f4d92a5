"""env/extravars as ansible-playbook reads it (`-e @file`, ansible-core's own loader): every string of
the alert keeps its type and value and is not a template; route vars stay templates."""
import json

import pytest
from ansible.errors import AnsibleParserError
from ansible.parsing.dataloader import DataLoader
from ansible.template import is_trusted_as_template

from incident_receiver import dispatch, validate

# Each of these was re-typed by the YAML extravars (!unsafe re-resolves the plain scalar).
RETYPED = ["yes", "no", "0x10", "~", "", "007", "1_000", ".nan", "null", "true", "1e3", "2026-11-23",
           "2026-11-23T10:00:00Z", "<<", "=", "!unsafe x", "0o17", "+1", "-.inf"]
ODD = ["{{ 7 * 6 }}", "{% if true %}x{% endif %}", "{#", "\x01\x1f\x7f", "\r\n\t", "\ufeff", "\u2028", "\U0010ffff",
       "😀", "\\", "'\"", "x" * 70000]


def load(text, tmp_path):
    path = tmp_path / "extravars"
    path.write_text(text)
    return DataLoader().load_from_file(str(path), trusted_as_template=True)


def job(values):
    labels = dict({"alertname": "X"}, **{"v%d" % i: v for i, v in enumerate(values)})
    alert = {"alertname": "X", "labels": labels, "annotations": {"description": "no", "{{ 7 * 6 }}": "key"},
             "starts_at": "2026-11-23T10:00:00Z", "ends_at": ""}
    return {"extra_vars": {"alert_name": "yes", "description": "0x10", "severity": "P1", "incident_id": "INC-1",
                           "route_var": "{{ 1 + 1 }}", "route_int": 3, "route_bool": True, "incident_alert": alert}}


def test_alert_strings_keep_type_and_value_and_are_not_templates(tmp_path):
    original = job(RETYPED + ODD)["extra_vars"]
    data = load(dispatch.dump_extravars(dispatch.job_vars(job(RETYPED + ODD))), tmp_path)
    assert data == original
    alert = data["incident_alert"]
    strings = list(alert["labels"].values()) + list(alert["annotations"].values()) + [
        alert["starts_at"], data["alert_name"], data["description"]]
    assert all(isinstance(s, str) for s in strings)
    assert not any(is_trusted_as_template(s) for s in strings)
    assert is_trusted_as_template(data["route_var"]) and data["route_int"] == 3 and data["route_bool"] is True


def test_the_file_is_never_read_as_yaml(tmp_path):
    """ansible-playbook falls back to YAML when JSON fails; YAML would trust the unsafe markers' strings."""
    text = dispatch.dump_extravars(dispatch.job_vars(job(["{{ 7 * 6 }}"])))
    assert text.startswith("\t{") and text.isascii()
    broken = text.replace('"__ansible_unsafe": "{{ 7 * 6 }}"', '"__ansible_unsafe": {"__ansible_unsafe": "x"}')
    with pytest.raises(AnsibleParserError) as err:
        load(broken, tmp_path)
    assert "YAML parsing failed" in str(err.value)


@pytest.mark.parametrize("extra", [
    {"incident_alert": {"labels": {"__ansible_vault": "x"}}},
    {"incident_alert": {"labels": {"x": "\ud800"}}},
    {"route_float": float("nan")},
])
def test_what_ansible_could_not_load_as_given_is_an_error(extra):
    with pytest.raises(ValueError):
        dispatch.dump_extravars(dispatch.job_vars({"extra_vars": extra}))


def test_every_payload_validate_accepts_can_be_dumped(tmp_path):
    raw = json.dumps({"alertname": "X", "labels": {"s.name": "\ud83d\ude00", "z": "\\ud800"},
                      "annotations": {"a": "\u0085"}}).encode()
    [alert] = validate.generic(validate.parse_json(raw))
    data = load(dispatch.dump_extravars(dispatch.job_vars({"extra_vars": {"incident_alert": alert}})), tmp_path)
    assert data["incident_alert"] == alert
