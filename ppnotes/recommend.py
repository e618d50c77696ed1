"""Chapter 9: the note's rules (section 9) tested, and the decision procedure as code.

:func:`recommend` turns a model, a cluster and a workload into one configuration with the
reasons behind it (each pointing to the chapter and number it comes from) and the warnings
that apply. It does not invent a new search: training asks chapter 7's
:func:`ppnotes.optimum.plan_training`, serving its :func:`ppnotes.serving_plan.plan_serving`;
what it adds is the explanation. The rule checks (:func:`rule_table` and friends) put each
of the note's rules against the earlier chapters' numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import bubble, inference, optimum, serving_plan
from . import perf_model as pm
from ._validate import (
    MAX_GPUS,
    MAX_STAGES,
    WrongTypeError,
    check_choice,
    check_instance,
    check_int,
    check_real,
)
from .glue import count
from .models import ModelSpec

KINDS = ("train", "serve")
#: The note's bubble rule: keep the bubble below 20 %.
NOTE_BUBBLE_TARGET = 0.20


@dataclass(frozen=True)
class Workload:
    """What the GPUs must do.

    Training: ``num_gpus`` GPUs, ``global_batch`` sequences of ``seq_len`` tokens per step.
    Serving: ``load`` output tokens/s with TTFT <= ``ttft`` s and TPOT <= ``tpot`` s, requests
    of ``prompt`` + ``output`` tokens, on at most ``num_gpus`` GPUs.

    Fields the other kind does not use are checked all the same (``global_batch`` and ``load``
    may be left at ``None`` there), so a typo never passes silently.
    """

    kind: str
    num_gpus: int
    global_batch: int | None = None
    seq_len: int | None = None
    load: float | None = None
    ttft: float | None = None
    tpot: float | None = None
    prompt: int = 1024
    output: int = 256

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        check_int("num_gpus", self.num_gpus, 1, MAX_GPUS)
        if self.kind == "train" or self.global_batch is not None:
            check_int("global_batch", self.global_batch)
        if self.kind == "serve" or self.load is not None:
            check_real("load", self.load, strict=True)
        if self.seq_len is not None:
            check_int("seq_len", self.seq_len)
        for key in ("ttft", "tpot"):
            if getattr(self, key) is not None:
                check_real(key, getattr(self, key), strict=True)
        check_int("prompt", self.prompt)
        check_int("output", self.output)


@dataclass(frozen=True)
class Reason:
    """One reason: its text, the chapter it comes from and the number behind it."""

    text: str
    chapter: int
    value: float

    def __post_init__(self):
        check_instance("text", self.text, str, "str")
        check_int("chapter", self.chapter)
        check_real("value", self.value, None)


def _check_list(name: str, values) -> list:
    if not isinstance(values, list):
        raise WrongTypeError(f"{name} must be a list, got {values!r}")
    return values


@dataclass
class Recommendation:
    """:func:`recommend`'s answer. ``t``, ``p`` and ``d`` (data-parallel replicas in
    training, serving replicas in serving); ``label`` as the chapter 7 planner writes it."""

    kind: str
    t: int
    p: int
    d: int
    label: str
    reasons: list[Reason] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    plan: object = None

    def __post_init__(self):
        check_choice("kind", self.kind, KINDS)
        for key in ("t", "p", "d"):
            check_int(key, getattr(self, key))
        check_instance("label", self.label, str, "str")
        for i, r in enumerate(_check_list("reasons", self.reasons)):
            check_instance(f"reasons[{i}]", r, Reason)
        for i, w in enumerate(_check_list("warnings", self.warnings)):
            check_instance(f"warnings[{i}]", w, str, "str")

    def explain(self) -> str:
        lines = [f"{self.kind}: {self.label}"]
        lines += [f"  because (ch. {r.chapter}) {r.text}" for r in self.reasons]
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def recommend(
    model: ModelSpec, cluster: pm.Cluster, workload: Workload, max_micro_batch: int = 4
) -> Recommendation | None:
    """A configuration for ``workload`` with its reasons and warnings, or ``None`` if nothing
    fits. Training: chapter 7's fastest fitting configuration (``max_micro_batch`` caps b to
    keep the search fast); serving: its fewest-GPU replica shape."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    check_instance("workload", workload, Workload)
    check_int("max_micro_batch", max_micro_batch)  # checked in both modes, used in training
    if workload.kind == "train":
        return _train(model, cluster, workload, max_micro_batch)
    return _serve(model, cluster, workload)


