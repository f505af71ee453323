"""`manage.py import_indicators NAME FILE [--format csv|stix]`: load an indicator list from a file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detections.services.indicators import IndicatorImportError, import_indicators_csv, import_indicators_stix


class Command(BaseCommand):
    help = "Create or update an indicator list (IPs, networks, domains) from a CSV file or a STIX 2.1 bundle."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Indicator list name (created if new).")
        parser.add_argument("file", help="CSV (type,value,description or one value a line) or STIX JSON bundle.")
        parser.add_argument("--format", choices=["csv", "stix"], help="Default: stix for .json files, csv otherwise.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}")
        file_format = options["format"] or ("stix" if path.suffix.lower() == ".json" else "csv")
        try:
            if file_format == "stix":
                result = import_indicators_stix(name=options["name"], bundle_text=text)
            else:
                result = import_indicators_csv(name=options["name"], text=text, source=path.name)
        except IndicatorImportError as exc:
            raise CommandError(f"{path}: {exc} (nothing imported)")
        for error in result.errors:
            where = f"line {error['line']}" if "line" in error else error.get("object", "")
            self.stderr.write(f"{path}: {where}: {error['reason']}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.indicator_list.name}: {result.created} new, {result.updated} updated, "
                f"{len(result.errors)} rejected"
            )
        )
