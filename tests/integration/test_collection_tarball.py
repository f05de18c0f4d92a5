"""The collection as Galaxy ships it: the tarball built from this checkout holds the collection and nothing of the
development tooling, installs into an empty project, and a scenario runs from it by FQCN in check mode with only
the README's instructions (its "From the collection tarball" commands and inventory, run as written)."""
import glob
import json
import os
import re
import shutil
import subprocess
import tarfile

import yaml

from tests.ansible import REPO, VENV_BIN

README = os.path.join(REPO, "README.md")
# Never in the tarball: the lab (its .env holds lab credentials), test and build tooling, artefacts.
NOT_SHIPPED = ("lab/", "tests/", "molecule/", "scripts/", "inventory/", ".ci/", ".config/", "collections/", "incidents/",
               "extensions/receiver/", "extensions/rundeck/", "changelogs/fragments/")
NOT_SHIPPED_FILES = ("Makefile", "requirements.txt", "ansible.cfg", ".env", "pytest.ini", ".ansible-lint")


def readme_section():
    text = open(README).read()
    start = text.index("### From the collection tarball")
    return text[start:text.index("\n### ", start + 10)]


def build_tarball(dest):
    res = subprocess.run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(dest), REPO],
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    return glob.glob(os.path.join(str(dest), "incident-response-*.tar.gz"))[0]


