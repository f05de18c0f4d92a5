"""The timeline callback under real ansible-playbook and ansible-runner runs."""
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from tests.ansible import REPO, VENV_BIN, run_playbook

PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")
SECRETS = ["hunter2-from-play-vars", "s3cr3t-no-log-value", "pw-in-url-123", "fact-secret-4567", "extra-var-token-999"]
EXPECTED = {
    "Ok task": "ok", "Changed task": "changed", "Skipped task": "skipped", "Ignored failure": "ignored",
    "Failing inside block": "rescued", "Rescue task": "ok", "Secret via no_log": "ok", "Leaky message": "ok",
    "Leaky set_fact": "ok", "Leaky fact echoed": "ok", "Loop task": "ok", "Async task": "ok", "Handler ran": "ok",
    "Second play task": "ok",
}


def _incidents(root):
    return sorted(d for d in os.listdir(root) if d.startswith("INC-"))


def _events(root, incident_id):
    with open(os.path.join(root, incident_id, "timeline.jsonl")) as fh:
        return [json.loads(line) for line in fh]


def _grep_tree(root, needles):
    hits = []
    for base, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(base, name), "rb") as fh:
                data = fh.read()
            hits += ["%s in %s" % (n, name) for n in needles if n.encode() in data]
    return hits


def _play(playbook, root, extra=None):
    """Real ansible-playbook with the repo's ansible.cfg; INCIDENT_ROOT overrides its [callback_timeline] root."""
    return run_playbook(os.path.join(PLAYBOOKS, playbook), extra_vars=extra, env={"INCIDENT_ROOT": str(root)})


def _check_statuses(root):
    (incident_id,) = _incidents(root)
    events = _events(root, incident_id)
    tasks = [e for e in events if e["type"] == "task"]
    assert sorted(e["task"] for e in tasks) == sorted(EXPECTED), [e["task"] for e in tasks]
    assert dict((e["task"], e["status"]) for e in tasks) == EXPECTED
    by_name = dict((e["task"], e) for e in tasks)
    assert by_name["Loop task"]["loop_items"] == 3 and by_name["Loop task"]["items"] == {"ok": 3}
    assert by_name["Handler ran"]["handler"] is True
    assert by_name["Failing inside block"]["failed"] is True
    assert by_name["Secret via no_log"]["result"] == {"censored": "result hidden: no_log"}
    assert by_name["Async task"]["duration_s"] >= 1.0
    for e in tasks:
        assert e["start"] <= e["end"] and e["start"].endswith("Z") and e["host"] == "lab"
    kinds = [e["type"] for e in events]
    assert kinds[0] == "run_start" and kinds[-1] == "run_end" and kinds.count("play_start") == 2
    assert events[-1]["totals"]["rescued"] == 1 and events[-1]["totals"]["ignored"] == 1
    md = open(os.path.join(root, incident_id, "timeline.md")).read()
    assert "| Time (UTC) | Phase / role | Event | Host | Status | Duration |" in md and "Failing inside block" in md
    assert _grep_tree(str(root), SECRETS) == []


def test_every_task_once_with_its_status_and_no_secrets(tmp_path):
    res = _play("timeline_statuses.yml", tmp_path, extra={"admin_token": "extra-var-token-999"})
    assert res.returncode == 0, res.stdout[-3000:]
    _check_statuses(tmp_path)


def test_under_ansible_runner(tmp_path, monkeypatch):
    import ansible_runner
    env = {"ANSIBLE_CONFIG": os.path.join(REPO, "ansible.cfg"), "INCIDENT_ROOT": str(tmp_path / "inc"),
           "PATH": VENV_BIN + os.pathsep + os.environ["PATH"]}
    monkeypatch.setenv("PATH", env["PATH"])  # runner looks ansible-playbook up in its own PATH
    (tmp_path / "runner").mkdir()
    run = ansible_runner.run(private_data_dir=str(tmp_path / "runner"), quiet=True, envvars=env,
                             playbook=os.path.join(PLAYBOOKS, "timeline_statuses.yml"),
                             extravars={"admin_token": "extra-var-token-999"})
    assert run.rc == 0, run.stdout.read()[-3000:]
    _check_statuses(str(tmp_path / "inc"))


