from django.core.management.base import BaseCommand, CommandError

from validation.library import LibraryError, load_library


class Command(BaseCommand):
    help = "Import the shipped strategies, rules, analytics, suppressions and indicator lists (idempotent)."

    def handle(self, *args, verbosity=1, **options):
        try:
            summary = load_library()
        except LibraryError as error:
            raise CommandError(str(error))
        if verbosity < 1:
            return
        self.stdout.write(
            f"library: {len(summary.strategies)} strategies, {len(summary.rules)} Sigma rules, "
            f"{len(summary.analytics)} analytics, {len(summary.suppressions)} suppressions, "
            f"{len(summary.indicator_lists)} indicator lists"
        )
        for warning in summary.warnings:
            self.stdout.write(f"  warning: {warning}")
