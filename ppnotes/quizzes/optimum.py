"""Chapter 7 quiz: choosing the optimal depth (最优深度选择)."""

from __future__ import annotations

import math

from .. import optimum as o
from .. import perf_model as pm
from .. import serving_plan
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, many_choice, multiple_choice, numeric

A100 = pm.CLUSTERS["DGX A100 80GB + HDR"]
H100 = pm.CLUSTERS["DGX H100 + NDR"]


def note_depth() -> int:
    """The note's depth for 175e9 parameters, 80e9 bytes per GPU and 1,024 GPUs."""
    return o.note_find_optimal_pp_depth(175e9, 80e9, 1024)[0]


def states_gib() -> float:
    """GiB per GPU of weights, fp32 gradients and sharded Adam state for GPT-3 175B at
    t = 8, p = 4, d = 32 (the planner's memory lower bound)."""
    return o.states_lower_bound(GPT3_175B, 8, 4, 32) / o.GiB


def depth_ratio() -> float:
    """Fastest depth over the smallest fitting depth, GPT-3 175B on 256 A100s, G = 512."""
    plan = o.plan_training(GPT3_175B, A100, 256, 512, max_micro_batch=2)
    return o.best_depth(plan) / o.smallest_fitting_depth(plan)


def serving_gpus() -> int:
    """Fewest H100s serving Llama 3 70B at 5,000 output tokens/s with TPOT <= 50 ms."""
    return serving_plan.plan_serving(LLAMA3_70B, H100, load=5000, tpot=0.05).best.gpus


def questions() -> list[dict]:
    """The chapter 7 quiz; every answer comes from :mod:`ppnotes.optimum`."""
    depth = note_depth()
    gib = states_gib()
    ratio = depth_ratio()
    gpus = serving_gpus()
    m = pm.Config(8, 4, 32, 2, 1536).num_microbatches
    return [
        numeric(
            "The note's find_optimal_pp_depth is given 175e9 parameters, 80e9 bytes of GPU "
            "memory and 1,024 GPUs. Which depth does it return?",
            depth,
            correct_feedback="Right: $\\lceil 175/80 \\rceil = 3$, the first depth it tries, "
            "because its efficiency only falls with depth. It compares a parameter count "
            "with bytes.",
            wrong_feedback="Follow the code: `min_pp = ceil(params / memory)`, and the loop "
            "keeps the highest efficiency, which is the first one.",
            traps=[
                (
                    math.ceil(175e9 * 18 / 80e9),
                    "That counts 18 bytes per parameter, which the note does not (it should).",
                ),
                (1024, "The loop runs to `num_gpus`, but the efficiency falls all the way."),
            ],
        ),
        numeric(
            "GPT-3 175B at t = 8, p = 4, d = 32 with the distributed optimizer: how many GiB "
            "per GPU do weights (2 bytes), fp32 gradients (4) and the sharded Adam state "
            "($12/d$) take on the fullest stage, before any activation?",
            gib,
            rel_tol=0.03,
            correct_feedback="Right: the stage's parameters $/\\,t$ times $6 + 12/32$ bytes. "
            "It is the planner's cheap lower bound: below the budget, the configuration is "
            "worth timing.",
            wrong_feedback="Take the fullest stage's parameters (embedding included), divide "
            "by $t$, multiply by $6 + 12/d$ bytes.",
            traps=[(175e9 / 32 * 18 / 2**30, "That uses 18 bytes without sharding the optimizer.")],
        ),
        numeric(
            "Megatron-style training with G = 1536 sequences, d = 32 replicas and micro-batch "
            "b = 2. How many micro-batches m does each pipeline run per step?",
            m,
            correct_feedback="Right: $m = G/(db) = 24$; it must be a whole number, one of the "
            "planner's rules.",
            wrong_feedback="$m = G/(db)$.",
            traps=[(48, "That forgets the micro-batch size $b$.")],
        ),
        numeric(
            "The planner on GPT-3 175B (2,048-token sequences), 256 DGX A100 80GB GPUs (NVLink, "
            "HDR), G = 512 sequences, micro-batches up to 2. Its fastest configuration's depth "
            "is how many times the smallest depth that fits?",
            ratio,
            rel_tol=0.01,
            correct_feedback="Right: deeper than needed for memory. A deeper pipeline lets $t$ "
            "shrink (less tensor-parallel traffic) and, with interleaving or a zero-bubble "
            "schedule, costs little bubble.",
            wrong_feedback="Run `plan_training` and compare `best_depth` with "
            "`smallest_fitting_depth`.",
            traps=[(1.0, "That is the note's answer: the smallest depth is rarely the best.")],
        ),
        numeric(
            "Serving Llama 3 70B on DGX H100s (bf16) at 5,000 output tokens/s with a TPOT of at "
            "most 50 ms, requests of 1,024 prompt and 256 output tokens: how many GPUs does the "
            "cheapest (t, p, replicas) use?",
            gpus,
            correct_feedback="Right: one replica holding enough sequences in its KV cache to "
            "reach the load within the TPOT target.",
            wrong_feedback="For each replica shape, find the largest concurrency whose TPOT "
            "meets the target, then the replicas needed for the load.",
            traps=[(1, "70 billion bf16 weights (140 GB) do not fit one 80 GB GPU.")],
        ),
        multiple_choice(
            "Why does the note's depth search always return its smallest depth?",
            [
                choice(
                    "Its efficiency, $m/(m+p-1)$ with traffic growing in $p$, falls "
                    "monotonically with depth, and memory only sets where the loop starts.",
                    True,
                    "Right: nothing in its model rewards depth, so the first $p$ wins.",
                ),
                choice(
                    "Deeper pipelines never fit memory.",
                    False,
                    "They fit better: weights per GPU fall as $1/p$.",
                ),
                choice(
                    "It breaks out of the loop after the first depth.",
                    False,
                    "It loops over every depth; the first simply stays the best.",
                ),
            ],
        ),
        many_choice(
            "Which can rule a configuration out before the step model times it?",
            [
                choice(
                    "$t$ not dividing a node's GPUs (a tensor group across two nodes)",
                    True,
                    "Right: a placement rule.",
                ),
                choice("$G$ not a multiple of $db$", True, "Right: $m$ must be whole."),
                choice(
                    "weights, gradients and sharded optimizer state above the budget",
                    True,
                    "Right: a lower bound on memory needs no timing.",
                ),
                choice(
                    "a larger bubble than the best configuration",
                    False,
                    "Bubble alone says nothing: the compute and traffic differ too. Only a "
                    "floor on the whole step (without bubble) can prune.",
                ),
            ],
        ),
    ]
