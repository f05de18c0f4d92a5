"""The roles' contract. Inputs: what defaults/main.yml sets is what meta/argument_specs.yml validates,
with the same literal defaults. Outputs: every fact a role sets for others is named in its README.md
and in the description of its main entry point. Everything else a role names is private,
<role>__*, and no other role, playbook, inventory or document uses it (Python tests may read a
role's files to check them)."""
import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLES_DIR = os.path.join(REPO, "roles")
ROLES = sorted(d for d in os.listdir(ROLES_DIR) if os.path.isdir(os.path.join(ROLES_DIR, d)))
# Where a role's private names must not appear.
OUTSIDE = ("roles", "playbooks", "inventory", "molecule", "tests", "extensions", "docs", "README.md")
# Inputs in defaults/main.yml that an argument spec cannot hold: the spec is templated when the role
# starts, and these read a fact the role sets later. Each must be explained in its role's spec.
LATE_BOUND = {"remediate_workers": {"remediate_workers_fresh_checks"}}


def _yaml(*parts):
    path = os.path.join(ROLES_DIR, *parts)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _defaults(role):
    return _yaml(role, "defaults", "main.yml") or {}


def _specs(role):
    return _yaml(role, "meta", "argument_specs.yml")["argument_specs"]


def _templated(value):
    return isinstance(value, str) and "{{" in value


def _spec_text(spec):
    """Everything an entry point says, descriptions of its options included."""
    return yaml.safe_dump(spec, width=10000)


def _tasks(role):
    """(file, task) for every task of the role, blocks flattened."""
    def walk(tasks, name):
        for task in tasks or []:
            yield name, task
            for key in ("block", "rescue", "always"):
                yield from walk(task.get(key), name)
    tasks_dir = os.path.join(ROLES_DIR, role, "tasks")
    for name in sorted(os.listdir(tasks_dir)):
        yield from walk(_yaml(role, "tasks", name), name)


def _set_by(role):
    """Names the role's tasks set as facts (set_fact, register): name -> task file."""
    names = {}
    for name, task in _tasks(role):
        facts = task.get("ansible.builtin.set_fact") or task.get("set_fact")
        for key in facts if isinstance(facts, dict) else {}:
            names.setdefault(key, name)
        if task.get("register"):
            names.setdefault(task["register"], name)
    return names


def _outputs(role):
    """The facts a role hands to others: every one it sets that is not private."""
    return sorted(n for n in _set_by(role) if not n.startswith(role + "__"))


