"""report.html: the report's own Markdown constructs as HTML, everything escaped, nothing executable."""
from html.parser import HTMLParser

from ansible_collections.incident.response.plugins.module_utils.report_html import html_document, markdown_to_html

ALLOWED = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "ol", "li", "table", "thead",
           "tbody", "tr", "th", "td", "strong", "em", "code", "blockquote", "figure", "img", "svg", "rect", "text"}


class Tags(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self)
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _value in attrs]


def tags_of(html):
    parser = Tags()
    parser.feed(html)
    return parser


REPORT = """# Incident Report: INC-2026-11-23-001

**API <down> & "out"**

## Summary
- **Status**: resolved
- **Impact**: <img src=x onerror=alert(1)>
<!-- generated:summary (a marker) -->

## Timeline
![Timeline of INC-2026-11-23-001](timeline.svg)

| Time (UTC) | Event | Status |
|---|---|---|
| 2026-11-23 10:05:00 | **DETECTED** pipe \\| inside `<code> & **not bold**` | ok |
| 2026-11-23 10:06:00 | <script>alert(1)</script> | failed |

1. What went well? > FILL IN (ic): ...
- [ ] > FILL IN (ic): action

> FILL IN (incident-commander): to be determined
a _plain_ word, snake_case_name stays

![x](javascript:alert(1)) ![y](../../etc/passwd) ![z](evidence/shot.png)
"""


def test_constructs_become_html():
    body = markdown_to_html(REPORT, {"timeline.svg": '<svg width="10" height="10"><rect width="5" height="5"/></svg>'})
    assert "<h1>Incident Report: INC-2026-11-23-001</h1>" in body
    assert "<p><strong>API &lt;down&gt; &amp; &quot;out&quot;</strong></p>" in body
    assert "<li><strong>Status</strong>: resolved</li>" in body
    assert '<figure aria-label="Timeline of INC-2026-11-23-001"><svg width="10"' in body
    assert "<th>Time (UTC)</th><th>Event</th><th>Status</th>" in body
    assert "<td><strong>DETECTED</strong> pipe | inside <code>&lt;code&gt; &amp; **not bold**</code></td>" in body
    assert "<ol><li>What went well? &gt; FILL IN (ic): ...</li></ol>" in body
    assert u"<li>\u2610 &gt; FILL IN (ic): action</li>" in body
    assert "<blockquote><p>FILL IN (incident-commander): to be determined</p></blockquote>" in body
    assert "a <em>plain</em> word, snake_case_name stays" in body
    assert '<img src="evidence/shot.png" alt="z">' in body
    assert "generated:summary" not in body


def test_nothing_executable_gets_through():
    page = html_document('Report <script>x</script>', markdown_to_html(REPORT))
    parsed = tags_of(page)
    assert set(parsed.tags) <= ALLOWED, set(parsed.tags) - ALLOWED
    assert not [a for a in parsed.attrs if a.startswith("on")]
    assert "<script" not in page and "javascript:" not in page.replace("![x](javascript:alert(1))", "")
    assert '<img src="../' not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "default-src 'none'" in page and "<title>Report &lt;script&gt;x&lt;/script&gt;</title>" in page
