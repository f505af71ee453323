from django.core.management.base import BaseCommand

from accounts.services import create_demo_users


class Command(BaseCommand):
    help = "Create one demo user per role (analyst, engineer, admin) and print their credentials."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="ads-demo-2026")

    def handle(self, *args, password, **options):
        for username, role in create_demo_users(password=password):
            self.stdout.write(f"  {role:<20} user: {username:<10} password: {password}")
