"""On PostgreSQL, drop the btree index on Event.time: the BRIN index (0002) serves time ranges there.

Events are stored in arrival order, so a BRIN summary of `time` finds a time range's
pages for a few pages of index, while the btree costs ~2 us of every event's insert
(~6% of the database's ingest work). The planner already picks the BRIN index (or
`event_source_time` when sources are named) for the time-range reads: the analytics'
`load_events`, retro-hunts, and retention purges; the btree was redundant there.

The index stays in the model state (Event.Meta.indexes) on purpose: SQLite, which has
no BRIN, keeps it, and SQLite's table remakes recreate only indexes in the model
state. A later migration that removes it is safe on PostgreSQL (Django drops indexes
IF EXISTS); one that renames it must skip PostgreSQL, as this one does.
"""

from django.db import migrations, models

INDEX = models.Index(fields=["time"], name="event_time")


def drop_btree(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.remove_index(apps.get_model("telemetry", "Event"), INDEX)


def restore_btree(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.add_index(apps.get_model("telemetry", "Event"), INDEX)


class Migration(migrations.Migration):
    dependencies = [("telemetry", "0003_event_source_no_separate_index")]

    operations = [migrations.RunPython(drop_btree, restore_btree, elidable=False)]
