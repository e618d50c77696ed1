"""Tests for ppnotes.comm: hand-checked bytes, latency + bytes/bandwidth times, TP all-reduce,
blocking and asynchronous sends, the communication left out, the Megatron-LM figure 18 check."""

from __future__ import annotations

from math import nan

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


def test_transfer_time_latency_plus_bytes_over_bandwidth():
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
    latency = link.call_latency + 2 * link.step_latency
    assert two == pytest.approx(GPT3_HOP / link.bandwidth() + latency)
    assert comm.ring_allreduce_time(0, 8, link) == pytest.approx(
        link.call_latency + 14 * link.step_latency
    )


def test_small_allreduce_matches_nccls_own_model():
    # NCCL's tuner (Ring, LL): 6.6 us per call + 0.6 us per NVLink step; it prints 10.2 us for
    # 4 x H100, and the model gives 7.8 / 10.2 / 15.0 us at 2 / 4 / 8 GPUs
    for n, us in ((2, 7.8), (4, 10.2), (8, 15.0)):
        assert comm.ring_allreduce_time(0, n, hw.NVLINK4) == pytest.approx(us * 1e-6)
    # the per-call cost is charged once, not per ring step: going from 4 to 8 GPUs adds
    # 8 steps' latency only
    extra = comm.ring_allreduce_time(0, 8, hw.NVLINK4) - comm.ring_allreduce_time(0, 4, hw.NVLINK4)
    assert extra == pytest.approx(8 * hw.NVLINK4.step_latency)
    # so at t = 8 a small all-reduce costs about a third of the old 2 (t - 1) x 3 us = 42 us
    assert comm.ring_allreduce_time(0, 8, hw.NVLINK4) < 42e-6 / 2


def test_collective_steps_and_kinds():
    assert [comm.collective_steps(n) for n in (1, 2, 8)] == [0, 2, 14]
    assert [comm.collective_steps(n, "all-gather") for n in (1, 2, 8)] == [0, 1, 7]
    assert comm.collective_steps(8, "reduce-scatter") == 7
    link = hw.IB_HDR
    for kind in comm.COLLECTIVES:
        assert comm.collective_time(1e6, 1, link, kind) == 0.0
    # all-gather + reduce-scatter move what one all-reduce moves, in two calls
    ag = comm.collective_time(1e6, 8, link, "all-gather")
    rs = comm.collective_time(1e6, 8, link, "reduce-scatter")
    ar = comm.collective_time(1e6, 8, link, "all-reduce")
    assert ag + rs == pytest.approx(ar + link.call_latency)
    with pytest.raises(ValueError, match="kind"):
        comm.collective_time(1e6, 8, link, "all-to-all")


@settings(max_examples=50, deadline=None)
@given(t=st.integers(1, 512), nbytes=st.floats(0, 1e11), link=links)
def test_ring_allreduce_grows_with_t_and_stays_below_twice_one_send(t, nbytes, link):
    time_t = comm.ring_allreduce_time(nbytes, t, link)
    assert comm.ring_allreduce_time(nbytes, t + 1, link) > time_t
    bound = 2 * nbytes / link.bandwidth() + link.call_latency + 2 * t * link.step_latency
    assert time_t < bound


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
        pytest.approx(one * comm.DEFAULT_UTILISATION)
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
    with pytest.raises(ValueError, match="ranks must be an integer >= 1, got 0"):
        comm.ring_allreduce_time(1, 0, hw.NVLINK4)
    with pytest.raises(ValueError, match="ranks must be an integer >= 1, got 0"):
        comm.ring_allgather_time(1, 0, hw.NVLINK4)
    with pytest.raises(ValueError, match="overlap must be True or False, got 1"):
        comm.exposed_pipeline_comm_time("1f1b", 4, 8, 1.0, 2.0, 0.1, overlap=1)
    with pytest.raises(ValueError, match=r"schedule_name must be one of .*got 'zb-h2'"):
        comm.exposed_pipeline_comm_time("zb-h2", 4, 8, 1.0, 2.0, 0.1)
    with pytest.raises(ValueError, match="sequence_parallel must be True or False"):
        comm.receiver_allgather_bytes(GPT3_175B, 1, tensor_parallel=8, sequence_parallel=None)
    with pytest.raises(ValueError, match="num_stages must be an integer >= 1, got 0"):
        comm.dp_gradient_bytes_per_gpu(GPT3_175B, 0)
    with pytest.raises(ValueError, match="grad_bytes must be an integer >= 1, got 0"):
        comm.embedding_allreduce_bytes(GPT3_175B, grad_bytes=0)
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


