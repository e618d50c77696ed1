"""Chapter 2 figures: schedule timelines, bubble versus depth, schedules compared.

Colours keep their book-wide roles (:data:`ppnotes.plots.style.ROLE_COLORS`): forward ``F``
blue, backward ``B`` and input-gradient ``I`` orange, weight-gradient ``W`` green, idle time the
grey background of each rank's row. On a rank that holds several stages (interleaved chunks,
the V of ZB-V) the second, fourth, ... stage is drawn in a lighter tint of the same colour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .. import bubble
from .._validate import check_choice, check_int
from ..schedules import SimResult, activation_sets_per_rank_layers
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = [
    "bubble_vs_depth_figure",
    "schedule_comparison_figure",
    "timeline_figure",
]

_KIND_ROLE = {"F": "forward", "B": "backward", "I": "backward", "W": "weight"}
_LABEL_FONT = 9  # points: the book's minimum readable size at 7 in page width
_DEFINITION_TEXT = {
    "fraction": ("idle share of the step", "(p-1)/(m+p-1)"),
    "ratio": ("idle over ideal time", "(p-1)/m"),
}


def _tint(color: str, amount: float = 0.45) -> tuple[float, float, float]:
    r, g, b = to_rgb(color)
    return (r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount)


def _results_by_label(results) -> dict[str, SimResult]:
    if isinstance(results, SimResult):
        return {results.schedule.name: results}
    if isinstance(results, Mapping) and results:
        for label, result in results.items():
            if not isinstance(result, SimResult):
                raise ValueError(
                    f"results[{label!r}] must be a SimResult (from schedules.simulate), "
                    f"got {type(result).__name__}"
                )
        return {str(label): result for label, result in results.items()}
    raise ValueError(
        "results must be a SimResult or a non-empty dict of label -> SimResult, "
        f"got {type(results).__name__}"
    )


@styled
def timeline_figure(
    results: SimResult | Mapping[str, SimResult],
    *,
    unit: str = "units of one forward",
    numbers: bool = True,
    width: float = 7.0,
) -> Figure:
    """Gantt chart of simulated schedules: one panel per result, one row per rank.

    Args:
        results: a :class:`~ppnotes.schedules.SimResult`, or a dict label -> SimResult to
            stack several schedules on one time axis (same unit).
        unit: the time unit of the simulation, for the x-axis label.
        numbers: write each action's micro-batch number inside its bar where it fits.
        width: figure width in inches (7 = the page width).

    Rank 0 is the top row. Each row's grey background is the step (0 to the makespan); what
    stays grey is idle time, the bubble. Returns the Figure; in each panel, the bar container
    holds the idle backgrounds (one per rank), and one ``PolyCollection`` per kind of action
    present (label ``"F"``, ``"B"``, ``"I"`` or ``"W"``) holds one rectangle per action.
    """
    panels = _results_by_label(results)
    ranks = [r.schedule.num_ranks for r in panels.values()]
    chunked = any(len(st) > 1 for r in panels.values() for st in r.schedule.rank_stages)
    # Fixed margins in inches instead of constrained layout: explorers draw dozens of these,
    # and the layout solver would double the cost of each frame.
    heights = [0.26 * p + 0.3 for p in ranks]
    title, bottom, left, right = 0.3, 1.05 if chunked else 0.8, 0.55, 0.12
    height = sum(heights) + title * len(panels) + bottom
    fig, axes = new_figure(
        width,
        height,
        len(panels),
        1,
        fixed_margins=True,
        sharex=True,
        squeeze=False,
        gridspec_kw={
            "height_ratios": heights,
            "left": left / width,
            "right": 1 - right / width,
            "bottom": bottom / height,
            "top": 1 - title / height,
            "hspace": title / (sum(heights) / len(heights)),
        },
    )
    axes = axes[:, 0]
    axes = list(axes)
    horizon = max(r.makespan for r in panels.values())
    # Points per time unit, to decide whether a label fits inside a bar.
    points_per_unit = (width - left - right) * 72 / horizon if horizon > 0 else 0.0
    for ax, (label, result) in zip(axes, panels.items(), strict=True):
        _draw_timeline(ax, result, numbers, points_per_unit)
        ax.set_title(
            f"{label}: bubble {result.bubble_fraction:.1%} of the step "
            f"({result.bubble_ratio:.1%} of ideal time)",
            loc="left",
        )
    axes[-1].set_xlabel(f"time ({unit})")
    axes[-1].set_xlim(0, horizon * 1.001 if horizon > 0 else 1)
    kinds = {a.kind for r in panels.values() for a in r.actions}
    handles = []
    if "F" in kinds:
        handles.append(Patch(color=ROLE_COLORS["forward"], label="forward F"))
    backward = [
        label for kind, label in (("B", "backward B"), ("I", "input grad. I")) if kind in kinds
    ]
    if backward:
        handles.append(Patch(color=ROLE_COLORS["backward"], label=" / ".join(backward)))
    if "W" in kinds:
        handles.append(Patch(color=ROLE_COLORS["weight"], label="weight grad. W"))
    handles.append(Patch(color=ROLE_COLORS["idle"], label="idle (bubble)"))
    if chunked:  # say what the lighter tint means
        handles.append(
            Patch(
                color=_tint(ROLE_COLORS["forward"]),
                label="lighter: the rank's 2nd (4th, ...) chunk of layers",
            )
        )
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=2 if chunked else len(handles),
        frameon=False,
    )
    return fig


def _draw_timeline(ax, result: SimResult, numbers: bool, points_per_unit: float) -> None:
    schedule = result.schedule
    p = schedule.num_ranks
    rows = np.arange(p)
    ax.barh(rows, [result.makespan] * p, left=0, height=0.8, color=ROLE_COLORS["idle"])
    # position of each action's stage among its rank's stages (0 = first chunk)
    chunk_of_stage = {}
    for stages in schedule.rank_stages:
        for position, stage in enumerate(stages):
            chunk_of_stage[stage] = position
    kinds = np.array([a.kind for a in result.actions])
    typical = float(np.median(result.duration)) if len(result.duration) else 0.0
    chunk = np.array([chunk_of_stage[a.stage] for a in result.actions])
    for kind in ("F", "B", "I", "W"):
        mask = kinds == kind
        if not mask.any():
            continue
        base = ROLE_COLORS[_KIND_ROLE[kind]]
        colors = [base if c % 2 == 0 else _tint(base) for c in chunk[mask]]
        left = result.start[mask]
        right = left + result.duration[mask]
        low = result.rank[mask] - 0.4
        high = low + 0.8
        # one rectangle per action, drawn as one collection per kind (fast for 1000s of bars)
        verts = np.stack(
            [
                np.column_stack([left, low]),
                np.column_stack([left, high]),
                np.column_stack([right, high]),
                np.column_stack([right, low]),
            ],
            axis=1,
        )
        ax.add_collection(
            PolyCollection(
                verts,
                facecolors=colors,
                edgecolors="white",
                linewidths=0.5 if typical * points_per_unit > 6 else 0.0,
                label=kind,
            )
        )
    # Numbers in every bar with room for its digits plus a small margin.
    if numbers:
        for action, start, duration, rank in zip(
            result.actions, result.start, result.duration, result.rank, strict=True
        ):
            text = str(action.microbatch)
            if duration * points_per_unit >= 0.62 * _LABEL_FONT * len(text) + 2:
                ax.text(
                    start + duration / 2,
                    rank,
                    text,
                    ha="center",
                    va="center",
                    fontsize=_LABEL_FONT,
                    color="white" if action.kind != "W" else "black",
                )
    ax.set_yticks(rows, [str(r) for r in rows])
    ax.set_ylim(p - 0.5, -0.5)
    ax.set_ylabel("rank")
    ax.grid(False)


@styled
def bubble_vs_depth_figure(
    depths: Sequence[int],
    microbatches: Sequence[int],
    *,
    definitions: Sequence[str] = ("fraction", "ratio"),
    v: int = 1,
    marks: Mapping[int, float] | None = None,
) -> Figure:
    """Bubble of GPipe/1F1B (or interleaved with ``v`` chunks) versus depth, one panel per
    definition and one curve per micro-batch count.

    Args:
        depths: pipeline depths p (x-axis, log scale).
        microbatches: micro-batch counts m, one curve each; every curve's legend label gives its
            definition's formula.
        definitions: panels, among ``"fraction"`` (idle share of the step, (p-1)/(m+p-1), the
            note's) and ``"ratio"`` (idle over ideal time, (p-1)/m, Megatron-LM's).
        v: interleaved chunks per rank (needs every m divisible by every p when v > 1).
        marks: optional p -> bubble in percent of the step, drawn as black crosses on the
            ``"fraction"`` panel (e.g. the seed note's table).

    Returns the Figure; y-axes in percent.
    """
    depths = [check_int("depth", p) for p in depths]
    microbatches = [check_int("microbatches", m) for m in microbatches]
    if not depths or not microbatches:
        raise ValueError("depths and microbatches must each hold at least one value")
    definitions = [check_choice("definition", d, bubble.BUBBLE_DEFINITIONS) for d in definitions]
    if not definitions:
        raise ValueError("definitions must name at least one of 'fraction', 'ratio'")
    fig, axes = new_figure(width=7.0, height=3.4 + 0.25 * len(microbatches), ncols=len(definitions))
    axes = [axes] if len(definitions) == 1 else list(axes)
    for ax, definition in zip(axes, definitions, strict=True):
        measure = bubble.bubble_fraction if definition == "fraction" else bubble.bubble_ratio
        name, formula = _DEFINITION_TEXT[definition]
        if v > 1:
            formula = formula.replace("/(m", "/(vm").replace("/m", "/(vm)")
        for color, m in zip(SERIES_COLORS, microbatches, strict=False):
            values = [100 * measure(p, m, v) for p in depths]
            curve = formula.replace("m", str(m)).replace("v", f"{v}*" if v > 1 else "")
            ax.plot(
                depths, values, marker="o", markersize=4, color=color, label=f"m = {m}: {curve}"
            )
        if marks and definition == "fraction":
            ax.plot(
                list(marks),
                list(marks.values()),
                linestyle="none",
                marker="x",
                markersize=9,
                color="black",
                label="the note (m = 32)",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(p) for p in depths])
        ax.minorticks_off()
        ax.set_xlabel("pipeline depth p (log scale)")
        ax.set_ylabel(f"bubble, {name} (%)")
        ax.set_title(f"{name}: {formula}", loc="left")
        if definition == "fraction":
            ax.set_ylim(0, 100)  # a share of the step cannot exceed 100 %
        else:
            ax.set_ylim(bottom=0)
        # below the axes, so no curve hides behind it
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return fig


@styled
def schedule_comparison_figure(results: Mapping[str, SimResult]) -> Figure:
    """Schedules side by side: bubble (idle share of the step) and peak activations.

    ``results`` maps a label to a :class:`~ppnotes.schedules.SimResult`; give every schedule
    the same per-rank work (e.g. :func:`ppnotes.schedules.simulate_named`). Left: bubble as the
    idle share of the step (%), with idle over ideal time written on each bar. Right: the most
    activation sets any rank holds at once, in micro-batches through L/p layers (one 1F1B
    stage's worth), from :func:`ppnotes.schedules.activation_sets_per_rank_layers`.
    Returns the Figure (two panels, one bar per schedule in each).
    """
    panels = _results_by_label(results)
    labels = list(panels)
    y = np.arange(len(labels))
    fractions = [100 * r.bubble_fraction for r in panels.values()]
    ratios = [100 * r.bubble_ratio for r in panels.values()]
    peaks = [float(activation_sets_per_rank_layers(r).max()) for r in panels.values()]
    fig, (left, right) = new_figure(
        width=7.0, height=0.45 * len(labels) + 1.3, ncols=2, sharey=True
    )
    left.barh(y, fractions, color=ROLE_COLORS["forward"], height=0.6)
    for yi, f, r in zip(y, fractions, ratios, strict=True):
        left.text(f, yi, f" {f:.1f}% ({r:.1f}%)", va="center", fontsize=_LABEL_FONT)
    left.set_xlim(0, max(max(fractions), 1) * 1.6)
    left.set_xlabel("bubble, idle share of the step (%)\n(idle over ideal in brackets)")
    right.barh(y, peaks, color=ROLE_COLORS["backward"], height=0.6)
    for yi, peak in zip(y, peaks, strict=True):
        right.text(peak, yi, f" {peak:g}", va="center", fontsize=_LABEL_FONT)
    right.set_xlim(0, max(peaks) * 1.25)
    right.set_xlabel("peak activations, worst rank\n(micro-batches x L/p layers)")
    left.set_yticks(y, labels)
    left.set_ylim(len(labels) - 0.5, -0.5)
    for ax in (left, right):
        ax.grid(axis="y", visible=False)
    return fig
