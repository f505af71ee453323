"""Defence in depth for pages that show attacker-controlled telemetry.

Autoescaping neutralises markup, but not C0/C1 control characters: a terminal escape in a
raw field would reach the page as-is. No HTML page of ours ever needs them, so any that
slipped through a template are replaced by U+FFFD in text/html responses.
"""

import re

from django.core.exceptions import DisallowedHost

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


class StripControlCharactersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            not getattr(response, "streaming", False)
            and response.get("Content-Type", "").startswith("text/html")
            and _CONTROL.search(response.content)
        ):
            response.content = _CONTROL.sub("\ufffd".encode(), response.content)
        return response


class ContentSecurityPolicyMiddleware:
    """A strict Content-Security-Policy on every response (Django 5.2 has none built in).

    Telemetry and documents are attacker-controlled: if markup ever slips past escaping, the
    policy keeps it from running (`script-src 'self'`, no inline script, no eval) or loading
    anything from elsewhere. Our templates have no inline script or style (a test checks), htmx
    is configured not to inject its indicator `<style>` nor to eval (`htmx-config` meta in
    base.html), and the Django admin uses only script files. Websockets (Channels) need their
    ws:/wss: origin named: 'self' covers them only in CSP Level 3 browsers. A response that
    already has a policy keeps it.
    """

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'{websockets}; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.POLICY.format(websockets=self._websockets(request))
        return response

    @staticmethod
    def _websockets(request) -> str:
        try:
            host = request.get_host()
        except DisallowedHost:  # the response is already the 400 for that host
            return ""
        return f" ws://{host} wss://{host}"
