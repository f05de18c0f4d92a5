"""Pure helpers of prometheus_query (queries and alerts run against the lab's Prometheus)."""
import pytest

from ansible_collections.incident.response.plugins.modules.prometheus_query import finding_severity, number


@pytest.mark.parametrize("label, severity", [("P0", "critical"), ("SEV2", "critical"), ("warning", "warning"),
                                             ("P2", "warning"), ("P3", "info"), (None, "info")])
def test_alert_severity_to_finding_severity(label, severity):
    assert finding_severity(label) == severity


def test_sample_values_are_json_safe():
    assert number("1") == 1.0 and number("0.25") == 0.25 and number("NaN") == "NaN" and number("+Inf") == "+Inf"
