"""Detection rule pages: the filtered rule list, a rule (YAML, strategies, matches, runs, retro-hunt), runs."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from detections.forms import RetroHuntForm
from detections.models import DetectionRule, DetectionRun
from detections.services.detection import start_retro_hunt

RECENT_MATCHES = 25
RECENT_RUNS = 10


def rule_list(request):
    filters = {key: request.GET.get(key, "").strip() for key in ("status", "level", "kind", "text")}
    rules = DetectionRule.objects.all()
    for key in ("status", "level", "kind"):
        if filters[key]:
            rules = rules.filter(**{key: filters[key]})
    if filters["text"]:
        rules = rules.filter(title__icontains=filters["text"])
    context = {
        "rules": rules,
        "filters": filters,
        "statuses": DetectionRule.Status.choices,
        "levels": DetectionRule.Level.choices,
        "kinds": DetectionRule.Kind.choices,
    }
    return render(request, "detections/rule_list.html", context)


def rule_detail(request, pk, retro_form=None):
    rule = get_object_or_404(DetectionRule.objects.prefetch_related("strategies"), pk=pk)
    context = {
        "rule": rule,
        "matches": rule.matches.select_related("alert_evidence__alert", "suppression_hit").order_by("-time", "-id")[
            :RECENT_MATCHES
        ],
        "match_count": rule.matches.count(),
        "runs": rule.runs.select_related("batch__source")
        .prefetch_related("rules")
        .order_by("-started_at")[:RECENT_RUNS],
        "can_hunt": request.user.has_perm("detections.change_detectionrule"),
        "retro_form": retro_form or RetroHuntForm(),
    }
    return render(request, "detections/rule_detail.html", context)


@require_POST
def rule_retro_hunt(request, pk):
    if not request.user.has_perm("detections.change_detectionrule"):
        raise PermissionDenied("Retro-hunts need the detections.change_detectionrule permission.")
    rule = get_object_or_404(DetectionRule, pk=pk)
    form = RetroHuntForm(request.POST)
    if not form.is_valid():
        return rule_detail(request, pk, retro_form=form)
    run = start_retro_hunt(rule=rule, start=form.cleaned_data["start"], end=form.cleaned_data["end"])
    messages.success(request, f"Retro-hunt of {rule.title} queued as run #{run.pk}; it appears under Runs.")
    return redirect(f"{rule.get_absolute_url()}#run-{run.pk}")


def run_list(request):
    runs = DetectionRun.objects.select_related("batch__source").prefetch_related("rules")
    kind = request.GET.get("kind", "").strip()
    if kind:
        runs = runs.filter(kind=kind)
    return render(
        request,
        "detections/run_list.html",
        {"runs": runs[:200], "kind": kind, "kinds": DetectionRun.Kind.choices},
    )
