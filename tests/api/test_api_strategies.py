"""Strategies over the API: list and filters, the JSON export, import, markdown, quality, lifecycle."""

from __future__ import annotations

import json

import pytest

from detections.models import Strategy
from detections.services.strategies import export_strategy_json, import_strategy
from tests.api.conftest import SEED_DOCUMENT

BAD_DOCUMENT = SEED_DOCUMENT.read_text().replace("T1095 - Non", "T10955 - Non")  # line 7


@pytest.mark.django_db
def test_list_filters_by_status_priority_and_text(analyst_api, strategy):
    other = import_strategy(text=SEED_DOCUMENT.read_text(), slug="other-c2").strategy
    Strategy.objects.filter(pk=other.pk).update(status=Strategy.Status.PRODUCTION)

    def slugs(query):
        response = analyst_api.get(f"/api/v1/strategies/{query}")
        assert response.status_code == 200
        return [row["slug"] for row in response.json()["results"]]

    assert slugs("") == ["container-c2", "other-c2"]
    assert slugs("?status=production") == ["other-c2"]
    assert slugs(f"?priority={strategy.priority}&status=draft") == ["container-c2"]
    assert slugs("?text=T1095") == ["container-c2", "other-c2"]
    assert slugs("?text=no-such-words") == []
    assert slugs("?tactic=Command and Control") == ["container-c2", "other-c2"]


@pytest.mark.django_db
def test_a_strategy_is_its_json_export(analyst_api, strategy):
    response = analyst_api.get("/api/v1/strategies/container-c2/")
    assert response.status_code == 200
    body = response.json()
    assert body == json.loads(json.dumps(export_strategy_json(strategy)))
    assert body["slug"] == "container-c2"
    assert body["attack"][0]["id"] == "T1095"


@pytest.mark.django_db
def test_an_unknown_strategy_is_a_json_404(analyst_api):
    response = analyst_api.get("/api/v1/strategies/nope/")
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.django_db
def test_import_of_a_markdown_body_creates_then_updates_without_duplicating(engineer_api):
    text = SEED_DOCUMENT.read_text()
    first = engineer_api.post("/api/v1/strategies/import/", text, content_type="text/markdown")
    assert first.status_code == 201, first.content
    slug = first.json()["strategy"]["slug"]
    again = engineer_api.post("/api/v1/strategies/import/", {"markdown": text, "slug": slug}, format="json")
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert Strategy.objects.filter(slug=slug).count() == 1


@pytest.mark.django_db
def test_import_of_a_bad_document_answers_400_with_the_line_and_stores_nothing(engineer_api, strategy):
    before = Strategy.objects.get(pk=strategy.pk).source_markdown
    for request in (
        {"data": BAD_DOCUMENT, "content_type": "text/markdown"},
        {"data": {"markdown": BAD_DOCUMENT}, "format": "json"},
        {"data": {"markdown": BAD_DOCUMENT, "slug": "container-c2"}, "format": "json"},
    ):
        response = engineer_api.post("/api/v1/strategies/import/", **request)
        assert response.status_code == 400
        body = response.json()
        assert body["line"] == 7
        assert "T10955" in body["detail"]
    assert Strategy.objects.count() == 1
    assert Strategy.objects.get(pk=strategy.pk).source_markdown == before


@pytest.mark.django_db
def test_import_without_markdown_is_a_400_naming_the_field(engineer_api):
    response = engineer_api.post("/api/v1/strategies/import/", {}, format="json")
    assert response.status_code == 400
    assert "markdown" in response.json()["detail"]


@pytest.mark.django_db
def test_markdown_export_is_text_markdown_that_imports_back_to_the_same_strategy(engineer_api, strategy):
    response = engineer_api.get("/api/v1/strategies/container-c2/markdown/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    exported = export_strategy_json(strategy)
    again = engineer_api.post("/api/v1/strategies/import/", response.content, content_type="text/markdown")
    assert again.status_code == 200
    assert {k: v for k, v in again.json()["strategy"].items() if k != "updated_at"} == {
        k: v for k, v in exported.items() if k != "updated_at"
    }


@pytest.mark.django_db
def test_markdown_export_errors_are_json(analyst_api):
    response = analyst_api.get("/api/v1/strategies/nope/markdown/", HTTP_ACCEPT="text/markdown")
    assert response.status_code == 404
    assert response.json()["detail"]


@pytest.mark.django_db
def test_quality_report_lists_findings_and_suggestions(analyst_api, strategy):
    response = analyst_api.get("/api/v1/strategies/container-c2/quality/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"has_errors", "findings", "suggestions"}
    assert body["findings"], "the seed maps T1095 without a catalogue: the lint has something to say"
    assert set(body["findings"][0]) == {"severity", "code", "section", "message", "suggestion"}


@pytest.mark.django_db
def test_transition_follows_the_lifecycle_and_refuses_illegal_moves(engineer_api, strategy):
    path = "/api/v1/strategies/container-c2/transition/"
    refused = engineer_api.post(path, {"to": "production"}, format="json")
    assert refused.status_code == 400
    assert "not to production" in refused.json()["detail"]
    assert engineer_api.post(path, {"to": "review"}, format="json").json()["status"] == "review"
    assert engineer_api.post(path, {"to": "production"}, format="json").status_code == 200
    strategy.refresh_from_db()
    assert strategy.status == Strategy.Status.PRODUCTION


@pytest.mark.django_db
def test_transition_to_an_unknown_status_is_a_400(engineer_api, strategy):
    response = engineer_api.post("/api/v1/strategies/container-c2/transition/", {"to": "live"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("to:")
