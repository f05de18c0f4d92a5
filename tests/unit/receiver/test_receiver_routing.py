import os

import pytest

from incident_receiver import routing, validate
from incident_receiver.routing import Route, RouteError, Router, safe_playbook

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAB_ROUTES = os.path.join(REPO, "extensions", "receiver", "routes.yml")


@pytest.fixture(scope="module")
def lab_router(tmp_path_factory):
    return Router(routing.load(LAB_ROUTES, REPO), str(tmp_path_factory.mktemp("playbooks")))


def alert(name, **labels):
    [out] = validate.generic({"alertname": name, "labels": labels})
    return out


@pytest.mark.parametrize("name, labels, playbook", [
    ("ServiceDown", {"job": "api", "severity": "P0"}, "api-down.yml"),
    ("TaskSchedulerAPIDown", {"service": "api", "severity": "P0"}, "api-down.yml"),
    ("ServiceDown", {"job": "postgres", "severity": "P0"}, "database-down.yml"),
    ("TaskSchedulerDatabaseDown", {"service": "postgres"}, "database-down.yml"),
    ("NoActiveWorkers", {"service": "worker"}, "no-active-workers.yml"),
    ("DatabaseSlowQueries", {"service": "postgres"}, "p2-db-performance.yml"),
    ("ConnectionPoolExhausted", {"service": "postgres"}, "connection-pool-exhausted.yml"),
    ("RedisMemoryHigh", {"service": "redis"}, "redis-memory.yml"),
    ("StuckSagas", {"service": "api"}, "p1-saga-failures.yml"),
    ("DiskSpaceLow", {"service": "api"}, "disk-full.yml"),
    ("HighErrorRate", {"service": "api"}, "high-error-rate.yml"),
    ("ServiceDown", {"job": "redis"}, "p0-outage.yml"),
    ("SomethingNew", {}, "respond.yml"),
    ("HighResponseTime", {"severity": "P2"}, None),                 # record only
    ("HighResponseTime", {"severity": "P0"}, "p2-db-performance.yml"),  # ...unless it is severe
    ("WorkQueueBacklog", {"severity": "warning"}, None),
    ("WorkQueueBacklog", {"severity": "critical"}, "no-active-workers.yml"),
])
def test_lab_alerts_route_to_the_scenario_playbooks(lab_router, name, labels, playbook):
    enriched = lab_router.enrich(alert(name, **labels))
    route = lab_router.route(enriched)
    assert (route.playbook if route.runs_unattended(enriched) else None) == playbook


@pytest.mark.parametrize("severity, priority, sev", [
    ("P0", "P0", "SEV1"), ("SEV1", "P0", "SEV1"), ("sev2", "P1", "SEV2"), ("critical", "P0", "SEV1"),
    ("error", "P1", "SEV2"), ("warning", "P2", "SEV3"), ("info", "P3", "SEV4"), ("SEV4", "P3", "SEV4"),
    ("", "P2", "SEV3"), ("bogus", "P2", "SEV3"),
])
def test_severity_mapping(lab_router, severity, priority, sev):
    enriched = lab_router.enrich(alert("X", severity=severity))
    assert (enriched["priority"], enriched["sev"]) == (priority, sev)


def test_service_comes_from_service_then_job(lab_router):
    assert lab_router.enrich(alert("X", service="api", job="node"))["service"] == "api"
    assert lab_router.enrich(alert("X", job="postgres"))["service"] == "postgres"
    assert lab_router.enrich(alert("X"))["service"] == "unknown"


def test_api_down_alerts_share_one_dedupe_key(lab_router):
    one = lab_router.enrich(alert("ServiceDown", job="api"))
    two = lab_router.enrich(alert("TaskSchedulerAPIDown", service="api"))
    assert lab_router.route(one).name != lab_router.route(two).name          # two routes, one run (dedupe_as)
    assert lab_router.route(one).dedupe_key(one) == lab_router.route(two).dedupe_key(two) == "api-down|service=api"
    other = lab_router.enrich(alert("DiskSpaceLow", service="api"))
    assert lab_router.route(other).dedupe_key(other) == "disk-full|fp=" + other["fingerprint"]