# --- critical path -----------------------------------------------------------------------

CLOSED = ("gpipe", "1f1b", "forward")


def test_hops_hand_checked():
    assert comm.critical_path_hops("gpipe", 4, 8) == 6
    assert comm.critical_path_hops("forward", 4, 8) == 3
    assert comm.critical_path_hops("1f1b", 4, 8) == 16  # 2 * ceil(10 * 3 / 4)
    assert comm.critical_path_hops("1f1b", 2, 16) == 16  # 2 * ceil(16 / 2)
    assert comm.critical_path_hops("interleaved", 4, 8, 2) == 14
    assert comm.critical_path_hops("interleaved", 4, 8, 1) == 16  # v = 1 is 1F1B
    assert comm.critical_path_hops("zb-h1", 4, 3) == 8
    assert comm.critical_path_hops("zb-h1", 4, 100) == 12  # capped at 4 (p - 1)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(comm.CLOSED_FORM_SCHEDULES), m=st.integers(1, 40))
def test_one_stage_has_no_hops(name, m):
    assert comm.critical_path_hops(name, 1, m) == 0


@settings(max_examples=60, deadline=None)
@given(p=st.integers(1, 16), m=st.integers(1, 64))
def test_1f1b_hops_grow_with_m_and_stay_between_gpipe_and_two_per_microbatch(p, m):
    hops = comm.critical_path_hops("1f1b", p, m)
    assert comm.critical_path_hops("1f1b", p, m + 1) >= hops
    assert comm.critical_path_hops("gpipe", p, m) <= hops <= 2 * max(m + p - 2, 0)
    assert comm.critical_path_hops("zb-h1", p, m) <= hops


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(CLOSED),
    p=st.integers(1, 8),
    m=st.integers(1, 24),
    t_f=st.floats(0.01, 5),
    ratio=st.floats(0.2, 4),
    t_hop=st.floats(0, 20),
)
def test_closed_form_equals_simulator_for_any_hop_time(name, p, m, t_f, ratio, t_hop):
    t_b = ratio * t_f
    got = comm.simulated_comm_time(name, p, m, t_f, t_b, t_hop)
    assert comm.critical_path_comm_time(name, p, m, t_f, t_b, t_hop) == pytest.approx(
        got, rel=1e-9, abs=1e-9
    )
    sched = comm.build_schedule(name, p, m)
    costs = {"F": t_f, "B": t_b}
    makespan = comm.simulate(sched, costs, comm=t_hop).makespan
    assert comm.step_time_with_hops(name, p, m, t_f, t_b, t_hop) == pytest.approx(
        makespan, rel=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 6),
    groups=st.integers(1, 4),
    v=st.integers(2, 3),
    t_f=st.floats(0.05, 3),
    ratio=st.floats(0.3, 3),
    share=st.floats(0, 1),
)
def test_interleaved_closed_form_exact_up_to_one_chunk(p, groups, v, t_f, ratio, share):
    m, t_b = p * groups, ratio * t_f
    t_hop = share * min(t_f, t_b) / v  # within the stated condition
    got = comm.simulated_comm_time("interleaved", p, m, t_f, t_b, t_hop, v)
    assert comm.critical_path_comm_time("interleaved", p, m, t_f, t_b, t_hop, v) == (
        pytest.approx(got, rel=1e-9, abs=1e-9)
    )


@settings(max_examples=40, deadline=None)
@given(
    p=st.integers(2, 6),
    groups=st.integers(2, 4),
    t_hop=st.floats(0.6, 10),
)
def test_interleaved_beyond_the_condition_is_a_lower_bound_and_warns(p, groups, t_hop):
    m, t_f, t_b, v = p * groups, 1.0, 2.0, 2  # condition: t_hop <= 0.5
    with pytest.warns(UserWarning, match="lower bound"):
        bound = comm.critical_path_comm_time("interleaved", p, m, t_f, t_b, t_hop, v)
    assert comm.simulated_comm_time("interleaved", p, m, t_f, t_b, t_hop, v) >= bound - 1e-9


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 8),
    m=st.integers(1, 24),
    t_f=st.floats(0.2, 3),
    t_i_ratio=st.floats(0.5, 2),
    w_share=st.floats(0.1, 1),
    hop_share=st.floats(0, 1),
)
def test_zb_h1_closed_form_exact_within_its_conditions(p, m, t_f, t_i_ratio, w_share, hop_share):
    t_i = t_i_ratio * t_f
    t_w = w_share * min(t_f, t_i)
    t_hop = hop_share * t_w / 2
    t_b = t_i + t_w
    got = comm.simulated_comm_time("zb-h1", p, m, t_f, t_b, t_hop, t_w=t_w)
    assert comm.critical_path_comm_time("zb-h1", p, m, t_f, t_b, t_hop, t_w=t_w) == (
        pytest.approx(got, rel=1e-9, abs=1e-9)
    )


