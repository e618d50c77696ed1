"""Tests for the chapter 4 figures: they draw what the breakdown says, in GiB."""

from __future__ import annotations

import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from ppnotes import hardware as hw
from ppnotes import memory, plots
from ppnotes.hardware import GiB
from ppnotes.models import GPT3_175B, LLAMA3_70B
from ppnotes.plots import memory as pm

from .plot_helpers import stacked_tops


def rows(p=8, schedule="1f1b"):
    return memory.stage_memory(
        GPT3_175B, [96 // p] * p, tensor_parallel=8, num_microbatches=32, schedule=schedule
    )


def test_stage_memory_figure_draws_totals_and_budgets():
    data = rows()
    budget = 0.9 * hw.H100_SXM.memory_bytes
    fig = plots.stage_memory_figure(data, budgets={"H100": budget}, title="t")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert stacked_tops(ax) == pytest.approx([r["total"] / GiB for r in data])
    assert [line.get_ydata()[0] for line in ax.lines] == pytest.approx([budget / GiB])
    labels = ax.get_legend_handles_labels()[1]
    assert labels[:1] == ["H100"] and "activations" in labels and "KV cache" not in labels
    assert "GiB" in ax.get_ylabel()


def test_inference_breakdown_shows_kv_cache_colour():
    data = memory.stage_memory(LLAMA3_70B, [40, 40], "infer", batch=8, context=8192)
    fig = plots.stage_memory_figure(data)
    colours = {to_hex(p.get_facecolor()) for p in fig.axes[0].patches}
    assert colours == {pm.MEMORY_COLORS["weights"].lower(), pm.MEMORY_COLORS["kv_cache"].lower()}


def test_grid_figure_has_one_panel_per_cell_and_row_scales():
    grid = {
        "GPipe": {f"p = {p}": rows(p, "gpipe") for p in (4, 8)},
        "1F1B": {f"p = {p}": rows(p) for p in (4, 8)},
    }
    fig = plots.stage_memory_grid_figure(grid)
    assert len(fig.axes) == 4
    gpipe_top = fig.axes[0].get_ylim()[1]
    one_f_one_b_top = fig.axes[2].get_ylim()[1]
    assert gpipe_top > 2 * one_f_one_b_top  # each row has its own scale
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # columns in a row share it
    assert stacked_tops(fig.axes[3]) == pytest.approx([r["total"] / GiB for r in rows(8)])


def test_memory_vs_depth_and_kv_figures():
    depths = [1, 2, 4]
    fig = plots.memory_vs_depth_figure(
        {"a": {"x": (depths, [GiB, 2 * GiB, 4 * GiB])}, "b": {"y": (depths, [GiB] * 3)}},
        budgets={"H100": 70 * GiB},
        log_y=[True, False],
    )
    assert len(fig.axes) == 2
    assert list(fig.axes[0].lines[0].get_ydata()) == [1, 2, 4]
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "linear"
    kv = plots.kv_cache_figure({"m": {"batch 1": ([1024, 2048], [GiB, 2 * GiB])}})
    assert list(kv.axes[0].lines[0].get_ydata()) == [1, 2]


def test_stage_memory_svg():
    data = rows(16)
    svg = plots.stage_memory_svg(data, budgets={"H100 <90%>": 70 * GiB}, title="a & b")
    assert svg.startswith("<svg") and svg.endswith("</svg>") and '"' not in svg
    assert "a &amp; b" in svg and "H100 &lt;90%&gt;" in svg  # escaped
    for kind in ("weights", "gradients", "optimizer", "activations"):
        assert pm.MEMORY_COLORS[kind] in svg
    assert pm.MEMORY_COLORS["kv_cache"] not in svg
    # one path per kind with one stroke per stage, and 4 legend swatches
    for kind in ("weights", "gradients", "optimizer", "activations"):
        path = svg.split(f"stroke='{pm.MEMORY_COLORS[kind]}'")[1].split("/>")[0]
        assert path.count("M") == path.count("v") == 16
    assert svg.count("<rect") == 4
    assert ">14</text>" in svg and ">15</text>" not in svg  # at most 8 stage labels
    # without the key: no swatches, no labels, a lighter frame
    bare = plots.stage_memory_svg(data, legend=False)
    assert "<rect" not in bare and "weights" not in bare and len(bare) < len(svg)
    assert len(plots.stage_memory_svg(rows(32), legend=False)) < 4000


def test_stage_memory_key_html():
    key = plots.stage_memory_key_html(["weights", "activations"], ["H100 (90%)", "A", "B", "C"])
    assert key.startswith("<div") and key.count("<rect") == 2 and key.count("<span") == 6
    assert "H100 (90%)" in key and 'stroke-dasharray="7 3"' in key and "activations" in key
    # the fourth budget line is solid, in the key as in the frames
    assert key.count("stroke-dasharray") == 3
    svg = plots.stage_memory_svg(rows(8), budgets={"a": 1, "b": 2, "c": 3, "d": 4 * GiB})
    assert svg.count("stroke-dasharray") == 2 * 3  # lines and their legend samples
    with pytest.raises(ValueError, match="kinds must be among"):
        plots.stage_memory_key_html(["bogus"])
    with pytest.raises(ValueError, match="at least one"):
        plots.stage_memory_key_html([])


def test_nice_step():
    assert pm._nice_step(100) == 20
    assert pm._nice_step(7) == 2
    assert pm._nice_step(0.3) == pytest.approx(0.1)


def test_bad_input():
    with pytest.raises(ValueError, match="breakdown must be a non-empty list"):
        plots.stage_memory_figure([])
    with pytest.raises(ValueError, match="breakdown must be a non-empty list"):
        plots.stage_memory_svg([{"weights": 1}])
    with pytest.raises(ValueError, match="grid must map row labels"):
        plots.stage_memory_grid_figure({})
    with pytest.raises(ValueError, match="log_y must give one flag per panel"):
        plots.memory_vs_depth_figure({"a": {"x": ([1], [1])}}, log_y=[True, False])
    with pytest.raises(ValueError, match="panels must hold at least one panel"):
        plots.kv_cache_figure({})
