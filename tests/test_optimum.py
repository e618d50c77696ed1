"""Chapter 7: the planner (ppnotes.optimum)."""

from __future__ import annotations

import itertools
import math
import time
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppnotes import bubble, export, serving_plan
from ppnotes import optimum as o
from ppnotes import perf_model as pm
from ppnotes.models import GPT3_175B, LLAMA3_8B, LLAMA3_70B, MEGATRON_1_7B

A100 = pm.CLUSTERS["DGX A100 80GB + HDR"]
H100 = pm.CLUSTERS["DGX H100 + NDR"]


@pytest.fixture(scope="module")
def gpt3_plan():
    return o.plan_training(GPT3_175B, A100, 1024, 1536)


@pytest.fixture(scope="module")
def small_plan():
    return o.plan_training(MEGATRON_1_7B, A100, 16, 32, max_micro_batch=2)


# --- the note's function ---------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    params=st.floats(2e9, 4e11),
    memory=st.floats(1e9, 8e10),
    gpus=st.sampled_from([64, 128, 512]),
)
def test_note_search_returns_its_smallest_depth(params, memory, gpus):
    out = o.note_find_optimal_pp_depth(params, memory, gpus)
    if params <= memory:
        assert out == 1
    else:
        assert out[0] == math.ceil(params / memory)


def test_note_efficiency_falls_with_depth():
    curve = o.note_efficiency_curve(GPT3_175B, 1024, 1536)
    effs = [e for _, e in curve]
    assert len(curve) == GPT3_175B.num_layers
    assert all(a > b for a, b in itertools.pairwise(effs))


def test_note_compares_parameters_with_bytes():
    # 175e9 parameters "fit" 200e9 bytes of memory in the note; in truth 18 bytes each are needed
    assert o.note_find_optimal_pp_depth(175e9, 200e9, 64) == 1


# --- the training planner ----------------------------------------------------------------


def test_gpt3_search_is_fast_and_finds_a_deeper_best(gpt3_plan):
    start = time.perf_counter()
    o.plan_training(GPT3_175B, A100, 1024, 1536)
    assert time.perf_counter() - start < 2.0  # under 1 s alone; margin for a shared machine
    assert gpt3_plan.searched > 10_000 and gpt3_plan.evaluated < gpt3_plan.searched / 20
    assert o.best_depth(gpt3_plan) > o.smallest_fitting_depth(gpt3_plan)


def test_ranked_is_sorted_and_every_part_is_there(gpt3_plan):
    times = [r.step_time for r in gpt3_plan.ranked]
    assert times == sorted(times)
    for row in o.table(gpt3_plan, 5):
        assert math.isclose(sum(row[k] for k in pm.PARTS), row["step_time"], rel_tol=1e-9)
        assert row["peak_gib"] * o.GiB <= gpt3_plan.budget
        assert row["t"] * row["p"] * row["d"] == 1024
        assert row["m"] * row["d"] * row["b"] == 1536


def test_every_drop_has_a_rule_and_reason(gpt3_plan):
    assert gpt3_plan.dropped
    for drop in gpt3_plan.dropped:
        assert drop.rule in o.RULES and drop.reason and drop.fields


def test_a_model_beyond_one_node_needs_depth(gpt3_plan):
    assert all(r.candidate.p > 1 for r in gpt3_plan.ranked)
    assert any(d.rule == "memory-bound" and d.fields.get("p") == 1 for d in gpt3_plan.dropped)


def test_small_model_keeps_p1_possible(small_plan):
    assert any(r.candidate.p == 1 for r in small_plan.ranked)


