"""Chapter 11 figures: where the all-to-all goes, and what depth buys in an MoE pipeline."""

from __future__ import annotations

from matplotlib.collections import PolyCollection
from matplotlib.patches import Patch

from .bubble import _KIND_ROLE, _tint
from .style import ROLE_COLORS, SERIES_COLORS, new_figure, styled

__all__ = [
    "a2a_timeline_figure",
    "moe_schedule_parts_figure",
    "moe_depth_figure",
    "moe_step_html",
]


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


#: Step parts (key of :attr:`ppnotes.moe.MoEStep.parts`, label, palette role) drawn in order.
_STEP_PARTS = (
    ("compute", "compute", "forward"),
    ("a2a_exposed", "exposed all-to-all", "comm"),
    ("bubble", "bubble", "idle"),
    ("tp", "TP", "weight"),
    ("dp", "DP", "backward"),
)
_MEMORY_PARTS = (
    ("weights", "weights", "forward"),
    ("gradients", "gradients", "backward"),
    ("optimizer", "optimizer", "weight"),
    ("activations", "activations", "comm"),
)


def _html_bar(parts: dict, order, top: float, unit: str, scale: float, mark, mark_style) -> str:
    """One stacked bar as HTML (flex boxes of ``parts`` in ``order``' colours, ``top`` the
    full width in ``unit``), a vertical ``mark`` line (value, label) and a legend with values."""
    cells, keys = [], []
    for key, label, role in order:
        value = parts[key] * scale
        color = ROLE_COLORS[role]
        cells.append(
            f'<div title="{label}: {value:.1f} {unit}" style="width:{100.0 * value / top:.2f}%;'
            f'background:{color}"></div>'
        )
        keys.append(
            '<span style="white-space:nowrap;margin-right:10px"><span style="display:'
            f'inline-block;width:10px;height:10px;background:{color};margin-right:3px">'
            f"</span>{label} {value:.1f}</span>"
        )
    value, label = mark
    left = f"{100.0 * value / top:.2f}%"
    line = (
        f'<div style="position:absolute;left:{left};top:-4px;bottom:-4px;'
        f'border-left:2px {mark_style} #000"></div>'
        f'<div style="position:absolute;left:{left};top:-20px;padding-left:3px;'
        f'font-size:12px;white-space:nowrap">{label}</div>'
    )
    return (
        '<div style="position:relative;height:20px;margin:22px 0 4px;background:#f4f4f4;'
        f'display:flex">{"".join(cells)}{line}</div>'
        f'<div style="font-size:12px;line-height:1.6">{"".join(keys)}</div>'
    )


def moe_step_html(step, budget_gib: float, published: float, top: float, mem_top: float) -> str:
    """One explorer frame as HTML (light and sharp; a PNG frame costs 0.14 s to draw): the
    step of an MoE layout (a :class:`ppnotes.moe.MoEStep`) split into parts (seconds, bar
    width ``top``, the ``published`` step marked) above its fullest GPU's memory split into
    parts (GiB, bar width ``mem_top``, the ``budget_gib`` marked; red when over it). Fixed
    widths let frames compare."""
    gib = step.memory["total"] / 2**30
    verdict = "fits" if gib <= budget_gib else '<span style="color:#b2182b">does not fit</span>'
    memory = _html_bar(
        step.memory, _MEMORY_PARTS, mem_top, "GiB", 1 / 2**30, (budget_gib, "GPU memory"), "dotted"
    )
    return (
        '<div style="max-width:640px;font-size:14px">'
        f"<b>step {step.step_time:.1f} s</b>"
        + _html_bar(step.parts, _STEP_PARTS, top, "s", 1.0, (published, "published"), "dashed")
        + f"<b>fullest GPU {gib:.0f} GiB</b>: {verdict}"
        + memory
        + "</div>"
    )


_A2A_STRIP = (0.22, 0.42)  # the hidden all-to-all strip under each rank's compute row


def _rects(spans, low, high):
    """PolyCollection vertices of rectangles [left, right] x [low, high]."""
    return [[(a, low), (a, high), (b, high), (b, low)] for a, b in spans]


