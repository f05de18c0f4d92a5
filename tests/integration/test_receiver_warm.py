"""The receiver's warm launcher (dispatch.launcher: warm, extensions/receiver/incident_receiver/warm.py):
a run forked from the pre-warmed zygote leaves the same artifacts and timeline as a cold run, a dead
zygote means a cold launch (and a new zygote), concurrent warm runs keep their own environment, and an
environment that changes Ansible's import-time settings runs ansible-playbook cold inside the warm runner.
Real receivers, real ansible-runner runs of local playbooks; no lab service is touched. About 40 s."""
import datetime
import json
import os
import re
import signal
import time

import pytest
from incident_receiver import config, dispatch

from tests.integration.receiver_support import ReceiverProcess, am_alert, am_payload, write_config

pytestmark = pytest.mark.lab   # collected with the integration suite (takes the lab lock; touches no container)

FINISHED = ("succeeded", "failed", "interrupted", "canceled")
WARM_RUNNER = "warm launch: runner pid"
WARM_PLAYBOOK = "warm launch: ansible-playbook in-process"

PLAYBOOK = """---
- name: Warm launcher test scenario
  hosts: localhost
  gather_facts: false
  vars:
    warm_label: "{{ incident_alert.labels.trial | default('none') }}"
  tasks:
    - name: Skipped on purpose
      ansible.builtin.debug:
        msg: never
      when: false

    - name: Record what this run sees
      ansible.builtin.copy:
        dest: "{{ warm_out_dir }}/{{ incident_id }}.json"
        mode: "0600"
        content: "{{ {'label': warm_label, 'incident_id': incident_id, 'env_incident_id': lookup('ansible.builtin.env', 'INCIDENT_ID'),
                      'fact_cache': lookup('ansible.builtin.env', 'ANSIBLE_CACHE_PLUGIN_CONNECTION'),
                      'artifacts': lookup('ansible.builtin.env', 'AWX_ISOLATED_DATA_DIR')} | to_json }}"

    - name: A failure that is ignored
      ansible.builtin.command: "false"
      changed_when: false
      ignore_errors: true

    - name: Pause so runs overlap
      ansible.builtin.command: sleep {{ warm_sleep | default(0) }}
      changed_when: false
"""


def _receiver(tmp_path, name, launcher, **route_vars):
    base = tmp_path / name
    (base / "playbooks").mkdir(parents=True)
    (base / "playbooks" / "warm_scenario.yml").write_text(PLAYBOOK)
    out = base / "out"
    out.mkdir()
    routes = {"routes": [{"name": "warm", "match": {"alertname": "WarmTest"}, "playbook": "warm_scenario.yml",
                          "extra_vars": dict({"warm_out_dir": str(out)}, **route_vars)}],
              "default": {"playbook": None}}
    cfg = write_config(base, routes, playbooks_dir=str(base / "playbooks"),
                       dispatch={"backend": "local", "max_concurrent": 2, "poll_s": 0.05, "launcher": launcher})
    return ReceiverProcess(cfg), out, base


def _post(rcv, trial, service):
    status, body = rcv.post("/alertmanager", am_payload(am_alert("WarmTest", trial=trial, service=service)))
    assert status == 200 and body["queued"], body


def _finished(rcv, count, timeout=90):
    return rcv.wait_runs(lambda runs: len(runs) >= count and all(r["status"] in FINISHED for r in runs), timeout,
                         "%d finished runs" % count)


def _attempt_log(run):
    with open(os.path.join(run["private_data_dir"], "attempt-%d.log" % run["attempts"])) as fh:
        return fh.read()


def _artifacts(run):
    return os.path.join(run["private_data_dir"], "artifacts", "attempt-%d" % run["attempts"])


def _events(run):
    """(event, task, host, ignore_errors) of each runner event, in order."""
    out = []
    for path in dispatch.event_files(os.path.join(_artifacts(run), "job_events")):
        with open(path) as fh:
            event = json.load(fh)
        data = event.get("event_data", {})
        out.append((event["event"], data.get("task"), data.get("host"), data.get("ignore_errors")))
    return out


