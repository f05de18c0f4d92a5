"""The responder's console (plugins/callback/responder.py, the stdout callback of ansible.cfg) under real
ansible-playbook and ansible-runner runs: p0-outage on the lab with the api killed reads as verdict, actions,
milestones and a closing block in under 30 lines; a remediation that does not heal reads FAILED, never ok;
check mode says what would be done; -v and ANSIBLE_STDOUT_CALLBACK give the standard output back."""
import glob
import json
import os
import re

import pytest

from tests.ansible import REPO, VENV_BIN, run_playbook
from tests.integration.test_p0_playbook import DECIDE, restore_lab
from tests.lab import http, url

PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")
SECRETS = ["hunter2-from-play-vars", "pw-in-url-123", "fact-secret-4567", "extra-var-token-999", "s3cr3t-no-log-value"]
DEFAULT_NOISE = ("TASK [", "ok: [", "skipping: [", "changed: [", "Validating arguments against arg spec", "included:")

# A remediation that cannot become healthy (the health URL does not exist): once with the outcome read
# (failed_when: false, as the remediate_service role does), once failing the task.
NOT_HEALING = """
- name: A remediation that does not heal
  hosts: lab
  gather_facts: false
  tasks:
    - name: Restart the api and wait for a page that does not exist
      incident.response.service_restart: &restart
        project: incident-lab
        service: api
        wait_for: http
        url: http://127.0.0.1:18000/no-such-page
        deadline: 3
      failed_when: false

    - name: Restart the api again and let the task fail
      incident.response.service_restart: *restart
"""


@pytest.fixture
def isolated(tmp_path):
    """A fresh guard-rail state and incident root: the report path is this test's own."""
    return {"INCIDENT_STATE_DIR": str(tmp_path / "state"), "INCIDENT_ROOT": str(tmp_path / "incidents")}


def console(playbook, env, **kwargs):
    """ansible-playbook with ansible.cfg's stdout callback (the responder); the stdout lines."""
    res = run_playbook(playbook, env=env, stdout_callback=None, **kwargs)
    return res, res.stdout.splitlines()


def line_with(lines, pattern):
    found = [line for line in lines if re.search(pattern, line)]
    assert found, "no line matches %r in:\n%s" % (pattern, "\n".join(lines))
    return found


def closing(lines):
    """The closing block: from its '-- INC-...: STATUS ---' bar to the end."""
    start = [i for i, line in enumerate(lines) if re.match(r"-- INC-\S+: ", line)]
    assert start, "no closing block in:\n" + "\n".join(lines)
    return lines[start[-1]:]


def field(block, name):
    (value,) = [line[len(name):].strip() for line in block if line.startswith(name + " ")] or [None]
    return value


@pytest.mark.lab
def test_p0_outage_console_on_a_killed_api(healthy_lab, isolated):
    healthy_lab.faults("inject", "api-kill")
    try:
        res, lines = console("playbooks/p0-outage.yml", isolated, timeout=180)
        assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
        assert http(url("api", "/health/ready"))[0] == 200
    finally:
        restore_lab()
    text = "\n".join(lines)
    assert len(lines) < 30, "%d lines:\n%s" % (len(lines), text)
    assert not [n for n in DEFAULT_NOISE if n in text], text
    # The verdict per service: api down, the others healthy.
    line_with(lines, r"^\d\d:\d\d:\d\d  triage +verdict DOWN: P0/SEV1 api-down: api ")
    line_with(lines, r"triage +api +DOWN +api down: exited")
    assert "nginx" in line_with(lines, r"triage +healthy: ")[0]
    # The actions, in order (the critical path: the restart first, then the declaration and the paperwork), with their outcome
    # and duration; milestones as they were stated. The restart healed at once: no maintenance page.
    order = [r"remediate +restart api: ok \(\d+\.\ds\) - service api .* restarted and healthy",
             r"MITIGATED api restarted", r"DETECTED Complete outage", r"DECLARED INC-",
             r"notify +send the initial notice: sent to slack",
             r"evidence +capture evidence: ok \(\d+\.\ds\)",
             r"RESOLVED Service restored: api healthy", r"notify +send the resolution notice: sent to "]
    at = [lines.index(line_with(lines, p)[0]) for p in order]
    assert at == sorted(at), text
    assert not re.search(r"contain +switch the maintenance page", text), text
    # The closing block: status, MTTx, impact, what is left to a human, the report.
    block = closing(lines)
    incident = re.match(r"-- (INC-\S+): RESOLVED ", block[0]).group(1)
    assert field(block, "Status").startswith("resolved after "), block
    assert re.match(r"MTTD n/a, MTTA n/a, MTTM \d+\.\ds, MTTR \d+\.\ds$", field(block, "MTTx")), block
    assert re.match(r"customers affected for \d+\.\ds; services: api$", field(block, "Impact")), block
    report = os.path.join(isolated["INCIDENT_ROOT"], incident, "report.md")
    assert field(block, "Report") == report and os.path.isfile(report), block
    assert field(block, "To do") == "complete the post-incident review: " + report.replace("report.md", "post-incident-review.md")
    assert re.match(r"lab +: ok=\d+ +changed=\d+ +unreachable=0 +failed=0 ", lines[-1]), lines[-1]
    summary = json.load(open(os.path.join(isolated["INCIDENT_ROOT"], incident, "summary.json")))
    assert field(block, "MTTx").endswith("MTTR %.1fs" % summary["metrics"]["mttr_s"]), (block, summary["metrics"])