def test_extends_layers_the_table_under_the_receivers_keys(tmp_path):
    (tmp_path / "base.yml").write_text("severity_aliases: {boom: P0}\ncooldown_s: 10\nroutes: [{name: a, playbook: a.yml}]\n")
    (tmp_path / "routes.yml").write_text("extends: base.yml\ncooldown_s: 99\n")
    doc = routing.load(str(tmp_path / "routes.yml"), str(tmp_path))
    assert doc == {"severity_aliases": {"boom": "P0"}, "cooldown_s": 99, "routes": [{"name": "a", "playbook": "a.yml"}]}
    router = Router(doc, str(tmp_path))
    assert router.aliases == {"boom": "P0"} and router.cooldown_s == 99        # the table's words only
    (tmp_path / "base.yml").write_text("extends: routes.yml\n")
    with pytest.raises(RouteError, match="loops back"):
        routing.load(str(tmp_path / "routes.yml"), str(tmp_path))
    (tmp_path / "routes.yml").write_text("extends: missing.yml\n")
    with pytest.raises(RouteError, match="missing.yml"):
        routing.load(str(tmp_path / "routes.yml"), str(tmp_path))


def test_unattended_priority_records_below_and_dedupe_as_is_checked():
    route = Route({"name": "r", "playbook": "x.yml", "unattended_priority": ["P0"]}, "r")
    router = Router({"routes": []}, "/nonexistent")
    assert route.runs_unattended(router.enrich(alert("X", severity="critical")))
    assert not route.runs_unattended(router.enrich(alert("X", severity="P1")))
    with pytest.raises(RouteError, match="unattended_priority"):
        Route({"name": "r", "playbook": "x.yml", "unattended_priority": ["P7"]}, "r")
    with pytest.raises(RouteError, match="dedupe_as"):
        Route({"name": "r", "playbook": "x.yml", "dedupe_as": "a b"}, "r")


def test_regex_match_is_a_full_match():
    route = Route({"name": "r", "match_re": {"instance": r"db-\d+"}, "playbook": "x.yml"}, "r")
    router = Router({"routes": []}, "/nonexistent")
    assert route.matches(router.enrich(alert("X", instance="db-12")))
    assert not route.matches(router.enrich(alert("X", instance="db-12.evil")))
    assert not route.matches(router.enrich(alert("X")))


@pytest.mark.parametrize("name", [
    "../p0-outage.yml", "../../etc/passwd", "/etc/passwd", "/abs/p0.yml", "sub/p0.yml", "p0.yml/..", "..yml",
    "p0-outage.yml;rm -rf /", "p0 outage.yml", "$(id).yml", "p0.sh", ".hidden.yml", "", "p0\x00.yml", "..\\x.yml",
])
def test_playbook_names_that_could_escape_are_rejected(tmp_path, name):
    with pytest.raises(RouteError):
        Route({"name": "r", "playbook": name}, "r")
    with pytest.raises(RouteError):
        safe_playbook(str(tmp_path), name, must_exist=False)


def test_symlink_out_of_the_playbooks_dir_is_rejected(tmp_path):
    (tmp_path / "pb").mkdir()
    (tmp_path / "outside.yml").write_text("- hosts: all\n")
    os.symlink(str(tmp_path / "outside.yml"), str(tmp_path / "pb" / "link.yml"))
    (tmp_path / "pb" / "ok.yml").write_text("- hosts: all\n")
    assert safe_playbook(str(tmp_path / "pb"), "ok.yml") == str(tmp_path / "pb" / "ok.yml")
    with pytest.raises(RouteError, match="outside"):
        safe_playbook(str(tmp_path / "pb"), "link.yml")
    with pytest.raises(RouteError, match="no such file"):
        safe_playbook(str(tmp_path / "pb"), "missing.yml")


@pytest.mark.parametrize("spec, reason", [
    ({"name": "a b", "playbook": "x.yml"}, "name must match"),
    ({"name": "r", "playbook": "x.yml", "when": "x"}, "unknown keys when"),
    ({"name": "r", "playbook": "x.yml", "extra_vars": {"incident_id": "X"}}, "reserved"),
    ({"name": "r", "playbook": "x.yml", "extra_vars": {"bad-var": 1}}, "not a valid variable name"),
    ({"name": "r", "playbook": "x.yml", "priority": ["P9"]}, "priority"),
    ({"name": "r", "playbook": "x.yml", "match_re": {"a": "("}}, "match_re.a"),
    ({"name": "r", "playbook": "x.yml", "cooldown_s": -1}, "cooldown_s"),
    ({"name": "r", "playbook": "x.yml", "match": {"alertname": {"x": 1}}}, "match.alertname"),
])
def test_invalid_routes_are_refused_with_a_reason(spec, reason):
    with pytest.raises(RouteError, match=reason):
        Route(spec, "routes[0]")


def test_missing_playbooks_are_reported(tmp_path):
    (tmp_path / "respond.yml").write_text("- hosts: all\n")
    router = Router({"routes": [{"name": "a", "playbook": "nope.yml"}], "default": {"playbook": "respond.yml"}},
                    str(tmp_path))
    assert len(router.missing_playbooks()) == 1 and "nope.yml" in router.missing_playbooks()[0]
