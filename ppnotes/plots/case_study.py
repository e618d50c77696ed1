"""Figures of chapter 8 (the GPT-3 175B serving case)."""

from __future__ import annotations

from matplotlib.patches import Patch

from .. import memory, partition
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = ["case_memory_figure", "case_timeline_figure", "case_tradeoff_figure", "case_frame_html"]


def _timeline(ax, row, window: float) -> None:
    """Stages as rows over ``window`` ms of decode periods: compute, TP all-reduce, idle."""
    srv = row.serving
    period = srv.period * 1e3
    periods = max(1, round(window / period))
    for s, d in enumerate(srv.stage_times):
        busy = d * 1e3
        comm = row.tp_comm * period * row.p * d / sum(srv.stage_times)
        for k in range(periods):
            x0 = k * period
            ax.barh(s, busy - comm, left=x0, color=ROLE_COLORS["forward"], height=0.7)
            ax.barh(s, comm, left=x0 + busy - comm, color=ROLE_COLORS["comm"], height=0.7)
            ax.barh(s, period - busy, left=x0 + busy, color=ROLE_COLORS["idle"], height=0.7)
            ax.axvline(x0, color="white", linewidth=0.8)  # where one period ends
    ax.invert_yaxis()
    ax.set_ylabel("stage")
    ax.set_title(f"{row.label}: a period of {period:.1f} ms", loc="left")
    ax.set_yticks(range(row.p) if row.p <= 8 else [0, row.p - 1])


@styled
def case_timeline_figure(rows, periods: int = 2):
    """One panel per configuration in ``rows`` (:class:`ppnotes.case_study.CaseRow`) on one
    time axis (ms): every stage over ``periods`` of the longest decode period, the shorter
    periods repeated to fill it (blue compute, purple TP all-reduce, grey idle)."""
    fig, axes = new_figure(4.0, 1.6 + 1.3 * len(rows), len(rows), 1, squeeze=False, sharex=True)
    window = periods * max(row.serving.period for row in rows) * 1e3
    for ax, row in zip(axes[:, 0], rows, strict=True):
        _timeline(ax, row, window)
    axes[-1, 0].set_xlabel("time (ms)")
    axes[-1, 0].set_xlim(0, window)
    handles = [
        Patch(color=ROLE_COLORS[role], label=label)
        for role, label in (
            ("forward", "matrix products"),
            ("comm", "TP all-reduce"),
            ("idle", "idle"),
        )
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False)
    return fig


@styled
def case_memory_figure(rows, model, budget_bytes: float):
    """Per-stage memory (GiB) of one GPU in each stage: weights and KV cache, for each
    configuration in ``rows``; the dashed line is the budget."""
    fig, ax = new_figure(4.0, 3.0)
    x = 0
    ticks, labels = [], []
    for i, row in enumerate(rows):
        counts = partition.balanced_split(model.num_layers, row.p)
        stages = memory.stage_memory(
            model,
            counts,
            "infer",
            tensor_parallel=row.t,
            batch=row.concurrency,
            context=_context(row),
        )
        for j, st in enumerate(stages):
            w, kv = st["weights"] / 2**30, st["kv_cache"] / 2**30
            ax.bar(
                x + j,
                w,
                color=SERIES_COLORS[0],
                width=0.8,
                label="weights" if i == 0 and j == 0 else None,
            )
            ax.bar(
                x + j,
                kv,
                bottom=w,
                color=SERIES_COLORS[1],
                width=0.8,
                label="KV cache" if i == 0 and j == 0 else None,
            )
        ticks.append(x + (len(stages) - 1) / 2)
        labels.append(row.label.replace(" ", "\n"))
        x += len(stages) + 2
    ax.axhline(budget_bytes / 2**30, ls="--", color="black", lw=1)
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.set_ylabel("GiB per GPU")
    ax.legend(loc="upper left")
    return fig


def _context(row) -> int:
    from ..case_study import OUTPUT, PROMPT

    return getattr(row, "context", PROMPT + OUTPUT)


@styled
def case_tradeoff_figure(rows):
    """TPOT (ms) against total output tokens/s for each configuration in ``rows``."""
    fig, ax = new_figure(4.0, 3.0)
    groups: list[list] = []  # rows within 2 % of each other share one label
    for i, row in enumerate(rows):
        x, y = row.tokens_per_s, row.serving.tpot * 1e3
        ax.scatter(x, y, color=SERIES_COLORS[i % 7], s=30)
        for g in groups:
            if abs(g[0][0] / x - 1) < 0.02 and abs(g[0][1] / y - 1) < 0.02:
                g.append((x, y, row.label))
                break
        else:
            groups.append([(x, y, row.label)])
    x_mid = sum(ax.get_xlim()) / 2
    for g in groups:
        x, y = g[0][0], g[0][1]
        right = x > x_mid
        ax.annotate(
            "\n".join(label for _, _, label in g),
            (x, y),
            fontsize=7,
            xytext=(-5 if right else 5, 4),
            textcoords="offset points",
            ha="right" if right else "left",
            va="bottom",
        )
    ax.set_xlabel("output tokens/s (32 GPUs)")
    ax.set_ylabel("TPOT (ms)")
    return fig


def case_frame_html(row, note: dict | None = None) -> str:
    """A small table of one configuration's case numbers (the explorer's frame)."""
    s = row.serving
    cells = [
        ("fits", "yes" if s.fits else f"no (short {s.shortfall / 2**30:.0f} GiB)"),
        ("memory, fullest GPU", f"{s.memory['total'] / 2**30:.1f} GiB"),
        ("TTFT", f"{s.ttft * 1e3:.0f} ms"),
        ("TPOT", f"{s.tpot * 1e3:.1f} ms"),
        ("tokens/s (all GPUs)", f"{row.tokens_per_s:,.0f}"),
        (
            "bubble / TP comm / compute (continuous batching, k = p)",
            f"{row.bubble:.0%} / {row.tp_comm:.0%} / {row.compute:.0%}",
        ),
    ]
    if note and note.get("efficiency") is not None:
        cells.append(
            (
                "the note said (bubble: its GPipe formula, M = 32)",
                f"{note['bubble']:.0%} / {note['comm']:.0%} / {note['efficiency']:.0%}",
            )
        )
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in cells)
    return f"<b>{row.label}</b><table style='font-size:90%'>{body}</table>"
