"""The one way a Sigma rule's YAML text is read: bounded, before anything walks the result.

Sigma rules are plain YAML: mappings, lists and scalars. Two YAML features let a small text
cost unbounded work downstream, so they are refused here, with the line:

- Aliases (`*a`). PyYAML shares an aliased node, which is cheap, but every recursive walk
  over the result (the save path's line locator, pySigma's `from_dict`, the engine's
  compiler, `str()` of a value) expands it as a tree: a 700-byte rule nesting 9 levels of
  anchors grew the web server to 22 GB (issue 13). Sigma never needs aliases, and an anchor
  is only there to be aliased, so both are refused; pySigma's own expansion guard runs too
  late (after our walks) to help.
- Deep nesting. Composing and walking recurse once per level; a 5,000-deep flow sequence hit
  Python's recursion limit (a 500). Real rules nest a handful of levels.

The checks read the parser's events once (libyaml, linear in the text, no tree built), so a
refused text costs no more than reading it. Texts are bounded in bytes and nodes as well,
whatever path they come by (API JSON or body, admin form, library files, `hunt`).

Not for: our own YAML (scenario manifests, suppressions, compose files), which users do
not write through the portal. No Django imports.
"""

from __future__ import annotations

from typing import Any

import yaml

# A Sigma rule is a few kilobytes; SigmaHQ's largest (long IOC lists) are well under this.
MAX_RULE_BYTES = 256 * 1024
# Collections inside collections; SigmaHQ rules nest fewer than 8.
MAX_DEPTH = 64
# Scalars, lists and mappings in one text: room for a rule listing thousands of hashes.
MAX_NODES = 50_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RuleYamlError(ValueError):
    """A rule text that is not read; `line` is 1-based (None when the problem is the whole text)."""

    def __init__(self, problem: str, line: int | None = None):
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line else problem)


def check_rule_text(text: str) -> None:
    """Raise RuleYamlError unless `text` is YAML within the bounds above, with no anchors or aliases."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_RULE_BYTES:
        raise RuleYamlError(f"the rule is {size} bytes; at most {MAX_RULE_BYTES} bytes are accepted")
    depth = nodes = 0
    anchored = None
    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                raise RuleYamlError(f"YAML aliases (*{event.anchor}) are not allowed in rules", _line(event))
            if not isinstance(event, yaml.NodeEvent):
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                continue
            nodes += 1
            if nodes > MAX_NODES:
                raise RuleYamlError(f"the rule has more than {MAX_NODES} YAML nodes", _line(event))
            if event.anchor and anchored is None:
                anchored = event
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise RuleYamlError(f"the YAML nests deeper than {MAX_DEPTH} levels", _line(event))
    except yaml.YAMLError as exc:
        raise _syntax_error(exc) from None
    if anchored is not None:
        # Reported after the whole text is read, so a text with aliases names its first alias.
        raise RuleYamlError(f"YAML anchors (&{anchored.anchor}) are not allowed in rules", _line(anchored))


def load_rule_documents(text: str) -> list[Any]:
    """Every YAML document of a rule text (None for an empty one), as yaml.safe_load_all gives them."""
    check_rule_text(text)
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise _syntax_error(exc) from None
    except (ValueError, TypeError, OverflowError) as exc:  # a value YAML cannot build (date 2026-13-45)
        raise RuleYamlError(f"YAML value error: {exc}", _unconstructible_line(text)) from None


def load_rule_mapping(text: str) -> dict[str, Any]:
    """The one YAML mapping a single-document rule text holds; RuleYamlError otherwise."""
    documents = [d for d in load_rule_documents(text) if d is not None]
    if len(documents) != 1:
        raise RuleYamlError(f"expected one Sigma rule, found {len(documents)} YAML documents", 1)
    if not isinstance(documents[0], dict):
        raise RuleYamlError("a Sigma rule is a YAML mapping (title:, logsource:, detection:, ...)", 1)
    return documents[0]


def compose_rule_document(text: str) -> yaml.Node | None:
    """The node tree of a single-document rule text (for line numbers), or None when it is not one."""
    check_rule_text(text)
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _line(event: yaml.Event) -> int:
    return event.start_mark.line + 1


def _syntax_error(exc: yaml.YAMLError) -> RuleYamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return RuleYamlError(f"YAML error: {problem}", mark.line + 1 if mark else None)


def _unconstructible_line(text: str) -> int | None:
    """The line of the first scalar YAML cannot turn into a value (the parser itself had no complaint)."""
    root = compose_rule_document(text)
    constructor = yaml.SafeLoader("")
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop(0)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node, deep=True)
            except Exception:  # noqa: BLE001 - any failure to build the value is the answer
                return node.start_mark.line + 1
    return None
