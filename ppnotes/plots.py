"""Every figure of the book, in one style.

Functions build a :class:`matplotlib.figure.Figure` directly (never pyplot, whose global
state would show a figure twice in a notebook) and return it. Colours have fixed roles across
the book, from the Okabe-Ito palette, which stays distinct for the common forms of colour
blindness (Okabe & Ito 2008).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib.figure import Figure

# Fixed roles: a forward pass is always blue, idle time always light grey, and so on.
ROLE_COLORS = {
    "forward": "#0072B2",  # blue
    "backward": "#E69F00",  # orange (full backward B, and input-gradient I)
    "weight": "#009E73",  # bluish green (weight-gradient W)
    "idle": "#E4E4E4",  # light grey
    "comm": "#CC79A7",  # reddish purple
}
# Series colours for curves (depths, micro-batch counts, schedules), in a fixed order.
SERIES_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]

STYLE = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=SERIES_COLORS),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "figure.constrained_layout.use": True,
}


def styled(func):
    """Draw a figure inside the book's rc settings (fonts, grid, colour cycle)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float = 7.0, height: float = 3.6, nrows: int = 1, ncols: int = 1, **kw):
    """Return ``(figure, axes)`` with the book's style; call it inside a ``@styled`` function."""
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    return fig, axes


def to_png(fig: Figure, dpi: int = 72) -> bytes:
    """Render ``fig`` to PNG bytes (72 dpi keeps explorer frames small)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# ---------------------------------------------------------------- chapter 1: partition


@styled
def stage_loads_figure(
    loads_by_depth: Mapping[int, Sequence[float]],
    *,
    unit: str = "layer-equivalents",
    title: str | None = None,
) -> Figure:
    """Bar charts of per-stage load, one panel per depth, with the slowest stage marked.

    ``loads_by_depth`` maps a depth p to its p stage loads (in ``unit``). The dashed line is
    the mean load: the gap between it and the tallest bar is time the other stages wait.
    """
    depths = list(loads_by_depth)
    fig, axes = new_figure(width=7.0, height=1.9 * len(depths), nrows=len(depths), ncols=1)
    axes = [axes] if len(depths) == 1 else list(axes)
    for ax, p in zip(axes, depths, strict=True):
        loads = list(loads_by_depth[p])
        peak = max(loads)
        colors = [
            ROLE_COLORS["backward"] if load == peak else ROLE_COLORS["forward"] for load in loads
        ]
        ax.bar(range(len(loads)), loads, color=colors, width=0.8)
        mean = sum(loads) / len(loads)
        ax.axhline(mean, color="black", linestyle="--", linewidth=1)
        ax.set_ylabel(f"p = {p}\n{unit}")
        ax.set_xlim(-0.6, len(loads) - 0.4)
        ax.set_ylim(0, peak * 1.25)
        ax.text(
            0.99,
            0.95,
            f"balance = mean / max = {mean / peak:.1%}",
            transform=ax.transAxes,
            ha="right",
            va="top",
        )
        ax.grid(axis="x", visible=False)
    axes[-1].set_xlabel("stage index (0 = first stage)")
    if title:
        fig.suptitle(title)
    return fig


@styled
def balance_efficiency_figure(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    *,
    title: str | None = None,
) -> Figure:
    """Balance efficiency (mean / max stage load) versus depth, one line per split strategy.

    ``curves`` maps a label to ``(depths, efficiencies)``; efficiencies are fractions in (0, 1].
    """
    fig, ax = new_figure(width=7.0, height=3.4)
    for label, (depths, eff) in curves.items():
        ax.plot(depths, [100 * e for e in eff], marker="o", markersize=3, label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("pipeline depth p (stages, log scale)")
    ax.set_ylabel("balance efficiency (%)")
    ax.set_ylim(0, 105)
    ax.legend(loc="lower left")
    if title:
        ax.set_title(title)
    return fig


@styled
def split_comparison_figure(
    splits: Mapping[str, Sequence[float]], *, unit: str = "layer-equivalents"
) -> Figure:
    """Per-stage loads of several splits of the same model and depth, side by side.

    ``splits`` maps a label (e.g. "balanced", "optimal") to stage loads. Small enough to be an
    explorer frame.
    """
    fig, axes = new_figure(width=7.0, height=2.4, ncols=len(splits), sharey=True)
    axes = [axes] if len(splits) == 1 else list(axes)
    top = max(max(loads) for loads in splits.values())
    for ax, (label, loads) in zip(axes, splits.items(), strict=True):
        peak = max(loads)
        colors = [ROLE_COLORS["backward"] if x == peak else ROLE_COLORS["forward"] for x in loads]
        ax.bar(range(len(loads)), loads, color=colors, width=0.8)
        mean = sum(loads) / len(loads)
        ax.axhline(mean, color="black", linestyle="--", linewidth=1)
        ax.set_title(f"{label}: balance {mean / peak:.1%}")
        ax.set_xlabel("stage")
        ax.set_ylim(0, top * 1.15)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylabel(unit)
    return fig


def _register_notebook_display() -> None:
    """Show a returned Figure as a PNG in IPython even when pyplot was never imported."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the book, not of ppnotes
        return
    shell = get_ipython()
    if shell is not None:
        png = shell.display_formatter.formatters["image/png"]
        png.for_type(Figure, lambda fig: to_png(fig, dpi=110))


_register_notebook_display()
