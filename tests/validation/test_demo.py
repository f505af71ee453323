"""`make demo`, step by step: attacks hidden in background traffic raise alerts for every strategy, and every
strategy still validates on that live database (its replays collide with the very captures the demo stored)."""

import pytest
from django.core.management import call_command

from detections.models import Strategy
from telemetry.models import Event
from triage.models import Alert
from validation.models import ValidationRun


# Real commits, as in `make demo`: each batch is detected when it commits, before the windowed analytics.
@pytest.mark.django_db(transaction=True)
def test_make_demo_raises_alerts_for_every_strategy_validates_them_all_and_reloads_without_duplicates(capsys):
    call_command("load_attack", verbosity=0)
    call_command("load_library", verbosity=0)
    call_command("load_demo_telemetry")
    events, alerts = Event.objects.count(), Alert.objects.count()
    assert events > 5000
    alerted = set(Alert.objects.values_list("strategy__slug", flat=True))
    assert alerted == set(Strategy.objects.values_list("slug", flat=True))

    call_command("validate_strategies", "--no-load")  # exits 1 on any failed scenario
    runs = ValidationRun.objects.order_by("strategy__slug")
    assert [(r.strategy.slug, r.status) for r in runs] == [
        (slug, ValidationRun.Status.PASSED) for slug in Strategy.objects.order_by("slug").values_list("slug", flat=True)
    ]
    assert "5/5 strategies validated" in capsys.readouterr().out
    assert (Event.objects.count(), Alert.objects.count()) == (events, alerts)  # replays left nothing behind

    call_command("load_demo_telemetry")
    assert (Event.objects.count(), Alert.objects.count()) == (events, alerts)
