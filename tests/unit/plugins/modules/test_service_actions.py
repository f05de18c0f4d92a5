"""Pure parts of the Docker action modules: rollback's config cloning, state planning, the exec allow-list."""
import pytest

from ansible_collections.incident.response.plugins.modules.container_exec import NotAllowed, resolve
from ansible_collections.incident.response.plugins.module_utils.docker_api import DockerError
from ansible_collections.incident.response.plugins.module_utils.wait import Probe
from ansible_collections.incident.response.plugins.modules.service_restart import restart_and_wait
from ansible_collections.incident.response.plugins.modules.service_rollback import clone_config
from ansible_collections.incident.response.plugins.modules.service_state import plan
from tests.ansible import run_module

OLD_IMAGE = {"Config": {"Env": ["PATH=/usr/bin", "LAB_VERSION=1.1.0-broken", "LAB_BROKEN=1"],
                        "Cmd": ["serve"], "Entrypoint": ["/run"], "Labels": {"org.opencontainers.image.version": "1.1.0"}}}
CONTAINER = {
    "Id": "0123456789abcdef", "Name": "/lab_api_1", "Image": "sha256:broken",
    "Config": {"Hostname": "vm", "Env": ["PATH=/usr/bin", "LAB_VERSION=1.1.0-broken", "LAB_BROKEN=1", "DB=pg"],
               "Cmd": ["api"], "Entrypoint": ["/run"], "Image": "api:broken",
               "Labels": {"com.docker.compose.service": "api", "org.opencontainers.image.version": "1.1.0"},
               "Healthcheck": {"Test": ["CMD", "true"]}, "StopTimeout": 10},
    "HostConfig": {"NetworkMode": "host", "Binds": ["/srv/config:/etc/lab:ro"], "Tmpfs": {"/spool": "size=64m"}},
    "Mounts": [{"Type": "bind", "Source": "/srv/config", "Destination": "/etc/lab", "RW": False},
               {"Type": "volume", "Name": "f00d", "Destination": "/data", "RW": True}],
    "NetworkSettings": {"Networks": {"host": {"Aliases": None}}},
}


def test_clone_keeps_the_container_settings_and_drops_what_the_old_image_brought():
    config, host, endpoints = clone_config(CONTAINER, OLD_IMAGE, "api:current")
    assert config["Image"] == "api:current"
    assert config["Env"] == ["DB=pg"]  # the broken image's LAB_BROKEN=1 must not follow us
    assert config["Cmd"] == ["api"] and "Entrypoint" not in config  # the new image brings its own entrypoint
    assert config["Labels"] == {"com.docker.compose.service": "api"}  # compose still owns the container
    assert config["Healthcheck"] == {"Test": ["CMD", "true"]} and config["StopTimeout"] == 10
    assert "Hostname" not in config  # host network: the host's name, not ours to set
    assert host["Tmpfs"] == {"/spool": "size=64m"} and host["NetworkMode"] == "host"
    assert host["Binds"] == ["/srv/config:/etc/lab:ro", "f00d:/data"]  # the anonymous volume is carried over
    assert CONTAINER["HostConfig"]["Binds"] == ["/srv/config:/etc/lab:ro"]  # the inspect result is not modified
    assert endpoints == {"host": {"Aliases": None, "IPAMConfig": None, "Links": None}}


def test_clone_on_a_user_network_keeps_aliases_but_not_the_old_id():
    container = dict(CONTAINER, HostConfig={"NetworkMode": "lab_default"},
                     NetworkSettings={"Networks": {"lab_default": {"Aliases": ["api", "0123456789ab"]}}})
    config, _host, endpoints = clone_config(container, OLD_IMAGE, "api:current")
    assert endpoints["lab_default"]["Aliases"] == ["api"] and config["Hostname"] == "vm"


