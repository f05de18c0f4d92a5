"""The report's timeline picture in a real browser: p0-outage heals a killed api on the lab, then headless
Chromium renders report.html. The drawing is found as the pixels that differ from the same page with an
empty <svg> of the same size: it must be the SVG's size, hold a fair share of drawn pixels, and show each
bar and milestone in its colour where the timeline's times put it. The times in the SVG are the
timeline's own."""
import glob
import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

from ansible_collections.incident.response.plugins.module_utils.incident import parse_iso, read_events
from ansible_collections.incident.response.plugins.module_utils.timeline_svg import COLORS
from tests.ansible import run_playbook
from tests.integration.test_p0_playbook import restore_lab

NS = {"s": "http://www.w3.org/2000/svg"}
WINDOW = (1100, 1500)


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise AssertionError("no chromium: scripts/install-host-deps.sh installs Debian's chromium")


def screenshot(html_path, png_path, profile):
    res = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                          "--force-device-scale-factor=1", "--user-data-dir=" + profile,
                          "--window-size=%d,%d" % WINDOW, "--screenshot=" + png_path, "file://" + html_path],
                         capture_output=True, text=True, timeout=90, check=False)
    assert res.returncode == 0 and os.path.getsize(png_path) > 1000, res.stderr[-2000:]
    return decode_png(png_path)


