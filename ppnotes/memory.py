"""Memory primitives for chapter 4: parameters, optimizer state, activations, KV cache.

All results are bytes per GPU (GiB = 2**30 bytes, GB = 10**9 bytes where converted).
Symbols: L layers, h hidden size, a attention heads, s sequence length, b micro-batch
size, p pipeline stages, m micro-batches per step, t tensor-parallel size.

The split of layers into stages comes from chapter 1 (:mod:`ppnotes.partition`); every
function here takes the layer counts as given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import partition
from ._validate import (
    MAX_BYTES_PER_VALUE,
    MAX_GPUS,
    MAX_LAYERS,
    MAX_MICROBATCHES,
    MAX_STAGES,
    WrongTypeError,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_size,
)
from .hardware import GPUSpec
from .models import ModelSpec

# Mixed-precision Adam (Rajbhandari et al. 2020, ZeRO, sec. 3.1: "16 Psi"): bf16/fp16
# weights 2 bytes, bf16/fp16 gradients 2 bytes, and fp32 master weights, momentum and
# variance, 4 + 4 + 4 = 12 bytes. Megatron-LM accumulates and all-reduces gradients in fp32
# for bf16 training (its main_grad buffers; megatron/training/arguments.py sets
# accumulate_allreduce_grads_in_fp32 for bf16 unless --grad-reduce-in-bf16), so the gradient
# takes 4 bytes and the total is 18: the book's default. Megatron-LM's distributed optimizer
# (ZeRO stage 1) shards the 12 optimizer bytes over the d data-parallel ranks and keeps the
# full weights and gradient buffer: 6 + 12 / d bytes per parameter (NVIDIA/Megatron-LM,
# docs/user-guide/features/dist_optimizer.md, formerly docs/source/distrib_optimizer.md;
# megatron/training/theoretical_memory_usage.py uses the same 18 and 6 + 12 / d).
WEIGHT_BYTES_TRAIN = 2
GRAD_BYTES = {False: 2, True: 4}  # keyed by fp32_grads
OPTIMIZER_BYTES = 12

INFERENCE_BYTES_PER_PARAM = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1}

RECOMPUTE_CHOICES = ("none", "selective", "full")
# Every schedule has a closed-form in-flight count, tested against chapter 2's simulator.
SCHEDULES = ("gpipe", "1f1b", "forward", "interleaved", "zb-h1", "zbv")
TRAINING_SCHEDULES = ("gpipe", "1f1b", "interleaved", "zb-h1", "zbv")
MODES = ("train", "infer")
MEMORY_KINDS = ("weights", "gradients", "optimizer", "activations", "kv_cache")

# Share of each GPU's memory the per-stage counts leave free. These are stated assumptions,
# not measurements.
# Training: what stage_memory does not count. The last stage's logits and their softmax in
# fp32 for the loss (see logits_bytes), NCCL communication buffers, the CUDA context and
# library workspaces (cuBLAS, cuDNN), and fragmentation in PyTorch's caching allocator.
TRAINING_RESERVE_FRACTION = 0.1
# Serving: vLLM's default gpu_memory_utilization of 0.9 leaves 10 % to the CUDA context,
# NCCL buffers, activations of the forward pass and fragmentation.
SERVING_RESERVE_FRACTION = 0.1
# fits() checks training and serving breakdowns alike; its default is the training reserve.
DEFAULT_RESERVE_FRACTION = TRAINING_RESERVE_FRACTION


def _check_model(model) -> ModelSpec:
    return check_instance("model", model, ModelSpec, "ppnotes.models.ModelSpec")


def _check_gpu(gpu) -> GPUSpec:
    return check_instance("gpu", gpu, GPUSpec, "ppnotes.hardware.GPUSpec")


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


def training_bytes_per_param(
    fp32_grads: bool = True,
    distributed_optimizer: bool = False,
    data_parallel: int = 1,
    shard_gradients: bool = False,
) -> dict[str, float]:
    """Bytes per parameter per GPU for mixed-precision (bf16) Adam training, by kind.

    * ``fp32_grads=True`` (default, Megatron-LM's bf16 training): 2 (bf16 weights) + 4 (fp32
      gradients, main_grad) + 12 (fp32 master weights, momentum, variance) = 18.
    * ``fp32_grads=False``: 2-byte gradients, 16 in all, the "16 Psi" of the ZeRO paper
      (Rajbhandari et al. 2020, sec. 3.1).
    * ``distributed_optimizer=True`` (ZeRO stage 1, Megatron-LM's distributed optimizer): the
      12 optimizer bytes are sharded over the d data-parallel ranks, 12 / d each; weights and
      gradients stay whole. 6 + 12 / d with fp32 gradients, the value in Megatron-LM's
      docs/user-guide/features/dist_optimizer.md (4 + 12 / d with bf16 gradients).
    * ``shard_gradients=True`` (ZeRO stage 2, and FSDP as Llama 3 used it): the gradients are
      sharded over the d ranks too, 4 / d (or 2 / d) each. Dubey et al. 2024 (sec. 3.3.2):
      "Our use of FSDP for Llama 3 shards optimizer states and gradients, but for model shards
      we do not reshard after forward computation", so the bf16 weights stay whole (2 bytes)
      and the total is 2 + 16 / d with fp32 gradients. A rank that holds only its gradient
      shard cannot accumulate micro-batches into a full gradient: ZeRO-2 reduce-scatters after
      every micro-batch's backward (:func:`ppnotes.perf_model.sharding_bytes_per_step`), a
      cost this memory count does not charge.

    Args:
        fp32_grads: 4-byte (fp32) gradients instead of 2-byte ones.
        distributed_optimizer: shard the optimizer state over data parallelism.
        data_parallel: d, the data-parallel ranks sharing the optimizer state (used only
            with ``distributed_optimizer``) and the gradients (``shard_gradients``).
        shard_gradients: shard the gradients over data parallelism too (ZeRO-2, FSDP).

    Returns:
        ``{"weights": ..., "gradients": ..., "optimizer": ...}`` in bytes (floats).
    """
    fp32 = check_bool("fp32_grads", fp32_grads)
    sharded = check_bool("distributed_optimizer", distributed_optimizer)
    d = check_int("data_parallel", data_parallel)
    grads_sharded = check_bool("shard_gradients", shard_gradients)
    return {
        "weights": float(WEIGHT_BYTES_TRAIN),
        "gradients": GRAD_BYTES[fp32] / d if grads_sharded else float(GRAD_BYTES[fp32]),
        "optimizer": OPTIMIZER_BYTES / d if sharded else float(OPTIMIZER_BYTES),
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


def sharded_activation_units(model: ModelSpec) -> float:
    """The tensor-parallel-sharded part of a layer's stored activations, in units of s b h
    bytes (2-byte values), as :func:`activation_bytes_per_layer` counts it.

    Q and the attention output keep 2 + 2; K and V 2 a_kv / a each (a_kv key/value heads of
    a, fewer under grouped-query attention); the MLP 4 f / h with GeLU (its input and output,
    Korthikanti et al. 2022) or 6 f / h when gated (SwiGLU): Megatron-LM's fused SwiGLU saves
    its 2f-wide input and recomputes the rest (``megatron/core/fusions/fused_bias_swiglu.py``),
    and the down projection saves its f-wide input.

    Returns:
        Units of s b h bytes: 24 for GPT-3 (a_kv = a, f = 4 h, GeLU); 25.5 for Llama 3 70B
        (a_kv = 8 of 64, f = 3.5 h, gated); 23.75 for Llama 3.1 405B (8 of 128, f = 3.25 h).
    """
    model = _check_model(model)
    attention = 4 + 4 * model.num_kv_heads / model.num_heads
    gated = model.mlp_matrices == 3
    mlp = (6 if gated else 4) * model.ffn_hidden_size / model.hidden_size
    return attention + mlp


def activation_bytes_per_layer(
    model: ModelSpec,
    micro_batch: int,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
    flash_attention: bool = True,
    dropout: bool = False,
) -> float:
    """Activation bytes one transformer layer keeps for the backward pass, per micro-batch.

    The accounting is Korthikanti et al. 2022 (arXiv 2205.05198), sec. 4.1, for 16-bit
    activations (2 bytes a value) and 1-byte dropout masks, in units of s b h bytes:

    * kept whole on every tensor-parallel rank (sharded only by sequence parallelism):
      the two LayerNorm inputs (4), the inputs of the QKV and first MLP linear layers
      (2 + 2) and the two residual dropout masks (1 + 1): 10;
    * sharded by tensor parallelism: Q and K (4), V (2), the attention output that feeds the
      output projection (2), the GeLU input (8) and output (8): 24;
    * the attention core, sharded by tensor parallelism: the softmax output (2 a s / h),
      its dropout mask (a s / h) and the dropout output (2 a s / h): 5 a s / h, i.e.
      5 a s^2 b bytes.

    That gives their table 2, the historical reference (``flash_attention=False,
    dropout=True``):

    ========================================  ========================================
    configuration                             bytes per layer
    ========================================  ========================================
    no parallelism (t = 1)                    s b h (34 + 5 a s / h)
    tensor parallel                           s b h (10 + 24 / t + 5 a s / (h t))
    tensor + sequence parallel                s b h / t (34 + 5 a s / h)
    tensor parallel + selective recompute     s b h (10 + 24 / t)
    tensor + sequence + selective             s b h 34 / t
    full recomputation                        2 s b h (only the layer input)
    ========================================  ========================================

    The baseline people run today (the default) is FlashAttention without dropout.
    FlashAttention (Dao et al. 2022, arXiv 2205.14135, sec. 3.1) never writes the a s^2 b
    scores, softmax or dropout tensors to memory: its backward recomputes them from Q, K, V,
    the output and the softmax statistics, and regenerates the dropout mask from the saved
    random-number state. The flash-attn library saves q, k, v, out, softmax_lse and
    rng_state (flash_attn/flash_attn_interface.py): the only new tensor is the log-sum-exp,
    one fp32 value per query row and head, 4 a s b bytes (4 a / h in units of s b h). So:

    * ``flash_attention=True``: the 5 a s / h term becomes 4 a / h (with or without dropout).
    * ``dropout=False``: the two 1-byte residual dropout masks go (10 becomes 8); without
      FlashAttention the attention core keeps only the softmax output, 2 a s / h.

    FlashAttention without dropout: s b h (8 + 24 / t) + 4 a s b / t, and s b h 32 / t +
    4 a s b / t with sequence parallelism.

    Selective recomputation (Korthikanti et al.) recomputes the attention core, so it drops
    the attention-core term: 5 a s / h, 2 a s / h, or only the log-sum-exp under
    FlashAttention, which has already removed the large part. Full recomputation keeps only
    the layer input, 2 s b h; with sequence parallelism that input is sharded over the t
    ranks, so we use 2 s b h / t (our extension: without it, full recomputation would cost
    more than selective for large t). Excluded, as in the paper's per-layer figure: the
    embedding output on the first stage and the logits on the last (:func:`logits_bytes`).

    The sharded 24 is for the GPT layer the paper counts: multi-head attention and a GeLU MLP
    of width f = 4h. It follows the layer's shape (:func:`sharded_activation_units`): K and V
    shrink with grouped-query attention, and a gated MLP (SwiGLU) keeps 6 f / h where a GeLU
    MLP keeps 4 f / h. GPT-3: 24; Llama 3 70B: 25.5; Llama 3.1 405B: 23.75.

    Args:
        model: gives h, a and (by default) s.
        micro_batch: b.
        seq_len: s; defaults to ``model.seq_len``.
        tensor_parallel: t.
        sequence_parallel: whether sequence parallelism shards the non-TP regions.
        recompute: "none", "selective" or "full".
        flash_attention: FlashAttention (no stored scores, softmax or dropout tensors).
        dropout: whether the model trains with dropout (current LLMs do not).

    Returns:
        Bytes (float). GPT-3 175B, b = 1, s = 2048, t = 1: 2048 * 12288 * 32 + 4 * 96 * 2048
        = 806,092,800 bytes with FlashAttention and no dropout; 2048 * 12288 * (34 + 80) =
        2,868,903,936 bytes in Korthikanti et al.'s setting.
    """
    model = _check_model(model)
    b = check_int("micro_batch", micro_batch)
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    sp = check_bool("sequence_parallel", sequence_parallel)
    mode = check_choice("recompute", recompute, RECOMPUTE_CHOICES)
    flash = check_bool("flash_attention", flash_attention)
    drop = check_bool("dropout", dropout)
    h, a = model.hidden_size, model.num_heads
    sbh = s * b * h
    if mode == "full":
        return 2 * sbh / t if sp else float(2 * sbh)
    replicated = 10 if drop else 8  # norms 4, linear inputs 4, residual dropout masks 2
    sharded = sharded_activation_units(model)  # Q, K, V, attention output, inside the MLP
    # FlashAttention: an fp32 log-sum-exp per query row and head. Otherwise: the softmax
    # output, plus its dropout mask and dropout output with dropout.
    core = 4 * a / h if flash else (5 if drop else 2) * a * s / h
    if mode == "selective":
        core = 0.0
    if sp:
        return sbh / t * (replicated + sharded + core)
    return sbh * (replicated + (sharded + core) / t)


def logits_bytes(
    model: ModelSpec,
    micro_batch: int,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    bytes_per_value: int = 4,
) -> float:
    """Bytes of one micro-batch's logits on the last stage: s b V bytes / t.

    Megatron-LM computes the loss from the logits in fp32 (4 bytes), split over the t ranks
    by its vocabulary-parallel cross-entropy. Not counted by :func:`stage_memory`: it is one
    of the things the training reserve (:data:`TRAINING_RESERVE_FRACTION`) stands for.

    Returns:
        Bytes (float). GPT-3 175B, b = 1, t = 8: 2048 * 50257 * 4 / 8 = 51,463,168 bytes.
    """
    model = _check_model(model)
    b = check_int("micro_batch", micro_batch)
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    nbytes = check_size("bytes_per_value", bytes_per_value, MAX_BYTES_PER_VALUE)
    return s * b * model.vocab_size * nbytes / t


def activation_bytes_per_stage(
    model: ModelSpec,
    layers_on_stage: int,
    sets_in_flight: float,
    micro_batch: int,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    recompute: str = "none",
    flash_attention: bool = True,
    dropout: bool = False,
) -> float:
    """Peak activation bytes on one stage: sets in flight x layers x bytes per layer.

    A "set" is one micro-batch's activations for all of this stage's layers. How many
    sets a stage holds at its peak depends on the schedule: see :func:`in_flight_sets`.

    Args:
        model, micro_batch, seq_len, tensor_parallel, sequence_parallel, recompute,
            flash_attention, dropout: as in :func:`activation_bytes_per_layer`.
        layers_on_stage: layers on this stage.
        sets_in_flight: micro-batches whose activations are held at the peak (may be
            fractional for interleaved schedules, counted in whole-stage sets).

    Returns:
        Bytes (float).
    """
    layers = check_size("layers_on_stage", layers_on_stage, MAX_LAYERS, minimum=0)
    sets = check_real("sets_in_flight", sets_in_flight, maximum=MAX_MICROBATCHES)
    per_layer = activation_bytes_per_layer(
        model,
        micro_batch,
        seq_len,
        tensor_parallel,
        sequence_parallel,
        recompute,
        flash_attention,
        dropout,
    )
    return sets * layers * per_layer


def _check_schedule(schedule_name: str, num_stages, num_microbatches, virtual_stages):
    name = check_choice("schedule_name", schedule_name, SCHEDULES)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    m = check_size("num_microbatches", num_microbatches, MAX_MICROBATCHES)
    v = check_size("virtual_stages", virtual_stages, MAX_STAGES)
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
    * "interleaved": Megatron-LM's warm-up count, min((v - 1) p + 2 (p - 1 - i) + 1, v m)
      chunk sets.
    * "zb-h1": min(p, m) on every rank: the deferred weight-gradient passes keep activations
      alive longer on later ranks (Qi et al. 2024).
    * "zbv": min(m + 1 + i, 2 m, 2 p) half-rank sets, at most p ranks' worth, on every rank.

    These closed forms are what chapter 2's simulator counts,
    ``simulate(build_schedule(name, p, m, v)).peak_activations[stage]``: the tests compare
    them for p up to 32 and m up to 128. Closed forms keep the chapter 7 planner fast; the
    simulator remains the reference.

    For ZB-H1 and ZB-V these counts are an upper bound on the stored activations. The
    simulator frees a micro-batch's set only when its weight-gradient pass W ends, and counts
    the whole set until then. But W computes each weight gradient from the input of that
    linear layer and the gradient at its output (Qi et al. 2024 split the backward pass this
    way); the tensors only the input-gradient pass B uses (the norm inputs, the attention
    core, the GeLU input) can be freed when B ends. So a deferred W holds less than a full
    set, and the true activation peaks lie below these counts. (The output gradients W waits
    for are not activations and are counted by neither.)

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
    if name == "interleaved":
        return min((v - 1) * p + 2 * (p - 1 - i) + 1, v * m)
    if name == "zb-h1":
        return min(p, m)
    return min(m + 1 + i, 2 * m, 2 * p)  # zbv


def chunks_per_rank(schedule_name: str, virtual_stages: int = 1) -> int:
    """Schedule stages (chunks) per rank: v for interleaved, 2 for zbv (a V), else 1."""
    name = check_choice("schedule_name", schedule_name, SCHEDULES)
    v = check_size("virtual_stages", virtual_stages, MAX_STAGES)
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
    m = check_size("num_microbatches", num_microbatches, MAX_MICROBATCHES)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    batch = check_int("batch_size", batch_size)
    s = check_int("seq_len", seq_len)
    h = check_int("hidden_size", hidden_size)
    nbytes = check_size("bytes_per_value", bytes_per_value, MAX_BYTES_PER_VALUE)
    return (m / p + 1) * batch / m * s * h * nbytes


# --- KV cache ---------------------------------------------------------------------------


def kv_heads_per_gpu(model: ModelSpec, tensor_parallel: int = 1) -> int:
    """Key/value heads one GPU stores: ceil(kv_heads / t).

    With grouped-query attention and t > kv_heads, heads are replicated, so each GPU
    still holds one (as vLLM does).
    """
    model = _check_model(model)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
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
    nbytes = check_size("bytes_per_value", bytes_per_value, MAX_BYTES_PER_VALUE)
    n_layers = model.num_layers if layers is None else check_size("layers", layers, MAX_LAYERS, 0)
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
    fp32_grads: bool = True,
    distributed_optimizer: bool = False,
    data_parallel: int = 1,
    shard_gradients: bool = False,
    flash_attention: bool = True,
    dropout: bool = False,
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
    replicated, a negligible difference). The optimizer state is sharded over the d
    data-parallel ranks only with ``distributed_optimizer=True`` (ZeRO stage 1), the
    gradients only with ``shard_gradients=True`` (ZeRO stage 2, Llama 3's FSDP); the bf16
    weights are never sharded (no ZeRO-3: Llama 3 keeps them whole from forward to backward).

    Defaults describe the baseline people run (bf16 with fp32 gradients, 18 bytes per
    parameter; FlashAttention; no dropout); set ``fp32_grads=False``,
    ``flash_attention=False`` and ``dropout=True`` for Korthikanti et al.'s 2022 setting.

    Args:
        model: the model.
        layers_per_stage: layer count of each stage (sums to ``model.num_layers``).
        mode: "train" or "infer".
        tensor_parallel: t GPUs per stage.
        micro_batch, seq_len, sequence_parallel, recompute, flash_attention, dropout: see
            :func:`activation_bytes_per_layer` (training).
        num_microbatches: m per step (training); defaults to the number of stages.
        schedule: one of :data:`TRAINING_SCHEDULES` (training; ignored if
            ``sets_in_flight`` is given). Peaks from :func:`layers_held`.
        virtual_stages: v chunks per rank for "interleaved" (training).
        sets_in_flight: peak micro-batches held per stage, in whole-stage sets (a stage's
            layers for one micro-batch), overriding ``schedule``.
        fp32_grads, distributed_optimizer, data_parallel, shard_gradients: bytes per
            parameter, see :func:`training_bytes_per_param` (training).
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
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    p = len(counts)
    params = [n / t for n in stage_params(model, counts)]
    # Every argument is checked in both modes, so a typo in one the mode ignores still shows.
    train_bytes = training_bytes_per_param(
        fp32_grads, distributed_optimizer, data_parallel, shard_gradients
    )
    per_layer = activation_bytes_per_layer(
        model, micro_batch, seq_len, t, sequence_parallel, recompute, flash_attention, dropout
    )
    if num_microbatches is None:
        m = p
    else:
        m = check_size("num_microbatches", num_microbatches, MAX_MICROBATCHES)
    check_choice("schedule", schedule, TRAINING_SCHEDULES)
    check_size("virtual_stages", virtual_stages, MAX_STAGES)
    if sets_in_flight is not None:
        if (
            isinstance(sets_in_flight, str | bytes)
            or not isinstance(sets_in_flight, Sequence)
            or len(sets_in_flight) != p
        ):
            raise ValueError(
                f"sets_in_flight must list one count per stage ({p}), got {sets_in_flight!r}"
            )
        sets = [
            check_real(f"sets_in_flight[{i}]", x, maximum=MAX_MICROBATCHES)
            for i, x in enumerate(sets_in_flight)
        ]
    weight_bytes = inference_bytes_per_param(weight_precision)
    b = check_int("batch", batch)
    ctx = model.seq_len if context is None else check_int("context", context)
    kv_nbytes = check_size("kv_bytes_per_value", kv_bytes_per_value, MAX_BYTES_PER_VALUE)

    if kind == "train":
        per_param = train_bytes
        if sets_in_flight is None:
            held = layers_held(schedule, counts, m, virtual_stages)
        else:
            held = [k * n for k, n in zip(sets, counts, strict=True)]
        activations = [x * per_layer for x in held]
        kv = [0] * p
    else:
        per_param = {"weights": weight_bytes, "gradients": 0, "optimizer": 0}
        kv = kv_cache_bytes_per_stage(model, counts, b, ctx, kv_nbytes, t)
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

    A stage fits if its "total" is at most (1 - reserve_fraction) of the GPU's memory.
    The default, :data:`TRAINING_RESERVE_FRACTION` = 0.1, is an assumption standing for what
    the breakdown leaves out in training: the last stage's fp32 logits
    (:func:`logits_bytes`), NCCL buffers, the CUDA context and workspaces, and allocator
    fragmentation. For serving breakdowns pass :data:`SERVING_RESERVE_FRACTION`.

    Args:
        breakdown: one stage's dict or a list of them.
        gpu: the GPU (its ``memory_bytes``).
        reserve_fraction: share of memory kept free, in [0, 1).

    Returns:
        ``True`` if every stage given fits.
    """
    _check_gpu(gpu)
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
    if isinstance(breakdown, dict):
        rows = [breakdown]
    elif isinstance(breakdown, Sequence) and not isinstance(breakdown, str | bytes):
        rows = list(breakdown)
    else:
        raise WrongTypeError(
            "breakdown must be a stage dict with a 'total' key (from stage_memory) or a "
            f"non-empty list of them, got {breakdown!r}"
        )
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
    reserve_fraction: float = SERVING_RESERVE_FRACTION,
) -> int:
    """Largest number of sequences of ``context`` tokens whose KV cache fits next to the weights.

    Inference: on every stage, weights + batch x (KV bytes per sequence of that stage) must
    stay within (1 - reserve_fraction) of the GPU's memory (default
    :data:`SERVING_RESERVE_FRACTION`); the tightest stage decides. A sequence's cache is
    spread over all stages, so this is the number of sequences one pipeline replica holds.

    Returns:
        Sequences (int); 0 if even the weights do not fit.
    """
    _check_gpu(gpu)
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 1.0)
    if reserve == 1.0:
        raise ValueError(f"reserve_fraction must be in [0, 1), got {reserve_fraction!r}")
    context = check_int("context", context)
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


