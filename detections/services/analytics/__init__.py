"""Analytics: detections over many events that a single-event Sigma rule cannot express.

One module per analytic (one_way_communication, icmp_tunnel, resource_spike,
indicator_match, silent_source), each with its PARAMETERS and an
`evaluate(rule, window_start, window_end, params)`. This package gives them one
face: the registry `ANALYTICS` {analytic_type: callable(rule, window_start,
window_end) -> list[MatchSpec]}, `validate_parameters`, and the scheduled
evaluation `run_due_analytics` (runs.py). Correlations of Sigma rules live in
detections.services.correlation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from types import ModuleType
from typing import Any

from . import icmp_tunnel, indicator_match, one_way_communication, resource_spike, silent_source
from .base import MatchSpec, validate_against

_MODULES: dict[str, ModuleType] = {
    module.ANALYTIC_TYPE: module
    for module in (one_way_communication, icmp_tunnel, resource_spike, indicator_match, silent_source)
}

ANALYTIC_TYPES = tuple(_MODULES)


def validate_parameters(analytic_type: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """The effective parameters (defaults filled in); ValueError naming the bad parameter otherwise."""
    module = _MODULES.get(analytic_type)
    if module is None:
        raise ValueError(f"unknown analytic type {analytic_type!r} (known: {', '.join(ANALYTIC_TYPES)})")
    effective = validate_against(module.PARAMETERS, params)
    check = getattr(module, "check_parameters", None)
    if check is not None:
        check(effective)
    return effective


def parameter_defaults(analytic_type: str) -> dict[str, Any]:
    return validate_parameters(analytic_type, {})


def _bind(module: ModuleType) -> Callable[[Any, datetime, datetime], list[MatchSpec]]:
    def evaluate(rule, window_start: datetime, window_end: datetime) -> list[MatchSpec]:
        params = validate_parameters(module.ANALYTIC_TYPE, rule.parameters)
        return module.evaluate(rule, window_start, window_end, params)

    evaluate.__name__ = f"evaluate_{module.ANALYTIC_TYPE}"
    evaluate.__doc__ = module.__doc__
    return evaluate


ANALYTICS: dict[str, Callable[[Any, datetime, datetime], list[MatchSpec]]] = {
    analytic_type: _bind(module) for analytic_type, module in _MODULES.items()
}

from .runs import evaluate_analytic, run_analytics_window, run_due_analytics  # noqa: E402

__all__ = [
    "ANALYTICS",
    "ANALYTIC_TYPES",
    "MatchSpec",
    "evaluate_analytic",
    "parameter_defaults",
    "run_analytics_window",
    "run_due_analytics",
    "validate_parameters",
]
