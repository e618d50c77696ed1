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


def test_serving_load_figure_shows_the_knee():
    from ppnotes import case_study as cs
    from ppnotes import serving_queue as sq

    curves = {}
    for t, p in ((8, 4), (16, 2)):
        cost = sq.costs(cs.MODEL, cs.CLUSTER, t, p, cs.PROMPT, cs.OUTPUT)
        curves[f"PP{p} x TP{t}"] = sq.load_curve(cost, sim_fractions=(0.5,), requests=200)
    fig = plots.serving_load_figure(curves)
    assert isinstance(fig, Figure)
    left, right = fig.axes[:2]
    assert "requests/s" in left.get_xlabel() and "(s)" in left.get_ylabel()
    assert "(ms)" in right.get_ylabel()
    for c in curves.values():
        # below capacity every value is finite and positive; TTFT climbs steeply at the knee
        assert all(math.isfinite(x) and x > 0 for x in c["ttft"] + c["tpot"])
        assert c["rate"][-1] < c["capacity"]
        assert c["ttft"][-1] > 1.5 * c["ttft"][0]
        slope_low = (c["ttft"][1] - c["ttft"][0]) / (c["rate"][1] - c["rate"][0])
        slope_high = (c["ttft"][-1] - c["ttft"][-2]) / (c["rate"][-1] - c["rate"][-2])
        assert slope_high > 10 * slope_low
        assert all(b >= a for a, b in zip(c["tpot"], c["tpot"][1:], strict=False))
    drawn = [line for line in right.lines if line.get_linestyle() == "-"]
    assert len(drawn) == 2
    assert list(drawn[0].get_ydata()) == pytest.approx(
        [1e3 * x for x in curves["PP4 x TP8"]["tpot"]]
    )
    with pytest.raises(ValueError, match="curves must be a non-empty dict"):
        plots.serving_load_figure({})


def test_load_curve_rejects_unstable_shares():
    from ppnotes import case_study as cs
    from ppnotes import serving_queue as sq

    cost = sq.costs(cs.MODEL, cs.CLUSTER, 8, 4, cs.PROMPT, cs.OUTPUT)
    with pytest.raises(ValueError, match="fractions"):
        sq.load_curve(cost, fractions=(0.5, 1.0))
    with pytest.raises(ValueError, match="sim_fractions"):
        sq.load_curve(cost, sim_fractions="0.5")
