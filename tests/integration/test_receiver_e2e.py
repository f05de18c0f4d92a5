"""End to end on the real lab: the api is killed; the lab's own Prometheus and Alertmanager post to
the receiver on 127.0.0.1:19095; ansible-runner runs the P0 playbook; the api is healthy again; the
alert resolves; the incident timeline reads detected -> mitigated -> resolved."""
import pytest

from tests.integration.receiver_support import lab_loop

pytestmark = pytest.mark.lab


def test_alertmanager_to_playbook_heals_the_api_and_records_the_incident(healthy_lab, tmp_path):
    _rcv, run, timings = lab_loop(tmp_path, healthy_lab)
    print("receiver e2e:", timings)
    assert run["status"] == "succeeded", run
    assert run["alertname"] in ("ServiceDown", "TaskSchedulerAPIDown")
    assert run["summary"]["stats"]["failures"] == {} and run["summary"]["failed_tasks"] == []
    # Both api-down alerts (two Alertmanager groups) drove one run, and both resolutions were recorded.
    names = {a["alertname"] for a in run["alerts"]}
    assert names == {"ServiceDown", "TaskSchedulerAPIDown"}, run["alerts"]
    assert {a["alertname"] for a in run["alerts"] if a["status"] == "resolved"} == names
    milestones = [e for e in sorted(run["timeline"], key=lambda e: e["ts"]) if e["type"] == "milestone"]
    order = [(m["event"], m.get("source")) for m in milestones]
    assert order[0] == ("detected", "incident-receiver"), order           # the alert, at ack time
    mitigated = order.index(("mitigated", None))                          # stated by the playbook
    assert ("resolved", "incident-receiver") in order[mitigated + 1:], order   # Alertmanager's resolved
    assert all(e["incident_id"] == run["incident_id"] for e in run["timeline"])
    assert any(e["type"] == "run_end" for e in run["timeline"])
    assert healthy_lab.http(healthy_lab.url("api", "/health"))[0] == 200
