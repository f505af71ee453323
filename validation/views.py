"""Validation pages: start a run for a strategy, download the Navigator layer."""

import json

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from detections.models import Strategy
from detections.selectors import recent_validation_runs
from validation.navigator import navigator_layer_for
from validation.services import request_validation


def navigator_layer(request):
    slugs = [s for s in request.GET.getlist("strategy") if s]
    layer = navigator_layer_for(slugs or None)
    response = HttpResponse(json.dumps(layer, indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="ads-portal-layer.json"'
    return response


def _results_partial(request, strategy):
    runs, is_pending = recent_validation_runs(strategy)
    context = {
        "strategy": strategy,
        "validation_runs": runs,
        "can_validate": request.user.has_perm("validation.add_validationrun"),
        # While a run waits for or runs on a worker, the partial polls itself until it is done.
        "is_pending": is_pending,
    }
    return render(request, "detections/partials/validation_results.html", context)


@require_POST
@permission_required("validation.add_validationrun", raise_exception=True)
def run_validation(request, slug):
    strategy = get_object_or_404(Strategy, slug=slug)
    request_validation(strategy=strategy, user=request.user)
    if not request.htmx:
        return redirect(strategy.get_absolute_url() + "#validation")
    return _results_partial(request, strategy)


def validation_results(request, slug):
    return _results_partial(request, get_object_or_404(Strategy, slug=slug))
