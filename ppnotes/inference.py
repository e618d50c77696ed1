"""Chapter 6: serving a model with tensor and pipeline parallelism (推理场景的特点).

Serving runs two kinds of forward pass. *Prefill* runs a prompt's tokens together and is
compute-bound, like training. *Decode* produces one token per sequence per step; it reads every
weight and the whole KV cache each step and stays memory-bandwidth-bound until the batch is
large (:func:`decode_layer_roofline`, :func:`crossover_batch`). Both use chapter 5's roofline
(:func:`ppnotes.perf_model.matmul_time`) with the book's compute efficiency
:data:`ppnotes.comm.DEFAULT_UTILISATION`, chapter 5's tensor-parallel collectives
(:func:`ppnotes.perf_model.tp_time_per_layer`) and hops (:func:`ppnotes.perf_model.hop_time`),
and chapter 4's KV cache and fit check (:mod:`ppnotes.memory`).

What a pipeline does to serving:

- one request's token passes the p stages one after another, so PP never shortens a token and
  adds p - 1 hops plus the return of the sampled token (:func:`single_batch_latency`);
- a token cannot start before the previous one is sampled, so a single batch keeps one stage
  busy at a time; serving engines keep k = p batches in flight (vLLM's
  ``max_concurrent_batches``), and the steady-state period is max(slowest stage, cycle / k)
  (:func:`decode_period`), checked against the chapter 2 simulator
  (:func:`ppnotes.schedules.simulate_decode_loop`);
- what PP buys is memory: weights per GPU fall as 1 / (t p), and the memory left holds the KV
  cache of more sequences (:func:`serving_memory`), hence throughput (:func:`serve`).

Times are seconds, bytes are bytes (GB = 1e9), rates per second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import bubble, comm, memory, partition, schedules
from . import perf_model as pm
from ._validate import (
    MAX_GPUS,
    MAX_MICROBATCHES,
    MAX_SCHEDULE_ACTIONS,
    MAX_STAGES,
    WrongTypeError,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
)
from .hardware import GPUSpec
from .models import GPT3_175B_MEGATRON, MEGATRON_530B, ModelSpec, megatron_gpt

DEFAULT_EFFICIENCY = comm.DEFAULT_UTILISATION
KV_BYTES = 2  # bf16 KV cache
TOKEN_ID_BYTES = 4  # int32 token ids sent back to the first stage
PHASES = ("prefill", "decode")
ALLREDUCES = comm.ALLREDUCE_ALGORITHMS
#: Bytes per stored value: 1 (fp8, int8) to 8 (fp64); more is no number format.
MAX_BYTES_PER_VALUE = 8


def _check_tp(tensor_parallel, name: str = "tensor_parallel") -> int:
    return check_int(name, tensor_parallel, 1, MAX_GPUS)


def _check_pipeline(model: ModelSpec, p) -> int:
    p = check_int("pipeline_parallel", p)
    if p > model.num_layers:
        raise ValueError(
            f"pipeline_parallel must be at most the {model.num_layers} layers of {model.name}, "
            f"got {p}"
        )
    return p


# --- one layer on the roofline -------------------------------------------------------------


def kv_read_bytes_per_layer(model: ModelSpec, batch: int, context: int, t: int = 1) -> float:
    """Bytes of KV cache one GPU reads for one layer in one decode step.

    batch x context x 2 (K and V) x kv_heads_per_gpu x head_dim x 2 bytes
    (:func:`ppnotes.memory.kv_cache_bytes` for one layer).
    """
    check_instance("model", model, ModelSpec)
    b = check_int("batch", batch)
    ctx = check_int("context", context)
    return float(memory.kv_cache_bytes(model, b, ctx, KV_BYTES, 1, _check_tp(t, "t")))


def decode_layer_kernels(
    model: ModelSpec, batch: int, context: int, tensor_parallel: int = 1
) -> list[tuple[float, float]]:
    """(FLOPs, bytes) of one layer's kernels on one of t GPUs for one decode step.

    Chapter 5's kernels (:func:`ppnotes.perf_model._layer_kernels`) for ``batch`` tokens with
    attention over ``context`` tokens, plus, on the attention core, the KV cache it reads
    (:func:`kv_read_bytes_per_layer`) and the new token's keys and values it writes.
    """
    check_instance("model", model, ModelSpec)
    b = check_int("batch", batch)
    ctx = check_int("context", context)
    t = _check_tp(tensor_parallel)
    kernels = pm._layer_kernels(model, b, ctx, t)
    flops, nbytes = kernels[-1]
    kv = kv_read_bytes_per_layer(model, b, ctx, t) + kv_read_bytes_per_layer(model, b, 1, t)
    kernels[-1] = (flops, nbytes + kv)
    return kernels


def decode_layer_time(
    model: ModelSpec,
    batch: int,
    context: int,
    gpu: GPUSpec,
    tensor_parallel: int = 1,
    efficiency: float = DEFAULT_EFFICIENCY,
) -> float:
    """Seconds of one layer's decode step on one of t GPUs: sum of
    :func:`ppnotes.perf_model.matmul_time` over :func:`decode_layer_kernels` (no comm)."""
    check_instance("gpu", gpu, GPUSpec)
    kernels = decode_layer_kernels(model, batch, context, tensor_parallel)
    return sum(pm.matmul_time(f, n, gpu, efficiency) for f, n in kernels)


def decode_layer_roofline(
    model: ModelSpec,
    batch: int,
    context: int,
    gpu: GPUSpec,
    tensor_parallel: int = 1,
    efficiency: float = DEFAULT_EFFICIENCY,
) -> dict[str, float | str]:
    """The decode layer's two roofline terms, summed over its kernels.

    Returns ``{"compute": FLOPs / (peak x efficiency), "memory": bytes / achievable HBM
    bandwidth, "launch": the kernels' fixed launch cost, "time": decode_layer_time, "bound":
    "memory" or "compute"}`` (seconds; "bound" names the larger roofline term; "time" is
    per kernel the larger term plus its launch, so at least max(compute, memory) + launch).
    """
    check_instance("gpu", gpu, GPUSpec)
    e = check_real("efficiency", efficiency, 0.0, 1.0, strict=True)
    kernels = decode_layer_kernels(model, batch, context, tensor_parallel)
    flops = sum(f for f, _ in kernels)
    nbytes = sum(n for _, n in kernels)
    compute = flops / (gpu.bf16_flops * e)
    mem = nbytes / gpu.achievable_hbm_bandwidth
    return {
        "compute": compute,
        "memory": mem,
        "launch": len(kernels) * gpu.kernel_launch_cost,
        "time": decode_layer_time(model, batch, context, gpu, tensor_parallel, e),
        "bound": "memory" if mem >= compute else "compute",
    }


def crossover_batch(
    model: ModelSpec,
    gpu: GPUSpec,
    context: int,
    tensor_parallel: int = 1,
    efficiency: float = DEFAULT_EFFICIENCY,
) -> float:
    """Batch (sequences) above which a decode layer's compute term exceeds its memory term.

    Both terms are linear in the batch b: compute = b f1 / (peak e), memory = (M + b m1) / BW
    with M the weight bytes and m1 the bytes each sequence adds (its KV cache, activations).
    So b* = (M / BW) / (f1 / (peak e) - m1 / BW), BW the achievable HBM bandwidth, and
    ``math.inf`` when each sequence adds more memory time than compute time: then decode is
    memory-bound at every batch. Without
    the KV cache (context 1) b* is close to peak x e / BW, the GPU's ridge point in
    FLOPs per byte (a multiply-add of a 2-byte weight is 2 FLOPs).
    """
    check_instance("gpu", gpu, GPUSpec)
    e = check_real("efficiency", efficiency, 0.0, 1.0, strict=True)
    one = decode_layer_kernels(model, 1, context, tensor_parallel)
    two = decode_layer_kernels(model, 2, context, tensor_parallel)
    f1 = sum(f for f, _ in two) - sum(f for f, _ in one)
    m1 = sum(n for _, n in two) - sum(n for _, n in one)
    fixed = sum(n for _, n in one) - m1
    bandwidth = gpu.achievable_hbm_bandwidth
    slope = f1 / (gpu.bf16_flops * e) - m1 / bandwidth
    if slope <= 0:
        return math.inf
    return (fixed / bandwidth) / slope


def weight_bytes(model: ModelSpec, bytes_per_param: int = 2) -> float:
    """Bytes of all the model's weights (bf16 by default)."""
    check_instance("model", model, ModelSpec)
    n = check_int("bytes_per_param", bytes_per_param, 1, MAX_BYTES_PER_VALUE)
    return float(model.total_params * n)


