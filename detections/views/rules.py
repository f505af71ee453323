"""Detection rule pages. (Initial version: list and detail; runs and retro-hunts grow here.)"""

from django.shortcuts import get_object_or_404, render

from detections.models import DetectionRule, DetectionRun


def rule_list(request):
    return render(request, "detections/rule_list.html", {"rules": DetectionRule.objects.all()})


def rule_detail(request, pk):
    return render(request, "detections/rule_detail.html", {"rule": get_object_or_404(DetectionRule, pk=pk)})


def run_list(request):
    return render(request, "detections/run_list.html", {"runs": DetectionRun.objects.all()[:200]})