def _timeline(base, run):
    with open(os.path.join(str(base), "incidents", run["incident_id"], "timeline.jsonl")) as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    return [(e["type"], e.get("task"), e.get("status"), e.get("event")) for e in lines]


def _stdout(run):
    with open(os.path.join(_artifacts(run), "stdout")) as fh:
        text = fh.read()
    text = re.sub(r"\x1b\[K[A-Za-z0-9+/=\s]*\x1b\[\d+D", "", text)      # the runner's event tokens, if any
    text = re.sub(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}\.\d+|\d+:\d{2}:\d{2}\.\d+", "T", text)   # start/end/delta
    return re.sub(r"INC-\d{4}-\d{2}-\d{2}-\d+|/tmp/\S+", "X", text)


def _first_task_s(run):
    for event in _events_raw(run):
        if event["event"] == "playbook_on_task_start":
            created = datetime.datetime.fromisoformat(event["created"]).replace(tzinfo=datetime.timezone.utc)
            return created.timestamp() - run["launched_at"]
    return None


def _events_raw(run):
    out = []
    for path in dispatch.event_files(os.path.join(_artifacts(run), "job_events")):
        with open(path) as fh:
            out.append(json.load(fh))
    return out


def test_a_warm_run_leaves_the_artifacts_and_timeline_of_a_cold_run(tmp_path):
    runs = {}
    for launcher in ("cold", "warm"):
        rcv, _out, base = _receiver(tmp_path, launcher, launcher)
        rcv.start()
        try:
            _post(rcv, launcher, "svc")
            run = _finished(rcv, 1)[0]
            runs[launcher] = (run, base, _attempt_log(run))
        finally:
            rcv.stop()
    (cold, cold_base, cold_log), (warm, warm_base, warm_log) = runs["cold"], runs["warm"]
    assert WARM_RUNNER not in cold_log and WARM_PLAYBOOK not in cold_log, cold_log
    assert WARM_RUNNER in warm_log and WARM_PLAYBOOK in warm_log, warm_log      # really forked, really in-process
    assert cold["status"] == warm["status"] == "succeeded"
    for name in ("status", "rc"):
        with open(os.path.join(_artifacts(cold), name)) as cfh, open(os.path.join(_artifacts(warm), name)) as wfh:
            assert cfh.read() == wfh.read() != ""
    cold_events, warm_events = _events(cold), _events(warm)
    assert warm_events == cold_events and ("runner_on_failed", "A failure that is ignored", "localhost", True) in warm_events
    warm_timeline = _timeline(warm_base, warm)
    assert warm_timeline == _timeline(cold_base, cold)
    assert [t[1] for t in warm_timeline if t[0] == "task"] == [
        "Skipped on purpose", "Record what this run sees", "A failure that is ignored", "Pause so runs overlap"], warm_timeline
    assert _stdout(warm) == _stdout(cold)
    with open(os.path.join(_artifacts(cold), "command")) as cfh, open(os.path.join(_artifacts(warm), "command")) as wfh:
        cold_cmd, warm_cmd = json.load(cfh), json.load(wfh)
    assert [os.path.basename(a) for a in warm_cmd["command"]] == [os.path.basename(a) for a in cold_cmd["command"]]
    assert sorted(warm_cmd["env"]) == sorted(cold_cmd["env"])
    print("\nfirst task after launch: cold %.2fs, warm %.2fs" % (_first_task_s(cold), _first_task_s(warm)))


def _zygote_pids(base):
    path = os.path.join(str(base), "state", "warm.log")
    with open(path) as fh:
        return [int(m) for m in re.findall(r"^zygote (\d+) ready", fh.read(), re.M)]


