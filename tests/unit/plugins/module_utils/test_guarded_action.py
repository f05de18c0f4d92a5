"""The one guarded-action path of the acting modules (Docker and Kubernetes): lock, rate limit, image record,
and refusals or failures turned into one module failure."""
import multiprocessing
import time

import pytest

from ansible_collections.incident.response.plugins.module_utils.guard import TargetLock, image_history
from ansible_collections.incident.response.plugins.module_utils.guarded_action import RateLimitOptions, guarded_action

LIMIT = RateLimitOptions("max_actions", "action_window")


class FakeModule(object):
    """The parts of AnsibleModule the path uses; fail_json/exit_json end the 'module' like the real ones."""

    def __init__(self, tmp_path, check_mode=False, **params):
        self.params = dict(state_dir=str(tmp_path), lock_timeout=0.3, max_actions=2, action_window=600, **params)
        self.check_mode = check_mode
        self.warnings = []
        self.failed = None

    def warn(self, msg):
        self.warnings.append(msg)

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)


class ApiError(Exception):
    pass


def test_consume_counts_and_the_refusal_names_the_module_options(tmp_path):
    for used in (1, 2):
        result = {}
        with guarded_action(FakeModule(tmp_path), "k8s-default-api", "restart of api", (ApiError,), result,
                            LIMIT) as guard:
            assert guard.consume() == dict(used=used, max=2, window_s=600)
        assert result["rate_limit"]["used"] == used and "lock_waited_s" in result
    module, result = FakeModule(tmp_path), {"changed": False}
    with pytest.raises(SystemExit):
        with guarded_action(module, "k8s-default-api", "restart of api", (ApiError,), result, LIMIT) as guard:
            guard.consume()
            pytest.fail("the body must not go on past a spent rate limit")
    msg = module.failed["msg"]
    assert msg.startswith("restart of api refused by a guard rail: rate limit")
    assert "raise max_actions/action_window" in msg and "max_restarts" not in msg
    assert module.failed["changed"] is False  # the result fields travel with the failure


def test_docker_option_names_are_named_for_docker_modules(tmp_path):
    docker = RateLimitOptions("max_restarts", "restart_window")
    with guarded_action(FakeModule(tmp_path, max_restarts=1, restart_window=60), "docker-x-api", "restart",
                        limit=docker) as guard:
        guard.consume()
    module = FakeModule(tmp_path, max_restarts=1, restart_window=60)
    with pytest.raises(SystemExit):
        with guarded_action(module, "docker-x-api", "restart", limit=docker) as guard:
            guard.consume()
    assert "raise max_restarts/restart_window" in module.failed["msg"]


def test_check_mode_neither_locks_nor_counts_and_warns_when_it_would_be_refused(tmp_path):
    for _n in range(2):
        with guarded_action(FakeModule(tmp_path), "t", "act", limit=LIMIT) as guard:
            guard.consume()
    dry = FakeModule(tmp_path, check_mode=True)
    with TargetLock(str(tmp_path), "t", 5):  # held by someone else: check mode does not wait for it
        with guarded_action(dry, "t", "act", limit=LIMIT) as guard:
            assert guard.consume()["used"] == 2
            assert not guard.record(("p", "s"), {"Config": {"Image": "a:1"}, "Image": "sha256:a"})
    assert dry.failed is None and "would refuse" in dry.warnings[0]
    assert image_history(str(tmp_path), "p", "s") == []


def test_errors_of_the_api_fail_with_what_was_being_done_and_the_explanation(tmp_path):
    module = FakeModule(tmp_path)
    with pytest.raises(SystemExit):
        with guarded_action(module, "t", "rollback of api", (ApiError,), {"changed": True},
                            explain=lambda exc: "; put back as it was"):
            raise ApiError("engine said no")
    assert module.failed["msg"] == "rollback of api failed: engine said no; put back as it was"
    with pytest.raises(KeyError):  # anything else is a bug: it is not dressed up as an API failure
        with guarded_action(FakeModule(tmp_path), "t", "act", (ApiError,)):
            raise KeyError("x")


def test_record_remembers_the_image_before_the_change(tmp_path):
    with guarded_action(FakeModule(tmp_path), "t", "act") as guard:
        assert guard.record(("shop", "api"), {"Config": {"Image": "shop/api:2"}, "Image": "sha256:b"})
    assert [h["image"] for h in image_history(str(tmp_path), "shop", "api")] == ["shop/api:2"]


def _hold(state_dir, seconds, started):
    with TargetLock(state_dir, "t", 5):
        started.set()
        time.sleep(seconds)


def test_a_held_lock_is_a_guard_rail_refusal(tmp_path):
    started = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(tmp_path), 1.0, started))
    holder.start()
    try:
        assert started.wait(5)
        module = FakeModule(tmp_path)
        with pytest.raises(SystemExit):
            with guarded_action(module, "t", "scaling api"):
                pytest.fail("the body must not run without the lock")
        assert module.failed["msg"].startswith("scaling api refused by a guard rail: lock: another response")
    finally:
        holder.join(5)
