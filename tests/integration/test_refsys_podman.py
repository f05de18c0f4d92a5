"""Game days of the Docker action modules on the second reference system: "shop", a podman-compose project
(web -> app -> db, tests/refsys/shop) on podman's Docker-compatible API. Real podman, real podman-compose,
the real modules; nothing mocked. Each test breaks the shop as an incident would, heals it with a module,
and checks the shop answers again and nothing was left behind (no `-rollback-` container).

podman-compose creates `web` with `--requires app` and `app` with `--requires db` (depends_on): podman then
refuses to remove a container others depend on, which is what the rollback has to cope with."""
import json
import os
import subprocess
import time

import pytest

from tests.ansible import REPO, run_module
from tests.lab import http, wait_for

REFSYS = os.path.join(REPO, "tests", "refsys", "shop", "refsys.sh")
SOCK = "unix:///run/incident-podman/podman.sock"
APP_HEALTH = "http://127.0.0.1:28000/health"
WEB_HEALTH = "http://127.0.0.1:28080/health"  # through nginx to the app and its database
ADMIN = {"X-Admin-Key": "refsys-only-admin-key"}


def refsys(*argv, check=True):
    res = subprocess.run([REFSYS] + list(argv), capture_output=True, text=True, timeout=600, check=False)
    assert not check or res.returncode == 0, "refsys.sh %s: %s%s" % (" ".join(argv), res.stdout, res.stderr)
    return res


def podman(*argv, check=True):
    res = subprocess.run(["podman"] + list(argv), capture_output=True, text=True, timeout=120, check=False)
    assert not check or res.returncode == 0, "podman %s: %s" % (" ".join(argv), res.stderr)
    return res.stdout.strip()


def inspect(name):
    """`podman inspect` (its image ids have no sha256: prefix: added, as the Engine API gives them)."""
    info = json.loads(podman("inspect", name))[0]
    if not info["Image"].startswith("sha256:"):
        info["Image"] = "sha256:" + info["Image"]
    return info


def names():
    return podman("ps", "-a", "--format", "{{.Names}}", "--filter", "label=io.podman.compose.project=shop").split()


def status(url):
    return http(url, timeout=2)[0]


def args(tmp_path, service, **extra):
    return dict(dict(docker_host=SOCK, project="shop", service=service, state_dir=str(tmp_path)), **extra)


def http_wait(url, **extra):
    return dict(wait_for="http", url=url, **extra)


@pytest.fixture(scope="session")
def shop():
    began = time.monotonic()
    refsys("up")
    print("shop up in %.1fs" % (time.monotonic() - began))
    return refsys


@pytest.fixture
def healthy_shop(shop):
    """The shop answers before the test; after it, whatever the test did, `up` puts it back as compose says."""
    shop("wait")
    yield shop
    if status(WEB_HEALTH) != 200 or any("-rollback-" in n for n in names()) or len(names()) != 3:
        shop("up")


@pytest.fixture
def canonical_shop(healthy_shop):
    """As `podman-compose up -d` makes it: app created with --requires db, web with --requires app."""
    healthy_shop("compose", "up", "-d", "--force-recreate")
    healthy_shop("wait")
    assert inspect("shop_app_1")["Id"] in inspect("shop_web_1")["Dependencies"]
    return healthy_shop


def test_the_engine_api_lists_the_shop_with_compose_labels(healthy_shop):
    from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerClient
    listed = DockerClient(SOCK).containers(project="shop")
    labels = dict((c["Labels"]["com.docker.compose.service"], c["Labels"]) for c in listed)
    assert sorted(labels) == ["app", "db", "web"]
    assert labels["app"]["io.podman.compose.project"] == "shop"
    assert labels["app"]["com.docker.compose.project.config_files"].endswith("tests/refsys/shop/compose.yml")


