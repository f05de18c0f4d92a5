"""incident_ticket against the fake trackers (tests/ticket_fakes.py, real HTTP on 127.0.0.1): the lifecycle
on every tracker with the request shapes each API documents, idempotence, check mode, retries on 429
(Retry-After honoured and bounded) and 5xx, authentication failures and a tracker that is down (warned,
never failed unless asked), secrets kept out of results and records."""
import json
import os
import time

import pytest

from tests.ansible import run_module
from tests.ticket_fakes import FakeTracker

INCIDENT = "INC-2026-11-30-501"
REVIEW = """# Post-Incident Review

## Action Items

### Immediate (1 week)
- [ ] Page on a missing api process - sre - 2026-12-07
- [ ] > FILL IN (incident-commander): action - owner - due date

### Long-term (3+ months)
- [x] Game day for the restart ladder (done already)
- [ ] Move the API behind two replicas

## Lessons Learned
- [ ] not an action item
"""


@pytest.fixture
def root(tmp_path):
    directory = tmp_path / INCIDENT
    directory.mkdir()
    milestones = [{"type": "milestone", "event": "detected", "message": "api down", "at": "2026-11-30T10:00:00.000Z"},
                  {"type": "milestone", "event": "declared", "message": "declared P0: api down", "severity": "P0",
                   "at": "2026-11-30T10:00:05.000Z"}]
    (directory / "timeline.jsonl").write_text("".join(json.dumps(m) + "\n" for m in milestones))
    (directory / "report.md").write_text("# Incident Report: %s\n\nThe api was restarted.\n" % INCIDENT)
    (directory / "post-incident-review.md").write_text(REVIEW)
    return str(tmp_path)


def ticket(fake, root, state, check=False, **args):
    params = dict(incident_id=INCIDENT, root=root, tracker=args.pop("tracker", None) or fake.conf(), state=state,
                  title="API down", severity="P0", backoff=0.05)
    params.update(args)
    return run_module("incident_ticket", params, check=check)


@pytest.mark.parametrize("kind,extra", [("jira", {}), ("jira", {"api_version": "3"}), ("servicenow", {}), ("github", {}), ("gitlab", {})],
                         ids=["jira-v2", "jira-v3", "servicenow", "github", "gitlab"])
def test_ticket_lifecycle_on_every_tracker(root, kind, extra):
    fake = FakeTracker(kind)
    try:
        conf = fake.conf(**extra)
        steps = [("open", {"text": "The api answers 502"}), ("comment", {"text": "Mitigated: api restarted"}),
                 ("resolved", {"text": "Resolved: restarted", "report_url": "https://wiki.example/INC"}),
                 ("followups", {"followups": [{"title": "Post-mortem meeting", "key": "post-mortem"}]})]
        for state, args in steps:
            res = ticket(fake, root, state, tracker=conf, **args)
            assert res["ok"] and res["changed"], (state, res)
        [incident] = fake.tickets(followups=False)
        assert incident["summary"] == INCIDENT + ": API down"
        description = json.dumps(incident["description"])
        assert "The api answers 502" in description and "declared P0: api down" in description  # the timeline so far
        assert any("Mitigated: api restarted" in c for c in incident["comments"])
        assert incident["state"] in ("Done", "6", "closed")
        closing = incident["close_notes"] if kind == "servicenow" else incident["comments"][-1]
        assert "Resolved: restarted" in closing and "https://wiki.example/INC" in closing and "DECLARED" in closing
        if kind in ("jira", "servicenow"):
            assert [a["filename"] for a in incident["attachments"]] == ["report.md"]
            assert "The api was restarted." in incident["attachments"][0]["content"]
        elif kind == "gitlab":
            assert "/uploads/abc123/report.md" in closing and fake.uploads[0]["filename"] == "report.md"
        else:
            assert "The api was restarted." in closing  # GitHub has no upload API: the report is in the closing comment
        titles = sorted(i["summary"] for i in fake.tickets(followups=True))
        assert titles == ["Move the API behind two replicas", "Page on a missing api process - sre - 2026-12-07", "Post-mortem meeting"]
        # A re-run of every step sends nothing new.
        before = len(fake.requests)
        for state, args in steps:
            res = ticket(fake, root, state, tracker=conf, **args)
            assert res["ok"] and not res["changed"] and res["calls"] == [], (state, res)
        assert len(fake.requests) == before
        assert len(res["followups"]) == 3 and not any(f["created"] for f in res["followups"])
        record = json.load(open(os.path.join(root, INCIDENT, "tickets.json")))
        secret = conf.get("token") or conf.get("password")
        assert secret not in json.dumps(record) and secret not in json.dumps(res)
        assert record["tickets"][kind]["ref"]["key"] == incident["key"]
    finally:
        fake.close()


