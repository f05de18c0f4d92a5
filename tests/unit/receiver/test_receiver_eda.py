"""The EDA rulebook is generated from the routing table (scripts/gen_eda_rulebook.py): it is not stale,
it runs the table's playbooks, resolved alerts never remediate. tests/integration/test_routing_readers.py
replays alerts through it in the real rule engine."""
import importlib.util
import os
import re

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
RULEBOOK = os.path.join(REPO, "extensions", "eda", "rulebooks", "incident-response.yml")


def load(path):
    with open(path) as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("gen_eda_rulebook", os.path.join(REPO, "scripts", "gen_eda_rulebook.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_rulebook_is_generated_from_the_current_table(gen):
    with open(RULEBOOK) as fh:
        on_disk = fh.read()
    assert on_disk == gen.render(gen.load_router()), \
        "extensions/eda/rulebooks/incident-response.yml is stale: run scripts/gen_eda_rulebook.py"
    assert gen.main(["--check"]) == 0


def test_check_mode_fails_on_a_stale_rulebook(gen, tmp_path, monkeypatch, capsys):
    stale = tmp_path / "rulebook.yml"
    stale.write_text(open(RULEBOOK).read().replace("playbooks/api-down.yml", "playbooks/p0-outage.yml"))
    monkeypatch.setattr(gen, "RULEBOOK", str(stale))
    assert gen.main(["--check"]) == 1 and "stale" in capsys.readouterr().err


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
            assert rule["condition"].startswith('event.alert.status == "firing"'), rule["name"]
            assert rule["throttle"]["once_within"] == "5 minutes"
    assert ruleset["rules"][0]["condition"] == 'event.alert.status == "resolved"'
    assert "run_playbook" not in ruleset["rules"][0]["action"]


def test_rulebook_runs_exactly_the_tables_playbooks(gen):
    [ruleset] = load(RULEBOOK)
    in_rulebook = {os.path.basename(r["action"]["run_playbook"]["name"]) for r in ruleset["rules"]
                   if "run_playbook" in r["action"]}
    router = gen.load_router()
    assert in_rulebook == {r.playbook for r in router.routes + [router.default] if r.playbook}
    for rule in ruleset["rules"]:
        if "run_playbook" in rule["action"]:
            assert re.match(r"^playbooks/[a-z0-9-]+\.yml$", rule["action"]["run_playbook"]["name"])
            assert os.path.isfile(os.path.join(REPO, rule["action"]["run_playbook"]["name"]))


def test_routes_sharing_a_run_must_be_adjacent_and_agree(gen):
    from incident_receiver.routing import Router  # pylint: disable=import-outside-toplevel
    split = Router({"routes": [{"name": "a", "playbook": "x.yml", "dedupe_as": "g"}, {"name": "b", "playbook": "y.yml"},
                               {"name": "c", "playbook": "x.yml", "dedupe_as": "g"}]}, "/nonexistent")
    with pytest.raises(gen.TableError, match="adjacent"):
        gen.render(split)
    mixed = Router({"routes": [{"name": "a", "playbook": "x.yml", "dedupe_as": "g"},
                               {"name": "c", "playbook": "y.yml", "dedupe_as": "g"}]}, "/nonexistent")
    with pytest.raises(gen.TableError, match="share dedupe_as"):
        gen.render(mixed)
    regex = Router({"routes": [{"name": "a", "playbook": "x.yml", "match_re": {"instance": "db-.*"}}]}, "/nonexistent")
    with pytest.raises(gen.TableError, match="match_re"):
        gen.render(regex)
