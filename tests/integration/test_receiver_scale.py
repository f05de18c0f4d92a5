"""Three independent faults at once through the receiver (scale_support.py): the containers of three
one-service compose projects are killed together and three ServiceDown alerts posted; api-down.yml,
taking its service from the alert, runs three incidents side by side, each healing and recording its own
service. scripts/bench_scale.py measures the same with 1, 2 and 5."""
import json

import pytest

from tests.integration.scale_support import ScaleLab

pytestmark = pytest.mark.lab


# The lab lock (tests/conftest.py) keeps this apart from lab tests and benches; the lab stays healthy.
@pytest.mark.usefixtures("healthy_lab")
def test_three_concurrent_faults_are_three_incidents_each_healing_its_own_service(tmp_path):
    scale = ScaleLab(tmp_path, 3)
    try:
        scale.up()
        scale.start_receiver()
        out = scale.incident(scale.names, "t1")
        healthy = {name: scale.healthy(name) for name in scale.names}
    finally:
        scale.stop()
        scale.down()
    incidents = out["incidents"]
    print("3 concurrent incidents: kill -> all healthy %.1f s;" % out["kill_to_all_healthy_s"],
          {name: {k: round(v, 2) for k, v in inc.items() if k.endswith("_s")} for name, inc in incidents.items()})
    assert healthy == dict.fromkeys(scale.names, True)
    assert len({inc["job"] for inc in incidents.values()}) == 3
    assert len({inc["incident_id"] for inc in incidents.values()}) == 3
    for name, inc in incidents.items():
        assert inc["status"] == "succeeded", (name, inc)
        timeline = inc["timeline"]
        assert timeline and all(e["incident_id"] == inc["incident_id"] for e in timeline), name
        mitigated = [e for e in timeline if e["type"] == "milestone" and e["event"] == "mitigated"]
        assert mitigated and mitigated[0]["message"].startswith(name + " restarted"), (name, mitigated)
        # What the incident did and said names its service only; triage's report (every service of the
        # catalog, the others down too at that moment) is a view of the whole system, left out.
        said = json.dumps([e for e in timeline if e.get("role") != "triage"])
        others = [other for other in scale.names if other != name]
        assert name in said and not [other for other in others if other in said], (name, others)