def test_the_shop_speaks_runbook_003s_maintenance_api(healthy_shop):
    url = "http://127.0.0.1:28000/admin/maintenance-mode"
    assert http(url, "POST", {"mode": "enabled", "message": "x"})[0] == 401
    assert http(url, "POST", {"mode": "on"}, headers=ADMIN)[0] == 400
    try:
        on = http(url, "POST", {"mode": "enabled", "message": "Incident response in progress"}, headers=ADMIN)
        assert on[0] == 200 and on[1]["mode"] == "enabled"
        assert http(url, headers=ADMIN)[1]["mode"] == "enabled"
        page = http("http://127.0.0.1:28080/orders")
        assert page[0] == 503 and page[1]["message"] == "Incident response in progress"
        assert status(APP_HEALTH) == 200  # health tells the truth about the app, not the page
    finally:
        assert http(url, "POST", {"mode": "disabled", "message": ""}, headers=ADMIN)[0] == 200
    assert status("http://127.0.0.1:28080/orders") == 200


def test_killed_app_is_restarted(healthy_shop, tmp_path):
    podman("kill", "shop_app_1")
    wait_for(lambda: inspect("shop_app_1")["State"]["Status"] == "exited", 10, 0.1, "app exited")
    killed = inspect("shop_app_1")["State"]["StartedAt"]
    dry = run_module("service_restart", args(tmp_path, "app"), check=True)
    assert dry["changed"] and dry["restarted"] == ["shop_app_1"] and "after" not in dry
    assert inspect("shop_app_1")["State"]["Status"] == "exited"

    began = time.monotonic()
    res = run_module("service_restart", args(tmp_path, "app", **http_wait(APP_HEALTH, deadline=20)))
    assert not res.get("failed"), res["msg"]
    print("killed app healed in %.1fs" % (time.monotonic() - began))
    assert res["healthy"] and not res["escalated"] and not res["created"]
    assert res["before"][0]["status"] == "exited" and res["after"][0]["status"] == "running"
    assert inspect("shop_app_1")["State"]["StartedAt"] != killed
    assert status(WEB_HEALTH) == 200


def test_removed_app_is_created_again_with_podman_compose(healthy_shop, tmp_path):
    # podman refuses to remove a container others depend on: --depend removes web (--requires app) with it
    podman("rm", "-f", "--depend", "shop_app_1")
    assert "shop_app_1" not in names()
    dry = run_module("service_restart", args(tmp_path, "app"), check=True)
    assert dry["changed"] and dry["created"] and "would create" in dry["msg"], dry
    assert "shop_app_1" not in names()

    began = time.monotonic()
    res = run_module("service_restart", args(tmp_path, "app", **http_wait(APP_HEALTH, deadline=20)))
    assert not res.get("failed"), res["msg"]
    print("removed app created again in %.1fs" % (time.monotonic() - began))
    argv = res["compose_command"]
    assert res["created"] and res["healthy"] and os.path.basename(argv[0]) == "podman-compose"
    assert argv[-4:] == ["up", "-d", "--no-deps", "app"] and "-p" in argv and "shop" in argv
    assert res["after"][0]["name"] == "shop_app_1" and inspect("shop_app_1")["State"]["Running"]
    if "shop_web_1" not in names():  # removed with it: the front comes back the same way
        web = run_module("service_restart", args(tmp_path, "web", **http_wait(WEB_HEALTH, deadline=20)))
        assert web["created"] and web["healthy"], web["msg"]
    assert status(WEB_HEALTH) == 200


def test_restart_escalates_to_a_podman_compose_recreate(healthy_shop, tmp_path):
    healthy_shop("deploy-bad")  # 1.1 by hand; compose.yml still says 1.0: a restart keeps 1.1, a recreate heals
    res = run_module("service_restart", args(tmp_path, "app", escalate=True, compose_cli="podman-compose",
                                             **http_wait(APP_HEALTH, deadline=4)))
    assert not res.get("failed"), res["msg"]
    assert res["escalated"] and res["healthy"] and [a["action"] for a in res["attempts"]] == ["restart", "recreate"]
    assert os.path.basename(res["compose_command"][0]) == "podman-compose"
    assert "--force-recreate" in res["compose_command"]
    assert inspect("shop_app_1")["Config"]["Image"] == "localhost/shop/app:1.0"
    assert status(WEB_HEALTH) == 200


