"""incident_event's options are defined once (module_utils/incident_event_spec.py) for the module and the action
plugin; the module's documentation must say the same (validate-modules checks it in sanity, this on every pytest)."""
import yaml

from ansible_collections.incident.response.plugins.module_utils.incident import MILESTONES
from ansible_collections.incident.response.plugins.module_utils.incident_event_spec import incident_event_argument_spec
from ansible_collections.incident.response.plugins.modules import incident_event


def test_documentation_matches_the_spec():
    documented = yaml.safe_load(incident_event.DOCUMENTATION)["options"]
    spec = incident_event_argument_spec()
    assert set(documented) == set(spec)
    for name, opt in spec.items():
        doc = documented[name]
        assert doc["type"] == opt["type"], name
        assert bool(doc.get("required")) == bool(opt.get("required")), name
        assert doc.get("default") == opt.get("default"), name
        assert doc.get("choices") == opt.get("choices"), name
    assert spec["event"]["choices"] == list(MILESTONES)


def test_each_call_gets_its_own_spec():
    first = incident_event_argument_spec()
    first["event"]["choices"].append("fixed")
    assert "fixed" not in incident_event_argument_spec()["event"]["choices"]
