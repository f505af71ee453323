"""Suggest ATT&CK techniques for a strategy: TF-IDF over technique names and descriptions, cosine similarity.

Plain Python on purpose: ~700 live techniques and one document at a time need no NumPy or scikit-learn.
Technique vectors are built once per process and kept until the catalogue changes (`load_attack` calls
`forget_technique_vectors`; another process notices a reload through the (count, max id) key).
The suggestions are hints for a detection engineer, not a classifier: the reason names the shared terms.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Max

from detections.models import Strategy, Technique

_CITATION = re.compile(r"\(Citation:[^)]*\)")
_MARKUP = re.compile(r"<[^>]+>|\[([^\]]*)\]\([^)]*\)")
_WORD = re.compile(r"[a-z][a-z0-9]+")
# English function words plus the boilerplate every ATT&CK description shares ("Adversaries may ...").
_STOPWORDS = frozenset(
    """
    a about above after again against all also an and any are as at be been before being below between both but by
    can could did do does doing down during each either etc few for from further had has have having he her here how
    however i if in into is it its itself just may might more most much must no nor not now of off often on once
    only or other others our out over own same several should since so some such than that the their them then there
    these they this those through thus to too under until up upon us very via was we were what when where whether
    which while who whom why will with within without would you your adversary adversaries attacker attackers use
    used uses using usage include includes including e g eg ie example instance case cases order able allow allows
    leverage leveraging abuse abused potentially various common commonly
    """.split()  # noqa: SIM905 (one word list reads better than 150 quoted lines)
)

# Words about detection work itself: every ADS document uses them, and they say nothing of the behaviour.
_ADS_WORDS = frozenset(
    """
    detect detects detected detecting detection detections monitor monitors monitored monitoring security alert
    alerts alerting strategy strategies analyst analysts activity activities behavior behaviors behaviour behaviours
    anomaly anomalies anomalous unusual suspicious malicious legitimate tool tools traditional potential indicate
    indicative identify environment environments
    """.split()  # noqa: SIM905 (one word list reads better than 150 quoted lines)
)
_NAME_WEIGHT = 3  # a technique's name says more than any sentence of its description


def _stem(word: str) -> str:
    """A small suffix stripper: enough to meet 'containers', 'containerized' and 'container' in one term."""
    for suffix in ("izations", "ization", "izing", "ized", "ments", "ment", "ings", "ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    else:
        if word.endswith("ies") and len(word) > 5:
            word = word[:-3] + "y"
        elif word.endswith(("sses", "xes", "ches", "shes")):
            word = word[:-2]
        elif word.endswith("s") and not word.endswith("ss") and len(word) > 3:
            word = word[:-1]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _words(text: str) -> list[str]:
    text = _MARKUP.sub(r" \1 ", _CITATION.sub(" ", text or "")).lower()
    return [w for w in _WORD.findall(text) if w not in _STOPWORDS and w not in _ADS_WORDS]


def terms(text: str) -> list[str]:
    return [_stem(w) for w in _words(text)]


@dataclass(frozen=True)
class Suggestion:
    technique: Technique
    score: float  # cosine similarity, 0..1
    reason: str


@dataclass(frozen=True)
class _TechniqueVectors:
    key: tuple[int, int]
    idf: dict[str, float]
    vectors: dict[int, dict[str, float]]  # technique id -> unit tf-idf vector (live techniques only)


_cache: _TechniqueVectors | None = None


def forget_technique_vectors() -> None:
    global _cache
    _cache = None


def _weighted_tf(counts: Counter) -> dict[str, float]:
    return {term: 1.0 + math.log(n) for term, n in counts.items()}


def _unit(vector: dict[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


def _technique_vectors() -> _TechniqueVectors:
    global _cache
    live = Technique.objects.filter(is_revoked=False, is_deprecated=False)
    stats = live.aggregate(n=Count("id"), last=Max("id"))
    key = (stats["n"], stats["last"] or 0)
    if _cache is not None and _cache.key == key:
        return _cache
    term_counts: dict[int, Counter] = {}
    for pk, name, description in live.values_list("id", "name", "description"):
        counts = Counter(terms(description))
        for term in terms(name):
            counts[term] += _NAME_WEIGHT
        term_counts[pk] = counts
    documents = len(term_counts)
    frequency = Counter(term for counts in term_counts.values() for term in counts)
    idf = {term: math.log((1 + documents) / (1 + df)) + 1.0 for term, df in frequency.items()}
    vectors = {
        pk: _unit({t: w * idf[t] for t, w in _weighted_tf(counts).items()}) for pk, counts in term_counts.items()
    }
    _cache = _TechniqueVectors(key=key, idf=idf, vectors=vectors)
    return _cache


def strategy_text(strategy: Strategy) -> str:
    """What the document says it detects: title, goal (twice: it is the summary), abstract, context, validation."""
    parts = [
        strategy.title,
        strategy.goal,
        strategy.goal,
        strategy.strategy_abstract,
        strategy.technical_context,
        strategy.validation_intro,
        " ".join(str(source) for source in strategy.data_sources or []),
    ]
    if strategy.pk:
        for scenario in strategy.validation_scenarios.all():
            parts += [scenario.name, scenario.description, *(step.text for step in scenario.steps.all())]
    return "\n".join(p for p in parts if p)


def score_techniques(strategy: Strategy) -> list[tuple[int, float, list[str]]]:
    """(technique id, cosine score, strongest shared terms) for every live technique, best first."""
    cache = _technique_vectors()
    words = _words(strategy_text(strategy))
    spelled = {}  # stem -> the document's own word, so reasons read "container", not "contain"
    for word in sorted(words, key=len):
        spelled.setdefault(_stem(word), word)
    query = _unit({t: w * cache.idf[t] for t, w in _weighted_tf(Counter(map(_stem, words))).items() if t in cache.idf})
    scored = []
    for pk, vector in cache.vectors.items():
        shared = {t: query[t] * vector[t] for t in query.keys() & vector.keys()}
        if shared:
            top_terms = [spelled[t] for t in sorted(shared, key=shared.get, reverse=True)[:4]]
            scored.append((pk, sum(shared.values()), top_terms))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored


def suggest_techniques(strategy: Strategy, limit: int = 5) -> list[Suggestion]:
    """The live techniques whose ATT&CK text is nearest the document's, minus those it already maps."""
    mapped_ids = set()
    mapped_attack_ids = set()
    if strategy.pk:
        for mapping in strategy.technique_mappings.all():
            mapped_attack_ids.add(mapping.attack_id.strip().upper())
            if mapping.technique_id:
                mapped_ids.add(mapping.technique_id)
    ranked = []
    for pk, score, shared in score_techniques(strategy):
        if pk not in mapped_ids:
            ranked.append((pk, score, shared))
        if len(ranked) >= limit + len(mapped_attack_ids):
            break
    techniques = Technique.objects.in_bulk([pk for pk, _, _ in ranked])
    suggestions = [
        Suggestion(technique=techniques[pk], score=round(score, 3), reason="shared terms: " + ", ".join(shared))
        for pk, score, shared in ranked
        if techniques[pk].attack_id not in mapped_attack_ids
    ]
    return suggestions[:limit]
