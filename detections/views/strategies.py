"""Strategy library pages. (Initial version: list and detail; filters, quality report and matrix grow here.)"""

from django.shortcuts import get_object_or_404, render

from detections.models import Strategy, Tactic


def strategy_list(request):
    strategies = Strategy.objects.prefetch_related("technique_mappings")
    return render(request, "detections/strategy_list.html", {"strategies": strategies})


def strategy_detail(request, slug):
    strategy = get_object_or_404(Strategy, slug=slug)
    return render(request, "detections/strategy_detail.html", {"strategy": strategy})


def coverage_matrix(request):
    tactics = Tactic.objects.prefetch_related("techniques__strategies")
    return render(request, "detections/coverage.html", {"tactics": tactics})
