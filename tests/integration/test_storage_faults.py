"""Storage faults of the incident record on real filesystems (a full tmpfs, a read-only bind mount):
the operator is told the incident id and the problem before any task runs, the record moves to the
fallback directory, remediation completes (P0 game days on the lab: the api is healthy again), and the
record says exactly which events were lost.

Mounting needs root (CAP_SYS_ADMIN), which the CI and lab machines have."""
import json
import os
import subprocess
import time

import pytest

from tests.ansible import REPO, VENV_BIN
from tests.lab import http, url

PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs / read-only bind mount needs root")

SMALL = """
- name: Storage fault drill
  hosts: lab
  gather_facts: false
  tasks:
    - name: Declare
      incident.response.incident_event:
        event: declared
        msg: Drill declared
        severity: P2
    - name: Capture evidence
      incident.response.evidence_capture:
        label: drill
        host_snapshot: true
    - name: Remediate
      ansible.builtin.command: "true"
      changed_when: true
    - name: Mitigated
      incident.response.incident_event:
        event: mitigated
        msg: Drill mitigated
    - name: Report
      incident.response.incident_report:
        title: Drill
"""

MIDRUN = """
- name: The disks fill up in the middle of the run
  hosts: lab
  gather_facts: false
  tasks:
    - name: Before
      ansible.builtin.command: "true"
    - name: Fill both disks
      # tmpfs gives a file whole pages: pad the timeline's last page with blank lines (readers skip them),
      # so the next event needs a page the full disk does not have
      ansible.builtin.shell: >-
        python3 -c "import os; p=os.path.join('{{ fill[0] }}', os.environ['INCIDENT_ID'], 'timeline.jsonl');
        open(p, 'ab').write(b'\\n' * (-os.path.getsize(p) % 4096))";
        for d in {{ fill | join(' ') }}; do dd if=/dev/zero of=$d/filler bs=4k 2>/dev/null; done; true
    - name: Lost one
      ansible.builtin.command: "true"
    - name: Lost two
      ansible.builtin.command: "true"
    - name: Free the incident disk
      ansible.builtin.file:
        path: "{{ fill[0] }}/filler"
        state: absent
    - name: After
      ansible.builtin.command: "true"
"""


def mount_tmpfs(path, size="256k"):
    os.makedirs(str(path), exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size, "tmpfs", str(path)], check=True)
    return str(path)


def fill(path):
    subprocess.run("dd if=/dev/zero of=%s/filler bs=4k 2>/dev/null; true" % path, shell=True, check=True)


def make_read_only(path):
    os.makedirs(str(path), exist_ok=True)
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
    return str(path)


@pytest.fixture
def mounts():
    done = []
    yield done
    for path in reversed(done):
        subprocess.run(["umount", "-l", path], check=False)


def play(playbook, root, fallback, extra=None, env=None, timeout=300):
    """ansible-playbook with stderr merged into stdout (so the order of warnings and tasks is kept)."""
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), playbook]
    if extra:
        argv += ["-e", json.dumps(extra)]
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), NO_COLOR="1", ANSIBLE_NOCOLOR="1",
                    ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default", INCIDENT_ROOT=str(root),
                    INCIDENT_FALLBACK_ROOT=str(fallback), PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    full_env.update(env or {})
    for key in ("INCIDENT_ID", "INCIDENT_RECORD_DIR", "INCIDENT_RECORD_PROBLEM"):
        full_env.pop(key, None)
    return subprocess.run(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout,
                          env=full_env, check=False)


def incident_of(out):
    for line in out.splitlines():
        if line.startswith("Incident INC-") and "recording timeline to" in line:
            return line.split()[1].rstrip(":"), line.rsplit(" ", 1)[1]
    raise AssertionError("no incident line:\n" + out[-3000:])


