"""Tests for ppnotes.models: derived parameter counts match the published totals."""

from __future__ import annotations

import pytest

from ppnotes import models


@pytest.mark.parametrize(
    ("model", "published_billions", "tolerance"),
    [
        (models.GPT3_175B, 175.0, 0.01),  # Brown et al. 2020, Table 2.1
        (models.LLAMA3_70B, 70.6, 0.01),  # Dubey et al. 2024
        (models.LLAMA31_405B, 405.0, 0.01),
    ],
)
def test_total_params_match_published(model, published_billions, tolerance):
    assert model.total_params / 1e9 == pytest.approx(published_billions, rel=tolerance)


def test_gpt3_layer_is_12h2_plus_13h():
    h = 12288
    assert models.GPT3_175B.params_per_layer == 12 * h * h + 13 * h


def test_head_dim_and_gqa():
    assert models.GPT3_175B.head_dim == 128
    assert models.LLAMA3_70B.num_kv_heads == 8 and models.LLAMA3_70B.head_dim == 128


def test_head_weight_in_layers():
    # LM head 2Vh vs a layer 2 * params + 4sh per token
    g = models.GPT3_175B
    expected = 2 * g.vocab_size * g.hidden_size / (2 * g.params_per_layer + 4 * 2048 * 12288)
    assert g.head_layer_equivalents == pytest.approx(expected)
    assert models.LLAMA3_70B.head_layer_equivalents > 1 > g.head_layer_equivalents


def test_get_model_names_the_choices():
    assert models.get_model("GPT-3 175B") is models.GPT3_175B
    with pytest.raises(ValueError, match="model must be one of 'GPT-3 175B'"):
        models.get_model("GPT-5")


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"num_heads": -96}, ValueError, r"num_heads must be an integer in \[1, "),
        ({"num_heads": 0}, ValueError, "num_heads must be an integer"),
        ({"num_heads": 95}, ValueError, "num_heads must divide hidden_size = 12288, got 95"),
        ({"num_kv_heads": 7}, ValueError, "num_kv_heads must divide num_heads = 96, got 7"),
        ({"hidden_size": "8"}, ValueError, "hidden_size must be an integer"),
        ({"seq_len": 0}, ValueError, "seq_len must be an integer"),
        ({"vocab_size": float("inf")}, ValueError, "vocab_size must be an integer"),
        ({"num_layers": 2.5}, ValueError, "num_layers must be an integer"),
        ({"mlp_matrices": 4}, ValueError, r"mlp_matrices must be an integer in \[2, 3\]"),
        ({"biases": float("nan")}, TypeError, "biases must be True or False"),
        ({"tied_embeddings": "8"}, TypeError, "tied_embeddings must be True or False"),
        ({"name": 0}, TypeError, "name must be a string"),
    ],
)
def test_model_spec_checks_itself(changes, error, message):
    import dataclasses

    with pytest.raises(error, match=message):
        dataclasses.replace(models.GPT3_175B, **changes)


def test_model_spec_accepts_integral_floats_as_ints():
    import dataclasses

    model = dataclasses.replace(models.GPT3_175B, num_layers=96.0)
    assert model.num_layers == 96 and type(model.num_layers) is int


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_layers": 0}, "num_layers must be an integer"),
        ({"hidden_size": None}, "hidden_size must be an integer"),
        ({"hidden_size": 10**7}, "hidden_size must be an integer"),
        ({"num_heads": -1}, "num_heads must be an integer"),
        ({"num_heads": 7}, "num_heads must divide hidden_size"),
        ({"name": None}, "name must be a string"),
        ({"source": 2.5}, "source must be a string"),
    ],
)
def test_megatron_gpt_rejects_bad_shapes(kwargs, message):
    args = {"name": "x", "num_layers": 24, "hidden_size": 2048, "num_heads": 16, "source": "s"}
    with pytest.raises(ValueError, match=message):
        models.megatron_gpt(**{**args, **kwargs})
