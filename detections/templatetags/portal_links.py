"""`safe_url`: a URL from stored data, or "" when it may not be a link (see `detections.links`).

Every `href`/`src` built from a document, a rule, the ATT&CK catalogue or telemetry goes
through it, so a row stored before its URL was checked is still served inert. Templates
show the text without a link when the filter gives "".
"""

from django import template

from detections.links import is_safe_url

register = template.Library()


@register.filter(name="safe_url")
def safe_url_filter(url):
    url = "" if url is None else str(url)
    return url if is_safe_url(url) else ""
