"""Guard rails: rate limit, per-target lock (across processes), confirm flag, image history."""
import multiprocessing
import os
import time

import pytest

from ansible_collections.incident.response.plugins.module_utils import guard
from ansible_collections.incident.response.plugins.module_utils.guard import (
    GuardError, RateLimit, TargetLock, image_history, previous_image, record_image, require_confirm,
    resolve_state_dir, target_key)


class Clock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def test_rate_limit_refuses_the_n_plus_first_and_names_the_limit_and_when_it_frees(tmp_path):
    clock = Clock()
    limit = RateLimit(str(tmp_path), "docker-lab-api", 2, 600, now=clock)
    assert limit.acquire() == 1
    clock.now += 100
    assert limit.acquire() == 2
    clock.now += 50
    with pytest.raises(GuardError) as err:
        limit.acquire()
    msg = str(err.value)
    assert "docker-lab-api" in msg and "2 times" in msg and "max 2 per 600s" in msg and "frees in 450s" in msg
    assert limit.status() == (2, 450.0)
    clock.now += 451  # the first one left the window
    assert limit.acquire() == 2


def test_rate_limit_is_per_key_and_zero_disables_it(tmp_path):
    clock = Clock()
    RateLimit(str(tmp_path), "a", 1, 60, now=clock).acquire()
    RateLimit(str(tmp_path), "b", 1, 60, now=clock).acquire()
    with pytest.raises(GuardError):
        RateLimit(str(tmp_path), "a", 1, 60, now=clock).acquire()
    unlimited = RateLimit(str(tmp_path), "a", 0, 60, now=clock)
    assert unlimited.allowed() and unlimited.acquire() == 0


def _hold(state_dir, key, seconds, started):
    with TargetLock(state_dir, key, 5):
        started.set()
        time.sleep(seconds)


def test_target_lock_serialises_processes_and_times_out_with_a_clear_message(tmp_path):
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(tmp_path), "docker-lab-api", 0.6, started))
    holder.start()
    try:
        assert started.wait(5)
        with pytest.raises(GuardError) as err:
            TargetLock(str(tmp_path), "docker-lab-api", 0.1).acquire()
        assert "another response is acting on docker-lab-api" in str(err.value) and "lock_timeout" in str(err.value)
        with TargetLock(str(tmp_path), "docker-lab-api", 5) as lock:
            assert lock.waited_s >= 0.2  # it waited for the holder to finish
        with TargetLock(str(tmp_path), "docker-lab-other", 0.1) as other:  # other targets are independent
            assert other.waited_s < 0.1
    finally:
        holder.join(5)


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []
        self.failed = None

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


def test_require_confirm_names_the_flag():
    assert require_confirm(FakeModule({"confirm_flush": True}), "confirm_flush")
    module = FakeModule({"confirm_flush": False})
    with pytest.raises(SystemExit):
        require_confirm(module, "confirm_flush", "FLUSHALL")
    assert module.failed["msg"] == "FLUSHALL refused: set confirm_flush=true to confirm it"
    dry = FakeModule({"confirm_flush": None}, check_mode=True)
    assert require_confirm(dry, "confirm_flush") is False and "confirm_flush=true" in dry.warnings[0]


def test_image_history_knows_the_previous_image(tmp_path):
    d = str(tmp_path)
    assert previous_image(d, "lab", "api", "sha256:a") is None
    assert record_image(d, "lab", "api", "api:1.0", "sha256:a")
    assert not record_image(d, "lab", "api", "api:1.0", "sha256:a")  # same image twice is one entry
    record_image(d, "lab", "api", "api:1.1", "sha256:b")
    assert previous_image(d, "lab", "api", "sha256:b")["image"] == "api:1.0"
    assert previous_image(d, "lab", "api", "sha256:c")["image"] == "api:1.1"
    record_image(d, "lab", "api", "api:1.0", "sha256:a")  # back to a: it moves to the end
    assert [h["image"] for h in image_history(d, "lab", "api")] == ["api:1.1", "api:1.0"]
    assert previous_image(d, "lab", "worker") is None


def test_history_is_bounded(tmp_path):
    for n in range(guard.HISTORY_LIMIT + 5):
        record_image(str(tmp_path), "p", "s", "img:%d" % n, "sha256:%d" % n)
    history = image_history(str(tmp_path), "p", "s")
    assert len(history) == guard.HISTORY_LIMIT and history[-1]["image"] == "img:%d" % (guard.HISTORY_LIMIT + 4)


def test_state_dir_from_option_env_or_default(tmp_path, monkeypatch):
    monkeypatch.setenv("INCIDENT_STATE_DIR", str(tmp_path / "env"))
    assert resolve_state_dir(str(tmp_path / "opt")) == str(tmp_path / "opt")
    assert resolve_state_dir() == str(tmp_path / "env") and os.path.isdir(str(tmp_path / "env"))
    monkeypatch.delenv("INCIDENT_STATE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_state_dir() == str(tmp_path / "home" / ".local/state/incident.response")


def test_target_keys_are_file_safe(tmp_path):
    key = target_key("incident-lab", "api")
    assert key == "docker-incident-lab-api" and target_key(container="x") == "docker-container-x"
    with TargetLock(str(tmp_path), "../../etc/passwd", 1) as lock:
        assert os.path.dirname(lock.path) == str(tmp_path / "locks")


def test_an_image_rolled_back_from_is_never_previous_again(tmp_path):
    d = str(tmp_path)
    record_image(d, "lab", "api", "api:good", "sha256:a")
    record_image(d, "lab", "api", "api:broken", "sha256:b")
    guard.mark_bad(d, "lab", "api", "sha256:b")
    record_image(d, "lab", "api", "api:good", "sha256:a")  # after the rollback
    assert previous_image(d, "lab", "api", "sha256:a") is None
    record_image(d, "lab", "api", "api:broken", "sha256:b")  # redeployed by hand: still known bad
    assert image_history(d, "lab", "api")[-1]["bad"] is True
    assert previous_image(d, "lab", "api", "sha256:b")["image"] == "api:good"
