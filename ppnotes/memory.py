"""Memory primitives for chapter 4: parameters, optimizer state, activations, KV cache.

All results are bytes per GPU (GiB = 2**30 bytes, GB = 10**9 bytes where converted).
Symbols: L layers, h hidden size, a attention heads, s sequence length, b micro-batch
size, p pipeline stages, m micro-batches per step, t tensor-parallel size.

The split of layers into stages comes from chapter 1 (:mod:`ppnotes.partition`); every
function here takes the layer counts as given.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from . import schedules
from ._validate import check_choice, check_int, check_real
from .hardware import GPUSpec
from .models import ModelSpec

# Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO, sec. 3.1: "16 Psi"): bf16/fp16
# weights 2 bytes, bf16/fp16 gradients 2 bytes, and fp32 master weights, momentum and
# variance, 4 + 4 + 4 = 12 bytes. Frameworks that accumulate gradients in fp32 (Megatron-LM's
# main_grad buffers in bf16 training) make the gradient 4 bytes and the total 18.
WEIGHT_BYTES_TRAIN = 2
GRAD_BYTES = {False: 2, True: 4}  # keyed by fp32_grads
OPTIMIZER_BYTES = 12

INFERENCE_BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}

RECOMPUTE_CHOICES = ("none", "selective", "full")
SCHEDULES_WITH_CLOSED_FORM = ("gpipe", "1f1b", "forward")
# Schedules whose peaks come from the chapter 2 simulator (ppnotes.schedules).
SIMULATED_SCHEDULES = ("interleaved", "zb-h1", "zbv")
SCHEDULES = SCHEDULES_WITH_CLOSED_FORM + SIMULATED_SCHEDULES
TRAINING_SCHEDULES = ("gpipe", "1f1b", "interleaved", "zb-h1", "zbv")
MODES = ("train", "infer")
MEMORY_KINDS = ("weights", "gradients", "optimizer", "activations", "kv_cache")

# vLLM lets a serving engine use 90% of GPU memory by default (gpu_memory_utilization
# = 0.9): the rest goes to the CUDA context, NCCL buffers and fragmentation.
DEFAULT_RESERVE_FRACTION = 0.1


def _check_model(model) -> ModelSpec:
    if not isinstance(model, ModelSpec):
        raise ValueError(f"model must be a ppnotes.models.ModelSpec, got {model!r}")
    return model


def _check_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return value


def _check_counts(layers_per_stage) -> list[int]:
    """Layer counts per stage: a non-empty list of integers >= 0."""
    if isinstance(layers_per_stage, (str, bytes)) or not isinstance(layers_per_stage, Sequence):
        raise ValueError(
            f"layers_per_stage must be a list of layer counts, got {layers_per_stage!r}"
        )
    if len(layers_per_stage) == 0:
        raise ValueError("layers_per_stage must list at least one stage, got []")
    counts = [check_int(f"layers_per_stage[{i}]", n, 0) for i, n in enumerate(layers_per_stage)]
    return counts


def _check_layer_counts(model: ModelSpec, layers_per_stage) -> list[int]:
    """Layer counts per stage: non-empty, integers >= 0, summing to the model's layers."""
    counts = _check_counts(layers_per_stage)
    if sum(counts) != model.num_layers:
        raise ValueError(
            f"layers_per_stage must sum to the model's {model.num_layers} layers, "
            f"got {counts} (sum {sum(counts)})"
        )
    return counts


# --- bytes per parameter ----------------------------------------------------------------


def training_bytes_per_param(fp32_grads: bool = False) -> dict[str, int]:
    """Bytes per parameter for mixed-precision Adam training, by kind.

    ``{"weights": 2, "gradients": 2, "optimizer": 12}``, 16 in all (Rajbhandari et al.
    2020, sec. 3.1); with ``fp32_grads=True`` the gradient takes 4 bytes, 18 in all.
    """
    fp32 = _check_bool("fp32_grads", fp32_grads)
    return {
        "weights": WEIGHT_BYTES_TRAIN,
        "gradients": GRAD_BYTES[fp32],
        "optimizer": OPTIMIZER_BYTES,
    }


