"""One routing and severity table (playbooks/vars/routes.yml): the receiver reads it, the declare role
and the notify module map the same severity words, the lab's Prometheus `runbook` annotations name the
scenario it routes each alert to, and the lab's Alertmanager inhibit rules follow the catalog's
depends_on. (respond.yml and the EDA rulebook, evaluated by their real engines:
tests/integration/test_routing_table.py; the rulebook's freshness: test_receiver_eda.py.)"""
import os
import re

import pytest
import yaml

from incident_receiver import dependencies, routing

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TABLE = os.path.join(REPO, "playbooks", "vars", "routes.yml")
RECEIVER_ROUTES = os.path.join(REPO, "extensions", "receiver", "routes.yml")
RULES = os.path.join(REPO, "lab", "config", "prometheus", "rules.yml")
ALERTMANAGER = os.path.join(REPO, "lab", "config", "alertmanager", "alertmanager.yml")


def load(*parts):
    with open(os.path.join(REPO, *parts)) as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def table():
    return load("playbooks", "vars", "routes.yml")


@pytest.fixture(scope="module")
def router():
    return routing.Router(routing.load(RECEIVER_ROUTES, REPO), os.path.join(REPO, "playbooks"))


def test_the_receiver_extends_the_table_instead_of_copying_it(table, router):
    own = load("extensions", "receiver", "routes.yml")
    assert own["extends"] == "playbooks/vars/routes.yml"
    assert not {"routes", "default", "severity_aliases", "severity_map", "default_priority"} & set(own)
    assert [r.name for r in router.routes] == [r["name"] for r in table["routes"]]
    assert router.missing_playbooks() == []


def test_one_severity_table_for_the_receiver_declare_and_notify(table, router):
    aliases = table["severity_aliases"]
    assert router.aliases == aliases == routing.SEVERITY_ALIASES
    assert router.default_priority == table["default_priority"]
    assert load("roles", "declare", "vars", "main.yml")["declare__severity_aliases"] == aliases
    from ansible_collections.incident.response.plugins.module_utils import notify  # pylint: disable=import-outside-toplevel
    assert notify.SEVERITY_LEVEL == {word: int(p[1]) for word, p in aliases.items()}
    assert notify.level("no-such-word") == int(table["default_priority"][1])
    assert {"critical", "warning", "info", "sev1", "p0"} <= set(aliases)


def test_the_table_uses_only_what_every_reader_understands(table):
    """respond.yml matches alertname, service and runtime (and priority); the rulebook generator no regexes."""
    for route in table["routes"]:
        assert set(route["match"]) <= {"alertname", "service", "runtime"}, route["name"]
        assert "match_re" not in route and route.get("playbook"), route["name"]
        assert os.path.isfile(os.path.join(REPO, "playbooks", route["playbook"])), route["playbook"]
    for entry in table["keywords"]:
        assert os.path.isfile(os.path.join(REPO, "playbooks", entry["scenario"] + ".yml")), entry
    assert set(table["severities"]) == set(routing.PRIORITIES)


def render_runbook(template, labels):
    """The subset of Go templates the lab's annotations use: a literal, or
    {{ if eq $labels.X "v" }}a{{ else if eq $labels.X "w" }}b{{ else }}c{{ end }}."""
    if "{{" not in template:
        return template
    branch = re.compile(r'\{\{ (?:else )?if eq \$labels\.(\w+) "([^"]*)" \}\}([^{]*)')
    pos = 0
    while True:
        found = branch.match(template, pos)
        if not found:
            break
        if labels.get(found.group(1), "") == found.group(2):
            return found.group(3)
        pos = found.end()
    tail = re.compile(r"\{\{ else \}\}([^{]*)\{\{ end \}\}$").match(template, pos)
    assert tail, "unsupported template: %r" % template
    return tail.group(1)