def _space(model, n, batch, bmax, node=8):
    """Every configuration the planner's rules allow, without dominance or bounds."""
    for t in o._divisors(n):
        if t > node or model.num_heads % t:
            continue
        for p in o._divisors(n // t):
            d = n // (t * p)
            if p > model.num_layers or batch % d:
                continue
            for b in o._divisors(batch // d):
                if b > bmax:
                    continue
                m = batch // (d * b)
                for name, v in o._schedule_options(model, p):
                    chunks = v if name == "interleaved" else 2 if name == "zbv" else 1
                    if p * chunks > model.num_layers:
                        continue
                    if name == "interleaved" and m % p or name == "zbv" and m < 2 * p - 1:
                        continue
                    for rc, sp, dopt in itertools.product(
                        o.RECOMPUTE_ORDER, (True, False), (True, False)
                    ):
                        yield o.Candidate(t, p, d, b, name, v, rc, sp, dopt)


def test_best_is_never_slower_than_any_fitting_configuration(small_plan):
    best = small_plan.best.step_time
    cands = list(_space(MEGATRON_1_7B, 16, 32, 2))
    assert len(cands) > 500
    for c in cands:
        res = pm.step_time(MEGATRON_1_7B, A100, c.config(32))
        if res.fits:
            assert res.step_time >= best * (1 - 1e-12), c.label


def test_every_configuration_is_ranked_or_dropped(small_plan):
    for c in _space(MEGATRON_1_7B, 16, 32, 2):
        where, what = small_plan.find(c)
        assert where == "ranked" and what[1].candidate == c or where == "dropped" and what


def test_other_schedules_hold_at_least_1f1b_memory():
    # the planner's memory prune: no schedule holds fewer activations than 1F1B
    for t, p, d, b in [(8, 4, 32, 1), (8, 8, 16, 2), (4, 8, 32, 2), (8, 16, 8, 1)]:
        for rc in o.RECOMPUTE_ORDER:
            base = o.Candidate(t, p, d, b, "1f1b", 1, rc)
            ref = pm.step_time(GPT3_175B, A100, base.config(1536))
            peak = max(r["total"] for r in ref.memory)
            for name, v in [("gpipe", 1), ("zb-h1", 1), ("zbv", 1), ("interleaved", 2)]:
                res = pm.step_time(
                    GPT3_175B, A100, o.replace(base, schedule=name, v=v).config(1536)
                )
                assert max(r["total"] for r in res.memory) >= peak * (1 - 1e-9)


def test_verify_agrees_with_the_simulator(gpt3_plan):
    rows = o.verify(gpt3_plan, 3)
    assert len(rows) == 3
    assert all(abs(r["error"]) < 0.05 for r in rows)


def test_explain_answers_why_not(gpt3_plan):
    assert "rank 1 of" in gpt3_plan.explain(gpt3_plan.best.candidate.label)
    assert "tp-node" in gpt3_plan.explain("t16")
    assert "memory-bound" in gpt3_plan.explain("t2 p2")
    text = gpt3_plan.explain("p16")
    assert "slower than" in text and "p16" in text


def test_parse_reads_labels_and_rejects_nonsense():
    c = o.Candidate(8, 4, 2, 1, "interleaved", 2, "selective", True, False)
    # the label shows "zero2" only when the gradients are sharded: absent means not given
    assert o.parse(c.label) | {"shard_gradients": False, "fp8": False, "cp": 1} == c.__dict__
    long = o.Candidate(8, 4, 2, 1, "1f1b", cp=4)
    assert long.label.startswith("t8 cp4 p4 d2")
    assert o.parse(long.label)["cp"] == 4
    assert o.parse("p4") == {"p": 4}
    with pytest.raises(ValueError, match="config word"):
        o.parse("q7")


def test_unsatisfiable_is_not_an_error():
    plan = o.plan_training(GPT3_175B, A100, 8, 64)
    assert plan.best is None and plan.closest
    assert plan.closest[0].excess <= plan.closest[-1].excess


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_gpus=0), "num_gpus"),
        (dict(global_batch=-4), "global_batch"),
        (dict(seq_len=0), "seq_len"),
        (dict(schedules_allowed=["dualpipe"]), "schedules_allowed"),
    ],
)
def test_bad_input(kwargs, match):
    args = dict(num_gpus=8, global_batch=8) | kwargs
    with pytest.raises(ValueError, match=match):
        o.plan_training(MEGATRON_1_7B, A100, **args)


def _ranked(step_time, peak_bytes):
    """A fitting configuration with a given step time and peak memory (the rest unused)."""
    result = SimpleNamespace(step_time=step_time, memory=[{"total": peak_bytes}])
    return o.Ranked(o.Candidate(1, 1, 1, 1), result)


def test_pareto_front_by_hand(small_plan):
    # (time, peak), in no order: (3, 7) is beaten by (2, 5); (2, 6) ties (2, 5) on time with
    # more memory; (5, 1) ties (4, 1) on memory and is slower
    points = [(4, 1), (2, 6), (5, 1), (1, 10), (3, 7), (2, 5)]
    plan = o.replace(small_plan, ranked=[_ranked(*x) for x in points])
    front = [(r.step_time, r.peak_bytes) for r in o.pareto_front(plan)]
    assert front == [(1, 10), (2, 5), (4, 1)]
    assert o.pareto_front(o.replace(small_plan, ranked=[])) == []


