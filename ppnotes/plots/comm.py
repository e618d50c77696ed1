"""Chapter 3 figures: hops on the critical path, communication time versus depth, traffic
versus time, and tensor- versus pipeline-parallel communication.

Colours keep their book-wide roles (:data:`ppnotes.plots.style.ROLE_COLORS`); communication is
reddish purple. Schedule timelines are drawn by chapter 2's
:func:`ppnotes.plots.bubble.timeline_figure`; this module only marks the critical path on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..schedules import SimResult
from .bubble import timeline_figure
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = [
    "blocking_timeline_figure",
    "comm_time_vs_depth_figure",
    "critical_path_figure",
    "tp_vs_pp_figure",
    "traffic_vs_time_figure",
]


def _check_mapping(name: str, value) -> None:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{name} must be a non-empty dict label -> data, got {value!r}")


@styled
def critical_path_figure(
    results: Mapping[str, SimResult], *, unit: str = "units of one forward"
) -> Figure:
    """Timelines of simulated schedules with their critical path marked.

    Each panel is chapter 2's timeline (:func:`ppnotes.plots.bubble.timeline_figure`); on top,
    every action of the critical path is outlined in black and every hop on it (a wait for an
    input from another rank, the hop latency) is a thick reddish-purple segment from the
    sender's end to the receiver's start. Count the segments: that is how many hop latencies
    the step pays.

    Args:
        results: label -> :class:`~ppnotes.schedules.SimResult` simulated with ``comm > 0``.
        unit: time unit of the simulation, for the x-axis label.
    """
    _check_mapping("results", results)
    fig = timeline_figure(dict(results), unit=unit, numbers=True)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"][: len(results)]
    for ax, (label, result) in zip(axes, results.items(), strict=True):
        path = result.critical_path()
        index = {a: i for i, a in enumerate(result.actions)}
        prev = None
        hops = 0
        for action, after_hop in path:
            i = index[action]
            start, dur, rank = result.start[i], result.duration[i], result.rank[i]
            ax.barh(rank, dur, left=start, height=0.8, fill=False, edgecolor="black", lw=1.2)
            if after_hop and prev is not None:
                hops += 1
                ax.plot(
                    [result.end[prev], start],
                    [result.rank[prev], rank],
                    color=ROLE_COLORS["comm"],
                    lw=3,
                    solid_capstyle="butt",
                )
            prev = i
        ax.set_title(
            f"{label}: {hops} hops on the critical path, step {result.makespan:.4g}", loc="left"
        )
    handles = [
        Line2D([], [], color="black", lw=1.2, label="critical path (outlined)"),
        Line2D([], [], color=ROLE_COLORS["comm"], lw=3, label="hop latency on it"),
    ]
    fig.legend(handles=handles, loc="outside upper right", ncols=2, frameon=False)
    return fig


@styled
def blocking_timeline_figure(
    results: Mapping[str, SimResult], *, unit: str = "units of one forward"
) -> Figure:
    """Timelines of simulated schedules with each rank's blocked sends drawn in.

    Chapter 2's timeline (:func:`ppnotes.plots.bubble.timeline_figure`), and for a result
    simulated with ``blocking=True`` a hatched bar in the communication colour after every
    action that feeds another rank: the time the rank waits for its own send
    (:attr:`~ppnotes.schedules.SimResult.send_time`). Results simulated asynchronously get
    no bars: there a hop only delays its receiver (grey idle time on the receiving row).
    Each panel's title gives the step time.

    Args:
        results: label -> :class:`~ppnotes.schedules.SimResult` (same time unit).
        unit: time unit of the simulation, for the x-axis label.
    """
    _check_mapping("results", results)
    fig = timeline_figure(dict(results), unit=unit, numbers=True)
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"][: len(results)]
    for ax, (label, result) in zip(axes, results.items(), strict=True):
        mode = "blocking sends" if result.blocking else "asynchronous sends"
        if result.blocking:
            sending = [i for i, t in enumerate(result.send_time) if t > 0]
            ax.barh(
                [result.rank[i] for i in sending],
                [result.send_time[i] for i in sending],
                left=[result.end[i] for i in sending],
                height=0.5,
                color=ROLE_COLORS["comm"],
                hatch="////",
                edgecolor="white",
                linewidth=0,
            )
        ax.set_title(f"{label}, {mode}: step {result.makespan:.4g}", loc="left")
    handles = [
        Patch(
            facecolor=ROLE_COLORS["comm"],
            hatch="////",
            edgecolor="white",
            label="rank waits for its own send",
        ),
    ]
    fig.legend(handles=handles, loc="outside upper right", frameon=False)
    return fig


def _curves_figure(curves, note_label, x_scale: float):
    """Lines of (x * x_scale, seconds in ms); the note's model dashed black, legend below."""
    _check_mapping("curves", curves)
    fig, ax = new_figure(width=7.0, height=4.4)
    colors = iter(SERIES_COLORS)
    for label, (xs, seconds) in curves.items():
        x = [x_scale * value for value in xs]
        ms = [1e3 * value for value in seconds]
        style = {"color": "black", "linestyle": "--", "marker": "s"}
        if label != note_label:
            style = {"color": next(colors), "marker": "o"}
        ax.plot(x, ms, markersize=4, label=label, **style)
    fig.legend(loc="outside lower center", ncols=2, frameon=False)
    return fig, ax


@styled
def comm_time_vs_depth_figure(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    note_label: str | None = None,
    title: str | None = None,
) -> Figure:
    """Communication time per training step versus depth, one line per model, log y axis.

    ``curves`` maps a label to ``(depths, seconds)``. The curve named ``note_label`` (the
    note's model: all traffic through one link) is drawn dashed in black, the critical-path
    models as solid lines. Seconds are shown in milliseconds.
    """
    fig, ax = _curves_figure(curves, note_label, x_scale=1.0)
    ax.set_yscale("log")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("pipeline depth p (stages, log scale)")
    ax.set_ylabel("communication time per step (ms, log)")
    if title:
        ax.set_title(title)
    return fig


@styled
def traffic_vs_time_figure(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    note_label: str | None = None,
    xlabel: str = "traffic per step, all boundaries (GB, log)",
) -> Figure:
    """Traffic per step (GB, x) against the time it adds to the step (ms, y).

    ``curves`` maps a label to ``(bytes, seconds)``: each point is one configuration (for
    example a micro-batch count). The note's model (``note_label``) is a straight line through
    the origin: time = traffic / bandwidth. Critical-path models stay far below it.
    """
    fig, ax = _curves_figure(curves, note_label, x_scale=1e-9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("time added to the step (ms, log)")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    return fig


@styled
def tp_vs_pp_figure(times: Mapping[str, float], *, highlight: str | None = None) -> Figure:
    """Horizontal bars of communication times (ms, log axis), e.g. a TP all-reduce over
    NVLink and over InfiniBand against one pipeline hop. ``highlight`` names the bar drawn in
    the communication colour (the others are grey-blue)."""
    _check_mapping("times", times)
    labels = list(times)
    ms = [1e3 * times[k] for k in labels]
    fig, ax = new_figure(width=7.0, height=0.45 * len(labels) + 1.2)
    colors = [ROLE_COLORS["comm"] if k == highlight else SERIES_COLORS[0] for k in labels]
    ax.barh(range(len(labels)), ms, color=colors)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time per micro-batch (ms, log)")
    for y, value in enumerate(ms):
        ax.text(value * 1.08, y, f"{value:.3g} ms", va="center", fontsize=9)
    ax.set_xlim(min(ms) / 2, max(ms) * 4)
    ax.grid(axis="y", visible=False)
    return fig
