"""Suppress similar, from a false positive: prefilled from the alert, previewed, held to the policy, audited, effective.

Issue 14: "a suppression prefilled from the alert's entity and matched fields, with reason, owner
and expiry, showing how many past alerts it would have suppressed before it is saved."
"""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from tests.api.conftest import make_alert
from tests.detections.pipeline_factories import T0, make_match
from triage.forms import prefilled_conditions
from triage.models import Alert, Suppression
from triage.selectors import alert_evidence
from triage.services import raise_alerts

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alert(rule, strategy):
    return make_alert(rule=rule, strategy=strategy, entity="default/web-1", matches=3)


def form(**values):
    """The form as the page posts it: entity and verb chosen, rule scope, seven days."""
    posted = {
        "cond_field": ["entity", "verb"],
        "cond_value": ["default/web-1", "create"],
        "cond_origin": ["entity", "matched"],
        "cond_use": ["0", "1"],
        "scope": "rule",
        "expires_in_days": "7",
        "reason": "the lab's web pod: engineers exec into it all day",
        "name": "",
        "close_as": "",
        "step": "preview",
    }
    posted.update(values)
    return posted


def post(client, alert, data, **headers):
    return client.post(reverse("triage:alert_suppress", args=[alert.pk]), data, **headers)


def previewed_token(response) -> str:
    found = re.search(r'name="previewed" value="([0-9a-f]*)"', response.content.decode())
    assert found, "the form carries the previewed conditions"
    return found.group(1)


def preview_then_save(client, alert, **values):
    preview = post(client, alert, form(**values), **HTMX)
    assert preview.status_code == 200, preview.content.decode()[:1500]
    return post(client, alert, form(**values, step="save", previewed=previewed_token(preview)), **HTMX)


def test_the_form_is_prefilled_from_the_entity_and_the_matched_fields(client, analyst, alert):
    rows = prefilled_conditions(alert, alert_evidence(alert))
    assert [(r.field, r.value, r.chosen, r.origin) for r in rows] == [
        ("entity", "default/web-1", True, "entity"),
        ("verb", "create", True, "matched"),  # three matches, one distinct value
    ]
    client.force_login(analyst)
    html = client.get(alert.get_absolute_url()).content.decode()
    assert 'id="suppress-similar"' in html and "Suppress similar…" in html
    assert 'name="cond_field" value="entity"' in html and 'name="cond_value" value="default/web-1"' in html
    assert 'name="cond_field" value="verb"' in html and 'name="cond_value" value="create"' in html
    assert re.search(r'name="scope" value="rule" checked', html)
    assert 'name="expires_in_days" value="7"' in html
    assert re.search(r'value="save" data-save disabled', html), "Save waits for a preview"


def test_prefilled_values_are_exact_even_with_glob_characters_and_vague_ones_are_not_chosen(rule):
    alert = make_alert(rule=rule, entity="default/job-[1]*")
    alert.evidence.first().match.__class__.objects.filter(pk=alert.evidence.first().match_id).update(
        fields={"verb": "create", "flag": "x"}
    )
    rows = {(r.field, r.value): r.chosen for r in prefilled_conditions(alert, alert_evidence(alert))}
    assert rows == {("entity", "default/job-[[]1][*]"): True, ("verb", "create"): True, ("flag", "x"): False}


def test_the_preview_counts_what_the_suppression_then_suppresses(client, analyst, rule, strategy, alert):
    make_alert(rule=rule, strategy=strategy, entity="default/web-2", matches=2)  # another pod: not similar
    later = T0 + timedelta(hours=2)
    pending = [
        make_match(rule=rule, time=later, entity="default/web-1", fields={"verb": "create"}),
        make_match(rule=rule, time=later + timedelta(minutes=1), entity="default/web-1", fields={"verb": "create"}),
        make_match(rule=rule, time=later, entity="default/web-2", fields={"verb": "create"}),
    ]
    client.force_login(analyst)
    preview = post(client, alert, form(), **HTMX)
    html = preview.content.decode()
    assert preview.status_code == 200
    # The alert's own 3 matches and the 2 pending ones on web-1; not web-2's.
    assert "<strong>5</strong> past matches in <strong>1</strong> alert would have been suppressed" in html
    assert "2 of them raised no alert" in html
    assert f'href="{alert.get_absolute_url()}"' in html and "this alert" in html
    saved = post(client, alert, form(step="save", previewed=previewed_token(preview)), **HTMX)
    assert saved.status_code == 200
    outcome = raise_alerts(matches=pending)
    # What the preview counted is what the suppression hides: 3 already shown as this alert's evidence + 2 now.
    assert (outcome.suppressed, alert.evidence.count()) == (2, 3)
    assert outcome.suppressed + alert.evidence.count() == 5
    assert Alert.objects.filter(entity="default/web-2").count() == 2  # the old alert, and a new one


