"""Chapter 10 figures: a measured PyTorch pipeline step beside the book's simulator.

Timelines reuse :func:`ppnotes.plots.bubble.timeline_figure` (same colours, same rows), so a
measured step and a simulated one read the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from .. import bubble
from .._validate import check_int, check_real
from ..schedules import SimResult
from .bubble import timeline_figure
from .style import SERIES_COLORS, new_figure, styled

__all__ = ["measured_bubble_figure", "measured_timeline_figure"]


def measured_timeline_figure(measured: SimResult, simulated: SimResult) -> Figure:
    """Two stacked timelines on one time axis (milliseconds): the measured step (a
    :class:`~ppnotes.schedules.SimResult` holding measured times, from
    :class:`ppnotes.real_pipeline.Measured`) above the simulator's, both in seconds."""
    for name, result in (("measured", measured), ("simulated", simulated)):
        if not isinstance(result, SimResult):
            raise ValueError(f"{name} must be a SimResult, got {type(result).__name__}")
    panels = {
        "measured (PyTorch, this machine)": _in_ms(measured),
        "simulated with measured costs": _in_ms(simulated),
    }
    return timeline_figure(panels, unit="ms")


def _in_ms(result: SimResult) -> SimResult:
    """The same result with every time in milliseconds (the figure's axis unit)."""
    from dataclasses import replace

    return replace(
        result,
        start=result.start * 1e3,
        end=result.end * 1e3,
        duration=result.duration * 1e3,
        makespan=result.makespan * 1e3,
        busy=result.busy * 1e3,
        idle=result.idle * 1e3,
    )


@styled
def measured_bubble_figure(
    p: int,
    microbatches: Sequence[int],
    measured: Sequence[float],
    simulated: Sequence[float],
    reference: Sequence[float] | None = None,
) -> Figure:
    """Bubble (idle share of the step, percent) versus m at fixed depth ``p``: measured points,
    the simulator with measured costs, the closed form (p-1)/(m+p-1), and optionally the
    measured points of the book's reference run (open circles).

    ``measured``, ``simulated`` and ``reference`` are fractions (0 to 1), one per entry of
    ``microbatches``.
    """
    p = check_int("p", p)
    ms = [check_int("microbatches", m) for m in microbatches]
    if not ms or len(measured) != len(ms) or len(simulated) != len(ms):
        raise ValueError(
            "microbatches, measured and simulated must have the same non-zero length, got "
            f"{len(ms)}, {len(measured)}, {len(simulated)}"
        )
    if reference is not None and len(reference) != len(ms):
        raise ValueError(
            f"reference must have one value per micro-batch count ({len(ms)}), got {len(reference)}"
        )
    named = [("measured", measured), ("simulated", simulated)]
    for name, values in named + ([("reference", reference)] if reference is not None else []):
        for x in values:
            check_real(name, x, maximum=1.0)  # a fraction of the step
    fig, ax = new_figure(width=7.0, height=3.4)
    dense = list(range(min(ms), max(ms) + 1))
    ax.plot(
        dense,
        [100 * bubble.bubble_fraction(p, m) for m in dense],
        color=SERIES_COLORS[6],
        label=f"closed form (p-1)/(m+p-1), p = {p}",
    )
    ax.plot(
        ms,
        [100 * x for x in simulated],
        marker="s",
        linestyle="--",
        color=SERIES_COLORS[1],
        label="simulator, measured costs",
    )
    ax.plot(
        ms,
        [100 * x for x in measured],
        marker="o",
        linestyle="none",
        color=SERIES_COLORS[0],
        markersize=7,
        label="measured (PyTorch 1F1B), this run",
    )
    if reference is not None:
        ax.plot(
            ms,
            [100 * x for x in reference],
            marker="o",
            linestyle="none",
            markerfacecolor="none",
            color=SERIES_COLORS[0],
            markersize=10,
            label="measured, the book's reference run",
        )
    ax.set_xticks(ms, [str(m) for m in ms])
    ax.set_xlabel("micro-batches m")
    ax.set_ylabel("bubble, idle share of the step (%)")
    ax.set_ylim(0, 100)
    ax.legend(loc="upper right", frameon=False)
    return fig
