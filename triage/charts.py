"""Geometry of the statistics' server-rendered SVG charts: numbers in, rectangles and ticks out.

Templates draw the SVG from these (presentation attributes and CSS classes only: the CSP forbids
style attributes); colours come from portal.css, so charts follow light and dark mode. Pure
arithmetic, no Django: each chart is also shown as a table of the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

# The drawing's own units (the SVG's viewBox); the browser scales it to the card's width.
LEFT_AXIS = 34  # room for the y-axis figures
BOTTOM_AXIS = 18  # room for the dates
TOP = 8
MAX_DATE_LABELS = 8


@dataclass(frozen=True)
class Column:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float
    label_x: float  # where its date is written when `labelled`: the centre, the right edge for the last
    label_anchor: str  # SVG text-anchor: the last date ends at the plot's edge instead of running past it
    labelled: bool


@dataclass(frozen=True)
class Tick:
    value: int
    y: float


@dataclass(frozen=True)
class ColumnChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    baseline: float
    columns: list[Column]
    ticks: list[Tick]
    total: int
    peak: int


def nice_ceiling(value: int) -> tuple[int, int]:
    """The axis top at or above `value` and its step: 1, 2 or 5 times a power of ten, about 4 steps."""
    if value <= 0:
        return 1, 1
    raw_step = value / 4
    power = 10 ** math.floor(math.log10(raw_step)) if raw_step >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw_step)
    step = max(int(step), 1)
    return step * math.ceil(value / step), step


def day_columns(points, *, width: int = 720, height: int = 160) -> ColumnChart:
    """Columns for counts per day (objects with `day` and `count`), oldest on the left."""
    points = list(points)
    peak = max((p.count for p in points), default=0)
    top, step = nice_ceiling(peak)
    plot_right = width - 4
    plot_width = plot_right - LEFT_AXIS
    plot_height = height - BOTTOM_AXIS - TOP
    baseline = TOP + plot_height
    slot = plot_width / max(len(points), 1)
    label_every = max(1, math.ceil(len(points) / MAX_DATE_LABELS))
    columns = []
    for index, point in enumerate(points):
        bar_height = plot_height * point.count / top
        columns.append(
            Column(
                day=point.day,
                count=point.count,
                x=round(LEFT_AXIS + index * slot + slot * 0.14, 2),
                y=round(baseline - bar_height, 2),
                width=round(max(slot * 0.72, 1), 2),
                height=round(bar_height, 2),
                label_x=round(plot_right if index == len(points) - 1 else LEFT_AXIS + (index + 0.5) * slot, 2),
                label_anchor="end" if index == len(points) - 1 else "middle",
                # The newest day always carries its date: it is the one people look for.
                labelled=(len(points) - 1 - index) % label_every == 0,
            )
        )
    ticks = [Tick(value=v, y=round(baseline - plot_height * v / top, 2)) for v in range(0, top + 1, step)]
    return ColumnChart(
        width=width,
        height=height,
        plot_left=LEFT_AXIS,
        plot_right=plot_right,
        baseline=baseline,
        columns=columns,
        ticks=ticks,
        total=sum(p.count for p in points),
        peak=peak,
    )


@dataclass(frozen=True)
class Segment:
    label: str
    count: int
    css: str
    x: float  # percent of the bar's length
    width: float


def split_bar(parts) -> list[Segment]:
    """One bar split in proportion to (label, count, css) parts; parts with no count are left out."""
    parts = [(label, count, css) for label, count, css in parts if count]
    total = sum(count for _, count, _ in parts)
    segments, start = [], 0.0
    for label, count, css in parts:
        width = 100 * count / total
        segments.append(Segment(label=label, count=count, css=css, x=round(start, 3), width=round(width, 3)))
        start += width
    return segments
