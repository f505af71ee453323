"""Trigram indexes so the queue's contains-search on entity and title stays fast at a million alerts (PostgreSQL only).

SQLite has no such index; the embedded default holds demo-sized queues where a scan is fine.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS alert_entity_trgm ON triage_alert USING gin (upper(entity) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS alert_title_trgm ON triage_alert USING gin (upper(title) gin_trgm_ops)",
]
BACKWARD = ["DROP INDEX IF EXISTS alert_entity_trgm", "DROP INDEX IF EXISTS alert_title_trgm"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("triage", "0003_workspace")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