def test_gpipe_law_and_1f1b_example():
    # GPipe: makespan = (m + p - 1)(F + B) + 2 (p - 1) c
    sched = comm.build_schedule("gpipe", 4, 8)
    assert comm.simulate(sched, {"F": 1, "B": 2}, comm=0.1).makespan == pytest.approx(
        11 * 3 + 6 * 0.1
    )
    # 1F1B, p = 4, m = 8: the step grows by 16 c
    assert comm.simulated_comm_time("1f1b", 4, 8, 1.0, 2.0, 0.1) == pytest.approx(1.6)


def test_exposed_fraction_limits():
    assert comm.exposed_comm_fraction("1f1b", 4, 8, 1.0, 2.0, 0.0) == 0.0
    frac = comm.exposed_comm_fraction("1f1b", 4, 8, 1.0, 2.0, 0.1)
    assert frac == pytest.approx(1.6 / (33 + 1.6))
    assert comm.exposed_comm_fraction("gpipe", 4, 8, 1.0, 2.0, 0.1) < frac


def test_breakdown_gpt3_hdr():
    out = comm.pipeline_comm_breakdown(GPT3_175B, 8, 32, 1, hw.A100_80GB, hw.IB_HDR, 2048, 8)
    assert out["bytes_per_hop"] == GPT3_HOP / 8
    assert out["t_hop"] == pytest.approx(hw.IB_HDR.latency + GPT3_HOP / 8 / 24e9)
    assert out["t_b"] == 2 * out["t_f"]
    assert out["1f1b"] == pytest.approx(68 * out["t_hop"])  # 2 * ceil(38 * 7 / 8)
    assert out["gpipe"] == pytest.approx(14 * out["t_hop"])
    assert out["note"] == pytest.approx(7 * 32 * GPT3_HOP / 24e9)
    assert out["note"] > 10 * out["1f1b"]
    assert out["total_traffic"] == 2 * 7 * 32 * GPT3_HOP
    assert out["interleaved"] == pytest.approx(30 * out["t_hop"])
    # blocking sends: 1F1B 2 m + 2 p - 5 = 75 hops, GPipe 2 (m + p - 2) = 76,
    # interleaved v = 2: (2 v - 1) m + 2 p - 3 = 109
    assert out["1f1b_blocking"] == pytest.approx(75 * out["t_hop"])
    assert out["zb-h1_blocking"] == pytest.approx(75 * out["t_hop"])
    assert out["gpipe_blocking"] == pytest.approx(76 * out["t_hop"])
    assert out["interleaved_blocking"] == pytest.approx(109 * out["t_hop"])
    assert out["step_1f1b_blocking"] == pytest.approx(39 * 3 * out["t_f"] + out["1f1b_blocking"])
    odd = comm.pipeline_comm_breakdown(GPT3_175B, 3, 32, 1, hw.A100_80GB, hw.IB_HDR, 2048, 8)
    assert odd["interleaved"] is None and odd["interleaved_blocking"] is None
    one = comm.pipeline_comm_breakdown(GPT3_175B, 1, 32, 1, hw.A100_80GB, hw.IB_HDR, 2048, 8)
    assert one["t_hop"] == 0 and one["1f1b"] == 0 and one["note"] == 0


