"""Chapter 7 figures: the planner's choices (最优深度选择).

Step times are seconds per training step (chapter 5's model), memory is GiB (2**30 bytes) on
the fullest GPU. Functions take :class:`ppnotes.optimum.Plan` objects and rows of the sweeps in
:mod:`ppnotes.optimum`.
"""

from __future__ import annotations

import html

from matplotlib.figure import Figure

from .perf_model import breakdown_svg
from .style import SERIES_COLORS, new_figure, styled

__all__ = [
    "depth_sweep_figure",
    "optimum_frame_html",
    "pareto_figure",
    "practice_figure",
]

GiB = 2**30


@styled
def pareto_figure(plan, *, title: str | None = None) -> Figure:
    """Step time against peak memory of every fitting configuration, coloured by depth p,
    with the Pareto front (no configuration both faster and smaller) and the best marked."""
    from ..optimum import pareto_front

    if not plan.ranked:
        raise ValueError("plan has no fitting configuration to draw")
    fig, ax = new_figure(7.0, 3.8)
    depths = sorted({r.candidate.p for r in plan.ranked})
    for i, p in enumerate(depths):
        rows = [r for r in plan.ranked if r.candidate.p == p]
        ax.scatter(
            [r.peak_bytes / GiB for r in rows],
            [r.step_time for r in rows],
            s=14,
            color=SERIES_COLORS[i % len(SERIES_COLORS)],
            alpha=0.75,
            label=f"p = {p}",
        )
    front = sorted(pareto_front(plan), key=lambda r: r.peak_bytes)
    ax.step(
        [r.peak_bytes / GiB for r in front],
        [r.step_time for r in front],
        where="post",
        color="black",
        lw=1.2,
        label="Pareto front",
    )
    best = plan.best
    ax.scatter(
        [best.peak_bytes / GiB],
        [best.step_time],
        s=120,
        facecolors="none",
        edgecolors="black",
        lw=1.5,
        label="fastest",
    )
    ax.axvline(plan.budget / GiB, color="grey", ls="--", lw=1)
    ax.set_xlabel("peak memory on the fullest GPU (GiB); dashed: budget")
    ax.set_yscale("log")
    ax.set_ylabel("step time (s, log scale)")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return fig


@styled
def depth_sweep_figure(rows, *, xlabel: str, logx: bool = True, title: str | None = None):
    """The fastest configuration's p and the smallest p that fits, against a swept value.

    ``rows``: dicts with ``x`` (number or label), ``best_p`` and ``min_p`` (None when nothing
    fits), as :func:`ppnotes.optimum.sweep` returns them. Categorical x (strings) are drawn
    as grouped bars (linear p axis), numbers as lines with markers (log p axis)."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows must not be empty")
    fig, ax = new_figure(6.0, 3.2)
    xs = [r["x"] for r in rows]
    best = [r["best_p"] for r in rows]
    low = [r["min_p"] for r in rows]
    if all(isinstance(x, str) for x in xs):
        pos = list(range(len(xs)))
        ax.bar(
            [i - 0.2 for i in pos],
            [b or 0 for b in best],
            0.4,
            label="fastest p",
            color=SERIES_COLORS[0],
        )
        ax.bar(
            [i + 0.2 for i in pos],
            [m or 0 for m in low],
            0.4,
            label="smallest p that fits",
            color=SERIES_COLORS[1],
        )
        ax.set_xticks(pos, xs, fontsize=8)
    else:
        ax.plot(xs, best, "o-", label="fastest p", color=SERIES_COLORS[0])
        ax.plot(xs, low, "s--", label="smallest p that fits", color=SERIES_COLORS[1])
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_yscale("log", base=2)
    ticks = sorted({v for v in best + low if v})
    ax.set_yticks(ticks, [str(v) for v in ticks])
    ax.minorticks_off()
    ax.set_ylabel("pipeline depth p")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


@styled
def practice_figure(rows) -> Figure:
    """Predicted step time of each published configuration beside the planner's pick
    (rows of :func:`ppnotes.optimum.practice_comparison`)."""
    rows = list(rows)
    if not rows:
        raise ValueError("rows must not be empty")
    fig, ax = new_figure(7.0, 3.2)
    pos = range(len(rows))
    ax.bar(
        [i - 0.2 for i in pos],
        [r["theirs_step"] for r in rows],
        0.4,
        label="authors' configuration",
        color=SERIES_COLORS[1],
    )
    ax.bar(
        [i + 0.2 for i in pos],
        [r["ours_step"] for r in rows],
        0.4,
        label="planner's pick",
        color=SERIES_COLORS[0],
    )
    ax.set_xticks(list(pos), [r["name"].split(" (")[0] for r in rows], fontsize=8)
    ax.set_ylabel("predicted step time (s)")
    ax.legend(fontsize=8)
    return fig


def optimum_frame_html(plan, *, top: int = 5, scale_seconds: float | None = None) -> str:
    """An explorer frame: the ``top`` configurations as an HTML table and the chosen one's
    step-time breakdown (:func:`ppnotes.plots.breakdown_svg`). No rendering cost."""
    head = (
        f"<p><b>{html.escape(plan.model.name)}</b> on {plan.num_gpus} x "
        f"{html.escape(plan.cluster.gpu.name)}, G = {plan.global_batch}: "
        f"{plan.searched:,} configurations, {len(plan.ranked)} fit</p>"
    )
    if not plan.ranked:
        return head + "<p>Nothing fits: every configuration misses memory or a rule.</p>"
    cells = "".join(
        f"<tr><td>{i + 1}</td><td><code>{html.escape(r.candidate.label)}</code></td>"
        f"<td>{r.step_time:.2f}</td><td>{r.peak_bytes / GiB:.1f}</td>"
        f"<td>{100 * r.result.mfu:.0f}</td></tr>"
        for i, r in enumerate(plan.ranked[:top])
    )
    table = (
        "<table><tr><th>#</th><th>configuration</th><th>step (s)</th><th>peak (GiB)</th>"
        f"<th>MFU (%)</th></tr>{cells}</table>"
    )
    bar = breakdown_svg(
        plan.best.result, title=f"chosen: {plan.best.candidate.label}", scale_seconds=scale_seconds
    )
    return head + table + bar
