"""The product path on the real lab: playbooks/p0-outage.yml heals a killed API end to end
(maintenance page, restart, verify, notices, timeline, report); check mode and a healthy lab
change nothing; the recovery decision point asks at a terminal and defaults when unattended;
respond.yml routes alerts and runbook-style reports to the right scenario."""
import json
import os
import pty
import select
import signal
import subprocess
import time

import pytest

from tests.ansible import REPO, VENV_BIN, run_playbook
from tests.lab import http, url, wait_for

ADMIN = {"Authorization": "Bearer " + "lab-only-admin-token"}


def sink_requests(prefix):
    status, body = http(url("sink", "/_sink/requests?path=" + prefix))
    assert status == 200, body
    return body


def notices():
    """What the collection sent to the notification channels (not Alertmanager's own webhooks)."""
    return [r for prefix in ("/slack", "/pagerduty", "/statuspage", "/webhook") for r in sink_requests(prefix)]


def incident_of(res):
    """The incident id the timeline callback printed at the start of the run."""
    for line in res.stdout.splitlines():
        if line.startswith("Incident INC-"):
            return line.split()[1].rstrip(":")
    raise AssertionError("no incident id in the output:\n" + res.stdout[-3000:])


def read_timeline(incident):
    path = os.path.join(REPO, "incidents", incident, "timeline.jsonl")
    with open(path) as fh:
        return [json.loads(line) for line in fh]


def public_served():
    status, _body = http(url("nginx", "/api/workflows/health"))
    return status == 200


def restore_lab():
    """Undo what a failed run may have left: the api down or the maintenance page on."""
    subprocess.run([os.path.join(REPO, "lab", "faults.py"), "reset", "api-kill"], capture_output=True, check=False)
    if not public_served():
        subprocess.run([os.path.join(VENV_BIN, "ansible"), "lab", "-m", "incident.response.maintenance_mode",
                        "-a", "state=false project=incident-lab service=nginx site_link=/var/lib/lab/nginx/site.conf"
                        " live_config=/run/lab/nginx/live.conf maintenance_config=/run/lab/nginx/maintenance.conf"
                        " nginx_config=/run/lab/nginx/nginx.conf"], cwd=REPO, capture_output=True, check=False)


@pytest.fixture
def state_dir(tmp_path):
    """A fresh guard-rail state (rate limits), so earlier restarts of the api do not refuse this one."""
    return {"INCIDENT_STATE_DIR": str(tmp_path / "state")}


def test_p0_outage_heals_a_killed_api(healthy_lab, state_dir):
    http(url("sink", "/_sink/requests"), method="DELETE")
    healthy_lab.faults("inject", "api-kill")
    try:
        started = time.monotonic()
        res = run_playbook("playbooks/p0-outage.yml", env=state_dir, timeout=180)
        elapsed = time.monotonic() - started
        out = res.stdout + res.stderr
        assert res.returncode == 0, out[-6000:]
        assert elapsed < 60, "p0-outage took %.1fs" % elapsed
        # Healthy again, through the public path too: the maintenance page is off.
        assert http(url("api", "/health/ready"))[0] == 200
        assert public_served()
        incident = incident_of(res)
        timeline = read_timeline(incident)
        milestones = [e for e in timeline if e["type"] == "milestone"]
        events = [m["event"] for m in milestones]
        for wanted in ("detected", "declared", "mitigated", "resolved"):
            assert wanted in events, events
        # The critical path declares after the first action; detection is dated when triage saw the
        # outage, so the times stay in the lifecycle's order and every metric is computed.
        assert events.index("mitigated") < events.index("detected") < events.index("declared") < events.index("resolved")
        at = dict((m["event"], m["at"]) for m in reversed(milestones))
        assert at["detected"] < at["mitigated"] < at["declared"] < at["resolved"], at
        assert not any(m.get("flags") for m in milestones), milestones
        summary = json.load(open(os.path.join(REPO, "incidents", incident, "summary.json")))
        assert 0 < summary["metrics"]["mttm_s"] < 10 and not summary["metrics"]["anomalies"], summary["metrics"]
        notes = " | ".join(m["message"] for m in milestones)
        assert "api restarted" in notes and "Evidence captured" in notes and "customers served again" in notes, notes
        # The critical path: the restart is the first change; it healed at once, so no maintenance page;
        # the initial notice and the evidence bundle come after it, and the timeline keeps that order.
        tasks = [e.get("task") for e in timeline if e["type"] == "task" and e.get("status") == "changed"]
        assert tasks[0] == "Restart, and recreate if still unhealthy, api", tasks
        assert "Switch the maintenance page on" not in tasks, tasks
        assert tasks.index("Send the notice to every channel") < tasks.index("Capture evidence for " + incident), tasks
        starts = [e["start"] for e in timeline if e["type"] == "task"]
        assert starts == sorted(starts)
        report = open(os.path.join(REPO, "incidents", incident, "report.md")).read()
        assert incident in report and "api" in report and "resolved" in report.lower()
        # The channels got the initial notice and the resolution, for this incident.
        slack = [r["body"]["text"] for r in sink_requests("/slack") if incident in r["body"].get("text", "")]
        assert len(slack) == 2, slack
        assert "RESOLVED" in slack[1] and "RESOLVED" not in slack[0]
        pagerduty = [r["body"] for r in sink_requests("/pagerduty") if r["body"].get("dedup_key") == incident]
        assert [p["event_action"] for p in pagerduty] == ["trigger", "resolve"], pagerduty
    finally:
        restore_lab()


