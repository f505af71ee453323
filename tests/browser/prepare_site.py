"""Prepare the browser tests' live site in one process: `python -m tests.browser.prepare_site`.

Runs against whatever database the environment names (tests.browser.live_site sets it): migrate, load
the shipped library (the five strategies with their playbooks, the rules, the suppressions), create
the demo users and one Kubernetes audit source. Prints the source's ingest token as JSON on the
last line. One process instead of one `manage.py` per step saves a Django start-up each.
"""

import argparse
import json

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True)
    parser.add_argument("--password", required=True)
    args = parser.parse_args()

    django.setup()
    from django.core.management import call_command

    from accounts.services import create_demo_users
    from telemetry.services import register_source
    from validation.library import load_library

    call_command("migrate", verbosity=0, interactive=False)
    load_library()
    create_demo_users(password=args.password)
    source = register_source(name=args.source, format="k8s_audit", description="Browser tests: production cluster")
    print(json.dumps({"token": source.ingest_token}))


if __name__ == "__main__":
    main()