def decode_png(path):
    """(width, height, bytes per pixel, rows of bytes) of an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes)."""
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", data[pos + 8:pos + 8 + length])
        elif kind == b"IDAT":
            idat.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    width, height, depth, color, _compression, _filter, interlace = header
    assert depth == 8 and interlace == 0 and color in (2, 6), header
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + (((line[i - bpp] if i >= bpp else 0) + prev[i]) >> 1)) & 255
        elif kind == 4:
            for i in range(stride):
                a, b, c = (line[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def rgb(color):
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def near(pixel, color, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb(color)))


def test_report_timeline_renders_in_chromium_with_the_timeline_times(healthy_lab, tmp_path):
    env = {"INCIDENT_ROOT": str(tmp_path / "incidents"), "INCIDENT_STATE_DIR": str(tmp_path / "state")}
    healthy_lab.faults("inject", "api-kill")
    try:
        # A quick restart that does not heal within the bound (0 s): the picture has the maintenance page
        # (containment), the restart, the recreate and the paperwork.
        res = run_playbook("playbooks/p0-outage.yml", extra_vars={"p0_outage_maintenance_after_s": 0}, env=env, timeout=180)
        assert res.returncode == 0, res.stdout[-5000:] + res.stderr[-2000:]
    finally:
        restore_lab()
    [directory] = [d for d in glob.glob(str(tmp_path / "incidents" / "INC-*")) if os.path.exists(os.path.join(d, "report.html"))]
    events = read_events(os.path.join(directory, "timeline.jsonl"))
    page = open(os.path.join(directory, "report.html")).read()
    svg_text = open(os.path.join(directory, "timeline.svg")).read()
    assert svg_text.strip() in page, "report.html does not inline timeline.svg"
    assert "![Timeline of %s](timeline.svg)" % os.path.basename(directory) in open(os.path.join(directory, "report.md")).read()
    svg = ET.fromstring(svg_text)

    # The times: every milestone the response recorded and every action it took, at the timeline's times.
    wanted = [(e["event"], e["at"]) for e in events if e.get("type") == "milestone" and e["event"] != "note"]
    drawn = [(g.get("data-event"), g.get("data-at")) for g in svg.iterfind("s:g[@class='milestone']", NS)]
    assert [d for d in drawn if d[0] != "contained"] == wanted and {"detected", "declared", "mitigated", "resolved"} <= set(dict(wanted))
    switch_on = [e for e in events if e.get("type") == "task" and e.get("task") == "Switch the maintenance page on"]
    assert ("contained", switch_on[0]["end"]) in drawn
    for group in svg.iterfind("s:g[@class='milestone']", NS):
        clock = parse_iso(group.get("data-at")).strftime("%H:%M:%S")
        assert "".join(group.find("s:text", NS).itertext()).startswith(clock + " " + group.get("data-event").capitalize())
    restart = [e for e in events if e.get("type") == "task" and e.get("action") == "incident.response.service_restart"
               and e.get("status") == "changed"]
    bars = {(b.get("data-module"), b.get("data-start"), b.get("data-end")): b for b in svg.iterfind("s:g[@class='action']", NS)}
    assert restart and ("service_restart", restart[0]["start"], restart[0]["end"]) in bars
    changes = [e for e in events if e.get("type") == "task" and e.get("status") == "changed" and e.get("role") in ("contain", "communicate")]
    assert len(bars) >= 1 + len(changes) >= 5, sorted(bars)
    t0, x0, scale = parse_iso(svg.get("data-t0")), float(svg.get("data-x0")), float(svg.get("data-px-per-s"))

    def x_at(stamp):
        return x0 + (parse_iso(stamp) - t0).total_seconds() * scale

    for (_module, start, end), action in bars.items():
        rect = action.find("s:rect", NS)
        assert abs(float(rect.get("x")) - x_at(start)) < 0.05 and abs(float(rect.get("x")) + float(rect.get("width")) - x_at(end)) < 0.05

    # The picture in Chromium: the same page with an empty <svg> of the same size is the background.
    blank = re.sub(r"(<svg\b[^>]*>).*?</svg>", r"\1</svg>", page, count=1, flags=re.S)
    with open(os.path.join(directory, "blank.html"), "w") as fh:
        fh.write(blank)
    width, height, bpp, shot = screenshot(os.path.join(directory, "report.html"), str(tmp_path / "report.png"), str(tmp_path / "p1"))
    _w, _h, _bpp, empty = screenshot(os.path.join(directory, "blank.html"), str(tmp_path / "blank.png"), str(tmp_path / "p2"))
    diff = [(x, y) for y in range(height) if shot[y] != empty[y]
            for x in range(width) if shot[y][x * bpp:x * bpp + 3] != empty[y][x * bpp:x * bpp + 3]]
    assert diff, "the SVG drew nothing"
    left, top = min(x for x, _y in diff), min(y for _x, y in diff)
    box_w, box_h = max(x for x, _y in diff) - left + 1, max(y for _x, y in diff) - top + 1
    svg_w, svg_h = int(svg.get("width")), int(svg.get("height"))
    assert abs(box_w - svg_w) <= 1 and abs(box_h - svg_h) <= 1, ((box_w, box_h), (svg_w, svg_h), WINDOW)
    assert len(diff) > 0.08 * svg_w * svg_h, "only %d drawn pixels in %dx%d" % (len(diff), svg_w, svg_h)

    def pixel(x, y):
        column = (left + int(round(x))) * bpp
        return tuple(shot[top + int(round(y))][column:column + 3])

    for action in svg.iterfind("s:g[@class='action']", NS):
        rect = action.find("s:rect", NS)
        if action.get("data-status") == "changed" and float(rect.get("width")) >= 4:
            x, y = float(rect.get("x")) + float(rect.get("width")) / 2, float(rect.get("y")) + float(rect.get("height")) / 2
            assert near(pixel(x, y), COLORS["changed"]), (action.get("data-module"), pixel(x, y))
    for group in svg.iterfind("s:g[@class='milestone']", NS):
        x = x_at(group.get("data-at"))
        y = float(group.find("s:path", NS).get("d").split()[1]) + 6    # the diamond's centre
        assert near(pixel(x, y), COLORS[group.get("data-event")]), (group.get("data-event"), pixel(x, y))
    impact = svg.find("s:g[@class='impact']/s:rect", NS)
    band_x = float(impact.get("x")) + 2
    assert not near(pixel(band_x, float(impact.get("y")) + 2), "#ffffff", 3), "customer impact not shaded"