def test_pareto_front_spans_fastest_to_smallest(gpt3_plan):
    front = o.pareto_front(gpt3_plan)
    assert len(front) >= 2  # GPT-3's fastest configuration is not its smallest
    assert front[0].step_time == gpt3_plan.best.step_time
    assert front[-1].peak_bytes == min(r.peak_bytes for r in gpt3_plan.ranked)
    times = [f.step_time for f in front]
    peaks = [f.peak_bytes for f in front]
    assert all(a < b for a, b in itertools.pairwise(times))  # slower ...
    assert all(a > b for a, b in itertools.pairwise(peaks))  # ... only for less memory
    for r in gpt3_plan.ranked:  # everything off the front is matched or beaten by a point on it
        assert any(f.step_time <= r.step_time and f.peak_bytes <= r.peak_bytes for f in front)
    for f in front:
        assert not any(
            r.step_time < f.step_time and r.peak_bytes < f.peak_bytes for r in gpt3_plan.ranked
        )


# --- the serving planner -------------------------------------------------------------------


def test_a_model_that_fits_one_gpu_serves_on_one_gpu_at_low_load():
    plan = serving_plan.plan_serving(MEGATRON_1_7B, A100, load=100, ttft=1.0, tpot=0.1)
    assert (plan.best.t, plan.best.p, plan.best.replicas) == (1, 1, 1)


def test_a_model_that_does_not_fit_one_gpu_needs_more():
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=1000, ttft=2.0, tpot=0.05)
    assert plan.best.t * plan.best.p > 1
    assert plan.best.serving.tpot <= 0.05 and plan.best.serving.ttft <= 2.0
    assert plan.best.replicas * plan.best.serving.tokens_per_s >= 1000
    assert any(p == 1 and t == 1 and "fit" in why for t, p, why in plan.dropped)


def test_more_load_never_needs_fewer_gpus():
    gpus = [
        serving_plan.plan_serving(LLAMA3_70B, H100, load=x, tpot=0.05).best.gpus
        for x in (1e3, 1e4, 1e5)
    ]
    assert gpus == sorted(gpus) and gpus[-1] > gpus[0]


def test_impossible_serving_target_lists_reasons():
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=1000, tpot=1e-4)
    assert plan.best is None and plan.dropped


# --- compared with practice ----------------------------------------------------------------


def test_practice_rows():
    from ppnotes.runs import get_run

    rows = o.practice_comparison([get_run("Megatron 145.6B (SC'21)")])
    row = rows[0]
    # the authors' configuration is among those searched, so the pick is never slower
    assert row["theirs_fits"] and row["theirs_rank"] >= 1
    assert row["ours_step"] <= row["theirs_step"] * (1 + 1e-12)
    assert row["theirs"] == "t8 p8 d24 b2 interleaved v2 full nosp nodopt"
    assert row["ours"].endswith("full nosp nodopt")  # same features as the authors had


# --- export -----------------------------------------------------------------------------------


def test_megatron_flags():
    c = o.Candidate(8, 4, 32, 2, "interleaved", 3, "selective", True, True)
    flags = export.megatron_flags(c, GPT3_175B, 1536, 2048)
    assert flags[:13] == [
        "--tensor-model-parallel-size 8",
        "--pipeline-model-parallel-size 4",
        "--micro-batch-size 2",
        "--global-batch-size 1536",
        "--seq-length 2048",
        "--num-layers 96",
        "--hidden-size 12288",
        "--num-attention-heads 96",
        "--num-layers-per-virtual-pipeline-stage 8",
        "--sequence-parallel",
        "--use-distributed-optimizer",
        "--overlap-grad-reduce",
        "--overlap-param-gather",
    ]
    assert "--recompute-granularity selective" in flags
    full = o.replace(c, schedule="1f1b", v=1, recompute="full")
    flags = export.megatron_flags(full, GPT3_175B, 1536, 2048)
    i = flags.index("--recompute-granularity full")
    assert flags[i : i + 3] == [
        "--recompute-granularity full",
        "--recompute-method uniform",
        "--recompute-num-layers 1",
    ]
    with pytest.raises(ValueError, match="no Megatron-LM flag"):
        export.megatron_flags(o.replace(c, schedule="zbv", v=1), GPT3_175B, 1536, 2048)


def test_torchtitan_config():
    c = o.Candidate(4, 8, 32, 1, "zbv", 1, "full", True, True)
    lines = export.torchtitan_config(c, 1536, 2048)
    assert "--parallelism.tensor_parallel_degree 4" in lines
    assert "--parallelism.pipeline_parallel_degree 8" in lines
    assert "--parallelism.data_parallel_shard_degree 32" in lines
    assert "--parallelism.pipeline_parallel_schedule ZBVZeroBubble" in lines
    assert "--training.local_batch_size 48" in lines
    assert "--training.seq_len 2048" in lines
    assert "activation-checkpoint:full" in lines


