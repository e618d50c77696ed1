"""Chapter 6 figures: the decode roofline, latency and throughput against concurrency, KV-cache
capacity against (t, p), predicted against published serving latency, and the explorer's frame.

Times are in milliseconds on the axes, throughput in output tokens per second, memory in GB
(1e9 bytes). Curves take the book's series colours in order; a hollow marker is a configuration
whose weights and KV cache do not fit in GPU memory. The decode timeline with k batches in
flight is chapter 2's :func:`ppnotes.plots.timeline_figure` on
:func:`ppnotes.schedules.simulate_decode_loop` results.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .. import inference as inf
from ..hardware import GPUSpec
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = [
    "decode_roofline_figure",
    "kv_capacity_figure",
    "latency_throughput_figure",
    "predicted_vs_measured_latency_figure",
    "serving_load_figure",
    "serving_summary_html",
]


def _check_mapping(value, name: str, what: str) -> dict:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"{name} must be a non-empty dict of {what}, got {value!r}")
    return dict(value)


@styled
def decode_roofline_figure(
    model,
    gpus: Sequence[GPUSpec],
    context: int = 4096,
    tensor_parallel: int = 1,
    batches: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
) -> Figure:
    """Decode time per token of one layer against the batch, for each GPU (log-log).

    Left: microseconds per token (a decode step of one layer over the batch), falling as 1/b
    while the step reads the weights (memory-bound) and flattening where compute takes over;
    the dashed line is the same without the KV cache (context 1). Dots mark
    :func:`ppnotes.inference.crossover_batch` where it is finite.
    """
    if not gpus:
        raise ValueError("gpus must list at least one GPUSpec")
    fig, ax = new_figure(7.0, 3.8)
    b = np.asarray(list(batches), dtype=int)
    for color, gpu in zip(SERIES_COLORS, gpus, strict=False):
        per_token = [
            1e6 * inf.decode_layer_time(model, int(x), context, gpu, tensor_parallel) / x for x in b
        ]
        bare = [1e6 * inf.decode_layer_time(model, int(x), 1, gpu, tensor_parallel) / x for x in b]
        ax.plot(b, per_token, "-", color=color, label=f"{gpu.name}, context {context:,}")
        ax.plot(b, bare, "--", color=color, lw=1, alpha=0.8)
        for ctx, style in ((context, "o"), (1, "s")):
            cross = inf.crossover_batch(model, gpu, ctx, tensor_parallel)
            if math.isfinite(cross) and b[0] <= cross <= b[-1]:
                y = 1e6 * inf.decode_layer_time(model, round(cross), ctx, gpu, tensor_parallel)
                ax.plot([cross], [y / round(cross)], style, color=color, ms=6)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch b (sequences decoded together)")
    ax.set_ylabel("µs per token per layer")
    ax.legend(title="solid: with KV cache; dashed: context 1", loc="upper right")
    return fig


@styled
def latency_throughput_figure(curves: Mapping[str, Sequence], width: float = 7.0) -> Figure:
    """TPOT (left) and output tokens per second per GPU (right) against concurrency.

    Args:
        curves: label -> list of :class:`ppnotes.inference.Serving` at rising concurrency
            (one configuration (t, p) per label).
    """
    curves = _check_mapping(curves, "curves", "label -> list of Serving")
    fig, (left, right) = new_figure(width, 4.0, 1, 2)
    for color, (label, points) in zip(SERIES_COLORS, curves.items(), strict=False):
        points = list(points)
        if not points or not all(isinstance(s, inf.Serving) for s in points):
            raise ValueError(f"curves[{label!r}] must be a non-empty list of Serving")
        n = [s.concurrency for s in points]
        for ax, values in (
            (left, [1e3 * s.tpot for s in points]),
            (right, [s.tokens_per_s_per_gpu for s in points]),
        ):
            ax.plot(n, values, "-", color=color, label=label)
            fit = [s.fits for s in points]
            ax.scatter(
                n,
                values,
                s=22,
                facecolors=[color if f else "white" for f in fit],
                edgecolors=color,
                zorder=3,
            )
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent requests R")
    left.set_ylabel("time per output token (ms)")
    right.set_ylabel("output tokens/s per GPU")
    left.legend(loc="upper left", fontsize=8)
    return fig


@styled
def kv_capacity_figure(capacity: Mapping[int, Mapping[int, int]], context: int) -> Figure:
    """Sequences whose KV cache fits in one replica against p, one line per t.

    Args:
        capacity: t -> {p: max sequences} (0 where even the weights do not fit, drawn as an
            open marker on the axis).
        context: tokens per sequence (for the title of the y-axis).
    """
    capacity = _check_mapping(capacity, "capacity", "t -> {p: sequences}")
    fig, ax = new_figure(7.0, 3.4)
    for color, (t, by_p) in zip(SERIES_COLORS, capacity.items(), strict=False):
        depths = sorted(by_p)
        values = [by_p[p] for p in depths]
        ax.plot(depths, values, "-", color=color, label=f"t = {t}")
        ax.scatter(
            depths,
            values,
            s=24,
            facecolors=[color if v > 0 else "white" for v in values],
            edgecolors=color,
            zorder=3,
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("pipeline depth p")
    ax.set_ylabel(f"sequences of {context:,} tokens per replica")
    ax.legend(loc="upper left")
    return fig


@styled
def predicted_vs_measured_latency_figure(rows_by_model: Mapping[str, Sequence[dict]]) -> Figure:
    """Predicted against measured request latency (left, log-log, the diagonal is exact) and
    the error of each row (right), one colour per all-reduce model.

    Args:
        rows_by_model: label -> rows of :func:`ppnotes.inference.published_comparison`.
    """
    rows_by_model = _check_mapping(rows_by_model, "rows_by_model", "label -> rows")
    fig, (left, right) = new_figure(7.0, 3.6, 1, 2)
    markers = {1: "o", 3: "s"}
    lo, hi = math.inf, 0.0
    for color, (label, rows) in zip(SERIES_COLORS, rows_by_model.items(), strict=False):
        for i, r in enumerate(rows):
            m = markers.get(r["p"], "^")
            left.plot(
                r["measured"], r["predicted"], m, color=color, ms=5, label=label if i == 0 else None
            )
            right.plot(i, 100 * r["error"], m, color=color, ms=5)
            lo = min(lo, r["measured"], r["predicted"])
            hi = max(hi, r["measured"], r["predicted"])
    left.plot([lo, hi], [lo, hi], "-", color="#777777", lw=1)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("measured latency (s)")
    left.set_ylabel("predicted latency (s)")
    left.legend(fontsize=8, title="circles p = 1, squares p = 3", title_fontsize=8)
    right.axhline(0, color="#777777", lw=1)
    right.set_xlabel("row of the table")
    right.set_ylabel("error (%)")
    return fig


def serving_summary_html(serving: inf.Serving, gpu: GPUSpec) -> str:
    """An explorer frame: TTFT, TPOT, throughput and memory per GPU of one configuration,
    with an inline SVG bar of the fullest GPU's memory (weights, KV cache, budget line)."""
    if not isinstance(serving, inf.Serving):
        raise ValueError(f"serving must be a ppnotes.inference.Serving, got {serving!r}")
    s, mem = serving, serving.memory
    capacity = gpu.memory_bytes
    scale = 300 / max(capacity, mem["total"])
    w_weights = mem["weights"] * scale
    w_kv = mem["kv_cache"] * scale
    budget_x = mem["budget"] * scale
    verdict = (
        f"fits (up to {mem['max_concurrency']:,} sequences)"
        if s.fits
        else f"does not fit: {mem['shortfall'] / 1e9:,.1f} GB short per GPU"
    )
    idle = ROLE_COLORS["idle"]
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 320 26" width="320" height="26" '
        'role="img" aria-label="memory per GPU">'
        f'<rect x="0" y="4" width="{capacity * scale:.1f}" height="16" fill="{idle}"/>'
        f'<rect x="0" y="4" width="{w_weights:.1f}" height="16" fill="{ROLE_COLORS["forward"]}"/>'
        f'<rect x="{w_weights:.1f}" y="4" width="{w_kv:.1f}" height="16" '
        f'fill="{ROLE_COLORS["backward"]}"/>'
        f'<line x1="{budget_x:.1f}" x2="{budget_x:.1f}" y1="0" y2="24" stroke="black"/></svg>'
    )
    cond = "" if s.fits else " (if it fitted)"
    rows = [
        ("GPUs (t × p)", f"{s.tensor_parallel} × {s.pipeline_parallel}"),
        ("batches in flight k", f"{s.in_flight}"),
        ("TTFT (idle server)" + cond, f"{1e3 * s.ttft:,.0f} ms"),
        ("TPOT" + cond, f"{1e3 * s.tpot:,.1f} ms"),
        (
            "output tokens/s" + cond,
            f"{s.tokens_per_s:,.0f} ({s.tokens_per_s_per_gpu:,.0f} per GPU)",
        ),
        (
            "memory, fullest GPU",
            f"{mem['weights'] / 1e9:,.1f} GB weights + {mem['kv_cache'] / 1e9:,.1f} GB KV "
            f"of {gpu.memory_bytes / 1e9:,.1f} GB ({gpu.memory_bytes / 2**30:,.0f} GiB)",
        ),
        ("verdict", verdict),
    ]
    body = "".join(
        f"<tr><td style='padding:1px 8px'>{html.escape(k)}</td>"
        f"<td style='padding:1px 8px'><b>{html.escape(v)}</b></td></tr>"
        for k, v in rows
    )
    legend = (
        "<span style='font-size:85%'>bar: blue weights, orange KV cache, grey free; "
        "line: the serving budget</span>"
    )
    return f"<table>{body}</table>{svg}<br>{legend}"


