"""Docker actions on the lab: inject the fault, act with the real module, check the lab healed and the
module told the truth. Every test gets its own guard state (rate limits, locks, image history)."""
import json
import subprocess
import threading

import pytest

from tests.ansible import run_module

PROJECT = "incident-lab"
ADMIN = {"Authorization": "Bearer lab-only-admin-token"}
WORKER_FILTER = ("--filter", "label=com.docker.compose.project=incident-lab", "--filter",
                 "label=com.docker.compose.service=worker")


def docker(*argv):
    return subprocess.run(["docker"] + list(argv), capture_output=True, text=True, check=True).stdout.strip()


def base(tmp_path, **extra):
    return dict(dict(project=PROJECT, state_dir=str(tmp_path)), **extra)


def api_ready(lab):
    return lab.http(lab.url("api", "/health/ready"))[0] == 200


def started_at(lab, service):
    info = lab.container(service)
    return info["Id"], info["State"]["StartedAt"], info["State"]["Status"]


def test_restart_heals_a_killed_api_and_check_mode_changes_nothing(healthy_lab, tmp_path):
    lab = healthy_lab
    lab.faults("inject", "api-kill")
    try:
        killed = started_at(lab, "api")
        assert killed[2] == "exited"
        dry = run_module("service_restart", base(tmp_path, service="api"), check=True)
        assert dry["changed"] and dry["restarted"] == ["incident-lab_api_1"] and "after" not in dry
        assert started_at(lab, "api") == killed and not api_ready(lab)

        res = run_module("service_restart", base(tmp_path, service="api", deadline=30))
        assert not res.get("failed"), res["msg"]
        assert res["healthy"] and not res["escalated"] and res["rate_limit"]["used"] == 1
        assert res["before"][0]["status"] == "exited" and res["before"][0]["exit_code"] == 137
        assert res["after"][0]["health"] == "healthy" and res["after"][0]["started_at"] != killed[1]
        assert set(res["phases"]) == {"stop_s", "start_s", "healthy_s", "total_s"}
        assert res["phases"]["total_s"] >= res["phases"]["healthy_s"] > 0
        assert api_ready(lab)
    finally:
        lab.faults("reset", "api-kill")


def test_rate_limit_refuses_the_next_restart_and_touches_nothing(healthy_lab, tmp_path):
    args = base(tmp_path, service="api", max_restarts=1, restart_window=600)
    first = run_module("service_restart", args)
    assert first["healthy"] and first["rate_limit"] == {"used": 1, "max": 1, "window_s": 600}
    before = started_at(healthy_lab, "api")
    refused = run_module("service_restart", args)
    assert refused["failed"] and not refused["changed"]
    assert "rate limit" in refused["msg"] and "max 1 per 600s" in refused["msg"] and "frees in" in refused["msg"]
    assert started_at(healthy_lab, "api") == before