def test_vllm_args():
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=1000, tpot=0.05)
    args = export.vllm_args(plan.best, 1024, 256)
    assert args[0] == f"--tensor-parallel-size {plan.best.t}"
    assert args[1] == f"--pipeline-parallel-size {plan.best.p}"
    assert args[2] == f"--max-num-seqs {plan.best.concurrency}"
    assert args[3:] == ["--max-model-len 1280", "--gpu-memory-utilization 0.90"]


def test_fixed_features_are_respected():
    plan = o.plan_training(
        MEGATRON_1_7B,
        A100,
        16,
        32,
        recompute_allowed=("full",),
        sequence_parallel=False,
        distributed_optimizer=False,
        schedules_allowed=("1f1b",),
    )
    assert {r.candidate.label.split()[-3:] == ["full", "nosp", "nodopt"] for r in plan.ranked} == {
        True
    }
    with pytest.raises(ValueError, match="sequence_parallel"):
        o.plan_training(MEGATRON_1_7B, A100, 16, 32, sequence_parallel="yes")


def test_memory_moves_the_smallest_depth():
    small = o.sweep_point(GPT3_175B, o.with_memory(A100, 40), 1024, 1536, max_micro_batch=2)
    large = o.sweep_point(GPT3_175B, o.with_memory(A100, 160), 1024, 1536, max_micro_batch=2)
    assert small["min_p"] > large["min_p"]


def test_pcie_cluster_is_slower_for_tensor_parallelism():
    pcie = o.PCIE_CLUSTERS["8x A100 80GB PCIe + HDR"]
    c = o.Candidate(8, 4, 2, 1, "1f1b", 1, "selective").config(64)
    assert (
        pm.step_time(GPT3_175B, pcie, c).parts["tp_comm"]
        > 3 * pm.step_time(GPT3_175B, A100, c).parts["tp_comm"]
    )


def test_step_floor_is_below_the_model():
    for t, p, d, b in [(8, 4, 32, 1), (4, 8, 32, 2), (8, 16, 8, 1), (2, 32, 16, 1)]:
        for rc in ("none", "full"):
            base = o.Candidate(t, p, d, b, "1f1b", 1, rc)
            twin = pm.step_time(GPT3_175B, A100, base.config(1536))
            for name, v in [
                ("gpipe", 1),
                ("zb-h1", 1),
                ("zbv", 1),
                ("interleaved", 2),
                ("interleaved", 3),
            ]:
                c = o.replace(base, schedule=name, v=v)
                real = pm.step_time(GPT3_175B, A100, c.config(1536)).step_time
                assert o.step_floor(twin, name, v) <= real, c.label


def test_megatron_compatible():
    assert export.megatron_compatible(o.Candidate(8, 4, 32, 3, "interleaved", 3), GPT3_175B)
    # 96 layers in 64 chunks: Megatron-LM runs it when the layout is written out
    uneven = o.Candidate(4, 8, 32, 1, "interleaved", 8)
    assert export.megatron_compatible(uneven, GPT3_175B)
    flags = export.megatron_flags(uneven, GPT3_175B, 1536, 2048)
    layout = export.megatron_layout(uneven, GPT3_175B)
    assert f"--pipeline-model-parallel-layout '{layout}'" in flags  # quoted for the shell
    assert layout.startswith("Et*2|t*2|") and layout.endswith("|t*1L") and layout.count("|") == 63
    assert not any(f.startswith("--num-layers-per-virtual-pipeline-stage") for f in flags)
    assert export.megatron_layout(o.Candidate(8, 4, 32, 3, "interleaved", 3), GPT3_175B) is None
    assert not export.megatron_compatible(o.Candidate(4, 8, 32, 1, "zbv"), GPT3_175B)


def test_explain_names_the_gpu_count_rule(small_plan):
    assert "(gpus)" in small_plan.explain("t3")
    assert "(gpus)" in small_plan.explain("t2 p2 d2")
    assert "(gpus)" not in small_plan.explain("t2 p2 d4")


def test_bench_reports_the_planner():
    from ppnotes import bench

    seconds, searched, timed = bench.planner_seconds()
    assert searched > 10_000 and 0 < timed < searched and 0 < seconds < 2.0


# --- bad input at every public entry point (issue 18) --------------------------------------

NONSENSE = [0, -1, 2.5, math.nan, math.inf, None, "8", True, object(), []]


@pytest.fixture(scope="module")
def tiny_plan():
    return o.plan_training(MEGATRON_1_7B, A100, 8, 8)


