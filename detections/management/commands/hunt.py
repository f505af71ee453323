"""manage.py hunt --rules PATH... --events FILE [--source SOURCE]: Sigma rules over a file, matches as NDJSON.

One line per match on stdout: {"rule_id", "rule_title", "event_index", "level"}, with
event_index the 0-based position of the event in the input. Nothing is stored.
Without --source the events are Sigma-named JSON (NDJSON or a JSON array, .gz ok) and
every rule applies; with --source (a format such as k8s_audit, or a registered source's
name) the format's parser and field mapping apply and rules are routed by logsource.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detections.pipelines import ALL_FORMATS
from detections.services.hunting import (
    canonical_rows,
    compile_rule_files,
    hunt_events,
    parsed_events,
    read_sigma_events,
    rule_files,
)


class Command(BaseCommand):
    help = "Run Sigma rules (files or directories, recursive) over an events file; prints matches as NDJSON."

    def add_arguments(self, parser):
        parser.add_argument("--rules", nargs="+", required=True, metavar="PATH", help="Rule files or directories.")
        parser.add_argument("--events", required=True, metavar="FILE", help="Events file (NDJSON/JSON, .gz ok).")
        parser.add_argument(
            "--source",
            default="",
            help=f"A source format ({', '.join(ALL_FORMATS)}) or a registered source's name.",
        )

    def handle(self, *args, rules, events, source="", **options):
        try:
            paths = rule_files(rules)
        except FileNotFoundError as exc:
            raise CommandError(str(exc))
        if not paths:
            raise CommandError("no rule files (*.yml, *.yaml) found")
        events_path = Path(events)
        if not events_path.is_file():
            raise CommandError(f"no such events file: {events_path}")
        try:
            source_format, field_map = self._format_of(source) if source else (None, {})
            ruleset, raw_fields = compile_rule_files(paths, source_format)
            for error in ruleset.errors:
                where = f" line {error.line}" if error.line else ""
                self.stderr.write(f"rule {error.rule_id or error.title}{where}: skipped: {error.message}")
            if source_format:
                parsed, rejections = parsed_events(events_path, source_format, field_map)
                for rejection in rejections:
                    self.stderr.write(f"{events_path}: line {rejection.line}: rejected: {rejection.reason}")
                rows = canonical_rows(parsed, raw_fields, source_format)
            else:
                rows = read_sigma_events(events_path)
            for result in hunt_events(ruleset, rows):
                self.stdout.write(json.dumps(result, ensure_ascii=False))
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc))

    def _format_of(self, source: str) -> tuple[str, dict]:
        if source in ALL_FORMATS:
            return source, {}
        from telemetry.models import Source

        found = Source.objects.filter(name=source).first()
        if found is None:
            raise CommandError(f"--source {source!r} is neither a format ({', '.join(ALL_FORMATS)}) nor a source name")
        return found.format, found.field_map or {}
