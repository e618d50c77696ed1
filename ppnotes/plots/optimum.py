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