def _train(model, cluster, w, max_micro_batch) -> Recommendation | None:
    plan = optimum.plan_training(
        model, cluster, w.num_gpus, w.global_batch, w.seq_len, max_micro_batch=max_micro_batch
    )
    best = plan.best
    if best is None:
        return None
    c, r = best.candidate, best.result
    step = r.step_time
    m = w.global_batch // (c.d * c.b)
    min_p = optimum.smallest_fitting_depth(plan)
    share = {k: v / step for k, v in r.parts.items()}
    rec = Recommendation("train", c.t, c.p, c.d, c.label, plan=plan)
    rec.reasons += [
        Reason(
            f"memory: the smallest depth that fits is p = {min_p}; the fullest GPU holds "
            f"{best.peak_bytes / plan.budget:.0%} of its budget",
            4,
            best.peak_bytes / plan.budget,
        ),
        Reason(
            f"bubble: m = {m} micro-batches per pipeline, {c.schedule}"
            f"{f' v{c.v}' if c.schedule == 'interleaved' else ''}: "
            f"{max(share['bubble'], 0.0):.1%} of the step",
            2,
            share["bubble"],
        ),
        Reason(
            f"communication: TP {share['tp_comm']:.1%}, pipeline hops "
            f"{share['pipeline_comm']:.1%}, DP {share['dp_comm']:.1%} of the step",
            3,
            share["tp_comm"] + share["pipeline_comm"] + share["dp_comm"],
        ),
        Reason(f"time: {step:.2f} s per step, MFU {r.mfu:.1%}", 5, step),
        Reason(
            f"search: fastest of {len(plan.ranked)} fitting configurations", 7, len(plan.ranked)
        ),
    ]
    if share["bubble"] > NOTE_BUBBLE_TARGET:
        rec.warnings.append(
            f"bubble {share['bubble']:.0%} > 20 %: too few micro-batches (m = {m}) for p = {c.p}"
        )
    if c.t > cluster.gpus_per_node:
        rec.warnings.append(f"TP = {c.t} crosses nodes of {cluster.gpus_per_node} GPUs")
    if best.peak_bytes > 0.95 * plan.budget:
        rec.warnings.append(
            f"the fullest stage is near its memory limit "
            f"({best.peak_bytes / plan.budget:.0%} of the budget)"
        )
    if c.p > 1 and m < 2 * c.p:
        rec.warnings.append(f"m = {m} < 2p = {2 * c.p}: micro-batches few for this depth")
    return rec


def _serve(model, cluster, w) -> Recommendation | None:
    plan = serving_plan.plan_serving(
        model,
        cluster,
        load=w.load,
        ttft=w.ttft,
        tpot=w.tpot,
        prompt=w.prompt,
        output=w.output,
        max_gpus=w.num_gpus,
    )
    best = plan.best
    if best is None:
        return None
    s = best.serving
    rec = Recommendation("serve", best.t, best.p, best.replicas, best.label, plan=plan)
    min_p = inference.smallest_fitting_pipeline(model, cluster.gpu, best.t, 1, w.prompt + w.output)
    rec.reasons += [
        Reason(
            f"memory: with t = {best.t} the weights need p >= {min_p}; "
            f"{best.concurrency} sequences' KV cache fit per replica",
            4,
            s.memory["total"] / s.memory["budget"],
        ),
        Reason(
            f"latency: TPOT {s.tpot * 1e3:.1f} ms, TTFT {s.ttft * 1e3:.0f} ms "
            f"({best.p - 1} hop(s) per token)",
            6,
            s.tpot,
        ),
        Reason(
            f"throughput: {s.tokens_per_s:,.0f} tokens/s per replica, "
            f"{count(best.replicas, 'replica')}, {best.gpus} GPUs",
            7,
            best.gpus,
        ),
    ]
    if best.t > cluster.gpus_per_node:
        rec.warnings.append("TP crosses nodes")
    if best.p > 1 and best.concurrency < best.p:
        rec.warnings.append(f"R = {best.concurrency} < p = {best.p}: stages idle between tokens")
    if s.memory["weights"] > 0.8 * s.memory["budget"]:
        rec.warnings.append(
            f"the weights take {s.memory['weights'] / s.memory['budget']:.0%} of the budget: "
            "little room for KV cache"
        )
    return rec


# --- the note's rules against the numbers --------------------------------------------------


def microbatches_for_note_bubble(depths=(2, 4, 8, 16, 32), virtual=(1, 2, 4)) -> list[dict]:
    """Fewest micro-batches that keep the bubble below the note's 20 % at each depth, for 1F1B
    (v = 1) and interleaved schedules (chapter 2's
    :func:`ppnotes.bubble.microbatches_for_bubble`)."""
    depths = [check_int(f"depths[{i}]", p, 1, MAX_STAGES) for i, p in _items("depths", depths)]
    virtual = [check_int(f"virtual[{i}]", v, 1, MAX_STAGES) for i, v in _items("virtual", virtual)]
    return [
        {
            "p": p,
            **{f"v{v}": bubble.microbatches_for_bubble(p, NOTE_BUBBLE_TARGET, v) for v in virtual},
        }
        for p in depths
    ]


