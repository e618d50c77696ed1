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
