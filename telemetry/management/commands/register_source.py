"""manage.py register_source NAME --format F [--cadence SECONDS] [--field-map JSON]: create a source, print its token."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from telemetry.models import Source
from telemetry.services import register_source


class Command(BaseCommand):
    help = "Register a telemetry source and print its ingest token."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Source name (a slug; used in the ingest URL).")
        parser.add_argument("--format", required=True, choices=Source.Format.values)
        parser.add_argument(
            "--cadence", type=int, default=None, help="Expected seconds between events (silence alert)."
        )
        parser.add_argument("--field-map", default=None, help='JSON object, e.g. {"time": "ts", "host": "h.name"}.')
        parser.add_argument("--description", default="")

    def handle(self, *args, name, format, cadence, field_map, description, **options):  # noqa: A002
        mapping = None
        if field_map:
            try:
                mapping = json.loads(field_map)
            except ValueError as exc:
                raise CommandError(f"--field-map is not valid JSON: {exc}")
        if Source.objects.filter(name=name).exists():
            raise CommandError(f"A source named {name!r} already exists.")
        try:
            source = register_source(
                name=name, format=format, expected_cadence_seconds=cadence, field_map=mapping, description=description
            )
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items()))
        self.stdout.write(f"Registered source {source.name} ({source.get_format_display()}).")
        self.stdout.write(f"Ingest token: {source.ingest_token}")
        self.stdout.write(f"POST to /api/v1/ingest/{source.name}/ with 'Authorization: Bearer <token>'.")
