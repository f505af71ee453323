"""Markdown to safe HTML for strategy documents, rule descriptions and comments.

Documents and telemetry are untrusted: raw HTML in the markdown is not passed
through (markdown-it's `html` option is off), and the produced HTML is cleaned
again with nh3 (an allow-list sanitizer) so links cannot carry `javascript:`
and no attribute can carry script. Not for plain-text fields: those are
escaped by the template engine as usual.
"""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

_ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "del",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
# Bound the work a single hostile document can cause.
MAX_MARKDOWN_CHARS = 200_000


def render_markdown(text: str) -> SafeString:
    html = _MARKDOWN.render((text or "")[:MAX_MARKDOWN_CHARS])
    cleaned = nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 just above
