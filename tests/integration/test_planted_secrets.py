"""Planted secrets: a real playbook run plants every kind of secret of issue 16 - in task arguments and
results, variables at every level (extra, play, vars_files, task vars, role defaults via include_role, host
vars of the 60th host), vault-encrypted values (inline, in vars_files, a whole encrypted file, extra vars),
no_log task names and arguments, a no_log module option, a no_log task's registered result printed later, a
value first seen mid-run, a message whose 400-character clip lands inside a secret, milestone messages, the
report's texts, and, for evidence, the logs, `docker inspect` Env/Cmd/Args and process command line of a
throwaway container (its own, from the lab's app image: no lab lock), a diagnostics dict and pg_dump's
arguments - then finds none of them anywhere under the incident root, inside the evidence tarball and the
gzip'd files too; nor in the responder's console. About 45 s."""
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid

import pytest

from tests.ansible import run_playbook

IMAGE = "incident-lab/app:current"
TAG = uuid.uuid4().hex[:8]
UP = TAG.upper()


def _aws_secret():
    value = ("wJalr%s/K7MDENG/bPxRfiCYzQ%sEXAMPLEKEYabcdef" % (UP, TAG))[:40]
    assert len(value) == 40
    return value


# Detector kinds: (line as planted, the part that must not survive)
DETECTED = [
    ("webhook https://hooks.slack.com/services/T0%s/B0%s/sl4ck%sWebhookTail" % (UP, UP, TAG), "sl4ck%sWebhookTail" % TAG),
    ("pd https://events.pagerduty.com/integration/pdint%s0123456789abcdef0123/enqueue" % TAG, "pdint%s0123456789abcdef0123" % TAG),
    ("routing_key=pdrk%s0123456789abcdef01234" % TAG, "pdrk%s0123456789abcdef01234" % TAG),
    ("aws key AKIA%s", "AKIA%s" % (UP + "00000000")[:16]),
    ("aws secret %s" % _aws_secret(), _aws_secret()),
    ("gh ghp_%s" % (TAG + "abcdefghijklmnopqrstuvwxyz0123456789")[:36], "ghp_%s" % (TAG + "abcdefghijklmnopqrstuvwxyz0123456789")[:36]),
    ("pat github_pat_11ABCDEFG0%s_abcdefghijklmnopqrstuvwxyzAB" % TAG, "github_pat_11ABCDEFG0%s_abcdefghijklmnopqrstuvwxyzAB" % TAG),
    ("gitlab glpat-%sabcdefghijkl" % TAG, "glpat-%sabcdefghijkl" % TAG),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI%sIn0.sig%sabcdefXYZ" % (TAG, TAG), "eyJzdWIiOiI%sIn0.sig%sabcdefXYZ" % (TAG, TAG)),
    ("key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA%spemBodyLineOne\nAbCdEf%spemBodyLineTwo==\n-----END RSA PRIVATE KEY-----"
     % (TAG, TAG), "AbCdEf%spemBodyLineTwo" % TAG),
    ("the password is Pr0se%sPw" % TAG, "Pr0se%sPw" % TAG),
    ("mysql -u root -pMy%sSqlpw -h db" % TAG, "My%sSqlpw" % TAG),
    ("sshpass -p Ssh%spass ssh ops@db" % TAG, "Ssh%spass" % TAG),
    ("curl -u admin:Curl%spw https://api.example.invalid/x" % TAG, "Curl%spw" % TAG),
    ("dsn postgresql://app:Url%spw@db.internal:5432/app" % TAG, "Url%spw" % TAG),
    ("https://acct.blob.example.invalid/c/f?sv=2024-01-01&sig=Az%sSigValue%%2Bx" % TAG, "Az%sSigValue" % TAG),
    ("https://b.s3.example.invalid/o?X-Amz-Credential=Cred%sid%%2F20261130&X-Amz-Signature=Amzsig%s0123456789abcdef" % (TAG, TAG),
     "Amzsig%s0123456789abcdef" % TAG),
    ("https://maps.example.invalid/api?q=x&key=Key%sParam" % TAG, "Key%sParam" % TAG),
    ("https://x.example.invalid/cb?token=Tok%sParam&access_token=Acc%sToken" % (TAG, TAG), "Acc%sToken" % TAG),
    ("MYSQL_PWD=Mpwd%s" % TAG, "Mpwd%s" % TAG),
    ("PGPASSWORD=Pgpw%s" % TAG, "Pgpw%s" % TAG),
    ("PASSPHRASE=Phrase%s" % TAG, "Phrase%s" % TAG),
    ("REDISCLI_AUTH=Rcli%s" % TAG, "Rcli%s" % TAG),
    ("DEPLOY_TOKEN=Dtok%s" % TAG, "Dtok%s" % TAG),
    ("APP_SECRET=Asec%s" % TAG, "Asec%s" % TAG),
    ("redis-server --requirepass Req%spass" % TAG, "Req%spass" % TAG),
    ("Authorization: Bearer Bear%stokenvalue" % TAG, "Bear%stokenvalue" % TAG),
]
DETECTED[3] = (DETECTED[3][0] % DETECTED[3][1][4:], DETECTED[3][1])
# In the PEM block both body lines are secret
DETECTED_EXTRA = ["MIIEpAIBAAKCAQEA%spemBodyLineOne" % TAG, "Cred%sid" % TAG, "Tok%sParam" % TAG]

