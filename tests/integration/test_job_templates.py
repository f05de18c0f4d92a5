"""AWX / AAP job templates and Rundeck jobs for the scenario playbooks.

- the data (extensions/awx/job_templates.yml) against the playbooks, the roles and AWX's survey rules;
- extensions/awx/configure.yml run for real (awx.awx modules) against a small fake controller API,
  twice (the second run changes nothing);
- extensions/rundeck/run-scenario.sh run the way a Rundeck command step runs it, against the lab in
  check mode, with shell and Jinja metacharacters in an option;
- p0-outage.yml through ansible-runner with the private data dir laid out the way AWX lays it out.
No real AWX or Rundeck server runs here: what those servers do themselves (project sync, survey
rendering, RD_OPTION_* export) is not exercised.
"""
import copy
import glob
import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from incident_receiver.dispatch import dump_extravars, unsafe
from tests.ansible import REPO, VENV_BIN, run_playbook

TEMPLATES_FILE = os.path.join(REPO, "extensions", "awx", "job_templates.yml")
JOBS_FILE = os.path.join(REPO, "extensions", "rundeck", "jobs.yaml")
RUN_SCENARIO = os.path.join(REPO, "extensions", "rundeck", "run-scenario.sh")
DATA = yaml.safe_load(open(TEMPLATES_FILE))
TEMPLATES = {os.path.basename(t["playbook"]): t for t in DATA["job_templates"]}
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# Survey variable -> argument spec option whose choices the survey must stay within.
CHOICES_FROM = {"recovery_strategy": ("decide", "decide_default_strategy"),
                "severity": ("communicate", "communicate_severity")}
# Read by the timeline callback (plugins/callback/timeline.py), not by a role.
CALLBACK_VARS = {"incident_id"}
NASTY = '$(touch /tmp/pwned); "quoted" `id` \'single\' {{ lookup("pipe", "touch /tmp/pwned2") }}'


NOT_SCENARIOS = {"incidents.yml"}  # reads the record (open incidents at a glance); responds to nothing


def fqcn_alias(path):
    """playbooks/p0_outage.yml and the like: the FQCN entry point of a scenario, one import_playbook of it."""
    plays = yaml.safe_load(read(path))
    return len(plays) == 1 and set(plays[0]) == {"name", "ansible.builtin.import_playbook"}


def scenario_playbooks():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml"))
                  if not os.path.basename(p).startswith("zz-") and os.path.basename(p) not in NOT_SCENARIOS
                  and not fqcn_alias(p))


def read(path):
    with open(path) as fh:
        return fh.read()


def scenario_sources(playbook):
    """Text of the playbook, the task files it includes and the roles it uses (transitively)."""
    texts, roles, seen = [read(os.path.join(REPO, "playbooks", playbook))], set(), set()
    texts += [read(p) for p in glob.glob(os.path.join(REPO, "playbooks", "tasks", "*.yml"))
              if os.path.basename(p) in texts[0]]
    pending = list(texts)
    while pending:
        for role in re.findall(r"incident\.response\.([a-z_0-9]+)", pending.pop()):
            if role in seen or not os.path.isdir(os.path.join(REPO, "roles", role)):
                continue
            seen.add(role)
            roles.add(role)
            for sub in ("tasks", "defaults", "vars", "templates", "handlers"):
                for path in glob.glob(os.path.join(REPO, "roles", role, sub, "*")):
                    texts.append(read(path))
                    pending.append(texts[-1])
    return texts, roles


def jinja_uses(texts, var):
    """Whether `var` is read in a Jinja expression ({{ }}, {% %} or a when/that/until condition)."""
    exprs = []
    for text in texts:
        exprs += re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", text, re.S)
        conditions = r"^\s*-?\s*(?:when|that|until|failed_when|changed_when|loop):(.*)$"
        exprs += [(m, "") for m in re.findall(conditions, text, re.M)]
        exprs += [(m, "") for m in re.findall(r"^\s+-\s+(.*(?:\bnot\b|\||==|!=|\band\b|\bor\b).*)$", text, re.M)]
    pattern = re.compile(r"(?<![\w.'\"])%s(?![\w'\"])" % re.escape(var))
    return any(pattern.search(a + b) for a, b in exprs)


