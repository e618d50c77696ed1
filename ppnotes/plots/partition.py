"""Chapter 1 figures: per-stage loads and balance efficiency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .style import ROLE_COLORS, new_figure, styled


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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    styles = ["-", "--", ":", "-."]
    for i, (label, (depths, eff)) in enumerate(curves.items()):
        ax.plot(
            depths,
            [100 * e for e in eff],
            linestyle=styles[i % len(styles)],
            linewidth=1.2,
            marker="o",
            markersize=3.5,
            markerfacecolor="white" if i % 2 else None,
            label=label,
        )
    ax.set_xlabel("pipeline depth p (stages)")
    ax.set_ylabel("balance efficiency (%)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
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
    fig, axes = new_figure(
        width=7.0, height=2.4, ncols=len(splits), sharey=True, fixed_margins=True
    )
    fig.subplots_adjust(left=0.09, right=0.99, bottom=0.2, top=0.87, wspace=0.08)
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
        ax.set_xlim(-0.6, len(loads) - 0.4)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, top * 1.15)
        ax.grid(axis="x", visible=False)
    axes[0].set_ylabel(unit)
    return fig
