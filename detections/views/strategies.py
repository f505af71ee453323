"""Strategy library pages: the filtered library, a strategy with its quality report, the coverage matrix."""

from django.shortcuts import get_object_or_404, render

from detections.models import Strategy, Tactic
from detections.selectors import coverage_matrix, filter_strategies, latest_validation_status, recent_validation_runs
from detections.services.quality import quality_report


def strategy_list(request):
    filters = {key: request.GET.get(key, "").strip() for key in ("tactic", "platform", "priority", "status", "text")}
    strategies = filter_strategies(**filters)
    context = {
        "strategies": strategies,
        "filters": filters,
        "tactics": Tactic.objects.order_by("order"),
        "priorities": Strategy.Priority.choices,
        "statuses": Strategy.Status.choices,
    }
    template = "detections/partials/strategy_rows.html" if request.htmx else "detections/strategy_list.html"
    return render(request, template, context)


def strategy_detail(request, slug):
    strategy = get_object_or_404(
        Strategy.objects.prefetch_related(
            "technique_mappings__technique__tactics",
            "blind_spots",
            "false_positives",
            "validation_scenarios__steps",
            "response_steps",
            "resources",
            "extra_sections",
            "rules",
        ),
        slug=slug,
    )
    runs, is_pending = recent_validation_runs(strategy)
    context = {
        "strategy": strategy,
        "report": quality_report(strategy),
        "validation_status": latest_validation_status(strategy),
        "validation_runs": runs,
        "is_pending": is_pending,
        "can_edit": request.user.has_perm("detections.change_strategy"),
        "can_validate": request.user.has_perm("validation.add_validationrun"),
    }
    return render(request, "detections/strategy_detail.html", context)


def coverage_matrix_view(request):
    return render(request, "detections/coverage.html", {"columns": coverage_matrix()})