def inference_bytes_per_param(precision: str = "bf16") -> int:
    """Bytes per parameter when serving: 4 (fp32), 2 (bf16, fp16) or 1 (fp8)."""
    return INFERENCE_BYTES_PER_PARAM[
        check_choice("precision", precision, INFERENCE_BYTES_PER_PARAM)
    ]


# --- parameters per stage ---------------------------------------------------------------


def stage_params(model: ModelSpec, layers_per_stage: Sequence[int]) -> list[int]:
    """Parameters held by each pipeline stage.

    Stage i holds its layers x params_per_layer; the first stage adds the embedding
    (``model.embedding_params``), the last stage the final norm and LM head
    (``model.head_params``). With tied embeddings the last stage keeps its own copy of the
    word embedding (Megatron-LM), except with one stage, where the single copy is shared:
    then the result is ``model.total_params``.

    Args:
        model: the model.
        layers_per_stage: layer count of each stage, summing to ``model.num_layers``
            (from :mod:`ppnotes.partition`).

    Returns:
        Parameter counts (ints), one per stage.
    """
    model = _check_model(model)
    counts = _check_layer_counts(model, layers_per_stage)
    params = [n * model.params_per_layer for n in counts]
    params[0] += model.embedding_params
    params[-1] += model.head_params
    if len(counts) == 1 and model.tied_embeddings:
        params[0] -= model.vocab_size * model.hidden_size  # one shared copy, not two
    return params


# --- activations ------------------------------------------------------------------------


def activation_bytes_per_layer(
    model: ModelSpec,
    micro_batch: int,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
) -> float:
    """Activation bytes one transformer layer keeps for the backward pass, per micro-batch.

    Korthikanti et al. 2022 (arXiv 2205.05198), table 2, 16-bit activations (the
    constants already include bytes per value and 1-byte dropout masks):

    ========================================  ========================================
    configuration                             bytes per layer
    ========================================  ========================================
    no parallelism (t = 1)                    s b h (34 + 5 a s / h)
    tensor parallel                           s b h (10 + 24 / t + 5 a s / (h t))
    tensor + sequence parallel                s b h / t (34 + 5 a s / h)
    tensor parallel + selective recompute     s b h (10 + 24 / t)
    tensor + sequence + selective             s b h 34 / t
    full recomputation                        2 s b h (only the layer input)
    full recomputation + sequence parallel    2 s b h / t (input stored sharded)
    ========================================  ========================================

    With t = 1 the tensor-parallel rows reduce to the first. Selective recomputation drops
    the 5 a s / h attention term (softmax, its dropout, attention over values). Full
    recomputation keeps only the layer input. The table gives 2 s b h; with sequence
    parallelism that input is sharded over the t ranks, so we use 2 s b h / t (our
    extension: without it, full recomputation would cost more than selective for t > 17).
    Excluded, as in the paper's per-layer figure: the embedding output on the first stage
    and the logits on the last.

    Args:
        model: gives h, a and (by default) s.
        micro_batch: b.
        seq_len: s; defaults to ``model.seq_len``.
        tensor_parallel: t.
        sequence_parallel: whether sequence parallelism shards the non-TP regions.
        recompute: "none", "selective" or "full".

    Returns:
        Bytes (float). GPT-3 175B, b = 1, s = 2048, no parallelism:
        2048 * 12288 * (34 + 80) = 2,868,903,936 bytes.
    """
    model = _check_model(model)
    b = check_int("micro_batch", micro_batch)
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    t = check_int("tensor_parallel", tensor_parallel)
    sp = _check_bool("sequence_parallel", sequence_parallel)
    mode = check_choice("recompute", recompute, RECOMPUTE_CHOICES)
    h, a = model.hidden_size, model.num_heads
    sbh = s * b * h
    attention = 5 * a * s / h  # softmax output, its dropout mask, attention over values
    if mode == "full":
        return 2 * sbh / t if sp else float(2 * sbh)
    if mode == "selective":
        attention = 0.0
    if sp:
        return sbh / t * (34 + attention)
    return sbh * (10 + 24 / t + attention / t)


