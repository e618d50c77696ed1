"""Tests of ppnotes.moe (chapter 11) and the simulator's overlap mode."""

import bisect
import itertools
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppnotes import moe as M
from ppnotes import schedules as S


@pytest.mark.parametrize("name", list(M.MOE_MODELS))
def test_parameter_counts_match_the_published_totals(name):
    spec = M.MOE_MODELS[name]
    total, active = M.PUBLISHED_PARAMS[name]
    assert spec.total_params == pytest.approx(total, rel=0.01)
    assert spec.active_params == pytest.approx(active, rel=0.03)
    assert spec.active_params < spec.total_params


def test_moe_spec_refuses_bad_shapes():
    with pytest.raises(ValueError, match=r"top_k must be at most num_experts = 8, got 9"):
        M.MoESpec("x", 4, 64, 4, 4, 16, 100, 128, 0, 0, 8, 0, 9, 32)
    with pytest.raises(ValueError, match=r"dense_layers must be below num_layers = 4"):
        M.MoESpec("x", 4, 64, 4, 4, 16, 100, 128, 4, 32, 8, 0, 2, 32)
    with pytest.raises(ValueError, match=r"num_layers must be an integer"):
        M.MoESpec("x", 0, 64, 4, 4, 16, 100, 128, 0, 0, 8, 0, 2, 32)
    with pytest.raises(TypeError):
        M.MoESpec(3, 4, 64, 4, 4, 16, 100, 128, 0, 0, 8, 0, 2, 32)


def test_expert_parallel_must_divide_the_experts():
    with pytest.raises(ValueError, match=r"expert_parallel must divide num_experts = 256.*got 3"):
        M.expert_params_per_gpu(M.DEEPSEEK_V3, 3)
    full = M.expert_params_per_gpu(M.DEEPSEEK_V3, 1)
    assert full == M.DEEPSEEK_V3.expert_params_total
    assert M.expert_params_per_gpu(M.DEEPSEEK_V3, 64) * 64 == full


def test_a2a_split_conserves_the_copies_and_limits_nodes():
    for e in (1, 4, 8, 64):
        split = M.a2a_split(e, 8, 8)
        assert split["network"] + split["nvlink"] + split["local"] == pytest.approx(8)
    assert M.a2a_split(8, 8, 8)["network"] == 0  # one node: no network
    plain = M.a2a_split(64, 8, 8)
    limited = M.a2a_split(64, 8, 8, max_nodes=4, dispatcher="node-limited")
    # at most 4 nodes, 7/8 of them remote: 3.5 network crossings instead of 7
    assert limited["network"] <= 4 * 7 / 8 + 1e-12
    assert limited["network"] < plain["network"] == pytest.approx(7.0)


def test_a2a_time_grows_with_imbalance_and_vanishes_without_expert_parallelism():
    base = M.a2a_time_per_layer(M.DEEPSEEK_V3, M.H800_CLUSTER, 4096, 64)
    hot = M.a2a_time_per_layer(M.DEEPSEEK_V3, M.H800_CLUSTER, 4096, 64, imbalance=1.5)
    assert hot["forward"] > base["forward"] > 0
    assert M.a2a_time_per_layer(M.DEEPSEEK_V3, M.H800_CLUSTER, 4096, 1)["forward"] == 0
    with pytest.raises(ValueError, match="imbalance"):
        M.a2a_time_per_layer(M.DEEPSEEK_V3, M.H800_CLUSTER, 4096, 64, imbalance=0.5)


