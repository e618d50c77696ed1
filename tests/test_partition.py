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