def test_sigkill_midway_leaves_a_valid_timeline(tmp_path):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), INCIDENT_ROOT=str(tmp_path),
               PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
    proc = subprocess.Popen([os.path.join(VENV_BIN, "ansible-playbook"), os.path.join(PLAYBOOKS, "timeline_slow.yml")],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = _incidents(str(tmp_path)) if os.path.isdir(str(tmp_path)) else []
            if found and sum(1 for e in _safe_events(tmp_path, found[0]) if e.get("type") == "task") >= 3:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # inside "Long step" now
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    (incident_id,) = _incidents(str(tmp_path))
    with open(os.path.join(str(tmp_path), incident_id, "timeline.jsonl"), "rb") as fh:
        raw = fh.read()
    assert raw.endswith(b"\n")
    events = [json.loads(line) for line in raw.splitlines()]  # every line parses
    assert [e["task"] for e in events if e["type"] == "task"] == ["Loop step", "Quick step a", "Quick step b"]
    assert "run_end" not in [e["type"] for e in events]


def _safe_events(root, incident_id):
    try:
        return _events(str(root), incident_id)
    except (OSError, ValueError):
        return []


def test_concurrent_runs_get_different_ids_and_continue_appends(tmp_path):
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _i: _play("timeline_tiny.yml", tmp_path), range(3)))
    assert all(r.returncode == 0 for r in results), [r.stdout[-500:] for r in results]
    ids = _incidents(str(tmp_path))
    assert len(ids) == 3
    for incident_id in ids:  # each run saw its own id through the lookup
        assert [e["result"]["msg"] for e in _events(str(tmp_path), incident_id) if e["type"] == "task"] == [incident_id]

    target = ids[0]
    res = _play("timeline_tiny.yml", tmp_path, extra={"incident_id": target})
    assert res.returncode == 0, res.stdout[-2000:]
    assert _incidents(str(tmp_path)) == ids
    events = _events(str(tmp_path), target)
    assert [e["type"] for e in events].count("run_start") == 2
    assert len(set(e["run_id"] for e in events)) == 2


def test_invalid_incident_id_is_never_used_as_a_path(tmp_path):
    res = _play("timeline_tiny.yml", tmp_path, extra={"incident_id": "../../escape"})
    assert "invalid incident id" in res.stdout + res.stderr
    assert res.returncode != 0  # the callback refuses to record and the incident_id lookup fails the task
    assert not os.path.exists(os.path.join(str(tmp_path), "..", "escape"))
    assert not os.path.isdir(str(tmp_path)) or _incidents(str(tmp_path)) == []


def test_milestones_and_report(tmp_path):
    res = _play("timeline_milestones.yml", tmp_path, extra={"impact_at": "2026-01-01T00:00:00Z"})
    assert res.returncode == 0, res.stdout[-3000:]
    (incident_id,) = _incidents(str(tmp_path))
    milestones = [e["event"] for e in _events(str(tmp_path), incident_id) if e["type"] == "milestone"]
    assert milestones == ["detected", "acknowledged", "mitigated", "resolved"]
    summary = json.load(open(os.path.join(str(tmp_path), incident_id, "summary.json")))
    m = summary["metrics"]
    assert summary["status"] == "resolved" and summary["severity"] == "P1"
    assert 0 <= m["mtta_s"] <= m["mttm_s"] <= m["mttr_s"] < 120 and m["mttd_s"] > 3600
    assert [a["task"] for a in summary["actions_taken"]] == ["Restart something"]
    for name in ("report.md", "post-incident-review.md", "timeline.md"):
        assert os.path.getsize(os.path.join(str(tmp_path), incident_id, name)) > 200
