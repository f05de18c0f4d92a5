"""Run the collection's real modules and playbooks from tests.

run_module() executes a module file the way Ansible does for a local target (a subprocess fed
ANSIBLE_MODULE_ARGS), so tests exercise the real module code quickly; run_playbook() runs real
ansible-playbook with the repo's ansible.cfg."""
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(REPO, "collections")
VENV_BIN = os.path.join(REPO, ".venv", "bin")


def run_module(name, args, check=False, timeout=120):
    """Return the module's result dict (with `failed` when it failed)."""
    payload = {"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check, _ansible_diff=True)}
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(payload, fh)
    try:
        res = subprocess.run([sys.executable, "-m", "ansible_collections.incident.response.plugins.modules." + name, fh.name],
                             capture_output=True, text=True, timeout=timeout, env=env, check=False)
    finally:
        os.unlink(fh.name)
    try:
        return json.loads(res.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc %d): %s %s" % (name, res.returncode, res.stdout[-2000:], res.stderr[-2000:]))


def run_playbook(playbook, extra_vars=None, check=False, env=None, timeout=600, args=(), stdout_callback="ansible.builtin.default"):
    """Run ansible-playbook from the repo root; return the CompletedProcess (stdout+stderr text).

    Tests read the standard output (task names, debug messages), so the run uses `stdout_callback`
    (ansible.builtin.default); None leaves it to ansible.cfg (the responder's console)."""
    argv = [os.path.join(VENV_BIN, "ansible-playbook"), playbook]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    argv += list(args)
    full_env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"), NO_COLOR="1", ANSIBLE_NOCOLOR="1",
                    PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
    full_env.pop("ANSIBLE_STDOUT_CALLBACK", None)
    if stdout_callback:
        full_env["ANSIBLE_STDOUT_CALLBACK"] = stdout_callback
    full_env.update(env or {})
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout, env=full_env, check=False)
