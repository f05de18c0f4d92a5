"""Feature-flag rollback on the real lab (runbook 004): the api's flag new_scheduler (lab/apps/flags.py) turned on
by lab/faults.py feature-bad breaks its readiness; incident.response.feature_flag turns it off through the compose
project's .env and a recreate, or through the application's allow-listed command, records the old value and puts
it back; check mode changes nothing; playbooks/rollback.yml turns the flag off instead of redeploying; the decision
point offers the flag as a mitigation option."""
import contextlib
import glob
import json
import os
import subprocess

import pytest

from tests.ansible import REPO, run_module, run_playbook

ENV_FILE = os.path.join(REPO, "lab", ".env")
VARIABLE = "LAB_FEATURE_NEW_SCHEDULER"
READY = "http://127.0.0.1:18000/health/ready"
COMMANDS = {"get": ["python3", "/opt/lab/flags.py", "get", "new_scheduler"],
            "set": {"argv": ["python3", "/opt/lab/flags.py", "set", "new_scheduler"], "extra_args": True}}


def env_text():
    with open(ENV_FILE) as fh:
        return fh.read()


def ready(lab):
    status, body = lab.http(lab.url("api", "/health/ready"))
    return status == 200, body


@contextlib.contextmanager
def feature_bad(lab):
    """The fault injected; afterwards the .env exactly as before and the api recreated without the flag."""
    original = env_text()
    lab.faults("inject", "feature-bad")
    try:
        lab.wait_for(lambda: not ready(lab)[0], timeout=30, what="the api not ready with the flag on")
        yield
    finally:
        lab.faults("reset", "feature-bad")
        assert env_text() == original
        lab.wait_for(lambda: ready(lab)[0], timeout=60, what="the api ready again")


def flag(state, tmp_path, check=False, **extra):
    args = dict(project="incident-lab", service="api", flag="new_scheduler", variable=VARIABLE, state=state,
                state_dir=str(tmp_path / "state"), wait_for="http", url=READY, deadline=45)
    args.update(extra)
    return run_module("feature_flag", args, check=check, timeout=180)


def test_env_file_and_recreate_heal_the_fault_and_restore_the_old_value(healthy_lab, tmp_path):
    with feature_bad(healthy_lab):
        before_id = healthy_lab.container("api")["Id"]
        text = env_text()
        assert "%s=true\n" % VARIABLE in text

        query = flag("query", tmp_path)
        assert query["before"] == "true" and query["enabled"] and query["file_value"] == "true", query
        assert query["env_file"] == ENV_FILE and not query["changed"]

        # check mode: the change and its diff are reported, nothing is touched
        planned = flag("disabled", tmp_path, check=True)
        assert planned["changed"] and not planned.get("failed"), planned
        assert "%s=true" % VARIABLE in planned["diff"]["before"] and "%s=false" % VARIABLE in planned["diff"]["after"]
        assert env_text() == text and healthy_lab.container("api")["Id"] == before_id
        assert not os.path.exists(planned["record_path"]) and not ready(healthy_lab)[0]

        off = flag("disabled", tmp_path)
        assert not off.get("failed"), off
        assert off["changed"] and off["verified"] and off["healthy"] and off["before"] == "true" and off["after"] == "false"
        assert "--force-recreate" in off["compose_command"]
        assert "%s=false\n" % VARIABLE in env_text() and "%s=true" % VARIABLE not in env_text()
        api = healthy_lab.container("api")
        assert api["Id"] != before_id and "%s=false" % VARIABLE in api["Config"]["Env"]
        assert ready(healthy_lab)[0]
        with open(off["record_path"]) as fh:
            record = json.load(fh)
        assert record["previous"] == "true" and record["previous_file"] == "true" and record["set"] == "false"

        again = flag("disabled", tmp_path)  # idempotent: nothing to do, the first recorded value is kept
        assert not again["changed"] and not again.get("failed"), again
        assert again["record"]["previous"] == "true"

        # the old value back (unhealthy by design, so only wait for it to run)
        back = flag("restored", tmp_path, wait_for="running")
        assert not back.get("failed"), back
        assert back["changed"] and back["after"] == "true" and back["running_values"] == ["true"]
        assert env_text() == text and not os.path.exists(back["record_path"])
        assert "%s=true" % VARIABLE in healthy_lab.container("api")["Config"]["Env"]
        healthy_lab.wait_for(lambda: not ready(healthy_lab)[0], timeout=20, what="the fault back after the restore")

        nothing = flag("restored", tmp_path, wait_for="running")
        assert nothing.get("failed") and "nothing to restore" in nothing["msg"], nothing


def set_override(lab, value):
    """What a person would do: the application's own command, by hand."""
    api = lab.container("api")["Id"]
    subprocess.run(["docker", "exec", api, "python3", "/opt/lab/flags.py", "set", "new_scheduler", value],
                   check=True, capture_output=True)