def argument_option(role, option):
    path = os.path.join(REPO, "roles", role, "meta", "argument_specs.yml")
    if not os.path.exists(path):
        return None
    for spec in yaml.safe_load(read(path))["argument_specs"].values():
        if option in spec.get("options", {}):
            return spec["options"][option]
    return None


def role_default(roles, var):
    for role in roles:
        path = os.path.join(REPO, "roles", role, "defaults", "main.yml")
        if os.path.exists(path):
            defaults = yaml.safe_load(read(path)) or {}
            if var in defaults:
                return defaults[var]
    raise KeyError(var)


def survey_errors(spec):
    """AWX's survey_spec validation (awx/api/views JobTemplateSurveySpec), plus the choices rules."""
    errors, names = [], set()
    if not isinstance(spec.get("spec"), list) or not spec.get("name") or "description" not in spec:
        return ["survey needs name, description and a spec list"]
    for i, q in enumerate(spec["spec"]):
        where = "%s[%d] %s" % (spec["name"], i, q.get("variable"))
        for key in ("question_name", "variable", "type", "required"):
            if key not in q:
                errors.append("%s: missing %s" % (where, key))
        if q.get("type") not in SURVEY_TYPES:
            errors.append("%s: type %r not one of %s" % (where, q.get("type"), sorted(SURVEY_TYPES)))
        if not re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", str(q.get("variable"))) or q.get("variable") in names:
            errors.append("%s: variable must be a unique identifier" % where)
        names.add(q.get("variable"))
        default = q.get("default", "")
        if q.get("type") in ("multiplechoice", "multiselect"):
            choices = q.get("choices")
            choices = choices.split("\n") if isinstance(choices, str) else choices
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                errors.append("%s: choices must be a list of strings or a newline-joined string" % where)
            elif default != "" and default not in choices:
                errors.append("%s: default %r not in choices" % (where, default))
            elif default == "" and q.get("required") and q["type"] == "multiplechoice":
                errors.append("%s: a required choice needs a default" % where)
        if q.get("type") in ("integer", "float"):
            if not isinstance(default, (int, float)) or not q.get("min", default) <= default <= q.get("max", default):
                errors.append("%s: default %r not a number within min/max" % (where, default))
        if q.get("type") in ("text", "textarea", "password") and not isinstance(default, str):
            errors.append("%s: default must be a string" % where)
        for key in ("min", "max"):
            if key in q and not isinstance(q[key], int):
                errors.append("%s: %s must be an integer" % (where, key))
    return errors


# --- the data against the playbooks, the roles and AWX's rules ------------------------------------

def test_every_scenario_playbook_has_a_job_template_and_a_rundeck_job():
    jobs = yaml.safe_load(read(JOBS_FILE))
    job_scenarios = sorted(job["sequence"]["commands"][0]["exec"].split()[-1] for job in jobs)
    assert sorted(TEMPLATES) == scenario_playbooks()
    assert job_scenarios == scenario_playbooks()
    assert len({t["name"] for t in DATA["job_templates"]}) == len(DATA["job_templates"])
    scenario = next(q for q in TEMPLATES["respond.yml"]["survey"] if q["variable"] == "scenario")
    assert {c + ".yml" for c in scenario["choices"]} <= set(scenario_playbooks())


def test_every_scenario_ends_by_publishing_its_summary_and_has_an_fqcn_alias():
    """AWX shows the summary as job artifacts (set_stats); respond.yml publishes through the scenario it imports."""
    for playbook in scenario_playbooks():
        plays = yaml.safe_load(read(os.path.join(REPO, "playbooks", playbook)))
        alias = os.path.join(REPO, "playbooks", playbook[:-4].replace("-", "_") + ".yml")
        assert os.path.exists(alias), "no FQCN entry point for " + playbook
        if playbook == "respond.yml":
            continue
        last = plays[-1]
        assert last["tasks"] == [{"name": "Publish the incident summary as job artifacts",
                                  "ansible.builtin.import_tasks": "tasks/publish_summary.yml"}], playbook
        assert last["hosts"] == plays[0]["hosts"], playbook