def test_bad_deploy_is_rolled_back_and_nothing_is_left_behind(canonical_shop, tmp_path):
    good = inspect("shop_app_1")["Image"]
    recorded = run_module("service_rollback", args(tmp_path, "app", record_only=True))
    assert recorded["changed"] and recorded["from_image"]["image_id"] == good
    canonical_shop("deploy-bad")
    assert status(APP_HEALTH) == 500
    assert inspect("shop_app_1")["Id"] in inspect("shop_web_1")["Dependencies"]  # app has a dependant

    began = time.monotonic()
    res = run_module("service_rollback", args(tmp_path, "app", **http_wait(APP_HEALTH, deadline=20)))
    assert not res.get("failed"), res["msg"]
    print("bad deploy rolled back in %.1fs" % (time.monotonic() - began))
    assert res["healthy"] and res["from_image"]["image"] == "localhost/shop/app:1.1"
    assert res["to_image"]["image_id"] == good and res["recreated_dependants"] == ["shop_web_1"]
    assert sorted(names()) == ["shop_app_1", "shop_db_1", "shop_web_1"]  # no -rollback- container
    app = inspect("shop_app_1")
    assert app["Image"] == good and app["Config"]["Labels"]["io.podman.compose.service"] == "app"
    assert [u["Name"] for u in app["HostConfig"]["Ulimits"]] == ["RLIMIT_NOFILE", "RLIMIT_NPROC"]
    assert status(WEB_HEALTH) == 200 and inspect("shop_web_1")["State"]["Running"]
    again = run_module("service_rollback", args(tmp_path, "app"))
    assert not again["changed"] and "already rolled back" in again["msg"]


def test_failed_rollback_puts_everything_back(canonical_shop, tmp_path):
    # an image whose program is missing: the clone is created but cannot start
    build = subprocess.run(["podman", "build", "-q", "-t", "localhost/shop/app:unstartable", "-f", "-"],
                           input='FROM localhost/shop/app:1.0\nENTRYPOINT ["/no/such/program"]\n',
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stderr
    before = dict((n, inspect(n)["Id"]) for n in ("shop_app_1", "shop_web_1"))
    try:
        res = run_module("service_rollback", args(tmp_path, "app", image="localhost/shop/app:unstartable",
                                                  **http_wait(APP_HEALTH, deadline=10)))
        assert res["failed"] and "rollback of service app" in res["msg"] and not res.get("left_behind"), res
        assert sorted(names()) == ["shop_app_1", "shop_db_1", "shop_web_1"]
        assert dict((n, inspect(n)["Id"]) for n in before) == before  # the originals, back under their names
        assert all(inspect(n)["State"]["Running"] for n in before)
        wait_for(lambda: status(WEB_HEALTH) == 200, 10, 0.2, "shop healthy again")
    finally:
        podman("rmi", "-f", "localhost/shop/app:unstartable", check=False)


def test_stopped_db_is_restarted_and_the_app_reconnects(healthy_shop, tmp_path):
    podman("stop", "-t", "5", "shop_db_1")
    assert status(APP_HEALTH) == 503  # the app runs, its database does not
    res = run_module("service_restart", args(tmp_path, "db", wait_for="tcp", port=25432, deadline=30))
    assert not res.get("failed"), res["msg"]
    assert res["healthy"] and res["before"][0]["status"] == "exited"
    wait_for(lambda: status(APP_HEALTH) == 200, 10, 0.2, "app reconnected to db")
    # and a restart of a running db that others depend on (podman --requires) works too
    again = run_module("service_restart", args(tmp_path, "db", wait_for="tcp", port=25432, deadline=30))
    assert again["healthy"], again["msg"]
    wait_for(lambda: status(WEB_HEALTH) == 200, 10, 0.2, "shop healthy after the db restart")


@pytest.mark.lab
def test_removed_lab_service_is_created_again_with_docker_compose(healthy_lab, tmp_path):
    """The same missing-container path on the Docker lab, with the docker compose CLI named explicitly."""
    lab = healthy_lab
    subprocess.run(["docker", "rm", "-f", "incident-lab_sink_1"], capture_output=True, check=True)
    cli = "docker-compose-v2" if subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                check=False).returncode == 0 else "docker-compose"
    res = run_module("service_restart", dict(project="incident-lab", service="sink", compose_cli=cli,
                                             state_dir=str(tmp_path), deadline=60))
    assert not res.get("failed"), res["msg"]
    assert res["created"] and res["healthy"] and res["after"][0]["health"] == "healthy"
    assert res["compose_command"][-4:] == ["up", "-d", "--no-deps", "sink"]
    assert lab.container("sink")["State"]["Running"]


