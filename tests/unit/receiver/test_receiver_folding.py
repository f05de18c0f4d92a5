"""One incident per root cause, in the receiver (real store, real timeline files, dispatch off): while
a service has an open incident, alerts of the services depending on it are folded into it as symptom
notes (no job, no incident of their own); when the cause resolves (and settle_s passed), a symptom
still firing is released to its own response."""
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from incident_receiver import dependencies, incidents, validate
from incident_receiver.app import Receiver
from incident_receiver.config import ConfigError

GRAPH = {"nginx": ["api"], "api": ["postgres", "redis"], "worker": ["postgres"], "postgres": [], "redis": []}


def am_alert(name, service, status="firing", severity="P1"):
    return {"status": status, "labels": {"alertname": name, "service": service, "severity": severity},
            "annotations": {"summary": "%s on %s" % (name, service)}, "startsAt": "2026-11-23T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "%s-%s" % (name, service)}


@pytest.fixture
def receiver(make_config):
    made = []

    def build(**overrides):
        rcv = Receiver(make_config(**dict({"folding": {"depends_on": GRAPH, "settle_s": 0}}, **overrides)))
        made.append(rcv)
        return rcv
    yield build
    for rcv in made:
        for pool in (rcv.ingest_pool, rcv.timeline_pool, rcv.run_pool):
            pool.shutdown(wait=True)
        rcv.store.close()


def post(rcv, *alerts):
    doc = {"version": "4", "status": alerts[0]["status"], "receiver": "r", "groupKey": "g", "alerts": list(alerts)}
    return rcv.ingest(validate.alertmanager(json.loads(json.dumps(doc))), "alertmanager")


def timeline(rcv, incident_id):
    rcv.timeline_pool.submit(lambda: None).result()          # lines are appended just after the commit
    with open(incidents.timeline_path(rcv.cfg.repo, rcv.cfg.incidents_dir, incident_id)) as fh:
        return [json.loads(line) for line in fh]


def notes(rcv, incident_id):
    return [(e.get("symptom"), e["alertname"]) for e in timeline(rcv, incident_id) if e.get("symptom")]


def db_down(rcv):
    out = post(rcv, am_alert("TaskSchedulerDatabaseDown", "postgres", severity="P0"))
    [queued] = out["queued"]
    assert queued["playbook"] == "database-down.yml"
    return queued


def test_symptom_of_an_open_cause_is_folded_into_its_incident(receiver):
    rcv = receiver()
    cause = db_down(rcv)
    out = post(rcv, am_alert("HighErrorRate", "api"))
    assert out["queued"] == [] and out["folded"] == [{"job": cause["job"], "incident_id": cause["incident_id"],
                                                     "cause": "postgres"}]
    rcv.store.claim(cause["job"], "/x")                         # the cause is being remediated
    assert post(rcv, am_alert("HighErrorRate", "api"))["folded"]       # Alertmanager re-sends the group
    rcv.store.finish(cause["job"], "succeeded")                  # ran, but the database alert still fires
    assert post(rcv, am_alert("NoActiveWorkers", "worker"))["folded"]
    assert [j["id"] for j in rcv.store.jobs()] == [cause["job"]]        # no job: no declaration, notice, remediation
    assert [n for n in os.listdir(rcv.cfg.incidents_dir) if n.startswith("INC-")] == [cause["incident_id"]]  # no 2nd
    assert [a["disposition"] for a in rcv.store.job_alerts(cause["job"])] == ["queued", "folded", "folded", "folded"]
    lines = timeline(rcv, cause["incident_id"])
    assert [e["event"] for e in lines] == ["detected", "note", "note"]  # one note per symptom, not per re-send
    symptom = lines[1]
    assert (symptom["symptom"], symptom["alertname"], symptom["symptom_service"]) == ("symptom", "HighErrorRate", "api")
    assert "severity" not in symptom and "postgres" in symptom["message"]   # the report keeps the cause's P0
    # The symptom ends on its own: noted; the incident stays open while the database alert fires.
    assert post(rcv, am_alert("HighErrorRate", "api", "resolved"))["canceled"] == []
    assert notes(rcv, cause["incident_id"])[-1] == ("symptom_resolved", "HighErrorRate")
    assert rcv.store.job(cause["job"])["resolved_at"] is None
    assert post(rcv, am_alert("HighErrorRate", "api"))["folded"]        # fires again: still that incident's


def test_cause_resolved_releases_the_symptoms_still_firing(receiver):
    rcv = receiver()
    cause = db_down(rcv)
    post(rcv, am_alert("HighErrorRate", "api"), am_alert("NoActiveWorkers", "worker"))
    post(rcv, am_alert("NoActiveWorkers", "worker", "resolved"))         # this one ended with the cause
    out = post(rcv, am_alert("TaskSchedulerDatabaseDown", "postgres", "resolved", severity="P0"))
    [released] = out["queued"]
    assert released["playbook"] == "high-error-rate.yml" and out["canceled"] == [cause["job"]]
    assert rcv.store.job(cause["job"])["resolved_at"]
    job = rcv.store.job(released["job"])
    assert (job["alertname"], job["service"], job["status"]) == ("HighErrorRate", "api", "queued")
    assert notes(rcv, cause["incident_id"]) == [("symptom", "HighErrorRate"), ("symptom", "NoActiveWorkers"),
                                                ("symptom_resolved", "NoActiveWorkers"),
                                                ("symptom_released", "HighErrorRate")]
    [detected] = timeline(rcv, released["incident_id"])
    assert detected["event"] == "detected" and "released from %s" % cause["incident_id"] in detected["message"]
    # From now on the symptom belongs to its own run: a re-send is a duplicate of it, its end resolves it.
    assert post(rcv, am_alert("HighErrorRate", "api"))["duplicates"] == 1
    post(rcv, am_alert("HighErrorRate", "api", "resolved"))
    assert rcv.store.job(released["job"])["status"] == "canceled"


def test_no_dependency_means_a_separate_incident(receiver):
    rcv = receiver()
    cause = db_down(rcv)
    redis = post(rcv, am_alert("RedisMemoryHigh", "redis"))         # redis does not depend on postgres
    assert redis["folded"] == [] and len(redis["queued"]) == 1
    worker = post(rcv, am_alert("NoActiveWorkers", "worker"))       # folded into postgres, not into redis
    assert worker["folded"][0]["incident_id"] == cause["incident_id"]
    post(rcv, am_alert("TaskSchedulerDatabaseDown", "postgres", "resolved", severity="P0"))
    post(rcv, am_alert("NoActiveWorkers", "worker", "resolved"))
    lone = post(rcv, am_alert("StuckSagas", "api"))                 # postgres resolved: nothing open upstream...
    assert lone["folded"][0]["cause"] == "redis"                    # ...but redis is, and api depends on it
    unrelated = post(rcv, am_alert("DiskSpaceLow", "prometheus"))   # not in the graph at all
    assert unrelated["folded"] == [] and len(unrelated["queued"]) == 1
    off = receiver(folding={"enabled": False})
    db_down(off)
    assert len(post(off, am_alert("HighErrorRate", "api"))["queued"]) == 1


def test_a_released_symptom_folds_into_another_open_cause(receiver):
    rcv = receiver()
    pg = db_down(rcv)
    redis = post(rcv, am_alert("ServiceDown", "redis", severity="P0"))["queued"][0]
    assert post(rcv, am_alert("HighErrorRate", "api"))["folded"][0]["cause"] == "postgres"   # the oldest cause
    out = post(rcv, am_alert("TaskSchedulerDatabaseDown", "postgres", "resolved", severity="P0"))
    assert out["queued"] == [] and out["folded"] == [{"job": redis["job"], "incident_id": redis["incident_id"],
                                                     "cause": "redis"}]
    assert notes(rcv, pg["incident_id"])[-1] == ("symptom_released", "HighErrorRate")
    assert notes(rcv, redis["incident_id"]) == [("symptom", "HighErrorRate")]


def test_symptoms_lagging_the_cause_fold_while_it_settles_then_release_by_themselves(receiver):
    rcv = receiver(folding={"depends_on": GRAPH, "settle_s": 0.4})
    cause = db_down(rcv)
    post(rcv, am_alert("HighErrorRate", "api"))
    out = post(rcv, am_alert("TaskSchedulerDatabaseDown", "postgres", "resolved", severity="P0"))
    assert out["queued"] == [] and rcv.store.job(cause["job"])["resolved_at"]
    assert post(rcv, am_alert("NoActiveWorkers", "worker"))["folded"]   # a recovery tail: still this incident
    post(rcv, am_alert("NoActiveWorkers", "worker", "resolved"))
    deadline = time.monotonic() + 5                       # no notification needed: the timer releases it
    while len(rcv.store.jobs()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    released = rcv.store.jobs()[0]
    assert (released["alertname"], released["status"]) == ("HighErrorRate", "queued")
    assert notes(rcv, cause["incident_id"]) == [("symptom", "HighErrorRate"), ("symptom", "NoActiveWorkers"),
                                                ("symptom_resolved", "NoActiveWorkers"),
                                                ("symptom_released", "HighErrorRate")]
    assert len(post(rcv, am_alert("NoActiveWorkers", "worker"))["queued"]) == 1   # settled: its own incident


def test_a_due_release_survives_a_restart_and_a_cause_firing_again_keeps_its_symptoms(receiver):
    rcv = receiver(folding={"depends_on": GRAPH, "settle_s": 0.2})
    db_down(rcv)
    post(rcv, am_alert("HighErrorRate", "api"))
    post(rcv, am_alert("TaskSchedulerDatabaseDown", "postgres", "resolved", severity="P0"))
    rcv.ingest_pool.shutdown(wait=True)                   # stopped before its timer: the release is in the store
    time.sleep(0.4)
    again = receiver(folding={"depends_on": GRAPH, "settle_s": 0.2})
    out = post(again, am_alert("RedisMemoryHigh", "redis"))         # any notification sweeps what is due
    assert [q["playbook"] for q in out["queued"]] == ["high-error-rate.yml", "redis-memory.yml"]
    flappy = receiver(folding={"depends_on": GRAPH, "settle_s": 0.2}, state_dir=str(again.cfg.state_dir) + "-2")
    flappy.store.claim(db_down(flappy)["job"], "/x")     # running: a re-fire is the same run's
    post(flappy, am_alert("HighErrorRate", "api"))
    post(flappy, am_alert("TaskSchedulerDatabaseDown", "postgres", "resolved", severity="P0"))
    post(flappy, am_alert("TaskSchedulerDatabaseDown", "postgres", severity="P0"))   # fires again: open again
    time.sleep(0.4)
    assert flappy.release_settled()["queued"] == [] and len(flappy.store.jobs()) == 1


def test_transitive_dependants_from_the_inventory_catalog(receiver):
    """The graph of the runs' inventory (inventory/lab.yml via ansible-inventory): nginx -> api -> postgres."""
    rcv = receiver(folding={"depends_on": "inventory"})
    assert rcv.cfg.graph.causes_of("nginx") == {"api", "postgres", "redis"}
    cause = db_down(rcv)
    out = post(rcv, am_alert("ServiceDown", "nginx", severity="P0"))
    assert out["queued"] == [] and out["folded"][0]["incident_id"] == cause["incident_id"]


def test_an_incident_open_longer_than_max_open_s_no_longer_absorbs(receiver):
    rcv = receiver(folding={"depends_on": GRAPH, "max_open_s": 0})
    db_down(rcv)
    assert len(post(rcv, am_alert("HighErrorRate", "api"))["queued"]) == 1


def test_graph_is_transitive_and_refuses_cycles_and_unknown_services():
    graph = dependencies.Graph(GRAPH)
    assert graph.causes_of("nginx") == {"api", "postgres", "redis"} and graph.causes_of("postgres") == set()
    assert graph.dependants_of("postgres") == {"api", "worker", "nginx"}
    with pytest.raises(dependencies.GraphError, match="cycle: a -> b -> a"):
        dependencies.Graph({"a": ["b"], "b": ["a"]})
    with pytest.raises(dependencies.GraphError, match="expected a list"):
        dependencies.Graph({"a": "b"})
    with pytest.raises(dependencies.GraphError, match="'db' is not a service of the catalog"):
        dependencies.from_catalog([{"name": "app", "depends_on": ["db"]}])


@pytest.mark.parametrize("inventory, reason", [
    ({"all": {"vars": {"incident_services": [{"name": "app", "depends_on": ["app"]}]}}}, "cycle: app -> app"),
    ({"all": {"vars": {"incident_services": [{"name": "app", "depends_on": ["gone"]}]}}}, "'gone' is not a service"),
    ({"all": {"vars": {"incident_services": {"app": 1}}}}, "expected a list of services"),
])
def test_a_bad_graph_in_the_inventory_stops_the_start(make_config, tmp_path, inventory, reason):
    path = tmp_path / ("inv-%d.yml" % len(reason))
    path.write_text(yaml.safe_dump(inventory))
    with pytest.raises(ConfigError, match="folding: .*" + reason.replace("(", r"\(")):
        make_config(inventory=str(path))
    with pytest.raises(ConfigError, match="cycle"):
        make_config(folding={"depends_on": {"a": ["b"], "b": ["a"]}})


def test_cli_start_up_names_the_bad_graph(tmp_path):
    (tmp_path / "inv.yml").write_text("all: {vars: {incident_services: [{name: app, depends_on: [db]}]}}\n")
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    (tmp_path / "receiver.yml").write_text(yaml.safe_dump({
        "repo": repo, "inventory": str(tmp_path / "inv.yml"), "state_dir": str(tmp_path / "state"),
        "routes": os.path.join(repo, "extensions", "receiver", "routes.yml"), "auth": {"token": "t"}}))
    res = subprocess.run([sys.executable, "-m", "incident_receiver", "--config", str(tmp_path / "receiver.yml"),
                          "--check-config"], capture_output=True, text=True, timeout=60, check=False,
                         cwd=os.path.join(repo, "extensions", "receiver"))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "folding:" in res.stderr and "'db' is not a service of the catalog" in res.stderr
