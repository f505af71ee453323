"""The OpenAPI document: served at /api/schema/, valid, generated without warnings, listing every endpoint."""

from __future__ import annotations

import pytest
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

PATHS = [
    "/api/v1/strategies/",
    "/api/v1/strategies/{slug}/",
    "/api/v1/strategies/import/",
    "/api/v1/strategies/{slug}/markdown/",
    "/api/v1/strategies/{slug}/quality/",
    "/api/v1/strategies/{slug}/transition/",
    "/api/v1/rules/",
    "/api/v1/rules/{id}/",
    "/api/v1/rules/{id}/retro-hunt/",
    "/api/v1/runs/",
    "/api/v1/runs/{id}/",
    "/api/v1/alerts/",
    "/api/v1/alerts/{id}/",
    "/api/v1/suppressions/",
    "/api/v1/suppressions/{id}/",
    "/api/v1/suppressions/preview/",
    "/api/v1/ingest/{source}/",
]


@pytest.mark.django_db
def test_schema_endpoint_serves_a_valid_document_listing_the_api(analyst_api):
    response = analyst_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document = response.json()
    validate_schema(document)  # drf-spectacular's bundled OpenAPI 3 JSON schema
    assert set(PATHS) <= set(document["paths"])
    try:
        from openapi_spec_validator import validate
    except ImportError:
        pass  # not a dependency of the project; drf-spectacular's validation above is the check
    else:
        validate(document)


def test_schema_generates_without_warnings():
    GENERATOR_STATS.reset()
    SchemaGenerator().get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)


def test_custom_actions_document_their_bodies_and_answers():
    document = SchemaGenerator().get_schema(request=None, public=True)
    paths = document["paths"]
    assert "text/markdown" in paths["/api/v1/strategies/import/"]["post"]["requestBody"]["content"]
    assert "text/markdown" in paths["/api/v1/strategies/{slug}/markdown/"]["get"]["responses"]["200"]["content"]
    assert "202" in paths["/api/v1/rules/{id}/retro-hunt/"]["post"]["responses"]
    assert "400" in paths["/api/v1/alerts/{id}/"]["patch"]["responses"]
