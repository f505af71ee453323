"""Parse an ADS markdown document into a `ParsedStrategy` (plain dataclasses, no Django).

What it reads: Palantir's Alerting & Detection Strategy layout (`#` or `##` section headings
under an optional title, "Alert Priority", extra sections such as Environments and Tooling,
categorization written as ATT&CK links) and the looser variants found in practice: bold
headings, "Priority: High" / "Severity: High" / "**High**: reason", numbered or bulleted steps
with nested bullets and code blocks, one `###` sub-section per validation scenario, trailing
`---` and closing paragraphs. Unknown sections are kept as extra sections, never dropped.

What it is not: a general markdown renderer. Text is kept as written (code blocks verbatim);
only sub-heading levels are normalised so that a section's own sub-headings are `###`.

Fatal problems (not an ADS document, binary content, a duplicated section heading, a technique
id that is not an id, a resource link that is not http(s) or relative) raise `AdsParseError(message, line)`; everything else becomes a
`ParseWarning(line, message)`. Line numbers are 1-based and count an optional front matter.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from detections.links import is_safe_url, unsafe_url_reason

PRIORITIES = ("low", "medium", "high", "critical")
DEFAULT_SCENARIO_NAME = "Adversary emulation"
PREAMBLE_HEADING = "Introduction"

# Section keys in the canonical order, with the heading the renderer writes.
SECTION_HEADINGS = {
    "goal": "Goal",
    "categorization": "Categorization",
    "strategy_abstract": "Strategy Abstract",
    "technical_context": "Technical Context",
    "blind_spots": "Blind Spots and Assumptions",
    "false_positives": "False Positives",
    "validation": "Validation (Adversary Emulation)",
    "priority": "Priority",
    "response": "Response",
    "resources": "Additional Resources",
}

# Normalised heading text -> section key. "platforms" is Palantir's own section; it fills
# `platforms` like the Categorization bullet does.
SECTION_ALIASES = {
    "goal": "goal",
    "goals": "goal",
    "categorization": "categorization",
    "categorisation": "categorization",
    "strategy abstract": "strategy_abstract",
    "abstract": "strategy_abstract",
    "technical context": "technical_context",
    "blind spots and assumptions": "blind_spots",
    "blindspots and assumptions": "blind_spots",
    "blind spots": "blind_spots",
    "false positives": "false_positives",
    "false positive": "false_positives",
    "validation": "validation",
    "adversary emulation": "validation",
    "priority": "priority",
    "alert priority": "priority",
    "severity": "priority",
    "alert severity": "priority",
    "response": "response",
    "response procedures": "response",
    "response steps": "response",
    "alert response": "response",
    "additional resources": "resources",
    "resources": "resources",
    "references": "resources",
    "additional references": "resources",
    "platforms": "platforms",
}

# Without one of these a document is not an ADS at all.
IDENTIFYING_SECTIONS = {"goal", "categorization", "strategy_abstract"}

TECHNIQUE_ID_RE = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_ID_LIKE_RE = re.compile(r"^(T\d[\w./]*)", re.IGNORECASE)
_ID_ANYWHERE_RE = re.compile(r"\b(T\d{4}(?:\.\d{3})?)\b")
_HEADING_RE = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
_LIST_RE = re.compile(r"^(?P<indent> *)(?P<marker>[-*+]|\d{1,9}[.)])(?P<space> +|$)")
_RULE_RE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE_RE = re.compile(r"^(`{3,}|~{3,})")
# CommonMark: the destination may follow spaces and hold balanced parentheses, as in
# `( javascript:alert(document.domain))`, which must be read whole to be judged.
_LINK_RE = re.compile(r"\[(?P<text>[^\]]*)\]\(\s*(?P<url>(?:[^()\s]|\([^()\s]*\))+)(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK_RE = re.compile(r"<(?P<url>https?://[^>\s]+)>")
_BARE_URL_RE = re.compile(r"https?://[^\s)>\]]+")
_TACTIC_URL_RE = re.compile(r"attack\.mitre\.org/tactics/(TA\d{4})", re.IGNORECASE)
_TECHNIQUE_URL_RE = re.compile(
    r"attack\.mitre\.org/(?:techniques|wiki/Technique)/(T\d{4})(?:[/.](\d{3}))?(?![\d])", re.IGNORECASE
)
_LABEL_RE = re.compile(
    r"^(?:\*\*|__)?(?P<label>[^:*_\[\]`]{2,60}?)\s*(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*(?P<value>.*?)\s*$"
)
_PRIORITY_LABEL_RE = re.compile(
    r"^\s*(?:\*\*|__)?\s*"
    r"(?:(?:alert\s+)?(?:priority|severity)(?:\s+level)?\s*(?:\*\*|__)?\s*[:\-–—]?\s*(?:\*\*|__)?\s*)?"
    r"(?P<level>low|medium|moderate|high|critical)\b\s*(?:\*\*|__)?\s*(?:[:\-–—.]\s*)?(?:\*\*|__)?[ \t]*",
    re.IGNORECASE,
)
_PRIORITY_WORD_RE = re.compile(r"\b(low|medium|moderate|high|critical)\b", re.IGNORECASE)
_JUSTIFICATION_RE = re.compile(r"^(?:\*\*|__)?justification(?:\*\*|__)?\s*:\s*(?:\*\*|__)?\s*", re.IGNORECASE)
_TITLE_PREFIX_RE = re.compile(
    r"^(?:palantir(?:['’]s)?\s+)?(?:alerting\s*(?:&|and)\s*detection\s+strateg(?:y|ies)|ads)"
    r"(?:\s*\(ads\))?(?:\s+(?:report|framework|document|strategy|playbook))?"
    r"(?:\s*[:|]\s*|\s+[-–—]\s+)(?P<rest>.+)$",
    re.IGNORECASE,
)
_GENERIC_TITLE_WORDS = {"palantir", "s", "alerting", "and", "detection", "strategy", "ads", "report", "framework"}
_DATA_SOURCE_INLINE_RE = re.compile(
    r"data sources?\b[^.:]*?\b(?:include|includes|including|such as|are|:)\s*:?\s*", re.IGNORECASE
)


class AdsParseError(ValueError):
    """The document is not an ADS, or is malformed beyond what a warning can carry."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


