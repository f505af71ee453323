"""Defence in depth for pages that show attacker-controlled telemetry.

Autoescaping neutralises markup, but not C0/C1 control characters: a terminal escape in a
raw field would reach the page as-is. No HTML page of ours ever needs them, so any that
slipped through a template are replaced by U+FFFD in text/html responses.
"""

import re

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
