"""Template pieces every page shares, so the product reads the same everywhere.

- `|when`: a date-time in the portal's one format (2026-12-07 15:31:02 UTC), in a <time> element
  whose title says how long ago it was.
- `{% shortid value %}`: a long id (container id, digest, UID) shortened, with the full value on
  hover and a copy button (static/js/portal.js copies it; no inline script).
- `|duration`: seconds as "3 h 12 min" for statistics.
- `|percent`: a rate (0..1) as "25 %" ("—" when there is none: no alert closed, no rate).

Every value is escaped (format_html): ids and dates shown here come from telemetry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

register = template.Library()

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

# Drawn, not a glyph: the usual "copy" characters (⧉, ⎘) are missing from common Linux fonts
# and showed as an empty box. Fixed markup with no data in it, so it is safe inside format_html.
_COPY_ICON = (
    '<svg class="icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">'
    '<rect x="5" y="5" width="9" height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/>'
    '<path d="M11 3v-.5A1.5 1.5 0 0 0 9.5 1h-7A1.5 1.5 0 0 0 1 2.5v7A1.5 1.5 0 0 0 2.5 11H3" fill="none" '
    'stroke="currentColor" stroke-width="1.5"/></svg>'
)


@register.filter
def when(value):
    if not isinstance(value, datetime):
        return "—" if value in (None, "") else value
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    shown = timezone.localtime(value)
    now = timezone.now()
    relative = f"{timesince(value, now)} ago" if value <= now else f"in {timesince(now, value)}"
    return format_html(
        '<time datetime="{}" title="{}">{} {}</time>',
        value.isoformat(),
        relative,
        shown.strftime(DATE_FORMAT),
        shown.tzname() or "",
    )


@register.simple_tag
def shortid(value, keep: int = 12):
    text = "" if value is None else str(value)
    if len(text) <= keep + 1:
        return format_html('<span class="shortid"><code>{}</code></span>', text)
    return format_html(
        '<span class="shortid" title="{}"><code>{}…</code><button type="button" class="copy" data-copy="{}" '
        'aria-label="Copy the full value">' + _COPY_ICON + "</button></span>",
        text,
        text[:keep],
        text,
    )


@register.filter
def duration(seconds):
    if seconds in (None, ""):
        return "—"
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@register.filter
def percent(rate):
    if rate in (None, ""):
        return "—"
    share = 100 * float(rate)
    # Whole percents read best; below 10 % one decimal keeps 2.5 % from showing as 3 %.
    return f"{share:.1f} %" if 0 < share < 10 else f"{share:.0f} %"