@pytest.mark.parametrize("playbook", sorted(TEMPLATES))
def test_survey_follows_awx_rules_and_the_playbook(playbook):
    template = TEMPLATES[playbook]
    assert os.path.exists(os.path.join(REPO, template["playbook"]))
    assert survey_errors({"name": template["name"], "description": template["description"],
                          "spec": template["survey"]}) == []
    texts, roles = scenario_sources(playbook)
    callback = read(os.path.join(REPO, "plugins", "callback", "timeline.py"))
    for q in template["survey"]:
        var = q["variable"]
        if var in CALLBACK_VARS:
            assert '"%s"' % var in callback
        else:
            assert jinja_uses(texts, var), "%s: survey variable %s is not read by the playbook or its roles %s" % (
                playbook, var, sorted(roles))
        if q["type"] == "multiplechoice" and var in CHOICES_FROM and CHOICES_FROM[var][0] in roles:
            option = argument_option(*CHOICES_FROM[var])
            assert set(q["choices"]) <= set(option["choices"]), (var, option["choices"])
        for role in roles:
            option = argument_option(role, var)
            if option and "choices" in option:
                assert set(q["choices"]) <= set(option["choices"]), (role, var)
        try:
            default = role_default(roles, var)
        except KeyError:
            continue
        if q.get("default", "") != "":
            assert str(q["default"]).lower() == str(default).lower(), (playbook, var, q["default"], default)


def test_rundeck_jobs_mirror_the_surveys():
    assert subprocess.run([os.path.join(VENV_BIN, "python"), os.path.join(REPO, "extensions", "rundeck", "build_jobs.py"),
                           "--check"], capture_output=True, text=True, check=False).returncode == 0
    for job in yaml.safe_load(read(JOBS_FILE)):
        command = job["sequence"]["commands"][0]
        assert set(command) == {"description", "exec"}
        assert re.fullmatch(r"\$\{globals\.incident_response_home\}/extensions/rundeck/run-scenario\.sh [a-z0-9-]+\.yml",
                            command["exec"])
        assert "${option." not in json.dumps(job), "options must reach the script only as RD_OPTION_* variables"
        template = TEMPLATES[command["exec"].split()[-1]]
        options = {o["name"]: o for o in job["options"]}
        assert list(options) == [q["variable"] for q in template["survey"]] + ["check"]
        for q in template["survey"]:
            if q["type"] == "multiplechoice":
                assert options[q["variable"]]["values"] == q["choices"] and options[q["variable"]]["enforced"]
            assert options[q["variable"]]["required"] == q["required"]
            assert options[q["variable"]].get("value", "") == str(q.get("default", ""))


def test_rundeck_wrapper_rejects_bad_options_and_unknown_scenarios():
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    bad = [({"RD_OPTION_SEVERITY": "P9"}, "p0-outage.yml", "not one of"),
           ({"RD_OPTION_REMEDIATE_WORKERS_REPLICAS": "3; rm -rf /"}, "no-active-workers.yml", "not an integer"),
           ({}, "../../etc/passwd", "unknown scenario")]
    for env, scenario, message in bad:
        res = subprocess.run([RUN_SCENARIO, scenario], env=dict(base, **env), capture_output=True, text=True,
                             timeout=30, check=False)
        assert res.returncode == 2 and message in res.stderr, res.stderr


# --- configure.yml against a fake controller API ---------------------------------------------------

# Sub-resources AWX answers as association lists (GET: a page of the related objects; POST {id} associates,
# POST {id, disassociate: true} removes, both 204) and the collection their ids point into.
ASSOCIATIONS = {"credentials": "credentials", "instance_groups": "instance_groups", "labels": "labels",
                "success_nodes": "workflow_job_template_nodes", "failure_nodes": "workflow_job_template_nodes",
                "always_nodes": "workflow_job_template_nodes"}
# /api/v2/unified_job_templates/ lists these, each with its `type`.
UNIFIED = ("job_templates", "workflow_job_templates", "workflow_approval_templates", "projects", "inventory_sources")
ENCRYPTED = "$encrypted$"