def test_memory_falls_with_e_and_dualpipe_doubles_the_states():
    m8 = M.stage_memory_moe(M.DEEPSEEK_V3, 1, 16, 8, 128)
    m64 = M.stage_memory_moe(M.DEEPSEEK_V3, 1, 16, 64, 128)
    assert m64["weights"] < m8["weights"]
    one = M.stage_memory_moe(M.DEEPSEEK_V3, 1, 16, 64, 128, schedule="dualpipev")
    two = M.stage_memory_moe(M.DEEPSEEK_V3, 1, 16, 64, 128, schedule="dualpipe")
    assert two["weights"] == pytest.approx(2 * one["weights"])
    full = M.stage_memory_moe(M.DEEPSEEK_V3, 1, 16, 64, 128, recompute="full")
    assert full["activations"] < m64["activations"]
    with pytest.raises(ValueError, match=r"expert_parallel must divide tensor_parallel x"):
        M.stage_memory_moe(M.DEEPSEEK_V3, 1, 16, 64, 32)


def _pipeline_costs(name, p, m, F=1.0, B=2.0, W=1.0, x=0.6):
    schedule = S.build_schedule(name, p, m)
    share = schedule.num_stages / schedule.num_ranks
    costs = {"F": F / share, "B": B / share, "I": (B - W) / share, "W": W / share}
    a2a = {"F": x / share, "B": x / share, "I": x / share}
    return schedule, costs, a2a


@pytest.mark.parametrize("name", ["1f1b", "zbv", "dualpipev"])
def test_overlap_without_communication_is_the_plain_simulator(name):
    schedule, costs, _ = _pipeline_costs(name, 4, 8)
    plain = S.simulate(schedule, costs, comm=0.1)
    over = S.simulate_overlap(schedule, costs, None, "none", comm=0.1)
    assert over.makespan == pytest.approx(plain.makespan)
    assert list(over.start) == pytest.approx(list(plain.start))
    # with nothing to hide, pairing only makes two actions wait for each other
    for pair in ("microbatch", "chunk"):
        paired = S.simulate_overlap(schedule, costs, None, pair, comm=0.1)
        assert paired.makespan >= plain.makespan - 1e-9
        assert list(paired.busy) == pytest.approx(list(plain.busy))


def test_one_f_one_b_puts_the_all_to_all_on_the_critical_path():
    p, m, x = 4, 8, 0.6
    schedule, costs, a2a = _pipeline_costs("1f1b", p, m, x=x)
    result = S.simulate_overlap(schedule, costs, a2a, "none")
    assert result.makespan == pytest.approx((m + p - 1) * (1 + 2 + 2 * x))
    c = {"F": 1.0, "I": 1.0, "W": 1.0, "xF": x, "xB": x}
    assert M.pipeline_step("1f1b", p, m, c) == pytest.approx(result.makespan)


def test_a_pair_hides_communication_shorter_than_the_other_compute():
    # one rank, one stage: F0 F1 B0 B1; (F1, B0) pair; a2a 0.5 each, compute F 1, B 2
    schedule = S.Schedule.from_strings(["0F0 0F1 0B0 0B1"])
    costs, a2a = {"F": 1.0, "B": 2.0}, {"F": 0.5, "B": 0.5}
    result = S.simulate_overlap(schedule, costs, a2a, "microbatch")
    assert S.overlap_pairs(schedule, "microbatch") == [(1, 2)]
    assert result.makespan == pytest.approx(1.5 + max(3.0, 1.0) + 2.5)
    # communication longer than the pair's compute: the pair takes the communication
    slow = S.simulate_overlap(schedule, costs, {"F": 4.0, "B": 4.0}, "microbatch")
    assert slow.makespan == pytest.approx(5.0 + 8.0 + 6.0)


def test_dualpipev_hides_the_all_to_all_that_zbv_and_1f1b_expose():
    p, m = 4, 16
    times = {}
    for name, pair in (("1f1b", "none"), ("zbv", "none"), ("dualpipev", "chunk")):
        schedule, costs, a2a = _pipeline_costs(name, p, m)
        times[name] = S.simulate_overlap(schedule, costs, a2a, pair).makespan
    assert times["dualpipev"] < times["zbv"] < times["1f1b"]


