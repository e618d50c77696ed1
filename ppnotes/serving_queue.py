"""Chapter 6: serving under load -- prefill counted, requests queued (排队).

This module owns what happens when requests *arrive* instead of sitting in a fixed batch:
the utilisation of a replica (prefill and decode work on its bottleneck stage), the closed-form
time to first token (TTFT) and time per output token (TPOT) at an arrival rate
(:func:`under_load`), and a small discrete-event simulation that checks them
(:func:`simulate`). The per-step costs all come from chapter 6's
:func:`ppnotes.inference.stage_times` (so from chapter 5's roofline and collectives); nothing
here re-derives a FLOP or a byte.

Two serving disciplines (``engine``):

- ``"continuous"``: iteration-level (continuous) batching as vLLM V1 and SGLang run it.
  k = p batches in flight (vLLM's ``max_concurrent_batches`` = pipeline size), at most
  ``max_num_seqs`` sequences admitted, each iteration carries at most
  ``max_num_batched_tokens`` tokens: the decode token of every running sequence of that batch
  first, then prompt *chunks* of waiting requests in arrival order (chunked prefill, on by
  default in V1). Defaults from :func:`engine_limits`.
- ``"static"``: FasterTransformer-style request batching. A batch of up to ``max_num_seqs``
  waiting requests is prefilled, then decoded to the end, the pipeline flushing every token
  (:func:`ppnotes.inference.static_batch_time`); the next batch starts when it is done.

Times are seconds, rates per second (requests or tokens, named), per replica.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import inference
from . import perf_model as pm
from ._validate import check_choice, check_instance, check_int, check_real
from .models import ModelSpec

ENGINES = ("continuous", "static")
#: Largest arrival rate accepted, requests per second per replica (a million per second is
#: beyond any serving fleet's single replica by orders of magnitude).
MAX_RATE = 1e6
#: Largest simulation, in requests (a few thousand run in about a second).
MAX_SIM_REQUESTS = 100_000
#: Largest ``max_num_seqs`` / ``max_num_batched_tokens`` accepted.
MAX_ENGINE_SEQS = 2**16
MAX_ENGINE_TOKENS = 2**22
_GRID = 40  # decode batch sizes tabulated per shape


def engine_limits(gpu) -> tuple[int, int]:
    """vLLM V1's ``vllm serve`` defaults for ``(max_num_seqs, max_num_batched_tokens)``.

    ``EngineArgs`` (vllm/engine/arg_utils.py, source ``vllm2025argutils``; the text read
    was not pinned to a commit): GPUs with at least 70 GiB that are not A100s (H100, H200,
    MI300X) get 1024 sequences and 8192 tokens per iteration for the API server, all others
    (every A100) 256 and 2048. The ``SchedulerConfig`` fallbacks (2048 tokens, 128
    sequences, chunked prefill on) are "mainly for convenience when testing"
    (vllm/config/scheduler.py, commit 01230b40128e570a58e54e75f7e55c4d5cd9246d).
    """
    from .hardware import GPUSpec

    check_instance("gpu", gpu, GPUSpec)
    if gpu.memory_bytes >= 70 * 2**30 and "a100" not in gpu.name.lower():
        return 1024, 8192
    return 256, 2048


@dataclass(frozen=True)
class Costs:
    """Per-step seconds of one replica shape, tabulated once (see :func:`costs`).

    Attributes:
        t, p, k: tensor and pipeline size, batches in flight.
        prompt, output: tokens per request.
        prefill: S, bottleneck-stage seconds of one prompt's prefill (max over stages).
        ttft0: one prompt's prefill through the whole pipeline on an idle server.
        batch: decode batch sizes (per in-flight batch) tabulated.
        stage: slowest stage's decode seconds at each ``batch``, d(b).
        period: :func:`ppnotes.inference.decode_period` at each ``batch``, P(b).
        rest: rest of the loop after the slowest stage (other stages, hops, return), C - d.
        max_seqs: the concurrency cap, min(``max_num_seqs``, sequences whose KV cache fits).
        budget: tokens per iteration (``max_num_batched_tokens``).
    """

    t: int
    p: int
    k: int
    prompt: int
    output: int
    prefill: float
    ttft0: float
    batch: np.ndarray
    stage: np.ndarray
    period: np.ndarray
    rest: np.ndarray
    max_seqs: int
    budget: int

    def d(self, b: float) -> float:
        """d(b): slowest stage's decode seconds for a batch of b sequences (0 for none)."""
        return 0.0 if b <= 0 else float(np.interp(max(b, 1.0), self.batch, self.stage))

    def P(self, b: float) -> float:
        """P(b): decode period with k batches of b sequences (no prefill)."""
        return float(np.interp(max(b, 1.0), self.batch, self.period))

    def loop_rest(self, b: float) -> float:
        return float(np.interp(max(b, 1.0), self.batch, self.rest))

    @property
    def per_batch_cap(self) -> float:
        return self.max_seqs / self.k

    @property
    def capacity(self) -> float:
        """Requests per second the replica can carry: 1 / (S + output x P(b) / b) at the full
        batch b = cap / k. Above it no batch keeps up (utilisation >= 1)."""
        b = self.per_batch_cap
        return 1.0 / (self.prefill + self.output * self.P(b) / b)


