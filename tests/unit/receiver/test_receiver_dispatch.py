import fcntl
import json
import os
import subprocess
import sys
import time

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from incident_receiver import dispatch

EVIL = "{{ lookup('ansible.builtin.pipe', 'id') }} $(id) `id`"


def job():
    return {"extra_vars": {"incident_id": "INC-2026-01-01-001", "route_var": "{{ 1 + 1 }}", "alert_name": EVIL,
                           "description": EVIL, "severity": "P0",
                           "incident_alert": {"labels": {"alertname": "X", "evil": EVIL, "calc": "{{ 1 + 1 }}"},
                                              "list": [EVIL]}}}


def test_alert_strings_are_written_unsafe_and_ansible_does_not_render_them(tmp_path):
    text = dispatch.dump_extravars(dispatch.job_vars(job()))
    assert '"__ansible_unsafe"' in text and '"route_var": "{{ 1 + 1 }}"' in text
    path = tmp_path / "extravars"
    path.write_text(text)
    # exactly how ansible-playbook loads `-e @file`: as trusted templates, unless marked __ansible_unsafe
    data = DataLoader().load_from_file(str(path), trusted_as_template=True)
    templar = Templar(loader=DataLoader(), variables=data)
    assert templar.template(data["incident_alert"]["labels"]["evil"]) == EVIL
    assert templar.template(data["incident_alert"]["list"][0]) == EVIL
    assert templar.template(data["incident_alert"]["labels"]["calc"]) == "{{ 1 + 1 }}"
    assert templar.template(data["alert_name"]) == EVIL and templar.template(data["description"]) == EVIL
    assert templar.template(data["route_var"]) == 2      # route vars come from trusted config


def test_prune_keeps_the_newest_and_the_active(tmp_path):
    for i in range(1, 8):
        os.makedirs(dispatch.run_dir(str(tmp_path), i))
    dispatch.prune_runs(str(tmp_path), keep=3, active_ids={2})
    assert sorted(os.listdir(str(tmp_path))) == ["job-2", "job-5", "job-6", "job-7"]


def test_summary_reads_runner_events(tmp_path):
    events = tmp_path / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    (events / "1-a.json").write_text('{"event": "runner_on_failed", "event_data": {"task": "Restart", "host": "lab"}}')
    (events / "2-b.json").write_text('{"event": "playbook_on_stats", "event_data": {"failures": {"lab": 1}, "ok": {}}}')
    (events / "3-c.json").write_text('{not json')
    out = dispatch.summary(str(tmp_path))
    assert out["failed_tasks"] == [{"task": "Restart", "host": "lab"}]
    assert out["stats"]["failures"] == {"lab": 1} and out["events"]["playbook_on_stats"] == 1


def test_no_orphan_matches_a_prefix_of_another_run(tmp_path):
    assert dispatch.pids_using("") == []
    assert dispatch.pids_using(str(tmp_path / "runs" / "job-1")) == []


