"""Defence in depth for pages that show attacker-controlled telemetry and documents.

Autoescaping neutralises markup, but not C0/C1 control characters: a terminal escape in a
raw field would reach the page as-is. No HTML page of ours ever needs them, so any that
slipped through a template are replaced by U+FFFD in text/html responses. Nor does it touch
invisible format characters (Unicode category Cf: bidi overrides and isolates such as U+202E,
zero-width spaces and joiners, U+FEFF, tag characters): they reorder or hide what the analyst
reads ("Trojan source" spoofing of a command line or a pod name), so pages show each as a
visible marker, ⟨U+202E⟩. All of Cf, not a hand-picked list: an emoji's zero-width joiner is
shown too, a fair price on a security console. The API is not changed: it returns the data.
Also here: the Content-Security-Policy header, set on every response.
"""

import re
import sys
import unicodedata

from django.core.exceptions import DisallowedHost

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")
_FORMAT_CHARACTERS = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
# On the UTF-8 bytes, so pages without any (nearly all) are not decoded.
_INVISIBLE = re.compile(b"|".join(re.escape(c.encode()) for c in _FORMAT_CHARACTERS))


def _visible_marker(match: re.Match) -> bytes:
    return f"\u27e8U+{ord(match.group().decode()):04X}\u27e9".encode()


def visible_html(html: str) -> str:
    """What the middleware does to a page, for HTML sent another way (the live queue's websocket pushes)."""
    data = html.encode()
    if _CONTROL.search(data):
        data = _CONTROL.sub("\ufffd".encode(), data)
    if _INVISIBLE.search(data):
        data = _INVISIBLE.sub(_visible_marker, data)
    return data.decode()


class StripControlCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(response, "streaming", False) and response.get("Content-Type", "").startswith("text/html"):
            if _CONTROL.search(response.content):
                response.content = _CONTROL.sub("\ufffd".encode(), response.content)
            if _INVISIBLE.search(response.content):
                response.content = _INVISIBLE.sub(_visible_marker, response.content)
        return response


class ContentSecurityPolicyMiddleware:
    """A strict Content-Security-Policy on every response (Django 5.2 has none built in).

    Telemetry and documents are attacker-controlled: if markup ever slips past escaping, the
    policy keeps it from running (`script-src 'self'`, no inline script, no eval) or loading
    anything from elsewhere. Our templates have no inline script or style (a test checks), htmx
    is configured not to inject its indicator `<style>` nor to eval (`htmx-config` meta in
    base.html), and the Django admin uses only script files (checked in headless Chromium). Websockets (Channels) need their
    ws:/wss: origin named: 'self' covers them only in CSP Level 3 browsers. A response that
    already has a policy keeps it.
    """

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src {styles}; img-src 'self'; "
        "connect-src 'self'{websockets}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    # DRF's browsable API (its own templates) has an inline <style> and style attributes; styles
    # there only, never scripts: a style cannot run code, and the pages show API data escaped.
    INLINE_STYLE_PREFIXES = ("/api/",)

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            styles = "'self' 'unsafe-inline'" if request.path.startswith(self.INLINE_STYLE_PREFIXES) else "'self'"
            response["Content-Security-Policy"] = self.POLICY.format(
                styles=styles, websockets=self._websockets(request)
            )
        return response

    @staticmethod
    def _websockets(request) -> str:
        try:
            host = request.get_host()
        except DisallowedHost:  # the response is already the 400 for that host
            return ""
        return f" ws://{host} wss://{host}"
