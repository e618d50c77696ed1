"""Chapter 4 figures: per-stage memory bars, memory versus depth, KV cache.

Memory kinds have fixed colours, drawn from the same Okabe-Ito palette as the schedule roles
and matched to them where the meaning carries over: activations are made by the forward pass
(forward blue), gradients by the backward pass (backward orange), the optimizer state is what
the weight update reads and writes (weight-gradient green). Weights are sky blue and the KV
cache vermillion. Memory is in GiB (2**30 bytes) on every axis.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ..hardware import GiB
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = [
    "MEMORY_COLORS",
    "MEMORY_LABELS",
    "kv_cache_figure",
    "memory_vs_depth_figure",
    "stage_memory_figure",
    "stage_memory_grid_figure",
    "stage_memory_key_html",
    "stage_memory_svg",
]

MEMORY_COLORS = {
    "weights": "#56B4E9",  # sky blue
    "gradients": ROLE_COLORS["backward"],
    "optimizer": ROLE_COLORS["weight"],
    "activations": ROLE_COLORS["forward"],
    "kv_cache": "#D55E00",  # vermillion
}
MEMORY_LABELS = {
    "weights": "weights",
    "gradients": "gradients",
    "optimizer": "optimizer state",
    "activations": "activations",
    "kv_cache": "KV cache",
}
_BUDGET_STYLES = ["--", ":", "-.", (0, (5, 1, 1, 1, 1, 1))]


def _grid(axes, nrows: int, ncols: int) -> list[list]:
    """Axes from :func:`new_figure` (which squeezes) as a nrows x ncols list of lists."""
    flat = list(np.ravel(np.asarray(axes, dtype=object)))
    return [flat[i * ncols : (i + 1) * ncols] for i in range(nrows)]


def _check_breakdown(rows) -> list[dict]:
    rows = list(rows)
    if not rows or not all(isinstance(r, dict) and "total" in r for r in rows):
        raise ValueError(
            "breakdown must be a non-empty list of stage dicts from memory.stage_memory, "
            f"got {rows!r}"
        )
    return rows


def _kinds(rows: list[dict]) -> list[str]:
    """Kinds present in any stage, in the fixed stacking order."""
    return [k for k in MEMORY_COLORS if any(r.get(k, 0) > 0 for r in rows)]


def _draw_bars(ax, rows: list[dict], kinds: Sequence[str]) -> None:
    bottom = [0.0] * len(rows)
    for kind in kinds:
        heights = [r.get(kind, 0.0) / GiB for r in rows]
        ax.bar(
            range(len(rows)),
            heights,
            bottom=bottom,
            width=0.8,
            color=MEMORY_COLORS[kind],
            label=MEMORY_LABELS[kind],
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", visible=False)
    step = 1 if len(rows) <= 8 else 2 if len(rows) <= 16 else max(1, len(rows) // 8)
    ax.set_xticks(range(0, len(rows), step))


def _draw_budgets(ax, budgets: Mapping[str, float] | None, label: bool = True) -> None:
    for k, (name, nbytes) in enumerate((budgets or {}).items()):
        ax.axhline(
            nbytes / GiB,
            color="black",
            linewidth=1,
            linestyle=_BUDGET_STYLES[k % len(_BUDGET_STYLES)],
            label=name if label else None,
        )


@styled
def stage_memory_figure(
    breakdown: Sequence[dict],
    *,
    budgets: Mapping[str, float] | None = None,
    title: str | None = None,
    width: float = 7.0,
    height: float = 3.0,
) -> Figure:
    """Stacked per-stage memory bars (GiB) for one configuration.

    Args:
        breakdown: stage dicts from :func:`ppnotes.memory.stage_memory`.
        budgets: label -> usable bytes per GPU, drawn as horizontal lines (e.g. 90 % of an
            H100's memory).
        title: drawn above the axes (explorer frames); book figures put it in the caption.
    """
    rows = _check_breakdown(breakdown)
    fig, ax = new_figure(width=width, height=height)
    _draw_bars(ax, rows, _kinds(rows))
    _draw_budgets(ax, budgets)
    top = max([r["total"] for r in rows] + list((budgets or {}).values())) / GiB
    ax.set_ylim(0, top * 1.12)
    ax.set_xlabel("stage index (0 = first stage)")
    ax.set_ylabel("GiB per GPU")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        ax.set_title(title)
    return fig


def _nice_step(top: float, ticks: int = 5) -> float:
    """A 1, 2 or 5 x 10^k step giving about ``ticks`` ticks up to ``top``."""
    raw = max(top, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(k * power for k in (1, 2, 5, 10) if k * power >= raw)


def stage_memory_svg(
    breakdown: Sequence[dict],
    *,
    budgets: Mapping[str, float] | None = None,
    title: str | None = None,
    legend: bool = True,
    width: int = 700,
    height: int = 260,
) -> str:
    """The per-stage stacked bars of :func:`stage_memory_figure` as an inline SVG string.

    Same colours, kinds and budget lines, drawn by hand: one path per memory kind, so a frame
    of 64 stages is still about 2 kB and an explorer can afford hundreds of frames (an HTML
    frame costs no rendering time). With ``legend=False`` the key is left out (an explorer shows
    :func:`stage_memory_legend_svg` once above its frames) and the plot takes the full width.
    """
    rows = _check_breakdown(breakdown)
    kinds = _kinds(rows)
    budgets = dict(budgets or {})
    left, right, top_pad, bottom = 48, 200 if legend else 8, 26 if title else 10, 34
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = max([r["total"] for r in rows] + list(budgets.values())) / GiB * 1.08
    step = _nice_step(top)

    def y(gib: float) -> float:
        return top_pad + plot_h * (1 - gib / top)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13" '
        'role="img">'
    ]
    if title:
        out.append(f'<text x="{left}" y="16">{html.escape(title)}</text>')
    ticks = [k * step for k in range(int(top / step + 1e-9) + 1)]
    grid = "".join(f"M{left} {y(t):.0f}h{plot_w}" for t in ticks)
    out.append(f'<path d="{grid}" stroke="#ddd"/><g text-anchor="end">')
    out.extend(f'<text x="{left - 4}" y="{y(t) + 4:.0f}">{t:g}</text>' for t in ticks)
    out.append(
        "</g>"
        f'<text transform="translate(13 {top_pad + plot_h / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">GiB per GPU</text>'
    )
    slot = plot_w / len(rows)
    bar = max(1, round(0.8 * slot))
    bases = [0.0] * len(rows)
    for kind in kinds:
        # One path per kind; each bar is a vertical stroke as wide as the bar, from its top
        # down by its height: "M x top v height", a third of a rectangle's bytes.
        segments = []
        for i, row in enumerate(rows):
            h = row.get(kind, 0.0) / GiB
            if h > 0:
                y0, y1 = round(y(bases[i] + h)), round(y(bases[i]))
                segments.append(f"M{round(left + (i + 0.5) * slot)} {y0}v{max(y1 - y0, 1)}")
            bases[i] += h
        out.append(
            f'<path stroke="{MEMORY_COLORS[kind]}" stroke-width="{bar}" d="{"".join(segments)}"/>'
        )
    label_every = 1 if len(rows) <= 8 else math.ceil(len(rows) / 8)
    out.append('<g text-anchor="middle">')
    label_y = top_pad + plot_h + 14
    for i in range(0, len(rows), label_every):
        out.append(f'<text x="{round(left + (i + 0.5) * slot)}" y="{label_y}">{i}</text>')
    out.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}">stage index (0 = first stage)'
        "</text></g>"
    )
    legend_y = top_pad + 6
    for k, (name, nbytes) in enumerate(budgets.items()):
        out.append(
            f'<path d="M{left} {y(nbytes / GiB):.0f}h{plot_w}" stroke="black"{_dash_attr(k)}/>'
        )
        if legend:
            out.append(_svg_key_line(left + plot_w + 8, legend_y, k, name))
            legend_y += 18
    if legend:
        for kind in kinds:
            out.append(_svg_key_swatch(left + plot_w + 8, legend_y, kind))
            legend_y += 18
    out.append("</svg>")
    # Single-quoted attributes: the page stores frames inside JSON, where every double quote
    # costs an escape; a frame is then about a tenth lighter.
    return "".join(out).replace('"', "'")


#: Budget line patterns in SVG frames and keys: dashed, dotted, dash-dot, solid.
_SVG_DASHES = ["7 3", "2 2", "9 3 2 3", ""]


def _dash_attr(k: int) -> str:
    dash = _SVG_DASHES[k % len(_SVG_DASHES)]
    return f' stroke-dasharray="{dash}"' if dash else ""


def _svg_key_line(x: float, y: float, k: int, name: str) -> str:
    return (
        f'<path d="M{x:.0f} {y:.0f}h20" stroke="black"{_dash_attr(k)}/>'
        f'<text x="{x + 24:.0f}" y="{y + 4:.0f}">{html.escape(name)}</text>'
    )


def _svg_key_swatch(x: float, y: float, kind: str) -> str:
    return (
        f'<rect x="{x:.0f}" y="{y - 6:.0f}" width="20" height="12" '
        f'fill="{MEMORY_COLORS[kind]}"/>'
        f'<text x="{x + 24:.0f}" y="{y + 4:.0f}">{MEMORY_LABELS[kind]}</text>'
    )


def stage_memory_key_html(kinds: Sequence[str], budget_names: Sequence[str] = ()) -> str:
    """The key of :func:`stage_memory_svg` (``legend=False``) as HTML that wraps with the text.

    Budget lines come first in the same dash order as the frames draw them, then one swatch
    per memory kind. Each entry is a small inline SVG sample and its label, laid out as a
    wrapping row, so it stays at the page's text size on a phone.
    """
    unknown = [k for k in kinds if k not in MEMORY_COLORS]
    if unknown:
        raise ValueError(f"kinds must be among {list(MEMORY_COLORS)}, got {unknown!r}")
    if not kinds and not budget_names:
        raise ValueError("give at least one memory kind or budget name for the key")
    sample = '<svg width="26" height="12" viewBox="0 0 26 12" aria-hidden="true">{}</svg>'
    items = [
        sample.format(f'<path d="M1 6h24" stroke="black" stroke-width="1.5"{_dash_attr(k)}/>')
        + f" {html.escape(name)}"
        for k, name in enumerate(budget_names)
    ] + [
        sample.format(f'<rect x="1" y="0" width="24" height="12" fill="{MEMORY_COLORS[kind]}"/>')
        + f" {MEMORY_LABELS[kind]}"
        for kind in kinds
    ]
    spans = "".join(f'<span style="white-space:nowrap">{item}</span>' for item in items)
    return f'<div style="display:flex;flex-wrap:wrap;gap:2px 14px;font-size:0.9em">{spans}</div>'


@styled
def stage_memory_grid_figure(
    grid: Mapping[str, Mapping[str, Sequence[dict]]],
    *,
    budgets: Mapping[str, float] | None = None,
) -> Figure:
    """Per-stage stacked bars in a grid: one row per schedule, one column per depth.

    ``grid`` maps a row label (e.g. "GPipe") to a mapping column label (e.g. "p = 8") ->
    stage dicts. Each row has its own memory axis (GPipe can need ten times what 1F1B needs);
    columns in a row share it, so depths compare directly. ``budgets`` are drawn in every panel.
    """
    row_labels = list(grid)
    if not row_labels or not all(grid[r] for r in row_labels):
        raise ValueError(f"grid must map row labels to non-empty column mappings, got {grid!r}")
    col_labels = list(grid[row_labels[0]])
    nrows, ncols = len(row_labels), len(col_labels)
    fig, axes = new_figure(width=7.0, height=2.3 * nrows + 0.6, nrows=nrows, ncols=ncols)
    axes = _grid(axes, nrows, ncols)
    all_rows = [r for row in grid.values() for rows in row.values() for r in rows]
    kinds = _kinds(all_rows)
    for i, row_label in enumerate(row_labels):
        panels = grid[row_label]
        top = max(r["total"] for rows in panels.values() for r in _check_breakdown(rows))
        top = max([top] + list((budgets or {}).values())) / GiB
        for j, col_label in enumerate(col_labels):
            ax = axes[i][j]
            _draw_bars(ax, _check_breakdown(panels[col_label]), kinds)
            _draw_budgets(ax, budgets, label=(i == 0 and j == 0))
            ax.set_ylim(0, top * 1.08)
            if i == 0:
                ax.set_title(col_label)
            if j == 0:
                ax.set_ylabel(f"{row_label}\nGiB per GPU")
            else:
                ax.tick_params(labelleft=False)
            if i == nrows - 1:
                ax.set_xlabel("stage")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return fig


@styled
def memory_vs_depth_figure(
    panels: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    *,
    budgets: Mapping[str, float] | None = None,
    log_y: Sequence[bool] | None = None,
) -> Figure:
    """Memory (GiB) versus pipeline depth, one panel per mapping entry.

    ``panels`` maps a panel title (used as its y label) to curves: label -> (depths, bytes).
    ``budgets`` (label -> usable bytes) are drawn in the last panel. ``log_y`` gives one flag
    per panel (default: linear).
    """
    titles = list(panels)
    if not titles:
        raise ValueError("panels must hold at least one panel")
    flags = list(log_y) if log_y is not None else [False] * len(titles)
    if len(flags) != len(titles):
        raise ValueError(f"log_y must give one flag per panel ({len(titles)}), got {log_y!r}")
    fig, axes = new_figure(width=7.0, height=3.4, ncols=len(titles))
    axes = _grid(axes, 1, len(titles))
    for ax, title, flag in zip(axes[0], titles, flags, strict=True):
        for k, (label, (depths, values)) in enumerate(panels[title].items()):
            ax.plot(
                list(depths),
                [v / GiB for v in values],
                marker="o",
                markersize=3,
                color=SERIES_COLORS[k % len(SERIES_COLORS)],
                label=label,
            )
        ax.set_xscale("log", base=2)
        if flag:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlabel("pipeline depth p (log scale)")
        ax.set_ylabel(f"{title} (GiB)")
    _draw_budgets(axes[0][-1], budgets)
    for ax in axes[0]:
        ax.legend(loc="best", fontsize=8)
    return fig


@styled
def kv_cache_figure(
    panels: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    *,
    budgets: Mapping[str, float] | None = None,
) -> Figure:
    """KV-cache size (GiB, log scale) versus context length, one panel per model.

    ``panels`` maps a model label to curves: batch label -> (context lengths in tokens,
    bytes). ``budgets`` (label -> bytes) are drawn in every panel; panels share the y axis.
    """
    titles = list(panels)
    if not titles:
        raise ValueError("panels must hold at least one panel")
    fig, axes = new_figure(width=7.0, height=3.4, ncols=len(titles), sharey=True)
    axes = _grid(axes, 1, len(titles))
    for ax, title in zip(axes[0], titles, strict=True):
        for k, (label, (contexts, values)) in enumerate(panels[title].items()):
            ax.plot(
                list(contexts),
                [v / GiB for v in values],
                marker="o",
                markersize=3,
                color=SERIES_COLORS[k % len(SERIES_COLORS)],
                label=label,
            )
        _draw_budgets(ax, budgets, label=ax is axes[0][0])
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("context length (tokens, log scale)")
    axes[0][0].set_ylabel("KV cache, whole model (GiB)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5))
    return fig