def activation_bytes_per_stage(
    model: ModelSpec,
    layers_on_stage: int,
    sets_in_flight: float,
    micro_batch: int,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
) -> float:
    """Peak activation bytes on one stage: sets in flight x layers x bytes per layer.

    A "set" is one micro-batch's activations for all of this stage's layers. How many
    sets a stage holds at its peak depends on the schedule: see :func:`in_flight_sets`.

    Args:
        model, micro_batch, seq_len, tensor_parallel, sequence_parallel, recompute: as in
            :func:`activation_bytes_per_layer`.
        layers_on_stage: layers on this stage.
        sets_in_flight: micro-batches whose activations are held at the peak (may be
            fractional for interleaved schedules, counted in whole-stage sets).

    Returns:
        Bytes (float).
    """
    layers = check_int("layers_on_stage", layers_on_stage, 0)
    sets = check_real("sets_in_flight", sets_in_flight)
    per_layer = activation_bytes_per_layer(
        model, micro_batch, seq_len, tensor_parallel, sequence_parallel, recompute
    )
    return sets * layers * per_layer


def _check_schedule(schedule_name: str, num_stages, num_microbatches, virtual_stages):
    name = check_choice("schedule_name", schedule_name, SCHEDULES)
    p = check_int("num_stages", num_stages)
    m = check_int("num_microbatches", num_microbatches)
    v = check_int("virtual_stages", virtual_stages)
    if v != 1 and name != "interleaved":
        raise ValueError(
            f"virtual_stages applies only to 'interleaved', got virtual_stages={v} for {name!r}"
        )
    if name == "interleaved" and v > 1 and m % p != 0:
        raise ValueError(
            f"num_microbatches must be divisible by num_stages for interleaved with "
            f"virtual_stages={v} (Megatron-LM's order), got m={m}, p={p}"
        )
    return name, p, m, v


@functools.lru_cache(maxsize=4096)
def _simulated_peaks(name: str, p: int, m: int, v: int) -> tuple[int, ...]:
    result = schedules.simulate(schedules.build_schedule(name, p, m, v))
    return tuple(int(x) for x in result.peak_activations)


def in_flight_sets(
    schedule_name: str,
    num_stages: int,
    num_microbatches: int,
    stage: int,
    virtual_stages: int = 1,
) -> int:
    """Activation sets rank ``stage`` holds at its peak, as chapter 2's simulator counts them.

    A set is one micro-batch's activations through one *stage* of the schedule: through a
    rank's layers for gpipe, 1f1b and zb-h1, through one chunk (1/v of the rank's layers) for
    interleaved, through one arm of the V (half the rank's layers) for zbv. Multiply by the
    layers per set (:func:`layers_held` does it) to get memory.

    * "gpipe": all m forwards run before any backward, so every rank holds m
      (Huang et al. 2019).
    * "1f1b": rank i (0-based) runs p - 1 - i warm-up forwards and then one more forward
      before its first backward, so it holds min(p - i, m) (Narayanan et al. 2021,
      sec. 2.2.1). Stage 0 therefore holds p sets of L / p layers: about L layers' worth,
      whatever p.
    * "forward": forward only (inference); a set is freed when its forward ends, so 1.
    * "interleaved", "zb-h1", "zbv": taken from the simulator,
      ``simulate(build_schedule(name, p, m, v)).peak_activations[stage]`` (cached). The
      tests check that they equal, for p <= 16 and m <= 64: Megatron-LM's warm-up count
      min((v - 1) p + 2 (p - 1 - i) + 1, v m) chunk sets for interleaved; min(p, m) on
      every rank for ZB-H1, whose deferred weight-gradient passes keep activations alive
      longer on later ranks (Qi et al. 2024); and min(m + 1 + i, 2 m, 2 p) half-rank sets
      for ZB-V, which is at most p ranks' worth, on every rank.

    Args:
        schedule_name: one of :data:`SCHEDULES`.
        num_stages: p (ranks).
        num_microbatches: m.
        stage: rank i, 0-based, in [0, p - 1].
        virtual_stages: v, chunks per rank ("interleaved" only; m must be divisible by p
            when v > 1).

    Returns:
        Number of sets (int).
    """
    name, p, m, v = _check_schedule(schedule_name, num_stages, num_microbatches, virtual_stages)
    i = check_int("stage", stage, 0, p - 1)
    if name == "gpipe":
        return m
    if name == "1f1b" or (name == "interleaved" and v == 1):
        return min(p - i, m)
    if name == "forward":
        return 1
    return _simulated_peaks(name, p, m, v)[i]


