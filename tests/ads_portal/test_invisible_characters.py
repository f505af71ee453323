"""Bidi overrides and other invisible format characters are shown, not obeyed, in our HTML pages.

Issue 13, item 8: U+202E in a document or in telemetry reached the page as-is and reordered
what the analyst reads ("Trojan source" spoofing). Pages show each such character as a visible
marker like ⟨U+202E⟩; the API keeps the data exactly as stored.
"""

import pytest
from rest_framework.test import APIClient

from detections.models import Strategy

pytestmark = pytest.mark.django_db

SPOOFED_TITLE = "Exec into pod \u202egnp.exe\u202c via\u200b kubectl\u2067x\u2069 \u200f\ufeff\U000e0041"
MARKED_TITLE = (
    "Exec into pod \u27e8U+202E\u27e9gnp.exe\u27e8U+202C\u27e9 via\u27e8U+200B\u27e9 kubectl"
    "\u27e8U+2067\u27e9x\u27e8U+2069\u27e9 \u27e8U+200F\u27e9\u27e8U+FEFF\u27e9\u27e8U+E0041\u27e9"
)


def test_a_strategy_page_shows_invisible_characters_as_markers(client, analyst):
    strategy = Strategy.objects.create(title=SPOOFED_TITLE, slug="spoofed", goal="Goal \u202ereversed\u202c.")
    client.force_login(analyst)
    html = client.get(strategy.get_absolute_url()).content.decode()
    assert MARKED_TITLE in html
    assert "Goal \u27e8U+202E\u27e9reversed\u27e8U+202C\u27e9." in html
    assert not any(c in html for c in "\u202e\u202c\u200b\u2067\u2069\u200f\ufeff\U000e0041")


def test_the_api_returns_the_stored_text_unchanged(analyst):
    Strategy.objects.create(title=SPOOFED_TITLE, slug="spoofed")
    api = APIClient()
    api.force_authenticate(analyst)
    assert api.get("/api/v1/strategies/spoofed/").json()["title"] == SPOOFED_TITLE
