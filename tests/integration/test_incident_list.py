"""Incidents at a glance: the incident_list module, playbooks/incidents.yml and the receiver's `incident-list`
command, one implementation (module_utils/incident_list.py). A game day on the lab - a killed api healed
(resolved), a killed api the automation may not restart (escalated by the rescue, report written) and an
engine that cannot be reached (escalated before anything is declared, no report) - is listed correctly by
all three; hostile and corrupt records are entries with errors, links are never followed."""
import json
import os
import subprocess

from ansible_collections.incident.response.plugins.module_utils import incident_list
from tests.ansible import VENV_BIN, run_module, run_playbook
from tests.integration.test_p0_playbook import incident_of, restore_lab

CLI = os.path.join(VENV_BIN, "incident-list")


def write_timeline(directory, events, raw=b""):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "timeline.jsonl"), "wb") as fh:
        for event in events:
            fh.write(json.dumps(event).encode() + b"\n")
        fh.write(raw)


def milestone(event, at, **extra):
    return dict({"type": "milestone", "event": event, "at": at, "message": "%s message" % event, "run_id": "r1"}, **extra)


def cli(*args, env=None, cwd="/"):
    """The console script, from a directory that is not the checkout: it must find the collection itself."""
    full = dict(os.environ)
    full.pop("INCIDENT_ROOT", None)
    full.update(env or {})
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=60, env=full, cwd=cwd, check=False)


def by_id(entries):
    return dict((e["id"], e) for e in entries)