def test_critical_path_bad_input():
    with pytest.raises(ValueError, match="schedule_name must be one of .*got 'zbv'"):
        comm.critical_path_hops("zbv", 4, 8)
    with pytest.raises(ValueError, match="p must be an integer >= 1, got 0"):
        comm.critical_path_hops("gpipe", 0, 8)
    with pytest.raises(ValueError, match="needs m divisible by p"):
        comm.critical_path_hops("interleaved", 4, 6, 2)
    with pytest.raises(ValueError, match="v applies only to 'interleaved'"):
        comm.critical_path_hops("1f1b", 4, 8, 2)
    with pytest.raises(ValueError, match="t_hop must be a finite number >= 0, got -1"):
        comm.critical_path_comm_time("1f1b", 4, 8, 1.0, 2.0, -1)
    with pytest.raises(ValueError, match="t_w must be a finite number >= 0 and <= 2"):
        comm.critical_path_comm_time("zb-h1", 4, 8, 1.0, 2.0, 0.1, t_w=3.0)
    with pytest.raises(ValueError, match="num_stages must divide the 96 layers"):
        comm.pipeline_comm_breakdown(GPT3_175B, 5, 32, 1, hw.A100_80GB, hw.IB_HDR)
    with pytest.warns(UserWarning, match="zb-h1 closed form needs t_w"):
        comm.critical_path_comm_time("zb-h1", 4, 8, 1.0, 2.0, 0.1, t_w=1.5)


@pytest.mark.parametrize("name", ["zb-h1", "zb-h2", "zbv", "dualpipev"])
def test_split_backward_schedules_get_split_costs(name):
    from ppnotes.schedules import build_schedule

    p = 2
    costs = comm._sim_costs(build_schedule(name, p, 4 * p), 1.0, 2.0, 1, 0.5)
    assert costs == {"F": 1.0, "I": 1.5, "W": 0.5}


def test_whole_backward_schedules_get_one_cost():
    from ppnotes.schedules import build_schedule

    assert comm._sim_costs(build_schedule("1f1b", 2, 4), 1.0, 2.0, 1, None) == {"F": 1, "B": 2}


# --- blocking sends --------------------------------------------------------------------------


def test_blocking_hops_hand_checked():
    # p = 4, m = 8: GPipe 2 (m + p - 2), 1F1B 2 m + 2 p - 5, interleaved (2v - 1) m + 2 p - 3
    assert comm.blocking_comm_hops("gpipe", 4, 8) == 20
    assert comm.blocking_comm_hops("1f1b", 4, 8) == 19
    assert comm.blocking_comm_hops("zb-h1", 4, 8) == 19
    assert comm.blocking_comm_hops("interleaved", 4, 8, 2) == 29
    assert comm.blocking_comm_hops("forward", 4, 8) == 10
    assert comm.blocking_comm_hops("1f1b", 2, 8) == 9  # both ranks are end ranks: m + 1
    assert comm.blocking_comm_hops("1f1b", 5, 1) == 8  # one micro-batch: 2 (p - 1)
    for name in ("gpipe", "1f1b", "zb-h1", "forward"):
        assert comm.blocking_comm_hops(name, 1, 8) == 0
    # blocking never pays fewer hops than the asynchronous critical path
    for name in ("gpipe", "1f1b", "zb-h1", "forward"):
        for p in range(1, 9):
            for m in range(1, 20):
                assert comm.blocking_comm_hops(name, p, m) >= comm.critical_path_hops(name, p, m)


@settings(max_examples=80, deadline=None)
@given(
    name=st.sampled_from(("gpipe", "1f1b", "forward")),
    p=st.integers(1, 8),
    m=st.integers(1, 24),
    t_f=st.floats(0.01, 5),
    ratio=st.floats(0.2, 4),
    t_hop=st.floats(0, 20),
)
def test_blocking_closed_form_equals_simulator_for_any_hop_time(name, p, m, t_f, ratio, t_hop):
    t_b = ratio * t_f
    got = comm.simulated_comm_time(name, p, m, t_f, t_b, t_hop, blocking=True)
    assert comm.blocking_comm_time(name, p, m, t_f, t_b, t_hop) == pytest.approx(
        got, rel=1e-9, abs=1e-9
    )


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 8),
    m=st.integers(1, 20),
    t_f=st.floats(0.2, 3),
    t_i_ratio=st.floats(0.5, 2),
    w_share=st.floats(0.05, 1),
    t_hop=st.floats(0, 10),
)
def test_blocking_zb_h1_equals_1f1b_count_within_its_condition(
    p, m, t_f, t_i_ratio, w_share, t_hop
):
    t_i = t_i_ratio * t_f
    t_w = w_share * min(t_f, t_i)
    got = comm.simulated_comm_time("zb-h1", p, m, t_f, t_i + t_w, t_hop, t_w=t_w, blocking=True)
    assert got == pytest.approx(comm.blocking_comm_hops("1f1b", p, m) * t_hop, rel=1e-9, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(2, 6),
    groups=st.integers(1, 4),
    v=st.integers(2, 4),
    t_f=st.floats(0.05, 3),
    ratio=st.floats(0.3, 3),
    share=st.floats(0, 1),
)
def test_blocking_interleaved_exact_within_its_condition(p, groups, v, t_f, ratio, share):
    m, t_b = p * groups, ratio * t_f
    limit = 2 * min(t_f, t_b) / (v * (m - 2)) if m > 2 else 10 * (t_f + t_b)
    t_hop = share * limit
    got = comm.simulated_comm_time("interleaved", p, m, t_f, t_b, t_hop, v, blocking=True)
    assert comm.blocking_comm_time("interleaved", p, m, t_f, t_b, t_hop, v) == pytest.approx(
        got, rel=1e-9, abs=1e-9
    )


