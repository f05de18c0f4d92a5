"""service_info, recent_changes and host_facts against the real Docker engine and the lab."""
import calendar
import os
import time

from ansible_collections.incident.response.plugins.modules.recent_changes import REDEPLOY_GAP_S
from tests.ansible import REPO, run_module

PROJECT = "incident-lab"
LAB_SERVICES = {"nginx", "api", "worker", "postgres", "redis", "prometheus", "alertmanager", "sink", "traffic",
                "pg-exporter", "redis-exporter"}


def service_info(**args):
    res = run_module("service_info", dict(dict(project=PROJECT), **args))
    assert not res.get("failed"), res.get("msg")
    return res


def test_service_info_on_the_healthy_lab(healthy_lab):
    res = run_module("service_info", dict(project=PROJECT), check=True)
    assert res["reachable"] and not res["changed"]
    assert set(res["services"]) == LAB_SERVICES
    assert all(s["state"] == "running" and s["replicas"] == s["running"] == s["healthy"] == 1 for s in res["services"].values())
    assert not [f for f in res["findings"] if f["severity"] == "critical"]
    api = res["services"]["api"]["containers"][0]
    assert (api["name"], api["status"], api["health"]) == ("incident-lab_api_1", "running", "healthy")
    assert api["image"] == "incident-lab/api:current"
    assert api["image_id"].startswith("sha256:") and api["started_at"] and api["restart_count"] == 0
    assert api["memory_bytes"] > 0 and "cpu_percent" in api
    assert set(api["log_errors"]) == {"ERROR", "FATAL", "CRITICAL"} and isinstance(api["log_sample"], list)


def test_service_info_addressing_and_switches(healthy_lab):
    one = service_info(service=["api", "no-such-service"], stats=False, logs=False)
    assert set(one["services"]) == {"api", "no-such-service"}
    assert one["services"]["no-such-service"]["state"] == "missing"
    assert "memory_bytes" not in one["services"]["api"]["containers"][0]
    assert "log_errors" not in one["services"]["api"]["containers"][0]
    assert one["findings"][0] == dict(severity="critical", check="missing", message="no-such-service missing: no container found")
    plain = run_module("service_info", dict(container="incident-lab_redis_1", log_patterns=["Ready to accept"]))
    assert plain["services"]["incident-lab_redis_1"]["state"] == "running"


def test_unreachable_engine(healthy_lab):
    res = run_module("service_info", dict(project=PROJECT, docker_host="unix:///nonexistent/docker.sock", unreachable_ok=True))
    assert res["reachable"] is False and "/nonexistent/docker.sock" in res["error"]
    assert res["findings"][0]["severity"] == "critical" and not res.get("failed")
    res = run_module("service_info", dict(project=PROJECT, docker_host="unix:///nonexistent/docker.sock"))
    assert res["failed"] and "could not be queried for project incident-lab" in res["msg"]


def test_api_kill_and_oom(healthy_lab):
    lab = healthy_lab
    lab.faults("inject", "api-kill")
    try:
        lab.faults("inject", "oom")
        try:
            lab.wait_for(lambda: lab.container("worker")["State"]["OOMKilled"], timeout=60, what="worker OOMKilled")
            res = service_info()
        finally:
            lab.faults("reset", "oom")
    finally:
        lab.faults("reset", "api-kill")
    api, worker = res["services"]["api"], res["services"]["worker"]
    assert (api["state"], api["running"]) == ("down", 0)
    assert (api["containers"][0]["exit_code"], api["containers"][0]["oom_killed"]) == (137, False)
    assert worker["state"] == "down" and worker["containers"][0]["oom_killed"] is True
    messages = [f["message"] for f in res["findings"] if f["severity"] == "critical"]
    assert "api down: exited exit code 137" in messages
    assert "worker down: exited exit code 137, OOMKilled" in messages
    assert res["services"]["nginx"]["state"] == "running"


def test_restart_loop(healthy_lab):
    lab = healthy_lab
    lab.faults("inject", "restart-loop")
    try:
        lab.wait_for(lambda: lab.container("worker")["RestartCount"] >= 3, timeout=90, what="3 worker restarts")
        res = service_info(service=["worker"], stats=False)
    finally:
        lab.faults("reset", "restart-loop")
    c = res["services"]["worker"]["containers"][0]
    assert c["restart_count"] >= 3 and c["restart_policy"] == "always"
    checks = {f["check"] for f in res["findings"]}
    assert checks & {"restart_loop", "restart_count"}, res["findings"]
    assert c["log_errors"]["FATAL"] + c["log_errors"]["CRITICAL"] >= 1  # the crash's FATAL line is counted


def test_recent_changes_after_bad_deploy(healthy_lab):
    lab = healthy_lab
    compose_file = os.path.join(REPO, "lab", "docker-compose.yml")
    # A redeploy shows as one only once the project is older than REDEPLOY_GAP_S; a lab brought up
    # moments ago would make the bad deploy part of "N services created together".
    born = calendar.timegm(time.strptime(lab.container("postgres")["Created"][:19], "%Y-%m-%dT%H:%M:%S"))
    time.sleep(max(0.0, born + REDEPLOY_GAP_S + 1 - time.time()))
    lab.faults("inject", "bad-deploy")
    try:
        res = run_module("recent_changes", dict(project=PROJECT, compose_files=[compose_file, "/nonexistent.yml"],
                                                git_repo=REPO, git_max_commits=3, within_minutes=10), check=True)
    finally:
        lab.faults("reset", "bad-deploy")
    assert not res.get("failed"), res.get("msg")
    api = res["services"]["api"]
    assert api["image"] == "incident-lab/api:broken" and api["recent"] and api["minutes_ago"] < 2
    assert api["image_id"] == api["tag_image_id"] and not api["tag_moved"]
    assert res["deployed_within"] is True
    assert any(c.startswith("api ") and "incident-lab/api:broken" in c for c in res["changes"])
    assert res["compose_files"][0]["exists"] and res["compose_files"][1] == dict(path="/nonexistent.yml", exists=False)
    assert 1 <= len(res["git"]["commits"]) <= 3 and len(res["git"]["commits"][0]["sha"]) == 12


def test_host_facts_shape_and_container_disks(healthy_lab):
    res = run_module("host_facts", dict(project=PROJECT, services=["api"], top=3), check=True)
    assert not res.get("failed"), res.get("msg")
    root = [d for d in res["disks"] if d["mount"] == "/"]
    assert root and 0 < root[0]["percent"] < 100 and root[0]["size_bytes"] > root[0]["free_bytes"]
    spool = [d for d in res["container_disks"] if d["mount"] == "/var/spool/lab"]
    assert spool and spool[0]["service"] == "api" and spool[0]["size_bytes"] == 64 * 1024 * 1024
    assert res["memory"]["total_bytes"] > res["memory"]["available_bytes"] > 0
    assert res["load"]["cpus"] >= 1 and len(res["top_cpu"]) == 3 and len(res["top_memory"]) == 3
    low = run_module("host_facts", dict(disk_warn_percent=0.001, disk_crit_percent=100, top=0))
    assert any(f["check"] == "disk" and f["severity"] == "warning" for f in low["findings"])
    assert low["top_cpu"] == []
