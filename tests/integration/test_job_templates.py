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


def scenario_playbooks():
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml"))
                  if not os.path.basename(p).startswith("zz-") and os.path.basename(p) not in NOT_SCENARIOS)


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

class FakeController(ThreadingHTTPServer):
    """The part of the AWX API the awx.awx modules use: named lookups, create, update, surveys,
    credential associations. Stores what it is sent and returns it, like AWX does."""
    token = "fake-controller-token"

    def __init__(self):
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.items, self.surveys, self.assoc, self.log, self.next_id = {}, {}, {}, [], 1
        self.lock = threading.Lock()

    def create(self, kind, body):
        item_id, self.next_id = self.next_id, self.next_id + 1
        url = "/api/v2/%s/%d/" % (kind, item_id)
        item = dict(body, id=item_id, url=url, type=kind.rstrip("s"), summary_fields={},
                    related={"survey_spec": url + "survey_spec/", "credentials": url + "credentials/",
                             "update": url + "update/"})
        if kind == "projects":
            item["scm_revision"] = "0" * 40
        self.items.setdefault(kind, {})[item_id] = item
        return item


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
            if parts in (["ping"], ["config"], ["me"]):
                return self.reply(200, {"version": "24.6.1", "results": [{"id": 1, "username": "admin"}], "count": 1})
            kind = parts[0] if parts else ""
            items = self.server.items.setdefault(kind, {})
            if len(parts) == 1 and method == "GET":
                return self.reply(200, self.listing(list(items.values()), parse_qs(url.query)))
            if len(parts) == 1 and method == "POST":
                return self.reply(201, self.server.create(kind, body))
            item = items.get(int(parts[1])) if len(parts) > 1 and parts[1].isdigit() else None
            if item is None:
                return self.reply(404, {"detail": "Not found."})
            if len(parts) == 2 and method == "GET":
                return self.reply(200, item)
            if len(parts) == 2 and method == "PATCH":
                item.update(body)
                return self.reply(200, item)
            if parts[2:] == ["survey_spec"]:
                if method == "POST":
                    self.server.surveys[item["id"]] = body
                    return self.reply(200, {})
                if method == "DELETE":
                    self.server.surveys.pop(item["id"], None)
                    return self.reply(200, {})
                return self.reply(200, self.server.surveys.get(item["id"], {}))
            if parts[2:] == ["credentials"]:
                linked = self.server.assoc.setdefault(item["id"], [])
                if method == "POST":
                    if body.get("disassociate"):
                        linked.remove(body["id"])
                    else:
                        linked.append(body["id"])
                    return self.reply(204)
                creds = self.server.items.get("credentials", {})
                return self.reply(200, self.listing([creds[i] for i in linked], {}))
            return self.reply(404, {"detail": "Not implemented by the fake: %s %s" % (method, url.path)})

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


def test_configure_creates_one_job_template_per_scenario_idempotently(controller, tmp_path):
    extra = {"controller_host": "http://127.0.0.1:%d" % controller.server_address[1],
             "controller_oauthtoken": controller.token, "incident_awx_ee_image": "registry.example.com/incident-response-ee:0.1.0",
             "incident_awx_target_secrets": {"admin_token": "s3cret-admin", "postgres_password": "s3cret-pg"}}
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents")}
    first = run_playbook("extensions/awx/configure.yml", extra_vars=extra, env=env, timeout=180)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap(first.stdout)["changed"] >= 1
    assert "s3cret" not in first.stdout + first.stderr

    templates = {t["playbook"]: t for t in controller.items["job_templates"].values()}
    assert sorted(templates) == sorted(t["playbook"] for t in DATA["job_templates"])
    project = next(iter(controller.items["projects"].values()))
    inventory = next(iter(controller.items["inventories"].values()))
    credential = next(iter(controller.items["credentials"].values()))
    ee = next(iter(controller.items["execution_environments"].values()))
    source = next(iter(controller.items["inventory_sources"].values()))
    assert (source["source"], source["source_path"], source["source_project"]) == ("scm", "inventory/lab.yml", project["id"])
    for playbook, template in templates.items():
        expected = next(t for t in DATA["job_templates"] if t["playbook"] == playbook)
        assert (template["name"], template["project"], template["inventory"]) == (expected["name"], project["id"], inventory["id"])
        assert template["ask_variables_on_launch"] and template["survey_enabled"]
        assert template["execution_environment"] == ee["id"]
        assert controller.surveys[template["id"]]["spec"] == expected["survey"]
        assert controller.assoc[template["id"]] == [credential["id"]]
    ctype = next(iter(controller.items["credential_types"].values()))
    assert ctype["injectors"]["extra_vars"]["incident_admin_token"] == "{{ admin_token }}"
    ids = json.loads(re.search(r'"msg": (\{.*?\})', first.stdout, re.S).group(1))
    assert ids == {os.path.basename(p): t["id"] for p, t in templates.items()}

    writes = len([e for e in controller.log if e[0] != "GET"])
    second = run_playbook("extensions/awx/configure.yml", extra_vars=extra, env=env, timeout=180)
    assert second.returncode == 0, second.stdout[-4000:]
    assert recap(second.stdout)["changed"] == 0, second.stdout[-4000:]
    assert len([e for e in controller.log if e[0] != "GET"]) == writes


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
