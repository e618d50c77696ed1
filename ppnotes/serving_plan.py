"""Chapter 7's serving planner (最优深度选择：推理): the fewest GPUs, as replicas of a (t, p)
shape, that meet a TTFT and a TPOT target at a given load.

It owns :func:`plan_serving` and its results (:class:`ServingPlan`, :class:`ServingChoice`);
the load model it applies is chapter 6's (:mod:`ppnotes.serving_queue`,
:func:`ppnotes.inference.serve`), and the training search is :mod:`ppnotes.optimum`.
Times are seconds, loads are requests per second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import inference, serving_queue
from . import perf_model as pm
from ._validate import MAX_GPUS, MAX_STAGES, WrongTypeError, check_instance, check_int, check_real
from .models import ModelSpec
from .optimum import _cluster, _divisors, _model

# --- the inference planner ---------------------------------------------------------------


@dataclass
class ServingChoice:
    """One replica shape and how many replicas a load needs.

    ``concurrency`` is the per-replica cap on running sequences (vLLM's ``--max-num-seqs``),
    ``serving`` the replica at its mean concurrency under the load
    (:func:`ppnotes.inference.serve`: memory, stage times), ``loaded`` the same replica at its
    share of the arrivals (:func:`ppnotes.serving_queue.under_load`: utilisation, TTFT and
    TPOT under load, tokens per second with and without the prompt).
    """

    t: int
    p: int
    replicas: int
    concurrency: int
    serving: inference.Serving
    loaded: serving_queue.Loaded | None = None

    def __post_init__(self):
        self.t = check_int("t", self.t, 1, MAX_GPUS)
        self.p = check_int("p", self.p, 1, MAX_STAGES)
        self.replicas = check_int("replicas", self.replicas, 1, MAX_GPUS)
        self.concurrency = check_int("concurrency", self.concurrency)
        check_instance("serving", self.serving, inference.Serving)
        if self.loaded is not None:
            check_instance("loaded", self.loaded, serving_queue.Loaded)

    @property
    def gpus(self) -> int:
        return self.t * self.p * self.replicas

    @property
    def label(self) -> str:
        return f"t{self.t} p{self.p} x{self.replicas} (R<={self.concurrency} per replica)"


@dataclass
class ServingPlan:
    """What :func:`plan_serving` found: ``choices`` (fewest GPUs first), ``dropped``
    ((t, p, reason) for replica shapes that cannot meet the request) and ``misses``
    ((t, p) -> relative miss of the worst-missed target, ``math.inf`` when the weights do not
    fit). :attr:`closest` lists the dropped shapes, nearest first."""

    choices: list[ServingChoice]
    dropped: list[tuple[int, int, str]]
    misses: dict = field(default_factory=dict)

    def __post_init__(self):
        for name in ("choices", "dropped"):
            if not isinstance(getattr(self, name), list):
                raise WrongTypeError(f"{name} must be a list, got {getattr(self, name)!r}")
        for choice in self.choices:
            check_instance("choices", choice, ServingChoice, "list of ServingChoice")
        check_instance("misses", self.misses, dict, "dict")

    @property
    def best(self) -> ServingChoice | None:
        return self.choices[0] if self.choices else None

    @property
    def closest(self) -> list[tuple[int, int, str, float]]:
        """(t, p, reason, miss) of the dropped shapes sorted by how far each misses (a miss of
        0.25 is a target missed by 25 %); shapes whose weights do not fit come last."""
        rows = [(t, p, why, self.misses.get((t, p), math.inf)) for t, p, why in self.dropped]
        return sorted(rows, key=lambda r: (r[3], r[0] * max(r[1], 1)))


#: The most of a replica's capacity a plan may use. Above about 0.9 the queue's TTFT and the
#: decode batch (hence TPOT) climb steeply (:func:`ppnotes.serving_queue.under_load`), and a
#: burst of arrivals has no room; utilisation >= 1 is a queue that grows without bound.
MAX_UTILISATION = 0.9
#: The most output tokens per second :func:`plan_serving` is asked for, and the longest prompt
#: or output: beyond any fleet or any model's context.
MAX_SERVING_LOAD = 1e9
MAX_SERVING_TOKENS = 2**24


def _meets(ld, ttft, tpot, umax) -> float:
    """Relative miss of the worst-missed target (0 when all are met)."""
    miss = max(0.0, ld.utilisation / umax - 1.0)
    if ttft is not None:
        miss = max(miss, ld.ttft / ttft - 1.0)
    if tpot is not None:
        miss = max(miss, ld.tpot / tpot - 1.0)
    return miss


def plan_serving(
    model: ModelSpec,
    cluster: pm.Cluster,
    *,
    load: float,
    ttft: float | None = None,
    tpot: float | None = None,
    prompt: int = 1024,
    output: int = 256,
    max_gpus: int | None = None,
    max_utilisation: float = MAX_UTILISATION,
    max_num_seqs: int | None = None,
) -> ServingPlan:
    """The fewest GPUs, as (t, p, replicas), that serve ``load`` output tokens per second (so
    ``load`` / ``output`` requests per second, each with its ``prompt`` to prefill) with mean
    TTFT <= ``ttft`` and mean TPOT <= ``tpot`` seconds *under that load*.

    Each replica shape (t within a node and dividing the heads, p <= 16 dividing the layers)
    runs vLLM-style continuous batching (:mod:`ppnotes.serving_queue`: k = p batches in
    flight, at most ``max_num_seqs`` sequences, default :func:`ppnotes.serving_queue.engine_limits`,
    and no more than the KV cache holds). Replicas start at load / (``max_utilisation`` x
    capacity), counting prefill and decode work on the slowest stage, and grow until the
    TTFT and TPOT of :func:`ppnotes.serving_queue.under_load` at each replica's share of the
    arrivals meet the targets. So no plan runs a replica at utilisation above
    ``max_utilisation`` (< 1). Ties go to the lower TPOT. Shapes that cannot meet the request
    are in ``dropped`` with the reason and in ``misses`` with how far they miss; a load that no
    shape carries is not an error: ``choices`` is empty and :attr:`ServingPlan.closest` shows
    the nearest shapes.
    """
    model, cluster = _model(model), _cluster(cluster)
    load = check_real("load", load, 0.0, MAX_SERVING_LOAD, strict=True)
    ttft = None if ttft is None else check_real("ttft", ttft, 0.0, 3600.0, strict=True)
    tpot = None if tpot is None else check_real("tpot", tpot, 0.0, 60.0, strict=True)
    prompt = check_int("prompt", prompt, 1, MAX_SERVING_TOKENS)
    output = check_int("output", output, 1, MAX_SERVING_TOKENS)
    cap = None if max_gpus is None else check_int("max_gpus", max_gpus, 1, MAX_GPUS)
    umax = check_real("max_utilisation", max_utilisation, 0.0, 1.0, strict=True)
    if umax >= 1.0:
        raise ValueError(f"max_utilisation must be below 1, got {max_utilisation!r}")
    if max_num_seqs is not None:
        max_num_seqs = check_int("max_num_seqs", max_num_seqs, 1, serving_queue.MAX_ENGINE_SEQS)
    rate = load / output
    choices, dropped, misses = [], [], {}

    def drop(t, p, why, miss):
        dropped.append((t, p, why))
        misses[(t, p)] = miss

    for t in _divisors(cluster.gpus_per_node):
        if model.num_heads % t or model.num_kv_heads % t:
            drop(t, 0, f"t = {t} does not divide the heads", math.inf)
            continue
        for p in _divisors(model.num_layers):
            if p > 16:
                break
            try:
                cost = serving_queue.costs(
                    model, cluster, t, p, prompt, output, max_num_seqs=max_num_seqs
                )
            except ValueError:
                drop(t, p, "the weights do not fit", math.inf)
                continue

            def at(replicas, cost=cost, t=t, p=p):
                return serving_queue.under_load(
                    model, cluster, t, p, rate / replicas, prompt, output, cost=cost
                )

            idle = at(rate / (1e-6 * cost.capacity))  # nearly no load: the best it can do
            miss = _meets(idle, ttft, tpot, umax)
            if miss > 0:
                why = []
                if ttft is not None and idle.ttft > ttft:
                    why.append(f"TTFT {idle.ttft * 1e3:.0f} ms > {ttft * 1e3:.0f} ms")
                if tpot is not None and idle.tpot > tpot:
                    why.append(f"TPOT {idle.tpot * 1e3:.1f} ms > {tpot * 1e3:.1f} ms")
                drop(t, p, " and ".join(why) + " even at no load", miss)
                continue
            lo = max(1, math.ceil(rate / (umax * cost.capacity)))
            if t * p * lo > MAX_GPUS:  # a load beyond any real cluster: a miss, not an error
                need = t * p * lo
                drop(t, p, f"needs {need:,} GPUs, beyond any real system", need / MAX_GPUS - 1)
                continue
            hi = lo
            while _meets(at(hi), ttft, tpot, umax) > 0 and hi < MAX_GPUS:
                hi *= 2
            while lo < hi:  # fewest replicas that meet the targets
                mid = (lo + hi) // 2
                lo, hi = (lo, mid) if _meets(at(mid), ttft, tpot, umax) == 0 else (mid + 1, hi)
            if t * p * lo > MAX_GPUS:
                need = t * p * lo
                drop(t, p, f"needs {need:,} GPUs, beyond any real system", need / MAX_GPUS - 1)
                continue
            ld = at(lo)
            srv = inference.serve(
                model, cluster, t, p, max(1, round(ld.concurrency)), prompt, output
            )
            choice = ServingChoice(t, p, lo, cost.max_seqs, srv, ld)
            if cap is not None and choice.gpus > cap:
                drop(t, p, f"needs {choice.gpus} GPUs > max_gpus = {cap}", choice.gpus / cap - 1)
                continue
            choices.append(choice)
    choices.sort(key=lambda c: (c.gpus, c.loaded.tpot, c.p))
    return ServingPlan(choices, dropped, misses)
