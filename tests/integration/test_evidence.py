"""Evidence capture and the post-incident playbook against the running lab (read-only on the lab)."""
import gzip
import hashlib
import json
import os
import tarfile

from tests.ansible import REPO, run_module, run_playbook

PLAYBOOKS = os.path.join(REPO, "tests", "integration", "playbooks")
LAB_SECRETS = ["lab-only-pg-password", "lab-only-pg-admin-password", "lab-only-admin-token", "lab-only-receiver-token"]


def _sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _manifest(capture_dir):
    with open(os.path.join(capture_dir, "MANIFEST")) as fh:
        header, *rows = fh.read().splitlines()
    assert header.split("\t") == ["file", "size", "sha256", "collected_at", "source", "collector"]
    return [dict(zip(header.split("\t"), row.split("\t"))) for row in rows]


def _no_secrets(root):
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            opener = gzip.open if name.endswith(".gz") and not name.endswith(".tar.gz") else open
            with opener(path, "rb") as fh:
                data = fh.read()
            if name.endswith(".tar.gz"):
                continue  # its members are the files checked here
            leaked = [s for s in LAB_SECRETS if s.encode() in data]
            assert not leaked, "%s leaked into %s" % (leaked, path)


def test_evidence_role_bundle_verifies_and_is_redacted(healthy_lab, tmp_path):
    res = run_playbook(os.path.join(PLAYBOOKS, "evidence_role.yml"), env={"INCIDENT_ROOT": str(tmp_path)})
    assert res.returncode == 0, res.stdout[-3000:]
    (incident_id,) = [d for d in os.listdir(str(tmp_path)) if d.startswith("INC-")]
    evidence = os.path.join(str(tmp_path), incident_id, "evidence")
    (capture,) = [d for d in os.listdir(evidence) if os.path.isdir(os.path.join(evidence, d))]
    capture_dir = os.path.join(evidence, capture)
    rows = _manifest(capture_dir)
    files = [r["file"] for r in rows]
    for expected in ("logs/incident-lab_api_1.log", "inspect/incident-lab_postgres_1.json", "host/processes.txt",
                     "host/meminfo.txt", "diagnostics/triage.json", "db/audit_log_2h.json", "db/stuck_sagas.json",
                     "db/pg_dump.sql.gz"):
        assert expected in files, files
    for row in rows:  # every checksum verifies
        path = os.path.join(capture_dir, row["file"])
        assert os.path.getsize(path) == int(row["size"]) and _sha256(path) == row["sha256"], row["file"]
    audit = json.load(open(os.path.join(capture_dir, "db", "audit_log_2h.json")))
    assert audit["columns"][:2] == ["id", "at"]
    with gzip.open(os.path.join(capture_dir, "db", "pg_dump.sql.gz")) as fh:
        assert b"CREATE TABLE public.saga_executions" in fh.read()
    # tcpdump is only used where installed: otherwise a recorded "not available" entry
    if "net/capture.pcap" not in files:
        assert "tcpdump" in open(os.path.join(capture_dir, "UNAVAILABLE.json")).read()

    tarball = os.path.join(evidence, "evidence-%s-%s.tar.gz" % (incident_id, capture))
    digest, name = open(tarball + ".sha256").read().split()
    assert name == os.path.basename(tarball) and digest == _sha256(tarball)
    with tarfile.open(tarball) as tar:
        assert sorted(m.name for m in tar.getmembers() if m.isfile()) == sorted(
            ["%s/%s" % (capture, f) for f in files] + ["%s/MANIFEST" % capture])
    _no_secrets(str(tmp_path))
    timeline = open(os.path.join(str(tmp_path), incident_id, "timeline.jsonl")).read()
    assert "Evidence captured: %d files" % len(rows) in timeline


def test_logs_are_bounded_and_captures_never_overwrite(lab, tmp_path):
    args = dict(incident_id="INC-2026-11-23-001", root=str(tmp_path), project="incident-lab", services=["traffic", "nginx"],
                since="2h", max_bytes=1024, host_snapshot=False, tarball=False, label="bounded")
    first, second = run_module("evidence_capture", args), run_module("evidence_capture", args)
    assert first["changed"] and second["changed"] and first["evidence_dir"] != second["evidence_dir"]
    for entry in first["manifest"]:
        if entry["file"].startswith("logs/"):
            assert entry["size"] <= 1024 + 100
    logs = [e for e in first["manifest"] if e["file"].startswith("logs/")]
    assert any(e["truncated"] for e in logs), logs  # 2 h of nginx/traffic logs exceed 1 KiB
    assert "tarball" not in first


def test_unreachable_database_is_an_error_entry_not_a_failure(lab, tmp_path):
    res = run_module("evidence_capture", dict(incident_id="INC-2026-11-23-002", root=str(tmp_path), host_snapshot=False,
                                              queries={"q": "SELECT 1"}, login_port=1, login_user="nobody",
                                              diagnostics={"note": {"ok": True}}))
    assert res["changed"] and not res.get("failed")
    assert res["errors"][0]["item"] == "db" and "127.0.0.1:1" in res["errors"][0]["error"]
    assert [e["file"] for e in res["manifest"]] == ["diagnostics/note.json", "ERRORS.json"]


def test_post_incident_playbook_continues_the_incident(healthy_lab, tmp_path):
    incident_id = "INC-2026-11-23-900"
    first = run_playbook(os.path.join(PLAYBOOKS, "timeline_milestones.yml"), env={"INCIDENT_ROOT": str(tmp_path)},
                         extra_vars={"incident_id": incident_id})
    assert first.returncode == 0, first.stdout[-2000:]
    res = run_playbook(os.path.join(REPO, "playbooks", "post-incident.yml"), env={"INCIDENT_ROOT": str(tmp_path)},
                       extra_vars={"incident_id": incident_id, "post_incident_mark_resolved": True,
                                   "post_incident_silence_alerts": []})
    assert res.returncode == 0, res.stdout[-3000:]
    directory = os.path.join(str(tmp_path), incident_id)
    assert sorted(d for d in os.listdir(str(tmp_path)) if d.startswith("INC-")) == [incident_id]
    events = [json.loads(line) for line in open(os.path.join(directory, "timeline.jsonl"))]
    assert [e["type"] for e in events].count("run_start") == 2
    notes = [e["message"] for e in events if e.get("event") == "note"]
    assert any("verification passed" in n and "incomplete_sagas = 0" in n and "orphaned_operations = 0" in n for n in notes), notes
    summary = json.load(open(os.path.join(directory, "summary.json")))
    assert summary["status"] == "resolved" and summary["runs"] == 2
    review = open(os.path.join(directory, "post-incident-review.md")).read()
    assert "verification passed" in review and "> FILL IN (" in review
