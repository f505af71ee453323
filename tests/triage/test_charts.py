"""Chart geometry is arithmetic on the numbers shown beside it: columns in proportion, a readable axis."""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from ads_portal.ui import percent
from triage.charts import day_columns, nice_ceiling, split_bar


@dataclass
class Day:
    day: date
    count: int


def _days(counts):
    start = date(2026, 12, 1)
    return [Day(start + timedelta(days=i), c) for i, c in enumerate(counts)]


@pytest.mark.parametrize(
    "peak, top, step", [(0, 1, 1), (1, 1, 1), (3, 3, 1), (10, 10, 5), (37, 40, 10), (1234, 1500, 500)]
)
def test_the_axis_top_is_a_round_figure_at_or_above_the_peak(peak, top, step):
    assert nice_ceiling(peak) == (top, step)


@pytest.mark.parametrize("peak", [2, 7, 19, 99, 101, 640, 8191, 123456])
def test_the_axis_has_a_few_round_steps(peak):
    top, step = nice_ceiling(peak)
    assert top >= peak and top % step == 0 and 1 <= top // step <= 5
    assert str(step).rstrip("0") in ("1", "2", "5")


def test_columns_are_in_proportion_and_stand_on_the_baseline():
    chart = day_columns(_days([0, 5, 10, 2]), width=400, height=100)
    heights = [c.height for c in chart.columns]
    assert (
        heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1]) and heights[2] == pytest.approx(5 * heights[3])
    )
    assert all(c.y + c.height == pytest.approx(chart.baseline) for c in chart.columns)
    assert all(chart.plot_left <= c.x and c.x + c.width <= chart.plot_right for c in chart.columns)
    assert (chart.total, chart.peak) == (17, 10) and [t.value for t in chart.ticks] == [0, 5, 10]


def test_a_month_is_labelled_every_few_days_the_newest_day_ending_at_the_edge():
    chart = day_columns(_days([1] * 30), width=720)
    labelled = [c for c in chart.columns if c.labelled]
    assert 4 <= len(labelled) <= 8 and labelled[-1] is chart.columns[-1]
    assert labelled[-1].label_anchor == "end" and labelled[-1].label_x == chart.plot_right
    assert {c.label_anchor for c in labelled[:-1]} == {"middle"}


def test_a_split_bar_fills_its_length_and_leaves_out_empty_parts():
    segments = split_bar([("TP", 3, "a"), ("BTP", 0, "b"), ("FP", 1, "c")])
    assert [(s.label, s.x, s.width) for s in segments] == [("TP", 0, 75), ("FP", 75, 25)]
    assert split_bar([("TP", 0, "a")]) == []


@pytest.mark.parametrize(
    "rate, shown", [(None, "—"), (0, "0 %"), (0.025, "2.5 %"), (0.2, "20 %"), (2 / 3, "67 %"), (1, "100 %")]
)
def test_rates_read_as_percents(rate, shown):
    assert percent(rate) == shown