def project_env():
    """What a user's shell has: the tools on PATH, none of the clone's configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "INCIDENT_"))}
    env.update(PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""), NO_COLOR="1", ANSIBLE_NOCOLOR="1")
    return env


def test_tarball_ships_the_collection_only(tmp_path):
    galaxy = yaml.safe_load(open(os.path.join(REPO, "galaxy.yml")))
    with tarfile.open(build_tarball(tmp_path)) as tar:
        names = [n[2:] if n.startswith("./") else n for n in tar.getnames()]
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        license_text = tar.extractfile("COPYING").read().decode()
    leaked = [n for n in names if n.startswith(NOT_SHIPPED) or os.path.basename(n) in NOT_SHIPPED_FILES
              or "egg-info" in n or "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]
    assert leaked == []
    for needed in ("plugins/modules/service_restart.py", "roles/triage/tasks/main.yml", "playbooks/p0_outage.yml",
                   "playbooks/p0-outage.yml", "meta/runtime.yml", "meta/execution-environment.yml", "meta/ee-requirements.txt",
                   "changelogs/changelog.yaml", "CHANGELOG.md", "README.md", "COPYING"):
        assert needed in names, needed
    # galaxy.yml says GPL-3.0-or-later; COPYING is that licence's text
    assert galaxy["license"] == ["GPL-3.0-or-later"] and manifest["collection_info"]["license"] == ["GPL-3.0-or-later"]
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "Version 3, 29 June 2007" in license_text
    assert len(names) < 400, len(names)


def test_every_scenario_has_an_fqcn_entry_point_in_the_installed_collection(tmp_path):
    tarball = build_tarball(tmp_path)
    collections = tmp_path / "collections"
    # from the empty project: run from the clone, ansible.cfg there would make the clone's copy the installed one
    res = subprocess.run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "install", tarball, "-p", str(collections)],
                         cwd=str(tmp_path), capture_output=True, text=True, timeout=120, env=project_env(), check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    installed = collections / "ansible_collections" / "incident" / "response" / "playbooks"
    hyphenated = sorted(os.path.basename(p)[:-4] for p in glob.glob(str(installed / "*-*.yml")))
    assert hyphenated, "no scenario playbooks installed"
    fqcns = ["incident.response." + name.replace("-", "_") for name in hyphenated] + ["incident.response.respond"]
    env = dict(project_env(), ANSIBLE_COLLECTIONS_PATH=str(collections))
    res = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "--syntax-check", "-i", "localhost,", "-e", "scenario=investigate"]
                         + fqcns, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, env=env, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for name in hyphenated:  # each alias is the scenario itself, imported (not a copy that could drift)
        alias = yaml.safe_load((installed / (name.replace("-", "_") + ".yml")).read_text())
        assert alias[0]["ansible.builtin.import_playbook"] == name + ".yml"


def test_readme_instructions_run_a_scenario_from_the_tarball(healthy_lab, tmp_path):
    section = readme_section()
    commands = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    inventory = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    assert inventory.startswith("# inventory.yml")
    project = tmp_path / "project"
    project.mkdir()
    (project / "inventory.yml").write_text(inventory)
    script = "set -euo pipefail\n" + commands.replace("/path/to/clone", REPO)
    res = subprocess.run(["bash", "-c", script], cwd=str(project), capture_output=True, text=True, timeout=600,
                         env=project_env(), check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-3000:]
    assert "incident.response.p0_outage" in commands and "--check" in commands
    assert (project / "collections" / "ansible_collections" / "incident" / "response" / "playbooks" / "p0_outage.yml").exists()
    timelines = glob.glob(str(project / "incidents" / "INC-*" / "timeline.jsonl"))
    assert len(timelines) == 1, res.stdout[-3000:]
    events = [json.loads(line) for line in open(timelines[0])]
    assert events[0]["type"] == "run_start" and events[0]["check_mode"] is True
    assert any(e.get("type") == "task" and e.get("task", "").startswith("Publish the incident summary") for e in events), \
        "the run must end with the published summary"
    assert "ok=" in res.stdout and "failed=0" in res.stdout


# --- changelog and versions ---------------------------------------------------------------------------------------

def plugin_docs():
    """(path, version_added) of every plugin and module (Python DOCUMENTATION and the YAML docs of filters)."""
    found = []
    for path in glob.glob(os.path.join(REPO, "plugins", "*", "*.py")) + glob.glob(os.path.join(REPO, "plugins", "filter", "*.yml")):
        match = re.search(r"^\s{0,2}version_added:\s*\"?([0-9.]+)\"?\s*$", open(path).read(), re.M)
        if match:
            found.append((os.path.relpath(path, REPO), match.group(1)))
    return found


def test_versions_and_changelog_agree_with_galaxy_yml(tmp_path):
    version = yaml.safe_load(open(os.path.join(REPO, "galaxy.yml")))["version"]
    changes = yaml.safe_load(open(os.path.join(REPO, "changelogs", "changelog.yaml")))
    # nothing released yet: galaxy.yml's version is the release in preparation
    assert changes["releases"] == {} or version not in changes["releases"], "galaxy.yml's version is already released"
    docs = plugin_docs()
    assert len(docs) >= 30
    assert [(p, v) for p, v in docs if v != version] == [], "version_added must be the collection's first version"
    fragments = glob.glob(os.path.join(REPO, "changelogs", "fragments", "*.y*ml"))
    announcing = [f for f in fragments if re.search(r"^\s*\S+ - new (module|lookup|filter|action|callback)\b", open(f).read(), re.M)]
    assert announcing == [], "fragments must not announce new plugins (version_added does): %s" % announcing

    bin_dir = VENV_BIN
    res = subprocess.run([os.path.join(bin_dir, "antsibull-changelog"), "lint"], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=False)
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr
    # the release step, on a copy (it consumes the fragments): the notes list every module from version_added
    copy = tmp_path / "ansible_collections" / "incident" / "response"
    copy.mkdir(parents=True)
    for name in ("galaxy.yml", "meta", "plugins", "changelogs"):
        src = os.path.join(REPO, name)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, str(copy / name))
    env = dict(project_env(), PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    res = subprocess.run([os.path.join(bin_dir, "antsibull-changelog"), "release", "--version", version], cwd=str(copy),
                         capture_output=True, text=True, timeout=300, env=env, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    notes = (copy / "CHANGELOG.md").read_text()
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")))
    new_modules = notes[notes.index("### New Modules"):]
    assert [m for m in modules if "* " + m.replace("_", "\\_") + " \\- " not in new_modules] == []
    released = yaml.safe_load((copy / "changelogs" / "changelog.yaml").read_text())
    assert list(released["releases"]) == [version]
    # the committed CHANGELOG.md is antsibull's rendering of the pending release (`make changelog`)
    committed = open(os.path.join(REPO, "CHANGELOG.md")).read()
    assert committed.startswith("# Incident\\.Response Release Notes")
    assert "## v%s (unreleased)" % version.replace(".", "\\.") in committed