# What Ansible knows is secret: variable -> value
KNOWN = {
    "service_api_key": "Playvar%s" % TAG,            # play vars, secret-named
    "extra_api_token": "Extravar%s" % TAG,           # extra vars, secret-named
    "extra_vaulted": "Extravault%s" % TAG,           # extra vars file, !vault
    "inline_vaulted": "Inlinevault%s" % TAG,         # play vars, inline !vault
    "file_vaulted": "Filevault%s" % TAG,             # vars_files, !vault value
    "enc_file_plain": "Encfile%s" % TAG,             # vars_files, the whole file encrypted
    "task_level_token": "Taskvar%s" % TAG,           # task vars:
    "planted_role_api_token": "Roledefault%s" % TAG,  # role defaults, through include_role
    "fleet_db_password": "Hostvar60%s" % TAG,        # host vars of the 60th host
    "nolog_arg_value": "Nologarg%s" % TAG,           # used only in a no_log task's arguments
    "nolog_name_value": "Nologname%s" % TAG,         # used only in a no_log task's name
    "plain_option_value": "Optionvalue%s" % TAG,     # given to a no_log module option (login_password)
    "clip_password": "Qz7p%sClip" % TAG,             # lands on the 400-character clip
}
REGISTERED = "Nolog2reg%s" % TAG      # only in the registered result of a no_log task
MIDRUN = "Mid5run%s" % TAG            # first seen in the result of the set_fact that learns it
DIAG = "Diagpw%s" % TAG               # a diagnostics dict
PGDUMP = "Pgdumpdsn%s" % TAG          # pg_dump arguments
TITLE = "Prosetitle%s" % TAG          # the report's title
MILESTONE = "Prosemilestone%s" % TAG  # a milestone message
SURVIVOR = "ordinary-marker-%s" % TAG  # not a secret: must survive redaction

NEEDLES = [s for _line, s in DETECTED] + DETECTED_EXTRA + list(KNOWN.values())
NEEDLES += [REGISTERED, MIDRUN, DIAG, PGDUMP, TITLE, MILESTONE, "Qz7p%s" % TAG[:2]]


def _vault(text, secret=b"planted-vault-pw"):
    from ansible.parsing.vault import VaultLib, VaultSecret
    return VaultLib([("default", VaultSecret(secret))]).encrypt(text).decode()


def _inline(text):
    return "!vault |\n" + "".join("      %s\n" % line for line in _vault(text).splitlines())


def _quote(text):
    return json.dumps(text)


