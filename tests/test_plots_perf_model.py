"""Tests for the chapter 5 figures: they draw what the results say, in the stated units."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ppnotes import hardware as hw
from ppnotes import plots
from ppnotes.hardware import GiB
from ppnotes.plots import perf_model as pp

from .plot_helpers import stacked_tops


def fake(parts=None, fits=True, micro_batch=1, mfu=0.45, hfu=0.5, peak_gib=60.0):
    """A StepResult-like object with the attributes the figures read."""
    parts = parts or {"compute": 6.0, "recompute": 0.2, "bubble": 1.0, "pipeline_comm": 0.3}
    return SimpleNamespace(
        parts=parts,
        step_time=sum(parts.values()),
        mfu=mfu,
        hfu=hfu,
        tokens_per_second=123456.0,
        fits=fits,
        tightest_stage=0,
        shortfall_bytes=0.0 if fits else 3.5 * GiB,
        memory=[{"total": peak_gib * GiB}, {"total": 10 * GiB}],
        cluster=SimpleNamespace(gpu=hw.H100_SXM),
        config=SimpleNamespace(micro_batch=micro_batch),
    )


def test_part_colours_are_distinct_and_cover_the_parts():
    assert len(set(pp.PART_COLORS.values())) == len(pp.PART_COLORS) == len(pp.PART_LABELS)
    assert pp.PART_COLORS["bubble"] == plots.ROLE_COLORS["idle"]


def test_breakdown_vs_depth_stacks_the_parts_to_the_step_time():
    results = {1: fake({"compute": 8.0}), 4: fake(), 16: None, 64: fake(fits=False)}
    fig = plots.breakdown_vs_depth_figure(results)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    drawn = [r.step_time for r in results.values() if r is not None]
    assert stacked_tops(ax) == pytest.approx(drawn)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "4", "16", "64"]
    assert "n/a" in [t.get_text() for t in ax.texts]
    assert ax.get_ylabel() == "step time (s)" and "depth" in ax.get_xlabel()
    legend = ax.get_legend() or fig.legends[0]  # one panel: the legend sits under the axes
    labels = [t.get_text() for t in legend.texts]
    assert labels[: len(labels) - 1] == [
        pp.PART_LABELS[k] for k in ("compute", "recompute", "bubble", "pipeline_comm")
    ]
    assert labels[-1] == "does not fit"
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 4  # the four parts of the p = 64 bar
    assert all(p.get_alpha() < 1 for p in hatched)  # and faded
    # the fastest bar that fits is marked (p = 4: fake() is 10 s against p = 1's)
    fastest = [t for t in ax.texts if t.get_text() == "fastest"]
    assert len(fastest) == 1 and fastest[0].xy[0] == 1
    colours = {to_hex(p.get_facecolor()) for p in ax.patches}
    assert to_hex(pp.PART_COLORS["compute"]) in colours


def test_breakdown_panels_per_schedule_and_shares():
    by_schedule = {"1F1B": {2: fake(), 4: fake()}, "interleaved": {2: fake(), 4: fake()}}
    fig = plots.breakdown_vs_depth_figure(by_schedule, share=True)
    assert len(fig.axes) == 2
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["1F1B", "interleaved"]
    assert stacked_tops(fig.axes[1]) == pytest.approx([100.0, 100.0])
    assert "%" in fig.axes[0].get_ylabel()


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="results_by_depth must map"):
        plots.breakdown_vs_depth_figure({})
    with pytest.raises(ValueError, match="StepResult"):
        plots.breakdown_vs_depth_figure({2: 3.0})
    with pytest.raises(ValueError, match="rows must be"):
        plots.predicted_vs_published_figure([{"name": "x"}])
    with pytest.raises(ValueError, match="series must map"):
        plots.mfu_vs_microbatch_figure({})


ROWS = [
    {"name": "A", "measured": 140.0, "predicted": 150.0, "measure": "hfu", "error": 1 / 14},
    {"name": "B", "measured": 160.0, "predicted": 140.0, "measure": "mfu"},
    {"name": "C", "measured": 400.0, "predicted": 420.0, "measure": "mfu", "error": 0.05},
]


def test_predicted_vs_published_points_line_band_and_errors():
    fig = plots.predicted_vs_published_figure(ROWS)
    ax, err_ax = fig.axes
    points = [(line.get_xdata()[0], line.get_ydata()[0]) for line in ax.lines[1:]]
    assert points == [(r["measured"], r["predicted"]) for r in ROWS]
    x, y = ax.lines[0].get_data()  # y = x
    assert list(x) == list(y)
    assert len(ax.collections) == 1  # the +-10 % band
    assert [t.get_text() for t in ax.texts] == ["1", "2", "3"]
    assert [line.get_marker() for line in ax.lines[1:]] == ["o", "s", "s"]
    assert "TFLOP/s" in ax.get_xlabel() and "TFLOP/s" in ax.get_ylabel()
    assert set(ax.get_legend_handles_labels()[1]) >= {"HFU", "MFU", "within 10%"}
    # right panel: one bar per run, in percent, the given error or predicted / measured - 1
    widths = [bar.get_width() for bar in err_ax.patches[-3:]]
    assert widths == pytest.approx([100 / 14, 100 * (140 / 160 - 1), 5.0])
    names = [t.get_text() for t in err_ax.get_yticklabels()]
    assert names == ["1  A", "2  B", "3  C"]
    assert "%" in err_ax.get_xlabel()


def test_mfu_vs_microbatch_draws_percent_and_hollow_non_fitting_points():
    series = {
        "p = 8": [fake(micro_batch=b, mfu=0.3 + 0.05 * k) for k, b in enumerate((1, 2, 4))],
        "p = 16": [fake(micro_batch=b, fits=b < 4) for b in (1, 2, 4)],
    }
    fig = plots.mfu_vs_microbatch_figure(series, hfu=True)
    ax = fig.axes[0]
    first = ax.lines[0]
    assert list(first.get_xdata()) == [1, 2, 4]
    assert list(first.get_ydata()) == pytest.approx([30, 35, 40])
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white"]
    assert len(hollow) == 2  # the non-fitting b = 4 point and its legend entry
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["p = 8", "p = 8 (HFU)", "p = 16", "p = 16 (HFU)", "does not fit memory"]
    assert "MFU" in ax.get_ylabel() and "micro-batch" in ax.get_xlabel()


def test_breakdown_svg_shows_the_numbers():
    svg = plots.breakdown_svg(fake(), title="GPT-3, p = 8")
    assert svg.startswith("<svg") and "GPT-3, p = 8" in svg
    assert "MFU <b>45.0%</b>" in svg and "123,456 tokens/s" in svg
    assert "fits memory" in svg and "60.0 GiB" in svg and "of 80 GiB" in svg
    assert "step time 7.50 s" in svg and "compute (forward + backward) 6.00 s (80%)" in svg
    assert svg.count("<rect") == 2 * 4  # four bar segments and four legend swatches
    bad = plots.breakdown_svg(fake(fits=False), scale_seconds=15.0)
    assert "does not fit" in bad and "short by 3.5 GiB" in bad and "bar width = 15.00 s" in bad
    # with a common scale the bar is half the width
    widths = [float(w) for w in __import__("re").findall(r'width="([\d.]+)" height="28"', bad)]
    assert sum(widths) == pytest.approx((420 - 20) / 2, rel=0.01)


def test_gemm_efficiency_figure_shows_the_model_and_the_published_points():
    from ppnotes import gemm

    fig = plots.gemm_efficiency_figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    for ax, name in zip(fig.axes, ("A100 80GB", "H100 SXM 80GB"), strict=True):
        assert ax.get_title() == name
        points = [ln for ln in ax.lines if ln.get_linestyle() == "None" and len(ln.get_xdata())]
        assert len(points) == sum(r[0] == name for r in gemm.PUBLISHED_GEMMS)
        model = [ln for ln in ax.lines if ln.get_label().startswith("model")]
        assert len(model) == 2 and all(0 < y <= 100 for ln in model for y in ln.get_ydata())
    with pytest.raises(ValueError, match="gpus"):
        plots.gemm_efficiency_figure(["A100"])


def test_kernel_time_vs_tp_figure_stacks_each_kernel():
    from ppnotes import perf_model as pm
    from ppnotes.models import GPT3_175B

    times = {t: pm.layer_kernel_times(GPT3_175B, 1, hw.A100_80GB, t, 2048) for t in (1, 8)}
    fig = plots.kernel_time_vs_tp_figure(times)
    ax = fig.axes[0]
    tops = stacked_tops(ax)
    for x, t in enumerate((1, 8)):
        assert tops[x] == pytest.approx(1e3 * t * sum(f + b for f, b in times[t].values()))
    with pytest.raises(ValueError, match="kernel_times"):
        plots.kernel_time_vs_tp_figure({})


def test_step_vs_depth_marks_each_schedules_fastest_fitting_depth():
    by_schedule = {
        "1F1B": {2: fake(fits=False), 4: fake({"compute": 9.0}), 8: fake({"compute": 9.5})},
        "ZBV": {2: fake({"compute": 7.0}, fits=False), 4: fake({"compute": 8.0}), 8: None},
    }
    fig = plots.step_vs_depth_figure(by_schedule)
    ax = fig.axes[0]
    stars = [ln for ln in ax.lines if ln.get_marker() == "*" and len(ln.get_xdata())]
    # p = 4 (position 1) for both: 9.0 s beats 9.5 s, and ZBV's p = 2 does not fit
    assert sorted((float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in stars) == [
        (1.0, 8.0),
        (1.0, 9.0),
    ]
    hollow = [
        ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markerfacecolor() == "white"
    ]
    assert len([ln for ln in hollow if len(ln.get_xdata())]) == 2  # the two p = 2 points
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8"]
    labels = [t.get_text() for t in fig.legends[0].texts]
    assert labels[:2] == ["1F1B", "ZBV"] and "does not fit" in labels
