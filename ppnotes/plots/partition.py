"""Chapter 1 figures: per-stage loads, balance efficiency, and how a job lays out on GPUs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.ticker import MaxNLocator

from .._validate import check_int
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled


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


def megatron_rank_coords(rank: int, tensor_parallel: int, data_parallel: int) -> tuple:
    """(tensor, data, pipeline) coordinates of a global rank in Megatron-LM's default order.

    Megatron-LM numbers ranks with tensor parallelism fastest, then data parallelism, then the
    pipeline (order "tp-dp-pp", ``megatron/core/parallel_state.py``), so a TP group is ``t``
    consecutive ranks and lands inside one node when ``t`` divides the GPUs per node.
    """
    r = check_int("rank", rank, minimum=0)
    t = check_int("tensor_parallel", tensor_parallel)
    d = check_int("data_parallel", data_parallel)
    return r % t, (r // t) % d, r // (t * d)


@styled
def parallel_layout_figure(
    tensor_parallel: int = 4,
    pipeline_parallel: int = 4,
    data_parallel: int = 2,
    gpus_per_node: int = 8,
) -> Figure:
    """GPUs in nodes, TP groups, pipeline stages and DP replicas of one job, in one picture.

    Each box is a node; each row of squares inside it is one tensor-parallel group (the GPUs
    that split every layer of one stage), coloured by pipeline stage; arrows follow each
    data-parallel replica from stage to stage, across nodes. Ranks follow Megatron-LM's default
    order (see :func:`megatron_rank_coords`).
    """
    t = check_int("tensor_parallel", tensor_parallel)
    p = check_int("pipeline_parallel", pipeline_parallel)
    d = check_int("data_parallel", data_parallel)
    g = check_int("gpus_per_node", gpus_per_node)
    if g % t:
        raise ValueError(f"tensor_parallel must divide gpus_per_node ({g}), got {t}")
    n_gpus = t * p * d
    if n_gpus % g or n_gpus > 64:
        raise ValueError(
            f"t * p * d must be a multiple of gpus_per_node ({g}) and at most 64, got {n_gpus}"
        )
    rows, nodes = g // t, n_gpus // g
    gap, pitch = 1.2, 1.15  # units: one GPU square is 0.8 wide, rows of groups 1.15 apart
    x_lo, x_hi = -0.75, nodes * (t + gap) - gap - 0.25
    y_lo, y_hi = -0.95, (rows - 1) * pitch + 1.0
    width = 7.0
    height = width * (y_hi - y_lo) / (x_hi - x_lo)
    fig, ax = new_figure(width=width, height=height, fixed_margins=True)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    where = {}  # (stage, replica) -> (x of the row's left end, y)
    for node in range(nodes):
        x0 = node * (t + gap)
        ax.add_patch(
            FancyBboxPatch(
                (x0 - 0.6, -0.85),
                t + 0.2,
                (rows - 1) * pitch + 1.3,
                boxstyle="round,pad=0.02",
                facecolor="none",
                edgecolor="black",
                linewidth=1.2,
            )
        )
        ax.text(x0 + t / 2 - 0.5, (rows - 1) * pitch + 0.5, f"node {node}", ha="center")
        for local in range(g):
            rank = node * g + local
            tp, dp, pp = megatron_rank_coords(rank, t, d)
            y = (rows - 1 - local // t) * pitch
            x = x0 + local % t
            color = SERIES_COLORS[pp % len(SERIES_COLORS)]
            ax.add_patch(Rectangle((x - 0.4, y - 0.3), 0.8, 0.6, facecolor=color))
            ax.text(x, y, str(rank), ha="center", va="center", color="white", fontsize=9)
            if tp == 0:
                where[pp, dp] = (x0, y)
                label = f"stage {pp}, replica {dp}"
                ax.text(x0 + t / 2 - 0.5, y - 0.38, label, fontsize=8, ha="center", va="top")
    for (pp, dp), (x0, y) in where.items():
        if (pp + 1, dp) in where:
            x1, y1 = where[pp + 1, dp]
            ax.add_patch(
                FancyArrowPatch(
                    (x0 + t - 0.55, y),
                    (x1 - 0.45, y1),
                    arrowstyle="-|>",
                    mutation_scale=12,
                    color="black",
                    linewidth=1,
                    connectionstyle="arc3,rad=0.0" if y == y1 else "arc3,rad=0.2",
                )
            )
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig
