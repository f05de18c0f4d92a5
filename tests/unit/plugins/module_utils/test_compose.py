"""Compose CLI argv building (never a shell) and service addressing."""
import pytest

from ansible_collections.incident.response.plugins.module_utils.compose import (
    ComposeError, compose_argv, compose_base, find_containers, lock_key_of, project_files, run_compose, service_of)

LABELS = {"com.docker.compose.project": "incident-lab", "com.docker.compose.service": "api",
          "com.docker.compose.project.config_files": "/srv/lab/docker-compose.yml,/srv/lab/override.yml",
          "com.docker.compose.project.working_dir": "/srv/lab"}


class FakeModule(object):
    def __init__(self, bins, rcs=None):
        self.bins = bins
        self.rcs = rcs or {}
        self.ran = []

    def get_bin_path(self, name):
        return self.bins.get(name)

    def run_command(self, argv, cwd=None):
        self.ran.append((list(argv), cwd))
        return self.rcs.get(tuple(argv[1:3]), 0), "out", "err"


def test_project_files_default_to_the_compose_labels():
    assert project_files(LABELS) == (["/srv/lab/docker-compose.yml", "/srv/lab/override.yml"], "/srv/lab")
    assert project_files(LABELS, ["/x.yml"], "/y") == (["/x.yml"], "/y")
    assert project_files({}) == ([], None)


def test_compose_argv_is_a_list_with_inputs_as_single_items():
    argv = compose_argv(["docker-compose"], "p; rm -rf /", ["/a b.yml"], None, ["up", "-d", "svc $(x)"])
    assert argv == ["docker-compose", "-p", "p; rm -rf /", "-f", "/a b.yml", "up", "-d", "svc $(x)"]


def test_compose_base_prefers_the_docker_plugin_then_v1():
    assert compose_base(FakeModule({"docker": "/usr/bin/docker"})) == ["/usr/bin/docker", "compose"]
    v1 = FakeModule({"docker": "/usr/bin/docker", "docker-compose": "/usr/bin/docker-compose"}, {("compose", "version"): 1})
    assert compose_base(v1) == ["/usr/bin/docker-compose"]
    with pytest.raises(ComposeError):
        compose_base(FakeModule({}))


def test_run_compose_needs_a_file_and_reports_failures():
    module = FakeModule({"docker-compose": "/usr/bin/docker-compose"})
    with pytest.raises(ComposeError) as err:
        run_compose(module, "p", {}, ["up"])
    assert "pass compose_files" in str(err.value)
    argv, _out = run_compose(module, "incident-lab", LABELS, ["up", "-d", "api"])
    assert argv[:3] == ["/usr/bin/docker-compose", "-p", "incident-lab"] and module.ran[-1][1] == "/srv/lab"
    failing = FakeModule({"docker-compose": "/usr/bin/docker-compose"}, {("-p", "incident-lab"): 1})
    with pytest.raises(ComposeError) as err:
        run_compose(failing, "incident-lab", LABELS, ["up"])
    assert "rc 1" in str(err.value) and "err" in str(err.value)


class FakeClient(object):
    def __init__(self, found):
        self.found = found
        self.asked = None

    def containers(self, **kwargs):
        self.asked = kwargs
        return self.found


def test_find_containers_skips_one_off_runs_and_matches_names_exactly():
    replicas = [dict(Id="a1", Names=["/lab_api_1"], Labels=LABELS),
                dict(Id="a2", Names=["/lab_api_run_1"], Labels=dict(LABELS, **{"com.docker.compose.oneoff": "True"}))]
    client = FakeClient(replicas)
    assert [c["Id"] for c in find_containers(client, dict(project="lab", service="api"))] == ["a1"]
    assert client.asked == dict(project="lab", service="api", all_states=True)
    client = FakeClient([dict(Id="b1", Names=["/web-old"], Labels={}), dict(Id="b2", Names=["/web"], Labels={})])
    assert [c["Id"] for c in find_containers(client, dict(container="web"), running_only=True)] == ["b2"]
    assert client.asked["all_states"] is False


def test_lock_key_is_the_service_even_when_a_replica_is_named():
    assert lock_key_of(dict(Names=["/lab_api_1"], Labels=LABELS)) == "docker-incident-lab-api"
    assert lock_key_of(dict(Names=["/standalone"], Labels={})) == "docker-container-standalone"
    assert service_of({"Name": "/x", "Config": {"Labels": LABELS}}) == ("incident-lab", "api")