def _tiny_calls(plan):
    """(name of the bad parameter, call with the bad value) for every public function."""
    cand = o.Candidate(2, 2, 2, 1)
    splan = serving_plan.plan_serving(MEGATRON_1_7B, A100, load=100.0)
    twin = plan.ranked[0].result
    return {
        "plan_training.model": lambda x: o.plan_training(x, A100, 8, 8),
        "plan_training.cluster": lambda x: o.plan_training(MEGATRON_1_7B, x, 8, 8),
        "plan_training.num_gpus": lambda x: o.plan_training(MEGATRON_1_7B, A100, x, 8),
        "plan_training.global_batch": lambda x: o.plan_training(MEGATRON_1_7B, A100, 8, x),
        "plan_training.keep_below": lambda x: o.plan_training(
            MEGATRON_1_7B, A100, 8, 8, keep_below=x
        ),
        "plan_training.recompute_allowed": lambda x: o.plan_training(
            MEGATRON_1_7B, A100, 8, 8, recompute_allowed=x
        ),
        "plan_serving.model": lambda x: serving_plan.plan_serving(x, A100, load=100.0),
        "plan_serving.cluster": lambda x: serving_plan.plan_serving(MEGATRON_1_7B, x, load=100.0),
        "table.plan": lambda x: o.table(x),
        "verify.plan": lambda x: o.verify(x),
        "best_depth.plan": lambda x: o.best_depth(x),
        "smallest_fitting_depth.plan": lambda x: o.smallest_fitting_depth(x),
        "pareto_front.plan": lambda x: o.pareto_front(x),
        "best_per_depth.plan": lambda x: o.best_per_depth(x),
        "fewest_gpus_that_fit.plan": lambda x: o.fewest_gpus_that_fit(x),
        "fewest_gpus_that_fit.tries": lambda x: o.fewest_gpus_that_fit(plan, x),
        "step_floor.twin": lambda x: o.step_floor(x, "1f1b"),
        "step_floor.v": lambda x: o.step_floor(twin, "interleaved", x),
        "states_lower_bound.model": lambda x: o.states_lower_bound(x, 1, 2, 2),
        "states_lower_bound.t": lambda x: o.states_lower_bound(MEGATRON_1_7B, x, 2, 2),
        "search_space_size.num_gpus": lambda x: o.search_space_size(MEGATRON_1_7B, x, 8),
        "search_space_size.global_batch": lambda x: o.search_space_size(MEGATRON_1_7B, 8, x),
        "note_efficiency_curve.model": lambda x: o.note_efficiency_curve(x, 8, 8),
        "note_efficiency_curve.gpu": lambda x: o.note_efficiency_curve(GPT3_175B, 8, 8, x),
        "note_find_optimal_pp_depth.model_params": lambda x: o.note_find_optimal_pp_depth(
            x, 80e9, 64
        ),
        "note_find_optimal_pp_depth.gpu_memory": lambda x: o.note_find_optimal_pp_depth(
            175e9, x, 64
        ),
        "megatron_flags.cand": lambda x: export.megatron_flags(x, GPT3_175B, 512, 2048),
        "megatron_flags.model": lambda x: export.megatron_flags(cand, x, 512, 2048),
        "megatron_flags.global_batch": lambda x: export.megatron_flags(cand, GPT3_175B, x, 2048),
        "megatron_flags.seq_len": lambda x: export.megatron_flags(cand, GPT3_175B, 512, x),
        "megatron_compatible.cand": lambda x: export.megatron_compatible(x, GPT3_175B),
        "torchtitan_config.cand": lambda x: export.torchtitan_config(x, 512, 2048),
        "torchtitan_config.global_batch": lambda x: export.torchtitan_config(cand, x, 2048),
        "torchtitan_config.seq_len": lambda x: export.torchtitan_config(cand, 512, x),
        "vllm_args.choice": lambda x: export.vllm_args(x, 1024, 256),
        "vllm_args.prompt": lambda x: export.vllm_args(splan.best, x, 256),
        "vllm_args.output": lambda x: export.vllm_args(splan.best, 1024, x),
        "run_candidate.run": lambda x: o.run_candidate(x),
        "practice_comparison.runs": lambda x: o.practice_comparison(x),
        "practice_comparison.same_features": lambda x: o.practice_comparison([], same_features=x),
        "with_memory.cluster": lambda x: o.with_memory(x, 40.0),
        "cluster_for.intra": lambda x: o.cluster_for("A100 80GB", intra=x),
        "Plan.explain.config": lambda x: plan.explain(x),
        "Plan.find.config": lambda x: plan.find(x),
    }