@pytest.mark.lab
def test_check_mode_says_what_would_be_done(healthy_lab, isolated):
    healthy_lab.faults("inject", "api-kill")
    try:
        res, lines = console("playbooks/p0-outage.yml", isolated, check=True, timeout=180)
        assert res.returncode == 0, res.stdout[-4000:]
        assert healthy_lab.container("api")["State"]["Running"] is False, "check mode started the api"
    finally:
        restore_lab()
    text = "\n".join(lines)
    assert "[CHECK MODE: nothing is changed]" in lines[0]
    line_with(lines, r"remediate +would restart api \(check mode\) - would restart service api")
    line_with(lines, r"contain +would switch the maintenance page on \(check mode\)")
    assert not re.search(r"restart api: (ok|FAILED)", text) and "MITIGATED" not in text, text
    block = closing(lines)
    assert "(CHECK MODE: NOTHING WAS CHANGED)" in block[0] and field(block, "Report").endswith("(check mode: not written)")


@pytest.mark.lab
def test_a_remediation_that_does_not_heal_shows_as_failed(healthy_lab, isolated, tmp_path):
    playbook = tmp_path / "not_healing.yml"
    playbook.write_text(NOT_HEALING)
    try:
        res, lines = console(str(playbook), isolated, timeout=120)
    finally:
        restore_lab()
    assert res.returncode != 0, res.stdout
    restarts = line_with(lines, r"^\d\d:\d\d:\d\d .*restart api")
    assert len(restarts) == 2, restarts
    for line in restarts:  # the first one was ok as far as Ansible is concerned (failed_when: false)
        assert re.search(r"remediate +restart api: FAILED \(\d+\.\ds\) - not healthy; .* still unhealthy .*HTTP 404", line), line
        assert not re.search(r"\bok\b", line), line
    block = closing(lines)
    assert "2 failure(s); the run FAILED" in field(block, "Status"), block
    assert field(block, "To do").startswith("take over: the run failed (restart api: not healthy"), block
    assert re.match(r"lab +: ok=1 +changed=1 +unreachable=0 +failed=1 ", lines[-1]), lines[-1]


@pytest.mark.lab
def test_an_escalated_response_says_what_is_left_to_a_human(healthy_lab, isolated):
    """p1-saga-failures with a row cap below the stuck sagas: the guarded update refuses, the rescue escalates."""
    healthy_lab.faults("inject", "stuck-sagas")
    try:
        res, lines = console("playbooks/p1-saga-failures.yml", isolated, extra_vars={"remediate_data_max_rows": 2},
                             timeout=240)
    finally:
        healthy_lab.faults("reset", "stuck-sagas")
    assert res.returncode != 0, res.stdout
    line_with(lines, r"remediate +guarded PostgreSQL update: FAILED \(\d+\.\ds\) - UPDATE would touch 5 rows, more than max_rows=2")
    line_with(lines, r"milestone +ESCALATED Automated remediation stopped at \"Mark stuck sagas for retry\"")
    block = closing(lines)
    assert re.match(r"-- INC-\S+: ESCALATED TO A HUMAN -+$", block[0]), block
    todo = [line for line in block if line.startswith("To do ")]
    assert todo[0].startswith("To do      take over: Automated remediation stopped at"), block
    assert field(block, "Impact").startswith("customers affected for n/a: ongoing"), block
    assert os.path.isfile(field(block, "Report")), block


