"""Chapter 2 figures: timelines, bubble versus depth, schedules compared."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ppnotes import plots
from ppnotes.plots.style import ROLE_COLORS
from ppnotes.schedules import Schedule, simulate, simulate_named


def _bars(ax):
    return [patch for container in ax.containers for patch in container]


@pytest.mark.parametrize(("name", "p", "m", "v"), [("1f1b", 2, 3, 1), ("interleaved", 4, 8, 2)])
def test_timeline_has_one_row_per_rank_and_one_bar_per_action(name, p, m, v):
    result = simulate_named(name, p, m, v)
    fig = plots.timeline_figure(result)
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.get_yticks()) == p
    (idle,) = ax.containers
    assert len(idle) == p  # grey background, one per rank, as long as the step
    assert all(bar.get_width() == pytest.approx(result.makespan) for bar in idle)
    assert to_hex(idle[0].get_facecolor()) == ROLE_COLORS["idle"].lower()
    assert sum(len(c.get_paths()) for c in ax.collections) == len(result.actions)


def test_timeline_colours_follow_roles_and_stacks_panels():
    results = {"GPipe": simulate_named("gpipe", 4, 4), "ZB-H1": simulate_named("zb-h1", 4, 4)}
    fig = plots.timeline_figure(results)
    assert len(fig.axes) == 2
    gpipe_ax, zb_ax = fig.axes
    assert [c.get_label() for c in gpipe_ax.collections] == ["F", "B"]
    assert [c.get_label() for c in zb_ax.collections] == ["F", "I", "W"]
    w_colors = {to_hex(c) for c in zb_ax.collections[2].get_facecolor()}
    assert w_colors == {ROLE_COLORS["weight"].lower()}
    f_colors = {to_hex(c) for c in gpipe_ax.collections[0].get_facecolor()}
    assert f_colors == {ROLE_COLORS["forward"].lower()}
    assert "ZB-H1" in zb_ax.get_title(loc="left")


def test_timeline_writes_numbers_only_where_they_fit():
    small = plots.timeline_figure(simulate_named("1f1b", 2, 3))
    assert sorted(t.get_text() for t in small.axes[0].texts) == sorted("001122" * 2)
    crowded = plots.timeline_figure(simulate_named("1f1b", 16, 64))
    assert len(crowded.axes[0].texts) == 0
    no_numbers = plots.timeline_figure(simulate_named("1f1b", 2, 3), numbers=False)
    assert len(no_numbers.axes[0].texts) == 0


def test_timeline_of_a_custom_schedule():
    sched = Schedule.from_actions([["0F0", "0F1", "0B0", "0B1"], ["1F0", "1B0", "1F1", "1B1"]])
    fig = plots.timeline_figure(simulate(sched))
    assert len(fig.axes[0].containers[0]) == 2
    assert sum(len(c.get_paths()) for c in fig.axes[0].collections) == 8


def test_timeline_tints_a_ranks_second_stage():
    fig = plots.timeline_figure(simulate_named("zbv", 2, 3))
    forward = fig.axes[0].collections[0]
    assert len({to_hex(c) for c in forward.get_facecolor()}) == 2  # stage r and stage 2p-1-r
    # the legend says what the lighter tint means; schedules with one chunk per rank do not
    labels = [t.get_text() for t in fig.legends[0].texts]
    assert any(label.startswith("lighter") for label in labels)
    plain = plots.timeline_figure(simulate_named("1f1b", 2, 3))
    assert not any(t.get_text().startswith("lighter") for t in plain.legends[0].texts)
    # interleaved, 4 ranks, 8 micro-batches: every bar, forward ones included, is numbered
    inter = simulate_named("interleaved", 4, 8, 2)
    fig = plots.timeline_figure(inter)
    assert len(fig.axes[0].texts) == len(inter.actions)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({}, "results must be a SimResult or a non-empty dict"),
        ([1, 2], "results must be a SimResult or a non-empty dict"),
        ({"x": 3}, r"results\['x'\] must be a SimResult"),
    ],
)
def test_timeline_bad_input(results, message):
    with pytest.raises(ValueError, match=message):
        plots.timeline_figure(results)


def test_bubble_vs_depth_curves_and_labels():
    fig = plots.bubble_vs_depth_figure([2, 4, 8, 16], [8, 32], marks={2: 3.0, 4: 8.6})
    frac_ax, ratio_ax = fig.axes
    assert len(frac_ax.lines) == 3 and len(ratio_ax.lines) == 2  # the marks only on the left
    assert [line.get_label() for line in frac_ax.lines[:2]] == [
        "m = 8: (p-1)/(8+p-1)",
        "m = 32: (p-1)/(32+p-1)",
    ]
    assert [line.get_label() for line in ratio_ax.lines] == ["m = 8: (p-1)/8", "m = 32: (p-1)/32"]
    # values are the closed forms in percent: p = 8, m = 32
    assert frac_ax.lines[1].get_ydata()[2] == pytest.approx(100 * 7 / 39)
    assert ratio_ax.lines[1].get_ydata()[2] == pytest.approx(100 * 7 / 32)


def test_bubble_vs_depth_one_definition_and_interleaved():
    fig = plots.bubble_vs_depth_figure([2, 4], [8], definitions=["ratio"], v=2)
    (ax,) = fig.axes
    assert ax.lines[0].get_label() == "m = 8: (p-1)/(2*8)"
    assert ax.lines[0].get_ydata()[1] == pytest.approx(100 * 3 / 16)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([0, 2], [8]), {}, "depth must be an integer >= 1, got 0"),
        (([2], [8.5]), {}, "microbatches must be an integer >= 1, got 8.5"),
        (([], [8]), {}, "depths and microbatches must each hold at least one value"),
        (([2], [8]), {"definitions": ["share"]}, "definition must be one of 'fraction', 'ratio'"),
        (([2], [8]), {"definitions": []}, "definitions must name at least one"),
        (([4], [6]), {"v": 2}, "needs m divisible by p"),
    ],
)
def test_bubble_vs_depth_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        plots.bubble_vs_depth_figure(*args, **kwargs)


def test_schedule_comparison_bars():
    results = {
        "GPipe": simulate_named("gpipe", 4, 8),
        "1F1B": simulate_named("1f1b", 4, 8),
        "interleaved": simulate_named("interleaved", 4, 8, 2),
    }
    fig = plots.schedule_comparison_figure(results)
    left, right = fig.axes
    bubble_bars, peak_bars = _bars(left), _bars(right)
    assert len(bubble_bars) == len(peak_bars) == 3
    assert [b.get_width() for b in bubble_bars] == pytest.approx(
        [100 * 3 / 11] * 2 + [100 * 3 / 19]
    )
    # activations in micro-batches x L/p layers: GPipe m, 1F1B p, interleaved (11 chunks) / 2
    assert [b.get_width() for b in peak_bars] == pytest.approx([8, 4, 5.5])
    assert [t.get_text() for t in left.get_yticklabels()] == list(results)


def test_schedule_comparison_bad_input():
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.schedule_comparison_figure({})
