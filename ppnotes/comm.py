"""Communication primitives for chapter 3: bytes per hop, link time, TP all-reduce.

Symbols: b micro-batch size (sequences), s sequence length (tokens), h hidden size,
p pipeline stages, t tensor-parallel size, v model chunks per device (interleaving).
Bytes are bytes, times are seconds, bandwidths bytes/s per direction (see
:mod:`ppnotes.hardware`).

A pipeline stage boundary carries the activation tensor of one micro-batch, b x s x h
values, forward, and its gradient, the same size, backward (Narayanan et al. 2021,
sec. 2.2 and 4.1). Each boundary is its own link: the note's model, which divides all
the traffic by one link's bandwidth, is kept here under its own name for comparison.
"""

from __future__ import annotations

import numbers

from ._validate import check_int, check_real
from .hardware import GPUSpec, LinkSpec, get_link
from .models import ModelSpec

# TODO(schedules): the time communication adds to a step depends on which transfers lie
# on the critical path, which depends on the schedule (GPipe: only the fill and drain hops;
# 1F1B: each steady-state cycle may wait for a round trip unless sends overlap compute).
# Once ppnotes.schedules can simulate a schedule with a hop time, add here:
#   critical_path_comm_time(schedule, p, m, t_f, t_b, t_hop) -> seconds on the critical path
#   exposed_comm_fraction(schedule, p, m, t_f, t_b, t_hop) -> that over the step time
# built on ppnotes.schedules.simulate(...), not on a closed form of our own.

# Megatron-LM all-reduces the layer output twice per layer in the forward pass (after
# attention and after the MLP) and twice in the backward pass (Shoeybi et al. 2019, fig. 4).
TP_ALLREDUCES_PER_LAYER_FORWARD = 2
TP_ALLREDUCES_PER_LAYER_TRAINING = 4

# Megatron-LM reached 163 TFLOP/s per A100 on GPT-3 175B, 52% of the 312 TFLOP/s peak
# (Narayanan et al. 2021, table 1): a realistic default for model FLOP utilisation.
DEFAULT_UTILISATION = 0.5


def _hidden_size(model_or_hidden) -> int:
    """Hidden size h of a ModelSpec, or the integer itself."""
    if isinstance(model_or_hidden, ModelSpec):
        return model_or_hidden.hidden_size
    return check_int("hidden_size", model_or_hidden)


def _seq_len(model_or_hidden, seq_len) -> int:
    """The given sequence length, or the model's training context if None."""
    if seq_len is None:
        if isinstance(model_or_hidden, ModelSpec):
            return model_or_hidden.seq_len
        raise ValueError("seq_len must be given (an integer >= 1) when a hidden size is passed")
    return check_int("seq_len", seq_len)


def _check_model(model) -> ModelSpec:
    if not isinstance(model, ModelSpec):
        raise ValueError(f"model must be a ppnotes.models.ModelSpec, got {model!r}")
    return model


def _link(link) -> LinkSpec:
    """Accept a LinkSpec or the name of a preset."""
    if isinstance(link, LinkSpec):
        return link
    if isinstance(link, str):
        return get_link(link)
    raise ValueError(f"link must be a LinkSpec or a preset name, got {link!r}")


def _bandwidth(link_or_bandwidth, achievable: bool) -> float:
    """Bytes/s from a LinkSpec, a preset name, or a number of bytes/s."""
    if isinstance(link_or_bandwidth, numbers.Real) and not isinstance(link_or_bandwidth, bool):
        return check_real("bandwidth", link_or_bandwidth, strict=True)
    return _link(link_or_bandwidth).bandwidth(achievable)