def chunks_per_rank(schedule_name: str, virtual_stages: int = 1) -> int:
    """Schedule stages (chunks) per rank: v for interleaved, 2 for zbv (a V), else 1."""
    name = check_choice("schedule_name", schedule_name, SCHEDULES)
    v = check_int("virtual_stages", virtual_stages)
    if v != 1 and name != "interleaved":
        raise ValueError(
            f"virtual_stages applies only to 'interleaved', got virtual_stages={v} for {name!r}"
        )
    if name == "interleaved":
        return v
    return 2 if name == "zbv" else 1


def layers_held(
    schedule_name: str,
    layers_per_stage: Sequence[int],
    num_microbatches: int,
    virtual_stages: int = 1,
) -> list[float]:
    """Layers' worth of activations each rank holds at its peak (one micro-batch per layer).

    Rank i holds :func:`in_flight_sets` sets of n_i / c layers each, where n_i is its layer
    count and c = :func:`chunks_per_rank` (the rank's chunks are taken as equal). Under 1F1B
    with m >= p and p dividing L, rank 0 holds p * L / p = L layers, whatever p.

    Args:
        schedule_name: one of :data:`SCHEDULES`.
        layers_per_stage: layer count of each rank (p = its length), e.g. from
            :func:`ppnotes.partition.balanced_split`.
        num_microbatches: m.
        virtual_stages: v (interleaved only).

    Returns:
        Layer-micro-batches (floats), one per rank; multiply by
        :func:`activation_bytes_per_layer` for bytes.
    """
    counts = _check_counts(layers_per_stage)
    p = len(counts)
    chunks = chunks_per_rank(schedule_name, virtual_stages)
    return [
        in_flight_sets(schedule_name, p, num_microbatches, i, virtual_stages) * n / chunks
        for i, n in enumerate(counts)
    ]


def note_activation_bytes(
    num_microbatches: int,
    num_stages: int,
    batch_size: int,
    seq_len: int,
    hidden_size: int,
    bytes_per_value: int = 2,
) -> float:
    """The note's activation memory per stage: (M / PP + 1) * B / M * S * H * bytes.

    Kept for comparison only. It counts one b x s x h tensor per micro-batch (ignoring the
    34 + 5 a s / h factor of a real layer and the layers on the stage) and assumes M / PP + 1
    micro-batches in flight, which shrinks as PP grows. Under 1F1B the first stage holds
    min(p, m) micro-batches of L / p layers each, about L layers' worth independent of p:
    see :func:`in_flight_sets` and :func:`activation_bytes_per_stage`.

    Args:
        num_microbatches: M.
        num_stages: PP.
        batch_size: B, sequences per step (so B / M per micro-batch).
        seq_len: S.
        hidden_size: H.
        bytes_per_value: bytes per value (the note has none; 2 for bf16).

    Returns:
        Bytes (float).
    """
    m = check_int("num_microbatches", num_microbatches)
    p = check_int("num_stages", num_stages)
    batch = check_int("batch_size", batch_size)
    s = check_int("seq_len", seq_len)
    h = check_int("hidden_size", hidden_size)
    nbytes = check_int("bytes_per_value", bytes_per_value)
    return (m / p + 1) * batch / m * s * h * nbytes


