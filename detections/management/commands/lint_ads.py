"""`manage.py lint_ads [SLUG...] [--format text|json]`: the quality check of strategies, for people and CI.

Exit status 1 when any strategy has an error-severity finding, so a pipeline can gate on it.
"""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from detections.models import Strategy
from detections.services.quality import quality_report, suggestion_findings


class Command(BaseCommand):
    help = "Check strategies against the ADS framework and the ATT&CK catalogue; exit 1 when any error is found."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="strategies to check (default: all)")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument("--suggestions", type=int, default=3, help="technique suggestions per strategy (info)")

    def handle(self, *args, slugs, format, suggestions, **options):
        strategies = Strategy.objects.order_by("slug")
        if slugs:
            strategies = strategies.filter(slug__in=slugs)
            unknown = sorted(set(slugs) - set(strategies.values_list("slug", flat=True)))
            if unknown:
                raise CommandError(f"no strategy with slug: {', '.join(unknown)}")
        results = []
        for strategy in strategies:
            report = quality_report(strategy, suggestion_limit=suggestions)
            results.append((strategy, report, report.findings + suggestion_findings(report.suggestions)))

        if format == "json":
            self.stdout.write(json.dumps([_as_json(*result) for result in results], indent=2))
        else:
            for strategy, _report, findings in results:
                self._write_text(strategy, findings)
            errors = sum(r.has_errors for _, r, _ in results)
            self.stdout.write(f"{len(results)} strategies checked, {errors} with errors.")
        if any(report.has_errors for _, report, _ in results):
            raise SystemExit(1)

    def _write_text(self, strategy, findings):
        counts = {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}
        self.stdout.write(
            f"{strategy.slug}: {strategy.title} — {counts['error']} errors, {counts['warning']} warnings, "
            f"{counts['info']} info"
        )
        style = {"error": self.style.ERROR, "warning": self.style.WARNING, "info": str}
        for finding in findings:
            label = style[finding.severity](f"{finding.severity:<7}")
            self.stdout.write(f"  {label} [{finding.section}] {finding.code}: {finding.message}")
            if finding.suggestion:
                self.stdout.write(f"          -> {finding.suggestion}")


def _as_json(strategy, report, findings):
    return {
        "slug": strategy.slug,
        "title": strategy.title,
        "has_errors": report.has_errors,
        "findings": [asdict(f) for f in findings],
        "suggestions": [
            {"attack_id": s.technique.attack_id, "name": s.technique.name, "score": s.score, "reason": s.reason}
            for s in report.suggestions
        ],
    }