def activation_bytes_per_hop(
    model_or_hidden, micro_batch: int, seq_len: int | None = None, bytes_per_value: int = 2
) -> int:
    """Bytes one micro-batch's activations carry across one stage boundary, forward.

    b * s * h * bytes_per_value (Narayanan et al. 2021, sec. 4.1).

    Args:
        model_or_hidden: a :class:`~ppnotes.models.ModelSpec` or the hidden size h.
        micro_batch: b, sequences per micro-batch.
        seq_len: s, tokens per sequence; defaults to the model's training context.
        bytes_per_value: 2 for bf16/fp16 activations, 4 for fp32, 1 for fp8.

    Returns:
        Bytes (int). GPT-3 175B, s = 2048, b = 1, 16-bit: 50,331,648 bytes (48 MiB).
    """
    h = _hidden_size(model_or_hidden)
    s = _seq_len(model_or_hidden, seq_len)
    b = check_int("micro_batch", micro_batch)
    nbytes = check_int("bytes_per_value", bytes_per_value)
    return b * s * h * nbytes


def training_bytes_per_hop(
    model_or_hidden,
    micro_batch: int,
    seq_len: int | None = None,
    bytes_per_value: int = 2,
    interleave: int = 1,
) -> int:
    """Bytes one micro-batch sends over one device boundary in a training step.

    The forward activations go one way and their gradients, the same size, come back:
    2 * b * s * h * bytes. With interleaved 1F1B and v model chunks per device, each
    micro-batch crosses each device boundary v times in each direction, so the traffic is
    v times larger (Narayanan et al. 2021, sec. 2.2.2; the last device sends one fewer
    chunk forward, which we ignore as they do).

    Args:
        model_or_hidden, micro_batch, seq_len, bytes_per_value: as in
            :func:`activation_bytes_per_hop`.
        interleave: v, model chunks per device (1 = no interleaving).

    Returns:
        Bytes (int), forward plus backward.
    """
    v = check_int("interleave", interleave)
    return 2 * v * activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)


def per_nic_bytes(
    model_or_hidden,
    micro_batch: int,
    seq_len: int | None = None,
    bytes_per_value: int = 2,
    tensor_parallel: int = 1,
    scatter_gather: bool = True,
) -> float:
    """Bytes each network card sends for one micro-batch over one stage boundary, forward.

    With tensor parallelism t, every TP rank of a stage holds the full b x s x h output.
    Sent naively, each of the t cards carries all of it. Megatron-LM's scatter/gather
    optimisation splits it into t slices, each rank sends its slice over its own card,
    and the receiving stage all-gathers them over NVLink: b * s * h / t per card
    (Narayanan et al. 2021, sec. 4.1).

    Args:
        model_or_hidden, micro_batch, seq_len, bytes_per_value: as in
            :func:`activation_bytes_per_hop`.
        tensor_parallel: t, GPUs (and cards) per stage.
        scatter_gather: whether the optimisation is on.

    Returns:
        Bytes per card (float). Double it for a training step (gradients come back).
    """
    t = check_int("tensor_parallel", tensor_parallel)
    if not isinstance(scatter_gather, bool):
        raise ValueError(f"scatter_gather must be True or False, got {scatter_gather!r}")
    full = activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)
    return full / t if scatter_gather else float(full)


def transfer_time(nbytes: float, link, achievable: bool = True) -> float:
    """Seconds to send ``nbytes`` over one link: latency + bytes / bandwidth (alpha-beta).

    Args:
        nbytes: message size, bytes (>= 0).
        link: a :class:`~ppnotes.hardware.LinkSpec` or a preset name ("NVLink 4", ...).
        achievable: use the measured bandwidth where published (else the vendor peak per
            direction, see :meth:`LinkSpec.bandwidth`).

    Returns:
        Seconds (float).
    """
    size = check_real("nbytes", nbytes)
    spec = _link(link)
    return spec.latency + size / spec.bandwidth(achievable)


