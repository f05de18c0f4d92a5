"""Runs survive the receiver: SIGKILL of a real receiver process at any point of a real ansible-runner
run, then a restart. Every acknowledged alert must end with exactly one finished run whose effect (one
line appended by the playbook) happened exactly once: a live run is adopted, one that ended while the
receiver was down is recorded, one that never started (or whose runner died) is launched again.
No lab service is touched; about 2 minutes in all on 2 cores."""
import json
import os
import random
import signal
import sqlite3
import threading
import time

import pytest
import yaml
from incident_receiver.store import Store

from tests.integration.receiver_support import ReceiverProcess, am_alert, am_payload, write_config

pytestmark = pytest.mark.lab   # collected with the integration suite (takes the lab lock; touches no container)

# Where each trial aims its kill: a trigger (the request sent, or a trace of the run reaching a point),
# then a delay: random up to `spread` seconds; after the request, 0, 6, ... 36 ms in turn (acknowledged
# or not, claimed, launched). 20 trials, the points interleaved.
SPREAD = {"launch": 0.6, "first-task": 0.2, "mid-play": 0.3, "after-stats": 0.03}
REQUEST_DELAYS = [0.0, 0.018, 0.006, 0.03, 0.012, 0.036, 0.024]
TARGETS = ["request", "launch", "first-task", "mid-play", "after-stats", "request"] * 3 + ["request", "first-task"]
BEFORE_LAUNCH = ("unacked", "queued", "claimed")
FINISHED = ("succeeded", "failed", "interrupted", "canceled")

PLAYBOOK = """---
- name: Crash-test scenario with one observable effect per execution
  hosts: localhost
  gather_facts: false
  vars:
    crash_first_sleep: "0.3"
  tasks:
    - name: First task
      ansible.builtin.command: sleep {{ crash_first_sleep | float }}
      changed_when: false

    - name: Effect (appends one line per execution; never idempotent, so a double run shows)
      ansible.builtin.shell: printf 'effect %s %s\\n' {{ incident_alert.labels.trial | quote }} "$$" >> {{ crash_effect_file | quote }}
      changed_when: true

    - name: Mid-play pause
      ansible.builtin.command: sleep 0.5
      changed_when: false

    - name: Last task
      ansible.builtin.debug:
        msg: done
"""