def decode_weight_bytes(model: ModelSpec, bytes_per_param: int = 2) -> float:
    """Bytes of the weights a decode step reads: every layer and the LM head. The input
    embedding is a lookup of one row per token, so its table is not read."""
    check_instance("model", model, ModelSpec)
    n = check_int("bytes_per_param", bytes_per_param, 1, MAX_BYTES_PER_VALUE)
    return float((model.num_layers * model.params_per_layer + model.head_params) * n)


def weight_read_time(model: ModelSpec, gpu: GPUSpec, num_gpus: int = 1) -> float:
    """Seconds to read the weights a decode step needs once, split over ``num_gpus`` GPUs
    reading in parallel: :func:`decode_weight_bytes` / (num_gpus x achievable HBM
    bandwidth). The floor of a decode step at batch 1, whatever the FLOP/s."""
    check_instance("gpu", gpu, GPUSpec)
    n = check_int("num_gpus", num_gpus)
    return decode_weight_bytes(model) / (n * gpu.achievable_hbm_bandwidth)


# --- stages, hops and collectives ----------------------------------------------------------


def _config(t: int, p: int, batch: int, tokens: int) -> pm.Config:
    return pm.Config(
        t,
        p,
        1,
        batch,
        batch,
        recompute="none",
        sequence_parallel=False,
        distributed_optimizer=False,
        seq_len=tokens,
        tp_inside_node=False,
    )