def _write_project(tmp):
    (tmp / "vaultpw").write_text("planted-vault-pw\n")
    (tmp / "vars_vault_value.yml").write_text("file_vaulted: %s" % _inline(KNOWN["file_vaulted"]).replace("      ", "  "))
    (tmp / "vars_encrypted.yml").write_text(_vault("enc_file_plain: %s\n" % KNOWN["enc_file_plain"]))
    (tmp / "extra.yml").write_text("extra_vaulted: %s" % _inline(KNOWN["extra_vaulted"]).replace("      ", "  "))
    role = tmp / "roles" / "planted_role"
    (role / "defaults").mkdir(parents=True)
    (role / "tasks").mkdir()
    (role / "defaults" / "main.yml").write_text("planted_role_api_token: %s\n" % KNOWN["planted_role_api_token"])
    (role / "tasks" / "main.yml").write_text(
        "- name: Role prints its default\n  ansible.builtin.debug:\n    msg: \"role default {{ planted_role_api_token }}\"\n")
    hosts = ["    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: %s\n" % sys.executable]
    fleet = ["        fleet-%03d:\n          fleet_db_password: %s\n" % (n, KNOWN["fleet_db_password"] if n == 60 else "fleet-%03d-pw" % n)
             for n in range(1, 61)]
    (tmp / "inventory.yml").write_text("all:\n  hosts:\n%s  children:\n    fleet:\n      hosts:\n%s" % ("".join(hosts), "".join(fleet)))
    lines = [line for line, _s in DETECTED]
    playbook = """
- name: Planted secrets
  hosts: localhost
  gather_facts: false
  vars_files:
    - vars_vault_value.yml
    - vars_encrypted.yml
  vars:
    service_api_key: %(play)s
    inline_vaulted: %(inline)s
    nolog_arg_value: %(nolog_arg)s
    nolog_name_value: %(nolog_name)s
    plain_option_value: %(option)s
    clip_password: %(clip)s
    detector_lines: %(lines)s
  tasks:
    - name: Play, vault and extra values in a message
      ansible.builtin.debug:
        msg: >-
          play {{ service_api_key }} inline {{ inline_vaulted }} file {{ file_vaulted }}
          whole {{ enc_file_plain }} extra {{ extra_vaulted }} {{ extra_api_token }}

    - name: Task-level vars
      vars:
        task_level_token: %(taskvar)s
      ansible.builtin.debug:
        msg: "task var {{ task_level_token }}"

    - name: Host vars of the 60th host
      ansible.builtin.debug:
        msg: "fleet {{ hostvars['fleet-060'].fleet_db_password }}"

    - name: Role defaults through include_role
      ansible.builtin.include_role:
        name: planted_role

    - name: "rotate {{ nolog_name_value }}"
      ansible.builtin.shell: "echo Nolog$((1+1))reg%(tag)s {{ nolog_arg_value }} >/dev/null; echo Nolog$((1+1))reg%(tag)s"
      no_log: true
      register: nolog_out
      changed_when: false

    - name: Registered no_log result printed later
      ansible.builtin.debug:
        msg: "registered {{ nolog_out.stdout }} arg {{ nolog_arg_value }} name {{ nolog_name_value }}"

    - name: Detector kinds in arguments and results
      ansible.builtin.command:
        argv: "{{ ['printf', '%%s\\\\n'] + detector_lines }}"
      changed_when: false

    - name: Detector kinds in a debug message
      ansible.builtin.debug:
        msg: "{{ detector_lines }}"

    - name: Secret learned mid-run, first seen in this result
      ansible.builtin.set_fact:
        cache_password: "{{ lookup('ansible.builtin.pipe', 'echo Mid$((2+3))run%(tag)s') }}"

    - name: The mid-run secret printed later
      ansible.builtin.debug:
        msg: "mid {{ cache_password }}"

    - name: A long message whose clip lands inside a secret
      ansible.builtin.debug:
        msg: "{{ 'x' * 395 }} {{ clip_password }} {{ 'y' * 50 }}"

    - name: Milestone with secrets in its message
      incident.response.incident_event:
        event: detected
        msg: "alert {{ detector_lines[0] }} {{ detector_lines[8] }} {{ inline_vaulted }} password is %(milestone)s"

    - name: Evidence of the container, the host, diagnostics and pg_dump
      incident.response.evidence_capture:
        containers: [%(container)s]
        host_snapshot: true
        diagnostics:
          planted:
            db_password: %(diag)s
            note: "{{ detector_lines[20] }}"
        pg_dump: true
        login_host: 127.0.0.1
        login_port: 1
        login_user: app
        login_db: app
        login_password: "{{ plain_option_value }}"
        pg_dump_args: ["--dbname=postgresql://app:%(pgdump)s@127.0.0.1:1/app"]
      register: planted_evidence

    - name: The no_log option's value printed later
      ansible.builtin.debug:
        msg: "option {{ plain_option_value }}"

    - name: Resolved
      incident.response.incident_event:
        event: resolved
        msg: "fixed; {{ detector_lines[13] }}"

    - name: Report
      incident.response.incident_report:
        title: "Planted: the password is %(title)s"
        impact: "{{ detector_lines[11] }} and {{ service_api_key }}"
        resolution: "rotated {{ detector_lines[12] }} and {{ fleet_db_password | default(hostvars['fleet-060'].fleet_db_password) }}"
      register: planted_report
""" % dict(play=KNOWN["service_api_key"], inline=_inline(KNOWN["inline_vaulted"]), nolog_arg=KNOWN["nolog_arg_value"],
           nolog_name=KNOWN["nolog_name_value"], option=KNOWN["plain_option_value"], clip=KNOWN["clip_password"],
           lines=_quote(lines), taskvar=KNOWN["task_level_token"], tag=TAG, milestone=MILESTONE, container=_container_name(),
           diag=DIAG, pgdump=PGDUMP, title=TITLE)
    (tmp / "planted.yml").write_text(playbook)


def _container_name():
    return "planted-secrets-%s" % TAG