class Trial:
    """One receiver with its own config, port, state dir and effect file; job 1 is the trial's run."""

    def __init__(self, root, name, launcher="warm", **route_vars):
        self.dir = root / name
        self.dir.mkdir()
        (self.dir / "playbooks").mkdir()
        (self.dir / "playbooks" / "crash_effect.yml").write_text(PLAYBOOK)
        self.effect_file = str(self.dir / "effect.log")
        routes = {"routes": [{"name": "crash", "match": {"alertname": "CrashTest"}, "playbook": "crash_effect.yml",
                              "extra_vars": dict({"crash_effect_file": self.effect_file}, **route_vars)}],
                  "default": {"playbook": None}}
        self.rcv = ReceiverProcess(write_config(self.dir, routes, playbooks_dir=str(self.dir / "playbooks"),
                                                dispatch={"launcher": launcher}))
        self.state = str(self.dir / "state")
        self.pdd = os.path.join(self.state, "runs", "job-1")
        self.name = name

    def post(self):
        """Alertmanager's delivery: (status, body); a receiver killed mid-request answers nothing."""
        return self.rcv.post("/alertmanager", am_payload(am_alert("CrashTest", trial=self.name)))

    def effects(self):
        try:
            with open(self.effect_file) as fh:
                return [line.split() for line in fh if line.strip()]
        except FileNotFoundError:
            return []

    def events(self, attempt=1):
        """Event names in one attempt's runner artifacts (final and partial event files)."""
        path = os.path.join(self.pdd, "artifacts", "attempt-%d" % attempt, "job_events")
        names = set()
        for entry in os.listdir(path) if os.path.isdir(path) else []:
            try:
                with open(os.path.join(path, entry)) as fh:
                    names.add(json.load(fh).get("event"))
            except (OSError, ValueError):
                continue
        return names

    def job_row(self):
        try:
            db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.state, "receiver.db"), uri=True, timeout=5)
        except sqlite3.OperationalError:
            return None
        try:
            row = db.execute("SELECT status, attempts, pid FROM jobs WHERE id=1").fetchone()
        finally:
            db.close()
        return dict(zip(("status", "attempts", "pid"), row)) if row else None

    def stored_phase(self):
        """How far the store got: unacked, queued, claimed (no process recorded yet), launched, finished."""
        row = self.job_row()
        if row is None:
            return "unacked"
        if row["status"] == "queued":
            return "queued"
        if row["status"] in FINISHED:
            return "finished"
        return "launched" if row["pid"] else "claimed"

    def phase(self):
        """Where the run is now, from the store and the run's own traces."""
        stored = self.stored_phase()
        if stored != "launched":
            return stored
        events = self.events()
        if "playbook_on_stats" in events:
            return "after-stats"
        if self.effects():
            return "mid-play"
        if "playbook_on_task_start" in events:
            return "first-task"
        return "launched"

    def reached(self, target):
        if target == "request":
            return True
        if target == "launch":
            return os.path.exists(os.path.join(self.pdd, "attempt-1.log"))
        if target == "first-task":
            return "playbook_on_task_start" in self.events()
        if target == "mid-play":
            return bool(self.effects())
        return "playbook_on_stats" in self.events()

    def wait_finished(self, timeout=90):
        runs = self.rcv.wait_runs(lambda r: r and all(x["status"] in FINISHED for x in r), timeout,
                                  "the run of %s to finish" % self.name)
        return runs

    def leftovers(self):
        """Live processes still naming this trial's state dir (a run that outlived everything)."""
        needle = self.state.encode()
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open("/proc/%s/cmdline" % entry, "rb") as fh:
                        if needle in fh.read():
                            out.append(int(entry))
                except OSError:
                    continue
        return out

    def cleanup(self):
        self.rcv.stop()
        for pid in self.leftovers():          # only processes of this trial's runs
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("timed out waiting for " + what)


def test_sigkill_at_any_point_of_a_run_leaves_one_finished_run_and_one_effect(tmp_path):
    """With the default (warm) launcher; the cold one is covered by the parametrized tests below."""
    rng = random.Random(12)
    request_delays = iter(REQUEST_DELAYS)
    started = time.monotonic()
    table = []
    trials = []
    try:
        for i, target in enumerate(TARGETS):
            trial = Trial(tmp_path, "t%02d" % i)
            trials.append(trial)
            trial.rcv.start()
            delivery = []
            sender = threading.Thread(target=lambda: delivery.append(trial.post()))  # noqa: B023
            sender.start()
            wait_until(lambda: trial.reached(target) or trial.phase() == "finished", 60, target)  # noqa: B023
            time.sleep(next(request_delays) if target == "request" else rng.uniform(0, SPREAD[target]))
            hit = trial.phase()
            trial.rcv.kill9()
            if hit in BEFORE_LAUNCH:        # exact: the store as the dead receiver left it
                hit = trial.stored_phase()
            attempts_at_kill = (trial.job_row() or {}).get("attempts", 0)
            sender.join(15)
            trial.rcv.start()
            if delivery[0][0] != 200:      # not acknowledged: Alertmanager sends it again
                hit += "+retry"
                status, body = trial.post()
                assert status == 200, body
            runs = trial.wait_finished()
            assert len(runs) == 1 and runs[0]["status"] == "succeeded", (hit, runs, trial.rcv.read_log())
            effects = trial.effects()
            assert len(effects) == 1 and effects[0][1] == trial.name, (hit, effects, runs)
            table.append((trial.name, target, hit, attempts_at_kill, runs[0]["attempts"]))
            trial.rcv.stop()
            assert not trial.leftovers(), (hit, trial.leftovers())
        time.sleep(1)         # a stray run would append a second line now
        for trial in trials:
            assert len(trial.effects()) == 1, (trial.name, trial.effects())
    finally:
        for trial in trials:
            trial.cleanup()
    elapsed = time.monotonic() - started
    print("\ncrash loop: %d trials in %.1fs" % (len(table), elapsed))
    for row in table:
        print("  %s target %-11s hit %-13s attempts at the kill %d, in the end %d" % row)
    hits = {hit.split("+")[0] for _name, _target, hit, _at_kill, _attempts in table}
    # The kills really spread over the run: before the launch, inside the play, after its stats.
    assert hits & set(BEFORE_LAUNCH) and hits & {"first-task", "mid-play"} and "after-stats" in hits, table
    # A run alive at the kill is adopted, never launched twice.
    assert all(attempts == 1 for _n, _t, hit, _k, attempts in table if hit.split("+")[0] not in BEFORE_LAUNCH), table