def changed_tasks(timeline):
    return [e.get("task") for e in timeline if e["type"] == "task" and e.get("status") == "changed"]


def test_p0_outage_in_the_runbooks_order(healthy_lab, state_dir):
    """p0_outage_order=runbook: notice and evidence first, the page on before the restart, off after verification."""
    healthy_lab.faults("inject", "api-kill")
    try:
        res = run_playbook("playbooks/p0-outage.yml", extra_vars={"p0_outage_order": "runbook"}, env=state_dir, timeout=180)
        assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
        assert http(url("api", "/health/ready"))[0] == 200 and public_served()
        incident = incident_of(res)
        tasks = changed_tasks(read_timeline(incident))
        order = ["Send the notice to every channel", "Capture evidence for " + incident, "Switch the maintenance page on",
                 "Restart, and recreate if still unhealthy, api", "Switch the maintenance page off"]
        assert [tasks.index(t) for t in order] == sorted(tasks.index(t) for t in order), tasks
    finally:
        restore_lab()


def test_p0_outage_when_the_quick_restart_is_not_enough(healthy_lab, state_dir):
    """A quick restart that has not healed within the bound (0 s here): maintenance page on, what the
    recreate destroys kept, then the recreate (no second restart), the page off after verification."""
    healthy_lab.faults("inject", "api-kill")
    try:
        res = run_playbook("playbooks/p0-outage.yml", extra_vars={"p0_outage_maintenance_after_s": 0}, env=state_dir,
                           timeout=180)
        assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
        assert http(url("api", "/health/ready"))[0] == 200 and public_served()
        incident = incident_of(res)
        timeline = read_timeline(incident)
        tasks = changed_tasks(timeline)
        ladder = [e for e in timeline if e["type"] == "task" and e.get("task") == "Restart, and recreate if still unhealthy, api"]
        assert [[a["action"] for a in e["result"]["attempts"]] for e in ladder] == [["restart"], ["recreate"]], ladder
        first, second = [i for i, t in enumerate(tasks) if t == "Restart, and recreate if still unhealthy, api"]
        page_on = tasks.index("Switch the maintenance page on")
        evidence = [i for i, t in enumerate(tasks) if t == "Capture evidence for " + incident]
        assert first < page_on < evidence[0] < second < tasks.index("Switch the maintenance page off"), tasks
        milestones = " | ".join(e["message"] for e in timeline if e["type"] == "milestone")
        assert "api recreated, healthy in" in milestones and "api still unhealthy" in milestones, milestones
        snapshot = [d for d in os.listdir(os.path.join(REPO, "incidents", incident, "evidence")) if "before-recreate" in d]
        assert snapshot, os.listdir(os.path.join(REPO, "incidents", incident, "evidence"))
    finally:
        restore_lab()


def test_check_mode_and_a_healthy_lab_change_nothing(healthy_lab, state_dir):
    api_before = healthy_lab.container("api")["State"]["StartedAt"]
    http(url("sink", "/_sink/requests"), method="DELETE")
    for check in (True, False):
        res = run_playbook("playbooks/p0-outage.yml", check=check, env=state_dir, timeout=120)
        assert res.returncode == 0, res.stdout[-4000:]
        assert "changed=0" in res.stdout and "failed=0" in res.stdout, res.stdout[-2000:]
        assert "Record that the symptom is absent" in res.stdout and "Declare the incident" not in res.stdout
    assert healthy_lab.container("api")["State"]["StartedAt"] == api_before
    assert notices() == []


def test_check_mode_on_a_killed_api_changes_nothing(healthy_lab, state_dir):
    http(url("sink", "/_sink/requests"), method="DELETE")
    healthy_lab.faults("inject", "api-kill")
    try:
        res = run_playbook("playbooks/p0-outage.yml", check=True, env=state_dir, timeout=120)
        assert res.returncode == 0, res.stdout[-4000:]
        assert "Restart, and recreate if still unhealthy, api" in res.stdout
        assert http(url("api", "/health/ready"))[0] == 0, "check mode started the api"
        assert healthy_lab.container("api")["State"]["Running"] is False
        assert notices() == []
    finally:
        restore_lab()


DECIDE = """
- hosts: incident_hosts
  gather_facts: false
  tasks:
    - ansible.builtin.include_role:
        name: incident.response.decide
      vars:
        decide_context: "api still down after restart and recreate"
    - ansible.builtin.debug:
        msg: "DECISION {{ recovery_decision.strategy }} / {{ recovery_decision.source }}"
"""


