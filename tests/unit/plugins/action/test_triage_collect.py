"""incident.response.triage_collect run by real ansible-playbook on localhost (no lab): results keyed by name, two
runs of one module kept apart, all at once with pipelining and one at a time without, a failing diagnostic reported
rather than raised, the task's temporary directory removed.

scripts/triage_collect_matrix.sh runs this file once per ansible-core of the support matrix: it points
TRIAGE_COLLECT_ANSIBLE_BIN at that version's bin directory (default: the repo's .venv/bin)."""
import json
import os
import subprocess

import pytest

from tests.ansible import REPO, VENV_BIN
from tests.local_servers import ScriptedHTTPServer

ANSIBLE_BIN = os.environ.get("TRIAGE_COLLECT_ANSIBLE_BIN") or VENV_BIN
DELAY = 1.5  # seconds each slow endpoint takes to answer

PLAYBOOK = """
- name: Run diagnostics through triage_collect
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Collect
      incident.response.triage_collect:
        diagnostics: "{{ diagnostics }}"
        prebuild: "{{ prebuild | default([]) }}"
      register: collected

    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{ collected | to_nice_json }}"
        dest: "{{ out_file }}"
        mode: "0600"
"""
INVENTORY = """
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
"""


@pytest.fixture
def server():
    srv = ScriptedHTTPServer()
    srv.script["/slow-one"] = [(200, {"ok": True}, DELAY)]
    srv.script["/slow-two"] = [(200, {"ok": True}, DELAY)]
    yield srv
    srv.close()


def collect(tmp_path, diagnostics, pipelining=True, prebuild=None):
    """Run the playbook; return (CompletedProcess, registered result or None, remote_tmp dir)."""
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    out, remote_tmp = tmp_path / "out.json", tmp_path / "remote_tmp"
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PIPELINING=str(pipelining), ANSIBLE_REMOTE_TMP=str(remote_tmp),
               ANSIBLE_CALLBACK_TIMELINE_ROOT=str(tmp_path / "incidents"),
               PATH=ANSIBLE_BIN + os.pathsep + os.environ.get("PATH", ""))
    argv = [os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
            "-e", json.dumps(dict(diagnostics=diagnostics, out_file=str(out), prebuild=prebuild or []))]
    res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)
    return res, (json.loads(out.read_text()) if out.exists() else None), remote_tmp


def http(url, name):
    return dict(module="incident.response.http_check", args=dict(checks=[dict(name=name, url=url)], timeout=DELAY * 4))


def two_slow_and_a_broken(server):
    return {
        "http_check@one": http(server.url + "/slow-one", "one"),
        "http_check@two": http(server.url + "/slow-two", "two"),
        "http_check@broken": dict(module="incident.response.http_check", args=dict(checks=[dict(name="no-url")])),
        "skipped": None,
    }


def assert_results(res, got, server, remote_tmp):
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    diags = got["diagnostics"]
    assert set(diags) == {"http_check@one", "http_check@two", "http_check@broken"}
    for name in ("one", "two"):  # each run got its own args, not the other's
        check = diags["http_check@" + name]["checks"][name]
        assert check["url"].endswith("/slow-" + name) and check["healthy"] is True, check
        assert diags["http_check@" + name]["triage_elapsed_ms"] >= DELAY * 1000
    assert got["failed_diagnostics"] == ["http_check@broken"] and "url" in diags["http_check@broken"]["msg"]
    assert got["changed"] is False and not got.get("failed")
    assert sorted(r["path"] for r in server.requests) == ["/slow-one", "/slow-two"]
    # The task made its temporary directory under remote_tmp and removed it afterwards.
    assert remote_tmp.is_dir() and not [p.name for p in remote_tmp.iterdir()]


def test_runs_modules_at_once_with_pipelining(tmp_path, server):
    res, got, remote_tmp = collect(tmp_path, two_slow_and_a_broken(server))
    assert_results(res, got, server, remote_tmp)
    slow = [got["diagnostics"]["http_check@" + n]["triage_elapsed_ms"] for n in ("one", "two")]
    # One after the other the fan-out would take at least the sum of the two; at once, about the longer one.
    assert got["elapsed_ms"] < sum(slow) - DELAY * 500, (got["elapsed_ms"], slow)


def test_runs_one_module_twice_one_at_a_time_without_pipelining(tmp_path, server):
    res, got, remote_tmp = collect(tmp_path, two_slow_and_a_broken(server), pipelining=False)
    assert_results(res, got, server, remote_tmp)
    slow = [got["diagnostics"]["http_check@" + n]["triage_elapsed_ms"] for n in ("one", "two")]
    assert got["elapsed_ms"] + 1 >= sum(slow), (got["elapsed_ms"], slow)


def test_other_modules_are_refused(tmp_path):
    res, got, _remote_tmp = collect(tmp_path, {"shell": dict(module="ansible.builtin.command", args=dict(cmd="true"))})
    assert res.returncode != 0 and got is None
    assert "only incident.response diagnostics modules run here" in res.stdout, res.stdout[-2000:]


def test_prebuild_builds_payloads_while_the_diagnostics_run(tmp_path, server):
    wanted = ["incident.response.service_restart", "incident.response.no_such_module"]
    res, got, remote_tmp = collect(tmp_path, two_slow_and_a_broken(server), prebuild=wanted)
    assert_results(res, got, server, remote_tmp)  # the diagnostics are as without it
    assert got["prebuilt"] == [dict(module=wanted[0], built=True), dict(module=wanted[1], built=False)]


def test_prebuild_of_other_modules_is_refused(tmp_path, server):
    res, got, _remote_tmp = collect(tmp_path, two_slow_and_a_broken(server), prebuild=["ansible.builtin.shell"])
    assert res.returncode != 0 and got is None
    assert "prebuild must be a list of incident.response module names" in res.stdout, res.stdout[-2000:]
