"""Chapter 8 and 9 figures build and show what they claim."""

from __future__ import annotations

from matplotlib.figure import Figure

from ppnotes import case_study as cs
from ppnotes import perf_model as pm
from ppnotes import plots
from ppnotes import recommend as rc


def test_case_figures_build():
    rows = cs.all_rows()
    by = {r.label: r for r in rows}
    fig = plots.case_timeline_figure([by["PP4 TP8"], by["PP1 TP8 x4"]])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    # one time axis: both panels span two of the longer period, the shorter one repeated
    window = 2e3 * by["PP1 TP8 x4"].serving.period
    assert [ax.get_xlim() for ax in fig.axes] == [(0, window), (0, window)]
    per = round(window / (1e3 * by["PP4 TP8"].serving.period))
    assert len(fig.axes[0].patches) == 3 * 4 * per  # compute, comm, idle x stages x periods
    assert [t.get_text() for t in fig.legends[0].texts] == [
        "matrix products",
        "TP all-reduce",
        "idle",
    ]
    fig = plots.case_memory_figure(rows, cs.MODEL, rows[0].serving.memory["budget"])
    bars = sum(r.p for r in rows)
    assert len(fig.axes[0].patches) == 2 * bars
    fig = plots.case_tradeoff_figure(rows)
    assert len(fig.axes[0].collections) == len(rows)


def test_frames_are_html():
    r = cs.case_row(8, 4)
    html = plots.case_frame_html(r, cs.NOTE_CASE[(8, 4)])
    assert "PP4 TP8" in html and "the note said" in html
    assert plots.scenario_frame_html(None) == "<b>nothing fits</b>"
    titled = plots.scenario_frame_html(None, title="train on 16 GPUs")
    assert titled.startswith("<div>train on 16 GPUs</div>") and "nothing fits" in titled


def test_recommendation_never_shows_a_negative_bubble():
    from ppnotes import models

    cluster = pm.CLUSTERS["DGX A100 80GB + HDR"]
    rec = rc.recommend(models.MEGATRON_1_7B, cluster, rc.Workload("train", 8, 128))
    assert rec.p == 1
    html = plots.scenario_frame_html(rec)
    assert "-0.0%" not in html and "1f1b: 0.0% of the step" in html


def test_bubble_rule_figure_has_a_line_per_schedule():
    fig = plots.bubble_rule_figure(rc.microbatches_for_note_bubble())
    assert len(fig.axes[0].lines) == 3


def test_nodes_rule_bars_are_step_times_relative_to_pp_equals_nodes():
    cases = {"A, 2 nodes": {"pp_nodes_tp8": 2.0, "pp_2nodes_tp4": 1.5, "best_step": 1.0}}
    ax = plots.nodes_rule_figure(cases).axes[0]
    assert [bar.get_height() for bar in ax.patches] == [1.0, 0.75, 0.5]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A\n2 nodes"]