def note_total_traffic(
    num_stages: int, batch_size: int, seq_len: int, hidden_size: int, bytes_per_value: int = 2
) -> int:
    """The note's total forward traffic of one batch: (p - 1) * B * s * h * bytes.

    Every one of the B sequences crosses each of the p - 1 boundaries once. As a *volume*
    this is right; the note's mistake is what it does next (:func:`note_comm_time`).

    Args:
        num_stages: p.
        batch_size: B, sequences in the whole batch (all micro-batches).
        seq_len: s.
        hidden_size: h.
        bytes_per_value: bytes per activation value.

    Returns:
        Bytes (int).
    """
    p = check_int("num_stages", num_stages)
    batch = check_int("batch_size", batch_size)
    s = check_int("seq_len", seq_len)
    h = check_int("hidden_size", hidden_size)
    nbytes = check_int("bytes_per_value", bytes_per_value)
    return (p - 1) * batch * s * h * nbytes


def note_comm_time(
    num_stages: int,
    batch_size: int,
    seq_len: int,
    hidden_size: int,
    link,
    bytes_per_value: int = 2,
    achievable: bool = True,
) -> float:
    """The note's communication time: total traffic divided by ONE link's bandwidth.

    (p - 1) * B * s * h * bytes / bandwidth, as if all p - 1 boundaries shared a single
    link and nothing overlapped compute. In a real pipeline each boundary is its own link
    and transfers run in parallel, so this overstates the time by up to p - 1; what
    counts is the traffic on the critical path, which depends on the schedule.

    Args:
        num_stages, batch_size, seq_len, hidden_size, bytes_per_value: as in
            :func:`note_total_traffic`.
        link: a LinkSpec, a preset name, or a bandwidth in bytes/s.
        achievable: for a LinkSpec, use the measured bandwidth where published.

    Returns:
        Seconds (float). No latency term: the note has none.
    """
    total = note_total_traffic(num_stages, batch_size, seq_len, hidden_size, bytes_per_value)
    return total / _bandwidth(link, achievable)


def ring_allreduce_time(
    nbytes: float, tensor_parallel: int, link, achievable: bool = True
) -> float:
    """Seconds for a ring all-reduce of ``nbytes`` over t GPUs.

    2 (t - 1) / t * nbytes / bandwidth + 2 (t - 1) * latency: each rank sends and receives
    2 (t - 1) chunks of nbytes / t (reduce-scatter then all-gather), one step after another
    (nccl-tests PERFORMANCE.md). t = 1 costs nothing.

    Args:
        nbytes: size of the tensor being reduced, bytes (>= 0).
        tensor_parallel: t, GPUs in the ring.
        link: a LinkSpec or preset name (the per-GPU link, usually NVLink).
        achievable: use the measured bandwidth where published.

    Returns:
        Seconds (float).
    """
    size = check_real("nbytes", nbytes)
    t = check_int("tensor_parallel", tensor_parallel)
    spec = _link(link)
    steps = 2 * (t - 1)
    return steps / t * size / spec.bandwidth(achievable) + steps * spec.latency


def tp_allreduce_bytes_per_layer(
    model_or_hidden,
    micro_batch: int,
    seq_len: int | None = None,
    bytes_per_value: int = 2,
    training: bool = False,
) -> int:
    """Bytes of all-reduce payload per layer per micro-batch under Megatron-LM TP.

    Two all-reduces of the b x s x h layer output in the forward pass, two more in the
    backward pass (Shoeybi et al. 2019; Korthikanti et al. 2022, sec. 4.2.2). This is the
    size of the tensors reduced, not the bytes on the wire (see
    :func:`ring_allreduce_time` for the 2 (t - 1) / t factor).

    Args:
        model_or_hidden, micro_batch, seq_len, bytes_per_value: as in
            :func:`activation_bytes_per_hop`.
        training: count the backward all-reduces too (4 instead of 2).

    Returns:
        Bytes (int).
    """
    count = TP_ALLREDUCES_PER_LAYER_TRAINING if training else TP_ALLREDUCES_PER_LAYER_FORWARD
    return count * activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)


