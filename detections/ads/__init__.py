"""The ADS markdown format: a pure parser and renderer, with no Django in them.

`parse_ads` turns an Alerting & Detection Strategy document (Palantir's framework, and the
looser variants people write) into a `ParsedStrategy`; `render_markdown` writes one back in
the canonical layout. Storing strategies is `detections.services.strategies`' job.
"""

from .parser import (
    AdsParseError,
    ParsedStrategy,
    ParseWarning,
    ResourceRef,
    ScenarioDraft,
    SectionDraft,
    TechniqueRef,
    decode_document,
    parse_ads,
)
from .render import build_export_dict, render_markdown

__all__ = [
    "AdsParseError",
    "ParseWarning",
    "ParsedStrategy",
    "ResourceRef",
    "ScenarioDraft",
    "SectionDraft",
    "TechniqueRef",
    "build_export_dict",
    "decode_document",
    "parse_ads",
    "render_markdown",
]