def hold_lock(pdd, script="exec sleep 30"):
    """A child process holding the run's lock the way the launcher hands it to ansible-runner."""
    os.makedirs(pdd, exist_ok=True)
    fd = os.open(os.path.join(pdd, dispatch.LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        return subprocess.Popen(["sh", "-c", script], pass_fds=(fd,), start_new_session=True)
    finally:
        os.close(fd)


def test_the_lock_tells_a_live_run_whatever_its_pid(tmp_path):
    pdd = str(tmp_path / "job-1")
    assert dispatch.lock_held(pdd) is False                       # never launched
    child = hold_lock(pdd)
    try:
        assert dispatch.lock_held(pdd) is True
        assert dispatch.clear_stale_run_dir(pdd) is False and os.path.isdir(pdd)   # a live run is never removed
    finally:
        child.kill()
        child.wait()
    assert dispatch.lock_held(pdd) is False                       # released when its holder died
    assert dispatch.clear_stale_run_dir(pdd) is True and not os.path.exists(pdd)


def test_a_pid_names_one_process_only_with_its_start_time():
    start = dispatch.process_start(os.getpid())
    assert isinstance(start, int)
    assert dispatch.process_alive(os.getpid(), start)
    assert not dispatch.process_alive(os.getpid(), start + 1)     # a recycled pid has another start time
    assert not dispatch.process_alive(None, start) and not dispatch.process_alive(os.getpid(), None)
    child = subprocess.Popen(["true"])
    start = dispatch.process_start(child.pid)
    for _n in range(200):                                          # exited, not yet reaped: a zombie is dead
        if dispatch.process_start(child.pid) is None:
            break
        time.sleep(0.01)
    assert not dispatch.process_alive(child.pid, start)
    child.wait()


def write_attempt(pdd, attempt, status=None, rc=None, events=()):
    art = os.path.join(pdd, "artifacts", dispatch.attempt_ident(attempt))
    os.makedirs(os.path.join(art, "job_events"), exist_ok=True)
    for name, text in [("status", status), ("rc", rc)]:
        if text is not None:
            with open(os.path.join(art, name), "w") as fh:
                fh.write(text)
    for name, event in events:
        with open(os.path.join(art, "job_events", name), "w") as fh:
            fh.write(json.dumps(event))


def test_outcome_of_an_ended_attempt(tmp_path):
    pdd = str(tmp_path)
    assert dispatch.outcome(pdd, 1) is None                       # never started
    write_attempt(pdd, 1, events=[("1-u1.json", {"event": "playbook_on_start"})])
    assert dispatch.outcome(pdd, 1) is None                       # died mid-play: run it again
    write_attempt(pdd, 2, "successful", "0")
    assert dispatch.outcome(pdd, 2) == ("succeeded", 0, None)
    write_attempt(pdd, 3, "failed", "2")
    assert dispatch.outcome(pdd, 3) == ("failed", 2, "ansible-runner status failed, rc 2")
    write_attempt(pdd, 4, "timeout", "254")
    assert dispatch.outcome(pdd, 4)[0] == "failed"
    # The runner died after the play's stats, before writing its status: the play did end.
    write_attempt(pdd, 5, events=[("u9-partial.json", {"event": "playbook_on_stats",
                                                       "event_data": {"failures": {}, "ok": {"localhost": 3}}})])
    assert dispatch.outcome(pdd, 5) == ("succeeded", None, None)
    write_attempt(pdd, 0, "successful", "0")                      # artifacts/run: receivers before attempts
    assert dispatch.outcome(pdd, 0) == ("succeeded", 0, None)


def test_summary_reads_the_latest_attempt_once_per_event(tmp_path):
    pdd = str(tmp_path)
    write_attempt(pdd, 1, events=[("1-a.json", {"event": "runner_on_failed", "event_data": {"task": "Old"}})])
    write_attempt(pdd, 2, events=[("1-b.json", {"event": "playbook_on_start"}),
                                  ("2-c.json", {"event": "runner_on_ok"}),
                                  ("c-partial.json", {"event": "runner_on_ok"}),      # already processed
                                  ("d-partial.json", {"event": "runner_on_ok"})])     # not yet
    out = dispatch.summary(pdd)
    assert out["events"] == {"playbook_on_start": 1, "runner_on_ok": 2} and out["failed_tasks"] == []
    assert dispatch.summary(pdd, 1)["failed_tasks"] == [{"task": "Old", "host": None}]
    write_attempt(pdd, 10)
    assert dispatch.latest_ident(pdd) == "attempt-10"             # numeric, not lexical, order


def test_adopt_waits_for_the_live_run_then_reads_how_it_ended(make_config, tmp_path):
    cfg = make_config(dispatch={"backend": "none", "poll_s": 0.02})
    backend = dispatch.LocalBackend(cfg)
    pdd = str(tmp_path / "job-7")
    art = os.path.join(pdd, "artifacts", "attempt-2")
    child = hold_lock(pdd, "sleep 0.4; mkdir -p %s && printf successful > %s/status && printf 0 > %s/rc"
                      % (art, art, art))
    job = {"private_data_dir": pdd, "attempts": 2, "pid": child.pid, "pid_start": dispatch.process_start(child.pid)}
    started = time.monotonic()
    assert backend.adopt(job) == ("succeeded", 0, None)
    assert time.monotonic() - started >= 0.3
    child.wait()
    assert backend.adopt(dict(job, attempts=3)) is None           # a later attempt that never started


def test_runs_do_not_inherit_the_receivers_secrets(make_config, monkeypatch):
    monkeypatch.setenv("RECEIVER_TOKEN_UNDER_TEST", "s3cret-token")
    monkeypatch.setenv("AWX_TOKEN", "s3cret-awx")
    cfg = make_config(auth={"token_env": "RECEIVER_TOKEN_UNDER_TEST"})
    env = dispatch.child_env(cfg)
    assert "RECEIVER_TOKEN_UNDER_TEST" not in env and "AWX_TOKEN" not in env
    assert "s3cret" not in json.dumps(env)
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert env["INCIDENT_ROOT"] == cfg.incidents_dir and env["ANSIBLE_CONFIG"] == cfg.ansible_config
