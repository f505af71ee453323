"""The project's own strategy library passes its own quality check against ATT&CK."""

import pytest
from django.core.management import call_command

from detections.models import Strategy
from detections.services.quality import lint_strategy

AGREEMENT_CODES = {"technique-name-mismatch", "tactic-mismatch", "platform-mismatch"}


@pytest.mark.django_db
def test_library_strategies_have_no_errors_and_agree_with_attack(attack_catalogue):
    call_command("load_library", verbosity=0)
    library = Strategy.objects.exclude(source_path="").filter(source_path__contains="library")
    assert library.count() == 5
    for strategy in library:
        findings = lint_strategy(strategy)
        assert [f for f in findings if f.severity == "error"] == [], strategy.slug
        assert [f.message for f in findings if f.code in AGREEMENT_CODES] == [], strategy.slug
        assert strategy.rules.exists(), f"{strategy.slug} has no linked detection rule"
