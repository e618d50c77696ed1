"""Tests for ppnotes.memory: bytes per parameter, stage parameters, activations, KV cache."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppnotes import hardware as hw
from ppnotes import memory, schedules
from ppnotes.models import GPT3_175B, LLAMA3_70B, LLAMA31_405B

SBH = 2048 * 12288  # GPT-3, b = 1
ASB = 96 * 2048  # GPT-3: heads x sequence, b = 1 (rows of the log-sum-exp)
# FlashAttention, no dropout (the default): 32 s b h + 4 a s b
GPT3_LAYER = 806_092_800
# Korthikanti et al. 2022 (stored scores, dropout): 2048 * 12288 * (34 + 5 * 96 * 2048 / 12288)
GPT3_LAYER_2022 = 2_868_903_936
KORTHIKANTI = dict(flash_attention=False, dropout=True)
DIVISORS_OF_96 = [d for d in range(1, 97) if 96 % d == 0]


def even_split(model, p):
    return [model.num_layers // p] * p


# --- bytes per parameter -------------------------------------------------------------


def test_mixed_precision_adam_is_18_or_16_bytes():
    # Megatron-LM's bf16 training keeps fp32 gradients: 2 + 4 + 12 = 18 (the default)
    assert memory.training_bytes_per_param() == {"weights": 2, "gradients": 4, "optimizer": 12}
    assert sum(memory.training_bytes_per_param().values()) == 18
    # ZeRO's 16 Psi: bf16 gradients
    assert sum(memory.training_bytes_per_param(fp32_grads=False).values()) == 16
    assert all(isinstance(v, float) for v in memory.training_bytes_per_param().values())


@pytest.mark.parametrize("d", [1, 2, 3, 8, 64, 1024])
def test_distributed_optimizer_shards_only_the_optimizer_state(d):
    # Megatron-LM docs/user-guide/features/dist_optimizer.md: 18 -> 6 + 12 / d
    got = memory.training_bytes_per_param(distributed_optimizer=True, data_parallel=d)
    assert got == {"weights": 2, "gradients": 4, "optimizer": pytest.approx(12 / d)}
    assert sum(got.values()) == pytest.approx(6 + 12 / d)
    bf16 = memory.training_bytes_per_param(False, True, d)
    assert sum(bf16.values()) == pytest.approx(4 + 12 / d)  # ZeRO-1 with 2-byte gradients
    # without the distributed optimizer d changes nothing
    assert sum(memory.training_bytes_per_param(data_parallel=d).values()) == 18


@pytest.mark.parametrize("d", [1, 2, 8, 128])
def test_sharded_gradients_are_zero_2_and_llama_3s_fsdp(d):
    # Dubey et al. 2024, sec. 3.3.2: FSDP "shards optimizer states and gradients", the bf16
    # weights stay whole: 2 + (4 + 12) / d bytes per parameter.
    got = memory.training_bytes_per_param(True, True, d, shard_gradients=True)
    assert got == {"weights": 2, "gradients": pytest.approx(4 / d), "optimizer": 12 / d}
    assert sum(got.values()) == pytest.approx(2 + 16 / d)
    bf16 = memory.training_bytes_per_param(False, True, d, shard_gradients=True)
    assert sum(bf16.values()) == pytest.approx(2 + 14 / d)
    # a small model by hand: GPT-style, h = 64, 2 layers on one stage, d = 8
    model = dataclasses.replace(
        GPT3_175B,
        name="tiny",
        num_layers=2,
        hidden_size=64,
        num_heads=4,
        num_kv_heads=4,
        ffn_hidden_size=256,
        vocab_size=100,
        seq_len=32,
    )
    rows = {
        flag: memory.stage_memory(
            model, [2], distributed_optimizer=True, data_parallel=d, shard_gradients=flag
        )[0]
        for flag in (False, True)
    }
    n = rows[True]["params"]
    assert n == memory.stage_params(model, [2])[0]
    assert rows[True]["gradients"] == pytest.approx(4 * n / d)
    assert rows[False]["gradients"] == 4 * n
    assert rows[False]["total"] - rows[True]["total"] == pytest.approx(4 * n * (1 - 1 / d))
    for key in ("weights", "optimizer", "activations"):
        assert rows[True][key] == rows[False][key]


def test_training_bytes_bad_input():
    with pytest.raises(ValueError, match="data_parallel must be an integer >= 1, got 0"):
        memory.training_bytes_per_param(distributed_optimizer=True, data_parallel=0)
    with pytest.raises(ValueError, match="distributed_optimizer must be True or False"):
        memory.training_bytes_per_param(distributed_optimizer=1)
    with pytest.raises(ValueError, match="shard_gradients must be True or False"):
        memory.training_bytes_per_param(shard_gradients="yes")


def test_inference_bytes_per_param():
    assert memory.inference_bytes_per_param() == 2
    assert memory.inference_bytes_per_param("fp8") == 1
    with pytest.raises(ValueError, match=r"precision must be one of .*got 'int3'"):
        memory.inference_bytes_per_param("int3")


# --- parameters per stage ------------------------------------------------------------


@pytest.mark.parametrize("model", [GPT3_175B, LLAMA3_70B, LLAMA31_405B])
def test_one_stage_holds_the_whole_model(model):
    assert memory.stage_params(model, [model.num_layers]) == [model.total_params]


def test_first_and_last_stage_carry_embedding_and_head():
    params = memory.stage_params(GPT3_175B, even_split(GPT3_175B, 8))
    body = 12 * GPT3_175B.params_per_layer
    assert params[0] == body + GPT3_175B.embedding_params
    assert params[-1] == body + GPT3_175B.head_params
    assert params[1:-1] == [body] * 6
    # tied embeddings: the last stage keeps its own copy, so the stages hold one V*h extra
    extra = GPT3_175B.vocab_size * GPT3_175B.hidden_size
    assert sum(params) == GPT3_175B.total_params + extra


def test_untied_model_stage_params_sum_to_total():
    assert sum(memory.stage_params(LLAMA3_70B, [20, 20, 20, 20])) == LLAMA3_70B.total_params


def test_stage_params_bad_input():
    with pytest.raises(ValueError, match=r"must sum to the model's 96 layers, got \[48, 47\]"):
        memory.stage_params(GPT3_175B, [48, 47])
    with pytest.raises(ValueError, match="at least one stage"):
        memory.stage_params(GPT3_175B, [])
    with pytest.raises(ValueError, match=r"layers_per_stage\[1\] must be an integer >= 0"):
        memory.stage_params(GPT3_175B, [97, -1])
    with pytest.raises(ValueError, match="must be a list of layer counts, got 96"):
        memory.stage_params(GPT3_175B, 96)


# --- activations ---------------------------------------------------------------------


def test_gpt3_layer_activations_hand_checked():
    assert GPT3_LAYER == SBH * 32 + 4 * ASB
    assert memory.activation_bytes_per_layer(GPT3_175B, 1) == GPT3_LAYER
    assert memory.activation_bytes_per_layer(GPT3_175B, 4) == 4 * GPT3_LAYER
    assert memory.activation_bytes_per_layer(GPT3_175B, 1, **KORTHIKANTI) == GPT3_LAYER_2022


def test_flash_attention_bytes_by_hand():
    def act(**kw):
        return memory.activation_bytes_per_layer(GPT3_175B, 1, **kw)

    t = 8
    # FlashAttention keeps a 4-byte log-sum-exp per query row and head instead of 5 a s^2 b
    assert act(dropout=True) == SBH * 34 + 4 * ASB
    # no dropout: the two 1-byte residual masks go as well
    assert act() == SBH * 32 + 4 * ASB
    assert act(tensor_parallel=t) == pytest.approx(SBH * (8 + 24 / t) + 4 * ASB / t)
    assert act(tensor_parallel=t, sequence_parallel=True) == pytest.approx((SBH * 32 + 4 * ASB) / t)
    assert act(tensor_parallel=t, dropout=True) == pytest.approx(SBH * (10 + 24 / t) + 4 * ASB / t)
    # selective recomputation has only the log-sum-exp left to drop
    assert act(recompute="selective") == SBH * 32
    assert act(tensor_parallel=t, sequence_parallel=True, recompute="selective") == (
        pytest.approx(SBH * 32 / t)
    )
    # full recomputation does not depend on the attention kernel
    assert act(recompute="full") == act(recompute="full", **KORTHIKANTI) == 2 * SBH
    # without FlashAttention and without dropout the softmax output (2 a s^2 b) stays
    assert act(flash_attention=False) == SBH * 32 + 2 * ASB * 2048
    # what FlashAttention and no dropout remove from Korthikanti et al.'s count
    removed = GPT3_LAYER_2022 - GPT3_LAYER
    assert removed == 5 * ASB * 2048 + 2 * SBH - 4 * ASB


def test_flash_attention_bad_input():
    with pytest.raises(ValueError, match="flash_attention must be True or False, got 'yes'"):
        memory.activation_bytes_per_layer(GPT3_175B, 1, flash_attention="yes")
    with pytest.raises(ValueError, match="dropout must be True or False, got 0"):
        memory.activation_bytes_per_layer(GPT3_175B, 1, dropout=0)


def test_korthikanti_table_2_rows():
    def act(**kw):
        return memory.activation_bytes_per_layer(GPT3_175B, 1, **KORTHIKANTI, **kw)

    t = 8
    assert act(tensor_parallel=t) == pytest.approx(SBH * (10 + 24 / t + 80 / t))
    assert act(tensor_parallel=t, sequence_parallel=True) == pytest.approx(GPT3_LAYER_2022 / t)
    assert act(tensor_parallel=t, recompute="selective") == pytest.approx(SBH * (10 + 24 / t))
    assert act(tensor_parallel=t, sequence_parallel=True, recompute="selective") == (
        pytest.approx(SBH * 34 / t)
    )
    assert act(recompute="full") == 2 * SBH
    assert act(tensor_parallel=t, recompute="full") == 2 * SBH
    assert act(tensor_parallel=t, sequence_parallel=True, recompute="full") == 2 * SBH / t


def test_t1_reduces_to_no_parallelism():
    assert memory.activation_bytes_per_layer(GPT3_175B, 1, tensor_parallel=1) == GPT3_LAYER
    assert memory.activation_bytes_per_layer(GPT3_175B, 1, sequence_parallel=True) == GPT3_LAYER


@settings(max_examples=50, deadline=None)
@given(
    t=st.integers(1, 64),
    b=st.integers(1, 16),
    sp=st.booleans(),
    flash=st.booleans(),
    drop=st.booleans(),
)
def test_recomputation_and_tp_only_ever_save_memory(t, b, sp, flash, drop):
    def act(**kw):
        return memory.activation_bytes_per_layer(
            GPT3_175B, b, sequence_parallel=sp, flash_attention=flash, dropout=drop, **kw
        )

    none = act(tensor_parallel=t)
    selective = act(tensor_parallel=t, recompute="selective")
    full = act(tensor_parallel=t, recompute="full")
    assert full <= selective < none
    assert act(tensor_parallel=t + 1) < none
    # FlashAttention and dropping dropout only ever save memory too
    base = memory.activation_bytes_per_layer(
        GPT3_175B, b, tensor_parallel=t, sequence_parallel=sp, flash_attention=False, dropout=True
    )
    assert none <= base


@settings(max_examples=30, deadline=None)
@given(p=st.sampled_from(DIVISORS_OF_96), extra=st.integers(0, 64))
def test_1f1b_first_stage_holds_about_L_layers_whatever_p(p, extra):
    # Korthikanti et al.: under 1F1B stage 0 keeps p sets of L/p layers when m >= p
    m = p + extra
    sets = memory.in_flight_sets("1f1b", p, m, 0)
    stage0 = memory.activation_bytes_per_stage(GPT3_175B, 96 // p, sets, 1)
    assert stage0 == pytest.approx(96 * GPT3_LAYER)


@settings(max_examples=50, deadline=None)
@given(p=st.integers(1, 64), m=st.integers(1, 256))
def test_in_flight_counts(p, m):
    gpipe = [memory.in_flight_sets("gpipe", p, m, i) for i in range(p)]
    one_f_one_b = [memory.in_flight_sets("1f1b", p, m, i) for i in range(p)]
    assert gpipe == [m] * p
    assert one_f_one_b[0] == min(p, m)
    assert one_f_one_b[-1] == 1
    assert all(a >= b for a, b in zip(one_f_one_b, one_f_one_b[1:], strict=False))
    assert all(x <= g for x, g in zip(one_f_one_b, gpipe, strict=True))


def test_in_flight_bad_input():
    with pytest.raises(
        ValueError, match=r"schedule_name must be one of 'gpipe', '1f1b'.*'dualpipe'"
    ):
        memory.in_flight_sets("dualpipe", 4, 8, 0)
    with pytest.raises(ValueError, match=r"stage must be an integer in \[0, 3\], got 4"):
        memory.in_flight_sets("1f1b", 4, 8, 4)
    with pytest.raises(ValueError, match="m divisible|divisible by num_stages.*got m=6, p=4"):
        memory.in_flight_sets("interleaved", 4, 6, 0, virtual_stages=2)
    with pytest.raises(ValueError, match="virtual_stages applies only to 'interleaved'"):
        memory.in_flight_sets("1f1b", 4, 8, 0, virtual_stages=2)
    with pytest.raises(ValueError, match="num_microbatches must be an integer >= 1, got 0"):
        memory.in_flight_sets("zbv", 4, 0, 0)


# --- in-flight counts: memory.py against chapter 2's simulator --------------------------


def simulator_peaks(name, p, m, v=1):
    result = schedules.simulate(schedules.build_schedule(name, p, m, v))
    return [int(x) for x in result.peak_activations]


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["gpipe", "1f1b", "zb-h1", "zbv", "forward"]),
    p=st.integers(1, 32),
    m=st.integers(1, 128),
)
def test_in_flight_equals_simulator(name, p, m):
    assert [memory.in_flight_sets(name, p, m, i) for i in range(p)] == simulator_peaks(name, p, m)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 32), k=st.integers(1, 128), v=st.integers(1, 4))
def test_in_flight_equals_simulator_interleaved(p, k, v):
    m = p * min(k, 128 // p)  # m divisible by p, m <= 128
    got = [memory.in_flight_sets("interleaved", p, m, i, v) for i in range(p)]
    assert got == simulator_peaks("interleaved", p, m, v)


@pytest.mark.parametrize("name", ["gpipe", "1f1b", "zb-h1", "zbv"])
def test_in_flight_equals_simulator_at_the_corners(name):
    for p, m in [(1, 1), (1, 128), (32, 1), (32, 128), (16, 64), (7, 3), (3, 7)]:
        assert [memory.in_flight_sets(name, p, m, i) for i in range(p)] == simulator_peaks(
            name, p, m
        )


def test_simulated_schedules_match_their_closed_forms():
    # what the simulator gives, checked against the counts stated in the docstring
    for p in (1, 2, 5, 8, 16):
        for m in (1, 2, 3, p, 2 * p, 64):
            zb = [memory.in_flight_sets("zb-h1", p, m, i) for i in range(p)]
            assert zb == [min(p, m)] * p
            zbv = [memory.in_flight_sets("zbv", p, m, i) for i in range(p)]
            assert zbv == [min(m + 1 + i, 2 * m, 2 * p) for i in range(p)]
            if m % p == 0:
                for v in (2, 3):
                    got = [memory.in_flight_sets("interleaved", p, m, i, v) for i in range(p)]
                    assert got == [min((v - 1) * p + 2 * (p - 1 - i) + 1, v * m) for i in range(p)]


def test_interleaved_v1_is_1f1b_and_forward_holds_one():
    assert [memory.in_flight_sets("interleaved", 4, 6, i) for i in range(4)] == [4, 3, 2, 1]
    assert [memory.in_flight_sets("forward", 4, 6, i) for i in range(4)] == [1, 1, 1, 1]


# --- layers held ---------------------------------------------------------------------


def test_chunks_per_rank():
    assert memory.chunks_per_rank("1f1b") == 1
    assert memory.chunks_per_rank("zbv") == 2
    assert memory.chunks_per_rank("interleaved", 4) == 4
    with pytest.raises(ValueError, match="virtual_stages applies only"):
        memory.chunks_per_rank("zbv", 2)


def test_layers_held_hand_checked():
    # p = 8, m = 32, 12 layers per stage
    layers = [12] * 8
    assert memory.layers_held("gpipe", layers, 32) == [384.0] * 8
    assert memory.layers_held("1f1b", layers, 32) == [12.0 * (8 - i) for i in range(8)]
    # interleaved v = 2: rank 0 holds 8 + 14 + 1 = 23 chunk sets of 6 layers
    assert memory.layers_held("interleaved", layers, 32, 2)[0] == 23 * 6
    # zbv: 16 half-stage sets of 6 layers on every rank = 96 layers
    assert memory.layers_held("zbv", layers, 32) == [96.0] * 8
    assert memory.layers_held("zb-h1", layers, 32) == [96.0] * 8


@settings(max_examples=30, deadline=None)
@given(p=st.sampled_from([d for d in DIVISORS_OF_96 if d <= 32]), extra=st.integers(0, 32))
def test_zero_bubble_peaks_equal_1f1b_first_stage(p, extra):
    layers, m = [96 // p] * p, p + extra
    first = memory.layers_held("1f1b", layers, m)[0]
    assert first == 96
    assert max(memory.layers_held("zb-h1", layers, m)) == first
    assert max(memory.layers_held("zbv", layers, m)) == first


def test_layers_held_bad_input():
    with pytest.raises(ValueError, match="layers_per_stage must be a list"):
        memory.layers_held("1f1b", 96, 8)
    with pytest.raises(ValueError, match="at least one stage"):
        memory.layers_held("1f1b", [], 8)


def test_note_activation_formula():
    # (M/PP + 1) * B/M * S * H * bytes
    assert memory.note_activation_bytes(8, 4, 16, 2048, 12288) == pytest.approx(
        3 * 2 * 2048 * 12288 * 2
    )


@settings(max_examples=30, deadline=None)
@given(p=st.integers(1, 63), m=st.integers(1, 128))
def test_note_activation_shrinks_with_depth(p, m):
    # the note's claim that deeper pipelines hold less, which 1F1B's stage 0 contradicts
    args = (64, 2048, 12288)
    assert memory.note_activation_bytes(m, p + 1, *args) < memory.note_activation_bytes(m, p, *args)


# --- KV cache ------------------------------------------------------------------------


def test_kv_cache_per_token_hand_checked():
    assert memory.kv_cache_bytes_per_token(LLAMA3_70B) == 327_680  # 2 * 80 * 8 * 128 * 2
    assert memory.kv_cache_bytes_per_token(GPT3_175B) == 2 * 96 * 96 * 128 * 2
    assert memory.kv_cache_bytes_per_token(LLAMA3_70B, bytes_per_value=1) == 163_840


def test_kv_cache_scales_and_splits():
    total = memory.kv_cache_bytes(LLAMA3_70B, 16, 8192)
    assert total == 16 * 8192 * 327_680
    split = memory.kv_cache_bytes_per_stage(LLAMA3_70B, [30, 30, 20], 16, 8192)
    assert sum(split) == total
    assert split[0] == total * 30 // 80


def test_kv_cache_tensor_parallel_with_gqa():
    assert memory.kv_heads_per_gpu(LLAMA3_70B, 4) == 2
    assert memory.kv_heads_per_gpu(LLAMA3_70B, 16) == 1  # replicated beyond 8 KV heads
    assert memory.kv_cache_bytes_per_token(LLAMA3_70B, tensor_parallel=8) == 327_680 // 8


# --- per-stage breakdown and fit -----------------------------------------------------


def test_stage_memory_training_breakdown():
    layers = even_split(GPT3_175B, 8)
    rows = memory.stage_memory(GPT3_175B, layers, tensor_parallel=8, num_microbatches=64)
    params = memory.stage_params(GPT3_175B, layers)
    for i, row in enumerate(rows):
        assert row["params"] == pytest.approx(params[i] / 8)
        assert row["weights"] == pytest.approx(2 * row["params"])
        assert row["gradients"] == pytest.approx(4 * row["params"])
        assert row["optimizer"] == pytest.approx(12 * row["params"])
        assert row["kv_cache"] == 0
        sets = min(8 - i, 64)
        per_layer = memory.activation_bytes_per_layer(GPT3_175B, 1, tensor_parallel=8)
        assert row["activations"] == pytest.approx(sets * 12 * per_layer)
        parts = ("weights", "gradients", "optimizer", "activations", "kv_cache")
        assert row["total"] == pytest.approx(sum(row[k] for k in parts))
        assert all(isinstance(row[k], float) for k in parts + ("total",))
    # stage 0 holds the most: the embedding and the most micro-batches in flight
    assert rows[0]["total"] == max(r["total"] for r in rows)


def test_stage_memory_sets_override():
    rows = memory.stage_memory(GPT3_175B, [48, 48], sets_in_flight=[0.5, 0])
    per_layer = memory.activation_bytes_per_layer(GPT3_175B, 1)
    assert rows[0]["activations"] == pytest.approx(0.5 * 48 * per_layer)
    assert rows[1]["activations"] == 0
    with pytest.raises(ValueError, match=r"sets_in_flight must list one count per stage \(2\)"):
        memory.stage_memory(GPT3_175B, [48, 48], sets_in_flight=[1])


def test_stage_memory_inference():
    rows = memory.stage_memory(
        LLAMA3_70B, [40, 40], "infer", tensor_parallel=4, batch=16, context=8192
    )
    kv = memory.kv_cache_bytes_per_stage(LLAMA3_70B, [40, 40], 16, 8192, tensor_parallel=4)
    for row, cache in zip(rows, kv, strict=True):
        assert row["gradients"] == row["optimizer"] == row["activations"] == 0
        assert row["weights"] == pytest.approx(2 * row["params"])
        assert row["kv_cache"] == cache
    fp8 = memory.stage_memory(LLAMA3_70B, [40, 40], "infer", weight_precision="fp8")
    assert fp8[0]["weights"] == pytest.approx(fp8[0]["params"])


def test_fits():
    small = memory.stage_memory(LLAMA3_70B, [40, 40], "infer", tensor_parallel=4)
    assert memory.fits(small, hw.H100_SXM)
    assert memory.fits(small[0], hw.H100_SXM)
    whole = memory.stage_memory(GPT3_175B, [96])  # 175B x 16 bytes on one GPU: no
    assert not memory.fits(whole, hw.H200)
    row = {"total": 0.95 * hw.A100_80GB.memory_bytes}
    assert not memory.fits(row, hw.A100_80GB)
    assert memory.fits(row, hw.A100_80GB, reserve_fraction=0.0)


def test_stage_memory_and_fits_bad_input():
    with pytest.raises(ValueError, match=r"mode must be one of 'train', 'infer', got 'serve'"):
        memory.stage_memory(GPT3_175B, [96], "serve")
    with pytest.raises(ValueError, match=r"recompute must be one of .*got 'some'"):
        memory.stage_memory(GPT3_175B, [96], recompute="some")
    with pytest.raises(ValueError, match="reserve_fraction must be in"):
        memory.fits({"total": 1}, hw.H100_SXM, reserve_fraction=1.0)
    with pytest.raises(ValueError, match="breakdown must be a stage dict"):
        memory.fits([], hw.H100_SXM)
    with pytest.raises(ValueError, match="gpu must be a ppnotes.hardware.GPUSpec"):
        memory.fits({"total": 1}, "H100")
    with pytest.raises(ValueError, match="sequence_parallel must be True or False"):
        memory.activation_bytes_per_layer(GPT3_175B, 1, sequence_parallel="yes")
    with pytest.raises(ValueError, match="context must be an integer >= 1, got 0"):
        memory.kv_cache_bytes(LLAMA3_70B, 1, 0)


def test_stage_memory_with_simulated_schedules():
    layers = even_split(GPT3_175B, 8)
    per_layer = memory.activation_bytes_per_layer(GPT3_175B, 1, tensor_parallel=8)
    zbv = memory.stage_memory(
        GPT3_175B, layers, tensor_parallel=8, num_microbatches=32, schedule="zbv"
    )
    assert all(r["activations"] == pytest.approx(96 * per_layer) for r in zbv)
    inter = memory.stage_memory(
        GPT3_175B,
        layers,
        tensor_parallel=8,
        num_microbatches=32,
        schedule="interleaved",
        virtual_stages=2,
    )
    assert inter[0]["activations"] == pytest.approx(23 * 6 * per_layer)
    with pytest.raises(ValueError, match="schedule must be one of 'gpipe', '1f1b'"):
        memory.stage_memory(GPT3_175B, layers, schedule="forward")


@settings(max_examples=20, deadline=None)
@given(p=st.sampled_from([d for d in DIVISORS_OF_96 if d <= 16]))
def test_deeper_shrinks_state_but_not_stage0_activations(p):
    # m = 32 >= 2p, so stage 0 holds p sets (2p at the deeper depth) of 96 / p layers
    def first(q):
        return memory.stage_memory(
            GPT3_175B, even_split(GPT3_175B, q), tensor_parallel=8, num_microbatches=32
        )[0]

    a, b = first(p), first(2 * p) if 96 % (2 * p) == 0 else None
    if b is not None:
        assert b["optimizer"] < a["optimizer"] and b["weights"] < a["weights"]
        assert b["activations"] == pytest.approx(a["activations"])


def test_peak_stage_and_first_last_ratio():
    rows = memory.stage_memory(
        GPT3_175B, even_split(GPT3_175B, 16), tensor_parallel=8, num_microbatches=32
    )
    assert memory.peak_stage(rows) is rows[0]
    ratio = memory.first_last_ratio(rows, "activations")
    assert ratio == pytest.approx(16)  # 16 sets against 1, same layers
    gpipe = memory.stage_memory(
        GPT3_175B,
        even_split(GPT3_175B, 16),
        tensor_parallel=8,
        num_microbatches=32,
        schedule="gpipe",
    )
    assert memory.first_last_ratio(gpipe, "activations") == pytest.approx(1)
    with pytest.raises(ValueError, match="key must be one of"):
        memory.first_last_ratio(rows, "bananas")
    with pytest.raises(ValueError, match="last stage's 'kv_cache' is 0"):
        memory.first_last_ratio(rows, "kv_cache")
    with pytest.raises(ValueError, match="breakdown must be a stage dict"):
        memory.peak_stage([])


def test_max_batch_that_fits_hand_checked():
    # Llama 3 70B, one stage, t = 8, bf16, H100: (budget - weights) // KV per sequence
    budget = 0.9 * hw.H100_SXM.memory_bytes
    weights = LLAMA3_70B.total_params * 2 / 8
    per_seq = 8192 * 327_680 / 8
    expected = int((budget - weights) // per_seq)
    got = memory.max_batch_that_fits(LLAMA3_70B, [80], hw.H100_SXM, 8192, tensor_parallel=8)
    assert got == expected
    rows = memory.stage_memory(
        LLAMA3_70B, [80], "infer", tensor_parallel=8, batch=got, context=8192
    )
    assert memory.fits(rows, hw.H100_SXM)
    rows = memory.stage_memory(
        LLAMA3_70B, [80], "infer", tensor_parallel=8, batch=got + 1, context=8192
    )
    assert not memory.fits(rows, hw.H100_SXM)


def test_max_batch_grows_with_depth_and_is_zero_when_weights_do_not_fit():
    batches = [
        memory.max_batch_that_fits(LLAMA3_70B, [80 // p] * p, hw.H100_SXM, 8192, tensor_parallel=8)
        for p in (1, 2, 4, 8)
    ]
    assert all(a < b for a, b in zip(batches, batches[1:], strict=False))
    assert memory.max_batch_that_fits(LLAMA3_70B, [80], hw.A100_40GB, 8192) == 0
    with pytest.raises(ValueError, match="gpu must be a ppnotes.hardware.GPUSpec"):
        memory.max_batch_that_fits(LLAMA3_70B, [80], "H100", 8192)
    with pytest.raises(ValueError, match="context must be an integer >= 1"):
        memory.max_batch_that_fits(LLAMA3_70B, [80], hw.H100_SXM, 0)


def test_stage_memory_distributed_optimizer_and_2022_setting():
    layers = even_split(GPT3_175B, 8)
    base = memory.stage_memory(GPT3_175B, layers, tensor_parallel=8)
    zero1 = memory.stage_memory(
        GPT3_175B, layers, tensor_parallel=8, distributed_optimizer=True, data_parallel=8
    )
    for a, b in zip(base, zero1, strict=True):
        assert b["optimizer"] == pytest.approx(a["optimizer"] / 8)
        assert b["weights"] == a["weights"] and b["gradients"] == a["gradients"]
        assert b["activations"] == a["activations"]
        assert a["total"] - b["total"] == pytest.approx(a["params"] * (12 - 12 / 8))
    old = memory.stage_memory(
        GPT3_175B, layers, tensor_parallel=8, fp32_grads=False, flash_attention=False, dropout=True
    )
    per_layer = memory.activation_bytes_per_layer(GPT3_175B, 1, tensor_parallel=8, **KORTHIKANTI)
    assert old[0]["activations"] == pytest.approx(8 * 12 * per_layer)
    assert old[0]["gradients"] == pytest.approx(2 * old[0]["params"])


def test_logits_bytes_hand_checked():
    assert memory.logits_bytes(GPT3_175B, 1, tensor_parallel=8) == 2048 * 50257 * 4 / 8
    assert memory.logits_bytes(LLAMA3_70B, 2, bytes_per_value=2) == 8192 * 2 * 128256 * 2


def test_reserves_are_stated_assumptions():
    assert memory.DEFAULT_RESERVE_FRACTION == memory.TRAINING_RESERVE_FRACTION == 0.1
    assert memory.SERVING_RESERVE_FRACTION == 0.1
    # the last stage's fp32 logits are a small part of the training reserve for GPT-3
    logits = memory.logits_bytes(GPT3_175B, 1, tensor_parallel=8)
    assert logits < 0.01 * memory.TRAINING_RESERVE_FRACTION * hw.H100_SXM.memory_bytes


def test_kv_capacity_same_gpus_hand_checked():
    # Llama 3 70B, t = 8, H100, 8192 tokens, 16 GPUs: two replicas of p = 1 or one of p = 2
    budget = 0.9 * hw.H100_SXM.memory_bytes
    layer, emb, head = (
        LLAMA3_70B.params_per_layer,
        LLAMA3_70B.embedding_params,
        LLAMA3_70B.head_params,
    )
    kv_per_layer = 8192 * 2 * 1 * 128 * 2  # one KV head per GPU at t = 8
    one = int((budget - LLAMA3_70B.total_params * 2 / 8) // (80 * kv_per_layer))
    two = min(
        int((budget - (40 * layer + emb) * 2 / 8) // (40 * kv_per_layer)),
        int((budget - (40 * layer + head) * 2 / 8) // (40 * kv_per_layer)),
    )
    shallow = memory.kv_capacity_same_gpus(LLAMA3_70B, hw.H100_SXM, 8192, 1, 16, tensor_parallel=8)
    deep = memory.kv_capacity_same_gpus(LLAMA3_70B, hw.H100_SXM, 8192, 2, 16, tensor_parallel=8)
    assert shallow == {"stages": 1, "replicas": 2, "per_replica": one, "sequences": 2 * one}
    assert deep == {"stages": 2, "replicas": 1, "per_replica": two, "sequences": two}
    # the deeper pipeline stores the weights once instead of twice: more room for the cache,
    # but far less than the per-replica numbers (one against two) suggest
    assert 2 * one < two < 2.5 * one


@settings(max_examples=20, deadline=None)
@given(p=st.sampled_from([1, 2, 4, 5, 8, 10]), k=st.integers(1, 4))
def test_kv_capacity_same_gpus_grows_with_depth_at_equal_gpus(p, k):
    # with the GPU count fixed, fewer copies of the weights leave more room for the cache
    n = 8 * 40 * k

    def seqs(q):
        return memory.kv_capacity_same_gpus(LLAMA3_70B, hw.H100_SXM, 8192, q, n, tensor_parallel=8)[
            "sequences"
        ]

    if n % (8 * 2 * p) == 0:
        assert seqs(2 * p) >= seqs(p)


def test_kv_capacity_same_gpus_bad_input():
    with pytest.raises(ValueError, match=r"num_gpus must be a multiple of .* = 16, got 24"):
        memory.kv_capacity_same_gpus(LLAMA3_70B, hw.H100_SXM, 8192, 2, 24, tensor_parallel=8)


def test_sharded_activation_units_follow_the_layer_shape():
    # GPT: Korthikanti et al.'s 24 (Q, K, V, attention output 8; GeLU input and output 16)
    assert memory.sharded_activation_units(GPT3_175B) == 24
    # Llama 3 70B: K and V for 8 of 64 heads (0.5), a gated MLP of 3.5 h (21)
    llama70 = LLAMA3_70B
    assert memory.sharded_activation_units(llama70) == 4 + 0.5 + 6 * 3.5
    s, h, t = 8192, llama70.hidden_size, 8
    got = memory.activation_bytes_per_layer(
        llama70, 1, s, tensor_parallel=t, sequence_parallel=True
    )
    assert got == s * h / t * (8 + 25.5 + 4 * llama70.num_heads / h)
    # grouped-query attention alone lowers the count; a gated MLP of the same width raises it
    mha = dataclasses.replace(llama70, num_kv_heads=llama70.num_heads)
    gelu = dataclasses.replace(llama70, mlp_matrices=2)
    assert memory.sharded_activation_units(mha) > memory.sharded_activation_units(llama70)
    assert memory.sharded_activation_units(gelu) < memory.sharded_activation_units(llama70)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        # Arguments of the other mode are still checked.
        (lambda: memory.stage_memory(GPT3_175B, [48, 48], batch=0), ValueError, "batch must be"),
        (
            lambda: memory.stage_memory(GPT3_175B, [48, 48], weight_precision="fp7"),
            ValueError,
            "precision must be one of",
        ),
        (
            lambda: memory.stage_memory(GPT3_175B, [48, 48], context=2.5),
            ValueError,
            "context must be an integer",
        ),
        (
            lambda: memory.stage_memory(GPT3_175B, [48, 48], "infer", dropout="8"),
            TypeError,
            "dropout must be True or False",
        ),
        (
            lambda: memory.stage_memory(GPT3_175B, [48, 48], "infer", num_microbatches=0),
            ValueError,
            "num_microbatches must be an integer",
        ),
        (
            lambda: memory.stage_memory(GPT3_175B, [48, 48], sets_in_flight=4.0),
            ValueError,
            "sets_in_flight must list one count per stage",
        ),
        (
            lambda: memory.stage_memory(GPT3_175B, [48, 48], tensor_parallel=10**7),
            ValueError,
            "tensor_parallel must be at most",
        ),
        # A number where a breakdown is expected names the parameter.
        (lambda: memory.fits(0, hw.A100_80GB), TypeError, "breakdown must be a stage dict"),
        (lambda: memory.peak_stage(None), TypeError, "breakdown must be a stage dict"),
        (lambda: memory.first_last_ratio(2.5), TypeError, "breakdown must be a stage dict"),
        (lambda: memory.kv_cache_bytes_per_token(GPT3_175B, 10**7), ValueError, "bytes_per"),
        (
            lambda: memory.max_batch_that_fits(GPT3_175B, [48, 48], hw.H200, None),
            ValueError,
            "context must be an integer",
        ),
        (
            lambda: memory.activation_bytes_per_stage(GPT3_175B, 24, 10**7, 1),
            ValueError,
            "sets_in_flight must be a finite number",
        ),
        (lambda: memory.kv_heads_per_gpu(0), TypeError, "model must be a ppnotes"),
        (
            lambda: memory.training_bytes_per_param(fp32_grads=float("nan")),
            TypeError,
            "fp32_grads must be True or False",
        ),
    ],
)
def test_entry_points_name_the_bad_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