# --- KV cache ---------------------------------------------------------------------------


def kv_heads_per_gpu(model: ModelSpec, tensor_parallel: int = 1) -> int:
    """Key/value heads one GPU stores: ceil(kv_heads / t).

    With grouped-query attention and t > kv_heads, heads are replicated, so each GPU
    still holds one (as vLLM does).
    """
    model = _check_model(model)
    t = check_int("tensor_parallel", tensor_parallel)
    return math.ceil(model.num_kv_heads / t)


def kv_cache_bytes_per_token(
    model: ModelSpec, bytes_per_value: int = 2, layers: int | None = None, tensor_parallel: int = 1
) -> int:
    """KV-cache bytes per token: 2 (K and V) * layers * kv_heads * head_dim * bytes.

    Uses the key/value heads, so grouped-query attention counts (Llama 3 70B: 8 KV heads,
    not 64). With tensor parallelism, per GPU (:func:`kv_heads_per_gpu`).

    Args:
        model: the model.
        bytes_per_value: 2 for bf16/fp16 cache, 1 for fp8.
        layers: layers counted; defaults to all (``model.num_layers``).
        tensor_parallel: t.

    Returns:
        Bytes (int). Llama 3 70B, bf16: 2 * 80 * 8 * 128 * 2 = 327,680 bytes.
    """
    model = _check_model(model)
    nbytes = check_int("bytes_per_value", bytes_per_value)
    n_layers = model.num_layers if layers is None else check_int("layers", layers, 0)
    heads = kv_heads_per_gpu(model, tensor_parallel)
    return 2 * n_layers * heads * model.head_dim * nbytes


def kv_cache_bytes(
    model: ModelSpec,
    batch: int,
    context: int,
    bytes_per_value: int = 2,
    layers: int | None = None,
    tensor_parallel: int = 1,
) -> int:
    """KV-cache bytes for ``batch`` sequences of ``context`` tokens each.

    batch * context * :func:`kv_cache_bytes_per_token`.

    Returns:
        Bytes (int).
    """
    b = check_int("batch", batch)
    ctx = check_int("context", context)
    return b * ctx * kv_cache_bytes_per_token(model, bytes_per_value, layers, tensor_parallel)


def kv_cache_bytes_per_stage(
    model: ModelSpec,
    layers_per_stage: Sequence[int],
    batch: int,
    context: int,
    bytes_per_value: int = 2,
    tensor_parallel: int = 1,
) -> list[int]:
    """KV-cache bytes on each stage: each stage caches only its own layers.

    Returns:
        Bytes (ints), one per stage; they sum to :func:`kv_cache_bytes` of the model.
    """
    model = _check_model(model)
    counts = _check_layer_counts(model, layers_per_stage)
    return [
        kv_cache_bytes(model, batch, context, bytes_per_value, n, tensor_parallel) for n in counts
    ]


# --- everything per stage ---------------------------------------------------------------