def costs(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    prompt: int,
    output: int,
    *,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    allreduce: str = "ring",
) -> Costs:
    """Tabulate one shape's step costs from :func:`ppnotes.inference.stage_times`.

    Decode runs at the mean context prompt + output / 2 (as :func:`ppnotes.inference.serve`);
    the bottleneck is the slowest stage of each phase. The concurrency cap is
    min(``max_num_seqs``, :func:`ppnotes.inference.serving_memory`'s ``max_concurrency``);
    defaults from :func:`engine_limits`. Raises ``ValueError`` if not even one sequence fits.
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = check_int("tensor_parallel", tensor_parallel, 1, 1_000_000)
    p = check_int("pipeline_parallel", pipeline_parallel, 1, model.num_layers)
    s = check_int("prompt", prompt, 1, 2**24)
    o = check_int("output", output, 1, 2**24)
    seqs, tokens = engine_limits(cluster.gpu)
    if max_num_seqs is not None:
        seqs = check_int("max_num_seqs", max_num_seqs, 1, MAX_ENGINE_SEQS)
    if max_num_batched_tokens is not None:
        tokens = check_int("max_num_batched_tokens", max_num_batched_tokens, 1, MAX_ENGINE_TOKENS)
    fit = inference.serving_memory(model, cluster.gpu, t, p, 0, s + o)["max_concurrency"]
    cap = min(seqs, fit)
    if cap < 1:
        raise ValueError(
            f"the weights of {model.name} do not fit t = {t}, p = {p} on {cluster.gpu.name} "
            "with room for one sequence"
        )
    k = min(p, cap)
    pre = inference.stage_times(model, cluster, t, p, 1, s, "prefill", allreduce=allreduce)
    ttft0 = inference._prefill_batch(model, cluster, t, p, s, 1, 1, inference.DEFAULT_EFFICIENCY)
    top = math.ceil(cap / k)
    grid = np.unique(np.round(np.geomspace(1, max(top, 1), _GRID)).astype(int))
    stage, period, rest = [], [], []
    ctx = s + o // 2
    for b in grid:
        b = int(b)
        times = inference.stage_times(model, cluster, t, p, b, ctx, "decode", allreduce=allreduce)
        hop = inference.hop_seconds(model, cluster, t, p, b)
        back = inference.return_seconds(cluster, t, p, b)
        stage.append(max(times))
        period.append(inference.decode_period(times, k, hop, back))
        rest.append(inference.cycle_time(times, hop, back) - max(times))
    return Costs(
        t,
        p,
        k,
        s,
        o,
        float(max(pre)),
        float(ttft0),
        grid.astype(float),
        np.array(stage),
        np.array(period),
        np.array(rest),
        cap,
        tokens,
    )


@dataclass(frozen=True)
class Loaded:
    """A replica at an arrival rate (see :func:`under_load`).

    Attributes:
        engine: ``"continuous"`` or ``"static"``.
        rate: arrivals, requests per second.
        capacity: the most requests per second the replica carries.
        utilisation: rate / capacity, the bottleneck stage's share of time on prefill and
            decode work at the full batch; stable only below 1.
        ttft, tpot: mean seconds under this load (``math.inf`` when unstable).
        concurrency: mean sequences decoding (Little's law).
        tokens_per_s: prompt plus output tokens per second the replica processes.
        output_tokens_per_s: output tokens per second alone.
        prefill_share: fraction of the bottleneck's time on prefill, rate x S.
        max_seqs: the concurrency cap (``max_num_seqs`` or the KV cache, the smaller).
    """

    engine: str
    rate: float
    capacity: float
    utilisation: float
    ttft: float
    tpot: float
    concurrency: float
    tokens_per_s: float
    output_tokens_per_s: float
    prefill_share: float
    max_seqs: int = 0

    @property
    def stable(self) -> bool:
        return self.utilisation < 1.0


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in an M/M/c queue with c = ``servers`` and
    ``offered`` = lambda / mu Erlangs (Erlang's C formula, by the stable Erlang-B recursion).
    1 when offered >= servers."""
    c = check_int("servers", servers, 1, 10 * MAX_ENGINE_SEQS)
    a = check_real("offered", offered)
    if a >= c:
        return 1.0
    b = 1.0
    for n in range(1, c + 1):
        b = a * b / (n + a * b)
    return c * b / (c - a * (1.0 - b))


def _continuous(cost: Costs, lam: float) -> tuple[float, float, float, float]:
    """(ttft, tpot, concurrency, utilisation) of the continuous engine, closed form."""
    S, o, k, cap = cost.prefill, cost.output, cost.k, cost.per_batch_cap
    rho = lam / cost.capacity
    share = lam * S
    if rho >= 1.0 or share >= 1.0:
        return math.inf, math.inf, cost.max_seqs, rho

    def tau(b):  # period stretched by the prefill share of the bottleneck
        return cost.P(b) / (1.0 - share)

    lo, hi = 0.0, cap  # b = lam o tau(b): Little's law per in-flight batch
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if lam * o * tau(mid) > mid else (lo, mid)
    b = hi
    tpot = k * tau(b)
    chunks = math.ceil(cost.prompt / max(1.0, cost.budget - b))
    service = S + chunks * cost.d(b)  # prompt chunks and the decode they ride with
    rho_q = lam * service
    if rho_q >= 1.0:
        return math.inf, tpot, k * b, rho
    queue = rho_q * service / (2.0 * (1.0 - rho_q))  # M/D/1 (Pollaczek-Khinchine)
    hold = o * tpot  # a sequence holds a slot for its decode
    a = k * b
    c = cost.max_seqs
    admit = 0.5 * erlang_c(c, a) * hold / (c - a) if a < c else math.inf  # ~ M/D/c
    ttft = (cost.ttft0 - S) + 0.5 * cost.P(b) + service + queue + admit
    return ttft, tpot, a, rho


def under_load(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    rate: float,
    prompt: int,
    output: int,
    *,
    engine: str = "continuous",
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    allreduce: str = "ring",
    cost: Costs | None = None,
) -> Loaded:
    """One replica at ``rate`` requests per second (Poisson arrivals, served in arrival order).

    Continuous engine (vLLM V1 / SGLang), closed form on the slowest stage:

    - capacity: lambda_max = 1 / (S + o P(b_max) / b_max), S the slowest stage's prefill of one
      prompt, o output tokens, P(b) the decode period of k batches of b sequences, b_max = the
      concurrency cap / k; utilisation rho = lambda / lambda_max;
    - a share lambda S of the bottleneck goes to prefill, so the loop runs at
      tau(b) = P(b) / (1 - lambda S) and TPOT = k tau(b), with b from Little's law
      b = lambda o tau(b);
    - TTFT = (idle prefill - S) + P(b) / 2 (the iteration under way) + S_eff (the prompt's chunks
      and the decode they ride with, S + n_chunks d(b)) + M/D/1 wait
      rho_q S_eff / (2 (1 - rho_q)), rho_q = lambda S_eff, + the wait for a free sequence slot,
      half the M/M/c wait of Erlang's C (c = cap, offered k b), which grows without bound as
      rho -> 1.

    Static engine (FasterTransformer): batches of b = min(cap, max_num_seqs) requests, each
    served in T_b = :func:`ppnotes.inference.static_batch_time`; capacity b / T_b; TTFT = the
    batch's prefill + the M/D/1 wait rho T_b / (2 (1 - rho)) with the batch as the job; TPOT =
    one flushed step of the full batch.

    Throughput: ``tokens_per_s`` counts prompt and output tokens, ``output_tokens_per_s`` only
    the output. Checked against :func:`simulate`.
    """
    e = check_choice("engine", engine, ENGINES)
    lam = check_real("rate", rate, 0.0, MAX_RATE, strict=True)
    if cost is None:
        cost = costs(
            model,
            cluster,
            tensor_parallel,
            pipeline_parallel,
            prompt,
            output,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            allreduce=allreduce,
        )
    else:
        check_instance("cost", cost, Costs)
    s, o = cost.prompt, cost.output
    if e == "continuous":
        ttft, tpot, conc, rho = _continuous(cost, lam)
        cap = cost.capacity
    else:
        b = cost.max_seqs
        whole = inference.static_batch_time(
            model, cluster, cost.t, cost.p, b, s, o, allreduce=allreduce
        )
        cap = b / whole["total"]
        rho = lam / cap
        if rho >= 1.0:
            ttft = tpot = math.inf
        else:
            ttft = whole["prefill"] + rho * whole["total"] / (2.0 * (1.0 - rho))
            tpot = whole["step"]
        conc = min(b, lam * whole["total"])
    return Loaded(
        e,
        lam,
        cap,
        rho,
        ttft,
        tpot,
        float(conc),
        lam * (s + o),
        lam * o,
        lam * cost.prefill if e == "continuous" else rho * whole["prefill"] / whole["total"],
        cost.max_seqs,
    )


def simulate(
    cost: Costs,
    rate: float,
    requests: int = 2000,
    seed: int = 0,
    warmup: float = 0.1,
) -> dict[str, float]:
    """Discrete-event simulation of the continuous engine at ``rate`` requests per second.

    Poisson arrivals (seeded); k in-flight batches take turns on the slowest stage: a batch's
    next iteration starts when the stage is free and the batch is back from the rest of the
    loop (``cost.rest``). An iteration carries the decode token of each of its running
    sequences, then prompt chunks (its own unfinished prompts first, then new requests in
    arrival order, admitted while fewer than ``cost.max_seqs`` run) up to ``cost.budget``
    tokens; it lasts d(decoding) + S x (prompt tokens / prompt). A request's first token comes
    (idle prefill - S) after the iteration that finishes its prompt; then one token per
    iteration of its batch. The first ``warmup`` share of requests is discarded.

    Returns ``{"ttft", "tpot"}`` (means, seconds), ``"utilisation"`` (busy share of the
    slowest stage), ``"concurrency"`` (mean running sequences) and ``"requests"`` measured.
    """
    check_instance("cost", cost, Costs)
    lam = check_real("rate", rate, 0.0, MAX_RATE, strict=True)
    n = check_int("requests", requests, 10, MAX_SIM_REQUESTS)
    seed = check_int("seed", seed, 0)
    warm = check_real("warmup", warmup, 0.0, 0.9)
    rng = np.random.default_rng(seed)
    arrive = np.cumsum(rng.exponential(1.0 / lam, n)).tolist()
    k, budget, cap = cost.k, cost.budget, cost.max_seqs
    per_token = cost.prefill / cost.prompt
    after = cost.ttft0 - cost.prefill
    o = cost.output
    left_prompt = [cost.prompt] * n
    left_out = [o] * n
    first = [math.nan] * n
    last = [math.nan] * n
    slots: list[list[int]] = [[] for _ in range(k)]  # requests admitted to each batch
    ready = [0.0] * k
    nxt = 0  # next request not yet admitted
    running = 0
    free = 0.0
    busy = 0.0
    done = 0
    while done < n:
        j = min(range(k), key=lambda i: ready[i])
        if math.isinf(ready[j]):
            break
        start = max(free, ready[j])
        if not slots[j]:  # an empty batch waits for a request it may admit
            if nxt < n and running < cap:
                if arrive[nxt] > start:
                    ready[j] = arrive[nxt]
                    continue
            else:  # none left, or every slot taken: wait for another batch to finish
                others = [ready[i] for i in range(k) if i != j and slots[i]]
                ready[j] = min(others) + 1e-9 if others else math.inf
                continue
        dec = [r for r in slots[j] if left_prompt[r] == 0]
        room = budget - len(dec)
        tokens = 0
        chunked = []
        for r in slots[j]:
            if left_prompt[r] and room > 0:
                c = min(left_prompt[r], room)
                chunked.append((r, c))
                room -= c
                tokens += c
        while room > 0 and nxt < n and arrive[nxt] <= start and running < cap:
            r = nxt
            nxt += 1
            running += 1
            slots[j].append(r)
            c = min(left_prompt[r], room)
            chunked.append((r, c))
            room -= c
            tokens += c
        span = cost.d(len(dec)) + per_token * tokens
        end = start + span
        busy += span
        free = end
        ready[j] = end + cost.loop_rest(max(len(dec), 1))
        out_time = end + after
        for r in dec:
            left_out[r] -= 1
            last[r] = out_time
            if left_out[r] == 0:
                slots[j].remove(r)
                running -= 1
                done += 1
        for r, c in chunked:
            left_prompt[r] -= c
            if left_prompt[r] == 0:
                first[r] = last[r] = out_time
                left_out[r] -= 1
                if left_out[r] == 0:
                    slots[j].remove(r)
                    running -= 1
                    done += 1
    skip = int(warm * n)
    keep = range(skip, n)
    ttft = [first[r] - arrive[r] for r in keep if not math.isnan(first[r])]
    tpot = [(last[r] - first[r]) / (o - 1) for r in keep if o > 1 and not math.isnan(first[r])]
    return {
        "ttft": float(np.mean(ttft)) if ttft else math.inf,
        "tpot": float(np.mean(tpot)) if tpot else 0.0,
        "utilisation": busy / free if free > 0 else 0.0,
        "concurrency": float(sum(last[r] - arrive[r] for r in keep) / (arrive[-1] - arrive[skip]))
        if n - skip > 1
        else 0.0,
        "requests": float(len(ttft)),
    }


#: Shares of capacity a load curve is drawn at: even steps, then dense towards the knee.
LOAD_FRACTIONS = (
    0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99,
    0.995,
)  # fmt: skip
#: Shares of capacity the simulation checks by default (few, so a notebook stays fast).
SIM_FRACTIONS = (0.3, 0.7, 0.9)


def load_curve(
    cost: Costs,
    fractions=LOAD_FRACTIONS,
    sim_fractions=SIM_FRACTIONS,
    requests: int = 500,
    seed: int = 0,
) -> dict[str, list[float] | float]:
    """TTFT and TPOT of the continuous engine against the arrival rate, closed form and DES.

    Rates are ``fractions`` of ``cost.capacity`` (requests per second, each in (0, 1));
    :func:`under_load` gives the curve, :func:`simulate` (``requests`` requests, seeded) the
    check at ``sim_fractions``. Returns ``{"capacity"}`` (requests/s), ``"rate"``, ``"ttft"``,
    ``"tpot"`` (seconds) for the curve and ``"sim_rate"``, ``"sim_ttft"``, ``"sim_tpot"``,
    ``"sim_ttft_model"``, ``"sim_tpot_model"`` (closed form at the simulated rates).
    """
    check_instance("cost", cost, Costs)

    def shares(name, values):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise ValueError(f"{name} must be a list of shares of capacity, got {values!r}")
        out = [check_real(f"{name}[{i}]", f, 0.0, 1.0, strict=True) for i, f in enumerate(values)]
        if any(f >= 1.0 for f in out):
            raise ValueError(f"{name} must lie below 1 (stable loads), got {values!r}")
        return out

    frac = shares("fractions", fractions)
    sims = shares("sim_fractions", sim_fractions)
    n = check_int("requests", requests, 10, MAX_SIM_REQUESTS)
    cap = cost.capacity

    def closed(f):
        return under_load(None, None, cost.t, cost.p, f * cap, cost.prompt, cost.output, cost=cost)

    curve = [closed(f) for f in frac]
    model = [closed(f) for f in sims]
    runs = [simulate(cost, f * cap, n, seed) for f in sims]
    return {
        "capacity": float(cap),
        "rate": [float(x.rate) for x in curve],
        "ttft": [float(x.ttft) for x in curve],
        "tpot": [float(x.tpot) for x in curve],
        "sim_rate": [float(f * cap) for f in sims],
        "sim_ttft": [r["ttft"] for r in runs],
        "sim_tpot": [r["tpot"] for r in runs],
        "sim_ttft_model": [float(x.ttft) for x in model],
        "sim_tpot_model": [float(x.tpot) for x in model],
    }
