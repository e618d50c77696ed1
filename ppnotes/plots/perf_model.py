"""Chapter 5 figures: the step-time breakdown, predicted against published, MFU against b.

The parts of a step (:data:`ppnotes.perf_model.PARTS`) have fixed colours from the Okabe-Ito
palette, matched to the book's roles where the meaning carries over: compute is the forward
blue, the bubble is idle grey, exposed pipeline communication is the communication purple, and
the optimizer step is the weight-update green. Times are in seconds on every axis, throughput
in TFLOP/s per GPU, utilisation in percent of the GPU's dense BF16 peak.

Functions take :class:`ppnotes.perf_model.StepResult` objects (anything with the same
attributes works) and rows of :func:`ppnotes.perf_model.run_comparison`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from ..hardware import GPUS, GiB
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = [
    "PART_COLORS",
    "PART_LABELS",
    "breakdown_svg",
    "breakdown_vs_depth_figure",
    "step_vs_depth_figure",
    "gemm_efficiency_figure",
    "kernel_time_vs_tp_figure",
    "mfu_vs_microbatch_figure",
    "predicted_vs_published_figure",
]

PART_COLORS = {
    "compute": ROLE_COLORS["forward"],  # blue
    "recompute": "#56B4E9",  # sky blue: the forward again
    "bubble": ROLE_COLORS["idle"],  # light grey
    "pipeline_comm": ROLE_COLORS["comm"],  # reddish purple
    "tp_comm": "#D55E00",  # vermillion
    "cp_comm": "#F0E442",  # yellow: the context-parallel ring
    "dp_comm": ROLE_COLORS["backward"],  # orange: gradients come from the backward pass
    "optimizer": ROLE_COLORS["weight"],  # bluish green: the weight update
}
PART_LABELS = {
    "compute": "compute (forward + backward)",
    "recompute": "recomputation",
    "bubble": "bubble (idle)",
    "pipeline_comm": "exposed pipeline comm",
    "tp_comm": "tensor-parallel comm",
    "cp_comm": "context-parallel comm",
    "dp_comm": "exposed data-parallel comm",
    "optimizer": "optimizer step",
}
_EDGE = "#555555"  # outlines keep the light-grey bubble visible on white
_NOFIT_HATCH = "///"
_NOFIT_ALPHA = 0.35  # a bar that does not fit is faded, hatched and dark-edged
_NOFIT_EDGE = "#222222"
_MARKERS = {"hfu": "o", "mfu": "s"}


def _check_result(result, name: str = "result"):
    parts = getattr(result, "parts", None)
    if not isinstance(parts, Mapping) or not set(parts) <= set(PART_COLORS):
        raise ValueError(
            f"{name} must be a StepResult from ppnotes.perf_model.step_time (with .parts keyed "
            f"by {list(PART_COLORS)}), got {result!r}"
        )
    return result


def _panels(results_by_depth) -> dict[str, dict]:
    """{panel label: {depth: result or None}} from one mapping or a mapping of mappings."""
    if not isinstance(results_by_depth, Mapping) or not results_by_depth:
        raise ValueError(
            "results_by_depth must map depth -> StepResult (or panel label -> such a mapping), "
            f"got {results_by_depth!r}"
        )
    first = next(iter(results_by_depth.values()))
    if isinstance(first, Mapping):
        panels = {str(k): dict(v) for k, v in results_by_depth.items()}
    else:
        panels = {"": dict(results_by_depth)}
    for label, by_depth in panels.items():
        if not by_depth:
            raise ValueError(f"panel {label!r} has no depths")
        for depth, result in by_depth.items():
            if result is not None:
                _check_result(result, f"result for p = {depth}")
    return panels


def _present_parts(results) -> list[str]:
    return [k for k in PART_COLORS if any(r.parts.get(k, 0.0) > 0 for r in results)]


@styled
def breakdown_vs_depth_figure(
    results_by_depth,
    *,
    share: bool = False,
    width: float = 7.0,
    height: float | None = None,
) -> Figure:
    """Stacked step-time parts against the pipeline depth p.

    Args:
        results_by_depth: depth p -> StepResult (``None`` for a depth that is not possible,
            drawn as an empty slot marked "n/a"), or panel label (e.g. a schedule) -> such a
            mapping, drawn as one panel per label sharing the time axis.
        share: plot each part as a share of the step (percent) instead of seconds.

    Bars of configurations that do not fit memory (``result.fits`` is False) are faded and
    hatched; the fastest bar that fits in each panel is marked "fastest".
    """
    panels = _panels(results_by_depth)
    everything = [r for by in panels.values() for r in by.values() if r is not None]
    parts = _present_parts(everything)
    n = len(panels)
    fig, axes = new_figure(width=width, height=height or 1.2 + 2.3 * n, nrows=n, sharex=False)
    axes = [axes] if n == 1 else list(axes)
    top = max((r.step_time for r in everything), default=1.0)
    any_nofit = False
    for ax, (label, by_depth) in zip(axes, panels.items(), strict=True):
        depths = list(by_depth)
        for i, p in enumerate(depths):
            result = by_depth[p]
            if result is None:
                ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=8, color="#555555")
                continue
            nofit = getattr(result, "fits", True) is False
            any_nofit |= nofit
            scale = 100.0 / result.step_time if share else 1.0
            bottom = 0.0
            for part in parts:
                value = result.parts.get(part, 0.0) * scale
                ax.bar(
                    i,
                    value,
                    bottom=bottom,
                    width=0.7,
                    color=PART_COLORS[part],
                    alpha=_NOFIT_ALPHA if nofit else 1.0,
                    edgecolor=_NOFIT_EDGE if nofit else _EDGE,
                    linewidth=0.6 if nofit else 0.4,
                    hatch=_NOFIT_HATCH if nofit else None,
                )
                bottom += value
        best = _fastest_fitting(by_depth)
        if best is not None and not share:
            i = depths.index(best)
            ax.annotate(
                "fastest",
                (i, by_depth[best].step_time),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontweight="bold",
            )
        ax.set_xticks(range(len(depths)))
        ax.set_xticklabels([str(p) for p in depths])
        ax.set_xlim(-0.6, len(depths) - 0.4)
        ax.grid(axis="x", visible=False)
        ax.set_ylim(0, 100 if share else top * 1.08)
        ax.set_ylabel("share of step (%)" if share else "step time (s)")
        if label:
            ax.set_title(label, loc="left")
    axes[-1].set_xlabel("pipeline depth p (stages)")
    handles = [
        Patch(facecolor=PART_COLORS[k], edgecolor=_EDGE, linewidth=0.4, label=PART_LABELS[k])
        for k in parts
    ]
    if any_nofit:
        handles.append(
            Patch(
                facecolor="white", edgecolor=_NOFIT_EDGE, hatch=_NOFIT_HATCH, label="does not fit"
            )
        )
    if n == 1:  # below the axes: the plot keeps the page's width on a narrow screen
        fig.legend(handles=handles, loc="outside lower center", ncol=2, frameon=False)
    else:
        axes[0].legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def _fastest_fitting(by_depth: Mapping):
    """The depth whose result fits memory with the shortest step, or None."""
    ok = [p for p, r in by_depth.items() if r is not None and getattr(r, "fits", True)]
    return min(ok, key=lambda p: by_depth[p].step_time) if ok else None


@styled
def step_vs_depth_figure(results_by_schedule, *, width: float = 6.0, height: float = 3.6) -> Figure:
    """Step time against the pipeline depth p, one line per schedule: filled markers where the
    configuration fits memory, hollow where it does not, a star on each schedule's fastest
    depth that fits. ``results_by_schedule``: label -> {depth: StepResult or None}, as
    :func:`breakdown_vs_depth_figure` takes (None: the schedule cannot run at that depth)."""
    panels = _panels(results_by_schedule)
    depths = sorted({p for by in panels.values() for p in by})
    fig, ax = new_figure(width=width, height=height)
    for k, (label, by_depth) in enumerate(panels.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        xs = [depths.index(p) for p in by_depth if by_depth[p] is not None]
        ys = [r.step_time for r in by_depth.values() if r is not None]
        fits = [r.fits for r in by_depth.values() if r is not None]
        ax.plot(xs, ys, color=color, linewidth=1.5, label=label)
        for x, y, ok in zip(xs, ys, fits, strict=True):
            ax.plot(x, y, "o", color=color, markerfacecolor=color if ok else "white", ms=6)
        best = _fastest_fitting(by_depth)
        if best is not None:
            ax.plot(
                depths.index(best),
                by_depth[best].step_time,
                "*",
                color=color,
                ms=16,
                markeredgecolor="black",
                markeredgewidth=0.6,
                zorder=5,
            )
    ax.set_xticks(range(len(depths)))
    ax.set_xticklabels([str(p) for p in depths])
    ax.set_xlabel("pipeline depth p (stages)")
    ax.set_ylabel("step time (s)")
    handles, _ = ax.get_legend_handles_labels()
    handles += [
        ax.plot([], [], "o", color="#555555", markerfacecolor="white", label="does not fit")[0],
        ax.plot(
            [], [], "*", color="#555555", ms=12, markeredgecolor="black", label="fastest that fits"
        )[0],
    ]
    # below the axes: the plot keeps the page's width on a narrow screen
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


def _check_rows(rows) -> list[dict]:
    rows = list(rows)
    keys = {"name", "measured", "predicted"}
    if not rows or not all(isinstance(r, Mapping) and keys <= set(r) for r in rows):
        raise ValueError(
            "rows must be a non-empty list of dicts with 'name', 'measured' and 'predicted' "
            f"(ppnotes.perf_model.run_comparison), got {rows!r}"
        )
    return rows


@styled
def predicted_vs_published_figure(
    rows: Sequence[Mapping],
    *,
    band: float = 0.10,
    unit: str = "TFLOP/s per GPU",
    width: float = 7.5,
    height: float | None = None,
) -> Figure:
    """Predicted against published throughput (left) and each run's error (right).

    Args:
        rows: dicts with ``name``, ``measured``, ``predicted`` (same unit) and optionally
            ``measure`` ("hfu" circles, "mfu" squares) and ``error`` (predicted / measured
            - 1; computed if absent), as :func:`ppnotes.perf_model.run_comparison` returns.
        band: the shaded tolerance around y = x and around zero error (0.10 = +-10 %).
        unit: axis unit.

    The points on the left are numbered like the bars on the right, which name the runs, so
    labels never overlap however close the runs are.
    """
    rows = _check_rows(rows)
    n = len(rows)
    fig, (ax, err_ax) = new_figure(
        width=width,
        height=height or max(3.4, 1.2 + 0.24 * n),
        ncols=2,
        gridspec_kw={"width_ratios": [1.0, 1.1]},
    )
    values = [float(v) for r in rows for v in (r["measured"], r["predicted"])]
    lo, hi = 0.85 * min(values), 1.1 * max(values)
    xs = [lo, hi]
    ax.fill_between(
        xs,
        [x * (1 - band) for x in xs],
        [x * (1 + band) for x in xs],
        color="#E4E4E4",
        label=f"within {band:.0%}",
    )
    ax.plot(xs, xs, color="black", linewidth=1, label="predicted = published")
    seen = set()
    errors, colours = [], []
    for i, row in enumerate(rows, start=1):
        measure = str(row.get("measure", "hfu")).lower()
        colour = SERIES_COLORS[0] if measure == "hfu" else SERIES_COLORS[1]
        x, y = float(row["measured"]), float(row["predicted"])
        ax.plot(
            x,
            y,
            marker=_MARKERS.get(measure, "D"),
            color=colour,
            markersize=6,
            linestyle="none",
            label=measure.upper() if measure not in seen else None,
        )
        seen.add(measure)
        ax.annotate(str(i), (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7)
        error = row.get("error")
        errors.append(float(y / x - 1 if error is None else error))
        colours.append(colour)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"published ({unit})")
    ax.set_ylabel(f"predicted ({unit})")
    ax.legend(loc="lower right", frameon=False, fontsize=8)

    positions = list(range(n))
    err_ax.axvspan(-100 * band, 100 * band, color="#E4E4E4")
    err_ax.axvline(0, color="black", linewidth=1)
    err_ax.barh(positions, [100 * e for e in errors], color=colours, height=0.6)
    err_ax.set_yticks(positions)
    err_ax.set_yticklabels([f"{i}  {r['name']}" for i, r in enumerate(rows, start=1)])
    err_ax.invert_yaxis()
    err_ax.grid(axis="y", visible=False)
    reach = max([100 * band * 1.5] + [abs(100 * e) * 1.15 for e in errors])
    err_ax.set_xlim(-reach, reach)
    err_ax.set_xlabel("error of the prediction (%)")
    err_ax.tick_params(axis="y", labelsize=8)
    return fig


@styled
def mfu_vs_microbatch_figure(
    series: Mapping[str, Sequence],
    *,
    hfu: bool = False,
    width: float = 7.0,
    height: float = 3.4,
) -> Figure:
    """MFU (percent of peak) against the micro-batch size b, one line per series.

    Args:
        series: label -> StepResults (x = ``result.config.micro_batch``, y = ``result.mfu``).
            Points whose configuration does not fit memory are drawn hollow.
        hfu: also draw HFU (recomputation counted) as a dotted line of the same colour.
    """
    if not isinstance(series, Mapping) or not series:
        raise ValueError(f"series must map a label to StepResults, got {series!r}")
    fig, ax = new_figure(width=width, height=height)
    any_nofit = False
    styles = ["-", "--", "-.", ":"]
    xs_all = set()
    for k, (label, results) in enumerate(series.items()):
        results = [_check_result(r) for r in results]
        if not results:
            raise ValueError(f"series {label!r} is empty")
        colour = SERIES_COLORS[k % len(SERIES_COLORS)]
        xs = [r.config.micro_batch for r in results]
        xs_all.update(xs)
        ys = [100 * r.mfu for r in results]
        ax.plot(xs, ys, color=colour, linestyle=styles[k % len(styles)], label=str(label))
        for x, y, r in zip(xs, ys, results, strict=True):
            fits = getattr(r, "fits", True) is not False
            any_nofit |= not fits
            ax.plot(
                x,
                y,
                marker="o",
                color=colour,
                markerfacecolor=colour if fits else "white",
                linestyle="none",
            )
        if hfu:
            ax.plot(
                xs,
                [100 * r.hfu for r in results],
                color=colour,
                linestyle=":",
                linewidth=1,
                label=f"{label} (HFU)",
            )
    if any_nofit:
        ax.plot(
            [],
            [],
            marker="o",
            color="black",
            markerfacecolor="white",
            linestyle="none",
            label="does not fit memory",
        )
    ax.set_xscale("log", base=2)
    ticks = sorted(xs_all)
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(x) for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel("micro-batch size b (sequences)")
    ax.set_ylabel("MFU (% of dense BF16 peak)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def _fmt_seconds(x: float) -> str:
    return f"{x * 1e3:.0f} ms" if x < 1 else f"{x:.2f} s"


def breakdown_svg(
    result,
    *,
    title: str | None = None,
    width: int = 420,
    scale_seconds: float | None = None,
) -> str:
    """One step's parts as a horizontal stacked bar, with MFU, tokens/s and the memory verdict.

    An HTML string (an inline SVG and a line of text) drawn by hand, so an explorer can hold
    hundreds of frames at no rendering cost (see :func:`ppnotes.plots.stage_memory_svg`).

    Args:
        result: a StepResult.
        title: drawn above the bar.
        width: pixels of the drawing (its viewBox; it scales down to a narrow column, so the
            default keeps its 13 px text at least 11 px in a 358 px phone column).
        scale_seconds: seconds the full bar width stands for; give the same value to every
            frame of an explorer so bar lengths compare (default: this step's time).
    """
    r = _check_result(result)
    total = float(r.step_time)
    scale = float(scale_seconds) if scale_seconds else total
    if scale <= 0:
        raise ValueError(f"scale_seconds must be > 0, got {scale_seconds!r}")
    parts = [k for k in PART_COLORS if r.parts.get(k, 0.0) > 0]
    left, right, bar_h = 10, 10, 28
    plot_w = width - left - right
    top = 24 if title else 6
    legend_rows = len(parts)  # one column: readable in a phone column
    height = top + bar_h + 24 + 18 * legend_rows + 4
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13" role="img">'
    ]
    if title:
        out.append(f'<text x="{left}" y="16">{html.escape(title)}</text>')
    x = float(left)
    out.append(f'<g stroke="{_EDGE}" stroke-width="0.4">')
    for part in parts:
        w = plot_w * r.parts[part] / scale
        out.append(
            f'<rect x="{x:.1f}" y="{top}" width="{max(w, 0.5):.1f}" height="{bar_h}" '
            f'fill="{PART_COLORS[part]}"/>'
        )
        x += w
    out.append("</g>")
    out.append(
        f'<text x="{left}" y="{top + bar_h + 16}">step time {_fmt_seconds(total)}'
        f" (bar width = {_fmt_seconds(scale)})</text>"
    )
    outline = f' stroke="{_EDGE}"'  # the light-grey swatch needs an edge on white
    for i, part in enumerate(parts):
        lx, ly = left, top + bar_h + 24 + 18 * i
        share = r.parts[part] / total
        out.append(
            f'<rect x="{lx:.0f}" y="{ly:.0f}" width="12" height="12" '
            f'fill="{PART_COLORS[part]}"{outline if part == "bubble" else ""}/>'
            f'<text x="{lx + 16:.0f}" y="{ly + 10:.0f}">{PART_LABELS[part]} '
            f"{_fmt_seconds(r.parts[part])} ({share:.0%})</text>"
        )
    out.append("</svg>")
    gpu = getattr(getattr(r, "cluster", None), "gpu", None)
    if getattr(r, "fits", True):
        peak = max((row.get("total", 0.0) for row in getattr(r, "memory", []) or []), default=0)
        cap = f" of {gpu.memory_bytes / GiB:.0f} GiB" if gpu is not None else ""
        verdict = (
            f'<span style="color:#009E73">fits memory</span>: peak stage {peak / GiB:.1f} GiB{cap}'
        )
    else:
        verdict = (
            f'<span style="color:#D55E00">does not fit</span>: stage {r.tightest_stage} '
            f"short by {r.shortfall_bytes / GiB:.1f} GiB"
        )
    text = (
        f"<div style='font-family:sans-serif;font-size:13px'>MFU <b>{r.mfu:.1%}</b> · "
        f"HFU {r.hfu:.1%} · {r.tokens_per_second:,.0f} tokens/s · {verdict}</div>"
    )
    return "".join(out) + text


_KERNEL_COLORS = {
    "QKV": "#0072B2",
    "attention out": "#56B4E9",
    "MLP in": "#009E73",
    "MLP out": "#E69F00",
    "attention core": "#CC79A7",
    "element-wise": "#999999",
}


@styled
def gemm_efficiency_figure(
    gpus=("A100 80GB", "H100 SXM 80GB"), *, width: float = 7.0, height: float = 3.4
) -> Figure:
    """Achieved share of the bf16 peak against matrix size, one panel per GPU: the kernel
    model (:func:`ppnotes.gemm.gemm_efficiency`, without the overhead knob) for square
    multiplies N x N x N and for m = n = 8192 with the inner dimension k = N, and the
    published measurements it rests on (:data:`ppnotes.gemm.PUBLISHED_GEMMS`) at x = the cube
    root of m n k."""
    from .. import gemm

    names = [str(g) for g in gpus]
    for name in names:
        if name not in GPUS:
            raise ValueError(f"gpus must be names from ppnotes.hardware.GPUS, got {name!r}")
    fig, axes = new_figure(width=width, height=height, ncols=len(names), sharey=True)
    axes = [axes] if len(names) == 1 else list(axes)
    sizes = [256 * 2 ** (i / 4) for i in range(0, 25)]
    for ax, name in zip(axes, names, strict=True):
        gpu = GPUS[name]

        def eff(m, n, k, gpu=gpu):
            return 100 * gemm.OVERHEAD * gemm.gemm_efficiency(m, n, k, gpu)

        ns = [int(x) for x in sizes]
        ax.plot(ns, [eff(n, n, n) for n in ns], color=SERIES_COLORS[0], label="model, N x N x N")
        ax.plot(
            ns,
            [eff(8192, 8192, n) for n in ns],
            color=SERIES_COLORS[1],
            linestyle="--",
            label="model, 8192 x 8192 x N",
        )
        pts = [r for r in gemm.PUBLISHED_GEMMS if r[0] == name]
        for _name, m, n, k, tflops, _source in pts:
            square = m == n == k
            thin_k = m == n == 8192 and k != 8192
            x = k if thin_k else round((m * n * k) ** (1 / 3))
            colour = SERIES_COLORS[1] if thin_k else SERIES_COLORS[0]
            ax.plot(
                x,
                100 * tflops * 1e12 / gpu.bf16_flops,
                marker="o" if square or thin_k else "D",
                markerfacecolor="white",
                color=colour,
                linestyle="none",
            )
        ax.plot(
            [],
            [],
            marker="o",
            markerfacecolor="white",
            color="black",
            linestyle="none",
            label="published (random data)",
        )
        ax.set_xscale("log", base=2)
        ax.set_xticks([256, 1024, 4096, 16384])
        ax.set_xticklabels(["256", "1K", "4K", "16K"])
        ax.minorticks_off()
        ax.set_xlabel("N (or the cube root of m n k)")
        ax.set_title(name)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("% of dense bf16 peak")
    axes[-1].legend(loc="lower right", frameon=False, fontsize=8)
    return fig


@styled
def kernel_time_vs_tp_figure(
    kernel_times: Mapping[int, Mapping[str, Sequence[float]]],
    flat: Mapping[int, float] | None = None,
    *,
    width: float = 7.0,
    height: float = 3.4,
) -> Figure:
    """GPU-milliseconds of one layer (forward + backward, one micro-batch) against the
    tensor-parallel width t: each GPU's kernel times times t, stacked by kernel, so perfect
    scaling is a flat bar. ``kernel_times``: t -> :func:`ppnotes.perf_model.layer_kernel_times`;
    ``flat``: t -> the flat roofline's GPU-milliseconds, drawn as a line."""
    if not isinstance(kernel_times, Mapping) or not kernel_times:
        raise ValueError(f"kernel_times must map t to layer_kernel_times, got {kernel_times!r}")
    ts = sorted(kernel_times)
    fig, ax = new_figure(width=width, height=height)
    xs = list(range(len(ts)))
    bottom = [0.0] * len(ts)
    for name, colour in _KERNEL_COLORS.items():
        vals = [1e3 * t * sum(kernel_times[t][name]) for t in ts]
        ax.bar(xs, vals, bottom=bottom, color=colour, edgecolor=_EDGE, linewidth=0.5, label=name)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for x, total in zip(xs, bottom, strict=True):
        ax.text(x, total, f"{total:.0f}", ha="center", va="bottom", fontsize=8)
    if flat:
        ax.plot(
            xs,
            [1e3 * flat[t] for t in ts],
            color="black",
            linestyle=":",
            marker="_",
            label="flat roofline (60 %)",
        )
    ax.set_xticks(xs)
    ax.set_xticklabels([f"t = {t}" for t in ts])
    ax.set_ylabel("GPU-ms per layer (t x time per GPU)")
    ax.set_ylim(0, max(bottom) * 1.15)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return fig
