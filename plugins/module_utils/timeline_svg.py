# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident on one time axis, as a self-contained SVG (no script, no external reference).

One row per milestone (detected, declared, acknowledged, contained, escalated, mitigated, resolved)
and per action (a task of an acting module that changed or failed something: a bar from its start to
its end), in time order; customer impact shaded from its start to mitigation (else resolution), as
compute_metrics counts it. Every element carries its times as data attributes (``data-at``,
``data-start``, ``data-end``, ISO 8601 UTC) and the root the scale (``data-t0``, ``data-x0``,
``data-px-per-s``), so readers and tests can check the drawing against timeline.jsonl. All text is
redacted and XML-escaped; the result works as a file behind ``<img>`` and inline in HTML.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.incident.response.plugins.module_utils.incident import (
    compute_metrics, fmt_duration, iso, parse_iso)
from ansible_collections.incident.response.plugins.module_utils.redact import redact_text

# The modules that act on systems (documented with the incident.response.attributes or .diff fragment),
# without incident_event and incident_report, which write the record. A unit test keeps this in step with the docs.
ACTION_MODULES = (
    "alertmanager_silence", "container_exec", "evidence_capture", "feature_flag", "incident_ticket", "k8s_exec", "k8s_pod_delete",
    "k8s_rollback", "k8s_rollout_restart", "k8s_scale", "k8s_set_resources", "maintenance_mode", "notify", "postgres_guarded_update",
    "postgres_maintenance", "postgres_restore_drill", "postgres_sessions", "redis_maintenance", "service_restart",
    "service_rollback", "service_scale", "service_state",
)
ACTED = ("changed", "failed", "rescued", "unreachable", "ignored")
FAILED = ("failed", "rescued", "unreachable")
CONTAIN_ROLE = "contain"
DRAWN_MILESTONES = ("detected", "declared", "acknowledged", "escalated", "mitigated", "resolved")

WIDTH = 960
LEFT = 330          # label gutter; the plot starts here
RIGHT = 70          # room for the duration of a bar ending at the right edge
TOP = 58
ROW = 22
AXIS = 46
MAX_ACTIONS = 60
LABEL_CHARS = 46
FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"

COLORS = {
    "detected": "#d97706", "declared": "#dc2626", "acknowledged": "#7c3aed", "contained": "#0891b2",
    "escalated": "#991b1b", "mitigated": "#2563eb", "resolved": "#16a34a",
    "changed": "#3b82f6", "failed": "#dc2626", "ignored": "#f59e0b", "check": "#64748b",
    "impact": "#fca5a5", "axis": "#334155", "grid": "#cbd5e1", "text": "#0f172a", "muted": "#475569",
    "frame": "#cbd5e1",
}
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400, 172800, 604800)

_XML_INVALID = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value, limit=None):
    """Redacted, single-line, XML-escaped text (also safe in attribute values)."""
    text = " ".join(redact_text(str(value if value is not None else "")).split())
    text = _XML_INVALID.sub("", text)
    if limit and len(text) > limit:
        text = text[:limit - 1] + u"\u2026"
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def short_action(action):
    return str(action or "").rsplit(".", 1)[-1]


def action_events(events):
    """Tasks of the acting modules that changed or failed something, in start order."""
    found = []
    for event in events:
        if (event.get("type") == "task" and event.get("status") in ACTED
                and short_action(event.get("action")) in ACTION_MODULES
                and parse_iso(event.get("start")) and parse_iso(event.get("end"))):
            found.append(event)
    return sorted(found, key=lambda e: parse_iso(e["start"]))


def containment(events):
    """The end of the first real change made by the contain role (maintenance page, isolation, backup)."""
    for event in sorted((e for e in events if e.get("type") == "task" and e.get("role") == CONTAIN_ROLE
                         and e.get("status") == "changed" and not e.get("check_mode") and parse_iso(e.get("end"))),
                        key=lambda e: parse_iso(e["end"])):
        return event
    return None


def _rows(events):
    """(kind, time, item) in time order: milestones, containment and actions."""
    rows = []
    for event in events:
        if event.get("type") == "milestone" and event.get("event") in DRAWN_MILESTONES and parse_iso(event.get("at")):
            rows.append(("milestone", parse_iso(event["at"]), event))
    contained = containment(events)
    if contained:
        rows.append(("contained", parse_iso(contained["end"]), contained))
    actions = action_events(events)
    for event in actions[:MAX_ACTIONS]:
        rows.append(("action", parse_iso(event["start"]), event))
    rows.sort(key=lambda r: (r[1], 0 if r[0] != "action" else 1))
    return rows, max(0, len(actions) - MAX_ACTIONS)


def _step(span):
    for step in TICK_STEPS:
        if span / step <= 10:
            return step
    return TICK_STEPS[-1]