@pytest.mark.parametrize("p,m", [(4, 16), (8, 32)])
def test_zbv_closed_form_follows_the_simulator(p, m):
    schedule, costs, a2a = _pipeline_costs("zbv", p, m)
    sim = S.simulate_overlap(schedule, costs, a2a, "none").makespan
    c = {"F": 1.0, "I": 1.0, "W": 1.0, "xF": 0.6, "xB": 0.6}
    assert M.pipeline_step("zbv", p, m, c) == pytest.approx(sim, rel=0.06)


def test_zbv_closed_form_is_within_eight_percent_on_random_costs():
    """pipeline_step's docstring: ZB-V with the all-to-all inside each action is an
    approximation, within 8 % of the simulator (200 cost sets from a fixed seed; worst 7.7 %)."""
    rng = random.Random(2)
    worst = 0.0
    for _ in range(200):
        f, i, w = rng.uniform(0.2, 2), rng.uniform(0.2, 2), rng.uniform(0.1, 2)
        xf, xb = rng.uniform(0, 2), rng.uniform(0, 2)
        p = rng.choice([2, 3, 4, 8])
        m = rng.randint(2 * p, 5 * p)
        schedule = S.build_schedule("zbv", p, m)
        costs = {"F": f, "B": i + w, "I": i, "W": w}
        sim = S.simulate_overlap(schedule, costs, {"F": xf, "B": xb, "I": xb}, "none")
        c = {"F": 2 * f, "I": 2 * i, "W": 2 * w, "xF": 2 * xf, "xB": 2 * xb}
        worst = max(worst, abs(M.pipeline_step("zbv", p, m, c) / sim.makespan - 1))
    assert 0.01 < worst < 0.08


@pytest.mark.parametrize("p,m", [(2, 4), (3, 6), (4, 8), (4, 17), (8, 16), (16, 64)])
def test_rank_zero_has_the_fewest_dualpipev_pairs(p, m):
    schedule = S.build_schedule("dualpipev", p, m)
    ends = list(itertools.accumulate(len(a) for a in schedule.actions))
    on_rank = [0] * p
    for i, _ in S.overlap_pairs(schedule, "chunk"):
        on_rank[bisect.bisect_right(ends, i)] += 1
    assert on_rank[0] == M.dualpipev_rank0_pairs(p, m) == min(on_rank)


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(2, 12),
    extra=st.integers(0, 40),
    costs=st.tuples(*[st.floats(0.05, 3.0)] * 3),
    talk=st.tuples(*[st.floats(0.0, 4.0)] * 2),
)
def test_dualpipev_closed_form_is_exact(p, extra, costs, talk):
    """Rank 0's work plus (p - 1) times the two-rank bubble equals the simulated step."""
    m = 2 * p + extra
    fwd, inp, wgt = costs
    xF, xB = talk
    schedule = S.build_schedule("dualpipev", p, m)
    chunk = {"F": fwd / 2, "B": (inp + wgt) / 2, "I": inp / 2, "W": wgt / 2}
    sim = S.simulate_overlap(schedule, chunk, {"F": xF / 2, "B": xB / 2, "I": xB / 2}, "chunk")
    c = {"F": fwd, "I": inp, "W": wgt, "xF": xF, "xB": xB}
    assert M.pipeline_step("dualpipev", p, m, c) == pytest.approx(sim.makespan, rel=1e-9)
    assert M.pipeline_step("dualpipe", p, m, c) == M.pipeline_step("dualpipev", p, m, c)


@pytest.mark.parametrize("f,i,w", [(0.5, 0.5, 0.5), (1.0, 1.2, 0.8), (0.4, 0.6, 0.2)])
def test_dualpipev_bubble_is_deepseeks_without_all_to_all(f, i, w):
    """deepseek2024v3 table 2: DualPipe's bubble (PP/2 - 1)(F&B + B - 3W); here PP/2 = p
    ranks of a V, F&B = f + b without communication to hide."""
    p, m = 8, 32
    b = i + w
    c = {"F": 2 * f, "I": 2 * i, "W": 2 * w, "xF": 0.0, "xB": 0.0}
    bubble = (p - 1) * ((f + b) + b - 3 * w)
    assert M.pipeline_step("dualpipev", p, m, c) == pytest.approx(2 * m * (f + b) + bubble)


