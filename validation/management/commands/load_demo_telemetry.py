import io

from django.core.management.base import BaseCommand

from telemetry.models import IngestBatch, Source
from telemetry.services import ingest_stream
from validation.demo import build_demo_feeds
from validation.services import run_windowed_detections


class Command(BaseCommand):
    help = (
        "Ingest the demo telemetry (scenarios hidden in benign background traffic) into one demo source "
        "per format, then run the correlations and analytics over it; alerts are raised as for any ingest. "
        "Idempotent: redelivered events are duplicates and matches are unique."
    )

    def handle(self, *args, **options):
        totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
        sources = {}
        for source_format, label, content in build_demo_feeds():
            source = sources.get(source_format)
            if source is None:
                source, _ = Source.objects.get_or_create(
                    name=f"demo-{source_format.replace('_', '-')}",
                    defaults={"format": source_format, "description": "Demo telemetry (make demo)"},
                )
                sources[source_format] = source
            report = ingest_stream(
                source=source, stream=io.BytesIO(content), channel=IngestBatch.Channel.CLI, filename=label
            )
            for key in totals:
                totals[key] += getattr(report, key)
            if report.rejected:
                self.stderr.write(f"  {label}: {report.rejected} record(s) rejected")
        self.stdout.write(
            f"demo telemetry: {totals['accepted']} events stored, {totals['duplicates']} duplicates, "
            f"{totals['rejected']} rejected"
        )
        runs = run_windowed_detections([s.pk for s in sources.values()])
        self.stdout.write(f"correlations and analytics: {sum(r.matches for r in runs)} matches over the demo window")