def test_a_run_claimed_but_never_launched_is_launched_after_the_restart(tmp_path):
    """The receiver died after committing the claim and attempt 1, before the process existed."""
    trial = Trial(tmp_path, "claimed")
    try:
        _ack_while_dispatch_is_off(trial)            # job 1 acknowledged and queued in the trial's store
        store = Store(os.path.join(trial.state, "receiver.db"))
        assert store.claim(1, trial.pdd) and store.begin_attempt(1) == 1
        store.close()
        trial.rcv.start()
        runs = trial.wait_finished()
        assert runs[0]["status"] == "succeeded" and runs[0]["attempts"] == 2, runs
        assert len(trial.effects()) == 1
    finally:
        trial.cleanup()


def _ack_while_dispatch_is_off(trial):
    """Acknowledge the trial's alert with a receiver on the same state dir whose dispatch is off."""
    with open(trial.rcv.config) as fh:
        doc = yaml.safe_load(fh)
    doc["dispatch"]["backend"] = "none"
    off = trial.rcv.config + ".off.yml"
    with open(off, "w") as fh:
        yaml.safe_dump(doc, fh)
    rcv = ReceiverProcess(off).start()
    try:
        status, body = rcv.post("/alertmanager", am_payload(am_alert("CrashTest", trial=trial.name)))
        assert status == 200 and body["queued"], body
    finally:
        rcv.stop()


@pytest.mark.parametrize("launcher", ["warm", "cold"])
def test_a_run_that_ended_while_the_receiver_was_down_is_recorded_not_rerun(tmp_path, launcher):
    trial = Trial(tmp_path, "ended", launcher)
    try:
        trial.rcv.start()
        trial.post()
        wait_until(lambda: trial.reached("first-task"), 60, "the first task")
        trial.rcv.kill9()
        wait_until(lambda: os.path.exists(os.path.join(trial.pdd, "artifacts", "attempt-1", "status")), 60,
                   "the detached run to end on its own")
        trial.rcv.start()
        runs = trial.wait_finished()
        assert runs[0]["status"] == "succeeded" and runs[0]["attempts"] == 1, runs
        assert len(trial.effects()) == 1
    finally:
        trial.cleanup()


@pytest.mark.parametrize("launcher", ["warm", "cold"])
def test_a_run_whose_runner_was_killed_is_launched_again(tmp_path, launcher):
    """The run's own process dies (not the receiver): no outcome, so it is launched again, once."""
    trial = Trial(tmp_path, "runner", launcher, crash_first_sleep="2")
    try:
        trial.rcv.start()
        trial.post()
        wait_until(lambda: trial.reached("first-task"), 60, "the first task")
        pid = trial.job_row()["pid"]
        assert os.getsid(pid) == pid and os.readlink("/proc/%d/fd/0" % pid) == os.devnull  # own session, no stdin
        os.kill(pid, signal.SIGKILL)
        runs = trial.wait_finished()
        assert runs[0]["status"] == "succeeded" and runs[0]["attempts"] == 2, runs
        assert len(trial.effects()) == 1, trial.effects()       # killed before the effect: it happened once
    finally:
        trial.cleanup()