def tp_comm_time_per_layer(
    model_or_hidden,
    micro_batch: int,
    tensor_parallel: int,
    link,
    seq_len: int | None = None,
    bytes_per_value: int = 2,
    training: bool = False,
    achievable: bool = True,
) -> float:
    """Seconds of TP all-reduce per layer per micro-batch (not overlapped with compute).

    (2 or 4) x :func:`ring_allreduce_time` of b * s * h * bytes. Zero for t = 1.

    Returns:
        Seconds (float).
    """
    count = TP_ALLREDUCES_PER_LAYER_TRAINING if training else TP_ALLREDUCES_PER_LAYER_FORWARD
    size = activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)
    return count * ring_allreduce_time(size, tensor_parallel, link, achievable)


def layer_forward_flops(model: ModelSpec, micro_batch: int, seq_len: int | None = None) -> float:
    """Forward FLOPs of one transformer layer for one micro-batch.

    b * s * (2 * params_per_layer + 4 * s * h): the matrix multiplies plus attention
    scores and values, 2 FLOPs per multiply-add (Narayanan et al. 2021, eq. 3). Equals
    ``model.layer_flops_per_token * b * s`` at the model's own context length.

    Returns:
        FLOPs (float).
    """
    model = _check_model(model)
    b = check_int("micro_batch", micro_batch)
    s = _seq_len(model, seq_len)
    return float(b * s * (2 * model.params_per_layer + 4 * s * model.hidden_size))


def stage_compute_time(
    model: ModelSpec,
    layers_on_stage: int,
    micro_batch: int,
    gpu: GPUSpec,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    utilisation: float = DEFAULT_UTILISATION,
) -> float:
    """Seconds one stage needs for the forward pass of one micro-batch.

    layers * :func:`layer_forward_flops` / (t * GPU dense BF16 FLOP/s * utilisation).

    Args:
        model: the model.
        layers_on_stage: transformer layers on this stage.
        micro_batch: b.
        gpu: the GPU (its ``bf16_flops``).
        seq_len: s; defaults to the model's training context.
        tensor_parallel: t GPUs share the stage's work.
        utilisation: achieved fraction of peak, in (0, 1]; default 0.5 from Megatron-LM's
            52% on GPT-3 175B (Narayanan et al. 2021).

    Returns:
        Seconds (float). Backward is about twice this (see :func:`compute_to_comm_ratio`).
    """
    layers = check_int("layers_on_stage", layers_on_stage)
    t = check_int("tensor_parallel", tensor_parallel)
    u = check_real("utilisation", utilisation, 0.0, 1.0, strict=True)
    if not isinstance(gpu, GPUSpec):
        raise ValueError(f"gpu must be a ppnotes.hardware.GPUSpec, got {gpu!r}")
    flops = layers * layer_forward_flops(model, micro_batch, seq_len)
    return flops / (t * gpu.bf16_flops * u)


def compute_to_comm_ratio(
    model: ModelSpec,
    layers_on_stage: int,
    micro_batch: int,
    gpu: GPUSpec,
    link,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    scatter_gather: bool = True,
    utilisation: float = DEFAULT_UTILISATION,
    bytes_per_value: int = 2,
    training: bool = False,
    achievable: bool = True,
) -> float:
    """A stage's compute time for one micro-batch over the time of its hop to the next stage.

    Compute: :func:`stage_compute_time` (x3 in training: backward is about 2x forward).
    Communication: :func:`transfer_time` of :func:`per_nic_bytes` over ``link`` (x2 in
    training: the gradient comes back). Above 1, a send can hide behind the next
    micro-batch's compute if the schedule overlaps them; far above 1 the hop hardly
    matters. Deeper pipelines (fewer layers per stage) lower the ratio.

    Returns:
        Dimensionless ratio (float).
    """
    compute = stage_compute_time(
        model, layers_on_stage, micro_batch, gpu, seq_len, tensor_parallel, utilisation
    )
    nbytes = per_nic_bytes(
        model, micro_batch, seq_len, bytes_per_value, tensor_parallel, scatter_gather
    )
    hop = transfer_time(nbytes, link, achievable)
    if training:
        # forward + backward (2x) compute against activations out + gradients back
        return 3 * compute / (2 * hop)
    return compute / hop
