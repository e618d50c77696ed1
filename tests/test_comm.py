"""Tests for ppnotes.comm: hand-checked bytes, alpha-beta times, TP all-reduce, ratios."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppnotes import comm
from ppnotes import hardware as hw
from ppnotes.models import GPT3_175B, LLAMA3_70B

GPT3_HOP = 50_331_648  # 1 * 2048 * 12288 * 2 bytes

links = st.sampled_from(list(hw.LINKS.values()))


def test_gpt3_bytes_per_hop_hand_checked():
    assert comm.activation_bytes_per_hop(GPT3_175B, 1) == GPT3_HOP
    assert comm.activation_bytes_per_hop(12288, 1, 2048) == GPT3_HOP
    assert comm.activation_bytes_per_hop(GPT3_175B, 4, 2048, 4) == 8 * GPT3_HOP
    assert isinstance(comm.activation_bytes_per_hop(GPT3_175B, 1), int)


def test_training_hop_is_forward_plus_backward_times_v():
    assert comm.training_bytes_per_hop(GPT3_175B, 1) == 2 * GPT3_HOP
    assert comm.training_bytes_per_hop(GPT3_175B, 1, interleave=3) == 6 * GPT3_HOP


def test_scatter_gather_divides_by_t():
    assert comm.per_nic_bytes(GPT3_175B, 1, tensor_parallel=8) == GPT3_HOP / 8
    assert comm.per_nic_bytes(GPT3_175B, 1, tensor_parallel=8, scatter_gather=False) == GPT3_HOP
    assert comm.per_nic_bytes(GPT3_175B, 1) == GPT3_HOP


def test_transfer_time_alpha_beta():
    link = hw.NVLINK4
    assert comm.transfer_time(0, link) == link.latency
    expected = link.latency + GPT3_HOP / 376e9
    assert comm.transfer_time(GPT3_HOP, "NVLink 4") == pytest.approx(expected)
    assert comm.transfer_time(GPT3_HOP, link, achievable=False) == pytest.approx(
        link.latency + GPT3_HOP / 450e9
    )


@settings(max_examples=50, deadline=None)
@given(small=st.floats(0, 1e10), extra=st.floats(1, 1e10), link=links)
def test_transfer_time_grows_with_size_and_measured_is_slower(small, extra, link):
    assert comm.transfer_time(small + extra, link) > comm.transfer_time(small, link)
    assert comm.transfer_time(small, link, achievable=True) >= comm.transfer_time(
        small, link, achievable=False
    )


def test_note_traffic_and_time():
    assert comm.note_total_traffic(1, 8, 2048, 12288) == 0  # p = 1: nothing crosses
    total = comm.note_total_traffic(8, 1536, 2048, 12288)
    assert total == 7 * comm.activation_bytes_per_hop(12288, 1536, 2048)
    assert comm.note_comm_time(8, 1536, 2048, 12288, 25e9) == pytest.approx(total / 25e9)
    assert comm.note_comm_time(8, 1536, 2048, 12288, "InfiniBand HDR") == pytest.approx(
        total / 24e9
    )


@settings(max_examples=50, deadline=None)
@given(p=st.integers(1, 64), batch=st.integers(1, 4096))
def test_note_time_is_linear_in_boundaries(p, batch):
    # the note's model: p - 1 hops' traffic all through one link
    one_hop = comm.note_comm_time(2, batch, 2048, 12288, 50e9)
    assert comm.note_comm_time(p, batch, 2048, 12288, 50e9) == pytest.approx((p - 1) * one_hop)


def test_ring_allreduce_limits():
    assert comm.ring_allreduce_time(GPT3_HOP, 1, hw.NVLINK3) == 0.0
    link = hw.NVLINK3
    two = comm.ring_allreduce_time(GPT3_HOP, 2, link)
    assert two == pytest.approx(GPT3_HOP / link.bandwidth() + 2 * link.latency)
    assert comm.ring_allreduce_time(0, 8, link) == pytest.approx(14 * link.latency)


@settings(max_examples=50, deadline=None)
@given(t=st.integers(1, 512), nbytes=st.floats(1, 1e11), link=links)
def test_ring_allreduce_grows_with_t_and_stays_below_twice_one_send(t, nbytes, link):
    time_t = comm.ring_allreduce_time(nbytes, t, link)
    assert comm.ring_allreduce_time(nbytes, t + 1, link) > time_t
    assert time_t < 2 * nbytes / link.bandwidth() + 2 * t * link.latency


def test_tp_traffic_per_layer():
    assert comm.tp_allreduce_bytes_per_layer(GPT3_175B, 1) == 2 * GPT3_HOP
    assert comm.tp_allreduce_bytes_per_layer(GPT3_175B, 1, training=True) == 4 * GPT3_HOP
    assert comm.tp_comm_time_per_layer(GPT3_175B, 1, 1, hw.NVLINK3) == 0.0
    one = comm.ring_allreduce_time(GPT3_HOP, 8, hw.NVLINK3)
    assert comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, hw.NVLINK3) == pytest.approx(2 * one)
    assert comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, hw.NVLINK3, training=True) == pytest.approx(
        4 * one
    )


def test_layer_flops_match_model():
    for model in (GPT3_175B, LLAMA3_70B):
        flops = comm.layer_forward_flops(model, 1)
        assert flops == pytest.approx(model.layer_flops_per_token * model.seq_len)
    # GPT-3: 24 b s h^2 + 4 b s^2 h dominates (biases and norms are tiny)
    h, s = 12288, 2048
    assert comm.layer_forward_flops(GPT3_175B, 1) == pytest.approx(
        24 * s * h**2 + 4 * s**2 * h, rel=1e-3
    )


def test_stage_compute_time_scales():
    one = comm.stage_compute_time(GPT3_175B, 1, 1, hw.A100_80GB)
    assert comm.stage_compute_time(GPT3_175B, 12, 1, hw.A100_80GB) == pytest.approx(12 * one)
    assert comm.stage_compute_time(
        GPT3_175B, 12, 1, hw.A100_80GB, tensor_parallel=8
    ) == pytest.approx(12 * one / 8)
    assert comm.stage_compute_time(GPT3_175B, 1, 1, hw.A100_80GB, utilisation=1.0) == (
        pytest.approx(one / 2)
    )


def test_training_ratio_is_three_halves_of_forward():
    args = (GPT3_175B, 12, 1, hw.A100_80GB, hw.IB_HDR)
    fwd = comm.compute_to_comm_ratio(*args, tensor_parallel=8)
    assert comm.compute_to_comm_ratio(*args, tensor_parallel=8, training=True) == (
        pytest.approx(1.5 * fwd)
    )


@settings(max_examples=30, deadline=None)
@given(layers=st.integers(1, 95), link=links)
def test_deeper_pipelines_lower_the_ratio(layers, link):
    # fewer layers per stage (a deeper pipeline) -> less compute per hop
    fewer = comm.compute_to_comm_ratio(GPT3_175B, layers, 1, hw.H100_SXM, link)
    more = comm.compute_to_comm_ratio(GPT3_175B, layers + 1, 1, hw.H100_SXM, link)
    assert more > fewer > 0


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="micro_batch must be an integer >= 1, got 0"):
        comm.activation_bytes_per_hop(GPT3_175B, 0)
    with pytest.raises(ValueError, match="seq_len must be given"):
        comm.activation_bytes_per_hop(12288, 1)
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1, got -5"):
        comm.activation_bytes_per_hop(-5, 1, 2048)
    with pytest.raises(ValueError, match="bytes_per_value must be an integer >= 1, got 0"):
        comm.activation_bytes_per_hop(GPT3_175B, 1, bytes_per_value=0)
    with pytest.raises(ValueError, match="nbytes must be a finite number >= 0, got -1"):
        comm.transfer_time(-1, hw.NVLINK4)
    with pytest.raises(ValueError, match=r"link must be one of .*got 'NVLink 9'"):
        comm.transfer_time(1, "NVLink 9")
    with pytest.raises(ValueError, match="link must be a LinkSpec or a preset name, got 3"):
        comm.transfer_time(1, 3)
    with pytest.raises(ValueError, match="bandwidth must be a finite number > 0, got 0"):
        comm.note_comm_time(4, 8, 2048, 12288, 0)
    with pytest.raises(ValueError, match="tensor_parallel must be an integer >= 1, got 0"):
        comm.ring_allreduce_time(1, 0, hw.NVLINK4)
    with pytest.raises(ValueError, match="utilisation must be a finite number > 0 and <= 1"):
        comm.stage_compute_time(GPT3_175B, 1, 1, hw.A100_80GB, utilisation=0)
    with pytest.raises(ValueError, match="gpu must be a ppnotes.hardware.GPUSpec"):
        comm.stage_compute_time(GPT3_175B, 1, 1, "A100 80GB")
    with pytest.raises(ValueError, match="scatter_gather must be True or False, got 1"):
        comm.per_nic_bytes(GPT3_175B, 1, scatter_gather=1)
    with pytest.raises(ValueError, match="interleave must be an integer >= 1, got 0"):
        comm.training_bytes_per_hop(GPT3_175B, 1, interleave=0)
    with pytest.raises(ValueError, match="model must be a ppnotes.models.ModelSpec"):
        comm.layer_forward_flops(12288, 1, 2048)
