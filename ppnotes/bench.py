"""Benchmarks: ``python -m ppnotes.bench`` (the simulator, then the chapter 5 step model).

Builds and simulates 1F1B with p = 64 ranks and m = 1024 micro-batches (2 * 64 * 1024 =
131,072 actions) and prints actions per second for building (validation, encoding, deadlock
check; done once per schedule) and for simulating (done once per cost setting). The best of a
few repeats is reported, so other load on the machine shows less.

Then it times :func:`ppnotes.perf_model.step_time` on GPT-3 175B over every depth and schedule
that fits 1024 GPUs (the budget: well under a millisecond per configuration), and chapter 7's
planner on the full GPT-3 175B search on 1024 GPUs (G = 1536): seconds, configurations
covered per second (every configuration of the search space, each either timed or dropped by a
rule, most in groups without timing) and configurations timed by the step model per second
(the budget: under one second). Last, chapter 11's planner on DeepSeek-V3 over 2,048 GPUs
(G = 15,360), both recomputations, through :func:`ppnotes.optimum.plan_training` (the issue's
budget: under a second).
"""

from __future__ import annotations

import time

from . import perf_model
from .models import GPT3_175B
from .schedules import build_schedule, simulate


def best_seconds(work, repeats: int = 5) -> float:
    """Shortest wall-clock time of ``repeats`` calls of ``work()``, in seconds."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def main(p: int = 64, m: int = 1024) -> dict[str, float]:
    schedule = build_schedule("1f1b", p, m)
    actions = sum(len(rank_actions) for rank_actions in schedule.actions)
    build = best_seconds(lambda: build_schedule("1f1b", p, m), repeats=3)
    run = best_seconds(lambda: simulate(schedule, {"F": 1.0, "B": 2.0}))
    result = simulate(schedule, {"F": 1.0, "B": 2.0})
    print(f"1F1B p={p} m={m}: {actions:,} actions, makespan {result.makespan:g}")
    print(f"simulate: {run * 1e3:.1f} ms, {actions / run:,.0f} actions/s")
    print(f"build:    {build * 1e3:.1f} ms, {actions / build:,.0f} actions/s")
    per_config = step_model_seconds()
    print(f"perf_model.step_time: {per_config * 1e3:.3f} ms per configuration")
    plan_s, searched, timed = planner_seconds()
    print(
        f"optimum.plan_training (GPT-3 175B, 1024 GPUs): {plan_s:.2f} s; {searched:,} "
        f"configurations covered ({searched / plan_s:,.0f}/s: each timed or dropped by a rule, "
        f"most in groups without timing), {timed:,} timed by the step model "
        f"({timed / plan_s:,.0f}/s)"
    )
    moe_s, moe_fit = moe_planner_seconds()
    print(
        f"optimum.plan_training (DeepSeek-V3, 2048 GPUs, MoE): {moe_s:.2f} s; {moe_fit:,} "
        "layouts fit"
    )
    return {
        "moe_planner_s": moe_s,
        "planner_s": plan_s,
        "planner_configs_per_s": searched / plan_s,
        "planner_timed_per_s": timed / plan_s,
        "actions": actions,
        "simulate_per_s": actions / run,
        "build_per_s": actions / build,
        "step_time_s": per_config,
    }


def step_model_seconds() -> float:
    """Seconds per :func:`ppnotes.perf_model.step_time` call, over a grid of configurations."""
    cluster = perf_model.CLUSTERS["DGX A100 80GB + HDR"]
    configs = [
        perf_model.Config.for_gpus(1024, 8, p, micro_batch=1, global_batch=1536, schedule=s)
        for p in (1, 2, 4, 8, 16, 32, 64)
        for s in ("gpipe", "1f1b", "zb-h1")
    ]
    perf_model.evaluate_many(GPT3_175B, cluster, configs)  # warm the caches once
    seconds = best_seconds(lambda: perf_model.evaluate_many(GPT3_175B, cluster, configs))
    return seconds / len(configs)


def planner_seconds() -> tuple[float, int, int]:
    """Best wall time of :func:`ppnotes.optimum.plan_training` for GPT-3 175B on 1024 A100s
    (G = 1536), with the configurations it covered and those it timed."""
    from . import optimum

    cluster = perf_model.CLUSTERS["DGX A100 80GB + HDR"]

    def work():
        return optimum.plan_training(GPT3_175B, cluster, 1024, 1536)

    plan = work()
    return best_seconds(work, repeats=3), plan.searched, plan.evaluated


def moe_planner_seconds() -> tuple[float, int]:
    """Best wall time of :func:`ppnotes.optimum.plan_training` for DeepSeek-V3 on 2,048 H800s
    (G = 15,360; t, e, p, d, b, every MoE schedule, no and full recomputation), and how many
    layouts fit."""
    from . import moe, optimum

    def work():
        return optimum.plan_training(moe.DEEPSEEK_V3, moe.H800_CLUSTER, 2048, 15360)

    plan = work()
    return best_seconds(work, repeats=3), len(plan.ranked)


if __name__ == "__main__":
    main()