def _rel(seconds, step):
    if step < 1:
        return "+%.1fs" % seconds
    if seconds < 60 or step < 60 and seconds < 120:
        return "+%ds" % round(seconds)
    seconds = int(round(seconds))
    if seconds < 3600:
        return "+%dm%s" % (seconds // 60, (" %02ds" % (seconds % 60)) if seconds % 60 else "")
    hours, rest = divmod(seconds, 3600)
    if hours < 48:
        return "+%dh%s" % (hours, (" %02dm" % (rest // 60)) if rest // 60 else "")
    return "+%dd%s" % (hours // 24, (" %02dh" % (hours % 24)) if hours % 24 else "")


def _clock(dt):
    return dt.strftime("%H:%M:%S")


def render_svg(incident_id, events, impact_started_at=None, title=None):
    """The SVG document (text) of the incident's timeline."""
    metrics = compute_metrics(events, impact_started_at)
    marks = metrics["milestones"]
    rows, hidden = _rows(events)
    impact_start = parse_iso(metrics["impact_started_at"] or marks["detected"] or marks["declared"])
    impact_end = parse_iso(marks["mitigated"] or marks["resolved"])
    times = [r[1] for r in rows] + [parse_iso(r[2]["end"]) for r in rows if r[0] == "action"]
    times += [t for t in (impact_start, impact_end) if t]
    if not times:
        stamps = [parse_iso(e.get("at") or e.get("start") or e.get("ts")) for e in events]
        times = [t for t in stamps if t]
    start = min(times) if times else None
    end = max(times) if times else None
    span = max((end - start).total_seconds(), 1.0) if start else 1.0
    pad = span * 0.03
    plot_w = WIDTH - LEFT - RIGHT
    scale = plot_w / (span + 2 * pad)
    origin = start and start - datetime.timedelta(seconds=pad)
    if origin:  # whole milliseconds, so data-t0 (ISO, ms) is the exact origin
        origin = origin.replace(microsecond=origin.microsecond // 1000 * 1000)

    def x(dt):
        return round(LEFT + (dt - origin).total_seconds() * scale, 2)

    height = TOP + max(len(rows), 1) * ROW + (ROW if hidden else 0) + AXIS
    plot_bottom = height - AXIS
    heading = xml_text("Timeline of %s%s" % (incident_id, (": " + title) if title else ""), 96)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" '
        'aria-labelledby="timeline-title" font-family="%s" font-size="12" data-incident="%s" data-t0="%s" '
        'data-x0="%d" data-px-per-s="%.6f">'
        % (WIDTH, height, WIDTH, height, FONT, xml_text(incident_id), iso(origin) if start else "", LEFT, scale),
        '<title id="timeline-title">%s</title>' % heading,
        '<rect class="frame" x="0.5" y="0.5" width="%d" height="%d" fill="#ffffff" stroke="%s"/>'
        % (WIDTH - 1, height - 1, COLORS["frame"]),
        '<text x="12" y="22" font-size="15" font-weight="bold" fill="%s">%s</text>' % (COLORS["text"], heading),
    ]
    if not start:
        out.append('<text x="12" y="%d" fill="%s">No timed events recorded.</text>' % (TOP + 14, COLORS["muted"]))
        out.append("</svg>")
        return "\n".join(out) + "\n"
    if impact_start:
        right = x(impact_end) if impact_end else LEFT + plot_w
        label = ("Customer impact %s" % fmt_duration(metrics["customer_impact_s"]) if impact_end
                 else "Customer impact (not restored)")
        out.append('<g class="impact" data-start="%s" data-end="%s">' % (iso(impact_start), iso(impact_end) if impact_end else ""))
        out.append('<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" fill-opacity="0.35"/>'
                   % (x(impact_start), TOP - 18, max(right - x(impact_start), 1.0), plot_bottom - TOP + 18, COLORS["impact"]))
        out.append('<text x="%.2f" y="%d" fill="#991b1b">%s</text>' % (x(impact_start) + 4, TOP - 5, xml_text(label)))
        out.append("</g>")
    # time axis with ticks relative to the first drawn moment
    step = _step(span + 2 * pad)
    out.append('<g class="axis" stroke="%s">' % COLORS["axis"])
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d"/>' % (LEFT, plot_bottom, LEFT + plot_w, plot_bottom))
    tick = 0.0
    while tick <= span + pad + 1e-9:
        tx = x(start + datetime.timedelta(seconds=tick))
        out.append('<line x1="%.2f" y1="%d" x2="%.2f" y2="%d" stroke="%s"/>' % (tx, TOP - 18, tx, plot_bottom, COLORS["grid"]))
        out.append('<line x1="%.2f" y1="%d" x2="%.2f" y2="%d"/>' % (tx, plot_bottom, tx, plot_bottom + 5))
        out.append('<text x="%.2f" y="%d" text-anchor="middle" stroke="none" fill="%s">%s</text>'
                   % (tx, plot_bottom + 18, COLORS["muted"], _rel(tick, step)))
        tick += step
    out.append('<text x="%d" y="%d" stroke="none" fill="%s">UTC; +0s = %s</text>'
               % (LEFT, plot_bottom + 36, COLORS["muted"], start.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (start.microsecond // 1000)))
    out.append("</g>")
    out.extend(_legend(plot_bottom + 36))
    for index, (kind, when, event) in enumerate(rows):
        out.extend(_row(kind, when, event, TOP + index * ROW, plot_bottom, x))
    if hidden:
        out.append('<text x="12" y="%d" fill="%s">+ %d more actions (see the timeline table)</text>'
                   % (TOP + len(rows) * ROW + 15, COLORS["muted"], hidden))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _legend(baseline):
    """Key of the colours, bottom right."""
    items = (("action", 'fill="%s"' % COLORS["changed"]), ("failed", 'fill="%s"' % COLORS["failed"]),
             ("check mode", 'fill="none" stroke="%s" stroke-dasharray="4 2"' % COLORS["check"]),
             ("customer impact", 'fill="%s" fill-opacity="0.35"' % COLORS["impact"]))
    out, left = ['<g class="legend">'], WIDTH - 12 - sum(26 + 7 * len(name) for name, _style in items)
    for name, style in items:
        out.append('<rect x="%d" y="%d" width="14" height="10" rx="2" %s/>' % (left, baseline - 9, style))
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (left + 18, baseline, COLORS["muted"], name))
        left += 26 + 7 * len(name)
    out.append("</g>")
    return out


def _row(kind, when, event, top, plot_bottom, x):
    mid = top + ROW // 2
    if kind == "action":
        end = parse_iso(event["end"])
        status = event.get("status")
        check = bool(event.get("check_mode"))
        color = COLORS["check"] if check else COLORS["failed"] if status in FAILED else COLORS.get(status, COLORS["changed"])
        left, right = x(when), x(end)
        width = max(right - left, 2.0)
        outcome = "" if status == "changed" else " (%s)" % status
        label = "%s %s%s%s" % (_clock(when), event.get("task") or short_action(event.get("action")),
                               outcome, " (check mode)" if check else "")
        duration = fmt_duration(event.get("duration_s") if event.get("duration_s") is not None
                                else (end - when).total_seconds())
        fill = ('fill="none" stroke="%s" stroke-dasharray="4 2"' % color) if check else 'fill="%s"' % color
        after = right + 4 if right + 60 < WIDTH else left - 4
        anchor = "start" if right + 60 < WIDTH else "end"
        return [
            '<g class="action" data-status="%s" data-start="%s" data-end="%s" data-module="%s">'
            % (xml_text(status), iso(when), iso(end), xml_text(short_action(event.get("action")))),
            "<title>%s</title>" % xml_text("%s [%s] on %s: %s, %s"
                                           % (event.get("task"), event.get("action"), event.get("host"), status, duration), 400),
            '<text x="12" y="%d" fill="%s">%s</text>' % (mid + 4, COLORS["text"], xml_text(label, LABEL_CHARS)),
            '<rect x="%.2f" y="%d" width="%.2f" height="%d" rx="2" %s/>' % (left, top + 4, width, ROW - 8, fill),
            '<text x="%.2f" y="%d" text-anchor="%s" fill="%s">%s</text>' % (after, mid + 4, anchor, COLORS["muted"], xml_text(duration)),
            "</g>",
        ]
    name = "contained" if kind == "contained" else event.get("event")
    color = COLORS.get(name, COLORS["text"])
    text = event.get("task") if kind == "contained" else event.get("message")
    cx = x(when)
    return [
        '<g class="milestone" data-event="%s" data-at="%s">' % (xml_text(name), iso(when)),
        "<title>%s</title>" % xml_text("%s at %s: %s" % (name, iso(when), text or ""), 400),
        '<text x="12" y="%d" fill="%s"><tspan font-weight="bold">%s</tspan> %s</text>'
        % (mid + 4, color, xml_text("%s %s" % (_clock(when), name.capitalize())),
           xml_text(text, max(LABEL_CHARS - 12 - len(name), 4))),
        '<line x1="%.2f" y1="%d" x2="%.2f" y2="%d" stroke="%s" stroke-dasharray="3 3"/>' % (cx, mid, cx, plot_bottom, color),
        '<path d="M%.2f %d l6 6 l-6 6 l-6 -6 z" fill="%s"/>' % (cx, mid - 6, color),
        "</g>",
    ]
