"""Tests for ppnotes.runs: the published runs are transcribed consistently with their papers."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ppnotes import models, runs

BIB = Path(__file__).resolve().parents[1] / "book" / "references.bib"


@pytest.mark.parametrize(
    ("model", "published_billions"),
    [
        # Narayanan et al. 2021, Table 1 (eq. 2 counts); Table 2 prints 174.6 for GPT-3
        (models.MEGATRON_18B, 18.4),
        (models.MEGATRON_39B, 39.1),
        (models.MEGATRON_145B, 145.6),
        (models.MEGATRON_310B, 310.1),
        (models.MEGATRON_530B, 529.6),
        (models.MEGATRON_1T, 1008.0),
        (models.GPT3_175B_MEGATRON, 174.6),
        (models.MEGATRON_22B, 22.0),  # Korthikanti et al. 2022, Table 3 ("22B")
    ],
)
def test_paper_shapes_match_published_parameter_counts(model, published_billions):
    assert model.total_params / 1e9 == pytest.approx(published_billions, rel=0.02)


def test_smallest_shape_matches_to_the_printed_digit():
    # Table 1 prints "1.7"; eq. (2) gives 1.652 billion, which rounds to 1.7
    assert round(models.MEGATRON_1_7B.total_params / 1e9, 1) == 1.7


def test_eq2_of_narayanan_equals_the_derived_count_up_to_the_final_norm():
    m = models.MEGATRON_530B
    n_l, h, v, s = m.num_layers, m.hidden_size, m.vocab_size, m.seq_len
    eq2 = 12 * n_l * h * h * (1 + 13 / (12 * h) + (v + s) / (12 * n_l * h))
    assert m.total_params == pytest.approx(eq2 + 2 * h, rel=1e-12)


def test_paper_models_are_found_by_name():
    assert models.get_model("GPT 1T (Megatron)") is models.MEGATRON_1T


# Percentage of peak as printed (Narayanan Table 1, Korthikanti Table 5 MFU, Llama Table 4).
PRINTED_PERCENT = {
    "Megatron 1.7B (SC'21)": 44,
    "Megatron 18.4B (SC'21)": 43,
    "Megatron 39.1B (SC'21)": 44,
    "Megatron 145.6B (SC'21)": 47,
    "Megatron 310.1B (SC'21)": 50,
    "Megatron 529.6B (SC'21)": 52,
    "Megatron 1T (SC'21)": 52,
    "Megatron 22B (SP + selective)": 41.5,
    "Megatron 175B (SP + selective)": 51.4,
    "Megatron 530B (SP + selective)": 56.0,
    "Megatron 1T (SP + selective)": 56.3,
    "Llama 3 405B (8K GPUs)": 43,
    "Llama 3 405B (16K GPUs)": 41,
    "Llama 3 405B (16K GPUs, 128K tokens)": 38,
}


def test_every_run_is_checked_and_names_are_unique():
    names = [r.name for r in runs.RUNS]
    assert len(set(names)) == len(names) >= 6
    assert set(names) == set(PRINTED_PERCENT)


@pytest.mark.parametrize("run", runs.RUNS, ids=lambda r: r.name)
def test_fraction_of_peak_matches_the_printed_percentage(run):
    # within one percentage point: the papers round (Llama: 400/989 = 40.4 % printed as 41 %)
    assert 100 * run.measured_fraction_of_peak == pytest.approx(PRINTED_PERCENT[run.name], abs=1)


@pytest.mark.parametrize(
    ("name", "aggregate_pflops"),
    [
        ("Megatron 1.7B (SC'21)", 4.4),
        ("Megatron 18.4B (SC'21)", 34.6),
        ("Megatron 39.1B (SC'21)", 70.8),
        ("Megatron 145.6B (SC'21)", 227.1),
        ("Megatron 310.1B (SC'21)", 297.4),
        ("Megatron 529.6B (SC'21)", 410.2),
        ("Megatron 1T (SC'21)", 502.0),
    ],
)
def test_sc21_gpu_counts_times_throughput_give_the_printed_aggregate(name, aggregate_pflops):
    run = runs.get_run(name)
    assert run.measured_tflops_per_gpu * run.num_gpus / 1e3 == pytest.approx(
        aggregate_pflops, rel=0.005
    )


@pytest.mark.parametrize("run", runs.SP_RUNS, ids=lambda r: r.name)
def test_korthikanti_step_times_reproduce_their_mfu(run):
    # Appendix A of Korthikanti et al.: model FLOPs = 72 B s l h^2 (1 + s/(6h) + V/(12 l h))
    m = run.model
    b, s, n_l, h, v = run.global_batch, run.seq_len, m.num_layers, m.hidden_size, m.vocab_size
    flops = 72 * b * s * n_l * h * h * (1 + s / (6 * h) + v / (12 * n_l * h))
    achieved = flops / run.measured_step_time / run.num_gpus
    assert achieved / 1e12 == pytest.approx(run.measured_tflops_per_gpu, rel=0.01)
    assert run.measured_tokens_per_second == pytest.approx(b * s / run.measured_step_time)


def test_llama_batches_are_16m_tokens():
    for run in runs.LLAMA3_RUNS:
        assert run.tokens_per_step == 64 * 32 * 8192 == pytest.approx(16e6, rel=0.05)
        gpus = run.tensor_parallel * run.context_parallel * run.pipeline_parallel
        assert gpus * run.data_parallel == run.num_gpus
    # the 128K-token run splits each sequence over 16 GPUs, so each holds 8,192 tokens
    long = runs.get_run("Llama 3 405B (16K GPUs, 128K tokens)")
    assert long.seq_len // long.context_parallel == 8192 == runs.LLAMA3_RUNS[0].seq_len


def test_interleaved_megatron_runs_split_layers_evenly_into_virtual_stages():
    # run_table_1.sh: 5, 3 and 1 layers per virtual stage; Korthikanti: v = 3
    for run in runs.SC21_RUNS + runs.SP_RUNS:
        chunks = run.pipeline_parallel * run.virtual_stages
        assert run.model.num_layers % chunks == 0, run.name
    assert {r.virtual_stages for r in runs.RUNS if r.schedule == "1f1b"} == {1}


def test_measures_and_recomputation_follow_the_papers():
    assert all(r.measured_is == "hfu" and r.recompute == "full" for r in runs.SC21_RUNS)
    assert all(r.measured_is == "mfu" and r.recompute == "selective" for r in runs.SP_RUNS)
    assert all(r.sequence_parallel and r.data_parallel == 1 for r in runs.SP_RUNS)
    assert all(r.recompute == "none" for r in runs.LLAMA3_RUNS)


def test_sources_are_in_the_bibliography_and_assumptions_are_written_down():
    keys = set(re.findall(r"@\w+\{([^,\s]+),", BIB.read_text(encoding="utf-8")))
    assert "megatron2021sc21scripts" in keys
    for run in runs.RUNS:
        assert run.source in keys and run.model.source in keys
        assert len(run.notes) > 40
    assert "not published" in runs.get_run("Llama 3 405B (8K GPUs)").notes.lower()


def test_microbatches_per_pipeline():
    run = runs.get_run("Megatron 145.6B (SC'21)")
    assert run.num_microbatches == 2304 // (24 * 2) == 48


def _replace(run, **changes):
    return dataclasses.replace(run, **changes)


def test_bad_runs_are_refused_with_the_parameter_named():
    run = runs.get_run("Megatron 1T (SC'21)")
    with pytest.raises(ValueError, match="must equal num_gpus"):
        _replace(run, data_parallel=7)
    with pytest.raises(ValueError, match="global_batch must be a multiple"):
        _replace(run, global_batch=3073)
    with pytest.raises(ValueError, match="virtual_stages must be 1"):
        _replace(run, virtual_stages=2)
    with pytest.raises(ValueError, match="gpu must be one of"):
        _replace(run, gpu="A100 96GB")
    with pytest.raises(ValueError, match="measured_is must be one of"):
        _replace(run, measured_is="tflops")
    with pytest.raises(ValueError, match="run must be one of"):
        runs.get_run("GPT-5")


@pytest.mark.parametrize(
    ("changes", "name", "kind"),
    [
        ({"name": 3}, "name", TypeError),
        ({"model": "GPT-3"}, "model", TypeError),
        ({"sequence_parallel": "8"}, "sequence_parallel", TypeError),
        ({"distributed_optimizer": float("nan")}, "distributed_optimizer", TypeError),
        ({"measured_step_time": 0}, "measured_step_time", ValueError),
        ({"pipeline_parallel": 10**7}, "pipeline_parallel", ValueError),
        ({"num_gpus": 10**7}, "num_gpus", ValueError),
        ({"source": None}, "source", TypeError),
        ({"notes": 1}, "notes", TypeError),
    ],
)
def test_every_field_is_checked(changes, name, kind):
    with pytest.raises(kind) as err:
        _replace(runs.RUNS[0], **changes)
    assert str(err.value).startswith(name + " "), str(err.value)
