"""`make demo`'s telemetry: attacks hidden in background traffic raise alerts for every strategy."""

import pytest
from django.core.management import call_command

from detections.models import Strategy
from telemetry.models import Event
from triage.models import Alert


# Real commits, as in `make demo`: each batch is detected when it commits, before the windowed analytics.
@pytest.mark.django_db(transaction=True)
def test_demo_telemetry_raises_alerts_for_every_strategy_and_reloads_without_duplicates():
    call_command("load_library", verbosity=0)
    call_command("load_demo_telemetry")
    events, alerts = Event.objects.count(), Alert.objects.count()
    assert events > 5000
    alerted = set(Alert.objects.values_list("strategy__slug", flat=True))
    assert alerted == set(Strategy.objects.values_list("slug", flat=True))
    call_command("load_demo_telemetry")
    assert (Event.objects.count(), Alert.objects.count()) == (events, alerts)