@styled
def a2a_timeline_figure(timelines: dict, *, unit: str = "units of one forward"):
    """Timelines of toy MoE pipelines with the all-to-all drawn in, one panel per schedule,
    one row per rank, from a dict label -> :func:`ppnotes.moe.a2a_timeline` result.

    Compute bars keep the book's roles (forward blue, backward orange, weight gradient green;
    a rank's second chunk lighter). All-to-all is the communication colour: a full-height
    block where the rank waits for it (exposed), a thin strip under the compute row where it
    runs while a paired action computes (hidden). Grey is idle time.
    """
    if not isinstance(timelines, dict) or not timelines:
        raise ValueError("timelines must be a non-empty dict label -> moe.a2a_timeline(...)")
    panels = list(timelines.items())
    ranks = [t["result"].schedule.num_ranks for _, t in panels]
    fig, axes = new_figure(
        7.0, sum(0.34 * r + 0.55 for r in ranks) + 0.7, len(panels), 1, sharex=True, squeeze=False
    )
    axes = list(axes[:, 0])
    horizon = max(t["result"].makespan for _, t in panels)
    comm = ROLE_COLORS["comm"]
    for ax, (label, tl) in zip(axes, panels, strict=True):
        res, talk = tl["result"], tl["a2a"]
        p = res.schedule.num_ranks
        ax.barh(range(p), [res.makespan] * p, height=0.84, color=ROLE_COLORS["idle"])
        chunk = {s: k for stages in res.schedule.rank_stages for k, s in enumerate(stages)}
        partner = dict(tl["pairs"])
        second = set(partner.values())
        exposed, hidden = [], []
        bars = {}
        for i in range(len(res.actions)):
            if i in second:
                continue
            r, s = int(res.rank[i]), float(res.start[i])
            unit_ = (i, partner[i]) if i in partner else (i,)
            t = s
            for a in unit_:
                act = res.actions[a]
                color = ROLE_COLORS[_KIND_ROLE[act.kind]]
                if chunk[act.stage] % 2:
                    color = _tint(color)
                bars.setdefault(color, []).append((r, t, t + float(res.duration[a])))
                t += float(res.duration[a])
            x = sum(talk[a] for a in unit_)
            if len(unit_) == 1:
                exposed.append((r, t, t + x))
            else:
                hidden.append((r, s, s + min(x, t - s)))
                if x > t - s:
                    exposed.append((r, t, s + x))
        for color, spans in bars.items():
            verts = [v for r, a, b in spans for v in _rects([(a, b)], r - 0.42, r + 0.2)]
            ax.add_collection(
                PolyCollection(verts, facecolors=color, edgecolors="white", linewidths=0.5)
            )
        if exposed:
            verts = [
                v for r, a, b in exposed if b > a for v in _rects([(a, b)], r - 0.42, r + 0.42)
            ]
            ax.add_collection(
                PolyCollection(
                    verts, facecolors=comm, edgecolors="white", linewidths=0.5, label="exposed"
                )
            )
        if hidden:
            lo, hi = _A2A_STRIP
            verts = [v for r, a, b in hidden if b > a for v in _rects([(a, b)], r + lo, r + hi)]
            ax.add_collection(
                PolyCollection(
                    verts,
                    facecolors=_tint(comm, 0.3),
                    edgecolors="white",
                    linewidths=0.5,
                    label="hidden",
                )
            )
        ax.set_yticks(range(p), [str(r) for r in range(p)])
        ax.set_ylim(p - 0.5, -0.5)
        ax.set_ylabel("rank")
        ax.grid(False)
        ax.set_title(
            f"{label}: step {res.makespan:.1f}; rank 0 waits {tl['exposed'][0]:.1f} for its "
            f"all-to-all, {tl['hidden'][0]:.1f} hidden",
            loc="left",
        )
    axes[-1].set_xlim(0, horizon * 1.001)
    axes[-1].set_xlabel(f"time ({unit})")
    handles = [
        Patch(color=ROLE_COLORS["forward"], label="forward"),
        Patch(color=ROLE_COLORS["backward"], label="backward / input grad."),
        Patch(color=ROLE_COLORS["weight"], label="weight grad."),
        Patch(color=comm, label="all-to-all, rank waits"),
        Patch(color=_tint(comm, 0.3), label="all-to-all under other compute"),
        Patch(color=ROLE_COLORS["idle"], label="idle"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False)
    return fig
