"""Unit tests of the pure parts of the data modules: check bounds, Redis sizes and memory findings."""
import pytest

from ansible_collections.incident.response.plugins.modules import postgres_diagnostics as pgd
from ansible_collections.incident.response.plugins.modules.redis_diagnostics import client_entry, memory_findings
from ansible_collections.incident.response.plugins.modules.redis_maintenance import parse_bytes


@pytest.mark.parametrize("value, low, high, ok", [
    (0, None, 0, True), (5, None, 0, False), (0, 1, None, False), (2, 1, None, True),
    (None, None, 0, True), (None, 1, None, False), ("text", None, 1, False), (1.5, 1, 2, True),
])
def test_check_bounds(value, low, high, ok):
    assert pgd.within(value, low, high) is ok


def test_bounds_text_and_first_value():
    assert pgd.bounds(1, None) == "min 1" and pgd.bounds(None, 0) == "max 0" and pgd.bounds(1, 5) == "min 1, max 5"
    assert pgd.first_value([{"count": 3}]) == 3 and pgd.first_value([]) is None and pgd.first_value([{"b": True}]) == 1


def test_no_application_checks_are_built_in():
    # Only the inventory knows an application's schema: the module ships no table names.
    assert not hasattr(pgd, "DEFAULT_CHECKS")
    assert pgd.merged_checks(FakeModule(None)) == {}


class FakeModule(object):
    def __init__(self, checks):
        self.params = dict(checks=checks)

    def fail_json(self, msg, **_kwargs):
        raise AssertionError(msg)


def test_checks_are_taken_as_data_and_validated():
    extra = {"sql": "SELECT 1", "max": 1, "service": "app", "playbook": "api-down"}
    merged = pgd.merged_checks(FakeModule({"skipped": None, "extra": extra}))
    assert set(merged) == {"extra"} and merged["extra"]["max"] == 1
    for bad, why in [({"x": {"max": 1}}, "'sql' string"), ({"x": {"sql": "SELECT 1", "mx": 1}}, "unknown keys mx"),
                     ({"x": {"sql": "SELECT 1", "max": "a lot"}}, "must be a number"),
                     ({"x": {"sql": "SELECT 1", "severity": "page"}}, "severity")]:
        with pytest.raises(AssertionError, match=why):
            pgd.merged_checks(FakeModule(bad))


@pytest.mark.parametrize("text, size", [("67108864", 67108864), ("64mb", 64 * 1024 ** 2), ("1gb", 1024 ** 3),
                                        ("1g", 10 ** 9), ("100k", 100000), ("0", 0), (" 2KB ", 2048),
                                        ("12x", None), ("-1", None), ("mb", None)])
def test_parse_bytes_follows_redis_units(text, size):
    assert parse_bytes(text) == size


def test_memory_findings():
    mem = dict(used_bytes=99, max_bytes=100, percent=99.0, policy="noeviction")
    (finding,) = memory_findings(mem, 80, 95)
    assert finding["severity"] == "critical" and "writes fail with OOM" in finding["message"]
    assert memory_findings(dict(mem, percent=85.0), 80, 95)[0]["severity"] == "warning"
    assert "evicted" in memory_findings(dict(mem, policy="allkeys-lru"), 80, 95)[0]["message"]
    assert memory_findings(dict(mem, percent=50.0), 80, 95) == []
    assert memory_findings(dict(mem, max_bytes=0, percent=None), 80, 95) == []


def test_client_entry_numbers():
    entry = client_entry({"id": "7", "addr": "127.0.0.1:5", "name": "", "age": "3", "idle": "0", "db": "0", "cmd": "ping", "fd": "8"})
    assert entry == {"id": 7, "addr": "127.0.0.1:5", "name": "", "age": 3, "idle": 0, "db": 0, "cmd": "ping"}
