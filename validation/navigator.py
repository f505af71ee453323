"""ATT&CK Navigator layers (layer format 4.5) scored by validation results.

Score per technique: 100 when a strategy mapping it passed its last validation,
50 when its last validation failed, 10 when it is documented but not validated.
"""

from detections.models import Strategy
from detections.selectors import latest_validation_statuses

SCORES = {"validated": 100, "failing": 50, "documented": 10}
COLORS = {"validated": "#31a354", "failing": "#e6550d", "documented": "#fdd835"}


def build_navigator_layer(*, strategies, name: str = "ADS Portal coverage", attack_version: str = "18") -> dict:
    by_technique: dict[str, dict] = {}
    strategies = list(strategies)
    status_of = latest_validation_statuses(strategies)
    for strategy in strategies:
        status = status_of[strategy.pk]
        for mapping in strategy.technique_mappings.all():
            if mapping.technique_id is None:
                continue  # not in ATT&CK: the lint report flags it; Navigator would reject it
            entry = by_technique.setdefault(mapping.attack_id, {"statuses": [], "strategies": []})
            entry["statuses"].append(status)
            entry["strategies"].append(f"{strategy.title} ({status})")
    techniques = []
    for attack_id, entry in sorted(by_technique.items()):
        best = max(entry["statuses"], key=SCORES.get)
        techniques.append(
            {
                "techniqueID": attack_id,
                "score": SCORES[best],
                "color": COLORS[best],
                "comment": "; ".join(entry["strategies"]),
                "enabled": True,
                "showSubtechniques": False,
                "metadata": [{"name": "strategy", "value": s} for s in entry["strategies"]],
            }
        )
    return {
        "name": name,
        "versions": {"attack": attack_version, "navigator": "5.1.0", "layer": "4.5"},
        "domain": "enterprise-attack",
        "description": "Techniques covered by ADS Portal strategies, scored by validation.",
        "sorting": 3,
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#fdd835", "#e6550d", "#31a354"], "minValue": 0, "maxValue": 100},
        "legendItems": [
            {"label": "validated", "color": COLORS["validated"]},
            {"label": "validation failing", "color": COLORS["failing"]},
            {"label": "documented only", "color": COLORS["documented"]},
        ],
        "showTacticRowBackground": False,
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
    }


def navigator_layer_for(slugs: list[str] | None = None) -> dict:
    strategies = Strategy.objects.exclude(status=Strategy.Status.RETIRED).prefetch_related("technique_mappings")
    if slugs:
        strategies = strategies.filter(slug__in=slugs)
    return build_navigator_layer(strategies=strategies)
