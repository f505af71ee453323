"""Statistics pages: the dashboard, and the figures the rule and strategy pages load from triage.

Read-only, so kept apart from triage.views (the workspace's actions). Every page takes `days`
(7, 30 or 90; anything else is a 400 that says so). The rule and strategy pages live in
detections, which must not import triage: they load `rule_stats` / `strategy_stats` with htmx
(`hx-trigger="load"`) and link to the same URL without JS, which then answers a whole page.
Login is required by the middleware, as everywhere; reading figures needs no triage role.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render

from ads_portal.params import BadParameter
from detections.models import DetectionRule, Strategy
from telemetry.selectors import source_health
from triage import charts, stats
from triage.models import Alert


def _window(request) -> tuple[int, str]:
    """The window asked for, and the reason it cannot be used ("" when it can)."""
    try:
        return stats.parse_window_days(request.GET.get("days")), ""
    except BadParameter as bad:
        return stats.DEFAULT_WINDOW_DAYS, bad.message


def _split(totals: stats.DispositionStats) -> list[charts.Segment]:
    return charts.split_bar(
        [
            ("True positive", totals.true_positives, "disp-true_positive"),
            ("Benign true positive", totals.benign_true_positives, "disp-benign_true_positive"),
            ("False positive", totals.false_positives, "disp-false_positive"),
        ]
    )


def dashboard(request):
    days, error = _window(request)
    context = {"days": days, "windows": stats.WINDOW_DAYS, "window_error": error}
    if error:
        return render(request, "triage/dashboard.html", context, status=400)
    alerts = Alert.objects.all()
    totals = stats.disposition_stats(alerts, days=days)
    context.update(
        totals=totals,
        split=_split(totals),
        volume=charts.day_columns(stats.alerts_per_day(alerts, days=days), width=800, height=200),
        open=stats.open_alerts(),
        noisiest=stats.rule_noise(alerts, days=days, limit=stats.NOISIEST_RULES),
        sources=source_health(),
    )
    return render(request, "triage/dashboard.html", context)


def _detection_stats(request, *, subject, alerts, url_name: str, by_rule: bool):
    days, error = _window(request)
    context = {
        "subject": subject,
        "kind": "rule" if isinstance(subject, DetectionRule) else "strategy",
        "url_name": url_name,
        "days": days,
        "windows": stats.WINDOW_DAYS,
        "window_error": error,
        "queue_query": (f"rule={subject.pk}" if isinstance(subject, DetectionRule) else f"strategy={subject.slug}"),
    }
    if not error:
        totals = stats.disposition_stats(alerts, days=days)
        context.update(
            totals=totals,
            split=_split(totals),
            volume=charts.day_columns(stats.alerts_per_day(alerts, days=days), width=900, height=140),
            rules=stats.rule_noise(alerts, days=days) if by_rule else None,
        )
    template = "triage/partials/detection_stats.html" if request.htmx else "triage/detection_stats.html"
    return render(request, template, context, status=400 if error else 200)


def rule_stats(request, pk):
    rule = get_object_or_404(DetectionRule, pk=pk)
    return _detection_stats(
        request, subject=rule, alerts=Alert.objects.filter(rule=rule), url_name="triage:rule_stats", by_rule=False
    )


def strategy_stats(request, pk):
    strategy = get_object_or_404(Strategy, pk=pk)
    return _detection_stats(
        request,
        subject=strategy,
        alerts=Alert.objects.filter(strategy=strategy),
        url_name="triage:strategy_stats",
        by_rule=True,
    )
