"""The lab is one example system: nothing outside it (plugins/, roles/, playbooks/) names its services, ports,
tables, paths or credentials. Those live in inventory/lab.yml only."""
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _lab_ports():
    """Every port of lab/.env, and its neighbours (a second api replica on 18001 is still the lab)."""
    ports = set()
    with open(os.path.join(REPO, "lab", ".env"), encoding="utf-8") as fh:
        for line in fh:
            name, _sep, value = line.strip().partition("=")
            if name.endswith("_PORT") and value.isdigit():
                ports.update(str(int(value) + d) for d in range(-2, 3))
    return ports


LAB_PATTERN = re.compile(
    r"incident-lab|lab-only|\b(%s)\b" % "|".join(sorted(_lab_ports())) +
    r"|(saga_executions|idempotent_operations|worker_heartbeat|due_work|task_run|audit_log)"
    r"|/run/lab/|/var/lib/lab/|/var/spool/lab|\borchestrator\b|WORKFLOW_DATABASE|incident_(api|public)_url"
    r"|incident_webhook_sink_url")
LAB_SERVICES = {"nginx", "api", "worker", "postgres", "redis", "prometheus", "alertmanager", "sink"}


def _files(*dirs):
    for top in dirs:
        for root, _dirs, files in os.walk(os.path.join(REPO, top)):
            for name in files:
                if name.endswith((".py", ".yml", ".yaml", ".j2")) and "__pycache__" not in root:
                    yield os.path.join(root, name)


def test_no_lab_identifier_in_plugins_roles_or_playbooks():
    hits = []
    for path in _files("plugins", "roles", "playbooks"):
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if LAB_PATTERN.search(line):
                    hits.append("%s:%d: %s" % (os.path.relpath(path, REPO), number, line.strip()))
    assert not hits, "lab names outside the lab inventory:\n" + "\n".join(hits)


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_no_role_default_names_a_lab_service():
    hits = []
    for path in _files("roles"):
        if os.sep + "defaults" + os.sep not in path and os.sep + "vars" + os.sep not in path:
            continue
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        data.pop("triage_checks", None)  # names of diagnostics (postgres, redis...), not services
        hits += ["%s: %s" % (os.path.relpath(path, REPO), s) for s in _strings(data) if s.strip() in LAB_SERVICES]
    assert not hits, hits