# Values (by repr) that are legitimate for a parameter (None: the default; [] for runs: none).
LEGITIMATE = {
    ("note_efficiency_curve.gpu", "None"),
    ("practice_comparison.runs", "None"),
    ("practice_comparison.runs", "[]"),
    ("cluster_for.intra", "None"),
    ("practice_comparison.same_features", "True"),
    ("plan_training.keep_below", "0"),
    ("plan_training.keep_below", "2.5"),
    ("note_find_optimal_pp_depth.model_params", "2.5"),
    ("note_find_optimal_pp_depth.gpu_memory", "2.5"),
}


@pytest.mark.parametrize("bad", NONSENSE, ids=repr)
def test_every_entry_point_names_the_bad_argument(tiny_plan, bad):
    for key, call in _tiny_calls(tiny_plan).items():
        if (key, repr(bad)) in LEGITIMATE:
            continue
        name = key.rsplit(".", 1)[1]
        try:
            call(bad)
        except ValueError as err:  # WrongTypeError is a TypeError and a ValueError
            assert name in str(err), f"{key}={bad!r}: {err}"
        else:
            pytest.fail(f"{key}={bad!r} was accepted")


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(t=0), "t must be"),
        (dict(p=10**7), "p must be"),
        (dict(b=2.5), "b must be"),
        (dict(schedule="dualpipe"), "schedule must be"),
        (dict(schedule=[]), "schedule must be"),
        (dict(v=2), "v applies only"),
        (dict(recompute="some"), "recompute must be"),
        (dict(sp="8"), "sp must be True or False"),
        (dict(dist_opt=math.nan), "dist_opt must be True or False"),
        (dict(shard_gradients="yes"), "shard_gradients must be True or False"),
    ],
)
def test_candidate_checks_its_fields(fields, match):
    with pytest.raises(ValueError, match=match):
        o.Candidate(**(dict(t=8, p=4, d=2, b=1) | fields))
    assert o.Candidate(8.0, 4, 2, 1).label.startswith("t8 "), "4.0-style counts are normalised"


def test_serving_choice_and_plan_check_their_fields():
    splan = serving_plan.plan_serving(MEGATRON_1_7B, A100, load=100.0)
    good = splan.best
    with pytest.raises(ValueError, match="replicas"):
        serving_plan.ServingChoice(good.t, good.p, 0, good.concurrency, good.serving)
    with pytest.raises(TypeError, match="serving"):
        serving_plan.ServingChoice(good.t, good.p, 1, good.concurrency, 3.0)
    with pytest.raises(TypeError, match="choices"):
        serving_plan.ServingPlan([1], [])


def test_exports_refuse_a_batch_that_does_not_split():
    cand = o.Candidate(8, 4, 2, 2)  # d b = 4
    with pytest.raises(ValueError, match="global_batch must be a multiple of d x b = 4"):
        export.megatron_flags(cand, GPT3_175B, 6, 2048)
    with pytest.raises(ValueError, match="global_batch"):
        export.torchtitan_config(cand, -4, 2048)
    assert "--training.local_batch_size 4" in export.torchtitan_config(cand, 8, 2048)


def test_divisors_are_fast_and_exact():
    assert o._divisors(1) == [1]
    assert o._divisors(36) == [1, 2, 3, 4, 6, 9, 12, 18, 36]
    assert o._divisors(97) == [1, 97]
    start = time.perf_counter()
    assert o._divisors(999_983 * 2) == [1, 2, 999_983, 1_999_966]
    assert time.perf_counter() - start < 0.5, "O(sqrt n), not O(n)"
    for n in range(1, 200):
        assert o._divisors(n) == [k for k in range(1, n + 1) if n % k == 0]


def test_sizes_beyond_any_system_are_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(ValueError, match="num_gpus"):
        o.plan_training(GPT3_175B, A100, 10**7, 512)
    with pytest.raises(ValueError, match="global_batch"):
        o.plan_training(GPT3_175B, A100, 64, 10**7)
    assert o.search_space_size(GPT3_175B, 64, 10**7) > 0
    assert time.perf_counter() - start < 2.0


# --- picks a framework can launch (issue 20) ------------------------------------------------