@settings(max_examples=40, deadline=None)
@given(
    p=st.integers(3, 6),
    groups=st.integers(2, 4),
    v=st.integers(2, 3),
    scale=st.floats(1.01, 50),
)
def test_blocking_interleaved_beyond_is_a_warned_lower_bound_near_2vm(p, groups, v, scale):
    m, t_f, t_b = p * groups, 1.0, 2.0
    t_hop = scale * 2 * min(t_f, t_b) / (v * (m - 2))
    with pytest.warns(UserWarning, match="lower bound"):
        bound = comm.blocking_comm_time("interleaved", p, m, t_f, t_b, t_hop, v)
    got = comm.simulated_comm_time("interleaved", p, m, t_f, t_b, t_hop, v, blocking=True)
    assert bound <= got + 1e-9
    # long hops: the busiest rank's own 2 v m sends set the pace
    assert got <= (2 * v * m + 2 * p) * t_hop


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(comm.EXPOSED_COMM_SCHEDULES),
    p=st.integers(1, 6),
    groups=st.integers(1, 4),
    t_f=st.floats(0.1, 3),
    ratio=st.floats(0.3, 3),
    t_hop=st.floats(0, 4),
    overlap=st.booleans(),
)
def test_exposed_pipeline_comm_time_is_exact(name, p, groups, t_f, ratio, t_hop, overlap):
    v = 2 if name == "interleaved" else 1
    m = p * groups if name == "interleaved" else p + groups
    t_b = ratio * t_f
    got = comm.exposed_pipeline_comm_time(name, p, m, t_f, t_b, t_hop, v, overlap=overlap)
    want = comm.simulated_comm_time(name, p, m, t_f, t_b, t_hop, v, blocking=not overlap)
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)
    if p == 1:
        assert got == 0.0


def test_blocking_zb_h1_outside_its_condition_warns_and_exposed_uses_the_simulator():
    p, m, t_f, t_b, t_w, hop = 5, 3, 0.9, 2.1, 0.95, 0.13  # t_w > min(t_f, t_b - t_w)
    with pytest.warns(UserWarning, match="off either way"):
        comm.blocking_comm_time("zb-h1", p, m, t_f, t_b, hop, t_w=t_w)
    got = comm.exposed_pipeline_comm_time("zb-h1", p, m, t_f, t_b, hop, t_w=t_w, overlap=False)
    want = comm.simulated_comm_time("zb-h1", p, m, t_f, t_b, hop, t_w=t_w, blocking=True)
    assert got == pytest.approx(want, rel=1e-12)


def test_exposed_pipeline_comm_time_validates_before_p_1():
    with pytest.raises(ValueError, match="m must be an integer >= 1, got 0"):
        comm.exposed_pipeline_comm_time("1f1b", 1, 0, 1.0, 2.0, 0.1)
    with pytest.raises(ValueError, match="v applies only to 'interleaved'"):
        comm.exposed_pipeline_comm_time("zbv", 1, 4, 1.0, 2.0, 0.1, v=2)
    with pytest.raises(ValueError, match="t_hop must be a finite number >= 0"):
        comm.exposed_pipeline_comm_time("gpipe", 1, 4, 1.0, 2.0, -0.1)
    assert comm.exposed_pipeline_comm_time("zbv", 1, 4, 1.0, 2.0, 0.1, overlap=False) == 0.0


def test_exposed_pipeline_comm_time_is_fast_where_a_closed_form_exists():
    import time

    start = time.perf_counter()
    for _ in range(200):
        comm.exposed_pipeline_comm_time("1f1b", 16, 512, 1.0, 2.0, 0.01, overlap=False)
        comm.exposed_pipeline_comm_time("interleaved", 16, 512, 1.0, 2.0, 1e-4, 4, overlap=True)
    assert (time.perf_counter() - start) / 400 < 1e-3