def stage_memory(
    model: ModelSpec,
    layers_per_stage: Sequence[int],
    mode: str = "train",
    *,
    tensor_parallel: int = 1,
    micro_batch: int = 1,
    num_microbatches: int | None = None,
    schedule: str = "1f1b",
    virtual_stages: int = 1,
    sets_in_flight: Sequence[float] | None = None,
    seq_len: int | None = None,
    sequence_parallel: bool = False,
    recompute: str = "none",
    fp32_grads: bool = False,
    weight_precision: str = "bf16",
    batch: int = 1,
    context: int | None = None,
    kv_bytes_per_value: int = 2,
) -> list[dict[str, float]]:
    """Memory of each pipeline stage, per GPU, broken down by kind, in bytes.

    Training ("train"): weights, gradients and optimizer state at
    :func:`training_bytes_per_param` bytes per parameter, plus activations of the
    micro-batches in flight (:func:`in_flight_sets` for ``schedule``, or the counts given
    in ``sets_in_flight``, e.g. a simulator's peaks). Inference ("infer"): weights at
    ``weight_precision`` plus the KV cache of ``batch`` sequences of ``context`` tokens;
    transient inference activations are small and not counted.

    Parameters are divided evenly over the t tensor-parallel GPUs (norms are in fact
    replicated, a negligible difference). No ZeRO/FSDP sharding over data parallelism.

    Args:
        model: the model.
        layers_per_stage: layer count of each stage (sums to ``model.num_layers``).
        mode: "train" or "infer".
        tensor_parallel: t GPUs per stage.
        micro_batch, seq_len, sequence_parallel, recompute: see
            :func:`activation_bytes_per_layer` (training).
        num_microbatches: m per step (training); defaults to the number of stages.
        schedule: one of :data:`TRAINING_SCHEDULES` (training; ignored if
            ``sets_in_flight`` is given). Peaks from :func:`layers_held`.
        virtual_stages: v chunks per rank for "interleaved" (training).
        sets_in_flight: peak micro-batches held per stage, in whole-stage sets (a stage's
            layers for one micro-batch), overriding ``schedule``.
        fp32_grads: 4-byte gradients (training).
        weight_precision: "fp32", "bf16", "fp16" or "fp8" (inference).
        batch: sequences being served (inference).
        context: tokens per sequence in the cache (inference); defaults to ``model.seq_len``.
        kv_bytes_per_value: bytes per cached value (inference).

    Returns:
        One dict per stage with keys "stage", "layers", "params" (per GPU), "weights",
        "gradients", "optimizer", "activations", "kv_cache" and "total" (bytes).
    """
    model = _check_model(model)
    counts = _check_layer_counts(model, layers_per_stage)
    kind = check_choice("mode", mode, MODES)
    t = check_int("tensor_parallel", tensor_parallel)
    p = len(counts)
    params = [n / t for n in stage_params(model, counts)]

    if kind == "train":
        per_param = training_bytes_per_param(fp32_grads)
        m = p if num_microbatches is None else check_int("num_microbatches", num_microbatches)
        if sets_in_flight is None:
            check_choice("schedule", schedule, TRAINING_SCHEDULES)
            held = layers_held(schedule, counts, m, virtual_stages)
        else:
            if isinstance(sets_in_flight, (str, bytes)) or len(sets_in_flight) != p:
                raise ValueError(
                    f"sets_in_flight must list one count per stage ({p}), got {sets_in_flight!r}"
                )
            sets = [check_real(f"sets_in_flight[{i}]", x) for i, x in enumerate(sets_in_flight)]
            held = [k * n for k, n in zip(sets, counts, strict=True)]
        per_layer = activation_bytes_per_layer(
            model, micro_batch, seq_len, t, sequence_parallel, recompute
        )
        activations = [x * per_layer for x in held]
        kv = [0] * p
    else:
        per_param = {
            "weights": inference_bytes_per_param(weight_precision),
            "gradients": 0,
            "optimizer": 0,
        }
        ctx = model.seq_len if context is None else context
        kv = kv_cache_bytes_per_stage(model, counts, batch, ctx, kv_bytes_per_value, t)
        activations = [0.0] * p

    stages = []
    for i, n in enumerate(counts):
        row = {
            "stage": i,
            "layers": n,
            "params": float(params[i]),
            "weights": float(params[i] * per_param["weights"]),
            "gradients": float(params[i] * per_param["gradients"]),
            "optimizer": float(params[i] * per_param["optimizer"]),
            "activations": float(activations[i]),
            "kv_cache": float(kv[i]),
        }
        row["total"] = sum(row[k] for k in MEMORY_KINDS)
        stages.append(row)
    return stages


