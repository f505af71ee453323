"""Read paths of the detections app that need care: filtered strategy lists, the coverage matrix."""

from dataclasses import dataclass, field

from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from detections.models import Strategy, StrategyTechnique, Tactic, Technique


def filter_strategies(
    *, tactic: str = "", platform: str = "", priority: str = "", status: str = "", text: str = ""
) -> QuerySet[Strategy]:
    strategies = Strategy.objects.select_related("owner").prefetch_related(
        Prefetch("technique_mappings", queryset=StrategyTechnique.objects.select_related("technique"))
    )
    if tactic:
        # The document's own tactics, or the ATT&CK tactics of the techniques it maps.
        strategies = strategies.filter(
            Q(tactics__icontains=tactic) | Q(techniques__tactics__name__iexact=tactic)
        ).distinct()
    if platform:
        strategies = strategies.filter(platforms__icontains=platform)
    if priority:
        strategies = strategies.filter(priority=priority)
    if status:
        strategies = strategies.filter(status=status)
    if text:
        strategies = strategies.filter(
            Q(title__icontains=text)
            | Q(goal__icontains=text)
            | Q(strategy_abstract__icontains=text)
            | Q(technical_context__icontains=text)
            | Q(technique_mappings__attack_id__iexact=text)
        ).distinct()
    return strategies


PENDING_RUN_STATUSES = ("queued", "running")  # a run not finished yet says nothing about coverage


def _coverage_status(run_status: str | None) -> str:
    if run_status is None:
        return "documented"
    return "validated" if run_status == "passed" else "failing"


def latest_validation_statuses(strategies) -> dict[int, str]:
    """Strategy pk -> 'validated', 'failing' or 'documented' (no finished run yet), in one query.

    Validation sits downstream, so its runs are read through the reverse relation's model.
    """
    runs = Strategy._meta.get_field("validation_runs").related_model
    last_finished = (
        runs.objects.filter(strategy=OuterRef("pk"))
        .exclude(status__in=PENDING_RUN_STATUSES)
        .order_by("-started_at")
        .values("status")[:1]
    )
    pks = [s.pk for s in strategies]
    rows = Strategy.objects.filter(pk__in=pks).annotate(last_status=Subquery(last_finished))
    return {pk: _coverage_status(status) for pk, status in rows.values_list("pk", "last_status")}


def latest_validation_status(strategy: Strategy) -> str:
    return latest_validation_statuses([strategy])[strategy.pk]


def recent_validation_runs(strategy: Strategy, limit: int = 5) -> tuple[list, bool]:
    """The strategy's latest runs with their results, and whether the newest is still pending."""
    runs = list(strategy.validation_runs.prefetch_related("results")[:limit])
    return runs, bool(runs) and runs[0].status in PENDING_RUN_STATUSES


@dataclass
class CoverageCell:
    technique: Technique
    strategies: list = field(default_factory=list)  # [(strategy, status)]

    @property
    def status(self) -> str:
        statuses = {status for _, status in self.strategies}
        for best in ("validated", "failing", "documented"):
            if best in statuses:
                return best
        return "documented"


@dataclass
class CoverageColumn:
    tactic: Tactic
    cells: list[CoverageCell]


def coverage_matrix(*, strategies: QuerySet[Strategy] | None = None) -> list[CoverageColumn]:
    """Tactics as columns; in each, the techniques mapped by strategies, marked by validation status."""
    strategies = strategies if strategies is not None else Strategy.objects.exclude(status=Strategy.Status.RETIRED)
    status_of = latest_validation_statuses(strategies)
    mappings = (
        StrategyTechnique.objects.filter(strategy__in=strategies, technique__isnull=False)
        .select_related("strategy", "technique")
        .prefetch_related("technique__tactics")
    )
    cells_by_tactic: dict[int, dict[int, CoverageCell]] = {}
    for mapping in mappings:
        technique = mapping.technique
        for tactic in technique.tactics.all():
            cell = cells_by_tactic.setdefault(tactic.pk, {}).setdefault(technique.pk, CoverageCell(technique))
            cell.strategies.append((mapping.strategy, status_of[mapping.strategy_id]))
    return [
        CoverageColumn(tactic, sorted(cells_by_tactic.get(tactic.pk, {}).values(), key=lambda c: c.technique.attack_id))
        for tactic in Tactic.objects.order_by("order")
    ]