def _readme_outputs(role):
    with open(os.path.join(ROLES_DIR, role, "README.md"), encoding="utf-8") as fh:
        text = fh.read()
    section = re.search(r"^## Outputs\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "roles/%s/README.md has no '## Outputs' section" % role
    return text, re.findall(r"^- `(\w+)`", section.group(1), re.M)


def _included_role_options(task):
    """Options of the role an include_role / import_role task runs (its entry point's spec)."""
    action = task.get("ansible.builtin.include_role") or task.get("ansible.builtin.import_role")
    if not action:
        return None
    role = action["name"].split(".")[-1]
    entry = os.path.splitext(action.get("tasks_from", "main"))[0]
    return set(_specs(role)[entry].get("options", {}))


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_list_the_same_keys(role):
    defaults = _defaults(role)
    late = LATE_BOUND.get(role, set())
    assert late <= set(defaults), "late-bound inputs of %s must still have a default" % role
    for entry, spec in _specs(role).items():
        options = spec.get("options", {})
        required = {k for k, o in options.items() if o.get("required")}
        where = "roles/%s entry point %s" % (role, entry)
        assert set(defaults) - late - set(options) == set(), where + ": defaults missing from the argument spec"
        assert set(options) - set(defaults) - required == set(), where + ": options without a default in defaults/main.yml"
        assert required & set(defaults) == set(), where + ": a required option must not have a default"
        assert late & set(options) == set(), where + ": a late-bound input cannot be validated at role start"
        for name in late:
            assert name in _spec_text(spec), where + ": say why %s is not validated" % name


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_defaults_are_the_role_defaults(role):
    defaults = _defaults(role)
    for entry, spec in _specs(role).items():
        for name, option in spec.get("options", {}).items():
            if name not in defaults or _templated(defaults[name]):
                continue
            value = defaults[name]
            if "default" in option:
                assert option["default"] == value, "roles/%s %s: %s defaults to %r, the spec says %r" % (
                    role, entry, name, value, option["default"])
            else:
                # Long literal defaults (option tables, SQL) are described in words; short ones are stated.
                assert isinstance(value, (dict, list)) and value, "roles/%s %s: %s needs default: %r in the spec" % (
                    role, entry, name, value)


@pytest.mark.parametrize("role", ROLES)
def test_every_tasks_from_has_an_entry_point(role):
    used = set()
    pattern = re.compile(r"name:\s*incident\.response\.%s\s*\n\s*tasks_from:\s*(\w+)" % role)
    for top in ("playbooks", "roles", "molecule"):
        for root, _dirs, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if name.endswith((".yml", ".yaml")):
                    with open(os.path.join(root, name), encoding="utf-8") as fh:
                        used.update(pattern.findall(fh.read()))
    assert used <= set(_specs(role)), "roles/%s: tasks_from without an argument spec entry point: %s" % (
        role, sorted(used - set(_specs(role))))


@pytest.mark.parametrize("role", ROLES)
def test_readme_names_inputs_and_every_output(role):
    assert os.path.exists(os.path.join(ROLES_DIR, role, "README.md")), "roles/%s has no README.md" % role
    text, documented = _readme_outputs(role)
    assert "meta/argument_specs.yml" in text, "roles/%s/README.md: point the inputs to meta/argument_specs.yml" % role
    assert sorted(documented) == _outputs(role), "roles/%s/README.md: the Outputs list is not what the role sets" % role
    for name in documented:
        entry = re.search(r"^- `%s` - (.*?)(?=^- `|\n\n|\Z)" % name, text, re.M | re.S).group(1)
        assert "Read by:" in entry, "roles/%s/README.md: say who reads %s" % (role, name)


@pytest.mark.parametrize("role", ROLES)
def test_main_entry_point_names_every_output(role):
    text = _spec_text(_specs(role)["main"])
    missing = [name for name in _outputs(role) if "C(%s)" % name not in text]
    assert not missing, "roles/%s: the main entry point's description does not name %s" % (role, missing)


@pytest.mark.parametrize("role", ROLES)
def test_private_names_follow_one_convention(role):
    """Role vars and task vars are <role>__*; a task's vars for another role are that role's options."""
    private = role + "__"
    vars_main = _yaml(role, "vars", "main.yml") or {}
    assert [k for k in vars_main if not k.startswith(private)] == [], "roles/%s/vars/main.yml: name them %s*" % (role, private)
    for name, task in _tasks(role):
        options = _included_role_options(task)
        for key in task.get("vars") or {}:
            ok = key in options if options is not None else key.startswith(private)
            assert ok, "roles/%s/tasks/%s: task var %s is neither %s* nor an option of the included role" % (
                role, name, key, private)
    for name in _set_by(role):
        assert not name.startswith("_"), "roles/%s: %s - private names are %s*" % (role, name, private)


@pytest.mark.parametrize("role", ROLES)
def test_private_names_stay_inside_their_role(role):
    pattern = re.compile(r"\b%s__\w+" % role)
    own = os.path.join(ROLES_DIR, role) + os.sep
    hits = []
    for top in OUTSIDE:
        path = os.path.join(REPO, top)
        walk = [(os.path.dirname(path), [], [top])] if os.path.isfile(path) else os.walk(path)
        for root, _dirs, files in walk:
            for name in files:
                full = os.path.join(root, name)
                if full.startswith(own) or "__pycache__" in root or (top == "tests" and name.endswith(".py")):
                    continue
                if not name.endswith((".yml", ".yaml", ".j2", ".py", ".md", ".sh", ".json")):
                    continue
                with open(full, encoding="utf-8", errors="replace") as fh:
                    hits.extend("%s: %s" % (os.path.relpath(full, REPO), m) for m in pattern.findall(fh.read()))
    assert not hits, "private names of %s used outside it:\n%s" % (role, "\n".join(hits))
