"""The library pages, the admin and the lifecycle, as each role sees them."""

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from detections.models import BlindSpot, Strategy, StrategyTechnique
from detections.services.lifecycle import transition_strategy

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategy():
    strategy = Strategy.objects.create(
        title="Netcat listener in a container",
        slug="netcat-listener",
        goal="Detect **netcat** listeners. <script>alert('goal')</script> [click](javascript:alert(1))",
        tactics=["Command and Control"],
        platforms=["Linux", "Containers"],
        priority=Strategy.Priority.HIGH,
        status=Strategy.Status.REVIEW,
    )
    StrategyTechnique.objects.create(
        strategy=strategy, attack_id="T1095", name_as_written="Non-Application Layer Protocol"
    )
    BlindSpot.objects.create(strategy=strategy, order=0, text='"><img src=x onerror=alert(1)>')
    return strategy


def test_strategy_page_renders_sections_with_hostile_markdown_inert(client, analyst, strategy):
    client.force_login(analyst)
    html = client.get(strategy.get_absolute_url()).content.decode()
    assert "<strong>netcat</strong>" in html
    assert "<script>alert('goal')</script>" not in html
    assert "javascript:alert" not in html.replace("[click](javascript:alert(1))", "")  # only as inert text
    assert "<img src=x onerror" not in html
    assert "Quality report" in html


def test_library_filters_by_priority_status_tactic_and_text(client, analyst, strategy):
    Strategy.objects.create(title="Resource spikes", slug="spikes", priority="low", status="draft", tactics=["Impact"])
    client.force_login(analyst)
    url = reverse("detections:strategy_list")
    assert "Netcat listener" in client.get(url, {"priority": "high"}).content.decode()
    assert "Netcat listener" not in client.get(url, {"priority": "low"}).content.decode()
    assert "Resource spikes" in client.get(url, {"status": "draft"}).content.decode()
    assert "Resource spikes" not in client.get(url, {"tactic": "Command and Control"}).content.decode()
    assert "Netcat listener" in client.get(url, {"text": "netcat"}).content.decode()
    assert "Netcat listener" in client.get(url, {"text": "T1095"}).content.decode()
    assert "Netcat listener" in client.get(url, {"platform": "containers"}).content.decode()


def test_htmx_filter_answers_with_the_rows_partial(client, analyst, strategy):
    client.force_login(analyst)
    html = client.get(reverse("detections:strategy_list"), {"text": "netcat"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html and "Netcat listener" in html


def test_analyst_cannot_edit_strategies_in_the_admin(client, analyst, strategy):
    client.force_login(analyst)
    change_url = reverse("admin:detections_strategy_change", args=[strategy.pk])
    response = client.post(change_url, {"title": "Hijacked"})
    assert response.status_code in (302, 403)
    strategy.refresh_from_db()
    assert strategy.title == "Netcat listener in a container"
    assert "admin:detections_strategy_change" not in client.get(strategy.get_absolute_url()).content.decode()


def test_analyst_with_admin_access_sees_read_only_and_cannot_save(client, analyst, strategy):
    analyst.is_staff = True
    analyst.save()
    client.force_login(analyst)
    change_url = reverse("admin:detections_strategy_change", args=[strategy.pk])
    page = client.get(change_url).content.decode()
    assert 'name="_save"' not in page  # view permission only: a read-only form
    assert client.post(change_url, {"title": "Hijacked", "slug": "netcat-listener"}).status_code == 403
    assert Strategy.objects.get(pk=strategy.pk).title == "Netcat listener in a container"


def test_engineer_opens_the_admin_change_form_with_inlines_and_preview(client, engineer, strategy):
    client.force_login(engineer)
    response = client.get(reverse("admin:detections_strategy_change", args=[strategy.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Rendered preview" in html and "blind_spots-TOTAL_FORMS" in html


def test_lifecycle_follows_the_allowed_transitions(engineer, strategy):
    transition_strategy(strategy=strategy, to="production", user=engineer)
    assert Strategy.objects.get(pk=strategy.pk).status == "production"
    with pytest.raises(ValidationError):
        transition_strategy(strategy=strategy, to="draft", user=engineer)  # production -> draft is not allowed
    assert strategy.history.count() >= 2


def test_analyst_cannot_move_a_strategy_through_the_lifecycle(analyst, strategy):
    with pytest.raises(PermissionDenied):
        transition_strategy(strategy=strategy, to="production", user=analyst)


def test_admin_transition_button_refuses_analysts(client, strategy):
    user = User.objects.create_user("staff-viewer", password="x-pass-123", is_staff=True)
    client.force_login(user)
    response = client.post(reverse("admin:detections_strategy_transition", args=[strategy.pk]), {"to": "production"})
    assert response.status_code == 403
    assert Strategy.objects.get(pk=strategy.pk).status == "review"


def test_coverage_matrix_and_navigator_layer(client, analyst, strategy):
    client.force_login(analyst)
    assert client.get(reverse("detections:coverage")).status_code == 200
    layer = client.get(reverse("validation:navigator_layer")).json()
    assert layer["versions"]["layer"] == "4.5" and layer["domain"] == "enterprise-attack"


def test_engineer_sees_a_version_diff_and_restores_it_with_its_sections(client, engineer, seed_paths):
    from detections.services.strategies import import_strategy

    text = seed_paths[4].read_text()
    strategy = import_strategy(text=text, slug="one-way").strategy
    first_version = strategy.history.latest().history_id
    import_strategy(text=text.replace("3. **Monitor and Analyze:**", "3. **Watch:**"), slug="one-way")
    strategy.refresh_from_db()
    client.force_login(engineer)
    latest = strategy.history.latest().history_id
    diff = client.get(reverse("admin:detections_strategy_diff", args=[strategy.pk, latest])).content.decode()
    assert "Watch" in diff and "Monitor and Analyze" in diff
    response = client.post(reverse("admin:detections_strategy_restore", args=[strategy.pk, first_version]))
    assert response.status_code == 302
    steps = [s.text for sc in strategy.validation_scenarios.all() for s in sc.steps.all()]
    assert any("Monitor and Analyze" in step for step in steps)


def test_coverage_lists_uncovered_tactics_once_as_gaps_and_draws_only_covered_ones(
    client, analyst, attack_catalogue, seed_paths
):
    from detections.services.strategies import import_strategy

    import_strategy(text=seed_paths[0].read_text(), slug="covered")
    client.force_login(analyst)
    response = client.get(reverse("detections:coverage"))
    covered = [c.tactic.name for c in response.context["columns"] if c.cells]
    uncovered = [c.tactic.name for c in response.context["columns"] if not c.cells]
    assert covered and uncovered
    gaps, matrix = response.content.decode().split('<div class="matrix">')
    assert all(f'<span class="badge gap">{name}</span>' in gaps for name in uncovered)
    assert all(f"<h3>{name} <span" in matrix for name in covered)
    assert not any(f"<h3>{name} " in matrix for name in uncovered)
