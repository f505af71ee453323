"""Synthetic events derived from a rule's own detection logic, for testing and benchmarking.

`rule_events(tree)` gives events that satisfy the rule's tree (one per alternative of each
selection) and near misses that falsify it in one place (a value changed, a field missing,
or a filter satisfied on top of the selection), so a differential run exercises selections
AND filters. Values vary in case where Sigma ignores case.

Not for: production use; the values are only as realistic as the rules' literals.
"""

from __future__ import annotations

import ipaddress
import random
import re
from typing import Any

from detections.engine.compiler import ANY, FULLTEXT_COLUMN, ONE, And, Const, Leaf, Node, Not, Or, Pattern

KEYWORD_FIELD = "Message"  # where keyword values are put in generated events
MAX_ALTERNATIVES = 24
MISSING = object()  # a partial event's "this field is absent"

Partial = dict[str, Any]


class EventGenerator:
    def __init__(self, seed: int = 7):
        self.random = random.Random(seed)

    # --- trees -----------------------------------------------------------------------
    def satisfying(self, node: Node) -> list[Partial]:
        if isinstance(node, Leaf):
            return [p for p in (self._leaf_positive(node),) if p is not None]
        if isinstance(node, Not):
            return self.falsifying(node.arg)
        if isinstance(node, Or):
            out: list[Partial] = []
            for arg in node.args:
                out.extend(self.satisfying(arg))
            return self._cap(out)
        if isinstance(node, And):
            choices = [self.satisfying(arg) or [{}] for arg in node.args]
            base = [c[0] for c in choices]
            out = [_merge(base)]
            for i, alternatives in enumerate(choices):
                for alt in alternatives[1:]:
                    out.append(_merge([*base[:i], alt, *base[i + 1 :]]))
            return self._cap(out)
        if isinstance(node, Const):
            return [{}] if node.value else []
        return []

    def falsifying(self, node: Node) -> list[Partial]:
        if isinstance(node, Leaf):
            return [p for p in self._leaf_negatives(node) if p is not None]
        if isinstance(node, Not):
            return self.satisfying(node.arg)
        if isinstance(node, And):
            # near misses: everything holds except one argument
            sats = [self.satisfying(arg) or [{}] for arg in node.args]
            out = []
            for i, arg in enumerate(node.args):
                for miss in self.falsifying(arg)[:3]:
                    out.append(_merge([*(s[0] for s in sats[:i]), miss, *(s[0] for s in sats[i + 1 :])]))
            return self._cap(out)
        if isinstance(node, Or):
            misses = [self.falsifying(arg) or [{}] for arg in node.args]
            return [_merge([m[0] for m in misses]), _merge([m[-1] for m in misses])]
        if isinstance(node, Const):
            return [] if node.value else [{}]
        return []

    def rule_events(self, tree: Node) -> list[dict[str, Any]]:
        partials = self.satisfying(tree) + self.falsifying(tree) + [{}]
        return [_finish(p) for p in partials]

    def _cap(self, items: list[Partial]) -> list[Partial]:
        if len(items) <= MAX_ALTERNATIVES:
            return items
        return items[:4] + self.random.sample(items[4:], MAX_ALTERNATIVES - 4)

    # --- leaves ----------------------------------------------------------------------
    def _column(self, leaf: Leaf) -> str:
        return KEYWORD_FIELD if leaf.column == FULLTEXT_COLUMN else leaf.column

    def _leaf_positive(self, leaf: Leaf) -> Partial | None:
        col, kind, value = self._column(leaf), leaf.kind, leaf.value
        if kind in ("str", "cased"):
            text = self._fill(value)
            return {col: self._vary_case(text) if kind == "str" else text}
        if kind == "regex":
            sample = regex_sample(value)
            return None if sample is None else {col: sample}
        if kind == "cidr":
            return {col: str(_host_in(value))}
        if kind == "num":
            return {col: value}
        if kind == "cmp":
            op, n = value
            return {col: {"<": n - 1, "<=": n, ">": n + 1, ">=": n, "!=": n + 1}[op]}
        if kind == "bool":
            return {col: value}
        if kind == "null":
            return {col: MISSING}
        if kind == "exists":
            return {col: "present"} if value else {col: MISSING}
        if kind == "fieldref":
            other = value[0]
            shared = "SharedValue"
            return {col: shared.upper(), other: shared}
        return None

    def _leaf_negatives(self, leaf: Leaf) -> list[Partial | None]:
        col, kind, value = self._column(leaf), leaf.kind, leaf.value
        if kind in ("str", "cased"):
            text = self._fill(value)
            out = [{col: _mangle(text)}, {col: MISSING}]
            if kind == "cased" and text.swapcase() != text:
                out.append({col: text.swapcase()})
            if value.shape in ("startswith", "eq"):
                out.append({col: "x" + text})
            if value.shape in ("endswith", "eq"):
                out.append({col: text + "x"})
            return out
        if kind == "regex":
            sample = regex_sample(value)
            return [{col: MISSING}, None if sample is None else {col: _mangle(sample)}]
        if kind == "cidr":
            return [{col: str(_host_outside(value))}, {col: MISSING}]
        if kind in ("num", "cmp"):
            n = value if kind == "num" else value[1]
            op = "==" if kind == "num" else value[0]
            miss = {"==": n + 7, "<": n, "<=": n + 1, ">": n, ">=": n - 1, "!=": n}[op]
            return [{col: miss}, {col: MISSING}]
        if kind == "bool":
            return [{col: not value}, {col: MISSING}]
        if kind == "null":
            return [{col: "present"}]
        if kind == "exists":
            return [{col: MISSING}] if value else [{col: "present"}]
        if kind == "fieldref":
            return [{col: "one", value[0]: "two"}, {col: MISSING}]
        return []

    def _fill(self, pattern: Pattern) -> str:
        out = []
        for part in pattern.parts:
            if part == ANY:
                out.append(self.random.choice(["", "ab", " -x ", "/tmp/"]))  # noqa: S108 - event text
            elif part == ONE:
                out.append("q")
            else:
                out.append(part)
        return "".join(out)

    def _vary_case(self, text: str) -> str:
        choice = self.random.random()
        if choice < 0.3:
            return text.upper()
        if choice < 0.5:
            return "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(text))
        return text