def test_blocking_exposes_more_than_asynchronous_for_interleaving():
    # 'interleaving hides the hops' holds only for asynchronous sends
    p, m, v, t_f, t_b, hop = 8, 64, 2, 1.0, 2.0, 0.01
    overlap = comm.exposed_pipeline_comm_time("interleaved", p, m, t_f, t_b, hop, v)
    blocking = comm.exposed_pipeline_comm_time("interleaved", p, m, t_f, t_b, hop, v, overlap=False)
    assert overlap == pytest.approx(2 * (p * v - 1) * hop)
    assert blocking == pytest.approx(((2 * v - 1) * m + 2 * p - 3) * hop)
    assert blocking > 5 * overlap


# --- left-out communication -----------------------------------------------------------------


def test_ring_allgather_is_half_an_allreduce_but_one_whole_call():
    link = hw.NVLINK3
    assert comm.ring_allgather_time(GPT3_HOP, 1, link) == 0.0
    # half the steps and bytes of an all-reduce, the same per-call latency
    assert comm.ring_allgather_time(GPT3_HOP, 8, link) == pytest.approx(
        (comm.ring_allreduce_time(GPT3_HOP, 8, link) + link.call_latency) / 2
    )


def test_receiver_allgather_by_hand():
    # GPT-3, b = 1, s = 2048, t = 8: each GPU receives 7/8 of 48 MiB = 42 MiB
    assert comm.receiver_allgather_bytes(GPT3_175B, 1, tensor_parallel=8) == 7 * 6 * 2**20
    assert comm.receiver_allgather_bytes(GPT3_175B, 1, tensor_parallel=1) == 0.0
    assert (
        comm.receiver_allgather_bytes(GPT3_175B, 1, tensor_parallel=8, sequence_parallel=True) == 0
    )
    assert (
        comm.receiver_allgather_time(GPT3_175B, 1, tensor_parallel=8, sequence_parallel=True) == 0.0
    )
    t = comm.receiver_allgather_time(GPT3_175B, 1, hw.NVLINK3, tensor_parallel=8)
    assert t == pytest.approx(7 / 8 * GPT3_HOP / 230e9 + 6.6e-6 + 7 * 0.6e-6)  # one call, 7 steps


def test_embedding_allreduce_bytes_by_hand():
    # GPT-3 ties its embeddings: V h / t fp32 values, 50257 * 12288 * 4 / 8 bytes
    assert comm.embedding_allreduce_bytes(GPT3_175B, 8) == 50257 * 12288 * 4 / 8
    assert comm.embedding_allreduce_bytes(GPT3_175B, 1, grad_bytes=2) == 50257 * 12288 * 2
    assert comm.embedding_allreduce_bytes(GPT3_175B, 8, num_stages=1) == 0.0
    assert comm.embedding_allreduce_bytes(LLAMA3_70B, 8) == 0.0  # untied


def test_dp_gradient_bytes_by_hand_and_falls_as_one_over_p():
    from ppnotes import memory

    per_layer = GPT3_175B.params_per_layer
    # p = 8, t = 8: 12 layers + token and position embeddings (GPT-3 learns positions, so the
    # first stage is the larger end), fp32, split over 8 GPUs
    embedding = 50257 * 12288 + 2048 * 12288
    want = (12 * per_layer + embedding) / 8 * 4
    assert comm.dp_gradient_bytes_per_gpu(GPT3_175B, 8, 8) == pytest.approx(want)
    assert comm.largest_stage_params(GPT3_175B, 8) == max(memory.stage_params(GPT3_175B, [12] * 8))
    assert comm.largest_stage_params(GPT3_175B, 1) == GPT3_175B.total_params
    sizes = [comm.dp_gradient_bytes_per_gpu(GPT3_175B, p) for p in (1, 2, 4, 8, 16, 32)]
    assert all(a > b for a, b in zip(sizes, sizes[1:], strict=False))
    # about 1/p while the layers dominate the stage
    assert sizes[0] / sizes[3] == pytest.approx(8, rel=0.05)


# --- Megatron-LM SC'21 figure 18 ----------------------------------------------------------------

FIG18_TOLERANCE = 0.05  # the chapter's tolerance on the throughput ratio (with / without)