def test_the_recovery_decision_names_who_took_it(tmp_path):
    playbook = tmp_path / "decide.yml"
    playbook.write_text(DECIDE)
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_UNATTENDED": "1"}
    res, lines = console(str(playbook), env)
    assert res.returncode == 0, res.stdout[-3000:]
    line_with(lines, r"decide +DECISION mitigate \(.+\) - taken by the automation \(default: unattended run\); risk: ")
    line_with(lines, r"play +DECISION mitigate / default \(unattended\)$")  # the playbook's own debug line
    assert field(closing(lines), "To do").startswith("carry out the mitigate: ")
    res, lines = console(str(playbook), env, extra_vars={"recovery_strategy": "rollback"})
    line_with(lines, r"decide +DECISION rollback \(.+\) - taken by the operator \(recovery_strategy given\)")
    assert field(closing(lines), "To do") == "nothing", lines


def test_failures_are_never_ok_and_secrets_never_shown(tmp_path):
    res, lines = console(os.path.join(PLAYBOOKS, "timeline_statuses.yml"), {"INCIDENT_ROOT": str(tmp_path)},
                         extra_vars={"admin_token": "extra-var-token-999"})
    assert res.returncode == 0, res.stdout[-3000:]
    text = res.stdout + res.stderr
    line_with(lines, r"FAILED Ignored failure: non-zero return code \(ignored\)$")
    line_with(lines, r"FAILED Failing inside block: boom \(rescued\)$")
    assert [s for s in SECRETS if s in text] == [], text
    line_with(lines, r"play +connecting with \*+ to postgresql://app:\*+@db/x as \*+$")  # debug output, masked
    assert not [n for n in DEFAULT_NOISE if n in text], text
    assert field(closing(lines), "To do") == "look at the failure(s) above: the run carried on past them"
    assert lines[-2] == "PLAY RECAP" and re.match(r"lab +: ok=12 +changed=1 +unreachable=0 +failed=0 +skipped=1 +rescued=1 +ignored=1", lines[-1])


def test_verbose_and_the_standard_callback_print_the_default_output(tmp_path):
    playbook = os.path.join(PLAYBOOKS, "timeline_milestones.yml")
    env = {"INCIDENT_ROOT": str(tmp_path)}
    res, lines = console(playbook, env, args=["-v"])
    assert res.returncode == 0, res.stdout[-3000:]
    assert "TASK [Detected] ****" in res.stdout and "PLAY RECAP ****" in res.stdout
    assert "changed: [lab] => " in res.stdout and '"incident_event"' in res.stdout, res.stdout[-3000:]
    assert field(closing(lines), "Report").endswith("/report.md")  # the closing block follows the recap
    res = run_playbook(playbook, env=env, stdout_callback="ansible.builtin.default")
    assert res.returncode == 0 and "TASK [Detected] ****" in res.stdout
    assert not re.search(r"^-- INC-", res.stdout, re.M), res.stdout[-2000:]


def test_under_ansible_runner_the_job_output_is_the_console(tmp_path, monkeypatch):
    """ansible-runner (and AWX) make awx_display the stdout callback; it wraps the one named in
    ANSIBLE_STDOUT_CALLBACK, so the responder's lines are the job's stdout and its events' stdout."""
    import ansible_runner  # pylint: disable=import-outside-toplevel
    env = {"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "INCIDENT_ROOT": str(tmp_path / "inc"),
           "PATH": VENV_BIN + os.pathsep + os.environ["PATH"], "ANSIBLE_STDOUT_CALLBACK": "incident.response.responder",
           "ANSIBLE_NOCOLOR": "1"}
    monkeypatch.setenv("PATH", env["PATH"])  # runner looks ansible-playbook up in its own PATH
    (tmp_path / "runner").mkdir()
    run = ansible_runner.run(private_data_dir=str(tmp_path / "runner"), quiet=True, envvars=env,
                             playbook=os.path.join(PLAYBOOKS, "timeline_milestones.yml"))
    stdout = run.stdout.read()
    assert run.rc == 0, stdout[-3000:]
    lines = stdout.splitlines()
    (report,) = glob.glob(os.path.join(str(tmp_path / "inc"), "INC-*", "report.md"))
    block = closing(lines)
    assert re.match(r"-- INC-\S+: RESOLVED -+$", block[0]) and field(block, "Report") == report, stdout
    line_with(lines, r"milestone +RESOLVED Root cause fixed$")
    assert "TASK [" not in stdout and "ok: [lab]" not in stdout
    # The events AWX builds its job output from carry the same lines.
    events = list(run.events)
    assert any("RESOLVED Root cause fixed" in (e.get("stdout") or "") for e in events if e["event"] == "runner_on_ok")
    assert "Report     " + report in next(e["stdout"] for e in events if e["event"] == "playbook_on_stats")
