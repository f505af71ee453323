"""Triage pages: the alert queue with filters, and an alert with its evidence and strategy context.

The full analyst workflow (live queue, playbooks, cases) comes with the triage issue; this is
what the demo and the detection pipeline need to be inspected.
"""

import json

from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, render

from ads_portal.params import BadParameter, parse_id
from detections.models import Strategy
from triage.models import Alert, Severity
from triage.selectors import alert_evidence, filter_alerts

FILTERS = ("status", "severity", "strategy", "rule", "entity", "text")


def alert_list(request):
    filters = {key: request.GET.get(key, "").strip() for key in FILTERS}
    try:
        rule = parse_id("rule", filters["rule"])
    except BadParameter as bad:
        # The queue, empty, with the reason where the filters are: the client's mistake, not ours.
        return _alert_list_response(request, filters, Alert.objects.none(), filter_error=str(bad), status=400)
    alerts = filter_alerts(
        status=[filters["status"]] if filters["status"] else None,
        severity=[filters["severity"]] if filters["severity"] else None,
        strategy=filters["strategy"],
        rule=rule,
    )
    if filters["entity"]:
        alerts = alerts.filter(entity__icontains=filters["entity"])
    if filters["text"]:
        alerts = alerts.filter(Q(title__icontains=filters["text"]) | Q(entity__icontains=filters["text"]))
    return _alert_list_response(request, filters, alerts)


def _alert_list_response(request, filters, alerts, *, filter_error: str = "", status: int = 200):
    page = Paginator(alerts, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "filter_error": filter_error,
        "statuses": Alert.Status.choices,
        "severities": Severity.choices,
        "strategies": Strategy.objects.order_by("title").values_list("slug", "title"),
    }
    template = "triage/partials/alert_rows.html" if request.htmx else "triage/alert_list.html"
    return render(request, template, context, status=status)


def alert_detail(request, pk):
    alert = get_object_or_404(Alert.objects.select_related("rule", "strategy", "assignee"), pk=pk)
    evidence = alert_evidence(alert)
    for item in evidence.items:
        for event in item["events"]:
            # Pretty JSON shown as text: the template escapes it like any other telemetry.
            event["raw_pretty"] = json.dumps(event["raw"], indent=2, sort_keys=True)
    return render(request, "triage/alert_detail.html", {"alert": alert, "evidence": evidence})