def tp_allreduce_seconds(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    tokens: int,
    allreduce: str = "ring",
) -> float:
    """Seconds of one tensor-parallel all-reduce of ``tokens`` x h bf16 values over t GPUs.

    :func:`ppnotes.comm.allreduce_time_across_nodes` on ``cluster``'s links: ``"ring"`` is
    chapter 5's model (one ring over all t GPUs, as in
    :func:`ppnotes.perf_model.tp_time_per_layer`), ``"two-level"`` rings inside each node
    around a ring across nodes (an estimate of NCCL's topology-aware algorithms). The same
    inside a node.
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    how = check_choice("allreduce", allreduce, ALLREDUCES)
    n_tok = check_int("tokens", tokens)
    g = cluster.gpus_per_node
    if how == "two-level" and t > g and t % g:
        raise ValueError(f"tensor_parallel must be a multiple of {g} across nodes, got {t}")
    return comm.allreduce_time_across_nodes(
        comm.activation_bytes_per_hop(model, 1, n_tok, pm.ACTIVATION_BYTES),
        t,
        g,
        cluster.intra_link,
        cluster.inter_link,
        nic_share=cluster.nic_crowding,
        algorithm=how,
    )


def stage_times(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    batch: int,
    context: int,
    phase: str = "decode",
    efficiency: float = DEFAULT_EFFICIENCY,
    allreduce: str = "ring",
) -> list[float]:
    """Seconds of one step of ``batch`` sequences through each stage (compute + TP comm).

    Layers split by :func:`ppnotes.partition.balanced_split`. Per layer: decode
    (:func:`decode_layer_time`, attention over ``context`` tokens) or prefill
    (:func:`ppnotes.perf_model.layer_forward_time` over a prompt of ``context`` tokens), plus
    the forward's two tensor-parallel all-reduces with their latency
    (:func:`ppnotes.perf_model.tp_time_per_layer`, ring all-reduce, not overlapped). The last
    stage also runs the LM head for one token per sequence
    (:func:`ppnotes.perf_model.head_forward_time`). ``allreduce``: see
    :func:`tp_allreduce_seconds`.
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    p = _check_pipeline(model, pipeline_parallel)
    b = check_int("batch", batch)
    ctx = check_int("context", context)
    kind = check_choice("phase", phase, PHASES)
    gpu = cluster.gpu
    if kind == "decode":
        layer = decode_layer_time(model, b, ctx, gpu, t, efficiency)
        tokens = 1
    else:
        layer = pm.layer_forward_time(model, b, gpu, t, ctx, efficiency)
        tokens = ctx
    tp = comm.TP_ALLREDUCES_PER_LAYER_FORWARD * tp_allreduce_seconds(
        model, cluster, t, b * tokens, allreduce
    )
    head = pm.head_forward_time(model, b, gpu, t, 1, efficiency)
    counts = partition.balanced_split(model.num_layers, p)
    times = [n * (layer + tp) for n in counts]
    times[-1] += head
    return times


def hop_seconds(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    batch: int,
    tokens: int = 1,
) -> float:
    """One hop between stages of ``batch`` x ``tokens`` activations
    (:func:`ppnotes.perf_model.hop_time`: each of the t ranks sends its 1/t slice; over the
    network when the t p GPUs span more than one node). Zero for p = 1."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    p = _check_pipeline(model, pipeline_parallel)
    cfg = _config(t, p, check_int("batch", batch), check_int("tokens", tokens))
    return pm.hop_time(model, cluster, cfg)


def return_seconds(
    cluster: pm.Cluster, tensor_parallel: int, pipeline_parallel: int, batch: int
) -> float:
    """The sampled token ids going back from the last stage to the first (4 bytes each):
    latency plus bytes over the link. Zero for p = 1."""
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    p = check_int("pipeline_parallel", pipeline_parallel, 1, MAX_STAGES)
    b = check_int("batch", batch)
    if p == 1:
        return 0.0
    link = cluster.inter_link if t * p > cluster.gpus_per_node else cluster.intra_link
    return comm.transfer_time(TOKEN_ID_BYTES * b, link)


# --- the decode loop: closed forms -------------------------------------------------------


def cycle_time(times: Sequence[float], hop: float = 0.0, back: float = 0.0) -> float:
    """Seconds for one batch to go once round the pipeline: sum of the stage times,
    p - 1 hops and the return of its tokens (``back``). A single batch's time per token."""
    d = _check_times(times)
    h = check_real("hop", hop)
    r = check_real("back", back)
    return float(sum(d) + (len(d) - 1) * h + (r if len(d) > 1 else 0.0))


def decode_period(
    times: Sequence[float], in_flight: int, hop: float = 0.0, back: float = 0.0
) -> float:
    """Steady-state seconds between batch-steps with k batches in flight.

    period = max(max_s d_s, C / k), C = :func:`cycle_time`: either the slowest stage is
    always busy (k large enough), or every batch is waiting for its own previous token and
    the k batches share the cycle. This is the cycle mean of the loop's event graph: the
    heaviest circuit per token is either one stage's own queue (weight d_s, one token) or the
    whole loop (weight C, k tokens). Each batch then gets a token every k x period
    (:func:`decode_tpot`). Checked against :func:`ppnotes.schedules.simulate_decode_loop`.
    """
    d = _check_times(times)
    k = check_int("in_flight", in_flight)
    return max(max(d), cycle_time(d, hop, back) / k)


def decode_tpot(
    times: Sequence[float], in_flight: int, hop: float = 0.0, back: float = 0.0
) -> float:
    """Seconds between two tokens of one sequence with k batches in flight: k x period
    = max(k x slowest stage, cycle). Never below the cycle: PP never shortens a token."""
    k = check_int("in_flight", in_flight)
    return k * decode_period(times, k, hop, back)


def _check_times(times, name: str = "times") -> list[float]:
    if isinstance(times, (str, bytes)) or not isinstance(times, (Sequence, np.ndarray)):
        raise WrongTypeError(f"{name} must be a list of per-stage seconds, got {times!r}")
    if len(times) == 0:
        raise ValueError(f"{name} must hold at least one stage time, got an empty list")
    if len(times) > MAX_STAGES:
        raise ValueError(f"{name} must hold at most {MAX_STAGES} stage times, got {len(times)}")
    return [check_real(f"{name}[{i}]", x) for i, x in enumerate(times)]