class FakeModule(object):
    """Just enough of AnsibleModule for choosing a CLI: programs found, `docker compose version` answers."""

    def __init__(self, bins, params=None, plugin=True):
        self.bins, self.params, self.plugin = bins, dict(params or {}), plugin

    def get_bin_path(self, name):
        return self.bins.get(name)

    def run_command(self, argv, **_kwargs):
        return (0 if self.plugin else 1), "", ""


def test_the_compose_cli_follows_the_labels_the_engine_and_the_option():
    from ansible_collections.incident.response.plugins.module_utils import compose
    every = {"docker": "/usr/bin/docker", "docker-compose": "/usr/bin/docker-compose", "podman": "/usr/bin/podman",
             "podman-compose": "/usr/bin/podman-compose"}
    podman_made = [{"io.podman.compose.project": "shop", "com.docker.compose.project": "shop"}]
    v1_made = [{"com.docker.compose.version": "1.29.2"}]
    module = FakeModule(every, dict(docker_host=SOCK))
    assert compose.choose_cli(module, podman_made)[0] == "podman-compose"
    assert compose.choose_cli(module, v1_made)[0] == "docker-compose"
    assert compose.choose_cli(module, [{"com.docker.compose.version": "2.29.1"}])[0] == "docker-compose-v2"
    assert compose.choose_cli(module, [{}], podman=True)[0] == "podman-compose"
    assert compose.choose_cli(module, [{}], podman=False)[0] == "docker-compose-v2"
    assert compose.choose_cli(FakeModule(every, plugin=False), [{}])[0] == "docker-compose"
    assert compose.choose_cli(FakeModule(every, dict(compose_cli="docker-compose")), podman_made)[0] == "docker-compose"
    with pytest.raises(compose.ComposeError, match="podman"):  # never a docker CLI on a podman-compose project
        compose.choose_cli(FakeModule({"docker": "/usr/bin/docker", "docker-compose": "/usr/bin/docker-compose"}),
                           podman_made)
    # the same engine for every CLI, never a shell
    assert compose.engine_env(module, "podman-compose") == {"CONTAINER_HOST": SOCK}
    assert compose.engine_env(module, "docker-compose") == {"DOCKER_HOST": SOCK}
    argv, kwargs = compose.compose_command(module, "shop", podman_made[0], ["up", "-d", "--no-deps", "app"],
                                           ["/srv/shop/compose.yml"], "/srv/shop")
    assert argv == ["/usr/bin/podman-compose", "--podman-path", "/usr/bin/podman", "-p", "shop", "-f",
                    "/srv/shop/compose.yml", "up", "-d", "--no-deps", "app"]
    assert kwargs == dict(cwd="/srv/shop", environ_update={"CONTAINER_HOST": SOCK, "COMPOSE_PROJECT_DIR": "/srv/shop"})