def test_save_needs_a_preview_of_the_same_conditions(client, analyst, alert):
    client.force_login(analyst)
    unseen = post(client, alert, form(step="save"), **HTMX)
    assert unseen.status_code == 422
    assert "have not been previewed" in unseen.content.decode()
    assert not Suppression.objects.exists()
    preview = post(client, alert, form(), **HTMX)
    changed = form(step="save", previewed=previewed_token(preview), cond_value=["default/web-*", "create"])
    assert post(client, alert, changed, **HTMX).status_code == 422  # widened after the preview
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"expires_in_days": "60"}, "at most 30 days from now for an analyst"),
        ({"cond_value": ["d*", "create"], "cond_use": ["0"]}, "would blind detection"),
        ({"cond_use": []}, "Choose at least one condition"),
        ({"cond_field": ["entity", "<b>bad</b>"], "cond_use": ["1"]}, "is not a field name"),
    ],
)
def test_a_refusal_is_422_with_the_reason_in_the_form_and_saves_nothing(client, analyst, alert, values, reason):
    client.force_login(analyst)
    for step in ("preview", "save"):
        answer = post(client, alert, form(**values, step=step, previewed="0" * 24, close_as="false_positive"), **HTMX)
        html = answer.content.decode()
        assert answer.status_code == 422 and reason in html, html[:2000]
        assert html.lstrip().startswith('<section id="suppress-similar"'), "the form's own target, swapped"
        assert re.search(r'value="save" data-save disabled', html)
    assert not Suppression.objects.exists()
    alert.refresh_from_db()
    assert alert.status == "new"  # closing in the same step did not happen either


def test_an_analyst_cannot_suppress_more_than_fifty_past_matches(client, analyst, engineer, rule, strategy):
    busy = make_alert(rule=rule, strategy=strategy, entity="default/web-1", matches=51)
    client.force_login(analyst)
    refused = post(client, busy, form(), **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 422 and "would hide 51 past matches; needs a detection engineer" in html
    assert "<strong>51</strong> past matches" in html  # the impact is still shown
    client.force_login(engineer)
    assert preview_then_save(client, busy).status_code == 200
    assert Suppression.objects.get().owner == engineer


def test_the_saved_suppression_has_owner_expiry_reason_scope_and_audit_and_shows_on_the_timeline(
    client, analyst, alert, rule
):
    client.force_login(analyst)
    before = timezone.now()
    answer = preview_then_save(client, alert)
    assert answer.status_code == 200
    suppression = Suppression.objects.get()
    assert suppression.owner == analyst and suppression.updated_by == analyst
    assert suppression.reason == "the lab's web pod: engineers exec into it all day"
    assert suppression.rule == rule and suppression.strategy is None
    assert suppression.conditions == {"entity": "default/web-1", "verb": "create"}
    assert before + timedelta(days=7) <= suppression.expires_at <= timezone.now() + timedelta(days=7)
    assert suppression.name == f"Similar to alert #{alert.pk}: {alert.title}"
    created = AuditEntry.objects.get(action="suppression.create", object_id=str(suppression.pk))
    assert created.actor == analyst and created.changes["conditions"][1] == suppression.conditions
    on_alert = AuditEntry.objects.get(action="alert.suppress_similar", object_id=str(alert.pk))
    assert on_alert.actor == analyst and "entity = default/web-1" in on_alert.note
    html = answer.content.decode()
    assert "Saved <strong>" in html and 'id="timeline" class="card timeline" hx-swap-oob="true"' in html
    assert "alert.suppress_similar" in html
    assert "alert.suppress_similar" in client.get(alert.get_absolute_url()).content.decode()


def test_a_later_matching_event_is_suppressed_and_others_still_alert(client, analyst, alert, rule):
    client.force_login(analyst)
    preview_then_save(client, alert)
    later = T0 + timedelta(days=1)
    same = make_match(rule=rule, time=later, entity="default/web-1", fields={"verb": "create"})
    other = make_match(rule=rule, time=later, entity="default/api-1", fields={"verb": "create"})
    outcome = raise_alerts(matches=[same, other])
    assert (outcome.suppressed, outcome.created) == (1, 1)
    assert Suppression.objects.get().hits.get().match == same


def test_close_as_false_positive_and_suppress_in_one_step(client, analyst, alert):
    client.force_login(analyst)
    answer = preview_then_save(client, alert, close_as="false_positive")
    alert.refresh_from_db()
    assert (alert.status, alert.disposition, alert.closed_by) == ("closed", "false_positive", analyst)
    assert alert.close_reason == "the lab's web pod: engineers exec into it all day"
    assert 'id="alert-header"' in answer.content.decode()  # the header shows the verdict at once


def test_closing_as_false_positive_opens_the_prefilled_suppress_form(client, analyst, alert):
    client.force_login(analyst)
    answer = client.post(
        reverse("triage:alert_transition", args=[alert.pk]),
        {"to": "closed", "disposition": "false_positive", "reason": "lab pod"},
        **HTMX,
    )
    html = answer.content.decode()
    assert answer.status_code == 200
    assert '<section id="suppress-similar" class="card suppress" hx-swap-oob="true">\n<details open>' in html
    assert 'name="cond_value" value="default/web-1"' in html
    other = make_alert(rule=alert.rule, entity="default/web-9")
    tp = client.post(
        reverse("triage:alert_transition", args=[other.pk]),
        {"to": "closed", "disposition": "true_positive", "reason": "real"},
        **HTMX,
    )
    assert 'id="suppress-similar"' not in tp.content.decode()


def test_without_htmx_the_form_works_on_the_whole_page(client, analyst, alert):
    client.force_login(analyst)
    preview = post(client, alert, form())
    assert preview.status_code == 200 and "<strong>3</strong> past matches" in preview.content.decode()
    assert "<html" in preview.content.decode()
    saved = post(client, alert, form(step="save", previewed=previewed_token(preview)))
    assert saved.status_code == 302 and saved["Location"] == alert.get_absolute_url()
    assert Suppression.objects.count() == 1


def test_a_user_without_a_triage_role_cannot_suppress(client, django_user_model, alert):
    outsider = django_user_model.objects.create_user("visitor", password="x-12345678")
    client.force_login(outsider)
    assert post(client, alert, form()).status_code == 403
    assert not Suppression.objects.exists()