def test_dualpipev_needs_two_micro_batches_per_rank():
    c = {"F": 1.0, "I": 1.0, "W": 1.0, "xF": 0.0, "xB": 0.0}
    with pytest.raises(ValueError, match=r"m must be >= 2p = 8 for dualpipev, got 7"):
        M.pipeline_step("dualpipev", 4, 7, c)
    with pytest.raises(ValueError, match=r"m must be an integer in \[8, "):
        M.dualpipev_rank0_pairs(4, 7)


def test_deepseek_v3_case_is_within_fifteen_percent_and_dualpipe_is_fastest():
    rows = {r["schedule"]: r for r in M.deepseek_v3_case()}
    assert M.deepseek_v3_published_step() == pytest.approx(19.9, abs=0.05)
    assert abs(rows["dualpipe"]["error"]) < 0.15
    assert rows["dualpipe"]["step"] < rows["zbv"]["step"] < rows["1f1b"]["step"]
    assert rows["dualpipe"]["a2a_exposed_share"] < rows["1f1b"]["a2a_exposed_share"] / 3
    assert rows["dualpipe"]["states_gib"] == pytest.approx(2 * rows["dualpipev"]["states_gib"])


def test_shallower_deepseek_pipelines_are_no_faster_but_need_more_memory():
    rows = M.deepseek_v3_depths((4, 8, 16, 32))
    steps = [r["step"] for r in rows[:3]]
    assert max(steps) / min(steps) < 1.05
    # at 32 stages rank 0 holds the embedding, two dense layers and the V's LM head
    assert rows[3]["slowest_rank"] == 0 and rows[3]["step"] > 1.2 * rows[2]["step"]
    states = [r["states_gib"] for r in rows]
    assert states == sorted(states, reverse=True)
    assert states[0] > 80  # p = 4: DualPipe's two copies do not fit an 80 GB GPU


def test_megatron_mixtral_comparison_is_reported_with_its_error():
    row = M.megatron_mixtral_comparison()
    assert row["measured_tflops"] == 438.0
    assert math.isfinite(row["error"]) and abs(row["error"]) < 0.25


def test_planner_searches_expert_parallelism_fast_and_explains_drops():
    # its speed is measured by `make bench` (ppnotes.bench.moe_planner_seconds), not here
    plan = M.plan_moe(M.DEEPSEEK_V3, M.H800_CLUSTER, 2048, 15360, fp8=True, recompute="full")
    assert plan.best is not None
    # all 256 experts on one GPU never fit: e = 1 is dropped for memory at every depth
    assert 1 not in {r.layout.expert_parallel for r in plan.ranked}
    assert len({r.layout.expert_parallel for r in plan.ranked}) > 3
    rules = {d.rule for d in plan.dropped}
    assert {"memory", "whole experts"} <= rules
    assert all(r.memory["total"] <= 0.9 * M.H800.memory_bytes for r in plan.ranked)
    steps = [r.step_time for r in plan.ranked]
    assert steps == sorted(steps)


def test_megatron_framework_only_gets_its_schedules():
    plan = M.plan_moe(M.MIXTRAL_8X7B, M.H100_CLUSTER, 64, 256, framework="megatron")
    assert {r.layout.schedule for r in plan.ranked} == {"1f1b"}


def test_layout_refuses_impossible_expert_groups():
    with pytest.raises(ValueError, match=r"expert_parallel must divide tensor_parallel x"):
        M.MoELayout(1, 16, 64, 32, 1, 15360)
    with pytest.raises(ValueError, match=r"global_batch must be a multiple"):
        M.MoELayout(1, 16, 64, 128, 1, 100)