def kv_capacity_same_gpus(
    model: ModelSpec,
    gpu: GPUSpec,
    context: int,
    num_stages: int,
    num_gpus: int,
    *,
    tensor_parallel: int = 1,
    weight_precision: str = "bf16",
    kv_bytes_per_value: int = 2,
    reserve_fraction: float = SERVING_RESERVE_FRACTION,
) -> dict[str, int]:
    """Sequences whose KV cache fits on ``num_gpus`` GPUs used as p-stage pipeline replicas.

    A fair comparison of depths for serving holds the GPU count fixed: ``num_gpus`` GPUs run
    d = num_gpus / (t p) data-parallel replicas of a pipeline of p stages (layers split by
    :func:`ppnotes.partition.balanced_split`), each holding :func:`max_batch_that_fits`
    sequences. A deeper pipeline stores one copy of the weights where the replicas store d,
    so it leaves more memory to the cache; the replicas, in exchange, serve d batches
    independently and add no pipeline hops.

    Args:
        model, gpu, context, tensor_parallel, weight_precision, kv_bytes_per_value,
            reserve_fraction: as in :func:`max_batch_that_fits`.
        num_stages: p.
        num_gpus: GPUs in all; must be a multiple of t p.

    Returns:
        ``{"stages": p, "replicas": d, "per_replica": n, "sequences": d * n}`` (ints).
    """
    p = check_size("num_stages", num_stages, MAX_STAGES)
    n_gpus = check_int("num_gpus", num_gpus)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    if n_gpus % (t * p) != 0:
        raise ValueError(
            f"num_gpus must be a multiple of tensor_parallel x num_stages = {t * p}, got {n_gpus}"
        )
    model = _check_model(model)
    per_replica = max_batch_that_fits(
        model,
        partition.balanced_split(model.num_layers, p),
        gpu,
        context,
        tensor_parallel=t,
        weight_precision=weight_precision,
        kv_bytes_per_value=kv_bytes_per_value,
        reserve_fraction=reserve_fraction,
    )
    replicas = n_gpus // (t * p)
    return {
        "stages": p,
        "replicas": replicas,
        "per_replica": per_replica,
        "sequences": replicas * per_replica,
    }