def events_of(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def warned_before_first_task(out, incident_id, problem):
    first_task = out.index("TASK [")
    warning = out.index("[WARNING]: Incident %s: cannot write" % incident_id)
    assert warning < first_task, out[:3000]
    assert problem in out[warning:first_task], out[warning:first_task]


def check_fallback_record(out, fallback, problem):
    incident_id, timeline = incident_of(out)
    warned_before_first_task(out, incident_id, problem)
    assert timeline.startswith(str(fallback)), timeline
    events = events_of(timeline)
    assert events[0]["type"] == "run_start" and problem in events[0]["record_problem"]
    assert [e["event"] for e in events if e["type"] == "milestone"][:2] == ["declared", "mitigated"]
    end = events[-1]
    assert end["type"] == "run_end" and end["lost_events"] == 0 and end["lost"] == []
    directory = os.path.dirname(timeline)
    summary = json.load(open(os.path.join(directory, "summary.json")))
    assert summary["metrics"]["mttm_s"] is not None and summary["metrics"]["mttm_s"] >= 0
    captures = [d for d in os.listdir(os.path.join(directory, "evidence")) if os.path.isdir(os.path.join(directory, "evidence", d))]
    assert len(captures) == 1 and not os.path.exists(os.path.join(directory, "evidence", captures[0], "INCOMPLETE"))
    return incident_id, events


def test_full_incident_root_moves_the_record_to_the_fallback(tmp_path, mounts):
    root = mount_tmpfs(tmp_path / "root")
    mounts.append(root)
    fill(root)
    playbook = tmp_path / "drill.yml"
    playbook.write_text(SMALL)
    res = play(str(playbook), root, tmp_path / "fallback")
    assert res.returncode == 0, res.stdout[-4000:]
    check_fallback_record(res.stdout, tmp_path / "fallback", "No space left on device")


def test_the_responder_console_names_the_storage_problem(tmp_path, mounts):
    root = mount_tmpfs(tmp_path / "root")
    mounts.append(root)
    fill(root)
    playbook = tmp_path / "drill.yml"
    playbook.write_text(SMALL)
    res = play(str(playbook), root, tmp_path / "fallback", env={"ANSIBLE_STDOUT_CALLBACK": "incident.response.responder"})
    assert res.returncode == 0, res.stdout[-4000:]
    out = res.stdout
    assert out.index("No space left on device") < out.index("milestone  DECLARED"), out[:2000]
    assert "Record     FAILED STORAGE: cannot write" in out and "Report     %s" % (tmp_path / "fallback") in out, out[-2000:]


def test_read_only_root_records_to_the_fallback_without_the_enable_the_callback_error(tmp_path, mounts):
    root = tmp_path / "root"
    root.mkdir()
    (root / "INC-2026-11-23-001").mkdir()  # an earlier incident: the new id must not collide with it
    mounts.append(make_read_only(root))
    playbook = tmp_path / "drill.yml"
    playbook.write_text(SMALL)
    res = play(str(playbook), root, tmp_path / "fallback")
    assert res.returncode == 0, res.stdout[-4000:]
    assert "enable the incident.response.timeline callback" not in res.stdout
    incident_id, _events = check_fallback_record(res.stdout, tmp_path / "fallback", "Read-only file system")
    assert not os.path.exists(os.path.join(str(root), incident_id))


def test_disks_filling_midway_say_exactly_which_events_were_lost(tmp_path, mounts):
    root, fallback = mount_tmpfs(tmp_path / "root"), mount_tmpfs(tmp_path / "fallback", "128k")
    mounts += [root, fallback]
    playbook = tmp_path / "midrun.yml"
    playbook.write_text(MIDRUN)
    res = play(str(playbook), root, fallback, extra={"fill": [root, fallback]})
    assert res.returncode == 0, res.stdout[-4000:]
    incident_id, timeline = incident_of(res.stdout)
    events = events_of(timeline)  # a torn fragment would fail json.loads here: fenced lines only
    end = events[-1]
    assert end["type"] == "run_end"
    assert [e.get("task") for e in end["lost"]] == ["Fill both disks", "Lost one", "Lost two"], end["lost"]
    assert end["lost_events"] == 3
    assert [e["task"] for e in events if e["type"] == "task"] == ["Before", "Free the incident disk", "After"]
    assert "3 event(s) lost" in res.stdout and "Lost two" in res.stdout
    md = open(os.path.join(root, incident_id, "timeline.md")).read()
    assert "3 events lost" in md


# -- P0 game days on the lab ------------------------------------------------------------------------
def restore_lab():
    subprocess.run([os.path.join(REPO, "lab", "faults.py"), "reset", "api-kill"], capture_output=True, check=False)


@pytest.mark.parametrize("fault", ["full", "read-only"])
def test_p0_game_day_with_a_broken_incident_disk_still_heals_the_api(healthy_lab, tmp_path, mounts, fault):
    if fault == "full":
        root = mount_tmpfs(tmp_path / "root")
        fill(root)
        problem = "No space left on device"
    else:
        root = make_read_only(tmp_path / "root")
        problem = "Read-only file system"
    mounts.append(root)
    healthy_lab.faults("inject", "api-kill")
    try:
        started = time.monotonic()
        res = play("playbooks/p0-outage.yml", root, tmp_path / "fallback",
                   env={"INCIDENT_STATE_DIR": str(tmp_path / "state")}, timeout=240)
        elapsed = time.monotonic() - started
        assert res.returncode == 0, res.stdout[-6000:]
        assert http(url("api", "/health/ready"))[0] == 200  # remediation completed
        incident_id, timeline = incident_of(res.stdout)
        warned_before_first_task(res.stdout, incident_id, problem)
        events = events_of(timeline)
        milestones = [e["event"] for e in events if e["type"] == "milestone"]
        for wanted in ("detected", "declared", "mitigated", "resolved"):
            assert wanted in milestones, milestones
        assert events[-1]["type"] == "run_end" and events[-1]["lost_events"] == 0
        changed = [e["task"] for e in events if e["type"] == "task" and e["status"] == "changed"]
        assert "Capture evidence for " + incident_id in changed  # the evidence went to the fallback, not skipped
        summary = json.load(open(os.path.join(os.path.dirname(timeline), "summary.json")))
        assert summary["status"] == "resolved" and summary["metrics"]["mttm_s"] >= 0
        print("p0 game day (%s root): %.1fs" % (fault, elapsed))
    finally:
        restore_lab()