@dataclass(frozen=True)
class ParseWarning:
    line: int
    message: str


@dataclass
class TechniqueRef:
    attack_id: str
    name: str = ""


@dataclass
class ScenarioDraft:
    name: str
    description: str = ""
    steps: list[str] = field(default_factory=list)


@dataclass
class ResourceRef:
    title: str
    url: str = ""


@dataclass
class SectionDraft:
    heading: str
    body: str = ""


@dataclass
class ParsedStrategy:
    title: str = ""
    goal: str = ""
    techniques: list[TechniqueRef] = field(default_factory=list)
    tactics: list[str] = field(default_factory=list)
    platforms: list[str] = field(default_factory=list)
    data_sources: list[str] = field(default_factory=list)
    strategy_abstract: str = ""
    technical_context: str = ""
    blind_spots_intro: str = ""
    blind_spots: list[str] = field(default_factory=list)
    false_positives_intro: str = ""
    false_positives: list[str] = field(default_factory=list)
    validation_intro: str = ""
    validation_scenarios: list[ScenarioDraft] = field(default_factory=list)
    priority: str = ""
    priority_justification: str = ""
    response_intro: str = ""
    response_steps: list[str] = field(default_factory=list)
    resources_intro: str = ""
    resources: list[ResourceRef] = field(default_factory=list)
    extra_sections: list[SectionDraft] = field(default_factory=list)
    # Optional front matter (`---` / `key: value` lines / `---`): slug, status.
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[ParseWarning] = field(default_factory=list)

    def to_dict(self, *, include_warnings: bool = True) -> dict:
        data = asdict(self)
        if not include_warnings:
            data.pop("warnings")
        return data


@dataclass
class _Item:
    line: int  # 1-based line of the list marker
    text: str