@pytest.fixture
def planted_container():
    """A throwaway container from the lab's app image: secrets in its logs, env, command and process list."""
    name = _container_name()
    code = ("import sys,time;print('\\n'.join(sys.argv[1:-4]),flush=True);print(' '.join(sys.argv[-4:]),flush=True);"
            "print(%r,flush=True);time.sleep(900)" % SURVIVOR)
    env = ["MYSQL_PWD=Mpwd%s" % TAG, "PGPASSWORD=Pgpw%s" % TAG, "PASSPHRASE=Phrase%s" % TAG, "REDISCLI_AUTH=Rcli%s" % TAG,
           "DEPLOY_TOKEN=Dtok%s" % TAG, "APP_SECRET=Asec%s" % TAG, "SLACK_URL=%s" % DETECTED[0][0].split()[1],
           "OPTION_COPY=%s" % KNOWN["plain_option_value"]]
    argv = ["docker", "run", "-d", "--name", name, "--network", "host", "--entrypoint", "python3"]
    for item in env:
        argv += ["-e", item]
    args = [line for line, _s in DETECTED] + ["--requirepass", "Req%spass" % TAG, KNOWN["inline_vaulted"], KNOWN["plain_option_value"]]
    res = subprocess.run(argv + [IMAGE, "-c", code] + args, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    try:
        yield name
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=120, check=False)


def _contents(root):
    """(where, bytes) of every file under root, gzip'd files decompressed, tarball members (and theirs) too."""
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as fh:
                data = fh.read()
            yield path, data
            if name.endswith((".tar.gz", ".tgz")):
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                    for member in tar.getmembers():
                        if member.isfile():
                            inner = tar.extractfile(member).read()
                            yield "%s!%s" % (path, member.name), inner
                            if member.name.endswith(".gz"):
                                yield "%s!%s (gunzip)" % (path, member.name), gzip.decompress(inner)
            elif name.endswith(".gz"):
                yield path + " (gunzip)", gzip.decompress(data)


def test_no_planted_secret_reaches_the_record(tmp_path, planted_container):
    _write_project(tmp_path)
    root = tmp_path / "incidents"
    res = run_playbook(str(tmp_path / "planted.yml"),
                       extra_vars={"extra_api_token": KNOWN["extra_api_token"]},
                       args=["-i", str(tmp_path / "inventory.yml"), "--vault-password-file", str(tmp_path / "vaultpw"),
                             "-e", "@%s" % (tmp_path / "extra.yml")],
                       env={"INCIDENT_ROOT": str(root), "ANSIBLE_ROLES_PATH": str(tmp_path / "roles")}, timeout=300,
                       stdout_callback=None)  # the responder's console (ansible.cfg), which redacts the same way
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert [n for n in NEEDLES if n in res.stdout + res.stderr] == [], res.stdout

    (incident,) = [d for d in os.listdir(root) if d.startswith("INC-")]
    directory = root / incident
    # the record is all there, so finding nothing means something
    for name in ("timeline.jsonl", "timeline.md", "report.md", "summary.json", "post-incident-review.md"):
        assert (directory / name).is_file(), name
    events = [json.loads(line) for line in (directory / "timeline.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events if e["type"] == "milestone"] == ["detected", "resolved"]
    tasks = dict((e["task"], e) for e in events if e["type"] == "task")
    assert "rotate {{ nolog_name_value }}" in tasks  # a no_log task keeps its untemplated name
    assert any(len(str(e.get("result", {}).get("msg", ""))) > 300 for e in tasks.values())  # the clip case was written
    (capture,) = [d for d in (directory / "evidence").iterdir() if d.is_dir()]
    log = (capture / "logs" / ("%s.log" % _container_name())).read_bytes()
    assert SURVIVOR.encode() in log and b"********" in log  # redacted, not emptied
    assert (capture / "inspect" / ("%s.json" % _container_name())).is_file()
    (container_process,) = [line for line in (capture / "host" / "processes.txt").read_text().splitlines() if SURVIVOR in line]
    assert "hooks.slack.com/services/********" in container_process  # its command line, redacted before the clip
    assert (capture / "diagnostics" / "planted.json").is_file()
    assert "pg_dump" in (capture / "ERRORS.json").read_text()
    assert list((directory / "evidence").glob("evidence-*.tar.gz"))

    leaks, searched = [], 0
    for where, data in _contents(root):
        searched += 1
        leaks += ["%s in %s" % (needle, os.path.relpath(where.split("!")[0], str(root)) + ("!" + where.split("!", 1)[1] if "!" in where else ""))
                  for needle in NEEDLES if needle.encode() in data]
    assert searched > 15
    assert not leaks, "%d planted secret(s) reached the record:\n%s" % (len(leaks), "\n".join(leaks))
