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

import functools
import math
import numbers
import warnings

from . import bubble
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
from .hardware import LINKS, GPUSpec, LinkSpec
from .models import ModelSpec
from .schedules import SCHEDULE_NAMES, build_schedule, simulate

# Megatron-LM all-reduces the layer output twice per layer in the forward pass (after
# attention and after the MLP) and twice in the backward pass (Shoeybi et al. 2019, fig. 4).
TP_ALLREDUCES_PER_LAYER_FORWARD = 2
TP_ALLREDUCES_PER_LAYER_TRAINING = 4

# The book's one compute-efficiency assumption, eta: the fraction of the GPU's dense BF16 peak
# that a rank's kernels sustain while it computes (chapter 5's roofline divides FLOPs by
# peak x eta; chapter 3's stage times use it too). It is not an end-to-end utilisation: the
# bubble, communication and optimizer step come on top, so a run's MFU is always below it.
# Bounds: the best-shaped bf16 matrix multiplies reach 86 % of peak on A100 SXM and 80 % on
# H100 SXM (maximum achievable matmul FLOPS, bekman2024mamf); attention, normalisation and
# element-wise kernels and the gaps between kernels run lower. Two measures of utilisation
# exist (Korthikanti et al. 2022, sec. 6): model FLOPs utilisation (MFU) counts the model's
# FLOPs only; hardware FLOPs utilisation (HFU) also counts recomputed work. Megatron-LM
# SC'21's TFLOP/s (Narayanan et al. 2021, table 1) count the recomputed forward, so they are
# HFU: 163 TFLOP/s (52 %) for its largest rows (530B on 2520 GPUs, 1T on 3072), 148 TFLOP/s
# (47 %) for the row nearest GPT-3 (145.6B, t = 8, p = 8). With full recomputation MFU is 3/4
# of HFU. We take eta = 0.6 once for the whole book; chapter 5 shows how each prediction moves
# with it, and that 0.6 is where the mid-size Megatron-LM runs land: neither the level of those
# predictions nor their ranking (which also moves with eta) is an independent check; the trend
# of the error across model sizes, which does not move with eta, is.
DEFAULT_UTILISATION = 0.6


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
        raise ValueError(
            "seq_len must be given (an integer >= 1) when model_or_hidden is a hidden size, "
            f"not a ppnotes.models.ModelSpec; got model_or_hidden={model_or_hidden!r}"
        )
    return check_int("seq_len", seq_len)


def _check_model(model) -> ModelSpec:
    return check_instance("model", model, ModelSpec, "ppnotes.models.ModelSpec")


def _link(link, name: str = "link") -> LinkSpec:
    """Accept a LinkSpec or the name of a preset."""
    if isinstance(link, LinkSpec):
        return link
    if isinstance(link, str):
        return LINKS[check_choice(name, link, LINKS)]
    raise WrongTypeError(f"{name} must be a LinkSpec or a preset name, got {link!r}")


def _bandwidth(link_or_bandwidth, achievable: bool) -> float:
    """Bytes/s from a LinkSpec, a preset name, or a number of bytes/s."""
    check_bool("achievable", achievable)
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
    nbytes = check_size("bytes_per_value", bytes_per_value, MAX_BYTES_PER_VALUE)
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
    v = check_size("interleave", interleave, MAX_STAGES)
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
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    check_bool("scatter_gather", scatter_gather)
    full = activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)
    return full / t if scatter_gather else float(full)