def _merge(partials: list[Partial]) -> Partial:
    """Combine partial events; two strings for one field are joined, so `contains|all` and
    several selections on CommandLine can hold together."""
    out: Partial = {}
    for partial in partials:
        for key, value in partial.items():
            current = out.get(key)
            if isinstance(current, str) and isinstance(value, str) and value not in current:
                out[key] = f"{current} {value}"
            else:
                out[key] = value
    return out


def _finish(partial: Partial) -> dict[str, Any]:
    return {k: v for k, v in partial.items() if v is not MISSING}


def _mangle(text: str) -> str:
    """A near miss: same length, one character changed in the middle."""
    if not text:
        return "nonempty"
    i = len(text) // 2
    c = text[i]
    replacement = "Z" if c.lower() != "z" else "Y"
    return text[:i] + replacement + text[i + 1 :]


def _host_in(network) -> Any:
    return network.network_address + (1 if network.num_addresses > 2 else 0)


def _host_outside(network) -> Any:
    address = int(network.broadcast_address) + 1
    limit = 2**32 if network.version == 4 else 2**128
    if address >= limit:
        address = int(network.network_address) - 1
    return ipaddress.ip_address(address) if network.version == 4 else ipaddress.IPv6Address(address)


def regex_sample(pattern: str) -> str | None:
    """A string the regex matches (Python re), built from its parse tree; None when unsure."""
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    try:
        tree = sre_parse.parse(pattern)
        text = _emit(tree, sre_parse)
        if re.search(pattern, text):
            return text
    except Exception:  # noqa: BLE001 - best effort
        return None
    return None


