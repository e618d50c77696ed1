"""Figures of chapter 9 (recommendations)."""

from __future__ import annotations

from .style import SERIES_COLORS, new_figure, styled

__all__ = ["bubble_rule_figure", "nodes_rule_figure", "scenario_frame_html"]


@styled
def bubble_rule_figure(rows):
    """Micro-batches needed for a bubble below 20 % against depth p (log-log), one line per
    number of virtual stages; rows from :func:`ppnotes.recommend.microbatches_for_note_bubble`."""
    fig, ax = new_figure(4.0, 3.4)
    keys = [k for k in rows[0] if k.startswith("v")]
    ps = [r["p"] for r in rows]
    for i, k in enumerate(keys):
        ax.plot(
            ps,
            [r[k] for r in rows],
            "o-",
            color=SERIES_COLORS[i],
            label="1F1B" if k == "v1" else f"interleaved {k}",
        )
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("pipeline depth p")
    ax.set_ylabel("micro-batches m for bubble < 20 %")
    ax.legend()
    return fig


@styled
def nodes_rule_figure(cases: dict):
    """Step time (s) of PP = nodes with TP = 8, PP = 2 x nodes with TP = 4 and the planner's pick,
    per case; ``cases`` maps a name to :func:`ppnotes.recommend.nodes_rule`'s dict."""
    fig, ax = new_figure(4.0, 3.4)
    keys = [
        ("pp_nodes_tp8", "PP = nodes, TP = 8"),
        ("pp_2nodes_tp4", "PP = 2 nodes, TP = 4"),
        ("best_step", "planner"),
    ]
    names = list(cases)
    for i, (key, label) in enumerate(keys):
        vals = [cases[n][key] / cases[n]["pp_nodes_tp8"] for n in names]
        ax.bar(
            [j + 0.27 * (i - 1) for j in range(len(names))],
            vals,
            width=0.27,
            color=SERIES_COLORS[i],
            label=label,
        )
    ax.set_xticks(range(len(names)), [n.replace(", ", "\n") for n in names], fontsize=7)
    ax.set_ylabel("step time / (PP = nodes, TP = 8)")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return fig


def scenario_frame_html(rec, title: str | None = None) -> str:
    """One :class:`ppnotes.recommend.Recommendation` as HTML: label, reasons, warnings.

    ``title`` (optional) is shown first, e.g. the workload the frame answers."""
    head = f"<div>{title}</div>" if title else ""
    if rec is None:
        return f"{head}<b>nothing fits</b>"
    items = "".join(f"<li>ch. {r.chapter}: {r.text}</li>" for r in rec.reasons)
    warns = "".join(f"<li>{w}</li>" for w in rec.warnings) or "<li>none</li>"
    return (
        f"{head}<b>{rec.kind}: {rec.label}</b><ul style='font-size:90%'>{items}</ul>"
        f"<b>warnings</b><ul style='font-size:90%'>{warns}</ul>"
    )
