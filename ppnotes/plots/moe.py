"""Chapter 11 figures: where the all-to-all goes, and what depth buys in an MoE pipeline."""

from __future__ import annotations

from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = ["moe_schedule_parts_figure", "moe_depth_figure"]


@styled
def moe_schedule_parts_figure(rows: list[dict]):
    """Stacked bars, one per schedule: compute, exposed all-to-all, bubble and the rest of
    the step (seconds), from rows with ``schedule`` and a ``parts`` dict and ``step``."""
    fig, ax = new_figure(7.0, 3.4)
    names = [r["schedule"] for r in rows]
    bottoms = [0.0] * len(rows)
    for key, label, color in (
        ("compute", "compute", ROLE_COLORS["forward"]),
        ("a2a_exposed", "exposed all-to-all", ROLE_COLORS["comm"]),
        ("bubble", "bubble", ROLE_COLORS["idle"]),
        ("other", "TP + DP exposed", ROLE_COLORS["weight"]),
    ):
        vals = [r["parts"][key] for r in rows]
        ax.bar(names, vals, bottom=bottoms, color=color, label=label, edgecolor="white")
        bottoms = [b + v for b, v in zip(bottoms, vals, strict=True)]
    ax.axhline(rows[0]["published"], color="black", ls="--", lw=1, label="published (derived)")
    ax.set_ylabel("step time (s)")
    ax.legend(loc="upper right", ncols=2)
    return fig


@styled
def moe_depth_figure(rows: list[dict], budget_gib: float):
    """Step time (left axis) and weights + gradients + optimizer state per GPU (right axis)
    against depth p, from :func:`ppnotes.moe.deepseek_v3_depths` rows."""
    fig, ax = new_figure(7.0, 3.4)
    ps = [r["p"] for r in rows]
    ax.plot(ps, [r["step"] for r in rows], "o-", color=SERIES_COLORS[0], label="step time")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ps, [str(p) for p in ps])
    ax.set_xlabel("pipeline depth p")
    ax.set_ylabel("step time (s)")
    ax.set_ylim(0, max(r["step"] for r in rows) * 1.3)
    right = ax.twinx()
    right.plot(
        ps,
        [r["states_gib"] for r in rows],
        "s--",
        color=SERIES_COLORS[1],
        label="weights + gradients + optimizer",
    )
    right.axhline(budget_gib, color="black", lw=1, ls=":", label="GPU memory")
    right.set_ylabel("GiB per GPU")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper right")
    return fig