@pytest.mark.parametrize("p,m", [(4, 8), (4, 16), (3, 6)])
def test_a2a_timeline_conserves_the_all_to_all_and_1f1b_hides_none(p, m):
    x = 0.6
    for name in ("1f1b", "zbv", "dualpipev"):
        tl = M.a2a_timeline(name, p, m, a2a=x)
        # every rank carries m micro-batches' all-to-all, forward and backward: hidden or not
        for r in range(p):
            assert tl["exposed"][r] + tl["hidden"][r] == pytest.approx(2 * m * x)
        # busy compute per rank equals the work given (F 1 + B 2 per micro-batch)
        assert list(tl["result"].busy) == pytest.approx([3.0 * m] * p)
    one = M.a2a_timeline("1f1b", p, m, a2a=x)
    assert one["hidden"] == [0.0] * p and one["pairs"] == []
    assert one["result"].makespan == pytest.approx(M.timeline_closed_form("1f1b", p, m, a2a=x))
    assert one["result"].makespan == pytest.approx((m + p - 1) * (3 + 2 * x))


def test_dualpipev_timeline_hides_more_with_more_microbatches():
    def hidden_share(m):
        tl = M.a2a_timeline("dualpipev", 4, m)
        return tl["hidden"][0] / (tl["hidden"][0] + tl["exposed"][0])

    assert 0 < hidden_share(8) < hidden_share(16) < hidden_share(32) < 1
    # no all-to-all: nothing to hide, and DualPipeV's step is the plain simulator's
    bare = M.a2a_timeline("dualpipev", 4, 8, a2a=0.0)
    assert bare["exposed"] == [0.0] * 4 and bare["hidden"] == [0.0] * 4


def test_a2a_timeline_refuses_bad_input():
    with pytest.raises(ValueError, match="schedule"):
        M.a2a_timeline("gpipe", 4, 8)
    with pytest.raises(ValueError, match=r"m must be >= 2p = 8 for dualpipev"):
        M.a2a_timeline("dualpipev", 4, 6)
    with pytest.raises(ValueError, match="a2a"):
        M.a2a_timeline("1f1b", 4, 8, a2a=-1.0)
    with pytest.raises(ValueError, match="p must be"):
        M.timeline_closed_form("1f1b", 0, 8)


def test_a2a_timeline_figure_draws_exposed_and_hidden_all_to_all():
    from matplotlib.figure import Figure

    from ppnotes import plots

    tl = {"1F1B": M.a2a_timeline("1f1b", 4, 8), "DualPipeV": M.a2a_timeline("dualpipev", 4, 8)}
    fig = plots.a2a_timeline_figure(tl)
    assert isinstance(fig, Figure)
    top, bottom = fig.axes[:2]
    labels = lambda ax: {c.get_label() for c in ax.collections}  # noqa: E731
    assert "exposed" in labels(top) and "hidden" not in labels(top)
    assert {"exposed", "hidden"} <= labels(bottom)
    with pytest.raises(ValueError, match="timelines"):
        plots.a2a_timeline_figure({})


