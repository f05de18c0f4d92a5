# -*- coding: utf-8 -*-
# Copyright (c) 2026 incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The incident report as a standalone HTML page, for people who do not read Markdown.

A small converter of the constructs the report documents use - headings, paragraphs, bullet,
numbered and task lists, block quotes, pipe tables, ``**bold**``, ``_emphasis_``, `` `code` `` and
images - not a general Markdown implementation. Every piece of text is HTML-escaped; raw HTML in the
source is shown as text and HTML comments are dropped. An image whose source is in ``inline`` (for
example ``timeline.svg``) is replaced by that markup, which the caller generated. The page has no
script and a Content-Security-Policy that allows none.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from html import escape

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_SAFE_SRC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*(.+?)\*\*")
_EM = re.compile(r"(?<![\w*])_(?=\S)(.+?)(?<=\S)_(?!\w)")
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_ORDERED = re.compile(r"\d+\.\s+(.*)")
_TABLE_RULE = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")
_COMMENT = re.compile(r"<!--.*?-->")

STYLE = """
body { font-family: DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif; color: #0f172a; background: #ffffff;
       max-width: 1000px; margin: 24px auto; padding: 0 16px; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 1px solid #cbd5e1; padding-bottom: 4px; }
h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #e2e8f0; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #cbd5e1; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f1f5f9; }
td:first-child { white-space: nowrap; }
code { background: #f1f5f9; padding: 0 3px; border-radius: 3px; }
blockquote { border-left: 4px solid #f59e0b; margin: 8px 0; padding: 2px 12px; background: #fffbeb; }
figure { margin: 12px 0; overflow-x: auto; }
"""


def _inline(text, inline=None):
    """One line of Markdown text to HTML: escaped, with code spans, bold, emphasis and images."""
    out = []
    for index, part in enumerate(_CODE.split(text)):
        if index % 2:
            out.append("<code>%s</code>" % escape(part))
            continue
        pieces, last = [], 0
        for match in _IMAGE.finditer(part):
            pieces.append(_emphasis(escape(part[last:match.start()])))
            pieces.append(_image(match.group(1), match.group(2), inline))
            last = match.end()
        pieces.append(_emphasis(escape(part[last:])))
        out.append("".join(pieces))
    return "".join(out)


def _emphasis(html):
    return _EM.sub(r"<em>\1</em>", _STRONG.sub(r"<strong>\1</strong>", html))


def _image(alt, src, inline):
    if inline and src in inline:
        return '<figure aria-label="%s">%s</figure>' % (escape(alt), inline[src])
    if _SAFE_SRC.fullmatch(src) and ".." not in src.split("/"):
        return '<img src="%s" alt="%s">' % (escape(src), escape(alt))
    return escape("![%s](%s)" % (alt, src))


def _cells(line):
    body = line.strip()
    if body.startswith("|"):
        body = body[1:]
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def markdown_to_html(text, inline=None):
    """The HTML body for ``text``; ``inline`` maps an image source to markup put in its place."""
    text = _COMMENT.sub("", text)
    lines = text.split("\n")
    out, para, index = [], [], 0

    def flush():
        if para:
            out.append("<p>%s</p>" % " ".join(_inline(p, inline) for p in para))
            del para[:]

    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        heading = _HEADING.match(stripped)
        if not stripped:
            flush()
        elif heading:
            flush()
            level = len(heading.group(1))
            out.append("<h%d>%s</h%d>" % (level, _inline(heading.group(2), inline), level))
        elif stripped.startswith("|") and index + 1 < len(lines) and _TABLE_RULE.fullmatch(lines[index + 1].strip()):
            flush()
            head = "".join("<th>%s</th>" % _inline(c, inline) for c in _cells(stripped))
            rows, index = [], index + 2
            while index < len(lines) and lines[index].strip().startswith("|"):
                rows.append("<tr>%s</tr>" % "".join("<td>%s</td>" % _inline(c, inline) for c in _cells(lines[index])))
                index += 1
            out.append("<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, "".join(rows)))
            continue
        elif stripped.startswith(("- ", "* ")) or _ORDERED.match(stripped):
            flush()
            tag = "ol" if _ORDERED.match(stripped) else "ul"
            items = []
            while index < len(lines):
                item = lines[index].strip()
                ordered = _ORDERED.match(item)
                if tag == "ul" and item.startswith(("- ", "* ")):
                    items.append(_list_item(item[2:], inline))
                elif tag == "ol" and ordered:
                    items.append(_list_item(ordered.group(1), inline))
                else:
                    break
                index += 1
            out.append("<%s>%s</%s>" % (tag, "".join(items), tag))
            continue
        elif stripped.startswith(">"):
            flush()
            quoted = []
            while index < len(lines) and lines[index].strip().startswith(">"):
                quoted.append(lines[index].strip()[1:].strip())
                index += 1
            out.append("<blockquote><p>%s</p></blockquote>" % " ".join(_inline(q, inline) for q in quoted))
            continue
        else:
            para.append(stripped)
        index += 1
    flush()
    return "\n".join(out) + "\n"


def _list_item(text, inline):
    for box, mark in (("[ ] ", u"\u2610 "), ("[x] ", u"\u2611 "), ("[X] ", u"\u2611 ")):
        if text.startswith(box):
            return "<li>%s%s</li>" % (mark, _inline(text[len(box):], inline))
    return "<li>%s</li>" % _inline(text, inline)


def html_document(title, body):
    """A complete page around ``body``: UTF-8, no script allowed, styles inline."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>%s</title>" % escape(title),
        "<style>%s</style>" % STYLE,
        "</head>",
        "<body>",
        body.rstrip("\n"),
        "</body>",
        "</html>",
        "",
    ])
