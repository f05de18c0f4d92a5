"""The execution environment: ansible-builder reads the collection's runtime dependencies only
(meta/execution-environment.yml), they install into a fresh venv, and the EE image built on the lab's engine
from the locally built Debian base (extensions/awx/build-ee.sh: no registry, no Galaxy) runs p0-outage by FQCN in
check mode with ansible-runner, as AWX runs a job, against the lab (host network, the Docker socket mounted)."""
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.ansible import REPO, VENV_BIN

EE_FILE = os.path.join(REPO, "extensions", "awx", "execution-environment.yml")
BUILD_EE = os.path.join(REPO, "extensions", "awx", "build-ee.sh")
# What the modules import (plugins/module_utils): nothing of the development requirements.txt. PyYAML is declared
# too, but ansible-builder's --sanitize drops it (ansible-core brings it).
RUNTIME = {"docker", "psycopg2-binary", "redis", "jmespath", "kubernetes", "pyyaml"}
INTROSPECTED = RUNTIME - {"pyyaml"}
TAG = "incident-response-ee:test"


def run(argv, timeout=300, **kwargs):
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    assert res.returncode == 0, " ".join(argv) + "\n" + res.stdout[-4000:] + res.stderr[-4000:]
    return res


def requirement_names(text):
    return {re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower() for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")}


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("tarball")
    run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(out), REPO])
    return glob.glob(str(out / "incident-response-*.tar.gz"))[0]


def test_ansible_builder_create_makes_a_registry_free_build_context(tarball, tmp_path):
    shutil.copy(EE_FILE, tmp_path / "execution-environment.yml")
    shutil.copy(tarball, tmp_path / "incident.response.tar.gz")  # as build-ee.sh names it
    run([os.path.join(VENV_BIN, "ansible-builder"), "create", "--file", str(tmp_path / "execution-environment.yml"),
         "--context", str(tmp_path / "context"), "--output-filename", "Containerfile"])
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="localhost/incident-response-ee-base:latest"' in containerfile
    assert re.findall(r"^FROM (\S+)", containerfile, re.M) == ["$EE_BASE_IMAGE", "base", "base", "base"]
    assert "introspect" in containerfile and "install-from-bindep" in containerfile
    assert 'ARG PKGMGR="/usr/local/bin/ee-pkgmgr"' in containerfile and 'ARG PYCMD="/opt/ee/bin/python3"' in containerfile
    galaxy = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert galaxy == {"collections": [{"name": "collections/incident.response.tar.gz", "type": "file"}]}
    assert (tmp_path / "context" / "_build" / "collections" / "incident.response.tar.gz").exists()
    # the definition itself adds no Python package: those come from the collection
    assert not glob.glob(str(tmp_path / "context" / "_build" / "requirements.txt"))


def test_introspected_requirements_are_the_runtime_ones_and_install_into_a_fresh_venv(tarball, tmp_path):
    collections = tmp_path / "collections"
    # outside the clone and its configuration, which would make the clone's copy the installed one
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    res = run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "install", tarball, "-p", str(collections)],
              cwd=str(tmp_path), env=env)
    assert (collections / "ansible_collections" / "incident" / "response" / "meta" / "execution-environment.yml").exists(), res.stdout
    pip_file, bindep_file = tmp_path / "requirements.txt", tmp_path / "bindep.txt"
    res = run([os.path.join(VENV_BIN, "ansible-builder"), "introspect", "--sanitize", "--write-pip", str(pip_file),
               "--write-bindep", str(bindep_file), str(collections)])
    assert requirement_names(pip_file.read_text()) == INTROSPECTED, res.stdout
    assert "# from collection incident.response" in pip_file.read_text()
    bindep = bindep_file.read_text()
    assert "postgresql-client [platform:dpkg]" in bindep and "postgresql [platform:rpm]" in bindep
    # installed by default: only the PostgreSQL client; tcpdump and a compose CLI stay behind bindep profiles
    default = [line.split()[0] for line in bindep.splitlines()
               if not re.search(r"\[[^]]*\b(capture|compose)\b[^]]*\]", line)]
    assert default == ["postgresql-client", "postgresql"], bindep
    venv = tmp_path / "venv"
    run(["python3", "-m", "venv", str(venv)])
    run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "-r", str(pip_file)], timeout=600)
    res = run([str(venv / "bin" / "python"), "-c", "import docker, psycopg2, redis, jmespath, kubernetes, requests; print('ok')"])
    assert res.stdout.strip() == "ok"
    installed = requirement_names(run([str(venv / "bin" / "pip"), "freeze"]).stdout)
    assert not installed & {"pytest", "molecule", "ansible-rulebook", "ansible-lint", "incident-receiver"}  # dev-only


