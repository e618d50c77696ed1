"""Published training runs as data: the configurations the performance model is checked on.

Each :class:`PublishedRun` holds one measured training configuration exactly as its paper
reports it: the model shape, the cluster, the parallel layout (t, p, d), the micro-batch and
global batch, the pipeline schedule, the recomputation, and the measured throughput per
GPU, with a note on everything the paper does not state and the default we chose for it.

Two kinds of throughput are reported, and they are not the same number:

* ``"hfu"`` (hardware FLOPs): Narayanan et al. (2021) count the recomputed forward pass
  (their eq. 3, ``96 B s l h^2 (1 + s/(6h) + V/(16 l h))`` per iteration with full
  recomputation), so their TFLOP/s are hardware FLOP/s.
* ``"mfu"`` (model FLOPs): Korthikanti et al. (2022) and the Llama 3 report count the FLOPs
  of one forward and one backward pass only (``72 B s l h^2 (1 + s/(6h) + V/(12 l h))``
  for GPT shapes), whatever the implementation recomputes.

``measured_tflops_per_gpu`` is in TFLOP/s (10**12 FLOP/s) and ``measured_is`` names which
kind it is. Sources (bib keys in ``book/references.bib``):

* ``narayanan2021efficient`` (arXiv 2104.04473), Table 1 and section 5.1; the
  micro-batch sizes and interleaving are in the authors' scripts ``megatron2021sc21scripts``
  (NVIDIA/Megatron-LM, ``examples/academic_paper_scripts/sc21/run_table_1.sh``).
* ``korthikanti2022reducing`` (arXiv 2205.05198), Tables 3 and 5 and section 6.
* ``dubey2024llama3`` (arXiv 2407.21783), section 3.3 and Table 4.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._validate import (
    MAX_GPUS,
    MAX_STAGES,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
)
from .hardware import GPUS, LINKS, GPUSpec, LinkSpec
from .models import (
    GPT3_175B_MEGATRON,
    LLAMA3_8B,
    LLAMA3_70B,
    LLAMA31_405B,
    MEGATRON_1_7B,
    MEGATRON_1T,
    MEGATRON_18B,
    MEGATRON_22B,
    MEGATRON_39B,
    MEGATRON_145B,
    MEGATRON_310B,
    MEGATRON_530B,
    ModelSpec,
    megatron_gpt,
)

SCHEDULES = ("1f1b", "interleaved")
RECOMPUTE = ("none", "selective", "full")
MEASURES = ("hfu", "mfu")


@dataclass(frozen=True)
class PublishedRun:
    """One published training configuration and its measured throughput.

    Attributes:
        name: short unique name, e.g. ``"Megatron 530B (SC'21)"``.
        model: the model shape (:class:`ppnotes.models.ModelSpec`).
        gpu: GPU preset name, a key of :data:`ppnotes.hardware.GPUS`.
        gpus_per_node: GPUs in one server.
        intra_link: link inside a node, a key of :data:`ppnotes.hardware.LINKS`.
        inter_link: link between nodes (per network card), a key of ``LINKS``.
        nics_per_node: network cards per node used for training traffic.
        num_gpus: GPUs in the run, as published; must equal t x p x d.
        tensor_parallel: t.
        pipeline_parallel: p (number of pipeline ranks).
        data_parallel: d.
        micro_batch: b, sequences per micro-batch.
        global_batch: B, sequences per step (so m = B / (d b) micro-batches per pipeline).
        seq_len: s, tokens per sequence in this run.
        schedule: ``"1f1b"`` or ``"interleaved"``.
        virtual_stages: v, model chunks per pipeline rank (1 unless interleaved).
        recompute: ``"none"``, ``"selective"`` or ``"full"`` activation recomputation.
        sequence_parallel: whether sequence parallelism is on (Korthikanti et al. 2022).
        distributed_optimizer: whether optimizer state is sharded over data parallelism
            (ZeRO-1 style; FSDP shards it too).
        measured_tflops_per_gpu: reported throughput, TFLOP/s per GPU.
        measured_is: ``"hfu"`` or ``"mfu"`` (see the module docstring).
        source: bib key of the paper.
        notes: everything assumed or not stated by the source, and how we chose it.
        measured_step_time: reported time of one step (iteration) in seconds, or ``None``.
        shard_gradients: whether the gradients are sharded over data parallelism too
            (ZeRO-2; Llama 3's FSDP); memory only, see ``perf_model.Config``.
        context_parallel: c, GPUs that split every sequence (``perf_model.Config``).
    """

    name: str
    model: ModelSpec
    gpu: str
    gpus_per_node: int
    intra_link: str
    inter_link: str
    nics_per_node: int
    num_gpus: int
    tensor_parallel: int
    pipeline_parallel: int
    data_parallel: int
    micro_batch: int
    global_batch: int
    seq_len: int
    schedule: str
    virtual_stages: int
    recompute: str
    sequence_parallel: bool
    distributed_optimizer: bool
    measured_tflops_per_gpu: float
    measured_is: str
    source: str
    notes: str
    measured_step_time: float | None = None
    shard_gradients: bool = False
    context_parallel: int = 1

    def __post_init__(self) -> None:
        check_instance("name", self.name, str, "str")
        check_instance("model", self.model, ModelSpec)
        check_choice("gpu", self.gpu, GPUS)
        check_choice("intra_link", self.intra_link, LINKS)
        check_choice("inter_link", self.inter_link, LINKS)
        for field in (
            "gpus_per_node",
            "nics_per_node",
            "num_gpus",
            "tensor_parallel",
            "data_parallel",
            "context_parallel",
        ):
            check_int(field, getattr(self, field), 1, MAX_GPUS)
        for field in ("pipeline_parallel", "virtual_stages"):
            check_int(field, getattr(self, field), 1, MAX_STAGES)
        for field in ("micro_batch", "global_batch", "seq_len"):
            check_int(field, getattr(self, field))
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("recompute", self.recompute, RECOMPUTE)
        check_choice("measured_is", self.measured_is, MEASURES)
        check_real("measured_tflops_per_gpu", self.measured_tflops_per_gpu, strict=True)
        check_bool("sequence_parallel", self.sequence_parallel)
        check_bool("distributed_optimizer", self.distributed_optimizer)
        check_bool("shard_gradients", self.shard_gradients)
        check_instance("source", self.source, str, "str (a bib key)")
        check_instance("notes", self.notes, str, "str")
        if self.measured_step_time is not None:
            check_real("measured_step_time", self.measured_step_time, strict=True)
        t, p, d = self.tensor_parallel, self.pipeline_parallel, self.data_parallel
        c = self.context_parallel
        if t * c * p * d != self.num_gpus:
            raise ValueError(
                f"tensor_parallel x context_parallel x pipeline_parallel x data_parallel must "
                f"equal num_gpus ({self.num_gpus}), got {t} x {c} x {p} x {d} = "
                f"{t * c * p * d} in run {self.name!r}"
            )
        if self.global_batch % (d * self.micro_batch):
            raise ValueError(
                f"global_batch must be a multiple of data_parallel x micro_batch "
                f"({d} x {self.micro_batch}), got {self.global_batch} in run {self.name!r}"
            )
        if self.schedule == "1f1b" and self.virtual_stages != 1:
            raise ValueError(
                f"virtual_stages must be 1 for the 1f1b schedule, got {self.virtual_stages} "
                f"in run {self.name!r}"
            )

    @property
    def gpu_spec(self) -> GPUSpec:
        """The GPU preset."""
        return GPUS[self.gpu]

    @property
    def intra_link_spec(self) -> LinkSpec:
        """The intra-node link preset."""
        return LINKS[self.intra_link]

    @property
    def inter_link_spec(self) -> LinkSpec:
        """The inter-node link preset (per network card)."""
        return LINKS[self.inter_link]

    @property
    def num_microbatches(self) -> int:
        """m = B / (d b): micro-batches each pipeline runs per step."""
        return self.global_batch // (self.data_parallel * self.micro_batch)

    @property
    def tokens_per_step(self) -> int:
        """Tokens in one step: B x s."""
        return self.global_batch * self.seq_len

    @property
    def measured_fraction_of_peak(self) -> float:
        """Reported TFLOP/s over the GPU's dense BF16/FP16 peak (a fraction)."""
        return self.measured_tflops_per_gpu * 1e12 / self.gpu_spec.bf16_flops

    @property
    def measured_tokens_per_second(self) -> float | None:
        """B s / step time, tokens/s for the whole run, where the step time is published."""
        if self.measured_step_time is None:
            return None
        return self.tokens_per_step / self.measured_step_time


# --- Narayanan et al. 2021 (SC'21), Table 1 ----------------------------------------------

_A100 = "A100 80GB"
_SC21_CLUSTER = dict(  # Selene: DGX A100 80GB, NVLink/NVSwitch, 8 x HDR 200 Gb/s per node
    gpu=_A100,
    gpus_per_node=8,
    intra_link="NVLink 3",
    inter_link="InfiniBand HDR",
    nics_per_node=8,
)
_SC21_NOTES = (
    "Narayanan et al. 2021, Table 1 (TFLOP/s count the recomputed forward: eq. 3). "
    "Micro-batch size and layers per virtual stage from the authors' run_table_1.sh "
    "(NVIDIA/Megatron-LM examples/academic_paper_scripts/sc21); that script sets "
    "--activations-checkpoint-method uniform (full recomputation) and fp16 (A100 fp16 "
    "peak = bf16 peak = 312 TFLOP/s). 2021 code: no distributed optimizer, no sequence "
    "parallelism, scatter/gather of pipeline sends over the 8 NICs (section 4.1)."
)


def _sc21(model, t, p, gpus, mbs, batch, tflops, v=1, extra=""):
    return PublishedRun(
        name=f"Megatron {model.name.split()[1]} (SC'21)",
        model=model,
        **_SC21_CLUSTER,
        num_gpus=gpus,
        tensor_parallel=t,
        pipeline_parallel=p,
        data_parallel=gpus // (t * p),
        micro_batch=mbs,
        global_batch=batch,
        seq_len=2048,
        schedule="interleaved" if v > 1 else "1f1b",
        virtual_stages=v,
        recompute="full",
        sequence_parallel=False,
        distributed_optimizer=False,
        measured_tflops_per_gpu=tflops,
        measured_is="hfu",
        source="narayanan2021efficient",
        notes=_SC21_NOTES + extra,
    )


SC21_RUNS: tuple[PublishedRun, ...] = (
    _sc21(MEGATRON_1_7B, 1, 1, 32, 16, 512, 137.0, extra=" Data parallelism only (t=p=1)."),
    _sc21(MEGATRON_18B, 8, 1, 256, 8, 1024, 135.0),
    _sc21(MEGATRON_39B, 8, 2, 512, 4, 1536, 138.0, extra=" No virtual-stage flag in the script."),
    _sc21(MEGATRON_145B, 8, 8, 1536, 2, 2304, 148.0, v=2, extra=" 5 layers per virtual stage."),
    _sc21(MEGATRON_310B, 8, 16, 1920, 1, 2160, 155.0, v=2, extra=" 3 layers per virtual stage."),
    _sc21(MEGATRON_530B, 8, 35, 2520, 1, 2520, 163.0, v=3, extra=" 1 layer per virtual stage."),
    _sc21(
        MEGATRON_1T,
        8,
        64,
        3072,
        1,
        3072,
        163.0,
        extra=(
            " The paper says the interleaved schedule is used in section 5.1, but the "
            "script sets no virtual stages for 1T (2 layers per stage), so we use 1F1B."
        ),
    ),
)

# --- Korthikanti et al. 2022, Tables 3 and 5 ---------------------------------------------

_A100_PEAK_TFLOPS = 312.0  # the peak both papers divide by (Narayanan et al. section 5)
_SP_NOTES = (
    "Korthikanti et al. 2022, Tables 3 and 5: sequence parallelism + selective "
    "recomputation ('present work'), no data parallelism, mixed precision on Selene. "
    "Reported as MFU (model FLOPs, eq. in their Appendix A); TFLOP/s here = MFU x 312. "
)


def _sp(label, model, p, gpus, mbs, batch, mfu, hfu, step, v=1, extra=""):
    return PublishedRun(
        name=f"Megatron {label} (SP + selective)",
        model=model,
        **_SC21_CLUSTER,
        num_gpus=gpus,
        tensor_parallel=8,
        pipeline_parallel=p,
        data_parallel=gpus // (8 * p),
        micro_batch=mbs,
        global_batch=batch,
        seq_len=2048,
        schedule="interleaved" if v > 1 else "1f1b",
        virtual_stages=v,
        recompute="selective",
        sequence_parallel=True,
        distributed_optimizer=False,
        measured_tflops_per_gpu=mfu * _A100_PEAK_TFLOPS,
        measured_is="mfu",
        source="korthikanti2022reducing",
        notes=_SP_NOTES + f"Reported HFU {hfu:.1%}, MFU {mfu:.1%}." + extra,
        measured_step_time=step,
    )


SP_RUNS: tuple[PublishedRun, ...] = (
    _sp("22B", MEGATRON_22B, 1, 8, 4, 4, 0.415, 0.437, 1.10, extra=" One micro-batch per step."),
    _sp(
        "175B",
        GPT3_175B_MEGATRON,
        8,
        64,
        1,
        64,
        0.514,
        0.528,
        13.75,
        v=3,
        extra=" Interleaved with 3 stages per rank (section 6: 'three interleaving stages').",
    ),
    _sp(
        "530B",
        MEGATRON_530B,
        35,
        280,
        1,
        280,
        0.560,
        0.570,
        37.83,
        v=3,
        extra=" Interleaved, v = 3.",
    ),
    _sp(
        "1T",
        MEGATRON_1T,
        64,
        512,
        1,
        512,
        0.563,
        0.570,
        71.49,
        extra=" Interleaving is stated only for 175B and 530B, so 1F1B is used here.",
    ),
)

# --- Llama 3 405B (Dubey et al. 2024), Table 4 -------------------------------------------

_LLAMA_NOTES = (
    "Dubey et al. 2024, section 3.3 and Table 4 (BF16 MFU; TFLOP/s as printed). H100 SXM "
    "700 W, 8 GPUs per server with NVLink; RoCE at 400 Gb/s per GPU, modelled with the "
    "InfiniBand NDR preset (400 Gb/s, one card per GPU assumed). 'Our use of FSDP for "
    "Llama 3 shards optimizer states and gradients, but for model shards we do not reshard "
    "after forward computation', so distributed_optimizer=True and shard_gradients=True "
    "(2 + 16 / d bytes per parameter; the timing still charges one gradient reduce-scatter "
    "per step, not one per micro-batch). No activation checkpointing at 8K sequences. "
    "Interleaved "
    "schedule with asynchronous point-to-point sends; one layer fewer on the first and "
    "last stages. Not published: micro-batch size (1 assumed) and chunks per rank V. The "
    "report says that after removing those layers 'the first model chunk on the first stage "
    "has only the embedding', which suggests one-layer chunks, V = 128 / 16 = 8; the "
    "performance model needs at least one layer per chunk, so V = 2 (the smallest "
    "interleaving) is used here. Chapter 5 shows what V changes."
)


def _llama(gpus, d, per_dp, tflops, extra="", cp=1, seq_len=8192):
    long = "" if cp == 1 else f", {seq_len // 1024}K tokens"
    return PublishedRun(
        name=f"Llama 3 405B ({gpus // 1024}K GPUs{long})",
        model=LLAMA31_405B,
        gpu="H100 SXM 80GB",
        gpus_per_node=8,
        intra_link="NVLink 4",
        inter_link="InfiniBand NDR",
        nics_per_node=8,
        num_gpus=gpus,
        tensor_parallel=8,
        pipeline_parallel=16,
        data_parallel=d,
        micro_batch=1,
        global_batch=d * per_dp,
        seq_len=seq_len,
        context_parallel=cp,
        schedule="interleaved",
        virtual_stages=2,
        recompute="none",
        sequence_parallel=True,
        distributed_optimizer=True,
        shard_gradients=True,
        measured_tflops_per_gpu=tflops,
        measured_is="mfu",
        source="dubey2024llama3",
        notes=_LLAMA_NOTES + extra + " Sequence parallelism with TP assumed (not stated).",
    )


LLAMA3_RUNS: tuple[PublishedRun, ...] = (
    _llama(8192, 64, 32, 430.0, extra=" Table 4: 43 % MFU, 16M tokens per batch."),
    _llama(16384, 128, 16, 400.0, extra=" Table 4: 41 % MFU, 16M tokens per batch."),
    _llama(
        16384,
        8,
        16,
        380.0,
        extra=" Table 4: 38 % MFU, 16M tokens per batch, context parallelism 16 at 131,072 "
        "tokens (each GPU holds 8,192 tokens, as in the runs above). The report's DP column "
        "reads 4 in one copy and 8 in others; 16,384 / (8 x 16 x 16) = 8 and 8 x 16 x "
        "131,072 = 16M tokens, so d = 8.",
        cp=16,
        seq_len=131072,
    ),
)

RUNS: tuple[PublishedRun, ...] = SC21_RUNS + SP_RUNS + LLAMA3_RUNS
"""Every published run, smallest model first within each paper."""

_BY_NAME = {run.name: run for run in RUNS}


def get_run(name: str) -> PublishedRun:
    """Return the published run called ``name`` (one of ``[r.name for r in RUNS]``)."""
    return _BY_NAME[check_choice("run", name, _BY_NAME)]


# --- a published sweep of schedules, with memory: Zero Bubble PP ----------------------------

#: Zero Bubble PP's models (qi2024zero, arXiv 2401.10241v1, Table 3): name -> (layers, heads,
#: hidden, pipeline stages p = GPUs, micro-batch b). Sequence length 1,024; no tensor or data
#: parallelism; "both the initial and final pipeline stages possess one fewer transformer
#: layer" (sec. 5.1). The vocabulary is not stated: GPT-2's 50,257 is assumed.
ZB_MODELS = {
    "1.5B": (22, 24, 2304, 8, 6),
    "6.2B": (30, 32, 4096, 8, 3),
    "14.6B": (46, 40, 5120, 16, 1),
    "28.3B": (62, 48, 6144, 32, 1),
}
ZB_SEQ_LEN = 1024
ZB_VOCAB = 50257

#: Zero Bubble PP Table 4, measured on up to 32 A100 SXM 80GB GPUs (8 per node, RoCE between
#: nodes): (model, micro-batches m, schedule, samples per GPU per second, peak memory GB per
#: GPU). "zb-h1" is the paper's ZB-1p (its automatic schedule at 1F1B's memory limit, which it
#: compares with the handcrafted ZB-H1). Its 1F1B-I (a chunk per layer, ranks holding
#: different numbers of chunks) and ZB-2p (twice 1F1B's memory) are left out: the step model
#: does not express them.
ZB_TABLE4 = tuple(
    (name, m, schedule, thr, mem)
    for name, m, one_f, one_mem, zb, zb_mem in (
        ("1.5B", 24, 11.8, 30, 12.9, 32),
        ("1.5B", 32, 12.5, 30, 13.4, 32),
        ("1.5B", 64, 13.6, 30, 14.2, 32),
        ("6.2B", 24, 3.50, 39, 3.88, 42),
        ("6.2B", 32, 3.70, 39, 4.00, 42),
        ("6.2B", 64, 4.03, 39, 4.20, 42),
        ("14.6B", 48, 1.40, 32, 1.61, 33),
        ("14.6B", 64, 1.49, 32, 1.67, 33),
        ("14.6B", 128, 1.64, 32, 1.76, 33),
        ("28.3B", 96, 0.76, 43, 0.87, 44),
        ("28.3B", 128, 0.80, 43, 0.90, 44),
        ("28.3B", 256, 0.88, 43, 0.96, 44),
    )
    for schedule, thr, mem in (("1f1b", one_f, one_mem), ("zb-h1", zb, zb_mem))
)


def zb_model(name: str) -> ModelSpec:
    """One of Zero Bubble PP's GPT-style models (:data:`ZB_MODELS`) as a ModelSpec."""
    layers, heads, hidden, _, _ = ZB_MODELS[check_choice("name", name, ZB_MODELS)]
    return megatron_gpt(
        f"ZB {name}", layers, hidden, heads, "qi2024zero", vocab_size=ZB_VOCAB, seq_len=ZB_SEQ_LEN
    )


# --- Megatron-Core on H100: a weak-scaling table ----------------------------------------------

#: Megatron-LM's README "Performance Benchmarking" table (Megatron-Core r0.8.0, up to 6,144
#: H100 GPUs; megatron2024h100table, images/model_table.png at commit d98e8a64): model
#: (heads, hidden, layers), t, p, d, global batch in sequences and measured TFLOP/s per GPU
#: (model FLOPs: its MFU column is TFLOP/s / 989). Shared: sequences of 4,096 tokens, a
#: vocabulary of 131,072, data-parallel and tensor-parallel communication overlapped. Not
#: published: micro-batch, interleaving, recomputation, FFN width (taken as 4h).
MEGATRON_H100_TABLE = (
    ("1.7B", 16, 2048, 24, 1, 1, 48, 192, 408.8),
    ("7.1B", 32, 4096, 30, 2, 1, 48, 192, 465.9),
    ("16B", 48, 6144, 32, 4, 1, 48, 192, 489.1),
    ("32B", 56, 7168, 48, 8, 1, 48, 192, 459.6),
    ("70B", 64, 8192, 84, 8, 2, 48, 384, 419.7),
    ("119B", 80, 10240, 92, 8, 4, 48, 768, 420.5),
    ("177B", 96, 12288, 96, 8, 6, 48, 1152, 432.8),
    ("314B", 128, 16384, 96, 8, 8, 48, 1536, 474.4),
    ("462B", 144, 18432, 112, 8, 16, 48, 3072, 459.9),
)


def megatron_h100_model(name: str) -> ModelSpec:
    """One model of :data:`MEGATRON_H100_TABLE` as a GPT-style ModelSpec (4h MLP, rotary
    positions, untied head, 4,096-token sequences, 131,072-token vocabulary)."""
    rows = {r[0]: r for r in MEGATRON_H100_TABLE}
    _, heads, hidden, layers, *_ = rows[check_choice("name", name, rows)]
    return megatron_gpt(
        f"Megatron-Core {name}",
        layers,
        hidden,
        heads,
        "megatron2024h100table",
        vocab_size=131072,
        seq_len=4096,
        tied_embeddings=False,
        learned_positions=False,
    )


# --- FP8 training: torchtitan's measurements with and without Float8 --------------------------

#: torchtitan's bf16 against Float8 runs on H100 (torchtitan2024h100): (label, model, t, d,
#: local batch b, recomputation, tokens/s per GPU in bf16, with Float8). All compiled, FSDP over
#: d, no pipeline. "selective" stands for torchtitan's selective activation checkpointing.
TORCHTITAN_FP8 = (
    ("Llama 3 8B, 8 GPUs", LLAMA3_8B, 1, 8, 2, "selective", 6667.0, 8532.0),
    ("Llama 3 8B, 128 GPUs", LLAMA3_8B, 1, 128, 2, "selective", 6514.0, 8380.0),
    ("Llama 3 8B, 64 GPUs, TP 8", LLAMA3_8B, 8, 8, 12, "selective", 4378.0, 5078.1),
    ("Llama 3 70B, 256 GPUs, TP 8", LLAMA3_70B, 8, 32, 16, "full", 597.3, 809.8),
)

#: Peak memory of torchtitan's Llama 3 8B run on 8 H100s without and with Float8, GiB
#: (torchtitan2024h100, Table 1: 77.0 and 76.8, the largest over the GPUs).
TORCHTITAN_FP8_MEMORY_GIB = (77.0, 76.8)


# --- context parallelism: torchtitan's sweeps of sequence length -----------------------------

#: torchtitan's context-parallel sweeps on H100 (torchtitan2024h100, Tables 2 and 6): the
#: sequence grows with c, so each GPU holds the same 32,768 tokens of every sequence. Each
#: sweep: (label, model, t, p, micro-batches per step m, rows), a row (c, sequence length,
#: tokens per second per GPU, peak memory GiB as printed: the largest over the GPUs). Both
#: with FSDP over the d = 8 / c replicas and c (gradients and optimizer state sharded), full
#: activation checkpointing, torch.compile and Float8 linear layers; the 405B sweep adds
#: asynchronous TP (not modelled) and runs 1F1B over p = 8 with local batch 8, micro-batches
#: of one (torchtitan's default), so m = 8. The 8B sweep has local batch 1 (m = 1).
TORCHTITAN_CP = (
    (
        "Llama 3.1 8B, 8 GPUs",
        LLAMA3_8B,
        1,
        1,
        1,
        (
            (1, 32768, 3890, 83.9),
            (2, 65536, 2540, 84.2),
            (4, 131072, 1071, 84.0),
            (8, 262144, 548, 84.5),
        ),
    ),
    (
        "Llama 3.1 405B, 512 GPUs",
        LLAMA31_405B,
        8,
        8,
        8,
        ((1, 32768, 76, 75.3), (2, 65536, 47, 75.9), (4, 131072, 31, 77.1), (8, 262144, 16, 84.9)),
    ),
)
