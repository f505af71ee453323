"""Which URLs taken from documents, rules and telemetry may become a link: http(s) and relative ones.

A strategy's resources, an ATT&CK technique's page, anything read from an imported file ends up
in an `href`; a `javascript:`, `data:` or `vbscript:` URL there runs script in the portal's
origin when an analyst clicks it. One pure check (no Django) is used when a link is stored (the
ADS parser, the models' `clean()`) and again when it is served (the `safe_url` template filter),
so rows stored before the check are served inert too. Not for markdown: nh3 filters the links
of rendered markdown with the same schemes (see `detections.rendering`).
"""

from __future__ import annotations

import html
import re

SAFE_SCHEMES = frozenset({"http", "https"})

# What a browser ignores before it reads the scheme (WHATWG URL parsing strips leading and
# trailing C0 controls and spaces and removes tabs and newlines anywhere), plus the other ASCII
# controls and Unicode format characters, so `java\tscript:` or `\x01javascript:` is read as
# the `javascript:` it becomes.
_IGNORED_RE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
# Entities are decoded by whatever renders the URL next (the browser, markdown); `&amp;#x09;`
# needs two rounds. A handful is more than any honest URL needs.
_MAX_UNESCAPE_ROUNDS = 4


def url_scheme(url: str) -> str:
    """The scheme a browser would read from `url`, lower case; "" for a relative URL."""
    text = url or ""
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    match = _SCHEME_RE.match(_IGNORED_RE.sub("", text))
    return match.group(1).lower() if match else ""


def is_safe_url(url: str) -> bool:
    """True for http(s), protocol-relative (`//host/x`) and relative URLs (`/path`, `?q`, `#fragment`)."""
    scheme = url_scheme(url)
    return not scheme or scheme in SAFE_SCHEMES


def unsafe_url_reason(url: str) -> str:
    """Why `url` may not be a link, for error messages."""
    return f"link {url[:80]!r} uses the {url_scheme(url)!r} scheme: only http(s) and relative links are allowed"
