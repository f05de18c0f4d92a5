"""Pure helpers of alertmanager_silence (the API is exercised against the lab's Alertmanager)."""
import pytest

from ansible_collections.incident.response.plugins.modules.alertmanager_silence import matcher_key, parse_duration


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400),
                                           ("1h30m", 5400), ("0", None), ("", None), ("5x", None), ("m", None)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_matcher_identity_ignores_order_and_defaults():
    a = [dict(name="alertname", value="X", isRegex=False, isEqual=True), dict(name="service", value="api", isRegex=False)]
    b = [dict(name="service", value="api", isRegex=False, isEqual=True), dict(name="alertname", value="X", isRegex=False)]
    assert matcher_key(a) == matcher_key(b)
    assert matcher_key(a) != matcher_key([dict(name="alertname", value="X", isRegex=True)])