def test_fig18_configuration_from_the_reproduction_script():
    cfg = comm.FIG18_CONFIG
    assert (cfg["tensor_parallel"], cfg["num_stages"], cfg["interleave"]) == (8, 12, 4)
    assert cfg["tensor_parallel"] * cfg["num_stages"] == 96  # 96 GPUs, d = 1
    assert GPT3_175B.num_layers // cfg["num_stages"] // cfg["interleave"] == 2  # 2 per chunk
    assert all(b % cfg["num_stages"] == 0 for b in cfg["batch_sizes"])


def test_fig18_blocking_model_matches_within_tolerance_and_async_does_not():
    blocking = comm.fig18_predictions(overlap=False)
    overlap = comm.fig18_predictions(overlap=True)
    published = 1 + comm.FIG18_PUBLISHED_MAX_GAIN  # "up to 11 %", at the largest batch
    # blocking: gains grow with the batch (as the paper says), largest within the tolerance
    gains = [r["gain"] for r in blocking]
    assert all(a < b for a, b in zip(gains, gains[1:], strict=False))
    assert abs((1 + gains[-1]) / published - 1) <= FIG18_TOLERANCE
    assert gains[-1] < comm.FIG18_PUBLISHED_MAX_GAIN  # but it under-predicts
    # asynchronous: gains shrink with the batch, the opposite trend, and miss the tolerance
    gains = [r["gain"] for r in overlap]
    assert all(a > b for a, b in zip(gains, gains[1:], strict=False))
    assert abs((1 + gains[-1]) / published - 1) > FIG18_TOLERANCE


def test_scatter_gather_gain_limits():
    row = comm.scatter_gather_gain(
        GPT3_175B, 12, 24, 1, hw.A100_80GB, hw.IB_HDR, hw.NVLINK3, 2048, 1, 4
    )
    assert row["gain"] == pytest.approx(0.0, abs=1e-12)  # t = 1: nothing to scatter
    assert row["allgather"] == 0.0
    with pytest.raises(ValueError, match="must divide the 96 layers"):
        comm.scatter_gather_gain(
            GPT3_175B, 12, 24, 1, hw.A100_80GB, hw.IB_HDR, hw.NVLINK3, interleave=5
        )


# --- the simulator's blocking option ------------------------------------------------------------


def test_simulate_blocking_by_hand_and_invariants():
    sched = comm.build_schedule("1f1b", 2, 2)
    costs = {"F": 1.0, "B": 2.0}
    res = comm.simulate(sched, costs, comm=0.5, blocking=True)
    # p = 2, m = 2 by hand: rank 0 runs F0 [0, 1], sends until 1.5, F1 [1.5, 2.5], sends until
    # 3; rank 1 runs F0 [1.5, 2.5], B0 [2.5, 4.5], sends until 5, F1 [5, 6], B1 [6, 8], sends
    # until 8.5; rank 0 runs B0 [5, 7] and B1 [8.5, 10.5]: 9 + 3 x 0.5 (m + 1 = 3 hop times)
    assert res.blocking and not comm.simulate(sched, costs, comm=0.5).blocking
    assert res.makespan == pytest.approx(comm.simulate(sched, costs).makespan + 3 * 0.5)
    # sends: every F on rank 0 and every B on rank 1 (they feed the other rank), nothing else
    sends = {str(a): s for a, s in zip(res.actions, res.send_time, strict=True)}
    assert sends == {
        "0F0": 0.5,
        "0F1": 0.5,
        "0B0": 0.0,
        "0B1": 0.0,
        "1F0": 0.0,
        "1B0": 0.5,
        "1F1": 0.0,
        "1B1": 0.5,
    }
    # busy time is the compute given; zero hop time changes nothing
    assert list(res.busy) == [6.0, 6.0]
    zero = comm.simulate(sched, costs, comm=0.0, blocking=True)
    assert zero.makespan == comm.simulate(sched, costs).makespan
    # the critical path ends at the makespan and follows hops
    path = res.critical_path()
    assert str(path[0][0]) == "0F0" and any(after for _, after in path)
    with pytest.raises(ValueError, match="blocking must be True or False, got 1"):
        comm.simulate(sched, costs, comm=0.5, blocking=1)