def lab_alerts():
    """(alertname, labels) of every lab rule, once per service it can fire for: the rule's `service`
    label, else each job of its expression (the scrape config gives every target service=<job>)."""
    for rule in load("lab", "config", "prometheus", "rules.yml")["groups"][0]["rules"]:
        labels = dict(rule.get("labels") or {})
        if "service" in labels:
            yield rule, labels
            continue
        jobs = re.search(r'job=~?"([^"]+)"', rule["expr"]).group(1).split("|")
        for job in jobs:
            yield rule, dict(labels, job=job, service=job)


@pytest.mark.parametrize("rule, labels", list(lab_alerts()), ids=lambda v: v.get("alert") or v.get("service"))
def test_prometheus_runbook_annotations_name_the_tables_scenario(router, rule, labels):
    from incident_receiver import validate  # pylint: disable=import-outside-toplevel
    [alert] = validate.generic({"alertname": rule["alert"], "labels": labels})
    route = router.route(router.enrich(alert))
    assert route is not router.default, "%s routes to nothing in the table" % rule["alert"]
    scenario = os.path.splitext(route.playbook)[0]
    assert render_runbook(rule["annotations"]["runbook"], labels) == scenario, (rule["alert"], labels)


def test_alertmanager_inhibits_exactly_symptoms_of_dependencies(router):
    """Every inhibit rule: its sources are down alerts of services its targets depend on (catalog), its
    targets are alerts the lab raises for those dependants, never their own down alerts; `equal` holds
    labels both sides share (absent in the lab on both: equal), never one telling cause from symptom."""
    graph = dependencies.from_inventory(os.path.join(REPO, "inventory", "lab.yml"))
    lab = {}
    for rule, labels in lab_alerts():
        lab.setdefault(rule["alert"], set()).add(labels["service"])
    inhibit = load("lab", "config", "alertmanager", "alertmanager.yml")["inhibit_rules"]
    assert inhibit
    for rule in inhibit:
        source, target = matchers(rule["source_matchers"]), matchers(rule["target_matchers"])
        for service in target["service"]:
            assert source["service"] <= graph.causes_of(service), (service, source["service"])
        for name in source["alertname"]:
            assert source["service"] & lab[name], name
            assert "Down" in name, name
        for name in target["alertname"]:
            assert lab[name] & target["service"], "%s is never raised for %s" % (name, target["service"])
            assert router.route(router.enrich(_alert(name, sorted(lab[name])[0]))).name not in (
                "api-down", "database-down", "service-down"), name
        assert not {"service", "job", "instance", "alertname", "severity"} & set(rule["equal"])


def _alert(name, service):
    from incident_receiver import validate  # pylint: disable=import-outside-toplevel
    return validate.generic({"alertname": name, "labels": {"service": service}})[0]


def matchers(items):
    """{label: set of values} of Alertmanager matchers `l="v"` / `l=~"a|b"`."""
    out = {}
    for item in items:
        name, op, value = re.match(r'^(\w+)(=~|=)"([^"]*)"$', item).groups()
        out[name] = set(value.split("|")) if op == "=~" else {value}
    return out


def test_alerts_about_kubernetes_workloads_take_the_kubernetes_paths(router):
    """A namespace label (runtime_labels) makes the same alert name a Kubernetes incident; without it the
    compose scenario answers."""
    def route_of(**labels):
        alert = {"labels": dict(labels), "fingerprint": "f", "annotations": {}}
        return router.route(router.enrich(alert)).playbook
    assert route_of(alertname="HighErrorRate", service="checkout", namespace="shop") == "k8s-high-error-rate.yml"
    assert route_of(alertname="HighErrorRate", service="checkout") == "high-error-rate.yml"
    assert route_of(alertname="ServiceDown", service="api", namespace="shop") == "k8s-service-down.yml"
    assert route_of(alertname="KubePodOOMKilled", namespace="shop", pod="x") == "k8s-oom-killed.yml"
    assert route_of(alertname="HighResponseTime", service="checkout", namespace="shop") == "k8s-high-response-time.yml"
    assert route_of(alertname="WorkflowExecutionFailureRate", service="runner", namespace="shop") == "k8s-workflow-failures.yml"