def test_two_concurrent_restarts_serialise_on_the_target_lock(healthy_lab, tmp_path):
    results = []

    def restart():
        results.append(run_module("service_restart", base(tmp_path, service="api", max_restarts=0)))

    threads = [threading.Thread(target=restart), threading.Thread(target=restart)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 2 and all(r["healthy"] for r in results), results
    first, second = sorted(results, key=lambda r: r["lock_waited_s"])
    # the second waited for the whole restart of the first (stop + start + healthy), not just a moment
    assert first["lock_waited_s"] < 0.5
    assert second["lock_waited_s"] >= first["phases"]["total_s"] - 0.5
    assert second["before"][0]["started_at"] == first["after"][0]["started_at"]  # it saw the first one's result


def test_restart_escalates_to_a_compose_recreate_when_restart_cannot_heal(healthy_lab, tmp_path):
    lab = healthy_lab
    lab.faults("inject", "bad-deploy")  # restarting a bad image does not help; recreating from compose does
    try:
        res = run_module("service_restart", base(tmp_path, service="api", escalate=True, deadline=6))
        assert not res.get("failed"), res["msg"]
        assert res["escalated"] and res["healthy"]
        assert [a["action"] for a in res["attempts"]] == ["restart", "recreate"]
        assert res["attempts"][0]["healthy"] is False
        assert res["before"][0]["image"] == "incident-lab/api:broken"
        assert res["after"][0]["image"] == "incident-lab/api:current"
        assert "--force-recreate" in res["compose_command"] and res["phases"]["recreate_s"] > 0
        assert api_ready(lab)
    finally:
        lab.faults("reset", "bad-deploy")


def test_rollback_heals_a_bad_deploy(healthy_lab, tmp_path):
    lab = healthy_lab
    args = base(tmp_path, service="api", deadline=30)
    recorded = run_module("service_rollback", dict(args, record_only=True))
    assert recorded["changed"] and recorded["from_image"]["image"] == "incident-lab/api:current"
    lab.faults("inject", "bad-deploy")
    try:
        broken = started_at(lab, "api")
        dry = run_module("service_rollback", args, check=True)
        assert dry["changed"] and dry["to_image"]["image"] == "incident-lab/api:current"
        assert started_at(lab, "api") == broken

        res = run_module("service_rollback", args)
        assert not res.get("failed"), res["msg"]
        assert res["healthy"] and res["from_image"]["image"] == "incident-lab/api:broken"
        assert res["containers"][0]["image"] == "incident-lab/api:current"
        assert res["containers"][0]["service"] == "api"  # compose labels kept: compose still owns it
        assert api_ready(lab) and lab.http(lab.url("api", "/health"))[1]["version"] == "1.0.0"

        again = run_module("service_rollback", args)  # never flips back to the image rolled back from
        assert not again.get("failed") and not again["changed"] and "already rolled back" in again["msg"]
    finally:
        lab.faults("reset", "bad-deploy")


def test_workers_started_then_scaled_up_and_down(healthy_lab, tmp_path):
    lab = healthy_lab
    lab.faults("inject", "workers-stop")
    try:
        args = base(tmp_path, service="worker", state="started", deadline=30)
        dry = run_module("service_state", args, check=True)
        assert dry["changed"] and dry["containers"][0]["action"] == "start"
        assert lab.container("worker")["State"]["Status"] == "exited"
        res = run_module("service_state", args)
        assert res["changed"] and res["healthy"] and res["containers"][0]["after"] == "running"
        assert not run_module("service_state", args)["changed"]

        paused = run_module("service_state", dict(args, state="paused"))
        assert paused["changed"] and lab.container("worker")["State"]["Paused"]
        assert not run_module("service_state", dict(args, state="paused"))["changed"]
        assert run_module("service_state", dict(args, state="unpaused"))["healthy"]

        up = run_module("service_scale", base(tmp_path, service="worker", replicas=2, deadline=40))
        assert not up.get("failed"), up["msg"]
        assert up["changed"] and (up["before"], up["after"]) == (1, 2) and up["healthy"]
        assert all(c["health"] == "healthy" for c in up["containers"])
        assert not run_module("service_scale", base(tmp_path, service="worker", replicas=2))["changed"]
        down = run_module("service_scale", base(tmp_path, service="worker", replicas=1))
        assert down["changed"] and down["after"] == 1 and len(docker("ps", "-aq", *WORKER_FILTER).split()) == 1
    finally:
        lab.faults("reset", "workers-stop")


def site_link(lab):
    return docker("exec", lab.container("nginx")["Id"], "readlink", "/var/lib/lab/nginx/site.conf")


def test_maintenance_page_via_nginx_on_and_off(healthy_lab, tmp_path):
    lab = healthy_lab
    args = base(tmp_path, service="nginx", verify_url=lab.url("nginx", "/api/workflows/health"), **lab.NGINX_SITE)
    try:
        dry = run_module("maintenance_mode", dict(args, state=True), check=True)
        assert dry["changed"], dry
        assert site_link(lab) == "/run/lab/nginx/live.conf"

        on = run_module("maintenance_mode", dict(args, state=True))
        assert on["changed"] and on["verified"] and on["verify"]["status"] == 503
        assert on["diff"] == {"before": "maintenance: off\n", "after": "maintenance: on\n"}
        status, body = lab.http(lab.url("nginx", "/api/workflows/health"))
        assert status == 503 and "maintenance" in body.lower()
        assert not run_module("maintenance_mode", dict(args, state=True))["changed"]

        # a config nginx rejects: the link is put back and nothing is reloaded
        bad = run_module("maintenance_mode", dict(args, state=False, live_config="/etc/hostname"))
        assert bad["failed"] and "nginx -t" in bad["msg"]
        assert site_link(lab) == "/run/lab/nginx/maintenance.conf"

        off = run_module("maintenance_mode", dict(args, state=False))
        assert off["changed"] and off["verified"] and lab.http(lab.url("nginx", "/api/workflows/health"))[0] == 200
    finally:
        run_module("maintenance_mode", dict(args, state=False))
    assert site_link(lab) == "/run/lab/nginx/live.conf"


def test_maintenance_via_the_admin_endpoint(healthy_lab, tmp_path):
    lab = healthy_lab
    args = dict(state_dir=str(tmp_path), method="http", admin_url=lab.url("api", "/admin/maintenance"),
                token="lab-only-admin-token", verify_url=lab.url("api", "/api/sagas"))
    try:
        on = run_module("maintenance_mode", dict(args, state="on"))
        assert on["changed"] and on["verified"] and on["previous"] is False
        assert "lab-only-admin-token" not in json.dumps(on)
        assert lab.http(lab.url("api", "/admin/maintenance"), headers=ADMIN)[1] == {"maintenance": True}
        assert not run_module("maintenance_mode", dict(args, state="on"))["changed"]
        off = run_module("maintenance_mode", dict(args, state="off"))
        assert off["changed"] and off["verified"]
    finally:
        lab.http(lab.url("api", "/admin/maintenance"), "POST", {"enabled": False}, headers=ADMIN)
    assert lab.http(lab.url("api", "/admin/maintenance"), headers=ADMIN)[1] == {"maintenance": False}


CACHE_CLEAR = ["python3", "-c", "import os, urllib.request\n"
               "req = urllib.request.Request('http://127.0.0.1:%s/admin/cache/clear' % os.environ['LAB_API_PORT'],"
               " method='POST', headers={'Authorization': 'Bearer ' + os.environ['LAB_ADMIN_TOKEN']})\n"
               "print(urllib.request.urlopen(req, timeout=10).read().decode())"]


@pytest.mark.parametrize("command,extra", [("reboot", []), ("cache_clear", ["; rm -rf /"])])
def test_container_exec_refuses_what_is_not_allowed(healthy_lab, command, extra):
    res = run_module("container_exec", dict(project=PROJECT, service="api", commands={"cache_clear": CACHE_CLEAR},
                                            command=command, args=extra))
    assert res["failed"] and res["msg"].startswith("refused:") and "results" not in res


def test_container_exec_clears_the_api_cache(healthy_lab):
    args = dict(project=PROJECT, service="api", commands={"cache_clear": CACHE_CLEAR}, command="cache_clear")
    dry = run_module("container_exec", args, check=True)
    assert dry["changed"] and dry["argv"] == CACHE_CLEAR and "rc" not in dry
    res = run_module("container_exec", args)
    assert not res.get("failed"), res["msg"]
    assert res["rc"] == 0 and "cleared" in json.loads(res["output"])
    assert res["containers"] == ["incident-lab_api_1"]