def _items(name: str, values) -> list:
    """``enumerate(values)`` of a non-empty list or tuple (not a string)."""
    if not isinstance(values, (list, tuple)):
        raise WrongTypeError(f"{name} must be a non-empty list or tuple, got {values!r}")
    if not values:
        raise ValueError(
            f"{name} must hold at least one value, got an empty {type(values).__name__}"
        )
    return list(enumerate(values))


def _check_rule_args(model, cluster, global_batch, seq_len) -> int:
    """Check the rule functions' common arguments; returns the cluster's GPUs per node."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    check_int("global_batch", global_batch)
    if seq_len is not None:
        check_int("seq_len", seq_len)
    return cluster.gpus_per_node


def _fastest_with(plan: optimum.Plan, t: int, p: int):
    rows = [r for r in plan.ranked if r.candidate.t == t and r.candidate.p == p]
    return min(rows, key=lambda r: r.step_time) if rows else None


def nodes_rule(model, cluster, nodes: int, global_batch: int, seq_len=None) -> dict:
    """The note's cross-node rule: PP = nodes with TP = 8 against PP = 2 x nodes with TP = 4,
    with all GPUs of ``nodes`` nodes in one pipeline (d = 1 is not forced; the fastest of each
    shape). Step times in seconds (``None`` where a shape does not fit)."""
    g = _check_rule_args(model, cluster, global_batch, seq_len)
    nodes = check_int("nodes", nodes, 1, MAX_GPUS // g)
    n = nodes * g
    plan = optimum.plan_training(model, cluster, n, global_batch, seq_len, max_micro_batch=4)
    a = _fastest_with(plan, g, nodes)
    b = _fastest_with(plan, g // 2, 2 * nodes)
    best = plan.best
    return {
        "nodes": nodes,
        "pp_nodes_tp8": a.step_time if a else None,
        "pp_2nodes_tp4": b.step_time if b else None,
        "best": best.candidate.label if best else None,
        "best_step": best.step_time if best else None,
        "plan": plan,
    }


def one_node_rule(model, cluster, global_batch: int, seq_len=None) -> dict:
    """The note's one-node order, PP1 TP8 > PP2 TP4 > PP4 TP2, on ``cluster``'s 8 GPUs
    (training): the fastest step with each shape, seconds (``None`` if it does not fit)."""
    g = _check_rule_args(model, cluster, global_batch, seq_len)
    plan = optimum.plan_training(model, cluster, g, global_batch, seq_len, max_micro_batch=4)
    out = {}
    for p in (1, 2, 4):
        r = _fastest_with(plan, g // p, p)
        out[f"p{p}"] = r.step_time if r else None
    out["plan"] = plan
    return out


def scenarios() -> list[tuple[str, ModelSpec, pm.Cluster, Workload]]:
    """The chapter's ten scenarios: training and serving, small and large models, NVLink and
    PCIe-only GPUs, one node and many: (name, model, cluster, workload)."""
    from .models import GPT3_175B, LLAMA3_70B, LLAMA31_405B, MEGATRON_1_7B, MEGATRON_18B

    a100 = pm.CLUSTERS["DGX A100 80GB + HDR"]
    h100 = pm.CLUSTERS["DGX H100 + NDR"]
    pcie = optimum.PCIE_CLUSTERS["8x A100 80GB PCIe + HDR"]
    serve = {"ttft": 1.0, "tpot": 0.05}
    big = {"ttft": 2.0, "tpot": 0.1}
    return [
        ("train GPT-3 175B, 1,024 A100 NVLink", GPT3_175B, a100, Workload("train", 1024, 1536)),
        ("train GPT-3 175B, 1,024 A100 PCIe", GPT3_175B, pcie, Workload("train", 1024, 1536)),
        ("train 18B, one A100 node", MEGATRON_18B, a100, Workload("train", 8, 64)),
        ("train 1.7B, one A100 node", MEGATRON_1_7B, a100, Workload("train", 8, 128)),
        ("train Llama 3 70B, 64 H100", LLAMA3_70B, h100, Workload("train", 64, 256, 4096)),
        ("serve Llama 3 70B, H100", LLAMA3_70B, h100, Workload("serve", 64, load=5000, **serve)),
        (
            "serve Llama 3 70B, A100 PCIe",
            LLAMA3_70B,
            pcie,
            # 128 GPUs: with prefill counted, 5,000 output tokens/s needs 72 of these.
            Workload("serve", 128, load=5000, **serve),
        ),
        ("serve GPT-3 175B, A100", GPT3_175B, a100, Workload("serve", 64, load=2000, **big)),
        ("serve Llama 3.1 405B, H100", LLAMA31_405B, h100, Workload("serve", 64, load=2000, **big)),
        (
            "serve 1.7B, one A100",
            MEGATRON_1_7B,
            a100,
            Workload("serve", 8, load=5000, ttft=0.5, tpot=0.03),
        ),
    ]
