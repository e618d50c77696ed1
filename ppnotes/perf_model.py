"""Chapter 5: one model of a training step, from compute, bubble, communication and memory.

:func:`step_time` takes a model (:mod:`ppnotes.models`), a :class:`Cluster` and a
:class:`Config` (tensor, pipeline and data parallel sizes t, p, d, micro-batch size b, global
batch G, schedule, recomputation, ...) and returns the step time split into parts, tokens per
second, model and hardware FLOPs utilisation (MFU, HFU) and the memory of every stage.

Every term comes from the chapter that introduced it:

- the split of layers into stages: :mod:`ppnotes.partition` (chapter 1);
- the step time of each schedule at zero hop latency: :mod:`ppnotes.bubble` (chapter 2);
- hop bytes and times, tensor- and data-parallel collectives and the exposed point-to-point
  time: :mod:`ppnotes.comm` (chapter 3);
- per-stage memory and the fit check: :mod:`ppnotes.memory` (chapter 4).

What this module adds is the compute time of a stage from a roofline (:func:`matmul_time`),
the slowest stage setting the pace (:func:`pipeline_time`), and the bookkeeping that turns the
parts into one step. Times are seconds, bytes are bytes, FLOP/s are FLOP/s.

The note's section 5 model is here too, literally (:func:`note_performance_model`) and with
its units fixed (:func:`note_performance_model_fixed`), for comparison.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from . import bubble, comm, gemm, memory, partition, schedules
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
from .hardware import GPUS, IB_HDR, IB_NDR, NVLINK3, NVLINK4, GPUSpec, LinkSpec
from .models import ModelSpec

SCHEDULES = ("gpipe", "1f1b", "interleaved", "zb-h1", "zbv")
# Schedules whose exposed hop time may come from the chapter 2 simulator
# (:func:`ppnotes.comm.exposed_pipeline_comm_time`): their step costs p x m x chunks actions.
SIMULATED = ("interleaved", "zb-h1", "zbv")
RECOMPUTE = memory.RECOMPUTE_CHOICES  # "none", "selective", "full"
LAYER_SPLITS = ("balanced", "head-aware")
PARTS = (
    "compute",
    "recompute",
    "bubble",
    "pipeline_comm",
    "tp_comm",
    "cp_comm",
    "dp_comm",
    "optimizer",
)

# Bytes an Adam step reads and writes per parameter it updates (memory-bound): fp32 gradient
# read (4), fp32 master weight, first and second moment read and written (3 x 8), bf16 weight
# written (2). The optimizer kernel is a stream over these arrays (kingma2015adam; the
# layout of Megatron-LM's distributed optimizer, megatron_distrib_optimizer).
ADAM_BYTES_PER_PARAM = 30
GRAD_REDUCE_BYTES = 4  # Megatron-LM reduces the fp32 main gradients by default
PARAM_GATHER_BYTES = 2  # the distributed optimizer all-gathers the updated bf16 weights
ACTIVATION_BYTES = 2  # bf16 activations and weights
WEIGHT_BYTES = 2


@dataclass(frozen=True)
class Cluster:
    """The hardware: one GPU type in nodes of ``gpus_per_node``, joined by two kinds of link.

    Attributes:
        gpu: the GPU (:data:`ppnotes.hardware.GPUS`).
        gpus_per_node: GPUs sharing the fast intra-node link (8 in a DGX/HGX).
        intra_link: the GPU-to-GPU link inside a node (NVLink).
        inter_link: the network card between nodes (InfiniBand), bandwidth per card.
        nics_per_node: network cards per node; with fewer cards than GPUs, the GPUs of a
            node share them when they all send at once.
        name: display name.
    """

    gpu: GPUSpec
    gpus_per_node: int = 8
    intra_link: LinkSpec = NVLINK3
    inter_link: LinkSpec = IB_HDR
    nics_per_node: int = 8
    name: str = ""

    def __post_init__(self):
        check_instance("gpu", self.gpu, GPUSpec)
        check_instance("intra_link", self.intra_link, LinkSpec)
        check_instance("inter_link", self.inter_link, LinkSpec)
        check_int("gpus_per_node", self.gpus_per_node, 1, MAX_GPUS)
        check_int("nics_per_node", self.nics_per_node, 1, MAX_GPUS)
        check_instance("name", self.name, str, "str")

    @property
    def nic_crowding(self) -> float:
        """GPUs per network card when every GPU of a node sends at once (>= 1)."""
        return max(1.0, self.gpus_per_node / self.nics_per_node)


CLUSTERS: dict[str, Cluster] = {
    c.name: c
    for c in (
        Cluster(GPUS["A100 80GB"], 8, NVLINK3, IB_HDR, 8, "DGX A100 80GB + HDR"),
        Cluster(GPUS["A100 40GB"], 8, NVLINK3, IB_HDR, 8, "DGX A100 40GB + HDR"),
        Cluster(GPUS["H100 SXM 80GB"], 8, NVLINK4, IB_NDR, 8, "DGX H100 + NDR"),
        Cluster(GPUS["H200 141GB"], 8, NVLINK4, IB_NDR, 8, "HGX H200 + NDR"),
    )
}


@dataclass(frozen=True)
class Config:
    """One way to train: parallel sizes, batch, schedule and memory savers.

    Attributes:
        tensor_parallel: t, GPUs that split every layer (Megatron-LM tensor parallelism).
        pipeline_parallel: p, pipeline stages (ranks in the pipeline).
        data_parallel: d, model replicas.
        micro_batch: b, sequences per micro-batch.
        global_batch: G, sequences per step over all replicas; G must be a multiple of d b,
            and m = G / (d b) micro-batches run through each pipeline.
        schedule: "gpipe", "1f1b", "interleaved", "zb-h1" or "zbv".
        virtual_stages: v, model chunks per rank ("interleaved" only).
        recompute: activation recomputation, "none", "selective" or "full".
        sequence_parallel: shard the non-tensor-parallel regions (and the boundary tensor)
            over the t ranks (Korthikanti et al. 2022).
        distributed_optimizer: shard the fp32 weights and Adam moments over d (ZeRO-1).
        overlap_p2p: whether point-to-point sends overlap compute (asynchronous, as in
            PyTorch's pipelining) or each rank waits for them (Megatron-LM's non-interleaved
            1F1B).
        overlap_dp: whether the gradient reduction overlaps the last backward passes
            (Megatron-LM's ``overlap_grad_reduce``).
        seq_len: s, tokens per sequence; defaults to the model's context.
        tp_inside_node: refuse t larger than a node (tensor parallelism over the network).
        layer_split: "balanced" (layer counts differ by at most one, chapter 1's
            :func:`~ppnotes.partition.balanced_split`) or "head-aware" (fewer layers on the
            last rank to make room for the LM head, :func:`~ppnotes.partition.optimal_split`).
        shard_gradients: shard the gradients over d as well (ZeRO-2; FSDP as Llama 3 used it,
            Dubey et al. 2024, sec. 3.3.2). Memory only: the step time still charges one
            gradient reduce-scatter per step, not the one per micro-batch that ZeRO-2 needs
            (:func:`sharding_bytes_per_step`).
        fp8: run every linear layer's three multiplies (forward, input and weight gradients)
            with FP8 inputs, as torchtitan's float8 converter does (torchao, tensorwise
            scaling; attention stays bf16), on a GPU with FP8 (H100, H200). Memory unchanged:
            the master weights stay bf16 and fp32 and the FP8 copies are transient (torchtitan
            measured 77.0 and 76.8 GiB without and with it, torchtitan2024h100).
        context_parallel: c, GPUs that split every sequence (context parallelism: ring
            attention, Megatron-LM's ``--context-parallel-size`` and torchtitan's
            ``context_parallel_degree``). Each holds s / c tokens of every sequence in two
            load-balanced pieces, so s must be a multiple of 2c (Megatron-LM's check); the
            attention core passes keys and values around the c GPUs. The weights are copied
            on the c GPUs, and gradients and optimizer state are reduced and sharded over d c.
            Ranks are ordered t, c, d, p (both frameworks' order).
    """

    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    micro_batch: int
    global_batch: int
    schedule: str = "1f1b"
    virtual_stages: int = 1
    recompute: str = "selective"
    sequence_parallel: bool = True
    distributed_optimizer: bool = True
    overlap_p2p: bool = False
    overlap_dp: bool = True
    seq_len: int | None = None
    tp_inside_node: bool = True
    layer_split: str = "balanced"
    shard_gradients: bool = False
    fp8: bool = False
    context_parallel: int = 1

    def __post_init__(self):
        t = check_int("tensor_parallel", self.tensor_parallel, 1, MAX_GPUS)
        c = check_int("context_parallel", self.context_parallel, 1, MAX_GPUS)
        p = check_int("pipeline_parallel", self.pipeline_parallel, 1, MAX_STAGES)
        d = check_int("data_parallel", self.data_parallel, 1, MAX_GPUS)
        b = check_int("micro_batch", self.micro_batch)
        batch = check_int("global_batch", self.global_batch)
        name = check_choice("schedule", self.schedule, SCHEDULES)
        v = check_int("virtual_stages", self.virtual_stages, 1, MAX_STAGES)
        check_choice("recompute", self.recompute, RECOMPUTE)
        for key in (
            "sequence_parallel",
            "distributed_optimizer",
            "overlap_p2p",
            "overlap_dp",
            "tp_inside_node",
            "shard_gradients",
            "fp8",
        ):
            check_bool(key, getattr(self, key))
        check_choice("layer_split", self.layer_split, LAYER_SPLITS)
        if self.seq_len is not None:
            check_int("seq_len", self.seq_len)
            _check_context_split(self.seq_len, c)
        if t * c * p * d > MAX_GPUS:
            raise ValueError(
                f"tensor_parallel x context_parallel x pipeline_parallel x data_parallel must "
                f"be at most {MAX_GPUS:,} GPUs (beyond any real cluster), got "
                f"{t} x {c} x {p} x {d} = {t * c * p * d}"
            )
        if batch % (d * b):
            raise ValueError(
                f"global_batch must be a multiple of data_parallel x micro_batch = {d * b} "
                f"(so that m = G / (d b) is an integer), got {batch}"
            )
        m = batch // (d * b)
        if m > MAX_MICROBATCHES:
            raise ValueError(
                f"global_batch / (data_parallel x micro_batch) = m must be at most "
                f"{MAX_MICROBATCHES:,} micro-batches per step (beyond any real step), got "
                f"global_batch={batch} / ({d} x {b}) = {m:,}"
            )
        if v != 1 and name != "interleaved":
            raise ValueError(
                f"virtual_stages applies only to schedule 'interleaved', got virtual_stages={v} "
                f"with {name!r}"
            )
        if name == "interleaved" and v > 1 and m % p:
            raise ValueError(
                f"interleaved with virtual_stages={v} needs m = G / (d b) divisible by p = {p} "
                f"(Megatron-LM's order), got m = {m}"
            )
        if name == "zbv" and m < 2 * p - 1:
            raise ValueError(
                f"schedule 'zbv' needs m = G / (d b) >= 2p - 1 = {2 * p - 1} micro-batches, "
                f"got m = {m}"
            )
        chunks = v if name == "interleaved" else 2 if name == "zbv" else 1
        if name in SIMULATED and p * m * chunks > MAX_SCHEDULE_ACTIONS:
            raise ValueError(
                f"schedule {name!r} with pipeline_parallel={p}, m = global_batch / "
                f"(data_parallel x micro_batch) = {m:,} and {chunks} chunk(s) per rank is "
                f"{p * m * chunks:,} actions per step; the simulator that times its hops "
                f"handles at most {MAX_SCHEDULE_ACTIONS:,}"
            )

    @property
    def num_microbatches(self) -> int:
        """m = G / (d b), micro-batches through each pipeline per step."""
        return self.global_batch // (self.data_parallel * self.micro_batch)

    @property
    def num_gpus(self) -> int:
        """t c p d."""
        return (
            self.tensor_parallel
            * self.context_parallel
            * self.pipeline_parallel
            * self.data_parallel
        )

    @property
    def chunks_per_rank(self) -> int:
        """Model chunks each rank holds: v (interleaved), 2 (zbv's V), else 1."""
        return memory.chunks_per_rank(self.schedule, self.virtual_stages)

    @classmethod
    def for_gpus(cls, num_gpus: int, tensor_parallel: int, pipeline_parallel: int, **kwargs):
        """The configuration that uses ``num_gpus`` GPUs: d = num_gpus / (t c p).

        Raises ``ValueError`` if t c p does not divide the GPU count.
        """
        n = check_int("num_gpus", num_gpus, 1, MAX_GPUS)
        t = check_int("tensor_parallel", tensor_parallel, 1, MAX_GPUS)
        p = check_int("pipeline_parallel", pipeline_parallel, 1, MAX_STAGES)
        c = check_int("context_parallel", kwargs.get("context_parallel", 1), 1, MAX_GPUS)
        if n % (t * c * p):
            raise ValueError(
                f"tensor_parallel x context_parallel x pipeline_parallel = {t * c * p} must "
                f"divide num_gpus, got num_gpus={n}"
            )
        return cls(t, p, n // (t * c * p), **kwargs)


def _check_context_split(seq_len: int, c: int) -> None:
    """s must split into 2c equal pieces (two per GPU, for load balance under the causal mask)."""
    if c > 1 and seq_len % (2 * c):
        raise ValueError(
            f"seq_len must be a multiple of 2 x context_parallel = {2 * c} (each of the c "
            f"GPUs holds two equal pieces of every sequence), got seq_len={seq_len}"
        )


@dataclass(frozen=True)
class StepResult:
    """One configuration's step, as :func:`step_time` computes it.

    Attributes:
        model, cluster, config: the inputs.
        parts: seconds per part (keys :data:`PARTS`), summing to ``step_time``:
            ``compute`` (forward and backward FLOPs of the slowest rank, m micro-batches),
            ``recompute`` (the recomputed forward), ``bubble`` (idle time of that rank at zero
            hop latency, including the wait caused by slower stages), ``pipeline_comm``
            (point-to-point time the schedule exposes), ``tp_comm`` (tensor-parallel
            collectives, not overlapped), ``dp_comm`` (gradient reduction and the tied
            embedding's all-reduce, the part not hidden), ``optimizer`` (the Adam step).
        step_time: seconds per step.
        tokens_per_second: global batch x sequence length / step time.
        model_tflops_per_gpu, hardware_tflops_per_gpu: useful FLOPs per GPU per second in
            TFLOP/s; hardware FLOPs include the recomputed forward.
        mfu, hfu: the same over the GPU's dense BF16 peak (fractions).
        stage_times: per rank, (forward, backward) seconds of one micro-batch, comm included.
        memory: per-stage memory (:func:`ppnotes.memory.stage_memory` rows, bytes per GPU).
        fits: whether every stage fits the GPU (:func:`ppnotes.memory.fits`).
        tightest_stage: the stage with the least free memory.
        shortfall_bytes: bytes the tightest stage lacks (0 when it fits).
    """

    model: ModelSpec
    cluster: Cluster
    config: Config
    parts: dict[str, float]
    step_time: float
    tokens_per_second: float
    model_tflops_per_gpu: float
    hardware_tflops_per_gpu: float
    mfu: float
    hfu: float
    stage_times: list[tuple[float, float]]
    memory: list[dict] = field(repr=False)
    fits: bool
    tightest_stage: int
    shortfall_bytes: float

    def __post_init__(self):
        # Cheap on purpose: step_time builds one per configuration the planner searches.
        check_instance("model", self.model, ModelSpec)
        check_instance("cluster", self.cluster, Cluster)
        check_instance("config", self.config, Config)


# --- compute: a roofline per matrix multiply --------------------------------------------------


def matmul_time(flops: float, bytes_moved: float, gpu: GPUSpec, efficiency: float) -> float:
    """Seconds for one kernel: its roofline time plus the fixed cost of launching it,

        max(FLOPs / (peak x efficiency), bytes / achievable HBM BW) + kernel launch cost.

    The HBM term divides by the bandwidth a streaming kernel reaches on this GPU, not the
    data-sheet peak (:attr:`~ppnotes.hardware.GPUSpec.achievable_hbm_bandwidth`, from a
    published microbenchmark); the launch cost is
    :attr:`~ppnotes.hardware.GPUSpec.kernel_launch_cost`
    (:data:`ppnotes.hardware.KERNEL_LAUNCH_COST`, a few microseconds: noise for a training
    kernel, a visible share of a small decode step).

    Args:
        flops: floating-point operations (2 per multiply-add).
        bytes_moved: bytes read from and written to HBM (weights, inputs, outputs).
        gpu: the GPU (dense BF16 peak ``bf16_flops``, achievable HBM bandwidth, launch cost).
        efficiency: achieved fraction of the peak on compute-bound kernels, in (0, 1]
            (the book's assumption is :data:`ppnotes.comm.DEFAULT_UTILISATION`).

    Returns:
        Seconds (float). Small micro-batches and short sequences become memory-bound:
        the weights must be read whatever the batch.
    """
    f = check_real("flops", flops)
    nbytes = check_real("bytes_moved", bytes_moved)
    check_instance("gpu", gpu, GPUSpec)
    e = check_real("efficiency", efficiency, 0.0, 1.0, strict=True)
    return _matmul(f, nbytes, gpu, e)


def _matmul(flops: float, nbytes: float, gpu: GPUSpec, efficiency: float) -> float:
    """:func:`matmul_time` on checked arguments (the step model's inner loop)."""
    roofline = max(flops / (gpu.bf16_flops * efficiency), nbytes / gpu.achievable_hbm_bandwidth)
    return roofline + gpu.kernel_launch_cost


def _check_efficiency(efficiency) -> float | None:
    """None (the kernel model, :mod:`ppnotes.gemm`) or a flat efficiency in (0, 1]."""
    if efficiency is None:
        return None
    return check_real("efficiency", efficiency, 0.0, 1.0, strict=True)


def _check_layer_args(model, micro_batch, gpu, tensor_parallel, seq_len, efficiency):
    """Checked (model, b, gpu, t, s, efficiency) of the per-layer time functions."""
    check_instance("model", model, ModelSpec)
    b = check_int("micro_batch", micro_batch)
    check_instance("gpu", gpu, GPUSpec)
    t = check_int("tensor_parallel", tensor_parallel, 1, MAX_GPUS)
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    return model, b, gpu, t, s, _check_efficiency(efficiency)


def _layer_kernels(model: ModelSpec, tokens: int, seq_len: int, t: int) -> list[tuple]:
    """(FLOPs, bytes) of a layer's forward kernels on one of t GPUs, for ``tokens`` tokens.

    Four weight multiplies (QKV, attention output, MLP in, MLP out) and the attention core
    (scores and values, 4 s h FLOPs per token as in Narayanan et al. 2021, eq. 3; with
    FlashAttention it reads Q, K, V and writes the output). Bytes: weights once, inputs and
    outputs once, 2 bytes each.
    """
    h, kv = model.hidden_size, model.num_kv_heads * model.head_dim
    ffn, gates = model.ffn_hidden_size, model.mlp_matrices - 1
    shapes = [(h, h + 2 * kv), (h, h), (h, gates * ffn), (ffn, h)]  # (in, out) of each weight
    kernels = []
    for n_in, n_out in shapes:
        weights = n_in * n_out / t
        flops = 2 * tokens * weights
        nbytes = WEIGHT_BYTES * weights + ACTIVATION_BYTES * tokens * (n_in + n_out) / t
        kernels.append((flops, nbytes))
    attention_flops = 4 * tokens * seq_len * h / t
    attention_bytes = ACTIVATION_BYTES * tokens * (2 * h + 2 * kv) / t  # Q, K, V in, output
    kernels.append((attention_flops, attention_bytes))
    return kernels


#: Bytes per token that a layer's element-wise kernels read and write in the forward pass, in
#: units of 2-byte values: two normalisations (read and write h each), two residual adds (read
#: 2h, write h each), 10 h in all, sharded over t with sequence parallelism; and the MLP's
#: activation (GeLU reads and writes the ffn width, SwiGLU reads two and writes one), over t.
#: Biases and dropout are taken as fused into the neighbouring kernels.
ELEMENTWISE_H = 10


def _weight_shapes(model: ModelSpec) -> list[tuple[int, int, bool]]:
    """(in, out, column-parallel) of a layer's four weights: QKV and MLP-in split their
    output over t (column-parallel), the attention output and MLP-out their input (row)."""
    h, kv = model.hidden_size, model.num_kv_heads * model.head_dim
    ffn, gates = model.ffn_hidden_size, model.mlp_matrices - 1
    return [(h, h + 2 * kv, True), (h, h, False), (h, gates * ffn, True), (ffn, h, False)]


def _gemm_passes(
    tokens: int, n_in: int, n_out: int, t: int, column: bool, gpu: GPUSpec, fp8: bool = False
):
    """Seconds of one weight's forward, input-gradient and weight-gradient multiplies on one
    of t GPUs: forward T x out x in, input gradient T x in x out, weight gradient
    in x out x T, with the split dimension divided by t."""
    a, c = (n_in, n_out // t) if column else (n_in // t, n_out)
    return (
        gemm._gemm(tokens, c, a, gpu, fp8),
        gemm._gemm(tokens, a, c, gpu, fp8),
        gemm._gemm(a, c, tokens, gpu, fp8),
    )


#: The kernels of one layer, in :func:`layer_kernel_times` order.
LAYER_KERNELS = ("QKV", "attention out", "MLP in", "MLP out", "attention core", "element-wise")


def layer_kernel_times(
    model: ModelSpec,
    micro_batch: int,
    gpu: GPUSpec,
    tensor_parallel: int = 1,
    seq_len=None,
    fp8: bool = False,
) -> dict[str, tuple[float, float]]:
    """Seconds of each kernel of one layer on one of t GPUs, for one micro-batch, by the
    kernel model (:mod:`ppnotes.gemm`): ``{kernel: (forward, backward)}`` over
    :data:`LAYER_KERNELS`. The four weight multiplies with their per-GPU shapes (QKV and MLP in
    split their outputs over t, attention out and MLP out their inputs), the causal attention
    core as FlashAttention-2, the element-wise kernels as memory-bound (:data:`ELEMENTWISE_H`).
    Summed, they are :func:`layer_forward_time` and the backward the step model uses. ``fp8``:
    the weight multiplies with FP8 inputs (:class:`Config` ``fp8``)."""
    model, b, gpu, t, s, _ = _check_layer_args(
        model, micro_batch, gpu, tensor_parallel, seq_len, None
    )
    fp8 = gemm.check_fp8(gpu, fp8)
    tokens = b * s
    out = {}
    for name, (n_in, n_out, column) in zip(LAYER_KERNELS[:4], _weight_shapes(model), strict=True):
        f, i, w = _gemm_passes(tokens, n_in, n_out, t, column, gpu, fp8)
        out[name] = (f, i + w)
    width = model.num_heads * model.head_dim // t
    out["attention core"] = (
        gemm._attention(b, s, width, gpu, False),
        gemm._attention(b, s, width, gpu, True),
    )
    ew = _elementwise_time(model, tokens, t, gpu)
    out["element-wise"] = (ew, 2 * ew)
    return out


def _elementwise_time(model: ModelSpec, tokens: int, t: int, gpu: GPUSpec) -> float:
    """Seconds of a layer's element-wise forward kernels (memory-bound)."""
    width = ELEMENTWISE_H * model.hidden_size / t + model.mlp_matrices * model.ffn_hidden_size / t
    return gemm.OVERHEAD * ACTIVATION_BYTES * tokens * width / gpu.achievable_hbm_bandwidth


@lru_cache(maxsize=1024)
def _layer_times(
    model: ModelSpec, b: int, gpu: GPUSpec, t: int, s: int, efficiency, fp8=False, cp=1
):
    """(forward, backward, weight-gradient part of the backward, attention core forward and
    backward) of one layer and one micro-batch on one of t x cp GPUs, seconds, without
    communication.

    ``efficiency`` None: every multiply timed from its shape (:mod:`ppnotes.gemm`), the
    attention core as FlashAttention-2, the element-wise kernels as memory-bound. A number:
    the book's former flat roofline (every kernel at that share of the peak, backward twice
    the forward, its weight-gradient half equal to the forward). With context parallelism
    (``cp`` > 1) each GPU holds b s / cp tokens; its attention core runs cp blocks of
    s / cp queries against s / cp keys, each half masked on load-balanced pieces, so cp
    causal attentions of length s / cp: 1 / cp of the whole, at a short block's rate.
    """
    tokens = b * s // cp
    if efficiency is not None:
        forward = sum(
            _matmul(f, n, gpu, efficiency) for f, n in _layer_kernels(model, tokens, s, t)
        )
        attention = _matmul(*_layer_kernels(model, tokens, s, t)[-1], gpu, efficiency)
        return forward, 2 * forward, forward, attention, 2 * attention
    fwd = bwd = wgt = 0.0
    for n_in, n_out, column in _weight_shapes(model):
        f, i, w = _gemm_passes(tokens, n_in, n_out, t, column, gpu, fp8)
        fwd, bwd, wgt = fwd + f, bwd + i + w, wgt + w
    width = model.num_heads * model.head_dim // t
    attention = cp * gemm._attention(b, s // cp, width, gpu, False)
    attention_b = cp * gemm._attention(b, s // cp, width, gpu, True)
    ew = _elementwise_time(model, tokens, t, gpu)
    return fwd + attention + ew, bwd + attention_b + 2 * ew, wgt, attention, attention_b


@lru_cache(maxsize=1024)
def _head_times(model: ModelSpec, b: int, gpu: GPUSpec, t: int, s: int, efficiency, fp8=False):
    """(forward, backward, weight-gradient part) of the LM head (h -> V logits over t) for one
    micro-batch, seconds; ``efficiency`` as in :func:`_layer_times`."""
    tokens, h, vocab = b * s, model.hidden_size, model.vocab_size
    if efficiency is not None:
        flops = 2 * tokens * vocab * h / t
        nbytes = WEIGHT_BYTES * vocab * h / t + ACTIVATION_BYTES * tokens * (h + vocab / t)
        forward = _matmul(flops, nbytes, gpu, efficiency)
        return forward, 2 * forward, forward
    f, i, w = _gemm_passes(tokens, h, vocab, t, True, gpu, fp8)
    return f, i + w, w


def layer_forward_time(
    model: ModelSpec,
    micro_batch: int,
    gpu: GPUSpec,
    tensor_parallel: int = 1,
    seq_len: int | None = None,
    efficiency: float | None = None,
) -> float:
    """Seconds of one layer's forward pass for one micro-batch on one of t GPUs (no comm).

    By default each matrix multiply is timed from its shape (:func:`ppnotes.gemm.gemm_time`),
    the attention core as FlashAttention-2 and the element-wise kernels as memory-bound;
    with ``efficiency`` a number, the flat roofline (:func:`matmul_time`) at that share of
    the peak. The forward FLOPs equal :func:`ppnotes.comm.layer_forward_flops` / t.
    """
    return _layer_forward_time(
        *_check_layer_args(model, micro_batch, gpu, tensor_parallel, seq_len, efficiency)
    )


def _layer_forward_time(model, b, gpu, t, s, efficiency) -> float:
    return _layer_times(model, b, gpu, t, s, efficiency)[0]


def attention_core_time(
    model: ModelSpec,
    micro_batch: int,
    gpu: GPUSpec,
    tensor_parallel: int = 1,
    seq_len: int | None = None,
    efficiency: float | None = None,
) -> float:
    """Seconds of the attention core's forward (scores and values) for one micro-batch:
    the part selective recomputation runs again (Korthikanti et al. 2022)."""
    return _attention_core_time(
        *_check_layer_args(model, micro_batch, gpu, tensor_parallel, seq_len, efficiency)
    )


def _attention_core_time(model, b, gpu, t, s, efficiency) -> float:
    return _layer_times(model, b, gpu, t, s, efficiency)[3]


def head_forward_time(
    model: ModelSpec,
    micro_batch: int,
    gpu: GPUSpec,
    tensor_parallel: int = 1,
    seq_len: int | None = None,
    efficiency: float | None = None,
) -> float:
    """Seconds of the LM head's forward (h -> V logits, split over t) for one micro-batch.

    2 b s V h / t FLOPs; reads the V x h / t weights and writes the logits. The last stage
    runs it on top of its layers. The embedding lookup of the first stage moves b s h values
    and is left out (microseconds). ``efficiency`` as in :func:`layer_forward_time`.
    """
    return _head_forward_time(
        *_check_layer_args(model, micro_batch, gpu, tensor_parallel, seq_len, efficiency)
    )


def _head_forward_time(model, b, gpu, t, s, efficiency) -> float:
    return _head_times(model, b, gpu, t, s, efficiency)[0]


# --- the pipeline: the slowest stage sets the pace ---------------------------------------------


def pipeline_time(
    schedule: str,
    num_microbatches: int,
    forward: list[float],
    backward: list[float],
    virtual_stages: int = 1,
) -> float:
    """Seconds of one step's pipeline at zero hop latency, for per-rank stage times.

    ``forward[i]``, ``backward[i]``: one micro-batch through rank i's layers (all its chunks).
    With equal ranks this is chapter 2's closed form for the schedule
    (:mod:`ppnotes.bubble`); the backward splits into equal input- and weight-gradient
    halves for the zero-bubble schedules (their FLOPs are equal). With unequal ranks every
    micro-batch must pass the slowest one, so

        T = T_equal(mean times) + (m - 1) (max_i w_i - mean_i w_i),   w_i = f_i + b_i,

    the flow-shop makespan sum_i w_i + (m - 1) max_i w_i for GPipe and 1F1B. Checked against
    the simulator (``tests/test_perf_model.py``, ranks within 20 % of each other, m >= 2p):
    exact for GPipe; exact for 1F1B when the last rank is the heaviest (the LM head puts it
    there) and otherwise an upper bound within 10 % (a heavy early rank hides part of its
    excess in the warm-up); within 15 % for interleaved and 5 % for ZB-H1, either way.
    """
    name = check_choice("schedule", schedule, SCHEDULES)
    m = check_int("num_microbatches", num_microbatches)
    v = check_int("virtual_stages", virtual_stages, 1, MAX_STAGES)
    forward = _check_times("forward", forward)
    backward = _check_times("backward", backward)
    if len(forward) != len(backward):
        raise ValueError(
            f"forward and backward must list one time per rank, got {len(forward)} and "
            f"{len(backward)}"
        )
    return _pipeline_time(name, m, forward, backward, v)


def _check_times(name: str, values) -> list[float]:
    """``values`` as a list of finite seconds >= 0, one per rank (1 to MAX_STAGES of them)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise WrongTypeError(f"{name} must be a list of seconds per rank, got {values!r}")
    if not 1 <= len(values) <= MAX_STAGES:
        raise ValueError(
            f"{name} must list 1 to {MAX_STAGES} times (one per rank), got {len(values)}"
        )
    return [check_real(f"{name}[{i}]", x) for i, x in enumerate(values)]


def _pipeline_time(name, m, forward, backward, v) -> float:
    """:func:`pipeline_time` on checked arguments."""
    p = len(forward)
    f = sum(forward) / p
    b = sum(backward) / p
    work = [x + y for x, y in zip(forward, backward, strict=True)]
    imbalance = (m - 1) * (max(work) - (f + b))
    if name in ("gpipe", "1f1b"):
        base = bubble.step_time(p, m, f, b)
    elif name == "interleaved":
        base = bubble.step_time(p, m, f, b, v)
    else:
        # The weight-gradient pass W does the forward's FLOPs; capping it at the forward keeps
        # the closed forms in their exact range when recomputation lengthens the backward.
        t_w = min(b / 2, f)
        t_i = b - t_w
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # conditions stated in ppnotes.bubble
            if name == "zb-h1":
                base = bubble.zb_h1_step_time(p, m, f, t_i, t_w)
            elif p == 1:
                base = m * (f + b)
            else:
                base = m * (f + b) + bubble.zbv_bubble_time(p, m, f, t_i, t_w)
    return base + imbalance


# --- where each collective runs ----------------------------------------------------------------
# Ranks are numbered tensor-parallel first, then data-parallel, then pipeline (Megatron-LM's
# default order "tp-dp-pp"), so a TP group is t neighbours, a DP group spans t d GPUs and
# neighbouring pipeline stages are t d GPUs apart.


def _check_placement(cluster: Cluster, config: Config) -> None:
    t, n = config.tensor_parallel, cluster.gpus_per_node
    if config.tp_inside_node and t > n:
        raise ValueError(
            f"tensor_parallel must be at most the {n} GPUs of a node when tp_inside_node=True, "
            f"got {t}"
        )


def _link_time(nbytes: float, cluster: Cluster, crosses_nodes: bool) -> float:
    """One GPU's transfer of ``nbytes``: NVLink inside a node, else its share of a card."""
    if not crosses_nodes:
        return comm.transfer_time(nbytes, cluster.intra_link)
    return comm.transfer_time(nbytes * cluster.nic_crowding, cluster.inter_link)


def _ring_time(
    nbytes: float, ranks: int, cluster: Cluster, crosses_nodes: bool, kind: str = "all-reduce"
) -> float:
    """Ring collective (:func:`ppnotes.comm.collective_time`) of ``nbytes`` over ``ranks``
    GPUs, at the slowest link of the ring."""
    if not crosses_nodes:
        return comm.collective_time(nbytes, ranks, cluster.intra_link, kind)
    return comm.collective_time(nbytes * cluster.nic_crowding, ranks, cluster.inter_link, kind)


def hop_time(model: ModelSpec, cluster: Cluster, config: Config) -> float:
    """Seconds of one micro-batch's transfer over one stage boundary (one direction).

    Each of the t ranks sends its 1/t slice (scatter/gather, or sequence parallelism, which
    already shards the boundary tensor): :func:`ppnotes.comm.per_nic_bytes`. Over the network
    unless the whole pipeline (t d p GPUs) sits in one node. Zero for p = 1.
    """
    return _hop_time(*_check_objects(model, cluster, config))


def _check_objects(model, cluster, config):
    """Checked (model, cluster, config) of the step model's public functions."""
    check_instance("model", model, ModelSpec)
    check_instance("cluster", cluster, Cluster)
    check_instance("config", config, Config)
    return model, cluster, config


def _check_model_config(model, config):
    check_instance("model", model, ModelSpec)
    check_instance("config", config, Config)
    return model, config


def _local_seq(model: ModelSpec, config: Config) -> int:
    """Tokens of each sequence on one GPU: s / c (context parallelism splits the sequence)."""
    s = config.seq_len or model.seq_len
    _check_context_split(s, config.context_parallel)
    return s // config.context_parallel


def _hop_time(model: ModelSpec, cluster: Cluster, config: Config) -> float:
    if config.pipeline_parallel == 1:
        return 0.0
    s = _local_seq(model, config)
    nbytes = comm.per_nic_bytes(
        model, config.micro_batch, s, ACTIVATION_BYTES, config.tensor_parallel, scatter_gather=True
    )
    crosses = config.num_gpus > cluster.gpus_per_node
    return _link_time(nbytes, cluster, crosses)


def tp_time_per_layer(model: ModelSpec, cluster: Cluster, config: Config) -> tuple[float, float]:
    """(forward, backward) seconds of tensor-parallel collectives per layer and micro-batch.

    Two all-reduces of b s h values forward and two backward (Megatron-LM); with sequence
    parallelism each becomes an all-gather plus a reduce-scatter, the same bytes and steps
    in two calls, so one more per-call latency (Korthikanti et al. 2022;
    :func:`ppnotes.comm.collective_time`). Full recomputation repeats the forward's two in
    the backward.
    Not overlapped with compute (as in Megatron-LM on A100; newer versions overlap part of it
    on Hopper, which this model leaves out). Zero for t = 1.
    """
    return _tp_time_per_layer(*_check_objects(model, cluster, config))


def _tp_time_per_layer(model: ModelSpec, cluster: Cluster, config: Config) -> tuple[float, float]:
    t = config.tensor_parallel
    s = _local_seq(model, config)
    one = comm.activation_bytes_per_hop(model, config.micro_batch, s, ACTIVATION_BYTES)
    allreduce = comm.allreduce_time_across_nodes(
        one,
        t,
        cluster.gpus_per_node,
        cluster.intra_link,
        cluster.inter_link,
        nic_share=cluster.nic_crowding,
    )
    if config.sequence_parallel and t > 1:
        link = cluster.intra_link if t <= cluster.gpus_per_node else cluster.inter_link
        allreduce += link.call_latency  # all-gather + reduce-scatter: two calls, not one
    forward = comm.TP_ALLREDUCES_PER_LAYER_FORWARD * allreduce
    backward = comm.TP_ALLREDUCES_PER_LAYER_TRAINING - comm.TP_ALLREDUCES_PER_LAYER_FORWARD
    backward *= allreduce
    if config.recompute == "full":
        backward += forward
    return forward, backward


def _data_parallel_time(
    model: ModelSpec, cluster: Cluster, config: Config, params_per_gpu: float
) -> float:
    """Seconds of the gradient reduction over the d c GPUs that hold the same weights
    (d replicas, each split c ways by context parallelism), before any overlap.

    Without the distributed optimizer: a ring all-reduce of the fp32 gradients. With it
    (ZeRO-1): a reduce-scatter of the gradients, then an all-gather of the updated bf16
    weights, each half an all-reduce's steps and traffic, each one call (Megatron-LM's
    distributed optimizer). The bytes per GPU are the stage's parameters over t:
    :func:`ppnotes.comm.collective_time` of a volume that falls as 1/p.
    """
    d = config.data_parallel * config.context_parallel
    if d == 1:
        return 0.0
    crosses = config.tensor_parallel * d > cluster.gpus_per_node
    grads = params_per_gpu * GRAD_REDUCE_BYTES
    if not config.distributed_optimizer:
        return _ring_time(grads, d, cluster, crosses)
    weights = params_per_gpu * PARAM_GATHER_BYTES
    scatter = _ring_time(grads, d, cluster, crosses, "reduce-scatter")
    return scatter + _ring_time(weights, d, cluster, crosses, "all-gather")


def cp_time_per_layer(model: ModelSpec, cluster: Cluster, config: Config) -> tuple[float, float]:
    """(forward, backward) seconds of context-parallel ring traffic per layer and
    micro-batch that the attention core does not hide.

    Ring attention (Megatron-LM's default ``cp_comm_type`` "p2p"; Liu et al. 2023): in
    each of c - 1 steps every GPU passes the keys and values of its s / c tokens
    (b s / c x 2 x kv heads x head size / t values, bf16) to its neighbour while it computes
    one block of attention, 1 / c of its attention core; the backward passes keys, values
    and their gradients, twice the bytes, under the backward's blocks. A step costs what its
    transfer exceeds its block. The c GPUs are t apart (rank order t, c, d, p), inside a node
    while t c fits in one. Zero for c = 1.
    """
    model, cluster, config = _check_objects(model, cluster, config)
    _check_placement(cluster, config)
    b, t, s = config.micro_batch, config.tensor_parallel, config.seq_len or model.seq_len
    _check_context_split(s, config.context_parallel)
    times = _layer_times(model, b, cluster.gpu, t, s, None, False, config.context_parallel)
    return _cp_time_per_layer(model, cluster, config, *times[3:])


def _cp_time_per_layer(
    model: ModelSpec, cluster: Cluster, config: Config, attention_f: float, attention_b: float
) -> tuple[float, float]:
    c = config.context_parallel
    if c == 1:
        return 0.0, 0.0
    t, s = config.tensor_parallel, _local_seq(model, config)
    kv = 2 * config.micro_batch * s * model.num_kv_heads * model.head_dim / t
    crosses = t * c > cluster.gpus_per_node
    forward = _link_time(kv * ACTIVATION_BYTES, cluster, crosses)
    backward = _link_time(2 * kv * ACTIVATION_BYTES, cluster, crosses)
    return (
        (c - 1) * max(0.0, forward - attention_f / c),
        (c - 1) * max(0.0, backward - attention_b / c),
    )


def _embedding_sync_time(model: ModelSpec, cluster: Cluster, config: Config) -> float:
    """Seconds of the all-reduce of a tied embedding's gradient between the first and the
    last stage, after the pipeline flush (Megatron-LM keeps a copy on each). Zero when the
    embeddings are not tied or p = 1."""
    if not model.tied_embeddings or config.pipeline_parallel == 1:
        return 0.0
    nbytes = model.vocab_size * model.hidden_size / config.tensor_parallel * GRAD_REDUCE_BYTES
    return _ring_time(nbytes, 2, cluster, config.num_gpus > cluster.gpus_per_node)


def layers_per_rank(model: ModelSpec, config: Config, head_layers: float = 0.0) -> list[int]:
    """Layers on each pipeline rank, by chapter 1's rules.

    "balanced": counts differ by at most one (:func:`ppnotes.partition.balanced_split`).
    "head-aware": the split that minimises the slowest rank when the last one also runs the
    LM head, ``head_layers`` layers' worth of time (:func:`ppnotes.partition.optimal_split`).
    Interleaved and V-shaped schedules cut each rank's layers into chunks, so every chunk
    needs at least one layer: L >= p x chunks.
    """
    model, config = _check_model_config(model, config)
    return _layers_per_rank(model, config, check_real("head_layers", head_layers))


def _layers_per_rank(model: ModelSpec, config: Config, head_layers: float = 0.0) -> list[int]:
    n, p = model.num_layers, config.pipeline_parallel
    if p > n:
        raise ValueError(
            f"pipeline_parallel must be at most the {n} layers of {model.name}, got {p}"
        )
    chunks = config.chunks_per_rank
    if p * chunks > n:
        raise ValueError(
            f"schedule {config.schedule!r} with {chunks} chunks per rank needs at least "
            f"p x {chunks} = {p * chunks} layers, got the {n} layers of {model.name}"
        )
    if config.layer_split == "head-aware":
        return partition.optimal_split(n, p, 0.0, head_layers)
    return partition.balanced_split(n, p)


def chunk_layers(model: ModelSpec, config: Config) -> list[int] | None:
    """Layers of each model chunk when a rank holds several chunks and they are not all
    equal (interleaved or ZBV); None when they are equal or each rank holds one.

    Chunks are listed in schedule order: global stage c p + r is rank r's chunk c for
    interleaved (ZBV's second chunk runs back up the V), the order of Megatron-LM's
    ``--pipeline-model-parallel-layout`` and of torchtitan's stages. "balanced": the first
    L mod (p x chunks) stages get one more layer, torchtitan's own split
    (``_generate_llm_fqn_per_model_part`` with ``pipeline_parallel_first_stage_less_layers``
    and ``last_stage_less_layers`` 0). "head-aware": each rank's layers (:func:`layers_per_rank`)
    are cut into its chunks, the earlier chunks one larger. :mod:`ppnotes.export` writes the
    same layout out. The step model times unequal chunks with the simulator.
    """
    model, config = _check_model_config(model, config)
    return _chunk_layers(model, config, _layers_per_rank(model, config))


def _chunk_layers(model: ModelSpec, config: Config, counts: list[int]) -> list[int] | None:
    p, chunks = config.pipeline_parallel, config.chunks_per_rank
    if chunks == 1:
        return None
    if config.layer_split == "balanced":
        layers = partition.balanced_split(model.num_layers, p * chunks)
    else:
        owner = _stage_ranks(config)
        layers = [0] * (p * chunks)
        for r, n in enumerate(counts):
            stages = [s for s, rank in enumerate(owner) if rank == r]
            for stage, share in zip(stages, partition.balanced_split(n, chunks), strict=True):
                layers[stage] = share
    return None if len(set(layers)) == 1 else layers


def _stage_ranks(config: Config) -> tuple[int, ...]:
    """The rank of each global stage under ``config``'s schedule: chunk c of rank r is stage
    c p + r, except that ZBV's second chunk runs back up the V (stage 2p - 1 - r), as
    :func:`ppnotes.schedules.build_schedule` places them (tested against it)."""
    p, chunks = config.pipeline_parallel, config.chunks_per_rank
    if config.schedule == "zbv":
        return tuple(range(p)) + tuple(range(p - 1, -1, -1))
    return tuple(s % p for s in range(p * chunks))


def _built_schedule(name: str, p: int, m: int, v: int) -> schedules.Schedule:
    """:func:`ppnotes.schedules.build_schedule`, through chapter 3's cache
    (:func:`ppnotes.comm._named_schedule`), which the exposed-hop simulation shares."""
    return comm._named_schedule(name, p, m, v)


def _uneven_pipeline_time(config: Config, layers: list[int], layer: dict, head: dict):
    """Makespan of a schedule whose chunks hold ``layers`` layers (global stage order), by the
    chapter 2 simulator with one cost per stage: closed forms assume equal chunks, and a mix
    of 1- and 2-layer chunks has a bubble several times theirs. ``layer``/``head`` hold the
    seconds of one layer (and of the LM head, on the last stage) per micro-batch: ``F``, the
    full backward ``B`` and its weight-gradient part ``W``. Returns seconds, hops excluded
    (they are charged separately)."""
    p, m = config.pipeline_parallel, config.num_microbatches
    sched = _built_schedule(config.schedule, p, m, config.virtual_stages)
    last = len(layers) - 1
    cost = {
        kind: [n * layer[kind] + (head[kind] if s == last else 0.0) for s, n in enumerate(layers)]
        for kind in ("F", "B", "W")
    }
    cost["I"] = [b - w for b, w in zip(cost["B"], cost["W"], strict=True)]
    return schedules.simulate(sched, cost).makespan


def model_flops_per_step(model: ModelSpec, config: Config) -> float:
    """Useful FLOPs of one training step: 3 x forward (forward, input and weight gradients).

    Forward per sequence: every layer's multiplies and attention
    (:func:`ppnotes.comm.layer_forward_flops`) plus the LM head's 2 s V h (Narayanan et al.
    2021, eq. 3). Recomputation is not counted: this is the numerator of MFU.
    """
    return _model_flops_per_step(*_check_model_config(model, config))


def _model_flops_per_step(model: ModelSpec, config: Config) -> float:
    s = config.seq_len or model.seq_len
    per_sequence = model.num_layers * comm.layer_forward_flops(model, 1, s)
    per_sequence += 2 * s * model.vocab_size * model.hidden_size
    return 3 * config.global_batch * per_sequence


def recompute_flops_per_step(model: ModelSpec, config: Config) -> float:
    """FLOPs recomputation adds per step: every layer's forward again ("full") or the
    attention core, 4 s^2 h per sequence and layer ("selective"). HFU counts them, MFU not."""
    return _recompute_flops_per_step(*_check_model_config(model, config))


def _recompute_flops_per_step(model: ModelSpec, config: Config) -> float:
    s = config.seq_len or model.seq_len
    if config.recompute == "full":
        per_sequence = model.num_layers * comm.layer_forward_flops(model, 1, s)
    elif config.recompute == "selective":
        per_sequence = model.num_layers * 4 * s * s * model.hidden_size
    else:
        per_sequence = 0.0
    return config.global_batch * per_sequence


def step_time(
    model: ModelSpec,
    cluster: Cluster,
    config: Config,
    *,
    efficiency: float | None = None,
    reserve_fraction: float = memory.DEFAULT_RESERVE_FRACTION,
) -> StepResult:
    """Time one training step of ``model`` on ``cluster`` with ``config``; see :class:`StepResult`.

    step = pipeline (compute, recomputation, TP collectives and bubble of the slowest rank,
    :func:`pipeline_time`) + exposed point-to-point time
    (:func:`ppnotes.comm.exposed_pipeline_comm_time`) + exposed gradient reduction and tied
    embedding all-reduce + the Adam step. A configuration that does not fit memory is not an
    error: ``fits`` is False and ``shortfall_bytes`` says by how much.

    Args:
        model: a :class:`~ppnotes.models.ModelSpec`.
        cluster: a :class:`Cluster`.
        config: a :class:`Config`.
        efficiency: None (default): every kernel timed from its shape (:mod:`ppnotes.gemm`);
            a number in (0, 1]: the former flat roofline, every kernel at that share of the
            dense BF16 peak (chapter 5 compares the two).
        reserve_fraction: memory kept free on every GPU (see :func:`ppnotes.memory.fits`).

    Returns:
        A :class:`StepResult`.
    """
    _check_objects(model, cluster, config)
    efficiency = _check_efficiency(efficiency)
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 0.99)
    _check_placement(cluster, config)
    gpu, t, m = cluster.gpu, config.tensor_parallel, config.num_microbatches
    b, s, c = config.micro_batch, config.seq_len or model.seq_len, config.context_parallel
    local = _local_seq(model, config)

    fp8 = gemm.check_fp8(gpu, config.fp8)
    if fp8 and efficiency is not None:
        raise ValueError(f"fp8=True needs the kernel model (efficiency=None), got {efficiency}")
    times = _layer_times(model, b, gpu, t, s, efficiency, fp8, c)
    layer_f, layer_b, layer_w, attention_f, _ = times
    head_f, head_b, head_w = _head_times(model, b, gpu, t, local, efficiency, fp8)
    redo = {"none": 0.0, "full": layer_f, "selective": attention_f}[config.recompute]
    tp_f, tp_b = _tp_time_per_layer(model, cluster, config)
    # Ring traffic the attention core does not hide; a recomputed attention passes it again.
    cp_f, cp_b = _cp_time_per_layer(model, cluster, config, *times[3:])
    if config.recompute != "none":
        cp_b += cp_f
    coll_f, coll_b = tp_f + cp_f, tp_b + cp_b  # per-layer collectives: tensor and context
    counts = _layers_per_rank(model, config, head_f / (layer_f + coll_f))
    chunks = _chunk_layers(model, config, counts)
    if chunks is not None:  # each rank holds the sum of its (unequal) chunks
        counts = [0] * config.pipeline_parallel
        for stage, rank in enumerate(_stage_ranks(config)):
            counts[rank] += chunks[stage]

    # Per rank and micro-batch: compute (backward = 2 x forward), recomputation, TP comm.
    # The LM head runs on the rank of the last stage: the last rank, or rank 0 at the top of
    # ZBV's V (the memory model keeps its weights on the last rank).
    head_rank = 0 if config.schedule == "zbv" else len(counts) - 1
    fwd = [n * layer_f + (head_f if i == head_rank else 0.0) for i, n in enumerate(counts)]
    bwd = [n * layer_b + (head_b if i == head_rank else 0.0) for i, n in enumerate(counts)]
    forward = [x + n * coll_f for x, n in zip(fwd, counts, strict=True)]
    backward = [x + n * (redo + coll_b) for x, n in zip(bwd, counts, strict=True)]
    if chunks is None:
        pipe = _pipeline_time(config.schedule, m, forward, backward, config.virtual_stages)
    else:
        layer = {"F": layer_f + coll_f, "B": layer_b + redo + coll_b, "W": layer_w}
        head = {"F": head_f, "B": head_b, "W": head_w}
        pipe = _uneven_pipeline_time(config, chunks, layer, head)
    k = max(range(len(counts)), key=lambda i: forward[i] + backward[i])

    p2p = comm.exposed_pipeline_comm_time(
        config.schedule,
        config.pipeline_parallel,
        m,
        sum(forward) / len(forward),
        sum(backward) / len(backward),
        _hop_time(model, cluster, config),
        v=config.virtual_stages,
        overlap=config.overlap_p2p,
    )

    params = [x / t for x in memory.stage_params(model, counts)]
    dp = _data_parallel_time(model, cluster, config, max(params))
    if config.overlap_dp:
        # Buckets reduce while rank 0 runs its last backward; the weights gather while it runs
        # the next step's first forward (overlap_grad_reduce, overlap_param_gather).
        dp = max(0.0, dp - backward[0] - forward[0])
    dp += _embedding_sync_time(model, cluster, config)
    # The d c GPUs holding the same weights share the optimizer state (Megatron-LM's
    # distributed optimizer over data and context parallelism; torchtitan's FSDP over both).
    shard = config.data_parallel * c if config.distributed_optimizer else 1
    optimizer = max(params) / shard * ADAM_BYTES_PER_PARAM / gpu.achievable_hbm_bandwidth

    parts = {
        "compute": m * (fwd[k] + bwd[k]),
        "recompute": m * counts[k] * redo,
        "tp_comm": m * counts[k] * (tp_f + tp_b),
        "cp_comm": m * counts[k] * (cp_f + cp_b),
    }
    # the slowest rank may be busy the whole step (bubble 0): drop rounding below zero
    parts["bubble"] = max(0.0, pipe - sum(parts.values())) if pipe > 0 else 0.0
    parts.update(pipeline_comm=p2p, dp_comm=dp, optimizer=optimizer)
    parts = {key: float(parts[key]) for key in PARTS}
    total = sum(parts.values())

    rows = memory.stage_memory(
        model,
        counts,
        "train",
        tensor_parallel=t,
        micro_batch=b,
        num_microbatches=m,
        schedule=config.schedule,
        virtual_stages=config.virtual_stages,
        seq_len=local,  # activations of the s / c tokens each GPU holds
        sequence_parallel=config.sequence_parallel,
        recompute=config.recompute,
        fp32_grads=True,
        distributed_optimizer=config.distributed_optimizer,
        data_parallel=config.data_parallel * c,
        shard_gradients=config.shard_gradients,
        flash_attention=True,
    )
    budget = (1.0 - reserve) * gpu.memory_bytes
    free = [budget - r["total"] for r in rows]
    tight = min(range(len(free)), key=free.__getitem__)

    peak = config.num_gpus * gpu.bf16_flops * total
    useful = _model_flops_per_step(model, config)
    done = useful + _recompute_flops_per_step(model, config)
    return StepResult(
        model=model,
        cluster=cluster,
        config=config,
        parts=parts,
        step_time=total,
        tokens_per_second=config.global_batch * s / total,
        model_tflops_per_gpu=useful / (config.num_gpus * total) / 1e12,
        hardware_tflops_per_gpu=done / (config.num_gpus * total) / 1e12,
        mfu=useful / peak,
        hfu=done / peak,
        stage_times=list(zip(forward, backward, strict=True)),
        memory=rows,
        fits=free[tight] >= 0,
        tightest_stage=tight,
        shortfall_bytes=float(max(0.0, -free[tight])),
    )


def evaluate_many(model: ModelSpec, cluster: Cluster, configs, **kwargs) -> list[StepResult]:
    """:func:`step_time` for each configuration in ``configs`` (any iterable of Config).

    Each evaluation is closed form (well under a millisecond, see ``python -m ppnotes.bench``),
    so chapter 7 can search thousands of configurations in a second.
    """
    configs = _check_list("configs", configs, Config, "list of ppnotes.perf_model.Config")
    if not configs:
        raise ValueError("configs must hold at least one Config, got an empty list")
    return [step_time(model, cluster, c, **kwargs) for c in configs]


def _check_list(name: str, values, cls, what: str) -> list:
    """``values`` as a list whose items are all ``cls`` (``name[i]`` named if one is not)."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise WrongTypeError(f"{name} must be a {what}, got {values!r}")
    values = list(values)
    for i, x in enumerate(values):
        check_instance(f"{name}[{i}]", x, cls)
    return values


# --- the note's model, kept for comparison -----------------------------------------------------


def compute_layer_time(hidden_size: int, seq_len: int, batch_size: float, flops: float) -> float:
    """The note's undefined ``compute_layer_time``, given the definition it implies: one GPT
    layer's forward FLOPs for ``batch_size`` sequences over the GPU's FLOP/s.

    FLOPs = batch (24 s h^2 + 4 s^2 h) (Narayanan et al. 2021, eq. 3, per layer, forward).
    ``batch_size`` may be fractional (the note divides B by M). Returns seconds.
    """
    h = check_int("hidden_size", hidden_size)
    s = check_int("seq_len", seq_len)
    batch = check_real("batch_size", batch_size, strict=True)
    rate = check_real("flops", flops, strict=True)
    return batch * (24 * s * h * h + 4 * s * s * h) / rate


def _note_model(
    num_layers,
    hidden_size,
    seq_len,
    batch_size,
    pp_depth,
    num_microbatches,
    bandwidth,
    flops,
    per_microbatch: bool,
) -> dict[str, float]:
    n = check_int("num_layers", num_layers)
    p = check_int("pp_depth", pp_depth, maximum=n)
    m = check_int("num_microbatches", num_microbatches)
    batch = check_int("batch_size", batch_size)
    bw = check_real("bandwidth", bandwidth, strict=True)
    # The note computes the stage time for the whole batch; the fix uses one micro-batch.
    sequences = batch / m if per_microbatch else batch
    time_per_stage = compute_layer_time(hidden_size, seq_len, sequences, flops) * n / p
    bubble_time = (p - 1) * time_per_stage
    compute_time = m * time_per_stage
    activation_size = batch / m * seq_len * hidden_size * 2
    total_comm = m * (p - 1) * activation_size / bw
    total = bubble_time + compute_time + total_comm
    return {
        "total_time": total,
        "compute_time": compute_time,
        "bubble_time": bubble_time,
        "comm_time": total_comm,
        "efficiency": compute_time / total,
        "bubble_ratio": bubble_time / total,
        "comm_ratio": total_comm / total,
    }


#: The note's own example inputs for its section 5 model: GPT-3 175B's shape (96 layers,
#: h = 12288, s = 2048), a batch of 32 in M = 32 micro-batches, 25 GB/s, 312 TFLOP/s (seed).
NOTE_EXAMPLE_INPUTS = MappingProxyType(
    dict(
        num_layers=96,
        hidden_size=12288,
        seq_len=2048,
        batch_size=32,
        num_microbatches=32,
        bandwidth=25e9,
        flops=312e12,
    )
)


def note_performance_model(
    num_layers: int,
    hidden_size: int,
    seq_len: int,
    batch_size: int,
    pp_depth: int,
    num_microbatches: int,
    bandwidth: float,
    flops: float,
) -> dict[str, float]:
    """The note's ``pipeline_performance_model`` (section 5), literally.

    Its stage time is for the whole batch of B sequences, yet it is multiplied by the M
    micro-batches (compute counted M times) and by p - 1 for the bubble, while the
    communication is per micro-batch: compute and bubble are M times too large, so the
    communication share is M times too small. Every transfer is serialised on one link and
    nothing overlaps. Forward only. Times in seconds (``bandwidth`` bytes/s, ``flops``
    FLOP/s); returns the note's dict (``total_time``, ``compute_time``, ``bubble_time``,
    ``comm_time``, ``efficiency``, ``bubble_ratio``, ``comm_ratio``).
    """
    return _note_model(
        num_layers,
        hidden_size,
        seq_len,
        batch_size,
        pp_depth,
        num_microbatches,
        bandwidth,
        flops,
        per_microbatch=False,
    )


def note_performance_model_fixed(
    num_layers: int,
    hidden_size: int,
    seq_len: int,
    batch_size: int,
    pp_depth: int,
    num_microbatches: int,
    bandwidth: float,
    flops: float,
) -> dict[str, float]:
    """The note's model with its units fixed: the stage time is for one micro-batch (B / M
    sequences). Everything else as :func:`note_performance_model` (one link, no overlap,
    forward only). Same arguments and result keys."""
    return _note_model(
        num_layers,
        hidden_size,
        seq_len,
        batch_size,
        pp_depth,
        num_microbatches,
        bandwidth,
        flops,
        per_microbatch=True,
    )


# --- checked against published runs ---------------------------------------------------------

# What each paper's code did with point-to-point sends and the gradient reduction (the runs'
# fields do not say): Megatron-LM in 2021-2022 waited for its pipeline sends (batched
# send/receive; overlap_p2p_comm came later) and all-reduced gradients after the flush; the
# Llama 3 report describes asynchronous point-to-point sends and FSDP, which overlaps the
# reduce-scatter with the backward pass.
_OVERLAP_BY_SOURCE = {
    "narayanan2021efficient": dict(overlap_p2p=False, overlap_dp=False),
    "korthikanti2022reducing": dict(overlap_p2p=False, overlap_dp=False),
    "dubey2024llama3": dict(overlap_p2p=True, overlap_dp=True),
}


def _published_run():
    from .runs import PublishedRun  # runs imports models only; imported here to keep layers

    return PublishedRun


def run_cluster(run) -> Cluster:
    """The :class:`Cluster` of a :class:`ppnotes.runs.PublishedRun`."""
    check_instance("run", run, _published_run())
    return Cluster(
        run.gpu_spec,
        run.gpus_per_node,
        run.intra_link_spec,
        run.inter_link_spec,
        run.nics_per_node,
        run.gpu,
    )


def run_config(run) -> Config:
    """The :class:`Config` of a :class:`ppnotes.runs.PublishedRun` (overlaps by its source;
    a head-aware split where the layers do not divide evenly, as Llama 3 405B did)."""
    check_instance("run", run, _published_run())
    chunks = memory.chunks_per_rank(run.schedule, run.virtual_stages)
    even = run.model.num_layers % (run.pipeline_parallel * chunks) == 0
    return Config(
        run.tensor_parallel,
        run.pipeline_parallel,
        run.data_parallel,
        run.micro_batch,
        run.global_batch,
        schedule=run.schedule,
        virtual_stages=run.virtual_stages,
        recompute=run.recompute,
        sequence_parallel=run.sequence_parallel,
        distributed_optimizer=run.distributed_optimizer,
        seq_len=run.seq_len,
        layer_split="balanced" if even else "head-aware",
        shard_gradients=run.shard_gradients,
        context_parallel=run.context_parallel,
        **_OVERLAP_BY_SOURCE.get(run.source, {}),
    )


def predict_run(run, **kwargs) -> StepResult:
    """:func:`step_time` for a published run's model, cluster and configuration."""
    cluster = run_cluster(run)  # checks run
    return step_time(run.model, cluster, run_config(run), **kwargs)


def run_comparison(runs=None, **kwargs) -> list[dict]:
    """Predicted against published throughput for each run (default: all of
    :data:`ppnotes.runs.RUNS`).

    Each row: ``name``, ``measure`` ("hfu" or "mfu", the FLOPs the paper counts),
    ``measured`` and ``predicted`` (TFLOP/s per GPU of that kind), ``error`` (predicted /
    measured - 1), ``fits`` (whether the model finds that it fits memory) and ``result`` (the
    :class:`StepResult`). Keyword arguments go to :func:`step_time` (e.g. ``efficiency``).
    """
    from .runs import RUNS  # runs imports models only; imported here to keep layers clear

    if runs is not None:
        runs = _check_list("runs", runs, _published_run(), "list of ppnotes.runs.PublishedRun")
    rows = []
    for run in RUNS if runs is None else runs:
        result = predict_run(run, **kwargs)
        predicted = (
            result.hardware_tflops_per_gpu
            if run.measured_is == "hfu"
            else result.model_tflops_per_gpu
        )
        rows.append(
            {
                "name": run.name,
                "measure": run.measured_is,
                "measured": run.measured_tflops_per_gpu,
                "predicted": predicted,
                "error": predicted / run.measured_tflops_per_gpu - 1,
                "fits": result.fits,
                "result": result,
            }
        )
    return rows


# --- sharding over data parallelism: why ZeRO-1 fits pipelines and ZeRO-3 does not -----------

ZERO_STAGES = (1, 2, 3)

#: How a framework runs sharded data parallelism inside a pipeline step
#: (:func:`sharding_bytes_per_step`):
#: "per-micro-batch" is ZeRO-2/3 as written (Rajbhandari et al. 2020) and FSDP with resharding:
#: gradients reduce-scattered after every micro-batch, weights gathered before every forward and
#: backward. DeepSpeed runs it that way outside pipelines and refuses ZeRO-2/3 inside its
#: pipeline engine (``deepspeed/runtime/pipe/engine.py``: "ZeRO-2 and ZeRO-3 are incompatible
#: with pipeline parallelism"; deepspeed_zero_pp). "torch-pipelining" is FSDP2 under
#: ``torch.distributed.pipelining`` as torchtitan runs it (torch 2.13
#: ``torch/distributed/pipelining/stage.py``: before the last backward it sets
#: ``set_requires_gradient_sync(False)`` and ``set_reshard_after_backward(False)``, and only the
#: last backward reduces; torchtitan ``torchtitan/distributed/fsdp.py``:
#: ``reshard_after_forward`` is off when pipelining is on): one gather and one reduce-scatter
#: per step whatever m (torchtitan2026configs).
SHARDING_RUNTIMES = ("per-micro-batch", "torch-pipelining")


def sharding_bytes_per_step(
    model: ModelSpec, config: Config, zero_stage: int, runtime: str = "per-micro-batch"
) -> float:
    """Bytes each GPU sends per step to keep its data-parallel shard in sync, by ZeRO stage
    and by how the framework runs it (:data:`SHARDING_RUNTIMES`).

    A ring reduce-scatter or all-gather of a tensor of n bytes sends (d - 1) / d x n bytes per
    GPU; n is the largest rank's parameters over t, in fp32 for gradients and bf16 for weights.

    - Stage 1 (the distributed optimizer): one gradient reduce-scatter and one weight
      all-gather per step, after the m micro-batches have accumulated their gradients.
    - Stage 2 also shards the gradients. "per-micro-batch": no rank holds the full gradient to
      accumulate into, so the reduce-scatter runs after every micro-batch's backward, m times.
    - Stage 3 (and FSDP) also shards the weights. "per-micro-batch": they are all-gathered
      before every micro-batch's forward and again before its backward, 2 m times per step.
    - "torch-pipelining": PyTorch's pipelining keeps the gathered weights and the unsharded
      gradients until the last backward, so stages 2 and 3 send what stage 1 sends (and hold,
      through the step, the memory stage 1 holds).

    A pipeline wants m >= p micro-batches, so "per-micro-batch" stages 2 and 3 pay m times over
    what stage 1 pays once. Returns bytes (float) per GPU per step; 0 for d = 1.
    """
    model, config = _check_model_config(model, config)
    if isinstance(zero_stage, bool) or zero_stage not in ZERO_STAGES:
        raise ValueError(f"zero_stage must be one of 1, 2, 3, got {zero_stage!r}")
    runtime = check_choice("runtime", runtime, SHARDING_RUNTIMES)
    stage = int(zero_stage)
    d, m = config.data_parallel, config.num_microbatches
    params = max(memory.stage_params(model, _layers_per_rank(model, config)))
    params /= config.tensor_parallel
    share = (d - 1) / d
    grads = params * GRAD_REDUCE_BYTES * share
    weights = params * PARAM_GATHER_BYTES * share
    if stage == 1 or runtime == "torch-pipelining":
        return grads + weights
    if stage == 2:
        return m * grads + weights
    return m * grads + weights + 2 * m * weights


def rank_agreement(rows) -> float:
    """Spearman's rank correlation between measured and predicted throughput in
    :func:`run_comparison` rows: 1 when the model orders the runs as the papers do.
    Ties share their mean rank. Dimensionless, in [-1, 1]."""

    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    if isinstance(rows, (str, bytes, dict)) or not hasattr(rows, "__iter__"):
        raise WrongTypeError(f"rows must be a list of run_comparison rows, got {rows!r}")
    rows = list(rows)
    if len(rows) < 2:
        raise ValueError(f"rows must hold at least two runs, got {len(rows)}")
    measured, predicted = [], []
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or "measured" not in r or "predicted" not in r:
            raise WrongTypeError(
                f"rows[{i}] must be a run_comparison row (a dict with 'measured' and "
                f"'predicted'), got {r!r}"
            )
        measured.append(check_real(f"rows[{i}]['measured']", r["measured"], None))
        predicted.append(check_real(f"rows[{i}]['predicted']", r["predicted"], None))
    a = ranks(measured)
    b = ranks(predicted)
    mean = (len(rows) - 1) / 2
    cov = sum((x - mean) * (y - mean) for x, y in zip(a, b, strict=True))
    var_a = sum((x - mean) ** 2 for x in a)
    var_b = sum((y - mean) ** 2 for y in b)
    return cov / (var_a * var_b) ** 0.5


# --- a published sweep of schedules: Zero Bubble PP's throughput and memory ---------------------


def zb_comparison() -> list[dict]:
    """The step model on Zero Bubble PP's Table 4 (:data:`ppnotes.runs.ZB_TABLE4`): each
    model, micro-batch count and schedule, predicted against measured.

    Configuration as the paper states it: t = d = 1, p = the GPUs, its micro-batch, sequence
    1,024, first and last stage one layer short (``layer_split="head-aware"`` gives exactly
    that split for these four models), no recomputation, optimizer state unsharded (one
    replica), A100 80GB nodes of 8 (RoCE modelled as InfiniBand HDR); 1F1B's sends block as
    in Megatron-LM, ZB-1p's overlap. Rows: ``model``, ``m``, ``schedule``, ``measured`` and
    ``predicted`` (samples per GPU per second), ``error`` (predicted / measured - 1),
    ``memory`` (measured peak GB), ``memory_flash`` (the book's activations: FlashAttention,
    no dropout) and ``memory_2023`` (Megatron-LM's defaults when the paper was written:
    attention scores stored, dropout masks kept; Korthikanti et al.'s 34 + 5 a s / h bytes per
    token and width), both the fullest stage in GB (10^9 bytes).
    """
    from . import runs

    cluster = CLUSTERS["DGX A100 80GB + HDR"]
    rows = []
    for name, m, schedule, thr, mem in runs.ZB_TABLE4:
        model = runs.zb_model(name)
        _, _, _, p, b = runs.ZB_MODELS[name]
        config = Config(
            1,
            p,
            1,
            b,
            m * b,
            schedule=schedule,
            recompute="none",
            sequence_parallel=False,
            distributed_optimizer=False,
            overlap_p2p=schedule != "1f1b",
            layer_split="head-aware",
        )
        result = step_time(model, cluster, config)
        counts = _layers_per_rank(model, config)
        old = memory.stage_memory(
            model,
            counts,
            "train",
            micro_batch=b,
            num_microbatches=m,
            schedule=schedule,
            seq_len=model.seq_len,
            flash_attention=False,
            dropout=True,
        )
        predicted = m * b / result.step_time / p
        rows.append(
            {
                "model": name,
                "m": m,
                "schedule": schedule,
                "measured": thr,
                "predicted": predicted,
                "error": predicted / thr - 1,
                "memory": float(mem),
                "memory_flash": max(r["total"] for r in result.memory) / 1e9,
                "memory_2023": max(r["total"] for r in old) / 1e9,
            }
        )
    return rows


def megatron_h100_comparison() -> list[dict]:
    """The step model on Megatron-LM's H100 weak-scaling table
    (:data:`ppnotes.runs.MEGATRON_H100_TABLE`): predicted against measured model TFLOP/s per
    GPU. The table gives t, p, d and the global batch, not the micro-batch or interleaving, so
    each row takes the model's fastest fitting choice of b in {1, 2, 4} and v in {1, 2, 3, 4}
    (1F1B when v = 1; interleaving overlaps its sends), with selective recomputation and
    sequence parallelism; this checks the level on H100, not the layout. Rows: ``model``,
    ``measured``, ``predicted``, ``error`` (predicted / measured - 1), ``config`` (the chosen
    Config)."""
    from . import runs

    cluster = CLUSTERS["DGX H100 + NDR"]
    rows = []
    for name, _, _, _, t, p, d, batch, tflops in runs.MEGATRON_H100_TABLE:
        model = runs.megatron_h100_model(name)
        best = None
        for b in (1, 2, 4):
            for v in (1, 2, 3, 4) if p > 1 else (1,):
                schedule = "interleaved" if v > 1 else "1f1b"
                try:
                    config = Config(t, p, d, b, batch, schedule, v, overlap_p2p=v > 1)
                    result = step_time(model, cluster, config)
                except ValueError:  # layers or micro-batches that do not split
                    continue
                if result.fits and (best is None or result.step_time < best.step_time):
                    best = result
        predicted = best.model_tflops_per_gpu
        rows.append(
            {
                "model": name,
                "measured": tflops,
                "predicted": predicted,
                "error": predicted / tflops - 1,
                "config": best.config,
            }
        )
    return rows


def fp8_comparison() -> list[dict]:
    """FP8 training against bf16, as torchtitan measured it on H100
    (:data:`ppnotes.runs.TORCHTITAN_FP8`): the step model's speed-up from ``fp8=True``
    beside the measured one. Configuration as published: t, FSDP over d (optimizer state and
    gradients sharded), one micro-batch of the local batch, no pipeline, sequence parallelism
    with TP; DGX H100 nodes (their H100s are 96 GB, 500 W parts: the absolute speed is not
    compared, the ratio is). Rows: ``name``, ``measured`` and ``predicted`` (FP8 over bf16
    tokens per second), ``error`` (predicted / measured - 1), ``bf16`` (predicted tokens/s
    per GPU) and ``measured_bf16``."""
    from . import runs

    cluster = CLUSTERS["DGX H100 + NDR"]
    rows = []
    for name, model, t, d, b, recompute, bf16, fp8 in runs.TORCHTITAN_FP8:
        times = []
        for use_fp8 in (False, True):
            config = Config(
                t, 1, d, b, d * b, recompute=recompute, shard_gradients=True, fp8=use_fp8
            )
            times.append(step_time(model, cluster, config))
        predicted = times[0].step_time / times[1].step_time
        rows.append(
            {
                "name": name,
                "measured": fp8 / bf16,
                "predicted": predicted,
                "error": predicted / (fp8 / bf16) - 1,
                "bf16": times[0].tokens_per_second / (t * d),
                "measured_bf16": bf16,
            }
        )
    return rows


def cp_comparison() -> list[dict]:
    """Context parallelism against torchtitan's sequence-length sweeps
    (:data:`ppnotes.runs.TORCHTITAN_CP`): each GPU keeps 32,768 tokens while the sequence
    and c grow together, so the step model's tokens per second per GPU fall only through the
    longer attention and the ring. Configuration as published (FSDP over d = 8 / c with
    gradients sharded, full recomputation, FP8 linear layers, 1F1B with asynchronous sends),
    on DGX H100 nodes (their H100s are 96 GB, 500 W parts: the falls, each speed over the
    c = 1 speed, are compared). Rows: ``sweep``, ``c``, ``seq_len``, ``measured`` and
    ``predicted`` (tokens/s per GPU), ``measured_ratio`` and ``predicted_ratio`` (over
    c = 1), ``error`` (ratio predicted / measured - 1), ``memory`` (measured GiB) and
    ``memory_model`` (GiB of the fullest GPU by the memory model, which leaves out the
    logits and the allocator's cache) and ``logits`` (GiB of one micro-batch's fp32 logits,
    :func:`ppnotes.memory.logits_bytes`)."""
    from . import runs

    cluster = CLUSTERS["DGX H100 + NDR"]
    rows = []
    for label, model, t, p, m, points in runs.TORCHTITAN_CP:
        base = None
        for c, seq, tps, gib in points:
            d = 8 // c
            config = Config(
                t,
                p,
                d,
                1,
                d * m,
                recompute="full",
                shard_gradients=True,
                fp8=True,
                overlap_p2p=True,
                seq_len=seq,
                context_parallel=c,
            )
            result = step_time(model, cluster, config)
            predicted = result.tokens_per_second / config.num_gpus
            base = base or (tps, predicted)
            ratio, model_ratio = tps / base[0], predicted / base[1]
            rows.append(
                {
                    "sweep": label,
                    "c": c,
                    "seq_len": seq,
                    "measured": tps,
                    "predicted": predicted,
                    "measured_ratio": ratio,
                    "predicted_ratio": model_ratio,
                    "error": model_ratio / ratio - 1,
                    "memory": gib,
                    "memory_model": max(r["total"] for r in result.memory) / 2**30,
                    "logits": memory.logits_bytes(model, 1, seq // c, t) / 2**30,
                }
            )
    return rows