def decode_document(data: bytes) -> str:
    """UTF-8 (with or without BOM) to text; anything else is refused with the failing line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AdsParseError("not UTF-8 text (binary file?)", line) from None


def parse_ads(text: str | bytes) -> ParsedStrategy:
    """Parse one ADS document. Raises `AdsParseError`; see the module docstring."""
    if isinstance(text, bytes):
        text = decode_document(text)
    return _Parser(text).parse()


# --------------------------------------------------------------------------- helpers


def _strip_emphasis(text: str) -> str:
    text = text.strip()
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    if len(text) > 1 and text[0] == text[-1] and text[0] in "*_":
        text = text[1:-1]
    return text.strip()


def _heading_key(text: str) -> str:
    t = _strip_emphasis(text)
    t = re.sub(r"^\d+[.)]\s*", "", t).rstrip(":").strip()
    t = t.replace("&", " and ")
    t = re.sub(r"\([^)]*\)", " ", t)
    t = re.sub(r"[^a-z0-9 ]+", " ", t.lower())
    return " ".join(t.split())


def _heading_display(text: str) -> str:
    return _strip_emphasis(text).rstrip(":").strip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_blank(line: str) -> bool:
    return not line.strip()


def _split_outside_parens(value: str, separators: str = ",;") -> list[str]:
    parts, depth, current = [], 0, []
    for char in value:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char in separators and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _strip_links(text: str) -> tuple[str, list[str]]:
    urls: list[str] = []

    def keep_text(match: re.Match) -> str:
        urls.append(match.group("url"))
        return match.group("text")

    text = _LINK_RE.sub(keep_text, text)
    text = _AUTOLINK_RE.sub(lambda m: urls.append(m.group("url")) or m.group("url"), text)
    return text, urls


def _dedupe(values: list[str]) -> list[str]:
    seen, out = set(), []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _technique_id_from_url(url: str) -> str | None:
    match = _TECHNIQUE_URL_RE.search(url)
    if not match:
        return None
    return match.group(1).upper() + (f".{match.group(2)}" if match.group(2) else "")


# --------------------------------------------------------------------------- the parser


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.result = ParsedStrategy()
        self.lines: list[str] = []
        self.fence_of: list[int | None] = []  # index of the opening fence line, for lines in a code block
        self.heading_at: dict[int, tuple[int, str]] = {}  # line index -> (level, text)

    # -- plumbing

    def warn(self, index_or_line: int, message: str, *, is_index: bool = True) -> None:
        line = index_or_line + 1 if is_index else index_or_line
        self.result.warnings.append(ParseWarning(line=line, message=message))

    def is_code(self, i: int) -> bool:
        return self.fence_of[i] is not None

    def parse(self) -> ParsedStrategy:
        text = self.text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
        self.lines = [line.expandtabs(4).rstrip() for line in text.split("\n")]
        self._refuse_non_text()
        start = self._read_front_matter()
        self._find_code_blocks(start)
        self._find_headings(start)
        sections, title_index, preamble = self._split_sections(start)
        if title_index is not None:
            self._read_title(title_index)
        else:
            self.warn(start, "no title heading")
        if preamble:
            body = self._text(preamble, rules="all")
            if body:
                self.result.extra_sections.append(SectionDraft(heading=PREAMBLE_HEADING, body=body))
        seen: dict[str, int] = {}
        for heading_index, key, body in sections:
            if key is not None:
                if key in seen:
                    raise AdsParseError(
                        f"duplicate section heading '{_heading_display(self.heading_at[heading_index][1])}'"
                        f" (first at line {seen[key] + 1})",
                        heading_index + 1,
                    )
                seen[key] = heading_index
            self._read_section(heading_index, key, body)
        for key, heading in SECTION_HEADINGS.items():
            if key not in seen:
                self.warn(start, f"no {heading} section")
        result = self.result
        result.tactics = _dedupe(result.tactics)
        result.platforms = _dedupe(result.platforms)
        if "categorization" in seen and not result.techniques:
            self.warn(seen["categorization"], "no ATT&CK technique mapping in Categorization")
        result.warnings.sort(key=lambda w: w.line)
        return result

    def _refuse_non_text(self) -> None:
        if not any(line.strip() for line in self.lines):
            raise AdsParseError("empty document", 1)
        bad_total, first_bad = 0, None
        for index, line in enumerate(self.lines):
            if "\x00" in line:
                raise AdsParseError("binary content (NUL byte)", index + 1)
            bad = sum(1 for c in line if (ord(c) < 32 and c != "\t") or 0x7F <= ord(c) < 0xA0 or c == "\ufffd")
            if bad and first_bad is None:
                first_bad = index
            bad_total += bad
        if bad_total and bad_total > max(8, len(self.text) // 50):
            raise AdsParseError("binary or garbled content (control characters)", first_bad + 1)

    def _read_front_matter(self) -> int:
        if not self.lines or self.lines[0].strip() != "---":
            return 0
        for index in range(1, min(len(self.lines), 40)):
            line = self.lines[index]
            if line.strip() in ("---", "..."):
                metadata = {}
                for raw in self.lines[1:index]:
                    if raw.strip():
                        key, _, value = raw.partition(":")
                        metadata[key.strip().lower()] = value.strip().strip("'\"")
                self.result.metadata = metadata
                return index + 1
            if line.strip() and not re.match(r"^\s*[A-Za-z_][\w-]*\s*:", line):
                return 0  # a thematic break at the top, not front matter
        return 0

    def _find_code_blocks(self, start: int) -> None:
        self.fence_of = [None] * len(self.lines)
        open_index, fence = None, ""
        for index in range(start, len(self.lines)):
            stripped = self.lines[index].lstrip(" ")
            if open_index is None:
                match = _FENCE_RE.match(stripped)
                if match:
                    open_index, fence = index, match.group(1)
                    self.fence_of[index] = index
            else:
                self.fence_of[index] = open_index
                if stripped.startswith(fence) and not stripped.strip(fence[0]).strip():
                    open_index = None
        if open_index is not None:
            self.warn(open_index, "code block is never closed")

    def _find_headings(self, start: int) -> None:
        for index in range(start, len(self.lines)):
            if self.is_code(index):
                continue
            match = _HEADING_RE.match(self.lines[index])
            if match and match.group(2):
                text = re.sub(r"[ \t]+#+$", "", match.group(2)).strip()
                if text and text.strip("#"):
                    self.heading_at[index] = (len(match.group(1)), text)

    def _split_sections(self, start: int):
        known = [(i, lvl) for i, (lvl, txt) in self.heading_at.items() if _heading_key(txt) in SECTION_ALIASES]
        keys = {SECTION_ALIASES[_heading_key(self.heading_at[i][1])] for i, _ in known}
        if not keys & IDENTIFYING_SECTIONS:
            first = next((i for i in range(start, len(self.lines)) if self.lines[i].strip()), start)
            raise AdsParseError("not an ADS document: no Goal, Categorization or Strategy Abstract section", first + 1)
        counts = Counter(level for _, level in known)
        top = max(counts.values())
        self.section_level = min(level for level, count in counts.items() if count == top)
        first_known = min(i for i, _ in known)

        headings = sorted(self.heading_at)
        title_index = None
        if headings and headings[0] < first_known:
            level, text = self.heading_at[headings[0]]
            if level < self.section_level or (
                level == self.section_level == 1 and _heading_key(text) not in SECTION_ALIASES
            ):
                title_index = headings[0]
        boundaries = [i for i in headings if i != title_index and self.heading_at[i][0] <= self.section_level]
        # Sub-headings are re-levelled so a section's own sub-headings are always `###`.
        for index, (level, text) in self.heading_at.items():
            if index not in boundaries and index != title_index:
                new_level = min(6, max(3, level - self.section_level + 2))
                self.lines[index] = "#" * new_level + " " + text

        first_boundary = boundaries[0] if boundaries else len(self.lines)
        preamble_start = title_index + 1 if title_index is not None else start
        preamble = list(range(preamble_start, first_boundary))
        sections = []
        for n, index in enumerate(boundaries):
            end = boundaries[n + 1] if n + 1 < len(boundaries) else len(self.lines)
            key = SECTION_ALIASES.get(_heading_key(self.heading_at[index][1]))
            sections.append((index, key, list(range(index + 1, end))))
        return sections, title_index, preamble

    def _read_title(self, index: int) -> None:
        heading = _strip_emphasis(self.heading_at[index][1])
        match = _TITLE_PREFIX_RE.match(heading)
        if match and match.group("rest").strip():
            self.result.title = match.group("rest").strip()
        else:
            self.result.title = heading
            if not set(_heading_key(heading).split()) - _GENERIC_TITLE_WORDS:
                self.warn(index, "title heading names no subject")

    # -- text blocks

    def _text(self, indices: list[int], *, rules: str = "edges") -> str:
        """The lines as written; drop thematic breaks at the edges (or everywhere), squeeze blank runs."""
        kept = []
        for i in indices:
            line = self.lines[i]
            if rules == "all" and not self.is_code(i) and _RULE_RE.match(line):
                continue
            kept.append((i, line))
        # trim blank lines and rules at both ends
        while kept and (_is_blank(kept[0][1]) or (not self.is_code(kept[0][0]) and _RULE_RE.match(kept[0][1]))):
            kept.pop(0)
        while kept and (_is_blank(kept[-1][1]) or (not self.is_code(kept[-1][0]) and _RULE_RE.match(kept[-1][1]))):
            kept.pop()
        out: list[str] = []
        for i, line in kept:
            if _is_blank(line) and out and _is_blank(out[-1]) and not self.is_code(i):
                continue
            out.append(line)
        return "\n".join(out)

    def _is_list_start(self, i: int, max_indent: int = 3) -> re.Match | None:
        if self.is_code(i) or i in self.heading_at or _RULE_RE.match(self.lines[i]):
            return None
        match = _LIST_RE.match(self.lines[i])
        if match and len(match.group("indent")) <= max_indent:
            return match
        return None

    def _split_list(self, indices: list[int]) -> tuple[list[_Item], list[int]]:
        """Top-level list items (with their nested lines, dedented) and the remaining prose lines."""
        items: list[_Item] = []
        prose: list[int] = []
        pos = 0
        while pos < len(indices):
            i = indices[pos]
            match = self._is_list_start(i)
            if not match:
                prose.append(i)
                pos += 1
                continue
            marker_indent = len(match.group("indent"))
            content_col = match.end() if match.group("space") else match.end() + 1
            text_lines = [self.lines[i][content_col:]]
            open_fences = {i} if self.fence_of[i] == i else set()
            pos += 1
            previous_blank = False
            while pos < len(indices):
                j = indices[pos]
                line = self.lines[j]
                if self.fence_of[j] is not None and self.fence_of[j] in open_fences:
                    text_lines.append(line[min(_indent(line), content_col) :])
                elif _is_blank(line):
                    following = next((k for k in indices[pos:] if not _is_blank(self.lines[k])), None)
                    if following is None or _indent(self.lines[following]) <= marker_indent:
                        break
                    text_lines.append("")
                    previous_blank = True
                    pos += 1
                    continue
                elif _indent(line) > marker_indent and j not in self.heading_at:
                    text_lines.append(line[min(_indent(line), content_col) :])
                    if self.fence_of[j] == j:
                        open_fences.add(j)
                elif (
                    not previous_blank
                    and not self._is_list_start(j)
                    and j not in self.heading_at
                    and not self.is_code(j)
                    and not _RULE_RE.match(line)
                ):
                    text_lines.append(line.strip())  # lazy continuation of the item's paragraph
                else:
                    break
                previous_blank = False
                pos += 1
            while text_lines and _is_blank(text_lines[-1]):
                text_lines.pop()
            items.append(_Item(line=i + 1, text="\n".join(text_lines).strip()))
        return items, prose

    def _split_grouped_list(self, indices: list[int]) -> tuple[list[_Item], list[int]]:
        """Like `_split_list`, but items under a sub-heading ("### Assumptions:") carry it as a label.

        Palantir writes Blind Spots and Assumptions as two sub-sections; seeds write the same
        thing as "- **Assumptions:** ..." bullets. Both end up as labelled items.
        """
        starts = [i for i in indices if i in self.heading_at]
        if not starts:
            return self._split_list(indices)
        items: list[_Item] = []
        prose: list[int] = []
        groups = [(None, [i for i in indices if i < starts[0]])]
        for n, start in enumerate(starts):
            end = starts[n + 1] if n + 1 < len(starts) else indices[-1] + 1
            groups.append((start, [i for i in indices if start < i < end]))
        for start, group in groups:
            group_items, group_prose = self._split_list(group)
            if start is not None:
                label = _heading_display(self.lines[start].lstrip("#"))
                if group_items:
                    for item in group_items:
                        if not _strip_emphasis(item.text).lower().startswith(label.lower()):
                            item.text = f"**{label}:** {item.text}"
                else:
                    prose.append(start)
            items.extend(group_items)
            prose.extend(group_prose)
        return items, prose

    # -- sections

    def _read_section(self, heading_index: int, key: str | None, body: list[int]) -> None:
        r = self.result
        heading = _heading_display(self.heading_at[heading_index][1])
        if key is None:
            r.extra_sections.append(SectionDraft(heading=heading, body=self._text(body)))
            return
        if not self._text(body, rules="all"):
            self.warn(heading_index, f"section {heading} is empty")
        if key == "goal":
            r.goal = self._text(body)
        elif key == "categorization":
            self._read_categorization(body)
        elif key == "platforms":
            self._read_platform_section(body)
        elif key == "strategy_abstract":
            r.strategy_abstract = self._text(body)
            r.data_sources = self._read_data_sources(body)
        elif key == "technical_context":
            r.technical_context = self._text(body)
        elif key in ("blind_spots", "false_positives", "response"):
            items, prose = self._split_grouped_list(body)
            intro = self._text(prose, rules="all")
            values = [item.text for item in items]
            if key == "blind_spots":
                r.blind_spots_intro, r.blind_spots = intro, values
            elif key == "false_positives":
                r.false_positives_intro, r.false_positives = intro, values
            else:
                r.response_intro, r.response_steps = intro, values
                if not values:
                    self.warn(heading_index, "Response has no steps")
        elif key == "resources":
            items, prose = self._split_list(body)
            r.resources_intro = self._text(prose, rules="all")
            r.resources = [self._resource(item) for item in items]
            for item, resource in zip(items, r.resources, strict=True):
                if resource.url and not is_safe_url(resource.url):
                    # Refused, not dropped: the author learns which link to fix, and nothing is stored.
                    raise AdsParseError(
                        f"resource '{resource.title[:60]}': {unsafe_url_reason(resource.url)}", item.line
                    )
                if not resource.url:
                    self.warn(item.line, f"resource '{resource.title[:60]}' has no link", is_index=False)
        elif key == "validation":
            self._read_validation(heading_index, body)
        elif key == "priority":
            self._read_priority(heading_index, body)

    def _read_platform_section(self, body: list[int]) -> None:
        items, prose = self._split_list(body)
        for item in items:
            self.result.platforms.extend(_split_outside_parens(_strip_links(_strip_emphasis(item.text))[0]))
        for i in prose:
            if self.lines[i].strip() and not _RULE_RE.match(self.lines[i]):
                self.result.platforms.extend(_split_outside_parens(_strip_links(self.lines[i])[0]))

    # Categorization: labelled bullets ("**MITRE ATT&CK Mapping:** T1095 - ...") and ATT&CK links.

    @staticmethod
    def _label_kind(label: str) -> str | None:
        low = label.lower()
        if "tactic" in low or "kill chain" in low:
            return "tactic"
        if "platform" in low:
            return "platform"
        if any(word in low for word in ("technique", "att&ck", "attack", "mitre", "mapping")):
            return "technique"
        return None

    def _read_categorization(self, body: list[int]) -> None:
        pending: tuple[str, int] | None = None  # a label with no value; its nested bullets are the values
        for i in body:
            line = self.lines[i]
            if self.is_code(i) or _is_blank(line) or _RULE_RE.match(line) or i in self.heading_at:
                continue
            indent = _indent(line)
            list_match = _LIST_RE.match(line)
            content = line[list_match.end() :].strip() if list_match else line.strip()
            if pending and indent > pending[1] and list_match:
                self._categorization_value(pending[0], content, i)
                continue
            pending = None
            label = _LABEL_RE.match(content)
            if label:
                kind = self._label_kind(label.group("label"))
                value = label.group("value")
                if kind is None:
                    if not self._attack_links(content, i):
                        self.warn(i, f"unknown Categorization entry '{_strip_emphasis(label.group('label'))}'")
                    continue
                if not value:
                    pending = (kind, indent)
                    continue
                self._categorization_value(kind, value, i)
                continue
            if not self._attack_links(content, i):
                bare = _strip_emphasis(content)
                if _ID_LIKE_RE.match(bare):
                    self._categorization_value("technique", content, i)
                else:
                    self.warn(i, "Categorization line names no ATT&CK technique or tactic")

    def _categorization_value(self, kind: str, value: str, i: int) -> None:
        r = self.result
        if kind == "technique":
            for part in re.split(r"[;,]\s*(?=\[?\s*T\d)", value):
                if part.strip():
                    self._technique_part(part, i)
            return
        text, urls = _strip_links(value)
        for url in urls:
            technique_id = _technique_id_from_url(url)
            if technique_id:
                self._add_technique(technique_id, "")
        values = [_strip_emphasis(v).rstrip(".") for v in _split_outside_parens(_strip_emphasis(text))]
        (r.tactics if kind == "tactic" else r.platforms).extend(v for v in values if v)

    def _technique_part(self, part: str, i: int) -> None:
        text, urls = _strip_links(part)
        text = _strip_emphasis(text).strip()
        match = _ID_LIKE_RE.match(text)
        if match:
            token = match.group(1).upper().replace("/", ".").rstrip(".")
            if not TECHNIQUE_ID_RE.match(token):
                raise AdsParseError(f"'{match.group(1)}' is not an ATT&CK technique id (T1234 or T1234.001)", i + 1)
            name = text[match.end() :].strip()
            name = re.sub(r"^[-–—:]\s*", "", name).strip()
            self._add_technique(token, self._clean_name(name))
            return
        url_ids = [tid for tid in (_technique_id_from_url(u) for u in urls) if tid]
        if url_ids:
            self._add_technique(url_ids[0], self._clean_name(text))
            return
        anywhere = _ID_ANYWHERE_RE.search(text)
        if anywhere:
            name = (text[: anywhere.start()] + text[anywhere.end() :]).strip()
            self._add_technique(anywhere.group(1), self._clean_name(name.strip("()-–—: ")))
            return
        self.warn(i, f"no ATT&CK technique id in '{text}'")

    @staticmethod
    def _clean_name(name: str) -> str:
        name = _strip_emphasis(name).strip().rstrip(".").strip()
        if re.search(r"reference|att&ck|mitre", name, re.IGNORECASE) or _ID_ANYWHERE_RE.fullmatch(name):
            return ""
        return name

    def _add_technique(self, attack_id: str, name: str) -> None:
        for existing in self.result.techniques:
            if existing.attack_id == attack_id:
                if name and not existing.name:
                    existing.name = name
                return
        self.result.techniques.append(TechniqueRef(attack_id=attack_id, name=name))

    def _attack_links(self, content: str, i: int) -> bool:
        links = list(_LINK_RE.finditer(content))
        tactic_links = [m for m in links if _TACTIC_URL_RE.search(m.group("url"))]
        found = False
        for link in links:
            url, text = link.group("url"), _strip_emphasis(link.group("text"))
            if _TACTIC_URL_RE.search(url):
                self.result.tactics.append(text)
                found = True
                continue
            technique_id = _technique_id_from_url(url)
            if technique_id:
                # "[Discovery / Security Software Discovery](.../T1063)": tactic / technique in one link.
                if " / " in text and not tactic_links:
                    tactic, _, text = text.partition(" / ")
                    self.result.tactics.append(tactic.strip())
                self._add_technique(technique_id, self._clean_name(text))
                found = True
            elif "attack.mitre.org" in url and re.search(r"/techniques?/T\d", url, re.IGNORECASE):
                raise AdsParseError(f"ATT&CK link '{url}' does not name a valid technique id", i + 1)
        return found

    # Strategy Abstract: the data-source list ("Key data sources include:" + bullets) or inline list.

    def _read_data_sources(self, body: list[int]) -> list[str]:
        for pos, i in enumerate(body):
            line = self.lines[i]
            if self.is_code(i) or "data source" not in line.lower():
                continue
            if i in self.heading_at:
                lead = line
            else:
                if not line.rstrip().endswith(":"):
                    continue
                lead = re.split(r"[.!?]\s+", line.strip())[-1]
                if "data source" not in lead.lower():
                    continue
            region = []
            started = False
            for j in body[pos + 1 :]:
                text = self.lines[j]
                if _is_blank(text) or self.is_code(j):
                    region.append(j)
                elif self._is_list_start(j) or (started and _indent(text) > 0):
                    region.append(j)
                    started = True
                else:
                    break
            items, _ = self._split_list(region)
            if items:
                return [self._data_source_name(item.text) for item in items]
        text = " ".join(self.lines[i].strip() for i in body if not self.is_code(i))
        match = _DATA_SOURCE_INLINE_RE.search(text)
        if match:
            rest = text[match.end() :]
            depth, end = 0, len(rest)
            for n, char in enumerate(rest):
                depth += char == "("
                depth -= char == ")"
                if depth == 0 and (char == ":" or (char == "." and (n + 1 == len(rest) or rest[n + 1] == " "))):
                    end = n if char == "." else -1
                    break
            if end > 0:
                names = _split_outside_parens(rest[:end], ",;")
                return [re.sub(r"^(?:and|or)\s+", "", n).strip() for n in names if n.strip()]
        return []

    @staticmethod
    def _data_source_name(text: str) -> str:
        first = text.split("\n", 1)[0].strip()
        label = re.match(r"^(?:\*\*|__)(.+?):?(?:\*\*|__)\s*:?", first)
        if label:
            return label.group(1).strip().rstrip(":")
        return _strip_links(_strip_emphasis(first))[0].rstrip(".").strip()

    # Validation: one scenario per sub-heading, or one scenario of the list when there is none.

    def _read_validation(self, heading_index: int, body: list[int]) -> None:
        r = self.result
        sub_headings = [i for i in body if i in self.heading_at]
        if sub_headings:
            level = int(len(self.lines[sub_headings[0]]) - len(self.lines[sub_headings[0]].lstrip("#")))
            starts = [i for i in sub_headings if len(self.lines[i]) - len(self.lines[i].lstrip("#")) <= level]
            r.validation_intro = self._text([i for i in body if i < starts[0]], rules="all")
            for n, start in enumerate(starts):
                end = starts[n + 1] if n + 1 < len(starts) else body[-1] + 1
                scenario_body = [i for i in body if start < i < end]
                name = _heading_display(self.lines[start].lstrip("#"))
                r.validation_scenarios.append(self._scenario(name, scenario_body, start))
        else:
            items, prose = self._split_list(body)
            if items:
                r.validation_intro = self._text(prose, rules="all")
                r.validation_scenarios.append(ScenarioDraft(name=DEFAULT_SCENARIO_NAME, steps=[i.text for i in items]))
            elif any(self.is_code(i) for i in body):
                # A validation written as prose around a command: that command is the one step.
                r.validation_scenarios.append(ScenarioDraft(name=DEFAULT_SCENARIO_NAME, steps=[self._text(body)]))
            else:
                r.validation_intro = self._text(prose, rules="all")
        if not r.validation_scenarios:
            self.warn(heading_index, "Validation has no scenario: the strategy cannot be validated")

    def _scenario(self, name: str, body: list[int], heading_index: int) -> ScenarioDraft:
        items, prose = self._split_list(body)
        if not items and any(self.is_code(i) for i in body):
            return ScenarioDraft(name=name, steps=[self._text(body)])
        if not items:
            self.warn(heading_index, f"validation scenario '{name}' has no steps")
        return ScenarioDraft(name=name, description=self._text(prose, rules="all"), steps=[i.text for i in items])

    # Priority: the level from a label ("**Priority: High**", "**High**:") or the first paragraph.

    def _read_priority(self, heading_index: int, body: list[int]) -> None:
        text = self._text(body, rules="all")
        label = _PRIORITY_LABEL_RE.match(text)
        if label:
            word, rest = label.group("level"), text[label.end() :]
        else:
            first_paragraph = text.split("\n\n", 1)[0]
            found = _PRIORITY_WORD_RE.search(first_paragraph)
            word, rest = (found.group(1) if found else ""), text
        rest = _JUSTIFICATION_RE.sub("", rest.strip()).strip()
        word = word.lower()
        if word == "moderate":
            self.warn(heading_index, "priority 'moderate' read as medium")
            word = "medium"
        if not word:
            self.warn(heading_index, "no priority level (low, medium, high or critical) in Priority")
        self.result.priority = word
        self.result.priority_justification = rest

    @staticmethod
    def _resource(item: _Item) -> ResourceRef:
        text, urls = _strip_links(item.text)
        text = _strip_emphasis(" ".join(text.split()))
        if not urls:
            bare = _BARE_URL_RE.search(text)
            if bare:
                urls = [bare.group(0)]
                remainder = (text[: bare.start()] + text[bare.end() :]).strip(" :-–—")
                text = remainder or bare.group(0)
        return ResourceRef(title=text, url=urls[0] if urls else "")