def test_ticket_check_mode_sends_and_writes_nothing(root):
    fake = FakeTracker("github")
    try:
        res = ticket(fake, root, "open", check=True)
        assert res["ok"] and res["planned"] == ["open a github ticket: %s: API down" % INCIDENT]
        res = ticket(fake, root, "followups", check=True)
        assert len([p for p in res["planned"] if p.startswith("create the follow-up")]) == 2
        assert fake.requests == [] and not os.path.exists(os.path.join(root, INCIDENT, "tickets.json"))
    finally:
        fake.close()


def test_ticket_429_then_success_honours_retry_after(root):
    fake = FakeTracker("gitlab")
    try:
        fake.fail = [(429, {"Retry-After": "1"}), (503, {})]
        started = time.monotonic()
        res = ticket(fake, root, "open")
        elapsed = time.monotonic() - started
        assert res["ok"] and res["action"] == "opened", res
        assert res["calls"] == [{"method": "POST", "path": "/api/v4/projects/acme%2Fops/issues", "status": 201, "attempts": 3}]
        assert elapsed >= 1.0, "Retry-After: 1 was not waited for (%.2fs)" % elapsed
        assert len(fake.tickets()) == 1
        # Retry-After is bounded by max_backoff: a server asking for two minutes does not stall the response.
        fake.fail = [(429, {"Retry-After": "120"})] * 3
        started = time.monotonic()
        res = ticket(fake, root, "comment", text="still investigating", max_backoff=0.5, retries=2)
        assert time.monotonic() - started < 10
        assert not res["ok"] and not res.get("failed") and "HTTP 429 after 3 attempt(s)" in res["error"], res
        assert "not updated - the response carries on" in json.dumps(res["warnings"])
    finally:
        fake.close()


def test_ticket_auth_and_validation_errors_are_reported_not_raised(root):
    fake = FakeTracker("jira")
    try:
        res = ticket(fake, root, "open", tracker=fake.conf(token="wrong-token-9999"))
        assert not res["ok"] and "HTTP 401" in res["error"] and "wrong-token-9999" not in json.dumps(res)
        res = ticket(fake, root, "open", tracker=fake.conf(project="NOPE"), fail_on_error=True)
        assert res["failed"] and "HTTP 400" in res["msg"] and "valid project is required" in res["msg"]
        res = ticket(fake, root, "open", tracker={"type": "servicenow", "url": fake.url, "user": "x"})
        assert not res["ok"] and "tracker.password is required" in res["error"]
        assert fake.tickets() == []
        # A Data Center personal access token (Bearer) is the other documented form.
        res = ticket(fake, root, "open", tracker=fake.conf(user=None, token="jira-pat-5678"))
        assert res["ok"] and fake.requests[-1]["auth"] == "Bearer"
    finally:
        fake.close()


def test_ticket_unreachable_tracker_is_skipped_then_tried_again(root):
    fake = FakeTracker("github")
    conf = fake.conf()
    fake.close()
    started = time.monotonic()
    res = ticket(fake, root, "open", tracker=conf)
    assert not res["ok"] and "connection refused" in res["error"] and res["calls"][0]["attempts"] == 3
    res = ticket(fake, root, "comment", tracker=conf, text="mitigated")
    assert not res["ok"] and "not tried again for 60 s" in res["error"] and res["calls"] == []
    assert time.monotonic() - started < 10
    res = ticket(fake, root, "comment", tracker=conf, text="mitigated", skip_unreachable_for=0)
    assert not res["ok"] and res["calls"][0]["attempts"] == 3