def fits(breakdown, gpu: GPUSpec, reserve_fraction: float = DEFAULT_RESERVE_FRACTION) -> bool:
    """Whether a stage (a dict from :func:`stage_memory`) or every stage (a list) fits.

    A stage fits if its "total" is at most (1 - reserve_fraction) of the GPU's memory;
    the reserve stands for the CUDA context, NCCL buffers and fragmentation (default 0.1,
    vLLM's default ``gpu_memory_utilization`` of 0.9).

    Args:
        breakdown: one stage's dict or a list of them.
        gpu: the GPU (its ``memory_bytes``).
        reserve_fraction: share of memory kept free, in [0, 1).

    Returns:
        ``True`` if every stage given fits.
    """
    if not isinstance(gpu, GPUSpec):
        raise ValueError(f"gpu must be a ppnotes.hardware.GPUSpec, got {gpu!r}")
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 1.0)
    if reserve == 1.0:
        raise ValueError(f"reserve_fraction must be in [0, 1), got {reserve_fraction!r}")
    rows = _check_rows(breakdown)
    budget = (1.0 - reserve) * gpu.memory_bytes
    return all(r["total"] <= budget for r in rows)


def peak_stage(breakdown) -> dict[str, float]:
    """The stage with the largest "total" in a :func:`stage_memory` breakdown (first on ties)."""
    rows = _check_rows(breakdown)
    return max(rows, key=lambda r: r["total"])


def first_last_ratio(breakdown, key: str = "total") -> float:
    """Memory of the first stage over the last, for one kind (default "total").

    Under 1F1B this is well above 1: the first stage holds p micro-batches in flight, the
    last one.
    """
    rows = _check_rows(breakdown)
    kind = check_choice("key", key, MEMORY_KINDS + ("total",))
    if rows[-1][kind] == 0:
        raise ValueError(f"the last stage's {kind!r} is 0, so the ratio is undefined")
    return rows[0][kind] / rows[-1][kind]


def _check_rows(breakdown) -> list[dict]:
    rows = [breakdown] if isinstance(breakdown, dict) else list(breakdown)
    if not rows or not all(isinstance(r, dict) and "total" in r for r in rows):
        raise ValueError(
            "breakdown must be a stage dict with a 'total' key (from stage_memory) or a "
            f"non-empty list of them, got {breakdown!r}"
        )
    return rows


def max_batch_that_fits(
    model: ModelSpec,
    layers_per_stage: Sequence[int],
    gpu: GPUSpec,
    context: int,
    *,
    tensor_parallel: int = 1,
    weight_precision: str = "bf16",
    kv_bytes_per_value: int = 2,
    reserve_fraction: float = DEFAULT_RESERVE_FRACTION,
) -> int:
    """Largest number of sequences of ``context`` tokens whose KV cache fits next to the weights.

    Inference: on every stage, weights + batch x (KV bytes per sequence of that stage) must
    stay within (1 - reserve_fraction) of the GPU's memory; the tightest stage decides.

    Returns:
        Sequences (int); 0 if even the weights do not fit.
    """
    if not isinstance(gpu, GPUSpec):
        raise ValueError(f"gpu must be a ppnotes.hardware.GPUSpec, got {gpu!r}")
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 1.0)
    if reserve == 1.0:
        raise ValueError(f"reserve_fraction must be in [0, 1), got {reserve_fraction!r}")
    budget = (1.0 - reserve) * gpu.memory_bytes
    rows = stage_memory(
        model,
        layers_per_stage,
        "infer",
        tensor_parallel=tensor_parallel,
        weight_precision=weight_precision,
        batch=1,
        context=context,
        kv_bytes_per_value=kv_bytes_per_value,
    )
    best = None
    for row in rows:
        free = budget - row["weights"]
        if free < 0:
            return 0
        if row["kv_cache"] > 0:
            n = int(free // row["kv_cache"])
            best = n if best is None else min(best, n)
    if best is None:
        raise ValueError("no stage holds a layer, so the KV cache does not bound the batch")
    return best
