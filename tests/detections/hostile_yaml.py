"""Hostile Sigma rule texts for the tests, and a time bound that fails instead of hanging.

`laughs()` is the probe of issue 13 at a size that is safe to run on the code before the fix
(6 levels: about half a million nodes once expanded, ~100 MB and half a second there); the
loader refuses the 9-level original as fast, which one test checks on the loader alone.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager

RULE_ID = "5f0b3f7e-1c2d-4a5b-9c8d-0e1f2a3b4c5d"
FIRST_ALIAS_LINE = 5  # "xb: &b [*a, ...]": the first line that uses an alias


def laughs(levels: int = 6, *, under: str = "description") -> str:
    """A Sigma rule whose anchors nest `levels` deep (9**levels nodes once expanded)."""
    names = "abcdefghi"[:levels]
    lines = [f"title: Laughs\nid: {RULE_ID}\nstatus: test", f"xa: &a [{', '.join(['lol'] * 9)}]"]
    lines += [f"x{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]" for prev, name in zip(names, names[1:], strict=False)]
    lines += ["logsource:\n    product: linux\n    category: process_creation\ndetection:\n    selection:"]
    if under == "description":
        lines.append(f"        Image|endswith: /nc\n    condition: selection\ndescription: *{names[-1]}")
    else:
        lines.append(f"        CommandLine|contains: *{names[-1]}\n    condition: selection")
    return "\n".join(lines) + "\n"


def deep_flow(depth: int) -> str:
    return f"title: Deep\nid: {RULE_ID}\ntags: {'[' * depth}{']' * depth}\n"


@contextmanager
def finishes_within(seconds: int):
    """Fail (not hang) when the block runs longer than `seconds`."""

    def stop(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds * 5)  # the safety net; the assertion below is the bound
    started = time.monotonic()
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < seconds
