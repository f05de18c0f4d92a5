"""Only real milestones: fuzz of milestone order and times (no metric is ever negative), the checks of
incident_event's times, and the timeline callback accepting milestones only from incident_event."""
import datetime
import random

import pytest

from ansible_collections.incident.response.plugins.callback.timeline import CallbackModule
from ansible_collections.incident.response.plugins.module_utils import incident

NOW = datetime.datetime(2026, 11, 23, 12, 0, tzinfo=datetime.timezone.utc)
METRICS = ("mttd_s", "mtta_s", "mttm_s", "mttr_s", "customer_impact_s")


def test_random_milestones_never_give_a_negative_metric():
    rng = random.Random(1616)
    for _round in range(2000):
        events = []
        for _i in range(rng.randint(0, 8)):
            at = NOW + datetime.timedelta(seconds=rng.randint(-86400, 86400))
            event = {"type": "milestone", "event": rng.choice(incident.MILESTONES), "at": incident.iso(at)}
            if rng.random() < 0.3:
                event["impact_started_at"] = incident.iso(at + datetime.timedelta(seconds=rng.randint(-7200, 7200)))
            if rng.random() < 0.05:
                event["at"] = rng.choice(["", "garbage", "2026-11-23", None])
            events.append(event)
        rng.shuffle(events)
        metrics = incident.compute_metrics(events, rng.choice([None, incident.iso(NOW)]))
        for name in METRICS:
            assert metrics[name] is None or metrics[name] >= 0, (name, metrics, events)


def test_backwards_times_are_reported_not_computed():
    events = [{"type": "milestone", "event": "detected", "at": "2026-11-23T10:00:00Z"},
              {"type": "milestone", "event": "resolved", "at": "2026-11-23T09:00:00Z"}]
    metrics = incident.compute_metrics(events)
    assert metrics["mttr_s"] is None and any("MTTR" in a for a in metrics["anomalies"])


@pytest.mark.parametrize("value, error", [
    ("2026-11-23", "date without a time"),
    ("20261123", "date without a time"),
    ("2000-01-01T00:00:00Z", "days before"),
    ("2026-11-23T12:06:00Z", "in the future"),
    ("noon", "ISO 8601"),
])
def test_milestone_times_are_checked(value, error):
    with pytest.raises(incident.IncidentError, match=error):
        incident.build_milestone({"event": "resolved", "msg": "x", "at": value, "incident_id": "INC-2026-11-23-001"}, now=NOW)


def test_good_times_pass_with_skew_and_old_impact():
    event = incident.build_milestone({"event": "detected", "msg": "x", "at": "2026-11-23T12:04:00+00:00",
                                      "impact_started_at": "2026-06-01T08:00:00Z", "incident_id": "INC-2026-11-23-001"}, now=NOW)
    assert event["at"] == "2026-11-23T12:04:00.000Z" and event["impact_started_at"] == "2026-06-01T08:00:00.000Z"
    with pytest.raises(incident.IncidentError, match="after at"):
        incident.build_milestone({"event": "detected", "msg": "x", "at": "2026-11-23T10:00:00Z",
                                  "impact_started_at": "2026-11-23T11:00:00Z"}, now=NOW)


def test_checker_flags_backwards_order_and_refuses_bad_items():
    checker = incident.MilestoneChecker("INC-2026-11-23-001", [
        {"type": "milestone", "event": "detected", "at": "2026-11-23T10:00:00Z"}])
    good, reason = checker.check({"event": "mitigated", "message": "ok", "at": "2026-11-23T10:30:00Z"}, now=NOW)
    assert reason is None and "flags" not in good
    back, reason = checker.check({"event": "resolved", "message": "r", "at": "2026-11-23T09:00:00Z"}, now=NOW)
    assert reason is None and back["flags"] == ["before detected (2026-11-23T10:00:00.000Z)",
                                                "before mitigated (2026-11-23T10:30:00.000Z)"]
    for bad in ({"event": "fixed", "message": "x"}, {"event": "note", "message": ""}, "junk",
                {"event": "resolved", "message": "x", "at": "2000-01-01T00:00:00Z"}):
        assert checker.check(bad, now=NOW)[0] is None


def test_declaring_or_acknowledging_after_the_mitigation_is_not_flagged():
    # A response that acts first (the P0 critical path, an automated restart) declares afterwards.
    checker = incident.MilestoneChecker("INC-2026-11-23-001")
    times = [("mitigated", "10:05"), ("detected", "10:00"), ("declared", "10:06"), ("acknowledged", "10:07"), ("resolved", "10:30")]
    for event, hhmm in times:
        checked, reason = checker.check({"event": event, "message": event, "at": "2026-11-23T%s:00Z" % hhmm}, now=NOW)
        assert reason is None and "flags" not in checked, checked
    early, _reason = checker.check({"event": "acknowledged", "message": "a", "at": "2026-11-23T09:30:00Z"}, now=NOW)
    assert early["flags"] == ["before detected (2026-11-23T10:00:00.000Z)"]
    late, _reason = checker.check({"event": "mitigated", "message": "m", "at": "2026-11-23T10:50:00Z"}, now=NOW)
    assert late["flags"] == ["after resolved (2026-11-23T10:30:00.000Z)"]


class Task(object):
    def __init__(self, action, resolved=None):
        self.action, self.resolved_action = action, resolved


def test_only_incident_event_states_milestones():
    accepts = CallbackModule._states_milestones
    assert accepts(Task("incident.response.incident_event", "incident.response.incident_event"))
    assert accepts(Task("incident_event"))  # short name under collections:, before resolution
    for forger in (Task("ansible.builtin.debug", "ansible.builtin.debug"), Task("debug"), Task("ansible.builtin.set_fact"),
                   Task("incident_event", "someone.else.incident_event"), Task("incident.response.evidence_capture")):
        assert not accepts(forger)


class Writer(object):
    """The timeline writer's interface, keeping events in memory (the callback under test is real)."""

    def __init__(self):
        self.events, self.where, self.sync = [], "/nonexistent/timeline.jsonl", "none"

    def append(self, event, sync_now=False):
        self.events.append(event)
        return True


def test_callback_refuses_and_flags_milestones_keeping_the_good_items():
    cb = CallbackModule()
    cb._writer, cb.incident_id = Writer(), "INC-2026-11-23-001"
    task_event = {"host": "h", "play": "p", "task": "Loop of milestones", "end": incident.iso()}
    now = incident.utcnow()
    items = [{"event": "detected", "message": "d", "at": incident.iso(now - datetime.timedelta(minutes=10))},
             {"event": "resolved", "message": "forged", "at": "2000-01-01T00:00:00Z"},
             {"event": "mitigated", "message": "m", "at": incident.iso(now - datetime.timedelta(minutes=20))}]
    for item in items:
        cb._milestone(item, task_event)
    kinds = [(e["type"], e.get("event")) for e in cb._writer.events]
    assert kinds == [("milestone", "detected"), ("milestone_refused", "resolved"), ("milestone", "mitigated")]
    assert cb._writer.events[2]["flags"] == ["before detected (%s)" % items[0]["at"]]
    metrics = incident.compute_metrics(cb._writer.events)
    assert metrics["mttm_s"] is None and metrics["anomalies"]