def _emit(items, sp) -> str:
    c = sp
    out = []
    for op, av in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(av))
        elif name == "NOT_LITERAL":
            out.append("a" if chr(av) != "a" else "b")
        elif name == "ANY":
            out.append("a")
        elif name == "IN":
            out.append(_emit_in(av))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = av
            out.append(_emit(sub, c) * max(low, 1))
        elif name == "SUBPATTERN":
            out.append(_emit(av[-1], c))
        elif name == "ATOMIC_GROUP":
            out.append(_emit(av, c))
        elif name == "BRANCH":
            out.append(_emit(av[1][0], c))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue
        elif name == "CATEGORY":
            out.append(_category(av))
        else:
            raise ValueError(name)
    return "".join(out)


def _emit_in(items) -> str:
    negate = False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
            continue
        if negate:
            excluded = {chr(v) for o, v in items if str(o) == "LITERAL"}
            for candidate in "aZ9_ -":
                if candidate not in excluded:
                    return candidate
            return "~"
        if name == "LITERAL":
            return chr(av)
        if name == "RANGE":
            return chr(av[0])
        if name == "CATEGORY":
            return _category(av)
    return "a"


def _category(av) -> str:
    name = str(av)
    if "NOT_DIGIT" in name:
        return "a"
    if "DIGIT" in name:
        return "1"
    if "NOT_SPACE" in name:
        return "a"
    if "SPACE" in name:
        return " "
    if "NOT_WORD" in name:
        return "-"
    if "WORD" in name:
        return "a"
    return "a"


def benign_process_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Ordinary Linux process_creation events (no rule literals on purpose)."""
    images = [
        "/usr/bin/ls", "/usr/bin/cat", "/usr/bin/grep", "/usr/bin/ps", "/usr/bin/sleep", "/usr/bin/date",
        "/usr/sbin/cron", "/usr/bin/python3", "/usr/bin/git", "/usr/bin/make", "/usr/bin/gcc", "/usr/bin/tail",
        "/usr/bin/head", "/usr/bin/sort", "/usr/bin/awk", "/usr/bin/sed", "/usr/lib/systemd/systemd-journald",
        "/usr/bin/dbus-daemon", "/usr/bin/node", "/usr/bin/java", "/opt/app/bin/server", "/usr/bin/rsync",
    ]  # fmt: skip
    parents = [
        "/usr/bin/bash",
        "/usr/bin/zsh",
        "/usr/lib/systemd/systemd",
        "/usr/sbin/sshd",
        "/usr/bin/tmux",
        "/usr/sbin/cron",
    ]
    users = ["root", "alice", "bob", "www-data", "postgres", "deploy", "nobody", "carol"]
    dirs = ["/home/alice", "/home/bob", "/root", "/srv/app", "/var/lib/postgresql", "/opt/app", "/"]
    words = ["report", "data", "build", "main", "config", "release", "index", "cache", "module", "worker", "sync"]
    out = []
    for i in range(count):
        image = rng.choice(images)
        name = image.rsplit("/", 1)[1]
        args = " ".join(
            rng.choice(words) + (str(rng.randrange(1000)) if rng.random() < 0.5 else "")
            for _ in range(rng.randrange(1, 4))
        )
        parent = rng.choice(parents)
        out.append(
            {
                "Image": image,
                "CommandLine": f"{name} --{rng.choice(words)} {args}",
                "ParentImage": parent,
                "ParentCommandLine": parent.rsplit("/", 1)[1] + (" -l" if rng.random() < 0.3 else ""),
                "User": rng.choice(users),
                "CurrentDirectory": rng.choice(dirs),
                "ProcessId": str(1000 + i % 60000),
                "LogonId": rng.randrange(100),
            }
        )
    return out