class FakeController(ThreadingHTTPServer):
    """The part of the AWX API the awx.awx modules and the controller_api lookup use, answering as AWX 24 does
    (shapes from AWX's API reference): list pages {count, next, previous, results}, objects with id, type, url,
    related and summary_fields, named lookups with or__ filters, 201 on create, 204 on (dis)association, secret
    credential inputs returned as $encrypted$, survey specs validated (400 {"error": ...}), approval templates
    created through a node's create_approval_template. Stores what it is sent (secrets kept for the test)."""
    token = "fake-controller-token"

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.items, self.surveys, self.assoc, self.log, self.next_id = {}, {}, {}, [], 1
        self.settings = {"AWX_ISOLATION_SHOW_PATHS": []}
        self.lock = threading.Lock()

    def create(self, kind, body):
        item_id, self.next_id = self.next_id, self.next_id + 1
        url = "/api/v2/%s/%d/" % (kind, item_id)
        related = {name: url + name + "/" for name in ("survey_spec", "update", *ASSOCIATIONS)}
        if kind == "workflow_job_template_nodes":
            related["create_approval_template"] = url + "create_approval_template/"
        item = dict(body, id=item_id, url=url, type=kind[:-1], summary_fields={}, related=related)
        if kind == "projects":
            item["scm_revision"] = "0" * 40
        self.items.setdefault(kind, {})[item_id] = item
        self.link_unified_job_template(item)
        return item

    def link_unified_job_template(self, item):
        ujt = item.get("unified_job_template")
        for kind in UNIFIED:
            if ujt in self.items.get(kind, {}):
                item["related"]["unified_job_template"] = "/api/v2/%s/%d/" % (kind, ujt)

    def secret_fields(self, credential):
        ctype = self.items.get("credential_types", {}).get(credential.get("credential_type"), {})
        return {f["id"] for f in (ctype.get("inputs") or {}).get("fields", []) if f.get("secret")}

    def shown(self, kind, item):
        """An object as AWX shows it: secret credential inputs replaced by $encrypted$."""
        if kind != "credentials":
            return item
        secret = self.secret_fields(item)
        inputs = {k: (ENCRYPTED if k in secret and v else v) for k, v in (item.get("inputs") or {}).items()}
        return dict(item, inputs=inputs)

    def update(self, kind, item, body):
        if kind == "credentials" and "inputs" in body:
            # AWX keeps a stored secret when it is sent back as $encrypted$
            body = dict(body, inputs={k: (item.get("inputs", {}).get(k) if v == ENCRYPTED else v) for k, v in body["inputs"].items()})
        item.update(body)
        self.link_unified_job_template(item)


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeController

    def log_message(self, *args):  # quiet
        pass

    def reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-API-Product-Name", "AWX")
        self.send_header("X-API-Product-Version", "24.6.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method):
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}") if length else {}
        with self.server.lock:
            self.server.log.append((method, url.path, body))
            if self.headers.get("Authorization") != "Bearer " + self.server.token:
                return self.reply(401, {"detail": "Authentication credentials were not provided."})
            parts = [p for p in url.path.split("/") if p][2:]  # after api/v2
            return self.route(method, parts, body, parse_qs(url.query))

    def route(self, method, parts, body, query):
        srv = self.server
        if parts in (["ping"], ["config"], ["me"]):
            return self.reply(200, {"version": "24.6.1", "results": [{"id": 1, "username": "admin"}], "count": 1})
        if parts == ["settings", "all"]:
            if method == "PATCH":
                srv.settings.update(body)
            return self.reply(200, srv.settings)
        kind = parts[0] if parts else ""
        if kind == "unified_job_templates" and method == "GET":
            every = [i for k in UNIFIED for i in srv.items.get(k, {}).values()]
            return self.reply(200, self.listing(every, query))
        items = srv.items.setdefault(kind, {})
        if len(parts) == 1 and method == "GET":
            return self.reply(200, self.listing([srv.shown(kind, i) for i in items.values()], query))
        if len(parts) == 1 and method == "POST":
            return self.reply(201, srv.shown(kind, srv.create(kind, body)))
        item = items.get(int(parts[1])) if len(parts) > 1 and parts[1].isdigit() else None
        if item is None:
            return self.reply(404, {"detail": "Not found."})
        if len(parts) == 2 and method == "GET":
            return self.reply(200, srv.shown(kind, item))
        if len(parts) == 2 and method == "PATCH":
            srv.update(kind, item, body)
            return self.reply(200, srv.shown(kind, item))
        if len(parts) == 2 and method == "DELETE":
            del items[item["id"]]
            return self.reply(204)
        sub = parts[2]
        if sub == "survey_spec":
            if method == "POST":
                errors = survey_errors(body)
                if errors:  # AWX: 400 {"error": "..."} and nothing stored
                    return self.reply(400, {"error": "; ".join(errors)})
                srv.surveys[item["id"]] = body
                return self.reply(200)
            if method == "DELETE":
                srv.surveys.pop(item["id"], None)
                return self.reply(200)
            return self.reply(200, srv.surveys.get(item["id"], {}))
        if sub == "create_approval_template" and method == "POST":
            approval = srv.create("workflow_approval_templates", body)
            srv.update(kind, item, {"unified_job_template": approval["id"]})
            return self.reply(201, approval)
        if sub in ASSOCIATIONS:
            linked = srv.assoc.setdefault((kind, item["id"], sub), [])
            target = srv.items.setdefault(ASSOCIATIONS[sub], {})
            if method == "POST":
                if body.get("id") not in target:
                    return self.reply(400, {"msg": "Object with id=%s does not exist." % body.get("id")})
                if body.get("disassociate"):
                    linked.remove(body["id"])
                elif body["id"] not in linked:
                    linked.append(body["id"])
                return self.reply(204)
            return self.reply(200, self.listing([srv.shown(ASSOCIATIONS[sub], target[i]) for i in linked], {}))
        return self.reply(404, {"detail": "Not implemented by the fake: %s %s" % (method, "/".join(parts))})

    @staticmethod
    def listing(items, query):
        ors = {k[4:]: v[0] for k, v in query.items() if k.startswith("or__")}
        ands = {k: v[0] for k, v in query.items() if not k.startswith("or__") and k not in ("page", "page_size")}
        found = [i for i in items if all(str(i.get(k)) == v for k, v in ands.items())
                 and (not ors or any(str(i.get(k)) == v for k, v in ors.items()))]
        return {"count": len(found), "next": None, "previous": None, "results": found}

    def do_GET(self):  # noqa: N802
        self.handle_any("GET")

    def do_POST(self):  # noqa: N802
        self.handle_any("POST")

    def do_PATCH(self):  # noqa: N802
        self.handle_any("PATCH")

    def do_DELETE(self):  # noqa: N802
        self.handle_any("DELETE")


