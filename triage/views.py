"""Triage pages. (Initial version: the alert list and an alert; the full queue comes with the triage issue.)"""

from django.shortcuts import get_object_or_404, render

from triage.models import Alert


def alert_list(request):
    alerts = Alert.objects.select_related("rule", "strategy")[:200]
    return render(request, "triage/alert_list.html", {"alerts": alerts})


def alert_detail(request, pk):
    alert = get_object_or_404(Alert.objects.select_related("rule", "strategy"), pk=pk)
    return render(request, "triage/alert_detail.html", {"alert": alert})