def chunked_prefill_time(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    prompt: int,
    chunks: int = 1,
    efficiency: float = DEFAULT_EFFICIENCY,
) -> float:
    """Time to first token of one prompt split into ``chunks`` equal chunks through p stages.

    Chunk j (of c = prompt / chunks tokens) runs each stage's layers for c tokens with
    attention over (2j + 1) c tokens: the book counts attention without causal savings
    (4 s h FLOPs per token, chapter 5), which is twice a chunk's mean causal context
    j c + c / 2; so the chunks' attention adds up to the unchunked prompt's and only the
    pipelining differs. Stages work on different chunks at once; a chunk starts on stage s
    when stage s finished the previous chunk and stage s - 1 sent this one:

        end[s][j] = max(end[s][j-1], end[s-1][j] + hop) + d[s][j],

    the flow shop of chapter 2's forward schedule. With chunks = 1 this is the unchunked
    prefill. The LM head runs once, for the last chunk's last token.

    Raises ``ValueError`` if ``chunks`` does not divide ``prompt``.
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    p = _check_pipeline(model, pipeline_parallel)
    s = check_int("prompt", prompt)
    n = check_int("chunks", chunks)
    if s % n:
        raise ValueError(f"chunks must divide prompt = {s}, got {n}")
    c = s // n
    gpu = cluster.gpu
    counts = partition.balanced_split(model.num_layers, p)
    tp = pm.tp_time_per_layer(model, cluster, _config(t, p, 1, c))[0]
    hop = hop_seconds(model, cluster, t, p, 1, c)
    head = pm.head_forward_time(model, 1, gpu, t, 1, efficiency)
    end_prev = np.zeros(p)  # end of the previous chunk on each stage
    for j in range(n):
        kernels = pm._layer_kernels(model, c, (2 * j + 1) * c, t)
        layer = sum(pm.matmul_time(f, b, gpu, efficiency) for f, b in kernels)
        arrive = 0.0
        for stage, count in enumerate(counts):
            work = count * (layer + tp) + (head if (stage == p - 1 and j == n - 1) else 0.0)
            start = max(end_prev[stage], arrive)
            end_prev[stage] = start + work
            arrive = end_prev[stage] + hop
    return float(end_prev[-1])


# --- one request, and many: latency, throughput and memory -------------------------------


def single_batch_latency(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    prompt: int,
    output: int,
    batch: int = 1,
    efficiency: float = DEFAULT_EFFICIENCY,
) -> dict[str, float]:
    """TTFT, TPOT and total time of one batch served alone (nothing else in flight).

    TTFT = the prompt's prefill through the p stages plus p - 1 hops (unchunked,
    :func:`chunked_prefill_time` with one chunk). TPOT = :func:`cycle_time` of a decode step
    at the mean context prompt + output / 2. Total = TTFT + (output - 1) TPOT.

    Returns:
        ``{"ttft", "tpot", "total"}`` in seconds.
    """
    out = check_int("output", output)
    ctx = check_int("prompt", prompt) + out // 2
    ttft = _prefill_batch(
        model, cluster, tensor_parallel, pipeline_parallel, prompt, batch, 1, efficiency
    )
    times = stage_times(
        model, cluster, tensor_parallel, pipeline_parallel, batch, ctx, "decode", efficiency
    )
    hop = hop_seconds(model, cluster, tensor_parallel, pipeline_parallel, batch)
    back = return_seconds(cluster, tensor_parallel, pipeline_parallel, batch)
    tpot = cycle_time(times, hop, back)
    return {"ttft": ttft, "tpot": tpot, "total": ttft + (out - 1) * tpot}


def _prefill_batch(
    model, cluster, t, p, prompt, batch, microbatches, efficiency, allreduce="ring"
) -> float:
    """Prefill of ``batch`` prompts split into ``microbatches`` equal micro-batches,
    pipelined through the stages (chapter 2's forward schedule, unequal stages):
    sum_s d_s + (m - 1) max_s d_s + (p - 1) hops."""
    m = check_int("microbatches", microbatches)
    b = check_int("batch", batch)
    if b % m:
        raise ValueError(f"microbatches must divide batch = {b}, got {m}")
    local = b // m
    times = stage_times(model, cluster, t, p, local, prompt, "prefill", efficiency, allreduce)
    hop = hop_seconds(model, cluster, t, p, local, prompt)
    return sum(times) + (m - 1) * max(times) + (len(times) - 1) * hop


def serving_memory(
    model: ModelSpec,
    gpu: GPUSpec,
    tensor_parallel: int,
    pipeline_parallel: int,
    concurrency: int,
    context: int,
    reserve_fraction: float = memory.SERVING_RESERVE_FRACTION,
    *,
    weight_bytes: int = 2,
    kv_bytes: int = KV_BYTES,
) -> dict[str, float | int | bool]:
    """Memory of the fullest GPU serving ``concurrency`` sequences of ``context`` tokens.

    Chapter 4's inference breakdown (:func:`ppnotes.memory.stage_memory`, layers split
    evenly) on every stage; the budget is (1 - reserve) of the GPU. Weight precision:
    ``weight_bytes`` per parameter of the transformer blocks (2 = BF16, 1 = FP8/INT8), while
    the embedding and LM head stay BF16, as in NVIDIA's FP8 Llama 3.1 405B checkpoint, where
    "only the weights and activations of the linear operators within transformer blocks are
    quantized" (``nvidia2024llama405bfp8``; the blocks' norms, a few thousandths of a percent
    of their parameters, are counted with them). ``kv_bytes`` per cached value (2 = BF16,
    1 = FP8 KV cache).

    Returns:
        ``{"weights", "kv_cache", "total"}`` bytes on the fullest GPU, ``"budget"`` bytes,
        ``"fits"`` (bool), ``"shortfall"`` bytes missing on the fullest GPU (0 if it fits,
        never negative) and ``"max_concurrency"``, the most sequences that fit (0 if even
        the weights do not).
    """
    check_instance("model", model, ModelSpec)
    check_instance("gpu", gpu, GPUSpec)
    t = _check_tp(tensor_parallel)
    p = _check_pipeline(model, pipeline_parallel)
    n = check_int("concurrency", concurrency, minimum=0)
    ctx = check_int("context", context)
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 1.0)
    if reserve == 1.0:
        raise ValueError(f"reserve_fraction must be in [0, 1), got {reserve_fraction!r}")
    wb = check_int("weight_bytes", weight_bytes, 1, MAX_BYTES_PER_VALUE)
    kb = check_int("kv_bytes", kv_bytes, 1, MAX_BYTES_PER_VALUE)
    counts = partition.balanced_split(model.num_layers, p)
    rows = memory.stage_memory(
        model,
        counts,
        "infer",
        tensor_parallel=t,
        batch=max(n, 1),
        context=ctx,
        kv_bytes_per_value=kb,
    )
    budget = (1.0 - reserve) * gpu.memory_bytes
    most = None
    for row, layers in zip(rows, counts, strict=True):
        # bf16 everywhere, minus what quantizing the blocks saves
        row["weights"] -= (2 - wb) * layers * model.params_per_layer / t
        per_seq = row["kv_cache"] / max(n, 1)
        if n == 0:
            row["kv_cache"] = 0.0
        row["total"] = row["weights"] + row["kv_cache"]
        free = budget - row["weights"]
        fit = 0 if free < 0 else (int(free // per_seq) if per_seq > 0 else None)
        if fit is not None:
            most = fit if most is None else min(most, fit)
    top = memory.peak_stage(rows)
    return {
        "weights": top["weights"],
        "kv_cache": top["kv_cache"],
        "total": top["total"],
        "budget": budget,
        "fits": top["total"] <= budget,
        "shortfall": max(0.0, top["total"] - budget),
        "max_concurrency": int(most or 0),
    }


@dataclass(frozen=True)
class Serving:
    """One serving configuration's predicted behaviour (see :func:`serve`).

    Attributes:
        tensor_parallel, pipeline_parallel: t, p (one replica, t p GPUs).
        concurrency: sequences being decoded at once, R.
        in_flight: batches in flight k; each holds ceil(R / k) sequences.
        ttft: seconds to the first token of a request arriving at an idle server.
        tpot: seconds between two tokens of one sequence in steady state.
        tokens_per_s: output tokens per second of the replica, R / TPOT.
        tokens_per_s_per_gpu: the same per GPU.
        period: seconds between batch-steps leaving the last stage.
        stage_times: decode seconds per stage for one batch.
        memory: :func:`serving_memory`'s dict.
        fits: whether weights and KV cache fit on every GPU.
        shortfall: bytes missing on the fullest GPU (0 if it fits).
    """

    tensor_parallel: int
    pipeline_parallel: int
    concurrency: int
    in_flight: int
    ttft: float
    tpot: float
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    period: float
    stage_times: list[float]
    memory: dict
    fits: bool
    shortfall: float

    def __post_init__(self):
        for key in ("tensor_parallel", "pipeline_parallel", "concurrency", "in_flight"):
            check_int(key, getattr(self, key))
        for key in ("ttft", "tpot", "tokens_per_s", "tokens_per_s_per_gpu", "period", "shortfall"):
            check_real(key, getattr(self, key))
        _check_times(self.stage_times, "stage_times")
        check_instance("memory", self.memory, dict, "dict (serving_memory's)")
        check_bool("fits", self.fits)


def serve(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    concurrency: int,
    prompt: int,
    output: int,
    in_flight: int | None = None,
    efficiency: float = DEFAULT_EFFICIENCY,
    allreduce: str = "ring",
) -> Serving:
    """Predict one replica serving ``concurrency`` requests of ``prompt`` + ``output`` tokens.

    k batches in flight (default min(p, R), as vLLM: ``max_concurrent_batches`` = p), each of
    ceil(R / k) sequences at the mean context prompt + output / 2; steady-state period from
    :func:`decode_period`, TPOT = k x period, throughput R / TPOT. This is the decode loop
    alone: prefill is left out of the throughput, and TTFT is the unchunked prefill of one
    request on an idle server. Under a real load, with prefill counted and queues, use
    :func:`ppnotes.serving_queue.under_load` (what the planner does). A configuration whose memory
    does not fit is returned with ``fits=False`` and its ``shortfall``; its times are what it
    would do with the memory. ``allreduce``: see :func:`tp_allreduce_seconds`.
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    p = _check_pipeline(model, pipeline_parallel)
    n = check_int("concurrency", concurrency)
    s = check_int("prompt", prompt)
    out = check_int("output", output)
    k = min(p, n) if in_flight is None else check_int("in_flight", in_flight)
    if k > n:
        raise ValueError(f"in_flight must be at most concurrency = {n}, got {k}")
    batch = math.ceil(n / k)
    ctx = s + out // 2
    times = stage_times(model, cluster, t, p, batch, ctx, "decode", efficiency, allreduce)
    hop = hop_seconds(model, cluster, t, p, batch)
    back = return_seconds(cluster, t, p, batch)
    period = decode_period(times, k, hop, back)
    tpot = k * period
    ttft = _prefill_batch(model, cluster, t, p, s, 1, 1, efficiency, allreduce)
    mem = serving_memory(model, cluster.gpu, t, p, n, s + out)
    rate = n / tpot
    return Serving(
        t,
        p,
        n,
        k,
        ttft,
        tpot,
        rate,
        rate / (t * p),
        period,
        times,
        mem,
        mem["fits"],
        mem["shortfall"],
    )


