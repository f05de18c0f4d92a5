"""The EDA rulebook routes like the receiver: same scenarios, same playbooks, resolved never remediates."""
import os
import re

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RULEBOOK = os.path.join(REPO, "extensions", "eda", "rulebooks", "incident-response.yml")
ROUTES = os.path.join(REPO, "extensions", "receiver", "routes.yml")


def load(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


def test_rulebook_structure():
    [ruleset] = load(RULEBOOK)
    assert set(ruleset) == {"name", "hosts", "sources", "rules"}
    [source] = ruleset["sources"]
    assert source["ansible.eda.alertmanager"]["data_alerts_path"] == "alerts"
    names = [r["name"] for r in ruleset["rules"]]
    assert len(names) == len(set(names))
    for rule in ruleset["rules"]:
        assert set(rule) <= {"name", "condition", "action", "throttle"} and len(rule["action"]) == 1
        assert rule["condition"].count("(") == rule["condition"].count(")")
        if "run_playbook" in rule["action"]:
            assert 'event.alert.status == "firing"' in rule["condition"], rule["name"]
            assert rule["throttle"]["once_within"] == "5 minutes"
    assert ruleset["rules"][0]["condition"] == 'event.alert.status == "resolved"'
    assert "run_playbook" not in ruleset["rules"][0]["action"]


def test_rulebook_and_routes_run_the_same_playbooks():
    [ruleset] = load(RULEBOOK)
    in_rulebook = {os.path.basename(r["action"]["run_playbook"]["name"]) for r in ruleset["rules"]
                   if "run_playbook" in r["action"]}
    routes = load(ROUTES)
    in_routes = {r["playbook"] for r in routes["routes"] if r["playbook"]} | {routes["default"]["playbook"]}
    assert in_rulebook == in_routes
    for rule in ruleset["rules"]:
        if "run_playbook" in rule["action"]:
            assert re.match(r"^playbooks/[a-z0-9-]+\.yml$", rule["action"]["run_playbook"]["name"])