def transfer_time(nbytes: float, link, achievable: bool = True) -> float:
    """Seconds to send ``nbytes`` over one link: latency + bytes / bandwidth, T = alpha + n / BW.

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
    p = check_size("num_stages", num_stages, MAX_STAGES)
    batch = check_int("batch_size", batch_size)
    s = check_int("seq_len", seq_len)
    h = check_int("hidden_size", hidden_size)
    nbytes = check_size("bytes_per_value", bytes_per_value, MAX_BYTES_PER_VALUE)
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


#: The collectives :func:`collective_time` prices, with the ring steps each takes over n ranks.
COLLECTIVES = ("all-reduce", "all-gather", "reduce-scatter")


def collective_steps(ranks: int, kind: str = "all-reduce") -> int:
    """Ring steps of a collective over n = ``ranks`` GPUs: 2 (n - 1) for an all-reduce
    (reduce-scatter then all-gather), n - 1 for an all-gather or a reduce-scatter
    (nccl-tests PERFORMANCE.md; NCCL's ``nsteps`` in ``src/graph/tuning.cc``)."""
    how = check_choice("kind", kind, COLLECTIVES)
    n = check_int("ranks", ranks)
    return 2 * (n - 1) if how == "all-reduce" else n - 1


def collective_time(
    nbytes: float, ranks: int, link, kind: str = "all-reduce", achievable: bool = True
) -> float:
    """Seconds for one ring collective of ``nbytes`` over ``ranks`` GPUs: the one place the
    book prices a collective call.

        T = call_latency + S x step_latency + S / n x nbytes / bandwidth,

    with S = :func:`collective_steps` (2 (n - 1) for an all-reduce, n - 1 for an all-gather
    or reduce-scatter): each rank moves S chunks of nbytes / n, one step after another
    (nccl-tests PERFORMANCE.md). The latency is NCCL's own model (``src/graph/tuning.cc``,
    nccl2026tuning): a base cost paid **once per call** plus a small cost per step on the
    link (:attr:`~ppnotes.hardware.LinkSpec.call_latency`,
    :attr:`~ppnotes.hardware.LinkSpec.step_latency`); a small all-reduce over 4 NVLink GPUs
    costs 6.6 + 6 x 0.6 = 10.2 us, as NCCL's tuner prints on 4 x H100. One rank costs
    nothing (no call is made).

    Args:
        nbytes: for an all-reduce, the tensor being reduced; for an all-gather, the
            assembled tensor; for a reduce-scatter, the input on each rank. Bytes (>= 0).
        ranks: n, GPUs in the ring.
        link: a LinkSpec or preset name (the per-GPU link of the ring).
        kind: one of :data:`COLLECTIVES`.
        achievable: use the measured bandwidth where published.

    Returns:
        Seconds (float).
    """
    size = check_real("nbytes", nbytes)
    n = check_int("ranks", ranks)
    spec = _link(link)
    steps = collective_steps(n, kind)
    if steps == 0:
        return 0.0
    latency = spec.call_latency + steps * spec.step_latency
    return latency + steps / n * size / spec.bandwidth(achievable)


def ring_allreduce_time(nbytes: float, ranks: int, link, achievable: bool = True) -> float:
    """Seconds for a ring all-reduce of ``nbytes`` over ``ranks`` GPUs:
    :func:`collective_time` with ``kind="all-reduce"``,

        call_latency + 2 (n - 1) step_latency + 2 (n - 1) / n x nbytes / bandwidth.

    Used for the tensor-parallel all-reduces (n = t, over NVLink) and for data-parallel
    gradient all-reduces (n = d, over the network). One rank costs nothing.

    Args:
        nbytes: size of the tensor being reduced, bytes (>= 0).
        ranks: n, GPUs in the ring (t for tensor parallelism, d for data parallelism).
        link: a LinkSpec or preset name (the per-GPU link of the ring).
        achievable: use the measured bandwidth where published.

    Returns:
        Seconds (float).
    """
    return collective_time(nbytes, ranks, link, "all-reduce", achievable)


#: How an all-reduce that spans nodes is modelled (:func:`allreduce_time_across_nodes`).
ALLREDUCE_ALGORITHMS = ("ring", "two-level")


def allreduce_time_across_nodes(
    nbytes: float,
    ranks: int,
    gpus_per_node: int,
    intra_link,
    inter_link,
    *,
    nic_share: float = 1.0,
    algorithm: str = "ring",
) -> float:
    """Seconds for an all-reduce of ``nbytes`` over ``ranks`` GPUs packed ``gpus_per_node``
    to a node: the one place the book costs a collective that may leave the node.

    Inside one node (ranks <= gpus_per_node): a ring over ``intra_link``. Across nodes:

    - ``"ring"``: one ring over all ranks at the network link, each GPU sending through its
      share of a card (``nic_share`` = GPUs per card), so each of its 2 (n - 1) steps pays the
      network's per-step latency (chapter 5's model for tensor parallelism).
    - ``"two-level"``: with k = ranks / g nodes of g GPUs, a ring inside each node over
      ``intra_link``, around a ring over the k nodes of 1/g of the data on each of the g rails:
      2 (g - 1) fast steps plus 2 (k - 1) network steps. An estimate of what NCCL's
      topology-aware algorithms do for small messages, not a measured model; it needs
      ranks to be a multiple of g.

    Either way it is **one** call: the per-call latency is paid once, each step adds its
    link's step latency (:func:`collective_time`, NCCL's cost model). For comparison, a
    4 B - 512 B all-reduce over 16 GPUs in 2 nodes was measured at 46-48 us
    (nccl2024issue1244).

    Args:
        nbytes: size of the tensor being reduced, bytes (>= 0).
        ranks: GPUs taking part (>= 1).
        gpus_per_node: g, GPUs per node (>= 1).
        intra_link, inter_link: LinkSpecs or preset names, inside a node and between nodes.
        nic_share: GPUs sharing one network card, from 1 (one card per GPU) to
            ``gpus_per_node`` (one card per node).
        algorithm: one of ``ALLREDUCE_ALGORITHMS``.

    Returns:
        Seconds (float).
    """
    size = check_real("nbytes", nbytes)
    n = check_int("ranks", ranks)
    g = check_int("gpus_per_node", gpus_per_node)
    share = check_real("nic_share", nic_share, minimum=1.0, maximum=g)
    how = check_choice("algorithm", algorithm, ALLREDUCE_ALGORITHMS)
    intra_link, inter_link = _link(intra_link, "intra_link"), _link(inter_link, "inter_link")
    if n <= g:
        return ring_allreduce_time(size, n, intra_link)
    if how == "ring":
        return ring_allreduce_time(size * share, n, inter_link)
    if n % g:
        raise ValueError(
            f"ranks must be a multiple of gpus_per_node = {g} for a two-level all-reduce "
            f"across nodes, got {n}"
        )
    inside = ring_allreduce_time(size, g, intra_link)
    across = ring_allreduce_time(size / g * share, n // g, inter_link)
    return inside + across - inter_link.call_latency  # one call: its base cost once


def ring_allgather_time(nbytes: float, ranks: int, link, achievable: bool = True) -> float:
    """Seconds for a ring all-gather that assembles ``nbytes`` on each of ``ranks`` GPUs:
    :func:`collective_time` with ``kind="all-gather"``,

        call_latency + (n - 1) step_latency + (n - 1) / n x nbytes / bandwidth:

    each rank starts with nbytes / n and receives the other n - 1 slices, one step after
    another (nccl-tests PERFORMANCE.md). Half a ring all-reduce's steps and bytes, the same
    per-call cost. One rank costs nothing.

    Args:
        nbytes: size of the assembled tensor, bytes (>= 0).
        ranks: n, GPUs in the ring.
        link: a LinkSpec or preset name (the per-GPU link of the ring).
        achievable: use the measured bandwidth where published.

    Returns:
        Seconds (float).
    """
    return collective_time(nbytes, ranks, link, "all-gather", achievable)


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
    training = check_bool("training", training)
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
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    training = check_bool("training", training)
    count = TP_ALLREDUCES_PER_LAYER_TRAINING if training else TP_ALLREDUCES_PER_LAYER_FORWARD
    size = activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)
    return count * ring_allreduce_time(size, t, link, achievable)


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
        utilisation: achieved fraction of peak, in (0, 1]; default
            :data:`DEFAULT_UTILISATION` (0.6, the book's compute efficiency while computing;
            see its comment for its bounds and the Megatron-LM rows).

    Returns:
        Seconds (float). Backward is about twice this (see :func:`compute_to_comm_ratio`).
    """
    layers = check_size("layers_on_stage", layers_on_stage, MAX_LAYERS)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    u = check_real("utilisation", utilisation, 0.0, 1.0, strict=True)
    check_instance("gpu", gpu, GPUSpec, "ppnotes.hardware.GPUSpec")
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
    check_bool("training", training)
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


# --------------------------------------------------------------------------------------------
# Communication on the critical path (which transfers lengthen the step)
# --------------------------------------------------------------------------------------------

# Schedules with a closed form for the hops on their critical path ("zbv" has none: the
# simulator's count moves non-monotonically with m; use simulated_comm_time for it).
CLOSED_FORM_SCHEDULES = ("gpipe", "1f1b", "interleaved", "zb-h1", "forward")


def _check_sizes(p, m, v):
    p, m = check_size("p", p, MAX_STAGES), check_size("m", m, MAX_MICROBATCHES)
    return p, m, check_size("v", v, MAX_STAGES)


def _check_schedule_args(schedule_name, p, m, v):
    name = check_choice("schedule_name", schedule_name, CLOSED_FORM_SCHEDULES)
    p, m, v = (
        check_size("p", p, MAX_STAGES),
        check_size("m", m, MAX_MICROBATCHES),
        check_size("v", v, MAX_STAGES),
    )
    if v != 1 and name != "interleaved":
        raise ValueError(f"v applies only to 'interleaved', got v={v} for {name!r}")
    if name == "interleaved" and v > 1 and m % p != 0:
        raise ValueError(
            f"interleaved with v={v} needs m divisible by p (Megatron-LM's order), got m={m}, p={p}"
        )
    return name, p, m, v


def critical_path_hops(schedule_name: str, p: int, m: int, v: int = 1) -> int:
    """How many hop latencies lie on the critical path of one step (closed form).

    Found with :func:`ppnotes.schedules.simulate` (hop latency added to every cross-rank
    dependency, uniform stages) and derived by following its critical path:

    - ``"forward"`` (inference, one flushed batch): p - 1, the fill. The last micro-batch
      crosses every boundary once; the others overlap.
    - ``"gpipe"``: 2 (p - 1), the fill and the drain. Micro-batches follow each other at the
      pace of compute, so only the first forward wave and the last backward wave wait for
      hops. Independent of m.
    - ``"1f1b"`` (and ``"interleaved"`` with v = 1): 2 * ceil((m + p - 2)(p - 1) / p).
      1F1B's warm-up holds exactly as many micro-batches as the round trip needs at zero
      latency, so the loop "F(k) on rank 0 -> down to rank p-1 -> back to B(k) on rank 0"
      has no slack. The critical path is a zigzag of R = 1 + floor((m + p - 2)/p) such
      round trips through its 2(m + p - 1) actions; every step between actions crosses a
      boundary except the 2R - 1 turns on one rank, so hops = 2(m + p - 1) - 2R, which is
      the formula. It grows with m: about 2 (p - 1) / p hops per micro-batch.
    - ``"interleaved"`` with v > 1 (m divisible by p, p > 1): 2 (p v - 1), the fill and drain of
      the p v stages. Megatron-LM's warm-up is deeper than needed at zero latency (its second
      extra forward per rank is slack), so the steady state waits for no hop.
    - ``"zb-h1"``: 2 (p - 1) + 2 min(max(m - 2, 0), p - 1). The deferred weight-gradient
      passes W give each rank slack, so the count stops growing at m = p + 1: at most
      4 (p - 1).

    See :func:`critical_path_comm_time` for when these counts are exact.

    Args:
        schedule_name: one of :data:`CLOSED_FORM_SCHEDULES`.
        p: pipeline depth (ranks).
        m: micro-batches per step.
        v: model chunks per rank (``"interleaved"`` only).

    Returns:
        Number of hops (int).
    """
    name, p, m, v = _check_schedule_args(schedule_name, p, m, v)
    if p == 1:
        return 0  # every stage (and chunk) on one rank: nothing crosses a link
    if name == "forward":
        return p - 1
    if name == "gpipe":
        return 2 * (p - 1)
    if name == "interleaved" and v > 1:
        return 2 * (p * v - 1)
    if name == "zb-h1":
        return 2 * (p - 1) + 2 * min(max(m - 2, 0), p - 1)
    n = m + p - 2  # 1f1b: 2 * ceil(n (p - 1) / p) = 2 * (n - floor(n / p))
    return 2 * (n - n // p)


def _exactness(name, p, m, v, t_f, t_b, t_hop, t_w) -> str | None:
    """Why the closed form is only a lower bound for these inputs, or None if it is exact."""
    if name == "interleaved" and v > 1 and t_hop > min(t_f, t_b) / v:
        return (
            f"interleaved closed form is exact only for t_hop <= min(t_f, t_b)/v = "
            f"{min(t_f, t_b) / v:g} (the slack of the deeper warm-up); got t_hop={t_hop:g}"
        )
    if name == "zb-h1":
        t_i = t_b - t_w
        if t_w > min(t_f, t_i):
            return (
                f"zb-h1 closed form needs t_w <= min(t_f, t_b - t_w); got t_w={t_w:g}, "
                f"t_f={t_f:g}, t_b={t_b:g}"
            )
        if t_hop > t_w / 2:
            return (
                f"zb-h1 closed form is exact only for t_hop <= t_w/2 = {t_w / 2:g} (the slack "
                f"the deferred W passes give); got t_hop={t_hop:g}"
            )
    return None


def critical_path_comm_time(
    schedule_name: str,
    p: int,
    m: int,
    t_f: float,
    t_b: float,
    t_hop: float,
    v: int = 1,
    t_w: float | None = None,
) -> float:
    """Time communication adds to one step: hops on the critical path x hop time.

    :func:`critical_path_hops` x ``t_hop``. This is the step time with hop latency minus
    the step time without it, for a schedule whose sends do not occupy the ranks and whose
    links do not contend (each stage boundary is its own link), as
    :func:`ppnotes.schedules.simulate` assumes.

    Exact (equal to the simulator) for uniform stages and:

    - ``"forward"``, ``"gpipe"``, ``"1f1b"``: any t_hop >= 0, any t_f, t_b.
    - ``"interleaved"`` (v > 1, m divisible by p): t_hop <= min(t_f, t_b) / v, one chunk's
      forward or backward; the deeper warm-up's slack absorbs hops that short.
    - ``"zb-h1"``: t_w <= min(t_f, t_b - t_w) and t_hop <= t_w / 2.

    Outside these conditions the result is a lower bound (the step time is a maximum over
    paths of "compute + hops x t_hop", so it is convex in t_hop and its slope only grows), and
    a ``UserWarning`` says so.

    Args:
        schedule_name: one of :data:`CLOSED_FORM_SCHEDULES`.
        p, m, v: depth, micro-batches, chunks per rank (interleaved).
        t_f: forward time of one micro-batch through one rank's layers (seconds).
        t_b: full backward time of the same (seconds); for ``"zb-h1"`` it is t_i + t_w.
        t_hop: time of one transfer over one stage boundary (seconds), e.g.
            :func:`transfer_time` of :func:`per_nic_bytes`.
        t_w: ``"zb-h1"`` only: the weight-gradient part of t_b (default t_b / 2).

    Returns:
        Seconds (float).
    """
    name, p, m, v = _check_schedule_args(schedule_name, p, m, v)
    t_f, t_b = check_real("t_f", t_f), check_real("t_b", t_b)
    t_hop = check_real("t_hop", t_hop)
    t_w = t_b / 2 if t_w is None else check_real("t_w", t_w, maximum=t_b)
    why = _exactness(name, p, m, v, t_f, t_b, t_hop, t_w)
    if why is not None:
        warnings.warn(why + ": the result is a lower bound", stacklevel=2)
    return critical_path_hops(name, p, m, v) * t_hop


def step_time_with_hops(
    schedule_name: str,
    p: int,
    m: int,
    t_f: float,
    t_b: float,
    t_hop: float,
    v: int = 1,
    t_w: float | None = None,
) -> float:
    """Closed-form step time with hop latency: the zero-latency step plus the critical-path
    communication (:func:`critical_path_comm_time`; same arguments, conditions and warning).

    The zero-latency part comes from :mod:`ppnotes.bubble`: (m + (p - 1)/v)(t_f + t_b) for
    GPipe, 1F1B and interleaved, :func:`~ppnotes.bubble.zb_h1_step_time` for ZB-H1 and
    (m + p - 1) t_f for a forward-only pipeline. Returns seconds.
    """
    comm = critical_path_comm_time(schedule_name, p, m, t_f, t_b, t_hop, v, t_w)
    name = schedule_name
    if name == "forward":
        base = bubble.forward_step_time(p, m, t_f)
    elif name == "zb-h1":
        w = t_b / 2 if t_w is None else t_w
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # critical_path_comm_time already warned
            base = bubble.zb_h1_step_time(p, m, t_f, t_b - w, w)
    else:
        base = bubble.step_time(p, m, t_f, t_b, v)
    return base + comm


def _sim_costs(schedule, t_f: float, t_b: float, v: int, t_w: float | None) -> dict:
    """Per-action costs for ``schedule``: split I/W costs when its backward is split."""
    if any(action.kind == "I" for action in schedule.flat_actions):
        w = t_b / 2 if t_w is None else t_w
        return {"F": t_f / v, "I": (t_b - w) / v, "W": w / v}
    return {"F": t_f / v, "B": t_b / v}


@functools.lru_cache(maxsize=256)
def _named_schedule(name: str, p: int, m: int, v: int):
    """:func:`ppnotes.schedules.build_schedule`, cached: the chapter 7 planner times the same
    (schedule, p, m, v) for many widths and micro-batch sizes. Schedules are immutable."""
    return build_schedule(name, p, m, v)


def simulated_comm_time(
    schedule_name: str,
    p: int,
    m: int,
    t_f: float,
    t_b: float,
    t_hop: float,
    v: int = 1,
    t_w: float | None = None,
    blocking: bool = False,
) -> float:
    """Time communication adds to one step, measured with the chapter 2 simulator.

    ``simulate(schedule, costs, comm=t_hop, blocking=blocking).makespan -
    simulate(schedule, costs).makespan`` for the named schedule (any of
    :data:`ppnotes.schedules.SCHEDULE_NAMES`, including ``"zbv"``, which has no closed form
    here). ``t_f`` and ``t_b`` are per micro-batch through one rank's layers (seconds); each of
    the v chunks takes 1/v of them; for schedules with a split backward (zb-h1, zb-h2, zbv,
    dualpipev) it is split into I = t_b - t_w and W = t_w (default t_w = t_b / 2).
    ``blocking``: whether a send also occupies its sender (see
    :func:`ppnotes.schedules.simulate`). Returns seconds.
    """
    t_f, t_b = check_real("t_f", t_f), check_real("t_b", t_b)
    t_hop = check_real("t_hop", t_hop)
    if t_w is not None:
        t_w = check_real("t_w", t_w, maximum=t_b)
    name = check_choice("schedule_name", schedule_name, SCHEDULE_NAMES)
    p, m, v = _check_sizes(p, m, v)
    check_bool("blocking", blocking)
    schedule = _named_schedule(name, p, m, v)  # build_schedule checks p * m * v
    costs = _sim_costs(schedule, t_f, t_b, v, t_w)
    with_hops = simulate(schedule, costs, comm=t_hop, blocking=blocking).makespan
    return with_hops - simulate(schedule, costs).makespan


# --------------------------------------------------------------------------------------------
# Blocking sends: each hop also occupies the ranks (Megatron-LM's batched send/receive + wait)
# --------------------------------------------------------------------------------------------


def blocking_comm_hops(schedule_name: str, p: int, m: int, v: int = 1) -> int:
    """How many hop times one step gains when every send blocks its sender (closed form).

    With blocking point-to-point communication (``simulate(..., blocking=True)``: a rank
    waits for its own send before its next action, as Megatron-LM's ``batch_isend_irecv``
    followed by ``wait``), every rank pays one hop after each action that feeds another
    rank: 2 v m per middle rank per step, v m on the two end ranks, which send in one
    direction only. Found with the simulator and derived from it (uniform stages, p > 1):

    - ``"forward"``: m + p - 2 (the m sends of a rank plus the fill of the others).
    - ``"gpipe"``: 2 (m + p - 2).
    - ``"1f1b"`` (and ``"zb-h1"`` while t_w <= min(t_f, t_i); ``"interleaved"`` with v = 1):
      2 (p - 1) for m = 1; m + 1 for p = 2 (both ranks are end ranks); otherwise
      2 m + 2 p - 5. Exact for any t_f, t_b, t_hop.
    - ``"interleaved"``, v > 1 (m divisible by p): (2 v - 1) m + 2 p - 3, exact for
      t_hop <= 2 min(t_f, t_b) / (v (m - 2)) (any t_hop for p = 2). The deeper warm-up's slack
      absorbs one send per micro-batch while hops are that short; beyond, the busiest rank's
      own 2 v m sends set the pace (see :func:`blocking_comm_time`).

    The asynchronous count (:func:`critical_path_hops`) for comparison: GPipe pays 2 (p - 1)
    hops, not 2 (m + p - 2); 1F1B about 2 m (p - 1) / p, not about 2 m.

    Args:
        schedule_name: one of :data:`CLOSED_FORM_SCHEDULES`.
        p, m, v: depth, micro-batches per step, chunks per rank (interleaved only).

    Returns:
        Number of hop times (int).
    """
    name, p, m, v = _check_schedule_args(schedule_name, p, m, v)
    if p == 1:
        return 0
    if name == "forward":
        return m + p - 2
    if name == "gpipe":
        return 2 * (m + p - 2)
    if name == "interleaved" and v > 1:
        return (2 * v - 1) * m + 2 * p - 3
    if m == 1:
        return 2 * (p - 1)
    if p == 2:
        return m + 1
    return 2 * m + 2 * p - 5


def _blocking_exactness(name, p, m, v, t_f, t_b, t_hop, t_w) -> str | None:
    """Why the blocking closed form is not exact for these inputs, or None if it is."""
    if name == "zb-h1" and t_w > min(t_f, t_b - t_w):
        return (
            f"zb-h1 blocking closed form needs t_w <= min(t_f, t_b - t_w); got t_w={t_w:g}, "
            f"t_f={t_f:g}, t_b={t_b:g}: the result is an estimate that can be off either way"
        )
    if name == "interleaved" and v > 1 and p > 2 and m > 2:
        limit = 2 * min(t_f, t_b) / (v * (m - 2))
        if t_hop > limit:
            return (
                f"interleaved blocking closed form is exact only for t_hop <= "
                f"2 min(t_f, t_b) / (v (m - 2)) = {limit:g}; got t_hop={t_hop:g}: "
                f"the result is a lower bound"
            )
    return None


def blocking_comm_time(
    schedule_name: str,
    p: int,
    m: int,
    t_f: float,
    t_b: float,
    t_hop: float,
    v: int = 1,
    t_w: float | None = None,
) -> float:
    """Time blocking point-to-point communication adds to one step (closed form).

    :func:`blocking_comm_hops` x ``t_hop``: the step time of ``simulate(..., comm=t_hop,
    blocking=True)`` minus the step time without hops, for uniform stages. For
    ``"interleaved"`` with v > 1 and p > 2 it is the larger of two lines,

        ((2 v - 1) m + 2 p - 3) t_hop    and    (2 v m + 2 p - 5) t_hop - (t_f + t_b) / v,

    the first exact for t_hop <= 2 min(t_f, t_b) / (v (m - 2)), the second the busiest rank's
    own sends (2 v m per step, a bound that the simulator approaches for long hops). Outside
    the exactness conditions of :func:`blocking_comm_hops` a ``UserWarning`` says why: for
    interleaving the result is then a lower bound (the step time is a maximum of lines in
    t_hop, so convex); for ZB-H1 with t_w > min(t_f, t_i) an estimate that can be off either
    way. :func:`exposed_pipeline_comm_time` uses the simulator in both cases.

    Args:
        as :func:`critical_path_comm_time` (t_f, t_b per micro-batch through one rank's layers,
        seconds; t_hop seconds per transfer; t_w the weight-gradient part for ``"zb-h1"``).

    Returns:
        Seconds (float).
    """
    name, p, m, v = _check_schedule_args(schedule_name, p, m, v)
    t_f, t_b = check_real("t_f", t_f), check_real("t_b", t_b)
    t_hop = check_real("t_hop", t_hop)
    t_w = t_b / 2 if t_w is None else check_real("t_w", t_w, maximum=t_b)
    why = _blocking_exactness(name, p, m, v, t_f, t_b, t_hop, t_w)
    if why is not None:
        warnings.warn(why, stacklevel=2)
    comm = blocking_comm_hops(name, p, m, v) * t_hop
    if name == "interleaved" and v > 1 and p > 2:
        comm = max(comm, (2 * v * m + 2 * p - 5) * t_hop - (t_f + t_b) / v)
    return comm


EXPOSED_COMM_SCHEDULES = CLOSED_FORM_SCHEDULES + ("zbv",)


def exposed_pipeline_comm_time(
    schedule_name: str,
    p: int,
    m: int,
    t_f: float,
    t_b: float,
    t_hop: float,
    v: int = 1,
    t_w: float | None = None,
    overlap: bool = True,
) -> float:
    """Seconds that pipeline point-to-point communication adds to one training step.

    ``overlap=True``: the asynchronous model. Sends are posted and waited for later, so a hop
    only delays its receiver and only the hops on the critical path count
    (:func:`critical_path_comm_time`; ``torch.distributed.pipelining``'s multi-stage
    runtime, Megatron-LM's interleaved schedule with ``overlap_p2p_comm``).
    ``overlap=False``: the blocking model. Each rank also waits for its own sends, one hop
    after every action that feeds another rank (:func:`blocking_comm_time`; Megatron-LM's
    non-interleaved 1F1B, and every Megatron-LM schedule at the SC'21 commit).

    The closed form is used wherever it is exact (microseconds); otherwise, and always for
    ``"zbv"``, the chapter 2 simulator gives the exact value (milliseconds for thousands of
    actions). Uniform stages; each of v chunks takes 1/v of t_f and t_b.

    Args:
        schedule_name: "gpipe", "1f1b", "interleaved", "zb-h1", "zbv" or "forward".
        p: pipeline depth (ranks); p = 1 returns 0.0.
        m: micro-batches per step.
        t_f, t_b: forward and full backward time of one micro-batch through one rank's
            layers, seconds (t_b includes any recomputation).
        t_hop: time of one transfer over one stage boundary, seconds.
        v: chunks per rank ("interleaved" only; m must be divisible by p when v > 1).
        t_w: weight-gradient part of t_b for "zb-h1" and "zbv" (default t_b / 2).
        overlap: True for asynchronous sends, False for blocking sends.

    Returns:
        Seconds (float).
    """
    name = check_choice("schedule_name", schedule_name, EXPOSED_COMM_SCHEDULES)
    check_bool("overlap", overlap)
    t_f, t_b = check_real("t_f", t_f), check_real("t_b", t_b)
    t_hop = check_real("t_hop", t_hop)
    w = t_b / 2 if t_w is None else check_real("t_w", t_w, maximum=t_b)
    if name == "zbv":
        p, m, v = (
            check_size("p", p, MAX_STAGES),
            check_size("m", m, MAX_MICROBATCHES),
            check_size("v", v, MAX_STAGES),
        )
        if v != 1:
            raise ValueError(f"v applies only to 'interleaved', got v={v} for 'zbv'")
    else:
        _, p, m, v = _check_schedule_args(name, p, m, v)
    if p == 1:
        return 0.0
    if name != "zbv":
        if overlap and _exactness(name, p, m, v, t_f, t_b, t_hop, w) is None:
            return critical_path_hops(name, p, m, v) * t_hop
        if not overlap and _blocking_exactness(name, p, m, v, t_f, t_b, t_hop, w) is None:
            return blocking_comm_hops(name, p, m, v) * t_hop
    return simulated_comm_time(name, p, m, t_f, t_b, t_hop, v, t_w, blocking=not overlap)


def exposed_comm_fraction(
    schedule_name: str,
    p: int,
    m: int,
    t_f: float,
    t_b: float,
    t_hop: float,
    v: int = 1,
    t_w: float | None = None,
) -> float:
    """Share of the step spent waiting for hops on the critical path (closed form):
    :func:`critical_path_comm_time` / :func:`step_time_with_hops`. Dimensionless, in [0, 1)."""
    comm = critical_path_comm_time(schedule_name, p, m, t_f, t_b, t_hop, v, t_w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        total = step_time_with_hops(schedule_name, p, m, t_f, t_b, t_hop, v, t_w)
    return comm / total if total > 0 else 0.0


def pipeline_comm_breakdown(
    model: ModelSpec,
    num_stages: int,
    num_microbatches: int,
    micro_batch: int,
    gpu: GPUSpec,
    link,
    seq_len: int | None = None,
    tensor_parallel: int = 1,
    scatter_gather: bool = True,
    utilisation: float = DEFAULT_UTILISATION,
    bytes_per_value: int = 2,
    achievable: bool = True,
) -> dict:
    """Per-step communication of a training pipeline under the note's model and on the
    critical path of GPipe, 1F1B and ZB-H1 (and interleaved v = 2 where it applies).

    Stages hold L / p layers (p must divide L), compute per stage from
    :func:`stage_compute_time` with backward = 2 x forward, hop time :func:`transfer_time`
    of :func:`per_nic_bytes`. The note's model takes the whole batch B = m * b through one
    link: :func:`note_comm_time` (forward only, as the note writes it).

    Returns:
        dict with ``bytes_per_hop`` (per card, bytes), ``t_hop``, ``t_f``, ``t_b`` (s),
        ``total_traffic`` (bytes crossing all boundaries in a step, both directions),
        ``note`` (s), ``gpipe``, ``1f1b``, ``zb-h1`` and ``interleaved`` (s on the critical
        path with asynchronous sends; ``interleaved`` is None unless m % p == 0 and the
        layers split into 2 p chunks), the same four with the suffix ``_blocking`` (s added
        when sends block, :func:`exposed_pipeline_comm_time` with ``overlap=False``),
        ``step_1f1b`` and ``step_1f1b_blocking`` (s, 1F1B step with hops) and ``ratio``
        (compute over hop, training). The receiver's all-gather after scatter/gather is not
        included (see :func:`receiver_allgather_time`).
    """
    model = _check_model(model)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    m = check_size("num_microbatches", num_microbatches, MAX_MICROBATCHES)
    if model.num_layers % p != 0:
        raise ValueError(
            f"num_stages must divide the {model.num_layers} layers of {model.name}, got {p}"
        )
    s = _seq_len(model, seq_len)
    layers = model.num_layers // p
    t_f = stage_compute_time(model, layers, micro_batch, gpu, s, tensor_parallel, utilisation)
    t_b = 2 * t_f
    nbytes = per_nic_bytes(model, micro_batch, s, bytes_per_value, tensor_parallel, scatter_gather)
    t_hop = transfer_time(nbytes, link, achievable) if p > 1 else 0.0
    out = {
        "bytes_per_hop": nbytes,
        "t_hop": t_hop,
        "t_f": t_f,
        "t_b": t_b,
        "total_traffic": 2
        * (p - 1)
        * m
        * activation_bytes_per_hop(model, micro_batch, s, bytes_per_value),
        "note": note_comm_time(
            p, m * micro_batch, s, model.hidden_size, link, bytes_per_value, achievable
        ),
    }
    for name in ("gpipe", "1f1b", "zb-h1"):
        out[name] = critical_path_comm_time(name, p, m, t_f, t_b, t_hop)
    fits = m % p == 0 and layers % 2 == 0
    out["interleaved"] = (
        critical_path_comm_time("interleaved", p, m, t_f, t_b, t_hop, 2) if (fits) else None
    )
    out["step_1f1b"] = step_time_with_hops("1f1b", p, m, t_f, t_b, t_hop)
    for name in ("gpipe", "1f1b", "zb-h1"):
        out[f"{name}_blocking"] = exposed_pipeline_comm_time(
            name, p, m, t_f, t_b, t_hop, overlap=False
        )
    out["interleaved_blocking"] = (
        exposed_pipeline_comm_time("interleaved", p, m, t_f, t_b, t_hop, 2, overlap=False)
        if fits
        else None
    )
    out["step_1f1b_blocking"] = bubble.step_time(p, m, t_f, t_b) + out["1f1b_blocking"]
    out["ratio"] = (t_f + t_b) / (2 * t_hop) if t_hop > 0 else math.inf
    return out


# --------------------------------------------------------------------------------------------
# Communication the pipeline model leaves out
# --------------------------------------------------------------------------------------------


def receiver_allgather_bytes(
    model_or_hidden,
    micro_batch: int,
    seq_len: int | None = None,
    bytes_per_value: int = 2,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
) -> float:
    """Bytes each GPU of the receiving stage takes in over NVLink after scatter/gather.

    Scatter/gather sends 1/t of the b x s x h boundary tensor over each network card; the
    receiving stage's t GPUs then all-gather the slices, so each GPU receives the other
    (t - 1)/t of the tensor from its peers (Narayanan et al. 2021, sec. 4.1; Megatron-LM
    ``gather_split_1d_tensor`` in ``megatron/p2p_communication.py`` at the SC'21 commit).
    With sequence parallelism the boundary tensor is already split along the sequence
    across the t GPUs (each holds s/t x b x h, Korthikanti et al. 2022), each GPU sends and
    receives only its own shard and no all-gather is needed: 0 bytes.

    Args:
        model_or_hidden, micro_batch, seq_len, bytes_per_value: as in
            :func:`activation_bytes_per_hop`.
        tensor_parallel: t.
        sequence_parallel: whether Megatron-LM's sequence parallelism is on.

    Returns:
        Bytes per GPU per boundary crossing (float), one direction.
    """
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    check_bool("sequence_parallel", sequence_parallel)
    full = activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)
    return 0.0 if sequence_parallel else (t - 1) / t * full


def receiver_allgather_time(
    model_or_hidden,
    micro_batch: int,
    link="NVLink 3",
    seq_len: int | None = None,
    bytes_per_value: int = 2,
    tensor_parallel: int = 1,
    sequence_parallel: bool = False,
    achievable: bool = True,
) -> float:
    """Seconds of the receiver's all-gather after scatter/gather: :func:`ring_allgather_time`
    of the b x s x h tensor over the t GPUs of the stage (``link``, NVLink inside a node);
    0 with sequence parallelism or t = 1. Returns seconds per boundary crossing."""
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    link = _link(link)
    check_bool("achievable", achievable)
    if (
        receiver_allgather_bytes(
            model_or_hidden, micro_batch, seq_len, bytes_per_value, t, sequence_parallel
        )
        == 0
    ):
        return 0.0
    full = activation_bytes_per_hop(model_or_hidden, micro_batch, seq_len, bytes_per_value)
    return ring_allgather_time(full, t, link, achievable)


def embedding_allreduce_bytes(
    model: ModelSpec, tensor_parallel: int = 1, grad_bytes: int = 4, num_stages: int = 2
) -> float:
    """Bytes of the tied-embedding gradient all-reduce between the first and last stage.

    With tied input and output embeddings (GPT-3, Brown et al. 2020) and p > 1, the first
    stage holds the word embedding and the last stage a copy for the LM head; after the
    flush, each TP rank all-reduces its V x h / t shard of the embedding gradient with its
    peer on the other end of the pipeline, so both copies stay equal (Megatron-LM,
    ``_allreduce_word_embedding_grads`` in ``megatron/core/distributed/finalize_model_grads.py``;
    Narayanan et al. 2021, sec. 4). Once per step, outside the pipeline schedule, so it
    adds its full time to the step unless overlapped with other gradient reductions.

    Args:
        model: the model (``tied_embeddings`` decides; untied models return 0).
        tensor_parallel: t; the embedding is split over the vocabulary across TP ranks.
        grad_bytes: bytes per gradient value (4: Megatron-LM keeps fp32 main gradients;
            2 if gradients are reduced in bf16).
        num_stages: p; with one stage there is one copy and nothing to reduce.

    Returns:
        Bytes of the tensor each GPU all-reduces (float), per step. The all-reduce has two
        ranks, so each sends and receives this many bytes once (:func:`ring_allreduce_time`
        with ranks = 2).
    """
    model = _check_model(model)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    nbytes = check_size("grad_bytes", grad_bytes, MAX_BYTES_PER_VALUE)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    if not model.tied_embeddings or p == 1:
        return 0.0
    return model.vocab_size * model.hidden_size / t * nbytes


def largest_stage_params(model: ModelSpec, num_stages: int) -> int:
    """Parameters of the largest pipeline stage when the layers split as evenly as possible.

    ceil(L / p) layers on the fullest stage, plus the embedding on the first stage or the
    LM head (and, with tied embeddings, its copy of the word embedding) on the last; with
    p = 1 the whole model (:attr:`~ppnotes.models.ModelSpec.total_params`). Matches
    :func:`ppnotes.memory.stage_params` (chapter 4) on an even split. Returns a count.
    """
    model = _check_model(model)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    if p == 1:
        return model.total_params
    layers = -(-model.num_layers // p) * model.params_per_layer
    return layers + max(model.embedding_params, model.head_params)


def dp_gradient_bytes_per_gpu(
    model: ModelSpec, num_stages: int, tensor_parallel: int = 1, grad_bytes: int = 4
) -> float:
    """Gradient bytes each GPU of the largest stage reduces over data parallelism per step.

    (largest stage's parameters) / t x grad_bytes (:func:`largest_stage_params`): each GPU
    holds 1/t of its stage's weights and reduces their gradients with its d - 1 replicas once
    per step. It falls as about 1/p: deeper pipelines give each GPU fewer parameters, so
    depth also shrinks the data-parallel traffic. Norms and biases, which TP replicates
    rather than splits, are divided by t too; they are a tiny share of the parameters.

    Args:
        model: the model.
        num_stages: p.
        tensor_parallel: t.
        grad_bytes: bytes per gradient value (4 for Megatron-LM's fp32 main gradients).

    Returns:
        Bytes (float): the size of the all-reduce; :func:`ring_allreduce_time` with
        ranks = d gives its time (a distributed optimizer's reduce-scatter moves half).
    """
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    nbytes = check_size("grad_bytes", grad_bytes, MAX_BYTES_PER_VALUE)
    return largest_stage_params(model, num_stages) / t * nbytes


# --------------------------------------------------------------------------------------------
# A published check: Megatron-LM's scatter/gather optimisation (SC'21, figure 18)
# --------------------------------------------------------------------------------------------

# Narayanan et al. 2021, fig. 18 and sec. 5.9: GPT-3 175B on 96 A100s (12 DGX A100 nodes, one
# InfiniBand HDR card per GPU), interleaved schedule, with and without scatter/gather. The
# configuration is the repository's reproduction script examples/sc21/run_figure_18.sh (NVIDIA
# Megatron-LM, added in commit de7dc40; the README pins the SC'21 code at 6985e58): t = 8,
# p = 12, micro-batch 1, global batch 12 to 60 (so d = 1 and m = the batch), 96 layers, h =
# 12288, s = 2048, 2 layers per virtual stage (v = 96 / 12 / 2 = 4 chunks per GPU), full
# ("uniform") activation recomputation, fp16. The paper reports "up to 11 %" higher throughput
# with scatter/gather, largest for large batches with interleaving; we read no per-bar values.
FIG18_CONFIG = {
    "tensor_parallel": 8,
    "num_stages": 12,
    "interleave": 4,
    "micro_batch": 1,
    "seq_len": 2048,
    "batch_sizes": (12, 24, 36, 48, 60),
    "recompute": True,
}
FIG18_PUBLISHED_MAX_GAIN = 0.11  # "up to 11 %" (Narayanan et al. 2021, sec. 5.9)


def scatter_gather_gain(
    model: ModelSpec,
    num_stages: int,
    num_microbatches: int,
    micro_batch: int,
    gpu: GPUSpec,
    link,
    nvlink,
    seq_len: int | None = None,
    tensor_parallel: int = 8,
    interleave: int = 1,
    recompute: bool = True,
    overlap: bool = False,
    utilisation: float = DEFAULT_UTILISATION,
    bytes_per_value: int = 2,
    achievable: bool = True,
) -> dict:
    """Predicted throughput gain of scatter/gather for one pipeline configuration.

    Per rank and micro-batch: forward t_f from :func:`stage_compute_time` (L / p layers),
    backward 2 t_f, plus t_f again with full recomputation. Hop without scatter/gather: each
    of the t GPUs sends the whole b s h tensor over its own card (:func:`transfer_time`);
    with it, 1/t of it per card plus the receiver's all-gather over ``nvlink``
    (:func:`receiver_allgather_time`), which sits on the receiver's path in both models.
    Step: zero-latency step of the schedule (interleaved when ``interleave`` > 1, else 1F1B)
    plus :func:`exposed_pipeline_comm_time` with ``overlap``. Throughput is samples per
    step time, so the gain is step_without / step_with - 1.

    Returns:
        dict with ``t_f``, ``t_b``, ``hop_without``, ``hop_with`` (s per hop; ``hop_with``
        includes ``allgather``), ``step_without``, ``step_with`` (s) and ``gain``
        (dimensionless, 0.1 = 10 % more throughput).
    """
    model = _check_model(model)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    m = check_size("num_microbatches", num_microbatches, MAX_MICROBATCHES)
    v = check_size("interleave", interleave, MAX_STAGES)
    t = check_size("tensor_parallel", tensor_parallel, MAX_GPUS)
    check_bool("recompute", recompute)
    if model.num_layers % (p * v) != 0:
        raise ValueError(
            f"num_stages x interleave must divide the {model.num_layers} layers, got {p} x {v}"
        )
    s = _seq_len(model, seq_len)
    t_f = stage_compute_time(model, model.num_layers // p, micro_batch, gpu, s, t, utilisation)
    t_b = (3 if recompute else 2) * t_f
    full = activation_bytes_per_hop(model, micro_batch, s, bytes_per_value)
    hop_without = transfer_time(full, link, achievable)
    gather = receiver_allgather_time(
        model, micro_batch, nvlink, s, bytes_per_value, t, achievable=achievable
    )
    hop_with = transfer_time(full / t, link, achievable) + gather
    name = "interleaved" if v > 1 else "1f1b"
    base = bubble.step_time(p, m, t_f, t_b, v)
    step_without = base + exposed_pipeline_comm_time(
        name, p, m, t_f, t_b, hop_without, v, overlap=overlap
    )
    step_with = base + exposed_pipeline_comm_time(
        name, p, m, t_f, t_b, hop_with, v, overlap=overlap
    )
    return {
        "t_f": t_f,
        "t_b": t_b,
        "allgather": gather,
        "hop_without": hop_without,
        "hop_with": hop_with,
        "step_without": step_without,
        "step_with": step_with,
        "gain": step_without / step_with - 1,
    }


def fig18_predictions(overlap: bool, utilisation: float = DEFAULT_UTILISATION) -> list[dict]:
    """:func:`scatter_gather_gain` at each batch size of Megatron-LM SC'21 figure 18.

    GPT-3 175B on A100 80GB GPUs, InfiniBand HDR between stages (achievable 24 GB/s per
    card), NVLink 3 inside a node, :data:`FIG18_CONFIG`; m = batch size (d = 1, b = 1).
    ``overlap``: asynchronous (True) or blocking (False) sends. Returns one dict per batch
    size, with ``batch`` added.
    """
    from .hardware import A100_80GB, IB_HDR, NVLINK3
    from .models import GPT3_175B

    cfg = FIG18_CONFIG
    rows = []
    for batch in cfg["batch_sizes"]:
        row = scatter_gather_gain(
            GPT3_175B,
            cfg["num_stages"],
            batch // cfg["micro_batch"],
            cfg["micro_batch"],
            A100_80GB,
            IB_HDR,
            NVLINK3,
            cfg["seq_len"],
            cfg["tensor_parallel"],
            cfg["interleave"],
            cfg["recompute"],
            overlap,
            utilisation,
        )
        rows.append({"batch": batch, **row})
    return rows