def max_throughput(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    prompt: int,
    output: int,
    efficiency: float = DEFAULT_EFFICIENCY,
    allreduce: str = "ring",
) -> Serving | None:
    """:func:`serve` at the largest concurrency whose KV cache fits (k = p batches), or
    ``None`` when even the weights do not fit."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    s = check_int("prompt", prompt)
    out = check_int("output", output)
    check_real("efficiency", efficiency, 0.0, 1.0, strict=True)
    check_choice("allreduce", allreduce, ALLREDUCES)
    most = serving_memory(model, cluster.gpu, tensor_parallel, pipeline_parallel, 0, s + out)[
        "max_concurrency"
    ]
    if most == 0:
        return None
    return serve(
        model,
        cluster,
        tensor_parallel,
        pipeline_parallel,
        most,
        prompt,
        output,
        efficiency=efficiency,
        allreduce=allreduce,
    )


# --- the note's rule and the rule that follows from the model ----------------------------


def note_recommended_pp(batch_size: int) -> tuple[int, int]:
    """The note's section 6 rule: batch <= 8 -> PP 1-2; <= 32 -> 2-4; else 4-8 (lo, hi)."""
    b = check_int("batch_size", batch_size)
    if b <= 8:
        return (1, 2)
    if b <= 32:
        return (2, 4)
    return (4, 8)


