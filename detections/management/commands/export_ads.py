"""`manage.py export_ads [--format markdown|json] [--output DIR] [SLUG...]`: export strategies.

Without slugs every strategy is exported. Markdown goes to stdout (documents separated by an
HTML comment line) or to DIR/<slug>.md; JSON is one list on stdout or DIR/<slug>.json.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detections.models import Strategy
from detections.services.strategies import export_strategy_json, export_strategy_markdown


class Command(BaseCommand):
    help = "Export strategies as canonical ADS markdown or JSON."

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        parser.add_argument("--format", choices=["markdown", "json"], default="markdown")
        parser.add_argument("--output", metavar="DIR", help="Write one file per strategy into DIR.")

    def handle(self, *args, slugs, format, output=None, **options):
        strategies = Strategy.objects.order_by("slug")
        if slugs:
            found = {s.slug: s for s in strategies.filter(slug__in=slugs)}
            missing = [slug for slug in slugs if slug not in found]
            if missing:
                raise CommandError(f"unknown strategy slug(s): {', '.join(missing)}")
            strategies = [found[slug] for slug in slugs]
        if output:
            directory = Path(output)
            directory.mkdir(parents=True, exist_ok=True)
            for strategy in strategies:
                if format == "json":
                    target = directory / f"{strategy.slug}.json"
                    target.write_text(json.dumps(export_strategy_json(strategy), indent=2, ensure_ascii=False) + "\n")
                else:
                    target = directory / f"{strategy.slug}.md"
                    target.write_text(export_strategy_markdown(strategy), encoding="utf-8")
                self.stdout.write(str(target))
            return
        if format == "json":
            data = [export_strategy_json(strategy) for strategy in strategies]
            self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False))
            return
        for strategy in strategies:
            self.stdout.write(export_strategy_markdown(strategy), ending="")
            self.stdout.write(f"\n<!-- end of strategy {strategy.slug} -->\n")