@pytest.mark.parametrize("framework", ["megatron", "torchtitan", "any"])
def test_gpt3_1024_uneven_chunks_are_timed_by_the_simulator(framework):
    """96 layers in 64 chunks (t4 p8 v8, the old closed-form pick): half the chunks hold 2
    layers, half 1. Timed chunk by chunk, its bubble is far above the equal-chunk closed form
    (rank loads are equal, so the closed form saw nothing), and it ranks below t8 p4 v8."""
    plan = o.plan_training(GPT3_175B, A100, 1024, 1536, framework=framework)
    assert plan.best.candidate.label.startswith("t8 p4 d32")
    assert all(r.candidate.schedule in o.FRAMEWORK_SCHEDULES[framework] for r in plan.ranked)
    where, rows = plan.find("t4 p8 d32 b1 interleaved v8 none")
    if framework == "torchtitan":  # ceil(96 / n) is never 64: no layers_per_stage builds it
        assert where == "dropped" and rows[0].rule == "framework"
        assert "pipeline_parallel_layers_per_stage" in rows[0].reason
        return
    # ranked, or pruned as slower than the best (then timed exactly, as --explain does)
    assert where == "ranked" or rows[0].rule == "time-bound"
    res = plan.time_exactly(o.Candidate(4, 8, 32, 1, "interleaved", 8, "none", True, True))
    layers = pm.chunk_layers(GPT3_175B, res.config)
    assert sorted(set(layers)) == [1, 2] and sum(layers) == 96
    f = sum(x for x, _ in res.stage_times) / 8
    b = sum(y for _, y in res.stage_times) / 8
    closed = bubble.step_time(8, 48, f, b, 8) - 48 * (f + b)
    assert res.parts["bubble"] > 2 * closed
    assert res.step_time > plan.best.step_time


def test_megatron_runs_only_its_schedules():
    plan = o.plan_training(MEGATRON_1_7B, A100, 16, 32, max_micro_batch=2, framework="megatron")
    assert {r.candidate.schedule for r in plan.ranked} <= {"1f1b", "interleaved"}
    # every ranked one exports; an uneven split (24 layers on p = 16) as a layout
    for r in plan.ranked:
        flags = export.megatron_flags(r.candidate, MEGATRON_1_7B, 32, 2048)
        uneven = MEGATRON_1_7B.num_layers % (r.candidate.p * r.candidate.v)
        assert any(f.startswith("--pipeline-model-parallel-layout") for f in flags) == bool(uneven)
    where, drops = plan.find("t2 p2 zbv")
    assert where == "dropped" and drops[0].rule == "framework"
    assert "framework" in plan.explain("zb-h1")
    # fewer configurations than "any": the counts say what was searched
    assert plan.searched < o.search_space_size(MEGATRON_1_7B, 16, 32, 2)
    assert plan.searched == o.search_space_size(MEGATRON_1_7B, 16, 32, 2, "megatron")


def test_torchtitan_has_no_one_chunk_zero_bubble():
    plan = o.plan_training(MEGATRON_1_7B, A100, 16, 32, max_micro_batch=2, framework="torchtitan")
    assert all(r.candidate.schedule != "zb-h1" for r in plan.ranked)
    assert any(r.candidate.schedule == "zbv" for r in plan.ranked) or plan.find("zbv")[1]


def test_tensor_groups_stay_inside_a_node():
    from ppnotes.models import MEGATRON_145B

    # 1,536 = 2^9 x 3 GPUs: t = 6 divides N but not the 8 GPUs of a node
    plan = o.plan_training(MEGATRON_145B, A100, 1536, 2304, max_micro_batch=2)
    assert plan.ranked and all(r.candidate.t in (1, 2, 4, 8) for r in plan.ranked)
    assert "tp-node" in plan.explain("t6")
    small = o.plan_training(MEGATRON_1_7B, A100, 12, 24, max_micro_batch=2)
    assert small.ranked and all(8 % r.candidate.t == 0 for r in small.ranked)
    assert "tp-node" in small.explain("t3")


def test_explain_times_a_pruned_configuration_exactly(gpt3_plan):
    pruned = [d for d in gpt3_plan.dropped if d.rule == "time-bound" and d.candidate]
    assert pruned
    drop = pruned[0]
    exact = pm.step_time(GPT3_175B, A100, drop.candidate.config(1536, GPT3_175B.seq_len))
    text = gpt3_plan.explain(drop.candidate)
    assert f"timed exactly: {exact.step_time:.3f} s" in text
    # the floor it was pruned by is a lower bound of that exact time
    assert exact.step_time >= gpt3_plan.best.step_time


def test_plan_counts_say_what_they_count(gpt3_plan):
    assert gpt3_plan.configs_per_second == pytest.approx(gpt3_plan.searched / gpt3_plan.seconds)
    assert gpt3_plan.timed_per_second == pytest.approx(gpt3_plan.evaluated / gpt3_plan.seconds)


def test_bad_framework_is_refused():
    with pytest.raises(ValueError, match="framework"):
        o.plan_training(MEGATRON_1_7B, A100, 8, 8, framework="deepspeed")
    with pytest.raises(ValueError, match="framework"):
        o.search_space_size(MEGATRON_1_7B, 8, 8, framework="jax")


