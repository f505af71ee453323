"""A BRIN index on Event.time, on PostgreSQL only.

Events arrive roughly in time order, so a BRIN index (a few pages for millions of
rows) serves time-range scans and retention purges at almost no insert cost. It is
kept out of the model state on purpose: SQLite has no BRIN, and an index in the
model state would be recreated by SQLite's table remakes. The btree indexes in
Event.Meta stay for every database.
"""

from django.contrib.postgres.indexes import BrinIndex
from django.db import migrations

INDEX = BrinIndex(fields=["time"], name="event_time_brin", autosummarize=True)


def add_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("telemetry", "Event"), INDEX)


def remove_brin(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("telemetry", "Event"), INDEX)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0001_initial")]

    operations = [migrations.RunPython(add_brin, remove_brin, elidable=False)]