DECISION_POINT = """
- hosts: incident_hosts
  gather_facts: false
  vars:
    remediate_service_results: %s
  tasks:
    - block:
        - ansible.builtin.include_tasks: %s/playbooks/tasks/recovery_decision.yml
      rescue:
        - ansible.builtin.debug:
            msg: "DECISION {{ recovery_decision.strategy }} FLAGS {{ recovery_decision.feature_flags | join(',') }}"
"""


def test_decision_point_offers_flags_only_for_services_that_have_them(tmp_path):
    """The inventory's incident_feature_flags name flags of api only: a worker still down is decided on
    without the feature-flag option (and without a templating error), api brings it in."""
    playbook = tmp_path / "decision_point.yml"
    for services, flags in ((["worker"], ""), (["api", "worker"], "new_scheduler")):
        results = [dict(service=name, healthy=False, msg=name + " still down") for name in services]
        playbook.write_text(DECISION_POINT % (json.dumps(results), REPO))
        res = run_playbook(str(playbook), extra_vars={"recovery_strategy": "mitigate"})
        assert "DECISION mitigate FLAGS %s\"" % flags in res.stdout, res.stdout[-3000:]


def test_decision_point_defaults_when_unattended(tmp_path):
    playbook = tmp_path / "decide.yml"
    playbook.write_text(DECIDE)
    res = run_playbook(str(playbook), env={"INCIDENT_UNATTENDED": "1"})
    assert res.returncode == 0, res.stdout[-3000:]
    assert "DECISION mitigate / default (unattended)" in res.stdout
    res = run_playbook(str(playbook), extra_vars={"recovery_strategy": "rollback"})
    assert "DECISION rollback / given" in res.stdout
    timeline = read_timeline(incident_of(res))
    assert any(m["type"] == "milestone" and "Recovery decision: rollback (given)" in m["message"] for m in timeline)
    res = run_playbook(str(playbook), extra_vars={"recovery_strategy": "yolo"})
    assert res.returncode != 0 and "is not one of rollback, hotfix, mitigate" in res.stdout


def test_decision_point_asks_at_a_terminal(tmp_path):
    """A person at a terminal is shown the options with their risks and the answer is taken."""
    playbook = tmp_path / "decide.yml"
    playbook.write_text(DECIDE)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    for key in ("CI", "INCIDENT_UNATTENDED", "JOB_ID", "AWX_HOST", "AWX_ISOLATED_DATA_DIR"):
        env.pop(key, None)
    pid, fd = pty.fork()
    if pid == 0:  # the child: ansible-playbook on the pseudo-terminal
        os.chdir(REPO)
        os.execve(os.path.join(VENV_BIN, "ansible-playbook"), ["ansible-playbook", str(playbook)], env)
    out, deadline = b"", time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            # pause flushes what was typed before it reads: answer once the prompt has settled.
            if b"(Enter = mitigate)" in out and b"DECISION" not in out and not ready:
                os.write(fd, b"rollback\r")
    finally:
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert "risk: service interruption" in text and "confidence: medium" in text, text[-3000:]
    assert "DECISION rollback / asked" in text, text[-3000:]


@pytest.mark.parametrize("extra, play", [
    ({"alert_name": "TaskSchedulerAPIDown"}, "API down"),
    ({"alert_name": "TaskSchedulerDatabaseDown"}, "Database down"),
    ({"severity": "SEV1", "description": "everything is down"}, "P0 outage"),
    ({"severity": "P2", "description": "workers stopped, queue growing"}, "No active workers"),
    ({"severity": "critical", "description": "redis out of memory"}, "Redis memory"),
    ({"severity": "P3", "description": "a typo on the status page"}, "Investigate"),
])
def test_respond_routes_to_the_scenario(extra, play):
    res = run_playbook("playbooks/respond.yml", extra_vars=extra, args=["--list-tasks"], timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    first_play = [line for line in res.stdout.splitlines() if "play #1" in line]
    assert first_play and play in first_play[0], res.stdout[:1500]


def test_respond_runs_api_down_for_its_alert(healthy_lab, state_dir):
    """The router end to end: the alert name picks api-down.yml, which heals the killed api."""
    healthy_lab.faults("inject", "api-kill")
    try:
        res = run_playbook("playbooks/respond.yml", extra_vars={"alert_name": "TaskSchedulerAPIDown"}, env=state_dir,
                           timeout=180)
        assert res.returncode == 0, res.stdout[-5000:]
        assert "API down - restart, recreate, or roll back the application service" in res.stdout
        wait_for(lambda: http(url("api", "/health/ready"))[0] == 200, timeout=10, what="api ready")
        events = [m["event"] for m in read_timeline(incident_of(res)) if m["type"] == "milestone"]
        assert {"declared", "mitigated", "resolved"} <= set(events), events
    finally:
        restore_lab()
