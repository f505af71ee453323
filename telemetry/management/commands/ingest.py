"""manage.py ingest --source SOURCE FILE... : ingest files (or `-` for stdin) through the same service as the API."""

import os
import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from telemetry.models import IngestBatch, Source
from telemetry.services import IngestError, ingest_stream

# Below this a progress bar is noise.
PROGRESS_MIN_BYTES = 1024 * 1024
SHOWN_REJECTIONS = 10
# Local files are the operator's own: no bound on their size or on the work they take.
UNBOUNDED = {"max_decompressed_bytes": None, "max_lines": None, "max_blank_lines": None, "max_seconds": None}


class Command(BaseCommand):
    help = "Ingest telemetry files (plain or .gz; '-' reads stdin) into a source; prints a report per file."

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="Source name (see register_source).")
        parser.add_argument("files", nargs="+", metavar="FILE", help="Files to ingest; '-' for stdin.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on stderr.")

    def handle(self, *args, source, files, no_progress=False, **options):
        try:
            source_obj = Source.objects.get(name=source)
        except Source.DoesNotExist:
            known = ", ".join(Source.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No source named {source!r} (known: {known}). Create it with register_source.")
        if not source_obj.enabled:
            raise CommandError(f"Source {source!r} is disabled.")

        failed = []
        for path in files:
            try:
                report = self._ingest_one(source_obj, path, show_progress=not no_progress)
            except (OSError, IngestError) as exc:
                self.stderr.write(self.style.ERROR(f"{path}: not ingested: {exc}"))
                failed.append(path)
                continue
            self.stdout.write(
                f"{path}: batch {report.batch_id}: {report.accepted} accepted, "
                f"{report.duplicates} duplicates, {report.rejected} rejected"
            )
            for warning in report.warnings:
                self.stdout.write(self.style.WARNING(f"  line {warning['line']}: {warning['warning']}"))
            for rejection in report.rejections[:SHOWN_REJECTIONS]:
                self.stdout.write(f"  line {rejection['line']}: {rejection['reason']}")
            if report.rejected > SHOWN_REJECTIONS:
                self.stdout.write(f"  ... and {report.rejected - SHOWN_REJECTIONS} more rejections")
        if failed:
            raise CommandError(f"{len(failed)} of {len(files)} file(s) could not be ingested: {', '.join(failed)}")

    def _ingest_one(self, source, path, *, show_progress):
        if path == "-":
            return ingest_stream(
                source=source,
                stream=sys.stdin.buffer,
                channel=IngestBatch.Channel.CLI,
                filename="<stdin>",
                **UNBOUNDED,
            )
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            bar = None
            if show_progress and size >= PROGRESS_MIN_BYTES:
                bar = tqdm(total=size, unit="B", unit_scale=True, desc=os.path.basename(path), file=sys.stderr)
            try:
                return ingest_stream(
                    source=source,
                    stream=handle,
                    channel=IngestBatch.Channel.CLI,
                    filename=os.path.basename(path),
                    progress=bar.update if bar else None,
                    **UNBOUNDED,
                )
            finally:
                if bar is not None:
                    bar.close()
