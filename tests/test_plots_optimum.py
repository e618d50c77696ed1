"""Chapter 7 figures."""

from __future__ import annotations

import pytest
from matplotlib.figure import Figure

from ppnotes import optimum as o
from ppnotes import perf_model as pm
from ppnotes import plots
from ppnotes.models import GPT3_175B, MEGATRON_1_7B

A100 = pm.CLUSTERS["DGX A100 80GB + HDR"]


@pytest.fixture(scope="module")
def plan():
    return o.plan_training(MEGATRON_1_7B, A100, 16, 32, max_micro_batch=2)


def test_pareto_figure(plan):
    fig = plots.pareto_figure(plan, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert "GiB" in ax.get_xlabel() and "(s" in ax.get_ylabel() and ax.get_yscale() == "log"
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == len(plan.ranked) + 1  # every fitting configuration and the best ring


def test_pareto_figure_needs_a_fit():
    empty = o.plan_training(GPT3_175B, A100, 8, 8)
    assert not empty.ranked
    with pytest.raises(ValueError, match="no fitting"):
        plots.pareto_figure(empty)


def test_practice_figure():
    rows = [{"name": "A (x)", "theirs_step": 2.0, "ours_step": 1.5}]
    fig = plots.practice_figure(rows)
    assert [p.get_height() for p in fig.axes[0].patches] == [2.0, 1.5]


def test_frame_html(plan):
    text = plots.optimum_frame_html(plan, top=3)
    assert text.count("<tr>") == 4 and "<svg" in text
    assert plan.best.candidate.label in text