def test_application_command_turns_the_flag_off_and_back(healthy_lab, tmp_path):
    api_id = healthy_lab.container("api")["Id"]
    common = dict(method="command", commands=COMMANDS, variable=None)
    try:
        set_override(healthy_lab, "true")  # the runtime override: no recreate, it acts at once
        healthy_lab.wait_for(lambda: not ready(healthy_lab)[0], timeout=20, what="the override to break the api")
        assert "saga_executions_v2" in json.dumps(ready(healthy_lab)[1])

        planned = flag("disabled", tmp_path, check=True, **common)
        assert planned["changed"] and planned["diff"]["after"] == "new_scheduler=false\n", planned
        assert planned["before"] == "true" and not ready(healthy_lab)[0]

        off = flag("disabled", tmp_path, **common)
        assert not off.get("failed"), off
        assert off["verified"] and off["healthy"] and off["argv"] == COMMANDS["set"]["argv"] + ["false"]
        assert off["record"]["previous"] == "true" and ready(healthy_lab)[0]
        assert healthy_lab.container("api")["Id"] == api_id  # no recreate: the same container

        back = flag("restored", tmp_path, wait_for="running", **common)
        assert not back.get("failed") and back["after"] == "true" and back["verified"], back
        assert not os.path.exists(back["record_path"])
        healthy_lab.wait_for(lambda: not ready(healthy_lab)[0], timeout=20, what="the override back")

        refused = flag("disabled", tmp_path, method="command", commands=dict(COMMANDS, set=COMMANDS["set"]["argv"]))
        assert refused.get("failed") and "extra_args" in refused["msg"], refused
        assert not ready(healthy_lab)[0]  # refused before anything ran
    finally:
        healthy_lab.faults("reset", "feature-bad")
        healthy_lab.wait_for(lambda: ready(healthy_lab)[0], timeout=60, what="the api ready again")


def test_rollback_scenario_turns_the_flag_off_instead_of_redeploying(healthy_lab, tmp_path):
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_STATE_DIR": str(tmp_path / "state")}
    with feature_bad(healthy_lab):
        image_before = healthy_lab.container("api")["Image"]
        res = run_playbook("playbooks/rollback.yml", env=env, timeout=300)
        assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
        assert ready(healthy_lab)[0]
        api = healthy_lab.container("api")
        assert api["Image"] == image_before, "the image was redeployed"
        assert "%s=false" % VARIABLE in api["Config"]["Env"]
        (timeline,) = glob.glob(os.path.join(env["INCIDENT_ROOT"], "INC-*", "timeline.jsonl"))
        with open(timeline) as fh:
            events = [json.loads(line) for line in fh if line.strip()]
        milestones = [e for e in events if e["type"] == "milestone"]
        mitigated = [m["message"] for m in milestones if m["event"] == "mitigated"]
        assert any("Feature-flag rollback" in m and "new_scheduler true -> false" in m for m in mitigated), mitigated
        assert not any("Rolled api back from" in m["message"] for m in milestones)
        assert "resolved" in [m["event"] for m in milestones]
        with open(os.path.join(os.path.dirname(timeline), "report.md")) as fh:
            assert "new_scheduler" in fh.read()
        # the record lets a human put the flag back once the feature is fixed
        assert glob.glob(os.path.join(env["INCIDENT_STATE_DIR"], "flags", "incident-lab", "api", "new_scheduler.json"))


DECIDE = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: incident.response.decide
      vars:
        decide_strategy: "{{ strategy }}"
        decide_feature_flags: "{{ flags }}"
    - ansible.builtin.debug:
        msg: "DECISION {{ recovery_decision | to_json }}"
"""


@pytest.mark.parametrize("flags,ok", [(["api/new_scheduler"], True), ([], False)])
def test_decision_point_offers_the_flag_as_mitigation(tmp_path, flags, ok):
    playbook = tmp_path / "decide.yml"
    playbook.write_text(DECIDE)
    res = run_playbook(str(playbook), extra_vars={"strategy": "feature_flag", "flags": flags},
                       env={"INCIDENT_ROOT": str(tmp_path / "incidents")}, timeout=120)
    if not ok:
        assert res.returncode != 0 and "feature_flag needs decide_feature_flags" in res.stdout, res.stdout[-3000:]
        return
    assert res.returncode == 0, res.stdout[-3000:]
    line = [ln for ln in res.stdout.splitlines() if "DECISION" in ln][0]
    decision = json.loads(line.split("DECISION ", 1)[1].rstrip('"').replace('\\"', '"'))
    assert decision["strategy"] == "feature_flag" and decision["feature_flags"] == flags
    assert "Feature-flag off" in decision["risk"]["label"] and "api/new_scheduler" in decision["risk"]["label"]
