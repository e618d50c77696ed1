"""Chapter 10, serving: the measured decode loop beside chapter 6's formula and simulator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from .._validate import check_int, check_real
from .style import SERIES_COLORS, new_figure, styled

__all__ = ["decode_knee_figure"]


@styled
def decode_knee_figure(
    ks: Sequence[int],
    measured: Mapping[int, Sequence[tuple[float, float]]],
    model: Mapping[int, Sequence[tuple[float, float]]],
    simulated: Mapping[int, Sequence[tuple[float, float]]] | None = None,
) -> Figure:
    """Two panels against k (batches in flight): TPOT (ms) and output tokens per second, one
    colour per depth p. ``measured``, ``model`` (chapter 6's formula) and ``simulated`` map p
    to one (TPOT in seconds, tokens per second) pair per entry of ``ks``. Measured points are
    dots, the formula a line, the simulator open squares; a dotted vertical line marks each
    depth's knee at k = p."""
    ks = [check_int("ks", k) for k in ks]
    if not ks:
        raise ValueError("ks must hold at least one batch count, got []")
    if not isinstance(measured, Mapping) or not measured or not isinstance(model, Mapping):
        raise ValueError("measured and model must map each depth p to its (TPOT, tokens/s) pairs")
    series = {"measured": measured, "model": model}
    if simulated is not None:
        series["simulated"] = simulated
    for name, table in series.items():
        if not isinstance(table, Mapping) or set(table) != set(measured):
            raise ValueError(f"{name} must map the same depths as measured, {sorted(measured)}")
        for p, pairs in table.items():
            check_int("p", p)
            if len(pairs) != len(ks):
                raise ValueError(
                    f"{name}[{p}] must hold one (TPOT, tokens/s) pair per k ({len(ks)}), "
                    f"got {len(pairs)}"
                )
            for pair in pairs:
                if len(pair) != 2:
                    raise ValueError(f"{name}[{p}] must hold (TPOT, tokens/s) pairs, got {pair!r}")
                check_real(f"{name} TPOT", pair[0], strict=True)
                check_real(f"{name} tokens/s", pair[1], strict=True)
    fig, (left, right) = new_figure(width=7.0, height=3.8, ncols=2)
    for i, p in enumerate(sorted(measured)):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        for ax, col, scale in ((left, 0, 1e3), (right, 1, 1.0)):
            ax.plot(ks, [scale * x[col] for x in model[p]], color=color, label=f"p = {p}, formula")
            if simulated is not None:
                ax.plot(
                    ks,
                    [scale * x[col] for x in simulated[p]],
                    marker="s",
                    markerfacecolor="none",
                    linestyle="none",
                    color=color,
                    markersize=9,
                    label=f"p = {p}, simulator",
                )
            ax.plot(
                ks,
                [scale * x[col] for x in measured[p]],
                marker="o",
                linestyle="none",
                color=color,
                label=f"p = {p}, measured",
            )
            if p > 1 and p in ks:
                ax.axvline(p, color=color, linestyle=":", linewidth=1)
    for ax in (left, right):
        ax.set_xticks(ks, [str(k) for k in ks])
        ax.set_xlabel("batches in flight k")
        ax.set_ylim(bottom=0)
    left.set_ylabel("TPOT, time per output token (ms)")
    right.set_ylabel("output tokens per second")
    # below both panels: inside the axes it covered the p = 1 points at large k
    # one row per depth, one column per kind (matplotlib fills legend columns first)
    handles, labels = right.get_legend_handles_labels()
    kinds = len(series)
    order = [i for kind in range(kinds) for i in range(kind, len(handles), kinds)]
    fig.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="outside lower center",
        ncols=kinds,
        frameon=False,
    )
    return fig
