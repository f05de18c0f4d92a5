"""The timeline picture: well-formed SVG, every drawn time where timeline.jsonl says, customer impact as
compute_metrics counts it, only the acting modules' changes and failures as bars, hostile text escaped
and secrets masked; incident_report writes it next to the report and shows it in both documents."""
import glob
import json
import os
import re
import xml.etree.ElementTree as ET

from ansible_collections.incident.response.plugins.module_utils import timeline_svg
from ansible_collections.incident.response.plugins.module_utils.incident import parse_iso
from tests.ansible import REPO, run_module

NS = {"s": "http://www.w3.org/2000/svg"}
INC = "INC-2026-11-23-042"


def task(start, end, name, action, status="changed", role=None, **extra):
    event = {"type": "task", "start": start, "end": end, "task": name, "host": "lab", "role": role,
             "action": action, "status": status,
             "duration_s": (parse_iso(end) - parse_iso(start)).total_seconds()}
    event.update(extra)
    return event


def milestone(at, event, message, **extra):
    return dict({"type": "milestone", "event": event, "at": at, "message": message}, **extra)


EVENTS = [
    {"ts": "2026-11-23T10:04:00.000Z", "type": "run_start", "playbook": "p0-outage.yml"},
    milestone("2026-11-23T10:05:00.000Z", "detected", "Alert TaskSchedulerAPIDown", severity="P0",
              impact_started_at="2026-11-23T10:02:00.000Z"),
    milestone("2026-11-23T10:06:00.000Z", "declared", "API down", severity="P0"),
    task("2026-11-23T10:06:10.000Z", "2026-11-23T10:06:40.500Z", "Switch the maintenance page on",
         "incident.response.maintenance_mode", role="contain"),
    task("2026-11-23T10:07:00.000Z", "2026-11-23T10:07:01.000Z", "Check health", "incident.response.http_check", "ok"),
    task("2026-11-23T10:08:00.000Z", "2026-11-23T10:09:00.000Z", "Restart the API", "incident.response.service_restart"),
    task("2026-11-23T10:09:30.000Z", "2026-11-23T10:09:31.000Z", "Clear cache", "ansible.builtin.uri", "rescued"),
    task("2026-11-23T10:10:00.000Z", "2026-11-23T10:10:05.000Z", "Roll back", "incident.response.service_rollback",
         "failed", failed=True),
    milestone("2026-11-23T10:10:30.000Z", "note", "a note is not drawn"),
    milestone("2026-11-23T10:15:00.000Z", "mitigated", "Service restored"),
    milestone("2026-11-23T10:20:00.000Z", "resolved", "Verified"),
]


def parse(svg):
    return ET.fromstring(svg)


def x_of(root, stamp):
    t0 = parse_iso(root.get("data-t0"))
    return float(root.get("data-x0")) + (parse_iso(stamp) - t0).total_seconds() * float(root.get("data-px-per-s"))


def test_action_modules_are_the_modules_that_act():
    """ACTION_MODULES = the modules documented as acting (attributes or .diff fragment), but the record's own."""
    acting = set()
    for path in glob.glob(os.path.join(REPO, "plugins", "modules", "*.py")):
        text = open(path).read()
        if re.search(r"- incident\.response\.attributes(\.diff)?\s*$", text, re.M):
            acting.add(os.path.basename(path)[:-3])
    acting -= {"incident_event", "incident_report"}
    assert set(timeline_svg.ACTION_MODULES) == acting


def test_every_drawn_time_is_the_timeline_time():
    root = parse(timeline_svg.render_svg(INC, EVENTS))
    drawn = [(g.get("data-event"), g.get("data-at")) for g in root.iterfind("s:g[@class='milestone']", NS)]
    assert drawn == [("detected", "2026-11-23T10:05:00.000Z"), ("declared", "2026-11-23T10:06:00.000Z"),
                     ("contained", "2026-11-23T10:06:40.500Z"), ("mitigated", "2026-11-23T10:15:00.000Z"),
                     ("resolved", "2026-11-23T10:20:00.000Z")]
    for group in root.iterfind("s:g[@class='milestone']", NS):
        marker = group.find("s:path", NS)
        assert abs(float(marker.get("d").split()[0][1:]) - x_of(root, group.get("data-at"))) < 0.02
    bars = root.findall("s:g[@class='action']", NS)
    assert [(b.get("data-module"), b.get("data-status"), b.get("data-start"), b.get("data-end")) for b in bars] == [
        ("maintenance_mode", "changed", "2026-11-23T10:06:10.000Z", "2026-11-23T10:06:40.500Z"),
        ("service_restart", "changed", "2026-11-23T10:08:00.000Z", "2026-11-23T10:09:00.000Z"),
        ("service_rollback", "failed", "2026-11-23T10:10:00.000Z", "2026-11-23T10:10:05.000Z")]
    for action in bars:
        rect = action.find("s:rect", NS)
        left, width = float(rect.get("x")), float(rect.get("width"))
        assert abs(left - x_of(root, action.get("data-start"))) < 0.02
        assert abs(left + width - x_of(root, action.get("data-end"))) < 0.05
    failed = bars[2]
    assert failed.find("s:rect", NS).get("fill") == timeline_svg.COLORS["failed"]
    assert "(failed)" in failed.find("s:text", NS).text and failed.findall("s:text", NS)[1].text == "5.0s"
    # customer impact: impact start (on the detected milestone) to mitigated, 13 minutes
    impact = root.find("s:g[@class='impact']", NS)
    assert (impact.get("data-start"), impact.get("data-end")) == ("2026-11-23T10:02:00.000Z", "2026-11-23T10:15:00.000Z")
    band = impact.find("s:rect", NS)
    assert abs(float(band.get("x")) - x_of(root, "2026-11-23T10:02:00.000Z")) < 0.02
    assert abs(float(band.get("x")) + float(band.get("width")) - x_of(root, "2026-11-23T10:15:00.000Z")) < 0.05
    assert "Customer impact 13m 00s" in impact.find("s:text", NS).text
    # the axis covers the drawing, ticks every 2 minutes over 18 minutes
    ticks = [t.text for t in root.iterfind("s:g[@class='axis']/s:text", NS)]
    assert ticks[:3] == ["+0s", "+2m", "+4m"] and ticks[-1].startswith("UTC; +0s = 2026-11-23 10:02:00.000")


