"""Chapter 10 figures."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from ppnotes import plots
from ppnotes.schedules import simulate_named


def test_measured_timeline_uses_the_books_timeline_in_milliseconds():
    measured = simulate_named("1f1b", 2, 4, t_f=0.005, t_i=0.01, t_w=0.0)
    simulated = simulate_named("1f1b", 2, 4, t_f=0.004, t_i=0.008, t_w=0.0)
    fig = plots.measured_timeline_figure(measured, simulated)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[-1].get_xlabel() == "time (ms)"
    assert fig.axes[0].get_xlim()[1] == pytest.approx(1e3 * measured.makespan, rel=0.01)
    with pytest.raises(ValueError, match="measured must be a SimResult"):
        plots.measured_timeline_figure("x", simulated)


def test_measured_bubble_figure():
    fig = plots.measured_bubble_figure(2, [2, 4, 8], [0.4, 0.25, 0.15], [0.35, 0.22, 0.12])
    ax = fig.axes[0]
    closed = ax.lines[0]
    assert list(closed.get_xdata()) == list(range(2, 9))
    assert closed.get_ydata()[0] == pytest.approx(100 / 3)
    assert list(ax.lines[2].get_ydata()) == pytest.approx([40, 25, 15])
    assert len(ax.lines) == 3 and "this run" in ax.lines[2].get_label()
    with pytest.raises(ValueError, match="same non-zero length"):
        plots.measured_bubble_figure(2, [2, 4], [0.1], [0.1, 0.2])


def test_measured_bubble_figure_shows_the_reference_run_beside_this_one():
    fig = plots.measured_bubble_figure(
        2, [2, 4, 8], [0.5, 0.45, 0.4], [0.35, 0.22, 0.12], reference=[0.36, 0.23, 0.13]
    )
    ax = fig.axes[0]
    ref = ax.lines[3]
    assert list(ref.get_ydata()) == pytest.approx([36, 23, 13])
    assert ref.get_markerfacecolor() == "none" and "reference" in ref.get_label()
    with pytest.raises(ValueError, match="reference must have one value"):
        plots.measured_bubble_figure(2, [2, 4], [0.1, 0.2], [0.1, 0.2], reference=[0.1])
    with pytest.raises(ValueError, match="reference must be a finite number >= 0 and <= 1"):
        plots.measured_bubble_figure(2, [2, 4], [0.1, 0.2], [0.1, 0.2], reference=[0.1, 40])