def test_chapter_7_planner_accepts_an_moe_model():
    from ppnotes import optimum
    from ppnotes import perf_model as pm

    plan = optimum.plan_training(M.MIXTRAL_8X7B, M.H100_CLUSTER, 64, 256, framework="megatron")
    direct = M.plan_moe(M.MIXTRAL_8X7B, M.H100_CLUSTER, 64, 256, framework="megatron")
    assert isinstance(plan, M.MoEPlan)
    # "none" and "full" recomputation merged: the best is at least as fast as either alone
    assert plan.best.step_time <= direct.best.step_time + 1e-12
    assert {r.layout.recompute for r in plan.ranked} == {"none", "full"}
    steps = [r.step_time for r in plan.ranked]
    assert steps == sorted(steps)
    best = plan.best.layout
    assert best.words.startswith(f"t{best.tensor_parallel} e{best.expert_parallel} p")
    # a dense perf_model.Cluster is read as the same hardware
    dense = pm.Cluster(M.H100_SXM, 8, M.NVLINK4, M.IB_NDR)
    again = optimum.plan_training(M.MIXTRAL_8X7B, dense, 64, 256, framework="megatron")
    assert again.best.step_time == pytest.approx(plan.best.step_time)
    with pytest.raises(ValueError, match="efficiency must keep its default"):
        optimum.plan_training(M.MIXTRAL_8X7B, M.H100_CLUSTER, 64, 256, efficiency=0.5)
    with pytest.raises(ValueError, match="recompute_allowed must include one of"):
        optimum.plan_training(
            M.MIXTRAL_8X7B, M.H100_CLUSTER, 64, 256, recompute_allowed=["selective"]
        )


@pytest.mark.parametrize("depths", [[], 8, "8", None])
def test_deepseek_v3_depths_refuses_a_non_list(depths):
    with pytest.raises((ValueError, TypeError), match="depths"):
        M.deepseek_v3_depths(depths)


def test_the_fullest_gpu_is_the_stage_with_the_most_parameters():
    """DeepSeek-V3 at p = 32: stage 0 holds the three dense layers (no experts) and the
    embedding (layers 0 and 1), stage 2 two MoE layers (4 and 5); with e = 1 stage 2 holds 512
    experts and is the fullest."""
    v3 = M.DEEPSEEK_V3
    dense0, expert0 = M.stage_params(v3, 32, 0, 1, 1)
    dense1, expert1 = M.stage_params(v3, 32, 2, 1, 1)
    assert expert0 == 0 and expert1 == 2 * v3.num_experts * v3.expert_params
    mem = M.stage_memory_moe(v3, 1, 32, 1, 64, recompute="full")
    states = (M.WEIGHT_BYTES + M.GRAD_BYTES) * (dense1 + expert1)
    assert mem["weights"] + mem["gradients"] == pytest.approx(states)
    assert mem["total"] > M.H800.memory_bytes
    with pytest.raises(ValueError, match=r"stage must be an integer in \[0, 31\], got 32"):
        M.stage_params(v3, 32, 32)


def test_more_published_runs_match_their_cited_configuration():
    for run in M.MORE_PUBLISHED_MOE_RUNS:
        spec = M.get_moe_model(run.model)
        assert run.gpus == run.t * run.p * run.d  # N = t p d
        assert run.gpus % 8 == 0  # whole DGX H100 nodes
        assert spec.num_experts % run.e == 0 and (run.t * run.d) % run.e == 0
        assert spec.num_heads % run.t == 0
        assert run.global_batch % (run.d * run.micro_batch) == 0
        assert run.v == 1 or spec.num_layers / (run.p * run.v) >= 1
        assert run.recompute == "none" and run.seq_len == 4096
        layout = M.published_moe_layout(run)
        assert layout.num_gpus == run.gpus
        assert run.source == "nvidia2026megatronbridgeperf"
    qwen30, qwen235 = M.MORE_PUBLISHED_MOE_RUNS
    assert (qwen30.gpus, qwen30.t, qwen30.p, qwen30.e, qwen30.global_batch) == (16, 1, 1, 16, 1024)
    assert (qwen235.gpus, qwen235.t, qwen235.p, qwen235.v, qwen235.e) == (256, 2, 8, 4, 32)
    assert qwen235.global_batch == 8192 and qwen235.a2a_overlap and not qwen30.a2a_overlap
    # 94 layers with the embedding and loss as two more: 96 / (8 x 4) = 3 per virtual stage,
    # 12 per rank, the most the model's even split gives a stage
    assert max(sum(x) for x in M.stage_layers(M.QWEN3_235B_A22B, 8)) == 12
    for run in M.NOT_COMPARABLE_MOE_RUNS:
        assert run["reason"]