@pytest.mark.parametrize("state,now,verb", [
    ("stopped", "running", "stop"), ("stopped", "paused", "stop"), ("stopped", "exited", None),
    ("started", "exited", "start"), ("started", "created", "start"), ("started", "paused", "unpause"),
    ("started", "running", None), ("paused", "running", "pause"), ("paused", "paused", None),
    ("paused", "exited", "skip"), ("unpaused", "paused", "unpause"), ("unpaused", "running", None)])
def test_state_plan(state, now, verb):
    assert plan(state, now) == verb


ALLOWED = {"cache_clear": ["python3", "-c", "print(1)"],
           "migrate": {"argv": ["manage", "migrate"], "extra_args": True, "timeout": 300},
           "bad": "rm -rf /tmp/x"}


def test_allow_list():
    assert resolve(ALLOWED, "cache_clear", [], 60) == (["python3", "-c", "print(1)"], 60.0)
    assert resolve(ALLOWED, "migrate", ["0041; reboot"], 60) == (["manage", "migrate", "0041; reboot"], 300.0)
    with pytest.raises(NotAllowed, match="takes no extra arguments"):
        resolve(ALLOWED, "cache_clear", ["--all"], 60)
    with pytest.raises(NotAllowed, match="not in the allow-list"):
        resolve(ALLOWED, "reboot", [], 60)
    with pytest.raises(NotAllowed, match="never a shell string"):
        resolve(ALLOWED, "bad", [], 60)


def test_container_exec_module_refuses_before_touching_docker():
    res = run_module("container_exec", dict(container="anything", commands=ALLOWED, command="reboot",
                                            docker_host="unix:///nonexistent.sock"))
    assert res["failed"] and res["msg"].startswith("refused: command 'reboot' is not in the allow-list")


class FakeEngine(object):
    """Records stop/start calls; a container listed in `dead` exits right after its start."""
    timeout = 30.0

    def __init__(self, dead=()):
        self.calls = []
        self.dead = set(dead)

    def action(self, cid, verb, query=None, timeout=None):
        self.calls.append((verb, cid))

    def inspect(self, cid):
        running = cid not in self.dead
        return {"Name": "/" + cid, "State": {"Running": running, "ExitCode": 0 if running else 1,
                                             "Health": {"Status": "healthy"}}}


def test_rolling_restart_stops_at_the_first_replica_that_does_not_come_back():
    engine = FakeEngine(dead={"w2"})
    healthy, phases, reasons, _infos = restart_and_wait(engine, ["w1", "w2", "w3"], 5, Probe("health"), 5, serial=True)
    assert not healthy and reasons == {"w1": "health healthy", "w2": "exited with code 1"}
    assert engine.calls == [("stop", "w1"), ("start", "w1"), ("stop", "w2"), ("start", "w2")]  # w3 never touched
    assert set(phases) == {"stop_s", "start_s", "healthy_s"}


def test_parallel_restart_stops_every_replica_before_starting_them():
    engine = FakeEngine()
    healthy, _phases, reasons, _infos = restart_and_wait(engine, ["w1", "w2"], 5, Probe("health"), 5, serial=False)
    assert healthy and set(reasons) == {"w1", "w2"}
    assert sorted(engine.calls[:2]) == [("stop", "w1"), ("stop", "w2")]
    assert sorted(engine.calls[2:]) == [("start", "w1"), ("start", "w2")]


def test_a_failing_start_is_reported_as_unhealthy_so_the_ladder_can_escalate():
    class NoStart(FakeEngine):
        def action(self, cid, verb, query=None, timeout=None):
            FakeEngine.action(self, cid, verb, query, timeout)
            if verb == "start":
                raise DockerError("POST /containers/w1/start: HTTP 500 port is already allocated", 500)

    healthy, _phases, reasons, infos = restart_and_wait(NoStart(), ["w1"], 5, Probe("health"), 5)
    assert not healthy and reasons["w1"].startswith("start failed: POST") and "w1" in infos