def test_allreduce_across_nodes_inside_ring_and_two_level():
    nvl, ib = "NVLink 3", "InfiniBand HDR"
    size = 8 * 2**20
    inside = comm.allreduce_time_across_nodes(size, 8, 8, nvl, ib)
    assert inside == comm.ring_allreduce_time(size, 8, nvl)
    ring = comm.allreduce_time_across_nodes(size, 16, 8, nvl, ib, nic_share=1.0)
    assert ring == comm.ring_allreduce_time(size, 16, ib)
    two = comm.allreduce_time_across_nodes(size, 16, 8, nvl, ib, algorithm="two-level")
    # 14 NVLink steps + 2 network steps on 1/8 of the data, in one call: the per-call
    # latency once
    both = comm.ring_allreduce_time(size, 8, nvl) + comm.ring_allreduce_time(size / 8, 2, ib)
    assert two == pytest.approx(both - hw.IB_HDR.call_latency)
    assert two < ring
    # small messages: one call over 16 GPUs in 2 nodes, within a factor of two of the 46-48 us
    # measured (nccl2024issue1244, NDR); the all-network ring charges 30 network steps
    small = comm.allreduce_time_across_nodes(512, 16, 8, "NVLink 4", "InfiniBand NDR")
    small_two = comm.allreduce_time_across_nodes(
        512, 16, 8, "NVLink 4", "InfiniBand NDR", algorithm="two-level"
    )
    assert small == pytest.approx(6.6e-6 + 30 * 2.7e-6, rel=1e-3)
    assert 46e-6 / 3 < small_two < 48e-6 < small
    # a shared card slows the network part only
    shared = comm.allreduce_time_across_nodes(size, 16, 8, nvl, ib, nic_share=2.0)
    assert (
        shared > ring
        and comm.allreduce_time_across_nodes(size, 8, 8, nvl, ib, nic_share=2.0) == inside
    )
    with pytest.raises(ValueError, match="multiple of gpus_per_node = 8"):
        comm.allreduce_time_across_nodes(size, 12, 8, nvl, ib, algorithm="two-level")
    with pytest.raises(ValueError, match="algorithm"):
        comm.allreduce_time_across_nodes(size, 16, 8, nvl, ib, algorithm="tree")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        # tensor_parallel is named as the caller passed it, not as the ring's "ranks".
        (
            lambda: comm.tp_comm_time_per_layer(GPT3_175B, 1, 0, "NVLink 3"),
            ValueError,
            "tensor_parallel must be an integer >= 1, got 0",
        ),
        (
            lambda: comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, "NVLink 3", training="8"),
            TypeError,
            "training must be True or False",
        ),
        (lambda: comm.transfer_time(1e6, "NVLink 3", None), TypeError, "achievable must be"),
        (lambda: comm.note_comm_time(4, 8, 2048, 12288, 25e9, 2, nan), TypeError, "achievable"),
        (
            lambda: comm.activation_bytes_per_hop(12288, 1),
            ValueError,
            "seq_len must be given .* model_or_hidden",
        ),
        (
            lambda: comm.activation_bytes_per_hop(GPT3_175B, 1, bytes_per_value=10**7),
            ValueError,
            "bytes_per_value must be at most 8",
        ),
        (lambda: comm.largest_stage_params(GPT3_175B, 10**7), ValueError, "num_stages must be"),
        (
            lambda: comm.allreduce_time_across_nodes(1e6, 16, 8, None, "InfiniBand HDR"),
            TypeError,
            "intra_link must be a LinkSpec",
        ),
        (
            lambda: comm.allreduce_time_across_nodes(1e6, 16, 8, "NVLink 3", "IB", nic_share=2),
            ValueError,
            "inter_link must be one of",
        ),
        (
            lambda: comm.allreduce_time_across_nodes(
                1e6, 16, 8, "NVLink 3", "InfiniBand HDR", nic_share=10**7
            ),
            ValueError,
            r"nic_share must be a finite number >= 1 and <= 8",
        ),
        (
            lambda: comm.receiver_allgather_time(GPT3_175B, 1, link=0, sequence_parallel=True),
            TypeError,
            "link must be a LinkSpec",
        ),
        (
            lambda: comm.simulated_comm_time("1f1b", [], 8, 1.0, 2.0, 0.1),
            ValueError,
            "p must be an integer",
        ),
        (
            lambda: comm.simulated_comm_time("1f1b", 4, 10**7, 1.0, 2.0, 0.1),
            ValueError,
            "m must be at most",
        ),
        (lambda: comm.layer_forward_flops(0, 1), TypeError, "model must be a ppnotes"),
        (
            lambda: comm.stage_compute_time(GPT3_175B, 24, 1, "A100"),
            TypeError,
            "gpu must be a ppnotes",
        ),
    ],
)
def test_entry_points_name_the_bad_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()