def test_published_flops_count_is_megatron_bridges_causal_count():
    # the table's TFLOP/s and tokens/s describe the same step under the causal count
    for row in M.published_moe_comparisons():
        assert row["flops_step"] == pytest.approx(row["measured_step"], rel=0.005)
    full = M.megatron_flops_per_step(M.QWEN3_30B_A3B, 1024, 4096)
    assert M.megatron_causal_flops_per_step(M.QWEN3_30B_A3B, 1024, 4096) < full


def test_published_comparisons_are_computed_and_the_model_is_about_30_percent_fast():
    """Both Megatron-Bridge runs come out 27-31 % faster than measured (errors -0.291 and
    -0.289 at this commit): the model is optimistic on fine-grained FP8 experts, against -12 %
    on Mixtral 8x7B (bf16) and -9 % on DeepSeek-V3. Not tuned: the band below is the finding."""
    rows = M.published_moe_comparisons()
    assert len(rows) == len(M.MORE_PUBLISHED_MOE_RUNS) >= 2
    for run, row in zip(M.MORE_PUBLISHED_MOE_RUNS, rows, strict=True):
        pred = M.published_moe_step(run)
        assert row["predicted_step"] == pytest.approx(pred["step"])
        measured = run.global_batch * run.seq_len / (run.tokens_per_gpu * run.gpus)
        assert row["measured_step"] == pytest.approx(measured)
        assert row["error"] == pytest.approx(row["predicted_step"] / measured - 1)
        assert row["predicted_tflops"] == pytest.approx(
            run.tflops * row["measured_step"] / row["predicted_step"], rel=0.005
        )
        assert -0.35 < row["error"] < -0.2
        assert 0 < row["a2a_exposed_share"] <= row["a2a_share"]
        assert row["layout"].expert_parallel == run.e
    # the overlap hides most of Qwen3-235B's all-to-all; nothing hides the 30B's (no overlap)
    assert rows[0]["a2a_exposed_share"] == pytest.approx(rows[0]["a2a_share"])
    assert rows[1]["a2a_exposed_share"] < rows[1]["a2a_share"] / 3


def test_published_megatron_runs_keep_their_measured_ranking():
    rows = M.published_moe_comparisons()
    mixtral = M.megatron_mixtral_comparison()
    measured = [r["measured_tflops"] for r in rows] + [mixtral["measured_tflops"]]
    predicted = [r["predicted_tflops"] for r in rows] + [mixtral["predicted_tflops"]]
    order = sorted(range(len(measured)), key=measured.__getitem__)
    assert order == sorted(range(len(predicted)), key=predicted.__getitem__)


def test_published_comparisons_refuse_bad_input():
    with pytest.raises(TypeError, match="runs"):
        M.published_moe_comparisons("Qwen3")
    with pytest.raises(TypeError, match="run"):
        M.published_moe_comparisons([{"model": "Qwen3-30B-A3B"}])


def test_explorer_frame_draws_the_parts_to_scale_and_flags_what_does_not_fit():
    import re

    from ppnotes import plots

    r = M.deepseek_v3_step("dualpipe", 16)
    html = plots.moe_step_html(r, 80.0, 19.9, top=40.0, mem_top=200.0)
    widths = [float(w) for w in re.findall(r"width:([0-9.]+)%", html)]
    assert len(widths) == len(r.parts) + len(r.memory) - 1  # memory's "total" is not a part
    assert sum(widths[:5]) == pytest.approx(100 * r.step_time / 40.0, abs=0.05)
    assert sum(widths[5:]) == pytest.approx(100 * r.memory["total"] / 2**30 / 200.0, abs=0.05)
    assert ("does not fit" in html) == (r.memory["total"] > 80 * 2**30)
    full = M.deepseek_v3_step("dualpipe", 16, "full")
    assert "does not fit" not in plots.moe_step_html(full, 80.0, 19.9, 40.0, 200.0)