@pytest.fixture
def controller():
    server = FakeController()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def recap(output):
    match = re.search(r"localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output)
    assert match, output[-3000:]
    return {k: int(v) for k, v in zip(("ok", "changed", "unreachable", "failed"), match.groups())}


def test_configure_playbook_syntax():
    res = run_playbook("extensions/awx/configure.yml", args=["--syntax-check"])
    assert res.returncode == 0, res.stdout + res.stderr


def configure(controller, tmp_path, **extra):
    extra = dict({"controller_host": "http://127.0.0.1:%d" % controller.server_address[1],
                  "controller_oauthtoken": controller.token}, **extra)
    res = run_playbook("extensions/awx/configure.yml", extra_vars=extra, env={"INCIDENT_ROOT": str(tmp_path / "incidents")},
                       timeout=300)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "s3cret" not in res.stdout + res.stderr
    return res


def named(controller, kind):
    return {i["name"]: i for i in controller.items.get(kind, {}).values()}


def linked(controller, kind, item_id, sub):
    return sorted(controller.assoc.get((kind, item_id, sub), []))


def writes(controller):
    return len([e for e in controller.log if e[0] != "GET"])


def test_configure_creates_job_templates_and_the_approval_workflow_idempotently(controller, tmp_path):
    secrets = {"admin_token": "s3cret-admin", "postgres_password": "s3cret-pg"}
    first = configure(controller, tmp_path, incident_awx_ee_image="registry.example.com/incident-response-ee:0.1.0",
                      incident_awx_target_secrets=secrets)
    assert recap(first.stdout)["changed"] >= 1

    templates = {t["playbook"]: t for t in controller.items["job_templates"].values()}
    assert sorted(templates) == sorted(t["playbook"] for t in DATA["job_templates"])
    project = next(iter(controller.items["projects"].values()))
    inventory = next(iter(controller.items["inventories"].values()))
    credentials = named(controller, "credentials")
    # given now: the targets' secrets; always: the incident record (INCIDENT_ROOT); not given: Kubernetes, Docker
    assert sorted(credentials) == ["incident.response incident record", "incident.response targets"]
    expected_creds = sorted(c["id"] for c in credentials.values())
    ee = next(iter(controller.items["execution_environments"].values()))
    source = next(iter(controller.items["inventory_sources"].values()))
    assert (source["source"], source["source_path"], source["source_project"]) == ("scm", "inventory/lab.yml", project["id"])
    for playbook, template in templates.items():
        expected = next(t for t in DATA["job_templates"] if t["playbook"] == playbook)
        assert (template["name"], template["project"], template["inventory"]) == (expected["name"], project["id"], inventory["id"])
        assert template["ask_variables_on_launch"] and template["survey_enabled"]
        assert template["execution_environment"] == ee["id"]
        assert controller.surveys[template["id"]]["spec"] == expected["survey"]
        assert linked(controller, "job_templates", template["id"], "credentials") == expected_creds
    ctypes = named(controller, "credential_types")
    assert ctypes["incident.response targets"]["injectors"]["extra_vars"]["incident_admin_token"] == "{{ admin_token }}"
    assert ctypes["incident.response incident record"]["injectors"]["env"] == {"INCIDENT_ROOT": "{{ root }}"}
    assert ctypes["incident.response Kubernetes"]["injectors"]["env"] == {"KUBECONFIG": "{{ tower.filename }}"}
    assert credentials["incident.response incident record"]["inputs"]["root"] == "/var/lib/incident-response/incidents"
    # what AWX shows of the stored secrets
    listing = FakeHandler.listing([controller.shown("credentials", c) for c in controller.items["credentials"].values()], {})
    shown = next(c for c in listing["results"] if c["name"] == "incident.response targets")
    assert shown["inputs"]["admin_token"] == "$encrypted$"
    ids = json.loads(re.search(r'"msg": (\{.*?\})', first.stdout, re.S).group(1))
    assert ids == {os.path.basename(p): t["id"] for p, t in templates.items()}

    # the workflow of runbook 003's decision point: investigate -> approval -> rollback -> post-incident
    spec = DATA["workflows"][0]
    workflow = named(controller, "workflow_job_templates")[spec["name"]]
    assert controller.surveys[workflow["id"]]["spec"] == spec["survey"]
    nodes = {n["identifier"]: n for n in controller.items["workflow_job_template_nodes"].values()}
    assert sorted(nodes) == sorted(n["identifier"] for n in spec["nodes"])
    approval = controller.items["workflow_approval_templates"][nodes["approve-rollback"]["unified_job_template"]]
    assert (approval["name"], approval["timeout"]) == (spec["nodes"][1]["approval"]["name"], 1800)
    by_name = named(controller, "job_templates")
    assert nodes["investigate"]["unified_job_template"] == by_name["incident.response - Investigate"]["id"]
    assert nodes["rollback"]["unified_job_template"] == by_name["incident.response - Rollback"]["id"]
    chain = [("investigate", "approve-rollback"), ("approve-rollback", "rollback"), ("rollback", "post-incident")]
    for parent, child in chain:
        assert linked(controller, "workflow_job_template_nodes", nodes[parent]["id"], "success_nodes") == [nodes[child]["id"]]
    assert linked(controller, "workflow_job_template_nodes", nodes["approve-rollback"]["id"], "failure_nodes") == []
    assert nodes["post-incident"]["extra_data"] == {"post_incident_mark_resolved": "true"}

    before = writes(controller)
    second = configure(controller, tmp_path, incident_awx_ee_image="registry.example.com/incident-response-ee:0.1.0",
                       incident_awx_target_secrets=secrets)
    assert recap(second.stdout)["changed"] == 0, second.stdout[-4000:]
    assert writes(controller) == before


def test_configure_reruns_with_partial_inputs_keep_credentials_and_push_rotated_secrets(controller, tmp_path):
    k8s = {"host": "https://k8s.example.com:6443", "bearer_token": "s3cret-k8s", "namespace": "shop"}
    docker = {"docker_host": "tcp://engine.example.com:2376", "tls": True, "validate_certs": True,
              "ca_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
              "client_cert": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----",
              "client_key": "-----BEGIN PRIVATE KEY-----\ns3cret-key\n-----END PRIVATE KEY-----"}
    # Two templates (one with the Kubernetes credential type) are enough here, and four runs stay quick.
    data = dict(DATA, workflows=[], job_templates=[t for t in DATA["job_templates"]
                                                   if t["playbook"] in ("playbooks/p0-outage.yml", "playbooks/k8s-service-down.yml")])

    def run_configure(**extra):
        return configure(controller, tmp_path, incident_awx_data=data, **extra)

    run_configure(incident_awx_target_secrets={"admin_token": "s3cret-a1", "postgres_password": "s3cret-p1"},
                  incident_awx_kubernetes=k8s, incident_awx_docker=docker, incident_awx_container_group_pvc="incident-record",
                  incident_awx_isolation_show_paths=["/var/lib/incident-response:/var/lib/incident-response:z"])
    credentials = named(controller, "credentials")
    ids = {name.split()[-1]: c["id"] for name, c in credentials.items()}
    templates = named(controller, "job_templates")

    def attached():
        return {name: linked(controller, "job_templates", t["id"], "credentials") for name, t in templates.items()}

    expected = {name: sorted([ids["targets"], ids["record"], ids["Kubernetes" if "Kubernetes" in name else "engine"]])
                for name in templates}
    assert attached() == expected
    group = named(controller, "instance_groups")["incident.response"]
    pod = yaml.safe_load(group["pod_spec_override"])
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "incident-record"
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"] == "/var/lib/incident-response"
    assert all(linked(controller, "job_templates", t["id"], "instance_groups") == [group["id"]] for t in templates.values())
    assert controller.settings["AWX_ISOLATION_SHOW_PATHS"] == ["/var/lib/incident-response:/var/lib/incident-response:z"]
    assert credentials["incident.response Docker engine"]["inputs"]["client_key"].endswith("PRIVATE KEY-----")

    # A re-run without any credential input: nothing is detached, nothing changes.
    before = writes(controller)
    bare = run_configure(incident_awx_container_group_pvc="incident-record")
    assert recap(bare.stdout)["changed"] == 0, bare.stdout[-4000:]
    assert writes(controller) == before and attached() == expected

    # A rotated secret is pushed (only the targets' credential changes), and pushed once.
    run_configure(incident_awx_target_secrets={"admin_token": "s3cret-a2", "postgres_password": "s3cret-p1"},
                  incident_awx_container_group_pvc="incident-record")
    stored = controller.items["credentials"][ids["targets"]]["inputs"]
    assert (stored["admin_token"], stored["postgres_password"]) == ("s3cret-a2", "s3cret-p1")
    assert controller.items["credentials"][ids["Kubernetes"]]["inputs"]["bearer_token"] == "s3cret-k8s"
    assert attached() == expected
    again = run_configure(incident_awx_target_secrets={"admin_token": "s3cret-a2", "postgres_password": "s3cret-p1"},
                          incident_awx_container_group_pvc="incident-record")
    assert recap(again.stdout)["changed"] == 0, again.stdout[-4000:]


def test_fake_controller_rejects_what_awx_rejects(controller):
    """The fake answers as AWX does where configure.yml relies on it: a bad survey is a 400 with `error`."""
    import urllib.request  # pylint: disable=import-outside-toplevel
    base = "http://127.0.0.1:%d/api/v2/" % controller.server_address[1]

    def call(method, path, body=None):
        req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": "Bearer " + controller.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    status, template = call("POST", "job_templates/", {"name": "t", "playbook": "playbooks/p0-outage.yml"})
    assert status == 201 and template["type"] == "job_template" and template["related"]["survey_spec"]
    bad = {"name": "t", "description": "", "spec": [{"question_name": "Q", "variable": "1bad", "type": "boolean", "required": True}]}
    status, answer = call("POST", "job_templates/%d/survey_spec/" % template["id"], bad)
    assert status == 400 and "variable must be a unique identifier" in answer["error"] and "type" in answer["error"]
    assert call("GET", "job_templates/%d/survey_spec/" % template["id"]) == (200, {})
    status, page = call("GET", "unified_job_templates/?name=t&type=job_template")
    assert (status, page["count"], sorted(page)) == (200, 1, ["count", "next", "previous", "results"])
    assert call("POST", "job_templates/%d/credentials/" % template["id"], {"id": 999})[0] == 400


def test_configure_refuses_without_a_controller():
    res = run_playbook("extensions/awx/configure.yml", env={"INCIDENT_ROOT": "/tmp/incident-configure-none"})
    assert res.returncode != 0 and "controller_host" in res.stdout


# --- the scenario as Rundeck and AWX run it, against the lab in check mode -------------------------

def timeline(root):
    files = glob.glob(os.path.join(str(root), "INC-*", "timeline.jsonl"))
    assert len(files) == 1, files
    return [json.loads(line) for line in read(files[0]).splitlines()]


def milestone(events, name):
    return next(e for e in events if e.get("type") == "milestone" and e.get("event") == name)


@pytest.mark.lab
def test_rundeck_step_runs_the_scenario_with_options_as_data(healthy_lab, tmp_path):
    for marker in ("/tmp/pwned", "/tmp/pwned2"):
        if os.path.exists(marker):
            os.unlink(marker)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "INCIDENT_ROOT": str(tmp_path),
           "RD_JOB_EXECID": "4242", "RD_JOB_USERNAME": "oncall", "RD_JOB_PROJECT": "sre",
           "RD_OPTION_SEVERITY": "P0", "RD_OPTION_DESCRIPTION": NASTY, "RD_OPTION_RECOVERY_STRATEGY": "mitigate",
           "RD_OPTION_INCIDENT_FORCE": "true", "RD_OPTION_CHECK": "true", "RD_OPTION_ALERT_NAME": ""}
    res = subprocess.run([RUN_SCENARIO, "p0-outage.yml"], env=env, cwd="/", capture_output=True, text=True,
                         timeout=300, check=False)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert not os.path.exists("/tmp/pwned") and not os.path.exists("/tmp/pwned2")
    events = timeline(tmp_path)
    assert events[0]["type"] == "run_start" and events[0]["check_mode"] is True
    assert NASTY in milestone(events, "detected")["message"]
    assert milestone(events, "declared")["severity"] == "P0"
    assert not glob.glob("/tmp/incident-rundeck-*.yml"), "the vars file must be removed"