def test_records_of_every_kind_and_hostile_ones(tmp_path):
    root, outside = tmp_path / "incidents", tmp_path / "outside"
    write_timeline(outside / "INC-2026-11-01-001", [milestone("declared", "2026-11-01T10:00:00Z", severity="P0")])
    (outside / "secret.jsonl").write_text(json.dumps(milestone("resolved", "2026-11-01T10:00:00Z", message="OUTSIDE")) + "\n")
    run = {"type": "run_start", "ts": "2026-11-23T09:59:00.000Z", "check_mode": False, "run_id": "r1"}
    # resolved, with the report's summary (services, severity) and both report files
    resolved = root / "INC-2026-11-23-001"
    write_timeline(resolved, [run, milestone("detected", "2026-11-23T10:00:00.000Z", severity="P1"),
                              milestone("mitigated", "2026-11-23T10:05:00.000Z"), milestone("resolved", "2026-11-23T10:09:00.000Z"),
                              milestone("note", "2026-11-23T10:10:00.000Z")])
    (resolved / "summary.json").write_text(json.dumps({"severity": "P0", "services_affected": ["api", "nginx"], "status": "resolved",
                                                       "title": "API down"}))
    (resolved / "report.md").write_text("# report\n")
    (resolved / "report.html").write_text("<html></html>\n")
    # the report says open, a later milestone escalated: escalated wins
    escalated = root / "INC-2026-11-23-002"
    write_timeline(escalated, [run, milestone("declared", "2026-11-23T11:00:00.000Z", severity="P1"),
                               milestone("escalated", "2026-11-23T11:03:00.000Z", message="password=hunter2 a human must take over")])
    (escalated / "summary.json").write_text(json.dumps({"status": "open", "services_affected": ["worker"]}))
    # open; a corrupt line in the middle and a torn last line (a run still writing)
    write_timeline(root / "INC-2026-11-23-003", [run, milestone("declared", "2026-11-23T12:00:00.000Z", symptom_service="redis")],
                   raw=b"\xff\xfe garbage\n[1, 2]\n" + json.dumps(milestone("acknowledged", "2026-11-23T12:01:00Z")).encode()
                   + b"\n{\"type\": \"milestone\", \"ev")
    # check mode only: a rehearsal; notes only: no incident; allocated, empty
    write_timeline(root / "INC-2026-11-23-004", [dict(run, check_mode=True), milestone("declared", "2026-11-23T13:00:00.000Z")])
    write_timeline(root / "INC-2026-11-23-005", [run, milestone("note", "2026-11-23T14:00:00.000Z")])
    os.makedirs(root / "INC-2026-11-23-006")
    # hostile: a linked incident directory, a linked timeline and report, a FIFO, invalid summary.json
    os.symlink(outside / "INC-2026-11-01-001", root / "INC-2026-11-23-007")
    os.makedirs(root / "INC-2026-11-23-008")
    os.symlink(outside / "secret.jsonl", root / "INC-2026-11-23-008" / "timeline.jsonl")
    os.symlink(outside / "secret.jsonl", root / "INC-2026-11-23-008" / "report.md")
    os.makedirs(root / "INC-2026-11-23-009")
    os.mkfifo(root / "INC-2026-11-23-009" / "timeline.jsonl")
    write_timeline(root / "INC-2026-11-23-010", [run, milestone("mitigated", "2026-11-23T15:00:00.000Z")])
    (root / "INC-2026-11-23-010" / "summary.json").write_text("{not json")
    write_timeline(root / "INC-2026-11-23-1000", [run, milestone("detected", "2026-11-23T16:00:00.000Z")])
    (root / "notes.txt").write_text("not an incident")

    path, entries = incident_list.list_incidents(str(root), incident_list.STATUSES)
    assert path == str(root)
    assert [e["id"] for e in entries][:3] == ["INC-2026-11-23-1000", "INC-2026-11-23-010", "INC-2026-11-23-009"]
    got = by_id(entries)
    assert len(got) == 11
    one = got["INC-2026-11-23-001"]
    assert (one["status"], one["severity"], one["services"], one["title"], one["error"]) == ("resolved", "P0", ["api", "nginx"], "API down", None)
    assert one["report"] == str(resolved / "report.md") and one["html"] == str(resolved / "report.html")
    assert one["started_at"] == "2026-11-23T10:00:00.000Z" and one["last_milestone"]["event"] == "resolved" and one["age_s"] > 0
    two = got["INC-2026-11-23-002"]
    assert (two["status"], two["severity"], two["services"], two["report"]) == ("escalated", "P1", ["worker"], None)
    assert "hunter2" not in json.dumps(two) and "********" in two["last_milestone"]["message"]
    three = got["INC-2026-11-23-003"]
    assert three["status"] == "open" and three["services"] == ["redis"] and three["last_milestone"]["event"] == "acknowledged"
    assert three["error"] == "timeline.jsonl: 2 unreadable line(s)"
    assert (got["INC-2026-11-23-004"]["status"], got["INC-2026-11-23-004"]["check_mode"]) == ("dry-run", True)
    assert got["INC-2026-11-23-005"]["status"] == "none" and got["INC-2026-11-23-005"]["last_milestone"]["event"] == "note"
    assert (got["INC-2026-11-23-006"]["status"], got["INC-2026-11-23-006"]["error"]) == ("none", None)
    assert got["INC-2026-11-23-007"]["status"] == "unknown" and "symbolic link" in got["INC-2026-11-23-007"]["error"]
    eight = got["INC-2026-11-23-008"]
    assert eight["status"] == "unknown" and "timeline.jsonl is a symbolic link" in eight["error"] and eight["report"] is None
    assert "OUTSIDE" not in json.dumps(entries) and "INC-2026-11-01-001" not in json.dumps(entries)
    assert "not a regular file" in got["INC-2026-11-23-009"]["error"]
    ten = got["INC-2026-11-23-010"]
    assert ten["status"] == "mitigated" and "summary.json is not valid JSON" in ten["error"]
    # the default leaves out what declared nothing and the rehearsals
    _path, default = incident_list.list_incidents(str(root))
    assert {e["status"] for e in default} == {"resolved", "escalated", "open", "mitigated", "unknown"}
    assert not {"INC-2026-11-23-004", "INC-2026-11-23-005", "INC-2026-11-23-006"} & set(by_id(default))

    # The module and the command give the same listing.
    module = run_module("incident_list", {"root": str(root), "status": list(incident_list.STATUSES)})
    assert not module["changed"] and [e["id"] for e in module["incidents"]] == [e["id"] for e in entries]
    assert module["counts"]["unknown"] == 3 and module["table"][0].startswith("ID ") and len(module["table"]) == 12
    res = cli("--root", str(root), "--all", "--json")
    assert res.returncode == 0, res.stderr
    listed = json.loads(res.stdout)
    assert [(e["id"], e["status"], e["error"]) for e in listed["incidents"]] == [(e["id"], e["status"], e["error"]) for e in entries]
    res = cli("--open", env={"INCIDENT_ROOT": str(root)})
    assert res.returncode == 0 and res.stdout.startswith("ID ")
    lines = res.stdout.splitlines()[1:]
    assert sorted(line.split()[0] for line in lines) == sorted(e["id"] for e in entries if e["status"] in incident_list.OPEN_STATUSES)
    assert any("ERROR: the incident directory is a sym" in line for line in lines)
    assert cli("--root", str(root / "notes.txt")).returncode == 2
    res = cli("--root", str(tmp_path / "missing"))
    assert res.returncode == 0 and "no incidents under" in res.stdout
    assert run_module("incident_list", {"root": str(root / "notes.txt")})["failed"]