def test_decode_depth_adds_hops_not_speed_and_buys_memory():
    v3, cl = M.DEEPSEEK_V3, M.H800_CLUSTER
    one, deep = (M.decode_step_moe(v3, cl, p, 64, 256) for p in (1, 8))
    # a token still crosses all L layers: only the hops grow, by microseconds
    assert deep["tpot"] - one["tpot"] == pytest.approx(deep["hops"] - one["hops"])
    assert 0 < deep["tpot"] / one["tpot"] - 1 < 0.02
    assert deep["weights_gib"] < one["weights_gib"] / 4
    # the same 64 GPUs as 16 stages of e = 4: each GPU reads 16x the experts per layer
    narrow = M.decode_step_moe(v3, cl, 16, 4, 256)
    assert narrow["tpot"] > 5 * one["tpot"]
    # a batch of one touches k experts per MoE layer: the read is the active weights
    single = M.decode_step_moe(v3, cl, 1, 1, 1)
    assert single["read"] * cl.gpu.achievable_hbm_bandwidth == pytest.approx(
        v3.active_params - 2 * v3.embedding_params, rel=0.01
    )
    with pytest.raises(ValueError, match=r"batch must be an integer in \[64, "):
        M.decode_step_moe(v3, cl, 1, 64, 8)


def test_moe_plan_explains_tables_and_verifies_itself():
    from ppnotes import optimum

    cluster = optimum.cluster_for("H100 SXM 80GB")
    plan = optimum.plan_training(M.MIXTRAL_8X7B, cluster, 64, 256)
    assert isinstance(plan, M.MoEPlan)
    assert plan.budget == pytest.approx((1 - M.RESERVE_FRACTION) * cluster.gpu.memory_bytes)
    rows = optimum.table(plan, 5)
    assert [r["config"] for r in rows] == [r.layout.words for r in plan.ranked[:5]]
    for row in rows:
        assert row["step_time"] == pytest.approx(sum(row[k] for k in M.STEP_PARTS))
    # the model's pipeline time equals the simulator's for 1F1B and the V schedules
    for row, r in zip(optimum.verify(plan, 6), plan.ranked, strict=False):
        assert abs(row["error"]) < (0.08 if r.layout.schedule == "zbv" else 1e-9)
    assert plan.explain(plan.best.layout.words).splitlines()[1] == (
        "It is the fastest layout that fits."
    )
    second = plan.explain(plan.ranked[1].layout.words)
    assert "rank 2 of" in second and "slower than " + plan.best.layout.words in second
    assert "dropped by whole experts" in plan.explain("e16")
    assert M.parse_moe("t1 e8 p4 d16 b1 1f1b none") == {
        "t": 1,
        "e": 8,
        "p": 4,
        "d": 16,
        "b": 1,
        "schedule": "1f1b",
        "recompute": "none",
    }
    with pytest.raises(ValueError, match=r"config word 'q2' is not one of"):
        M.parse_moe("q2")


@pytest.mark.parametrize(
    "schedule,rank", [("1f1b", 3), ("zbv", 0), ("dualpipev", 0), ("dualpipe", 0)]
)
def test_the_lm_head_sits_on_the_rank_of_the_last_stage(schedule, rank):
    assert M.head_rank(schedule, 4) == rank
    v3 = M.DEEPSEEK_V3
    with_head = M.stage_params(v3, 4, rank, schedule=schedule)
    plain = M.stage_params(v3, 4, rank, schedule="1f1b" if rank == 0 else "zbv")
    assert with_head[0] - plain[0] == v3.embedding_params  # the head's own weights
    assert with_head[1] == plain[1]


def test_bench_times_the_moe_planner_on_deepseeks_cluster():
    from ppnotes import bench

    seconds, fit = bench.moe_planner_seconds()
    assert seconds > 0 and fit > 100
