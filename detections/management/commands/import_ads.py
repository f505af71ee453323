"""`manage.py import_ads PATH...`: import ADS markdown files (or directories of .md/.txt files).

Each file is imported on its own, all or nothing; a file that does not parse is reported as
`ERROR <file>:<line>: <message>` on stderr and the others still go in. The exit status is 1
when any file failed.
"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detections.ads import AdsParseError, decode_document
from detections.models import Strategy
from detections.services.strategies import import_strategy

SUFFIXES = {".md", ".markdown", ".txt"}


def collect_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        else:
            files.append(path)
    return files


class Command(BaseCommand):
    help = "Import ADS markdown documents (files or directories of .md/.txt) as strategies."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--status",
            choices=Strategy.Status.values,
            help="Set this lifecycle status on every imported strategy (default: front matter on creation).",
        )

    def handle(self, *args, paths, status=None, **options):
        failed = 0
        files = collect_files(paths)
        if not files:
            raise CommandError("no .md or .txt files found")
        for path in files:
            try:
                text = decode_document(path.read_bytes())
                result = import_strategy(text=text, path=str(path.resolve()), status=status)
            except AdsParseError as exc:
                failed += 1
                self.stderr.write(f"ERROR {path}:{exc.line}: {exc.message}")
                continue
            except OSError as exc:
                failed += 1
                self.stderr.write(f"ERROR {path}:1: {exc.strerror or exc}")
                continue
            self._report(path, result)
        if failed:
            raise CommandError(f"{failed} of {len(files)} file(s) failed to import")

    def _report(self, path: Path, result) -> None:
        parsed = result.parsed
        verb = "created" if result.created else "updated"
        steps = sum(len(s.steps) for s in parsed.validation_scenarios)
        self.stdout.write(f'{path}: {verb} "{result.strategy.title}" (slug {result.strategy.slug})')
        self.stdout.write(
            f"  techniques {len(parsed.techniques)}, blind spots {len(parsed.blind_spots)}, "
            f"false positives {len(parsed.false_positives)}, scenarios {len(parsed.validation_scenarios)} "
            f"({steps} steps), response steps {len(parsed.response_steps)}, resources {len(parsed.resources)}, "
            f"extra sections {len(parsed.extra_sections)}"
        )
        for warning in result.warnings:
            self.stdout.write(f"  WARNING {path}:{warning.line}: {warning.message}")