def smallest_fitting_pipeline(
    model: ModelSpec,
    gpu: GPUSpec,
    tensor_parallel: int,
    concurrency: int,
    context: int,
    depths: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16),
    *,
    weight_bytes: int = 2,
    kv_bytes: int = KV_BYTES,
) -> int | None:
    """Smallest depth among ``depths`` at which weights and the KV cache of ``concurrency``
    sequences of ``context`` tokens fit (:func:`serving_memory`, at ``weight_bytes`` per
    block parameter and ``kv_bytes`` per cached value), or ``None``."""
    check_instance("model", model, ModelSpec)
    check_instance("gpu", gpu, GPUSpec)
    _check_tp(tensor_parallel)
    check_int("concurrency", concurrency, minimum=0)
    check_int("context", context)
    for p in _check_depths(depths):
        if p > model.num_layers:
            break
        mem = serving_memory(
            model,
            gpu,
            tensor_parallel,
            p,
            concurrency,
            context,
            weight_bytes=weight_bytes,
            kv_bytes=kv_bytes,
        )
        if mem["fits"]:
            return p
    return None


def _check_depths(depths) -> list[int]:
    """Pipeline depths to try: a non-empty list of integers in [1, MAX_STAGES]."""
    if isinstance(depths, (str, bytes)) or not isinstance(depths, (Sequence, np.ndarray)):
        raise WrongTypeError(f"depths must be a list of pipeline depths, got {depths!r}")
    if len(depths) == 0:
        raise ValueError("depths must hold at least one pipeline depth, got an empty list")
    return [check_int(f"depths[{i}]", p, 1, MAX_STAGES) for i, p in enumerate(depths)]