def test_impact_not_restored_runs_to_the_edge_and_check_mode_is_dashed():
    events = [milestone("2026-11-23T10:05:00.000Z", "detected", "x"),
              task("2026-11-23T10:05:10.000Z", "2026-11-23T10:05:12.000Z", "Restart", "incident.response.service_restart",
                   check_mode=True),
              milestone("2026-11-23T10:06:00.000Z", "escalated", "a human must take over")]
    root = parse(timeline_svg.render_svg(INC, events))
    impact = root.find("s:g[@class='impact']", NS)
    band = impact.find("s:rect", NS)
    assert impact.get("data-end") == "" and "not restored" in impact.find("s:text", NS).text
    assert abs(float(band.get("x")) + float(band.get("width")) - (timeline_svg.WIDTH - timeline_svg.RIGHT)) < 0.05
    action = root.find("s:g[@class='action']/s:rect", NS)
    assert action.get("fill") == "none" and action.get("stroke-dasharray")
    assert [g.get("data-event") for g in root.iterfind("s:g[@class='milestone']", NS)] == ["detected", "escalated"]


def test_hostile_text_is_escaped_and_secrets_masked():
    events = [milestone("2026-11-23T10:05:00.000Z", "declared", 'down </text><script>alert(1)</script> & "x" \x01 '
                        "postgres://app:hunter2@db/x password=swordfish"),
              task("2026-11-23T10:05:10.000Z", "2026-11-23T10:05:12.000Z", "<svg onload=alert(1)> Bearer abcdefgh1234",
                   "incident.response.notify")]
    svg = timeline_svg.render_svg("INC-2026-11-23-001", events, title="<b>title</b>")
    root = parse(svg)  # well-formed despite the control character and the markup
    assert "<script" not in svg and "<svg onload" not in svg and "<b>" not in svg
    assert "hunter2" not in svg and "swordfish" not in svg and "abcdefgh1234" not in svg
    assert "********" in svg
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] in ("script", "foreignObject", "a", "image")]
    assert not [k for e in root.iter() for k in e.attrib if k.lower().startswith("on") or "href" in k.lower()]


def test_no_events_and_many_actions():
    root = parse(timeline_svg.render_svg(INC, []))
    assert root.get("data-t0") == "" and "No timed events" in "".join(root.itertext())
    many = [task("2026-11-23T%02d:%02d:00.000Z" % (10 + i // 60, i % 60), "2026-11-23T%02d:%02d:30.000Z" % (10 + i // 60, i % 60),
                 "Send %d" % i, "incident.response.notify") for i in range(70)]
    root = parse(timeline_svg.render_svg(INC, many))
    assert len(root.findall("s:g[@class='action']", NS)) == timeline_svg.MAX_ACTIONS
    assert "+ 10 more actions" in "".join(root.itertext())


def test_long_incident_ticks_in_hours():
    events = [milestone("2026-11-23T10:00:00.000Z", "detected", "x"), milestone("2026-11-23T15:30:00.000Z", "resolved", "y")]
    ticks = [t.text for t in parse(timeline_svg.render_svg(INC, events)).iterfind("s:g[@class='axis']/s:text", NS)]
    assert ticks[:3] == ["+0s", "+1h", "+2h"], ticks


def test_incident_report_writes_the_picture_and_shows_it(tmp_path):
    directory = tmp_path / INC
    directory.mkdir()
    with open(directory / "timeline.jsonl", "w") as fh:
        for event in EVENTS:
            fh.write(json.dumps(event) + "\n")
    res = run_module("incident_report", dict(incident_id=INC, root=str(tmp_path)))
    assert res["changed"] and res["files"]["svg"] == str(directory / "timeline.svg")
    svg = (directory / "timeline.svg").read_text()
    assert svg == timeline_svg.render_svg(INC, EVENTS, title="API down")
    image = "![Timeline of %s](timeline.svg)" % INC
    assert image in (directory / "report.md").read_text()
    review = (directory / "post-incident-review.md").read_text()
    assert review.index("<!-- generated:timeline") < review.index(image) < review.index("<!-- /generated:timeline")
    page = (directory / "report.html").read_text()
    assert page.count("<svg ") == 1 and 'data-at="2026-11-23T10:15:00.000Z"' in page and "<script" not in page
    assert "<h2>Response metrics</h2>" in page and "<td>Time to mitigate (MTTM)</td>" in page
    assert not run_module("incident_report", dict(incident_id=INC, root=str(tmp_path)))["changed"]