def test_ee_image_runs_p0_outage_in_check_mode_against_the_lab(healthy_lab, tmp_path):
    build = run([BUILD_EE, TAG], timeout=1800, env=dict(os.environ, EE_BUILD_DIR=str(tmp_path / "build")))
    assert build.stdout.strip().splitlines()[-1] == TAG
    inside = run(["docker", "run", "--rm", TAG, "bash", "-c",
                  "ansible-galaxy collection list incident.response && pip freeze && command -v pg_dump"])
    assert re.search(r"incident\.response\s+0\.1\.0", inside.stdout)
    assert RUNTIME <= requirement_names(inside.stdout) and "pytest" not in requirement_names(inside.stdout)
    assert "/usr/bin/pg_dump" in inside.stdout

    # The job as AWX lays it out: a private data dir with the inventory, env vars and the command line.
    pdd = tmp_path / "pdd"
    for sub in ("env", "inventory", "project", "incidents"):
        (pdd / sub).mkdir(parents=True)
    (pdd / "inventory" / "hosts.json").write_text(json.dumps(yaml.safe_load(open(os.path.join(REPO, "inventory", "lab.yml")))))
    envvars = {"ANSIBLE_CALLBACKS_ENABLED": "incident.response.timeline", "INCIDENT_ROOT": "/runner/incidents"}
    (pdd / "env" / "envvars").write_text(json.dumps(envvars))
    (pdd / "env" / "cmdline").write_text("--check")
    for root, dirs, files in os.walk(pdd):  # the EE runs as uid 1000
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o777)
    os.chmod(pdd, 0o777)
    gid = str(os.stat("/var/run/docker.sock").st_gid)
    res = subprocess.run(["docker", "run", "--rm", "--network", "host", "--group-add", gid,
                          "-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", "%s:/runner" % pdd, TAG,
                          "ansible-runner", "run", "/runner", "-p", "incident.response.p0_outage", "--ident", "ee-check"],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    assert (pdd / "artifacts" / "ee-check" / "status").read_text() == "successful"
    timelines = glob.glob(str(pdd / "incidents" / "INC-*" / "timeline.jsonl"))
    assert len(timelines) == 1
    events = [json.loads(line) for line in open(timelines[0])]
    assert events[0]["type"] == "run_start" and events[0]["check_mode"] is True
    assert not [e for e in events if e.get("type") == "task" and e.get("status") in ("failed", "unreachable")]
    # the summary published with set_stats, as AWX shows it (the stats event's artifact_data)
    stats = [json.load(open(p)) for p in glob.glob(str(pdd / "artifacts" / "ee-check" / "job_events" / "*.json"))]
    artifact = next(e["event_data"]["artifact_data"] for e in stats if e.get("event") == "playbook_on_stats")
    assert artifact["incident_id"] == os.path.basename(os.path.dirname(timelines[0]))
    assert artifact["incident_status"] in ("no incident", "open", "mitigated", "resolved")
    assert artifact["incident_dir"] == "/runner/incidents/" + artifact["incident_id"]
