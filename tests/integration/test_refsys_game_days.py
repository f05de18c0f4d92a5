"""Game days on the second reference system: a podman-compose shop (tests/refsys/shop, runbook 003's
shape web -> app -> db) described only by tests/refsys/inventory.yml, which follows README "Pointing it
at your own systems". The scenario playbooks run unchanged: a healthy system gets no incident and no
notice; a killed or removed app is healed; a bad deploy is rolled back; maintenance mode goes through
the app's own HTTP API; an unreachable engine is unknown and escalated, never called healthy."""
import json
import os
import subprocess
import time

import pytest

from tests.ansible import REPO, run_playbook
from tests.lab import http, wait_for
from tests.local_servers import ScriptedHTTPServer

INVENTORY = os.path.join(REPO, "tests", "refsys", "inventory.yml")
REFSYS = os.path.join(REPO, "tests", "refsys", "shop", "refsys.sh")
PODMAN_SOCKET = "unix:///run/incident-podman/podman.sock"
ORDERS = "http://127.0.0.1:28080/orders"
ADMIN = {"X-Admin-Key": "refsys-only-admin-key"}


def refsys(*args, timeout=600):
    res = subprocess.run([REFSYS] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return res.stdout


def podman(*args):
    return subprocess.run(["podman"] + list(args), capture_output=True, text=True, check=False).stdout.strip()


def healthy():
    return http(ORDERS)[0] == 200 and http("http://127.0.0.1:28000/health")[0] == 200


@pytest.fixture(scope="module")
def shop():
    refsys("up")
    yield
    refsys("down")


@pytest.fixture
def run(shop, tmp_path):
    """Run a playbook against the shop inventory with a recording notification receiver; leave the shop healthy."""
    receiver = ScriptedHTTPServer()
    root = tmp_path / "incidents"

    def _run(playbook, extra=None, **kw):
        res = run_playbook("playbooks/" + playbook, extra, args=["-i", INVENTORY],
                           env={"INCIDENT_ROOT": str(root), "SHOP_NOTIFY_URL": receiver.url,
                                "INCIDENT_STATE_DIR": str(tmp_path / "state")}, **kw)
        incidents = sorted(os.listdir(root)) if root.exists() else []
        timeline = []
        if incidents:
            with open(root / incidents[-1] / "timeline.jsonl") as fh:
                timeline = [json.loads(line) for line in fh]
        return res, timeline, receiver.requests

    try:
        yield _run
    finally:
        receiver.close()
        if not healthy():
            refsys("up")
        http("http://127.0.0.1:28000/admin/maintenance-mode", "POST", {"mode": "disabled"}, headers=ADMIN)


def milestones(timeline):
    return [(e["event"], e.get("message") or "") for e in timeline if e.get("type") == "milestone"]


def events_of(timeline):
    return [m for m, _text in milestones(timeline)]


def texts_of(timeline, event=None):
    return [text for m, text in milestones(timeline) if event in (None, m)]


def out(res):
    return res.stdout[-4000:] + res.stderr[-2000:]


def test_healthy_shop_declares_nothing_and_sends_nothing(run):
    for playbook in ("investigate.yml", "p0-outage.yml"):
        res, timeline, sent = run(playbook)
        assert res.returncode == 0, out(res)
        assert sent == [], sent
        assert events_of(timeline) == ["note"], milestones(timeline)
        assert "no incident, nothing changed" in milestones(timeline)[0][1]
        assert "changed=0" in res.stdout


@pytest.mark.parametrize("order", ["critical_path", "runbook"])
def test_app_killed_p0_outage_heals_it(run, order):
    podman("kill", "shop_app_1")
    wait_for(lambda: http(ORDERS)[0] == 502, 10, what="web answers 502")
    res, timeline, sent = run("p0-outage.yml", {"p0_outage_order": order})
    assert res.returncode == 0, out(res)
    assert healthy()
    events = milestones(timeline)
    assert ("declared" in [m for m, _text in events]) and ("resolved" in [m for m, _text in events]), events
    assert any("app restarted" in text for text in texts_of(timeline, "mitigated")), events
    if order == "runbook":  # the page first: app's own maintenance endpoint was down with it: recorded, not fatal
        assert any("Maintenance page not served" in text for text in texts_of(timeline)), events
    else:  # the restart healed at once: no maintenance page was needed
        assert not [e for e in timeline if e.get("action") == "incident.response.maintenance_mode" and e.get("status") != "skipped"], events
    paths = sorted(set(r["path"] for r in sent))
    assert paths == ["/pagerduty", "/slack"], paths
    assert all("refsys-only-db-password" not in json.dumps(r) for r in sent)
    assert any(r["path"] == "/pagerduty" and r["body"]["routing_key"] == "refsys-only-routing-key" for r in sent)


def test_app_container_removed_is_recreated(run):
    # podman refuses to remove app alone (web depends on it): --depend removes web too, as a user would.
    podman("rm", "-f", "--depend", "shop_app_1")
    assert podman("ps", "-a", "--filter", "name=shop_(app|web)", "--format", "{{.Names}}") == ""
    res, timeline, _sent = run("p0-outage.yml")
    assert res.returncode == 0, out(res)
    assert healthy()
    assert sorted(podman("ps", "--filter", "name=shop_(app|web)", "--format", "{{.Names}}").split()) == ["shop_app_1", "shop_web_1"]
    healed = texts_of(timeline, "mitigated")
    # dependencies first: app is back before web
    assert [t.split()[0] for t in healed] == ["app", "web"], healed


def test_bad_deploy_is_rolled_back_to_the_previous_image(run):
    run("rollback.yml")  # a healthy release: recorded as the last known good one
    refsys("deploy-bad")
    assert http("http://127.0.0.1:28000/health")[0] == 500
    res, timeline, _sent = run("rollback.yml", {"service": "app", "recovery_strategy": "rollback"})
    assert res.returncode == 0, out(res)
    assert healthy()
    image = podman("inspect", "shop_app_1", "--format", "{{.ImageName}}")
    assert image.endswith("shop/app:1.0"), image
    assert "rollback" not in podman("ps", "-a", "--format", "{{.Names}}")
    assert {"mitigated", "resolved"} & set(events_of(timeline)), milestones(timeline)


def test_api_down_heals_the_app_named_on_the_command_line(run):
    podman("kill", "shop_app_1")
    res, timeline, _sent = run("api-down.yml", {"service": "app"})
    assert res.returncode == 0, out(res)
    assert healthy()
    assert any(text.startswith("app restarted") for text in texts_of(timeline, "mitigated")), milestones(timeline)
    assert "resolved" in events_of(timeline)


def test_database_down_brings_db_back_and_app_reconnects(run):
    podman("stop", "-t", "2", "shop_db_1")
    wait_for(lambda: http("http://127.0.0.1:28000/health")[0] == 503, 10, what="app reports the database down")
    res, timeline, _sent = run("database-down.yml")
    assert res.returncode == 0, out(res)
    assert healthy()
    assert "resolved" in events_of(timeline), milestones(timeline)


@pytest.mark.parametrize("playbook, needs", [
    ("no-active-workers.yml", "incident_workers_service"),
    ("p1-saga-failures.yml", "remediate_data_checks.stuck_sagas"),
    ("disk-full.yml", "incident_spool_service"),
])
def test_scenarios_tied_to_an_application_say_what_they_need(run, playbook, needs):
    res, timeline, sent = run(playbook)
    assert res.returncode != 0 and needs in res.stdout, out(res)
    assert sent == [] and set(events_of(timeline)) <= {"note"}


def test_maintenance_mode_over_http_on_and_off(run):
    res, _timeline, _sent = run("../tests/integration/playbooks/maintenance.yml", {"maintenance_state": "engage"})
    assert res.returncode == 0, out(res)
    status, body = http(ORDERS)
    assert status == 503 and body["message"] == "Incident response in progress", (status, body)
    assert http("http://127.0.0.1:28000/admin/maintenance-mode", headers=ADMIN)[1]["mode"] == "enabled"
    res, _timeline, _sent = run("../tests/integration/playbooks/maintenance.yml", {"maintenance_state": "release"})
    assert res.returncode == 0, out(res)
    assert http(ORDERS)[0] == 200
    assert "refsys-only-admin-key" not in res.stdout


def test_engine_unreachable_is_unknown_escalated_and_nothing_claimed(run):
    before = podman("ps", "--format", "{{.ID}} {{.Status}}")
    res, timeline, sent = run("p0-outage.yml", {"incident_engines": {"podman": {"docker_host": "unix:///nonexistent/podman.sock"}}})
    assert res.returncode != 0, out(res)
    assert "cannot assess the system" in res.stdout and "nonexistent" in res.stdout
    events = milestones(timeline)
    assert [m for m, _text in events] == ["escalated"], events
    assert "app" in events[0][1] and "db" in events[0][1]
    assert "declared" not in res.stdout and sent == []
    assert podman("ps", "--format", "{{.ID}} {{.Status}}").split("\n")[0].split()[0] == before.split("\n")[0].split()[0]


def test_wrong_database_password_is_unknown_not_an_incident(run):
    res, timeline, sent = run("investigate.yml", {"vault_shop_db_password": "not-the-password"})
    assert res.returncode != 0, out(res)
    assert events_of(timeline) == ["escalated"], milestones(timeline)
    assert "db (cannot be checked" in texts_of(timeline)[0] and "password authentication failed" in texts_of(timeline)[0]
    assert "not-the-password" not in json.dumps(timeline) and sent == []


@pytest.mark.parametrize("services, field", [
    ([{"name": "app", "severity": "P9", "project": "shop"}], "severity"),
    ([{"name": "app", "project": "shop", "depends_on": ["nope"]}], "depends_on"),
    ([{"name": "app", "project": "shop", "helth_url": "http://x"}], "helth_url"),
])
def test_bad_catalog_entry_fails_at_the_start_with_the_field(run, services, field):
    res, timeline, sent = run("p0-outage.yml", {"incident_services": services})
    assert res.returncode != 0
    assert field in res.stdout, out(res)
    assert sent == [] and set(events_of(timeline)) <= {"note"}


def test_empty_catalog_does_nothing_surprising(run):
    res, timeline, sent = run("investigate.yml", {"incident_services": []})
    assert res.returncode == 0, out(res)
    assert sent == [] and "nothing to examine" in res.stdout
    assert events_of(timeline) == ["note"]


def test_one_run_heals_services_on_two_engines(run, healthy_lab, tmp_path):
    """The catalog places the shop on podman and the lab's api on the Docker engine: one p0-outage run
    restarts both (the second engine reached through its own socket)."""
    lab = healthy_lab
    extra = {"incident_engines": {"podman": {"docker_host": PODMAN_SOCKET}, "docker": {"docker_host": "unix:///var/run/docker.sock"}},
             "incident_services": [
                 {"name": "app", "project": "shop", "engine": "podman", "health_url": "http://127.0.0.1:28000/health",
                  "severity": "P0"},
                 {"name": "lab-api", "project": "incident-lab", "service": "api", "engine": "docker",
                  "health_url": lab.url("api", "/health/ready"), "severity": "P0"}]}
    podman("kill", "shop_app_1")
    lab.faults("inject", "api-kill")
    try:
        started = time.monotonic()
        res, timeline, _sent = run("p0-outage.yml", extra)
        assert res.returncode == 0, out(res)
        assert healthy() and lab.http(lab.url("api", "/health/ready"))[0] == 200
        healed = texts_of(timeline, "mitigated")
        assert any(t.startswith("app ") for t in healed) and any(t.startswith("lab-api ") for t in healed), healed
        assert time.monotonic() - started < 120
    finally:
        lab.faults("reset", "api-kill")