@pytest.mark.lab
def test_awx_style_ansible_runner_job(healthy_lab, tmp_path):
    import ansible_runner  # pylint: disable=import-outside-toplevel
    pdd = tmp_path / "pdd"
    (pdd / "env").mkdir(parents=True)
    (pdd / "inventory").mkdir()
    os.symlink(REPO, pdd / "project")  # AWX copies the synced project here
    # The inventory as AWX imports it from the project's inventory/lab.yml (its vars: the service catalog).
    host = copy.deepcopy(yaml.safe_load(read(os.path.join(REPO, "inventory", "lab.yml"))))
    group_vars = dict(host["all"]["vars"], incident_compose_file=os.path.join(REPO, "lab", "docker-compose.yml"))
    hosts = host["all"]["children"]["incident_hosts"]["hosts"]
    hosts["lab"]["ansible_python_interpreter"] = os.path.join(VENV_BIN, "python")
    (pdd / "inventory" / "hosts.json").write_text(json.dumps(
        {"all": {"vars": group_vars, "children": {"incident_hosts": {"hosts": hosts}}}}))
    survey = {"severity": "P1", "description": NASTY, "recovery_strategy": "mitigate", "incident_force": "true"}
    awx_vars = {"awx_job_id": 77, "awx_job_template_name": TEMPLATES["p0-outage.yml"]["name"], "tower_job_id": 77}
    # AWX writes launch-time answers tagged !unsafe (ALLOW_JINJA_IN_EXTRA_VARS=template), as the receiver does.
    (pdd / "env" / "extravars").write_text(dump_extravars(dict(unsafe(survey), **awx_vars)))
    envvars = {"ANSIBLE_CALLBACKS_ENABLED": "incident.response.timeline", "INCIDENT_ROOT": str(tmp_path / "incidents"),
               "PATH": VENV_BIN + os.pathsep + "/usr/bin:/bin", "ANSIBLE_FORCE_COLOR": "0", "JOB_ID": "77"}
    runner = ansible_runner.run(private_data_dir=str(pdd), playbook="playbooks/p0-outage.yml", cmdline="--check",
                                envvars=envvars, quiet=True, timeout=240)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-4000:]
    events = timeline(tmp_path / "incidents")
    assert events[0]["check_mode"] is True
    assert NASTY in milestone(events, "detected")["message"], "the description must arrive verbatim"
    assert milestone(events, "declared")["severity"] == "P1"
    assert not os.path.exists("/tmp/pwned2")