def test_a_dead_zygote_means_a_cold_launch_then_a_new_zygote(tmp_path):
    rcv, out, base = _receiver(tmp_path, "dead", "warm")
    rcv.start()
    try:
        _post(rcv, "first", "a")
        first = _finished(rcv, 1)[0]
        assert WARM_RUNNER in _attempt_log(first)
        zygote = _zygote_pids(base)[-1]
        os.kill(zygote, signal.SIGKILL)
        _post(rcv, "second", "b")
        second = [r for r in _finished(rcv, 2) if r["id"] != first["id"]][0]
        assert second["status"] == "succeeded", second
        assert WARM_RUNNER not in _attempt_log(second)
        assert "warm launcher unavailable" in rcv.read_log() and "cold launch" in rcv.read_log()
        time.sleep(5.5)                       # restart_s: a new zygote for the next run
        _post(rcv, "third", "c")
        third = [r for r in _finished(rcv, 3) if r["id"] not in (first["id"], second["id"])][0]
        assert third["status"] == "succeeded" and WARM_RUNNER in _attempt_log(third), _attempt_log(third)
        assert len(_zygote_pids(base)) == 2 and _zygote_pids(base)[-1] != zygote
        assert len(os.listdir(str(out))) == 3
    finally:
        rcv.stop()


def test_concurrent_warm_runs_see_only_their_own_environment(tmp_path):
    rcv, out, _base = _receiver(tmp_path, "iso", "warm", warm_sleep="1")
    rcv.start()
    try:
        _post(rcv, "alpha", "a")
        _post(rcv, "beta", "b")
        runs = _finished(rcv, 2)
    finally:
        rcv.stop()
    assert len(runs) == 2 and all(r["status"] == "succeeded" for r in runs), runs
    starts = sorted(r["started_at"] for r in runs)
    ends = sorted(r["finished_at"] for r in runs)
    assert starts[1] < ends[0], runs                      # they overlapped, forked from one zygote
    seen = {}
    for run in runs:
        assert WARM_PLAYBOOK in _attempt_log(run)
        with open(os.path.join(str(out), run["incident_id"] + ".json")) as fh:
            seen[run["incident_id"]] = (run, json.load(fh))
    labels = set()
    for incident_id, (run, data) in seen.items():
        labels.add(data["label"])
        assert data["incident_id"] == data["env_incident_id"] == incident_id
        assert data["artifacts"] == _artifacts(run)
        assert data["fact_cache"] == os.path.join(_artifacts(run), "fact_cache")
    assert labels == {"alpha", "beta"}


def test_an_environment_that_changes_import_time_settings_runs_ansible_playbook_cold(tmp_path):
    """env/envvars setting an ANSIBLE_* variable: the zygote's settings do not apply, so the warm runner
    exec's the real ansible-playbook (and the setting takes effect); a run without it stays in-process."""
    _rcv, out, base = _receiver(tmp_path, "envvars", "warm")
    cfg = config.load(str(base / "receiver.yml"))
    os.makedirs(cfg.runs_dir)
    backend = dispatch.LocalBackend(cfg)
    try:
        logs, stdouts = {}, {}
        for job_id, envvars in ((1, {"ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false"}), (2, {})):
            pdd = dispatch.run_dir(cfg.runs_dir, job_id)
            os.makedirs(os.path.join(pdd, "env"))
            with open(os.path.join(pdd, "env", "envvars"), "w") as fh:
                json.dump(envvars, fh)
            incident_id = "INC-2026-01-01-%03d" % job_id
            job = {"id": job_id, "private_data_dir": pdd, "playbook": "warm_scenario.yml", "incident_id": incident_id,
                   "extra_vars": {"warm_out_dir": str(out), "incident_id": incident_id, "incident_alert": {"labels": {}}}}
            proc = backend.launch(job, 1)
            proc.wait()
            deadline = time.monotonic() + 60
            while dispatch.lock_held(pdd) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert dispatch.outcome(pdd, 1)[0] == "succeeded", dispatch.outcome(pdd, 1)
            run = {"private_data_dir": pdd, "attempts": 1}
            logs[job_id], stdouts[job_id] = _attempt_log(run), _stdout(run)
    finally:
        backend.close()
    assert WARM_RUNNER in logs[1] and "ANSIBLE_DISPLAY_SKIPPED_HOSTS differs" in logs[1] and WARM_PLAYBOOK not in logs[1]
    assert "skipping: [localhost]" not in stdouts[1]
    assert WARM_PLAYBOOK in logs[2] and "skipping: [localhost]" in stdouts[2]
