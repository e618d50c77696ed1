"""Tests for ppnotes.plots.comm: each figure builds, marks what it says, and refuses bad input."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from ppnotes import plots
from ppnotes.plots.style import ROLE_COLORS
from ppnotes.schedules import build_schedule, simulate


def _comm_segments(ax):
    from matplotlib.colors import to_hex

    return [ln for ln in ax.get_lines() if to_hex(ln.get_color()) == ROLE_COLORS["comm"].lower()]


def test_critical_path_figure_draws_one_segment_per_hop():
    results = {
        "gpipe": simulate(build_schedule("gpipe", 4, 8), {"F": 1, "B": 2}, 0.3),
        "1f1b": simulate(build_schedule("1f1b", 4, 8), {"F": 1, "B": 2}, 0.3),
    }
    fig = plots.critical_path_figure(results)
    assert isinstance(fig, Figure)
    axes = fig.axes[:2]
    assert len(_comm_segments(axes[0])) == 6  # 2 (p - 1)
    assert len(_comm_segments(axes[1])) == 16  # 2 ceil((m + p - 2)(p - 1) / p)
    assert "16 hops" in axes[1].get_title(loc="left")


def test_blocking_timeline_draws_one_bar_per_blocked_send():
    sched = build_schedule("1f1b", 4, 8)
    results = {
        "1F1B": simulate(sched, {"F": 1, "B": 2}, 0.3),
        "1F1B ": simulate(sched, {"F": 1, "B": 2}, 0.3, blocking=True),
    }
    fig = plots.blocking_timeline_figure(results)
    assert isinstance(fig, Figure)
    ax_async, ax_block = fig.axes[:2]

    def hatched(ax):
        return [bar for bar in ax.patches if bar.get_hatch() == "////"]

    assert hatched(ax_async) == []
    # middle ranks send after every F and B (2 m each), end ranks after one kind (m each)
    bars = hatched(ax_block)
    assert len(bars) == 2 * 8 * 2 + 8 * 2
    assert all(bar.get_width() == pytest.approx(0.3) for bar in bars)
    assert "blocking sends" in ax_block.get_title(loc="left")
    assert "asynchronous sends" in ax_async.get_title(loc="left")


def test_line_figures_units_and_note_style():
    curves = {"note": ([2, 4, 8], [0.1, 0.3, 0.7]), "1f1b": ([2, 4, 8], [0.01, 0.012, 0.015])}
    fig = plots.comm_time_vs_depth_figure(curves, note_label="note")
    ax = fig.axes[0]
    assert "ms" in ax.get_ylabel() and ax.get_yscale() == "log"
    assert ax.get_lines()[0].get_linestyle() == "--"
    assert ax.get_lines()[0].get_ydata()[0] == pytest.approx(100.0)  # seconds -> ms
    fig = plots.traffic_vs_time_figure({"note": ([1e9, 2e9], [0.04, 0.08])}, note_label="note")
    ax = fig.axes[0]
    assert "GB" in ax.get_xlabel() and ax.get_lines()[0].get_xdata()[1] == pytest.approx(2.0)


def test_tp_vs_pp_bars():
    fig = plots.tp_vs_pp_figure({"TP NVLink": 1e-3, "PP hop": 2e-4}, highlight="PP hop")
    ax = fig.axes[0]
    widths = [bar.get_width() for bar in ax.patches]
    assert widths == pytest.approx([1.0, 0.2])
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize(
    "func",
    [
        plots.critical_path_figure,
        plots.blocking_timeline_figure,
        plots.comm_time_vs_depth_figure,
        plots.traffic_vs_time_figure,
        plots.tp_vs_pp_figure,
    ],
)
def test_bad_input(func):
    with pytest.raises(ValueError, match="must be a non-empty dict"):
        func({})
