"""One routing table, three engines that agree: the same alerts go through the receiver's Router, through
playbooks/respond.yml's own expressions in a real ansible-playbook, and through the generated EDA
rulebook in the real rule engine (ansible-rulebook + Drools); all pick the same scenario. No lab."""
import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.integration.receiver_support import REPO

sys.path.insert(0, os.path.join(REPO, "extensions", "receiver"))
from incident_receiver import routing, validate  # noqa: E402  pylint: disable=wrong-import-position

BIN = os.path.dirname(sys.executable)
TABLE = os.path.join(REPO, "playbooks", "vars", "routes.yml")

REPLAY_SOURCE = '''
"""Emits alerts shaped like ansible.eda.alertmanager's events, then one to stop."""
import asyncio


async def main(queue, args):
    for alert in args["alerts"]:
        await queue.put({"alert": alert, "meta": {"endpoint": "", "headers": {}}})
    await asyncio.sleep(0.5)
    await queue.put({"alert": {"status": "end", "labels": {"alertname": "end"}}, "meta": {}})
'''


def lab_cases():
    """Every lab alert (as Prometheus labels it: the scrape config gives each target service=<job>),
    then the table's edges: severities, a job without a service label, no service, an unknown alert."""
    with open(os.path.join(REPO, "lab", "config", "prometheus", "rules.yml")) as fh:
        rules = yaml.safe_load(fh)["groups"][0]["rules"]
    cases = []
    for rule in rules:
        labels = dict(rule["labels"], alertname=rule["alert"])
        if "service" in labels:
            cases.append(labels)
        else:
            cases += [dict(labels, job=j, service=j) for j in ("api", "postgres", "redis")]
    cases += [{"alertname": "HighResponseTime", "service": "api", "severity": "Critical"},
              {"alertname": "HighAPILatency", "service": "api", "severity": "sev4"},
              {"alertname": "WorkQueueBacklog", "service": "worker", "severity": "page"},
              {"alertname": "ServiceDown", "job": "nginx", "severity": "P0"},
              {"alertname": "TaskSchedulerAPIDown"}, {"alertname": "DiskSpaceCritical", "service": "api"},
              {"alertname": "SomethingNew", "service": "x"}]
    # the same alert names about Kubernetes workloads (a namespace label) take the Kubernetes paths
    cases += [{"alertname": name, "service": "checkout", "namespace": "shop", "severity": "critical"}
              for name in ("ServiceDown", "KubePodCrashLooping", "HighErrorRate", "HighResponseTime",
                           "WorkflowExecutionFailureRate", "KubePodOOMKilled")]
    return [dict(c, case="c%02d" % i) for i, c in enumerate(cases)]


@pytest.fixture(scope="module")
def router():
    return routing.Router(routing.load(os.path.join(REPO, "extensions", "receiver", "routes.yml"), REPO),
                          os.path.join(REPO, "playbooks"))


def receiver_view(router, labels):
    [alert] = validate.generic({"alertname": labels["alertname"], "labels": labels, "fingerprint": labels["case"]})
    router.enrich(alert)
    return alert, router.route(alert)


def test_respond_yml_picks_the_receivers_scenario_for_every_lab_alert(router, tmp_path):
    """respond.yml's vars, as written there, evaluated by ansible-playbook for each alert (one run)."""
    with open(os.path.join(REPO, "playbooks", "respond.yml")) as fh:
        respond_vars = yaml.safe_load(fh)[0]["vars"]
    with open(TABLE) as fh:
        (tmp_path / "table.yml").write_text(yaml.safe_dump({"incident_routes": yaml.safe_load(fh)}))
    cases = lab_cases()
    task_vars = dict(respond_vars, alert_name="{{ item.alertname }}", severity="{{ item.severity | default('') }}",
                     service="{{ item.service | default('') }}", description="", incident_alert="{{ {'labels': item} }}")
    (tmp_path / "probe.yml").write_text(yaml.safe_dump([{
        "name": "Evaluate respond.yml's routing", "hosts": "localhost", "gather_facts": False,
        "tasks": [{"name": "Route", "ansible.builtin.debug": {"msg": "ROUTE {{ item.case }} {{ respond_scenario }}"},
                   "loop": "{{ cases }}", "vars": task_vars}]}]))
    (tmp_path / "cases.yml").write_text(yaml.safe_dump({"cases": cases}))
    (tmp_path / "ansible.cfg").write_text("[defaults]\nlocalhost_warning = False\n")
    res = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", "probe.yml",
                          "-e", "@table.yml", "-e", "@cases.yml"], cwd=str(tmp_path), capture_output=True, text=True,
                         timeout=120, check=False,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), NO_COLOR="1"))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    picked = dict(line.split('"ROUTE ', 1)[1].rstrip('"').split() for line in res.stdout.splitlines() if '"ROUTE ' in line)
    compared = 0
    for labels in cases:
        _alert, route = receiver_view(router, labels)
        if route is router.default:           # respond.yml goes on by words / severity: its own business
            continue
        assert picked[labels["case"]] == os.path.splitext(route.playbook)[0], (labels, picked[labels["case"]])
        compared += 1
    assert compared >= len(cases) - 1


def test_generated_rulebook_routes_like_the_receiver_in_the_real_rule_engine(router, tmp_path):
    """The shipped rulebook with a replay source (ansible.eda comes from Galaxy, unreachable here);
    each run_playbook becomes a debug line naming the playbook."""
    with open(os.path.join(REPO, "extensions", "eda", "rulebooks", "incident-response.yml")) as fh:
        doc = yaml.safe_load(fh)
    cases = lab_cases()
    events = [{"status": "firing", "labels": {k: v for k, v in c.items() if k != "case"}, "fingerprint": c["case"]}
              for c in cases]
    events.append({"status": "resolved", "labels": {"alertname": "RedisMemoryHigh"}, "fingerprint": "r"})
    ruleset = doc[0]
    ruleset["sources"] = [{"name": "replay", "replay": {"alerts": events}}]
    for rule in ruleset["rules"]:
        if "run_playbook" in rule["action"]:
            rule["action"] = {"debug": {"msg": "ROUTE {{ event.alert.fingerprint }} %s"
                                               % os.path.basename(rule["action"]["run_playbook"]["name"])}}
    ruleset["rules"].append({"name": "stop", "condition": 'event.alert.status == "end"',
                             "action": {"shutdown": {"delay": 0}}})
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "replay.py").write_text(REPLAY_SOURCE)
    (tmp_path / "rulebook.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    (tmp_path / "inventory.yml").write_text("all: {hosts: {localhost: {}}}\n")
    res = subprocess.run([os.path.join(BIN, "ansible-rulebook"), "-S", str(tmp_path / "sources"),
                          "-r", str(tmp_path / "rulebook.yml"), "-i", str(tmp_path / "inventory.yml")],
                         capture_output=True, text=True, timeout=180, check=False,
                         env=dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", "")))
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    ran = dict(line.split()[1:3] for line in res.stdout.splitlines() if line.startswith("ROUTE "))
    expected, keys = {}, set()
    for labels in cases:           # the receiver: one run per dedupe key, record-only below unattended_priority
        alert, route = receiver_view(router, labels)
        key = route.dedupe_key(alert)
        if route.runs_unattended(alert) and key not in keys:
            expected[labels["case"]] = route.playbook
            keys.add(key)
    assert ran == expected, json.dumps({"rulebook": ran, "receiver": expected}, indent=1)
    assert "'status': 'resolved'" in res.stdout                                  # printed, not remediated