def recommended_pp(
    model: ModelSpec,
    cluster: pm.Cluster,
    concurrency: int,
    prompt: int,
    output: int,
    depths: Sequence[int] = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16),
) -> int | None:
    """The rule this chapter's computations give: TP across the GPUs of a node, then the
    smallest PP that fits the weights and the KV cache of the concurrency you must serve.

    t = ``cluster.gpus_per_node`` (KV heads are replicated when t exceeds them,
    :func:`ppnotes.memory.kv_heads_per_gpu`); p = the smallest fitting depth
    (:func:`smallest_fitting_pipeline`) at a context of prompt + output tokens. A deeper
    pipeline than that adds hops to every token and buys only memory; run it with at least p
    batches in flight (:func:`decode_period`). ``None`` if no depth fits.
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    check_int("concurrency", concurrency)
    s = check_int("prompt", prompt)
    out = check_int("output", output)
    return smallest_fitting_pipeline(
        model, cluster.gpu, cluster.gpus_per_node, concurrency, s + out, depths
    )


# --- training against inference -----------------------------------------------------------


def training_vs_inference(p: int = 4, m: int = 8) -> list[dict[str, str | float]]:
    """One table of what pipeline depth p does to training (m micro-batches, 1F1B) and to
    serving (decode loop, k batches in flight), computed by the chapter 2 simulator.

    Rows: passes per micro-batch (simulator costs, backward = 2 forwards), idle share of the
    pipeline (training: bubble per step; serving: with k = 1 and k = p batches in flight,
    simulated for 64 steps), hops each micro-batch or token crosses, and what memory holds.
    """
    steps = 64
    # The decode loop simulates p stages x p batches x 64 steps.
    most = min(MAX_STAGES, math.isqrt(MAX_SCHEDULE_ACTIONS // steps))
    p = check_int("p", p, 1, most)
    m = check_int("m", m, 1, MAX_MICROBATCHES)
    one = schedules.simulate_decode_loop(p, 1, steps)
    full = schedules.simulate_decode_loop(p, p, steps)
    # each stage works 1 time unit per batch-step, so its busy share is 1 / period
    busy = {k: 1.0 / schedules.decode_period(r, steps // 2) for k, r in ((1, one), (p, full))}
    return [
        {
            "aspect": "work per micro-batch (forward = 1)",
            "training": schedules.DEFAULT_COSTS["F"] + schedules.DEFAULT_COSTS["B"],
            "inference": schedules.DEFAULT_COSTS["F"],
        },
        {
            "aspect": "idle share of the pipeline",
            "training": bubble.bubble_fraction(p, m),
            "inference": 1.0 - busy[p],
            "inference_one_batch": 1.0 - busy[1],
        },
        {
            "aspect": "hops per micro-batch (training) or token (inference)",
            "training": 2 * (p - 1),
            "inference": p - 1,
        },
        {
            "aspect": "flush",
            "training": "every step (optimizer update)",
            "inference": "never (continuous batching)",
        },
        {
            "aspect": "memory beyond weights",
            "training": "gradients, optimizer state, activations of up to p micro-batches",
            "inference": "KV cache of every sequence in flight",
        },
        {
            "aspect": "target",
            "training": "step time (throughput)",
            "inference": "TTFT and TPOT at a throughput",
        },
    ]


# --- published measurements: FasterTransformer, Megatron-530B ------------------------------


def ft_local_batch_size(batch_size: int, seq_len: int, pipeline_parallel: int) -> int:
    """FasterTransformer's micro-batch size under PP (``getLocalBatchSize``,
    src/fastertransformer/utils/nccl_utils.cc, fastertransformer_nccl_utils):
    batch / p when p divides it, then halved while micro-batch x seq_len > 1024 and even."""
    b = check_int("batch_size", batch_size)
    s = check_int("seq_len", seq_len)
    p = check_int("pipeline_parallel", pipeline_parallel)
    local = b
    if p == 1:
        return local
    if local % p == 0:
        local //= p
    while local * s > 1024 and local % 2 == 0:
        local //= 2
    return local


@dataclass(frozen=True)
class Measurement:
    """One published serving latency: a whole request (prefill plus ``output`` tokens).

    Attributes: source (bib key), model, cluster, t, p, batch, prompt, output, latency
    (seconds, measured) and a note on the setup.
    """

    source: str
    model: ModelSpec
    cluster: pm.Cluster
    tensor_parallel: int
    pipeline_parallel: int
    batch: int
    prompt: int
    output: int
    latency: float
    note: str = ""

    def __post_init__(self):
        check_instance("source", self.source, str, "str (a bib key)")
        check_instance("model", self.model, ModelSpec)
        check_instance("cluster", self.cluster, pm.Cluster)
        _check_tp(self.tensor_parallel)
        _check_pipeline(self.model, self.pipeline_parallel)
        for key in ("batch", "prompt", "output"):
            check_int(key, getattr(self, key))
        check_real("latency", self.latency, strict=True)
        check_instance("note", self.note, str, "str")


def _ft530(t, p, batch, prompt, output, ms) -> Measurement:
    return Measurement(
        "fastertransformer_gpt",
        MEGATRON_530B,
        pm.CLUSTERS["DGX A100 80GB + HDR"],
        t,
        p,
        batch,
        prompt,
        output,
        ms / 1000,
        "FasterTransformer on Triton, FP16, A100 80GB SuperPOD (8 GPUs per node, NVSwitch; "
        "8 x 200 Gb/s HDR per node), Megatron-530B (105 layers, h = 20480), top-p 0.9",
    )


# FasterTransformer GPT guide, "Performance of Megatron-530B" table (fastertransformer_gpt):
# request latency in ms for TP-16 PP-1 (2 nodes), TP-32 PP-1 (4 nodes), TP-8 PP-3 (3 nodes).
PUBLISHED = [
    _ft530(16, 1, 1, 20, 8, 565),
    _ft530(32, 1, 1, 20, 8, 431),
    _ft530(8, 3, 1, 20, 8, 842),
    _ft530(16, 1, 1, 60, 20, 1379),
    _ft530(32, 1, 1, 60, 20, 1037),
    _ft530(8, 3, 1, 60, 20, 2085),
    _ft530(16, 1, 64, 20, 8, 1191),
    _ft530(32, 1, 64, 20, 8, 942),
    _ft530(8, 3, 64, 20, 8, 1722),
    _ft530(32, 1, 256, 20, 8, 2483),
    _ft530(8, 3, 256, 20, 8, 3140),
    _ft530(32, 1, 128, 128, 8, 5784),
    _ft530(8, 3, 128, 128, 8, 5512),
]


# FasterTransformer's GPT-20B (44 layers, 48 heads of 128, vocabulary 51,200, FP16): a Megatron
# GPT shape, as its guide lists it (fastertransformer_gpt, "Performance of GPT-20B").
FT_GPT_20B = megatron_gpt("GPT 20B (FasterTransformer)", 44, 6144, 48, "fastertransformer_gpt")


def _ft(model, t, batch, prompt, output, ms) -> Measurement:
    run = _ft530(t, 1, batch, prompt, output, ms)
    note = run.note.replace("Megatron-530B (105 layers, h = 20480)", model.name)
    return Measurement(
        run.source, model, run.cluster, t, 1, batch, prompt, output, run.latency, note
    )


# The same guide's tensor-parallel rows inside one node: GPT-20B on 1, 2, 4 and 8 GPUs, and
# GPT-175B (Megatron vocabulary) on 8, both served by FasterTransformer on A100 80GB.
PUBLISHED_TP = [
    _ft(FT_GPT_20B, 1, 1, 20, 8, 225),
    _ft(FT_GPT_20B, 2, 1, 20, 8, 147),
    _ft(FT_GPT_20B, 4, 1, 20, 8, 102),
    _ft(FT_GPT_20B, 8, 1, 20, 8, 89),
    _ft(FT_GPT_20B, 1, 256, 20, 8, 1352),
    _ft(FT_GPT_20B, 2, 256, 20, 8, 844),
    _ft(FT_GPT_20B, 4, 256, 20, 8, 533),
    _ft(FT_GPT_20B, 8, 256, 20, 8, 416),
    _ft(GPT3_175B_MEGATRON, 8, 1, 128, 8, 488.86),
    _ft(GPT3_175B_MEGATRON, 8, 32, 128, 8, 1547.44),
]


def predict_latency(
    run: Measurement, efficiency: float = DEFAULT_EFFICIENCY, allreduce: str = "ring"
) -> float:
    """Predicted request latency of a :class:`Measurement`, as FasterTransformer runs it.

    FasterTransformer splits the batch into m = batch / local micro-batches
    (:func:`ft_local_batch_size`) and pipelines them through the stages within each step,
    then waits for all of them (a flush every token): step = sum_s d_s + (m - 1) max_s d_s
    + (p - 1) hops (plus the return of the tokens). Prefill the same way with prompt-long
    micro-batches; then ``output`` decode steps at the mean context prompt + output / 2.
    TP over more than one node runs its all-reduces over InfiniBand: chapter 5's ring, or
    ``allreduce="two-level"`` (:func:`tp_allreduce_seconds`).
    """
    check_instance("run", run, Measurement)
    whole = static_batch_time(
        run.model,
        run.cluster,
        run.tensor_parallel,
        run.pipeline_parallel,
        run.batch,
        run.prompt,
        run.output,
        efficiency,
        allreduce,
    )
    return whole["total"]


def static_batch_time(
    model: ModelSpec,
    cluster: pm.Cluster,
    tensor_parallel: int,
    pipeline_parallel: int,
    batch: int,
    prompt: int,
    output: int,
    efficiency: float = DEFAULT_EFFICIENCY,
    allreduce: str = "ring",
) -> dict[str, float]:
    """One batch served start to end by a static-batching engine (FasterTransformer style).

    The batch is split into m = batch / local micro-batches (:func:`ft_local_batch_size`),
    pipelined through the stages within each step, and the engine waits for all of them
    before the next token (a flush every token): step = sum_s d_s + (m - 1) max_s d_s
    + (p - 1) hops (plus the return of the tokens). Prefill the same way with prompt-long
    micro-batches; then ``output`` decode steps at the mean context prompt + output / 2.

    Returns ``{"prefill", "step", "total"}`` seconds (total = prefill + output x step).
    """
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, pm.Cluster)
    t = _check_tp(tensor_parallel)
    p = _check_pipeline(model, pipeline_parallel)
    b = check_int("batch", batch)
    s = check_int("prompt", prompt)
    out = check_int("output", output)
    m_pre = b // ft_local_batch_size(b, s, p)
    prefill = _prefill_batch(model, cluster, t, p, s, b, m_pre, efficiency, allreduce)
    local = ft_local_batch_size(b, 1, p)
    ctx = s + out // 2
    times = stage_times(model, cluster, t, p, local, ctx, "decode", efficiency, allreduce)
    hop = hop_seconds(model, cluster, t, p, local)
    back = return_seconds(cluster, t, p, b)
    step = cycle_time(times, hop, back) + (b // local - 1) * max(times)
    return {"prefill": prefill, "step": step, "total": prefill + out * step}


def published_comparison(
    runs: Sequence[Measurement] | None = None,
    efficiency: float = DEFAULT_EFFICIENCY,
    allreduce: str = "ring",
) -> list[dict]:
    """Predicted against measured latency for each run: dicts with the run's fields,
    ``predicted``, ``measured`` (seconds) and ``error`` = predicted / measured - 1."""
    if runs is not None:
        if isinstance(runs, (str, bytes)) or not isinstance(runs, Sequence):
            raise WrongTypeError(f"runs must be a list of Measurement, got {runs!r}")
        for i, run in enumerate(runs):
            check_instance(f"runs[{i}]", run, Measurement)
    check_real("efficiency", efficiency, 0.0, 1.0, strict=True)
    check_choice("allreduce", allreduce, ALLREDUCES)
    rows = []
    for run in PUBLISHED if runs is None else runs:
        pred = predict_latency(run, efficiency, allreduce)
        rows.append(
            {
                "t": run.tensor_parallel,
                "p": run.pipeline_parallel,
                "batch": run.batch,
                "prompt": run.prompt,
                "output": run.output,
                "predicted": pred,
                "measured": run.latency,
                "error": pred / run.latency - 1.0,
                "source": run.source,
                "model": run.model.name,
            }
        )
    return rows
