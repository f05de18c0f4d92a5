"""Restore drill on the lab's real PostgreSQL (runbooks 001/004 "restore from backup"): the emergency backup the
collection takes restores into a scratch database <db>_drill_<id>, the inventory's integrity checks pass on it, the
result is written, and the scratch database is dropped; a corrupt dump fails clearly and leaves nothing behind; the
live database is refused as a target; database-down.yml runs the drill after its emergency backup."""
import glob
import gzip
import json
import os
import shutil

import psycopg2
import pytest
import yaml

from tests.ansible import REPO, run_module, run_playbook

with open(os.path.join(REPO, "inventory", "lab.yml")) as _fh:
    INVENTORY = yaml.safe_load(_fh)["all"]["vars"]
ADMIN = INVENTORY["incident_postgres_admin"]
LOGIN = dict(login_host=ADMIN["host"], login_port=ADMIN["port"], login_user=ADMIN["user"],
             login_password=ADMIN["password"], login_db=INVENTORY["incident_postgres"]["database"])
CHECKS = INVENTORY["verify_postgres_checks"]


def databases():
    with psycopg2.connect(host=ADMIN["host"], port=ADMIN["port"], user=ADMIN["user"], password=ADMIN["password"],
                          dbname="postgres", connect_timeout=3) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database")
        return {row[0] for row in cur.fetchall()}


@pytest.fixture(scope="module")
def dump(lab, tmp_path_factory):
    """The emergency backup exactly as remediate_database takes it (postgres_maintenance action=dump)."""
    path = str(tmp_path_factory.mktemp("backup") / "emergency-backup.dump")
    res = run_module("postgres_maintenance", dict(LOGIN, action="dump", dest=path))
    assert not res.get("failed"), res
    return path


def drill(dump_path, tmp_path, **extra):
    args = dict(LOGIN, dump=dump_path, checks=CHECKS, report=str(tmp_path / "restore-drill.json"))
    args.update(extra)
    return run_module("postgres_restore_drill", args, timeout=300)


def test_backup_restores_into_a_scratch_database_and_passes_the_checks(healthy_lab, dump, tmp_path):
    res = drill(dump, tmp_path, drill_id="t1")
    assert not res.get("failed"), res
    assert res["passed"] and res["dropped"] and res["format"] == "custom"
    assert res["scratch_db"] == LOGIN["login_db"] + "_drill_t1"
    assert "--no-owner" in res["command"] and LOGIN["login_password"] not in json.dumps(res)
    assert sorted(c["name"] for c in res["checks"]) == sorted(CHECKS) and all(c["ok"] for c in res["checks"])
    restored = {t["table"]: t for t in res["tables"]}
    assert "public.saga_executions" in restored and res["missing_tables"] == []
    assert restored["public.worker_heartbeat"]["restored_rows"] >= 1  # real data came back, not only the schema
    assert res["scratch_db"] not in databases()
    with open(res["report"]) as fh:
        report = json.load(fh)
    assert report["passed"] and report["scratch_db"] == res["scratch_db"] and report["dump"] == dump


def test_plain_gzip_dump_restores_in_the_database_container(healthy_lab, dump, tmp_path):
    """The evidence's db/pg_dump.sql.gz form, restored with the container's own psql (the controller needs none)."""
    plain = str(tmp_path / "pg_dump.sql")
    res = run_module("postgres_maintenance", dict(LOGIN, action="dump", dest=plain, format="plain"))
    assert not res.get("failed"), res
    with open(plain, "rb") as src, gzip.open(plain + ".gz", "wb") as out:
        shutil.copyfileobj(src, out)
    container = healthy_lab.container("postgres")["Name"].lstrip("/")
    res = drill(plain + ".gz", tmp_path, drill_id="t2", container=container, checks={})
    assert not res.get("failed"), res
    assert res["passed"] and res["format"] == "plain-gzip" and res["command"][0] == "psql"
    assert res["scratch_db"] not in databases()


def test_corrupt_dump_fails_clearly_and_leaves_no_scratch_database(healthy_lab, dump, tmp_path):
    corrupt = str(tmp_path / "corrupt.dump")
    with open(dump, "rb") as src, open(corrupt, "wb") as out:
        out.write(src.read()[: os.path.getsize(dump) // 2])
    res = drill(corrupt, tmp_path, drill_id="t3")
    assert res.get("failed") and res["passed"] is False, res
    assert res["msg"].startswith("restore drill failed") and "pg_restore" in res["msg"]
    assert res["dropped"] is True and res["scratch_db"] not in databases()
    with open(res["report"]) as fh:
        assert json.load(fh)["passed"] is False


def test_live_database_is_refused_as_the_target(healthy_lab, dump, tmp_path):
    before = databases()
    res = drill(dump, tmp_path, scratch_db=LOGIN["login_db"])
    assert res.get("failed") and "it is the live database" in res["msg"], res
    res = drill(dump, tmp_path, scratch_db="orchestrator_copy")
    assert res.get("failed") and "_drill_" in res["msg"], res
    assert databases() == before and not os.path.exists(str(tmp_path / "restore-drill.json"))
    planned = run_module("postgres_restore_drill", dict(LOGIN, dump=dump, drill_id="t4"), check=True)
    assert planned["changed"] and not planned.get("failed") and planned["scratch_db"] not in databases()


def test_database_down_scenario_proves_its_emergency_backup(healthy_lab, tmp_path):
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_STATE_DIR": str(tmp_path / "state")}
    healthy_lab.faults("inject", "db-stop")
    try:
        res = run_playbook("playbooks/database-down.yml", env=env, timeout=300)
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    finally:
        healthy_lab.faults("reset", "db-stop")
    (report,) = glob.glob(os.path.join(env["INCIDENT_ROOT"], "INC-*", "restore-drill.json"))
    with open(report) as fh:
        drilled = json.load(fh)
    assert drilled["passed"] and drilled["dropped"] and drilled["dump"].endswith("emergency-backup-after-restart.dump")
    assert "_drill_inc_" in drilled["scratch_db"] and drilled["scratch_db"] not in databases()
    with open(os.path.join(os.path.dirname(report), "timeline.jsonl")) as fh:
        notes = [json.loads(line).get("message", "") for line in fh if line.strip()]
    assert any(n.startswith("Restore drill of the emergency backup PASSED") for n in notes), notes
