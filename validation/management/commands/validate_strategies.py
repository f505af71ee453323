from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from detections.models import Strategy
from validation.models import ValidationRun
from validation.services import execute_validation


class Command(BaseCommand):
    help = (
        "Replay each strategy's emulation scenarios into an isolated store, run the detections and report "
        "each scenario as passed or failed. Exit status 1 on any failure."
    )

    def add_arguments(self, parser):
        parser.add_argument("slugs", nargs="*", metavar="SLUG")
        parser.add_argument(
            "--no-load", action="store_true", help="Do not (re)load the shipped library before validating."
        )

    def handle(self, *args, slugs, no_load, **options):
        if not no_load:
            call_command("load_library", verbosity=0)
        strategies = Strategy.objects.order_by("slug")
        if slugs:
            strategies = strategies.filter(slug__in=slugs)
            missing = set(slugs) - set(strategies.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"Unknown strategy slug(s): {', '.join(sorted(missing))}")
        failed = 0
        for strategy in strategies:
            run = execute_validation(run=ValidationRun.objects.create(strategy=strategy))
            style = self.style.SUCCESS if run.status == ValidationRun.Status.PASSED else self.style.ERROR
            self.stdout.write(style(f"{run.status.upper():<7} {strategy.slug}"))
            if run.error:
                self.stdout.write(f"    error: {run.error}")
            for result in run.results.all():
                mark = "pass" if result.passed else "FAIL"
                self.stdout.write(f"    [{mark}] {result.kind:<6} {result.name}: {result.reason}")
            failed += run.status != ValidationRun.Status.PASSED
        total = strategies.count()
        self.stdout.write(f"{total - failed}/{total} strategies validated")
        if failed:
            raise SystemExit(1)
