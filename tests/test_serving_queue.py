"""Serving under load: utilisation with prefill counted, the closed-form queue against the
discrete-event simulation, and the planner that never overloads a replica (issue 19)."""

import math

import pytest

from ppnotes import case_study as cs
from ppnotes import hardware as hw
from ppnotes import perf_model as pm
from ppnotes import serving_plan
from ppnotes import serving_queue as q
from ppnotes.models import LLAMA3_70B

H100 = pm.CLUSTERS["DGX H100 + NDR"]
SHAPES = [(8, 4), (2, 16), (16, 2)]


@pytest.fixture(scope="module")
def case_costs():
    return {s: q.costs(cs.MODEL, cs.CLUSTER, *s, cs.PROMPT, cs.OUTPUT) for s in SHAPES}


def test_engine_limits_follow_vllm_defaults():
    assert q.engine_limits(hw.H100_SXM) == (1024, 8192)
    assert q.engine_limits(cs.CLUSTER.gpu) == (256, 2048)  # every A100


@pytest.mark.parametrize("shape", SHAPES)
def test_simulation_agrees_with_the_closed_form_at_moderate_load(case_costs, shape):
    """Within 10 % for TTFT and TPOT at utilisation 0.5 (Poisson, 2,000 requests, seeded)."""
    cost = case_costs[shape]
    rate = 0.5 * cost.capacity
    cf = q.under_load(cs.MODEL, cs.CLUSTER, *shape, rate, cs.PROMPT, cs.OUTPUT, cost=cost)
    sim = q.simulate(cost, rate, 2000, seed=1)
    assert sim["ttft"] == pytest.approx(cf.ttft, rel=0.10)
    assert sim["tpot"] == pytest.approx(cf.tpot, rel=0.10)
    assert sim["concurrency"] == pytest.approx(cf.concurrency, rel=0.15)


def test_ttft_grows_without_bound_as_utilisation_nears_one(case_costs):
    cost = case_costs[(8, 4)]
    ttft = [
        q.under_load(cs.MODEL, cs.CLUSTER, 8, 4, u * cost.capacity, 1024, 256, cost=cost).ttft
        for u in (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)
    ]
    assert ttft == sorted(ttft) and ttft[-1] > 10 * ttft[0]
    over = q.under_load(cs.MODEL, cs.CLUSTER, 8, 4, 1.1 * cost.capacity, 1024, 256, cost=cost)
    assert not over.stable and math.isinf(over.ttft)
    # the simulated queue above capacity keeps growing: more requests, longer waits
    short, long = (q.simulate(cost, 1.2 * cost.capacity, n)["ttft"] for n in (500, 2000))
    assert long > 2 * short


def test_throughput_counts_prompt_and_output(case_costs):
    ld = q.under_load(cs.MODEL, cs.CLUSTER, 8, 4, 2.0, 1024, 256, cost=case_costs[(8, 4)])
    assert ld.output_tokens_per_s == pytest.approx(2.0 * 256)
    assert ld.tokens_per_s == pytest.approx(2.0 * (1024 + 256))


def test_static_engine_carries_less_than_continuous():
    cont = q.under_load(cs.MODEL, cs.CLUSTER, 2, 16, 1.0, 1024, 256)
    stat = q.under_load(cs.MODEL, cs.CLUSTER, 2, 16, 1.0, 1024, 256, engine="static")
    assert stat.capacity < cont.capacity and stat.tpot > cont.tpot


def test_llama_70b_at_5000_tokens_is_not_planned_on_4_h100s():
    """The issue's example: prefill alone overloads t2 p2, so the plan needs more GPUs."""
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=5000, ttft=1.0, tpot=0.05)
    assert plan.best.gpus > 4
    ld = q.under_load(LLAMA3_70B, H100, 2, 2, 5000 / 256, 1024, 256)
    assert ld.prefill_share > 1.0 and not ld.stable


@pytest.mark.parametrize("load", [100.0, 1e3, 5e3, 2e4, 1e5])
def test_no_plan_runs_a_replica_at_utilisation_one(load):
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=load, ttft=2.0, tpot=0.1)
    assert plan.choices
    for c in plan.choices:
        assert c.loaded.utilisation <= serving_plan.MAX_UTILISATION < 1
        assert c.loaded.ttft <= 2.0 and c.loaded.tpot <= 0.1
        assert c.replicas * c.loaded.output_tokens_per_s == pytest.approx(load)


def test_a_load_no_shape_carries_lists_the_closest():
    plan = serving_plan.plan_serving(LLAMA3_70B, H100, load=1e5, ttft=1.0, tpot=0.05, max_gpus=8)
    assert plan.best is None
    misses = [row[3] for row in plan.closest]
    assert misses == sorted(misses) and 0 < misses[0] < math.inf
    assert math.isinf(misses[-1])  # shapes whose weights do not fit come last


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"load": 0}, "load"),
        ({"load": -5.0}, "load"),
        ({"load": 1e12}, "load"),
        ({"load": 1e3, "ttft": 0}, "ttft"),
        ({"load": 1e3, "tpot": -1.0}, "tpot"),
        ({"load": 1e3, "prompt": 0}, "prompt"),
        ({"load": 1e3, "output": 10**9}, "output"),
        ({"load": 1e3, "max_utilisation": 1.0}, "max_utilisation"),
        ({"load": 1e3, "max_num_seqs": 0}, "max_num_seqs"),
    ],
)
def test_plan_serving_bad_input_names_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=name):
        serving_plan.plan_serving(LLAMA3_70B, H100, **kwargs)


@pytest.mark.parametrize("rate", [0, -1.0, 1e9, math.nan])
def test_under_load_bad_rate(rate):
    with pytest.raises(ValueError, match="rate"):
        q.under_load(LLAMA3_70B, H100, 8, 1, rate, 1024, 256)


def test_bad_engine_and_lengths():
    with pytest.raises(ValueError, match="engine"):
        q.under_load(LLAMA3_70B, H100, 8, 1, 1.0, 1024, 256, engine="magic")
    with pytest.raises(ValueError, match="prompt"):
        q.costs(LLAMA3_70B, H100, 8, 1, 0, 256)
    with pytest.raises(ValueError, match="fit"):
        q.costs(LLAMA3_70B, H100, 1, 1, 1024, 256)
    with pytest.raises(ValueError, match="requests"):
        q.simulate(q.costs(LLAMA3_70B, H100, 8, 1, 1024, 256), 1.0, 10**7)