@styled
def serving_load_figure(
    curves: Mapping[str, Mapping], width: float = 7.0, ttft_limit: float = 10.0
) -> Figure:
    """TTFT (left, log scale) and TPOT (right) against the arrival rate, one curve per shape.

    ``curves`` maps a label to :func:`ppnotes.serving_queue.load_curve`'s dict. The x axis is
    the arrival rate in requests per second per replica; lines are the closed form
    (:func:`ppnotes.serving_queue.under_load`), markers the discrete-event simulation, and a
    dotted vertical line each shape's capacity. TTFT above ``ttft_limit`` seconds is clipped
    out of the view so the knee stays readable.
    """
    curves = _check_mapping(curves, "curves", "load curves")
    fig, (left, right) = new_figure(width, 4.0, 1, 2)
    markers = "osD^v<>"
    for i, (label, c) in enumerate(curves.items()):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        rate = np.asarray(c["rate"], dtype=float)
        ttft = np.asarray(c["ttft"], dtype=float)
        tpot = 1e3 * np.asarray(c["tpot"], dtype=float)
        keep = np.isfinite(ttft) & (ttft <= ttft_limit)
        left.plot(rate[keep], ttft[keep], "-", color=color, label=label)
        right.plot(rate, tpot, "-", color=color, label=label)
        m = markers[i % len(markers)]
        left.plot(c["sim_rate"], c["sim_ttft"], m, color=color, ms=5, mfc="white", ls="none")
        right.plot(
            c["sim_rate"], [1e3 * x for x in c["sim_tpot"]], m, color=color, ms=5, mfc="white",
            ls="none",
        )  # fmt: skip
        for ax in (left, right):
            ax.axvline(c["capacity"], color=color, ls=":", lw=1)
    left.set_yscale("log")
    left.set_xlabel("load (requests/s per replica)")
    left.set_ylabel("mean TTFT (s)")
    right.set_xlabel("load (requests/s per replica)")
    right.set_ylabel("mean TPOT (ms)")
    left.set_xlim(left=0)
    right.set_xlim(left=0)
    right.set_ylim(bottom=0)
    fig.legend(
        *right.get_legend_handles_labels(),
        loc="outside lower center",
        ncols=min(3, len(curves)),
        title="lines: closed form; markers: simulation; dotted: capacity",
    )
    return fig
