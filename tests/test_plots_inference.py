"""Tests for the chapter 6 figures: they draw what the serving model computes."""

from __future__ import annotations

import math

import pytest
from matplotlib.figure import Figure

from ppnotes import hardware as hw
from ppnotes import inference as inf
from ppnotes import perf_model as pm
from ppnotes import plots
from ppnotes.models import LLAMA3_70B

H100 = pm.CLUSTERS["DGX H100 + NDR"]


def test_roofline_draws_per_token_times():
    fig = plots.decode_roofline_figure(LLAMA3_70B, [hw.H100_SXM], 2048, 8, batches=(1, 4, 16))
    assert isinstance(fig, Figure)
    solid = fig.axes[0].lines[0]
    expected = [
        1e6 * inf.decode_layer_time(LLAMA3_70B, b, 2048, hw.H100_SXM, 8) / b for b in (1, 4, 16)
    ]
    assert list(solid.get_ydata()) == pytest.approx(expected)
    with pytest.raises(ValueError, match="gpus must list"):
        plots.decode_roofline_figure(LLAMA3_70B, [])


def test_latency_throughput_marks_what_does_not_fit():
    points = [inf.serve(LLAMA3_70B, H100, 1, 1, n, 512, 128) for n in (1, 2)]
    fig = plots.latency_throughput_figure({"t=1": points})
    left, right = fig.axes[:2]
    assert list(left.lines[0].get_ydata()) == pytest.approx([1e3 * s.tpot for s in points])
    faces = left.collections[0].get_facecolors()
    assert all(tuple(f[:3]) == (1.0, 1.0, 1.0) for f in faces)  # hollow: t = 1 does not fit
    with pytest.raises(ValueError, match="curves must be a non-empty dict"):
        plots.latency_throughput_figure({})


def test_kv_capacity_and_published_figures():
    cap = {
        8: {
            p: inf.serving_memory(LLAMA3_70B, hw.H100_SXM, 8, p, 0, 8192)["max_concurrency"]
            for p in (1, 2, 4)
        }
    }
    fig = plots.kv_capacity_figure(cap, 8192)
    assert list(fig.axes[0].lines[0].get_ydata()) == [cap[8][p] for p in (1, 2, 4)]
    rows = inf.published_comparison(allreduce="two-level")
    fig = plots.predicted_vs_measured_latency_figure({"two-level": rows})
    errors = [line.get_ydata()[0] for line in fig.axes[1].lines[:-1] if len(line.get_ydata())]
    assert errors[: len(rows)] == pytest.approx([100 * r["error"] for r in rows])


def test_summary_html_says_fit_or_shortfall():
    ok = plots.serving_summary_html(inf.serve(LLAMA3_70B, H100, 8, 1, 4, 512, 128), hw.H100_SXM)
    assert "fits (up to" in ok and "<svg" in ok
    bad = inf.serve(LLAMA3_70B, H100, 1, 1, 4, 512, 128)
    text = plots.serving_summary_html(bad, hw.H100_SXM)
    assert f"{bad.shortfall / 1e9:,.1f} GB short" in text
    assert "TPOT (if it fitted)" in text and "(if it fitted)" not in ok
    assert not math.isnan(bad.tpot)
    with pytest.raises(ValueError, match="serving must be"):
        plots.serving_summary_html(None, hw.H100_SXM)