def test_bench_says_what_it_counts(capsys, monkeypatch):
    from ppnotes import bench

    monkeypatch.setattr(bench, "step_model_seconds", lambda: 1e-4)
    out = bench.main(p=4, m=8)
    text = capsys.readouterr().out
    assert "configurations covered" in text and "timed by the step model" in text
    assert out["planner_timed_per_s"] < out["planner_configs_per_s"]


# --- shard_gradients (ZeRO-2 / FSDP) on a Candidate (issue 20) --------------------------------


def test_shard_gradients_is_carried_labelled_and_timed():
    from ppnotes.runs import RUNS

    plain = o.Candidate(8, 4, 2, 1)
    zero2 = o.Candidate(8, 4, 2, 1, shard_gradients=True)
    assert plain.shard_gradients is False and "zero2" not in plain.label
    assert zero2.label == plain.label + " zero2"
    assert o.parse(zero2.label) | {"v": 1, "fp8": False, "cp": 1} == {
        k: getattr(zero2, k) for k in o.FIELDS
    }
    assert o.parse("nozero2") == {"shard_gradients": False}
    assert zero2.config(64).shard_gradients and not plain.config(64).shard_gradients
    # sharded gradients need less memory for the same time model otherwise
    cluster = pm.CLUSTERS["DGX A100 80GB + HDR"]
    a = pm.step_time(GPT3_175B, cluster, plain.config(64))
    b = pm.step_time(GPT3_175B, cluster, zero2.config(64))
    assert max(r["total"] for r in b.memory) < max(r["total"] for r in a.memory)
    # every published run keeps its own setting (Llama 3's runs set it)
    assert any(r.shard_gradients for r in RUNS)
    for run in RUNS:
        cand = o.run_candidate(run)
        assert cand.shard_gradients == run.shard_gradients
        assert cand.config(run.global_batch, run.seq_len).shard_gradients == run.shard_gradients


def test_planner_does_not_search_shard_gradients(tiny_plan):
    assert tiny_plan.ranked
    assert all(not r.candidate.shard_gradients for r in tiny_plan.ranked)
    assert "not searched" in tiny_plan.explain("zero2")
    with pytest.raises(ValueError, match="shard_gradients"):
        export.megatron_flags(o.Candidate(8, 4, 2, 1, shard_gradients=True), GPT3_175B, 64, 2048)


def test_fp8_plans_on_h100_only_and_is_not_exported():
    h100 = pm.CLUSTERS["DGX H100 + NDR"]
    bf16 = o.plan_training(GPT3_175B, h100, 256, 512)
    fp8 = o.plan_training(GPT3_175B, h100, 256, 512, fp8=True)
    assert all(r.candidate.fp8 for r in fp8.ranked) and fp8.best.candidate.label.endswith("fp8")
    assert fp8.best.step_time < bf16.best.step_time
    assert o.parse("t8 p4 fp8") == {"t": 8, "p": 4, "fp8": True}
    with pytest.raises(ValueError, match="fp8"):
        o.plan_training(GPT3_175B, A100, 256, 512, fp8=True)
    for call in (export.megatron_flags, export.torchtitan_config):
        with pytest.raises(ValueError, match="fp8 is not exported"):
            call(fp8.best.candidate, GPT3_175B, 512, 2048)


def test_planner_searches_context_parallelism_for_long_sequences():
    h100 = pm.CLUSTERS["DGX H100 + NDR"]
    plan = o.plan_training(LLAMA3_8B, h100, 64, 64, 131072)
    best = plan.best
    # without CP, 131,072 tokens fit only with full recomputation or a pipeline: slower
    assert best is not None and best.candidate.cp > 1
    assert 131072 // best.candidate.cp >= o.MIN_CONTEXT_TOKENS
    assert best.candidate.t * best.candidate.cp * best.candidate.p * best.candidate.d == 64
    assert "cp" in best.candidate.label and o.parse(best.candidate.label)["cp"] == best.candidate.cp
    plain = [r for r in plan.ranked if r.candidate.cp == 1]
    assert plain and all(r.candidate.recompute == "full" or r.candidate.p > 1 for r in plain)
    assert "context" in {d.rule for d in plan.dropped}  # c that leaves < MIN tokens per GPU
    # a 2,048-token model is searched as before: c = 1 only
    assert all(r.candidate.cp == 1 for r in o.plan_training(GPT3_175B, A100, 64, 64).ranked)
    assert o.search_space_size(LLAMA3_8B, 64, 64, seq_len=131072) > o.search_space_size(
        LLAMA3_8B, 64, 64
    )
