"""Tests for ppnotes.partition (chapter 1): depth and GPUs, splits, balance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppnotes import partition
from ppnotes.models import GPT3_175B, LLAMA3_70B


def test_gpu_counts_hand_values():
    assert partition.gpus_per_replica(8, 8) == 64
    assert partition.total_gpus(16, 8, 4) == 512
    assert partition.depth_from_gpus(64, tensor_parallel=8) == 8
    assert partition.depth_from_gpus(1024, 8, 16) == 8
    assert partition.depth_from_gpus(7) == 7  # without TP, depth = GPUs


def test_depth_from_gpus_refuses_indivisible():
    with pytest.raises(ValueError, match="num_gpus must be a multiple of .* = 24, got 64"):
        partition.depth_from_gpus(64, tensor_parallel=8, data_parallel=3)


def test_valid_depths_of_96():
    assert partition.valid_depths(96) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 96]
    assert partition.valid_depths(1) == [1]


def test_balanced_split_hand_values():
    assert partition.balanced_split(96, 5) == [20, 19, 19, 19, 19]
    assert partition.balanced_split(96, 8) == [12] * 8
    assert partition.balanced_split(3, 3) == [1, 1, 1]


def test_stage_loads_add_the_ends():
    assert partition.stage_loads([2, 2, 2], 0.5, 1.0) == [2.5, 2.0, 3.0]
    assert partition.stage_loads([4], 0.5, 1.0) == [5.5]  # one stage holds both ends


def test_balance_efficiency_hand_values():
    assert partition.balance_efficiency([1, 1, 1]) == 1.0
    assert partition.balance_efficiency([2, 1]) == pytest.approx(0.75)


def test_optimal_split_moves_layers_off_a_heavy_head():
    # 10 layers, 3 stages, head worth 2.5 layers: the last stage takes fewer layers.
    split = partition.optimal_split(10, 3, 0.0, 2.5)
    assert sum(split) == 10
    assert max(partition.stage_loads(split, 0.0, 2.5)) == 4.5
    assert split[-1] < split[0]


def test_gpt3_at_64_stages_is_capped_by_whole_layers():
    head = GPT3_175B.head_layer_equivalents
    loads = partition.stage_loads(partition.optimal_split(96, 64, 0.0, head), 0.0, head)
    assert max(loads) == 2
    assert partition.balance_efficiency(loads) == pytest.approx((96 + head) / 64 / 2)


def test_llama_head_makes_best_split_strictly_better_at_p16():
    head = LLAMA3_70B.head_layer_equivalents
    naive = partition.stage_loads(partition.balanced_split(80, 16), 0.0, head)
    best = partition.stage_loads(partition.optimal_split(80, 16, 0.0, head), 0.0, head)
    assert partition.balance_efficiency(best) > partition.balance_efficiency(naive)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: partition.gpus_per_replica(0), "num_stages must be an integer >= 1, got 0"),
        (lambda: partition.total_gpus(2, 1, -1), "data_parallel must be an integer >= 1"),
        (lambda: partition.valid_depths(2.5), "num_layers must be an integer >= 1, got 2.5"),
        (lambda: partition.balanced_split(4, 5), r"num_stages must be an integer in \[1, 4\]"),
        (lambda: partition.stage_loads([]), "layers_per_stage must list at least one stage"),
        (lambda: partition.stage_loads([1, 0]), r"layers_per_stage\[1\] must be an integer >= 1"),
        (lambda: partition.stage_loads([1], -1.0), "first_extra must be a finite number >= 0"),
        (lambda: partition.balance_efficiency([0, 0]), "positive maximum"),
        (lambda: partition.optimal_split(8, 2, 0, float("inf")), "last_extra must be a finite"),
        (lambda: partition.depth_from_gpus(True), "num_gpus must be an integer >= 1, got True"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        # A number where a model or a list is expected is a TypeError naming the parameter.
        (lambda: partition.head_layer_equivalents(0), TypeError, "model must be a ppnotes"),
        (lambda: partition.balance_efficiency(2.5), TypeError, "loads must be a list"),
        (lambda: partition.gpipe_step_layers(None, 4), TypeError, "loads must be a list"),
        (lambda: partition.stage_loads(8), TypeError, "layers_per_stage must be a list"),
        # Flags are True or False, not truthy values.
        (lambda: partition.split_with_lighter_ends(126, 16, "8"), TypeError, "embedding must be"),
        (lambda: partition.split_with_lighter_ends(126, 16, loss=None), TypeError, "loss must be"),
        # Sizes beyond any real model are refused at once instead of taking minutes.
        (lambda: partition.optimal_split(10**7, 4), ValueError, "num_layers must be at most"),
        (lambda: partition.optimal_split(4000, 2000), ValueError, "num_stages must be at most"),
        (lambda: partition.optimal_split(40, 50), ValueError, r"num_stages must be .* \[1, 40\]"),
    ],
)
def test_bad_argument_errors_name_the_parameter(call, error, message):
    with pytest.raises(error, match=message):
        call()


layers = st.integers(min_value=1, max_value=200)
extra = st.floats(min_value=0, max_value=5, allow_nan=False)


@given(layers, st.integers(min_value=1, max_value=200))
def test_balanced_split_sums_and_differs_by_at_most_one(num_layers, p):
    p = min(p, num_layers)
    split = partition.balanced_split(num_layers, p)
    assert sum(split) == num_layers and len(split) == p
    assert max(split) - min(split) <= 1 and min(split) >= 1


@given(layers, st.integers(min_value=1, max_value=64), extra, extra)
def test_optimal_split_is_valid_and_never_worse(num_layers, p, first, last):
    p = min(p, num_layers)
    best = partition.optimal_split(num_layers, p, first, last)
    assert sum(best) == num_layers and len(best) == p and min(best) >= 1
    naive = partition.balanced_split(num_layers, p)
    best_max = max(partition.stage_loads(best, first, last))
    assert best_max <= max(partition.stage_loads(naive, first, last)) + 1e-9
    # and no whole-layer split beats it: the bottleneck is at least the mean, and at least the
    # load of the heaviest end stage holding a single layer
    mean = (num_layers + first + last) / p
    assert best_max >= mean - 1e-9


@given(layers, st.integers(min_value=1, max_value=64))
def test_balance_efficiency_is_one_iff_balanced(num_layers, p):
    p = min(p, num_layers)
    eff = partition.balance_efficiency(
        partition.stage_loads(partition.balanced_split(num_layers, p))
    )
    assert 0 < eff <= 1
    assert (eff == 1) == (num_layers % p == 0)


# ------------------------------------------------------------------ imbalance per step


def test_imbalance_costs_one_layer_per_microbatch_slot():
    loads = partition.stage_loads([20, 19, 19, 19, 19])
    assert partition.imbalance_idle_layers(loads, 32) == [0.0, 31.0, 31.0, 31.0, 31.0]
    assert partition.imbalance_idle_layers(loads, 1) == [0.0] * 5  # one micro-batch: no slot
    assert partition.gpipe_step_layers(loads, 32) == 96 + 31 * 20
    assert partition.gpipe_step_layers([19.2] * 5, 32) == pytest.approx(96 + 31 * 19.2)


@given(
    loads=st.lists(st.integers(1, 6), min_size=1, max_size=5),
    m=st.integers(1, 9),
)
def test_gpipe_step_matches_the_simulator_and_bounds_1f1b(loads, m):
    from ppnotes.schedules import build_schedule, simulate

    loads = [float(x) for x in loads]
    costs = {"F": loads, "B": [2 * x for x in loads]}
    p = len(loads)
    gpipe = simulate(build_schedule("gpipe", p, m), costs).makespan / 3
    one_f_one_b = simulate(build_schedule("1f1b", p, m), costs).makespan / 3
    assert gpipe == pytest.approx(partition.gpipe_step_layers(loads, m))
    assert one_f_one_b <= gpipe + 1e-9
    # idle of each stage = fill and drain (the other stages' loads) + the imbalance part
    idle = partition.imbalance_idle_layers(loads, m)
    for i, x in enumerate(loads):
        assert gpipe - m * x == pytest.approx(sum(loads) - x + idle[i])


def test_imbalance_refuses_bad_input():
    with pytest.raises(ValueError, match="num_microbatches must be an integer >= 1, got 0"):
        partition.imbalance_idle_layers([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="loads must be a non-empty list"):
        partition.gpipe_step_layers([], 4)


# ------------------------------------------------------------------ lighter end stages


def test_llama31_405b_split_is_k_p_minus_2():
    # dubey2024llama3: 126 layers at PP 16, one layer fewer on the first and last stage
    assert partition.split_with_lighter_ends(126, 16) == [7] + [8] * 14 + [7]
    assert partition.split_with_lighter_ends(127, 16, embedding=False) == [8] * 15 + [7]
    assert partition.split_with_lighter_ends(127, 16, loss=False) == [7] + [8] * 15
    assert partition.split_with_lighter_ends(128, 16, False, False) == [8] * 16


def test_lighter_ends_refuse_indivisible_or_empty():
    with pytest.raises(
        ValueError,
        match=r"num_layers \+ 2 .* divisible by num_stages = 16, got "
        r"num_layers = 128; choose num_layers = k \* 16 - 2",
    ):
        partition.split_with_lighter_ends(128, 16)
    with pytest.raises(ValueError, match="leaves a stage with no layer"):
        partition.split_with_lighter_ends(2, 4)


@given(k=st.integers(2, 12), p=st.integers(2, 24))
def test_lighter_ends_sum_and_balance(k, p):
    counts = partition.split_with_lighter_ends(k * p - 2, p)
    assert sum(counts) == k * p - 2 and counts[0] == counts[-1] == k - 1
    assert max(counts) == (k if p > 2 else k - 1)  # p = 2 has no middle stage


def test_lighter_ends_beat_an_even_split_with_the_head():
    from ppnotes.models import LLAMA31_405B

    head = partition.head_layer_equivalents(LLAMA31_405B)
    light = partition.stage_loads(partition.split_with_lighter_ends(126, 16), 0, head)
    even = partition.stage_loads([8] * 16, 0, head)
    assert max(light) == 8 and max(even) == 8 + head
    assert partition.balance_efficiency(light) > partition.balance_efficiency(even)


# ------------------------------------------------------------------ the head's weight


def test_head_layer_equivalents_by_hand():
    m = GPT3_175B
    layer = 2 * m.params_per_layer + 4 * 2048 * 12288
    assert partition.head_layer_equivalents(m) == pytest.approx(2 * 50257 * 12288 / layer)
    assert partition.head_layer_equivalents(m) == pytest.approx(m.head_layer_equivalents)
    # full recomputation: the layers do 4 forwards' work, the head 3
    assert partition.head_layer_equivalents(m, recomputation="full") == pytest.approx(
        0.75 * m.head_layer_equivalents
    )
    selective = partition.head_layer_equivalents(m, recomputation="selective")
    assert selective == pytest.approx(3 * 2 * 50257 * 12288 / (3 * layer + 4 * 2048 * 12288))


def test_head_weight_falls_with_sequence_length():
    values = [partition.head_layer_equivalents(LLAMA3_70B, seq_len=s) for s in (512, 2048, 8192)]
    assert values == sorted(values, reverse=True)
    assert values[-1] == pytest.approx(LLAMA3_70B.head_layer_equivalents)


def test_head_layer_equivalents_refuses_bad_input():
    with pytest.raises(
        ValueError, match="recomputation must be one of 'none', 'selective', 'full'"
    ):
        partition.head_layer_equivalents(GPT3_175B, recomputation="all")
    with pytest.raises(ValueError, match="seq_len must be an integer >= 1, got 0"):
        partition.head_layer_equivalents(GPT3_175B, seq_len=0)