def test_game_day_resolved_and_escalated(healthy_lab, tmp_path):
    root = tmp_path / "incidents"
    env = {"INCIDENT_ROOT": str(root), "INCIDENT_STATE_DIR": str(tmp_path / "state"), "INCIDENT_UNATTENDED": "1"}
    ids = {}
    healthy_lab.faults("inject", "api-kill")
    try:
        res = run_playbook("playbooks/p0-outage.yml", env=env, timeout=180)
        assert res.returncode == 0, res.stdout[-4000:]
        ids["resolved"] = incident_of(res)
        # The api dies again and the rate limit (one restart per window, used above) refuses the restart: the
        # ladder cannot heal, the unattended decision hands over, the rescue escalates and writes the report.
        healthy_lab.faults("inject", "api-kill")
        res = run_playbook("playbooks/p0-outage.yml", env=env, extra_vars={"remediate_service_max_restarts": 1}, timeout=180)
        assert res.returncode != 0, res.stdout[-4000:]
        ids["escalated"] = incident_of(res)
    finally:
        restore_lab()
    # Triage cannot see the engine: unknown is not healthy, handed over before anything is declared.
    res = run_playbook("playbooks/p0-outage.yml", env=env, timeout=120,
                       extra_vars={"incident_engines": {"default": {"docker_host": "unix:///nonexistent/docker.sock"}}})
    assert res.returncode != 0 and "cannot assess the system" in res.stdout + res.stderr, res.stdout[-4000:]
    ids["unassessed"] = incident_of(res)

    res = cli("--root", str(root), "--json")
    assert res.returncode == 0, res.stderr
    listed = by_id(json.loads(res.stdout)["incidents"])
    assert set(listed) == set(ids.values()), (sorted(listed), ids)
    healed, stuck, blind = listed[ids["resolved"]], listed[ids["escalated"]], listed[ids["unassessed"]]
    assert (healed["status"], healed["severity"], healed["services"], healed["error"]) == ("resolved", "P0", ["api"], None)
    assert healed["last_milestone"]["event"] == "resolved" and os.path.isfile(healed["report"]) and os.path.isfile(healed["html"])
    assert (stuck["status"], stuck["severity"], stuck["services"], stuck["error"]) == ("escalated", "P0", ["api"], None)
    assert os.path.isfile(stuck["report"]) and "A human must take over" in stuck["last_milestone"]["message"]
    with open(os.path.join(os.path.dirname(stuck["report"]), "summary.json")) as fh:
        assert json.load(fh)["status"] == "open"        # the report says open; the milestones say escalated
    assert (blind["status"], blind["report"], blind["services"]) == ("escalated", None, [])
    assert blind["last_milestone"]["message"].startswith("Cannot tell whether there is an incident")
    assert healed["age_s"] > stuck["age_s"] > blind["age_s"] > 0

    # The playbook shows the same on the configured console, one line per incident (its own run is an
    # incident that declared nothing, left out).
    res = run_playbook("playbooks/incidents.yml", env={"INCIDENT_ROOT": str(root)}, timeout=60, stdout_callback=None)
    assert res.returncode == 0, res.stdout[-3000:]
    rows = [line for line in res.stdout.splitlines() if "INC-" in line and ("resolved" in line or "escalated" in line)]
    for key, status in (("resolved", "resolved"), ("escalated", "escalated"), ("unassessed", "escalated")):
        line = [r for r in rows if ids[key] in r]
        assert len(line) == 1 and status in line[0].split(), (key, rows, res.stdout[-3000:])
    assert [r for r in rows if ids["resolved"] in r][0].rstrip().endswith(healed["report"])
    _root, everything = incident_list.list_incidents(str(root), incident_list.STATUSES)
    assert [e["id"] for e in everything if e["id"] not in ids.values()] == []  # listing is not an incident
