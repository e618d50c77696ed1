"""Chapter 11: pipeline depth in mixture-of-experts (MoE) training.

An MoE layer replaces the MLP by E routed experts (each token goes to k of them) and maybe a
few shared experts that every token uses. Expert parallelism (EP, size e) spreads the experts
over e GPUs; every MoE layer then sends each token's k copies to the GPUs that hold its
experts and back (the all-to-all *dispatch* and *combine*). That traffic is per layer and per
micro-batch, so it sits inside every pipeline stage's forward and backward: on the critical
path unless another micro-batch's compute hides it, which is what DualPipe arranges
(deepseek2024v3, sec. 3.2).

What is here:

- :class:`MoESpec` and presets with sources (DeepSeek-V3 and V2, Mixtral 8x7B and 8x22B,
  Qwen3 30B-A3B and 235B-A22B); total and active parameters derived from the shape and checked
  against the published totals in the tests;
- memory per GPU with expert parallelism (:func:`stage_memory_moe`), all-to-all bytes and
  time per layer and micro-batch (:func:`a2a_split`, :func:`a2a_time_per_layer`), with
  node-limited routing and load imbalance as parameters;
- the compute time of one stage's chunk (:func:`chunk_times`), and the step time of a whole
  layout under 1F1B, ZB-V, DualPipeV and DualPipe (:func:`moe_step_time`), with closed forms
  checked against the simulator's overlap mode (:func:`ppnotes.schedules.simulate_overlap`);
- a planner over t, p, e, d, micro-batch and schedule (:func:`plan_moe`), with chapter 7's
  ideas (a Dropped list with reasons, a ranked list); chapter 7's
  :func:`~ppnotes.optimum.plan_training` hands an :class:`MoESpec` to it (and returns its
  :class:`MoEPlan`), leaving every dense search as it was;
- the DeepSeek-V3 case recomputed from the report's own figures (:func:`deepseek_v3_case`)
  and the Megatron-Core Mixtral 8x7B measurement (:func:`megatron_mixtral_comparison`).

Units: seconds, bytes (GiB = 2**30), FLOP/s. The model's constants come from chapter 5
(:mod:`ppnotes.gemm`'s kernel model) and the hardware module; none is fitted to a run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache

from . import gemm, schedules
from ._validate import (
    MAX_GPUS,
    MAX_LAYERS,
    MAX_MICROBATCHES,
    MAX_STAGES,
    WrongTypeError,
    check_choice,
    check_instance,
    check_int,
    check_real,
)
from .hardware import GB, H100_SXM, IB_NDR, NVLINK4, GiB, GPUSpec, LinkSpec
from .models import MAX_WIDTH
from .partition import _divisors

WEIGHT_BYTES = 2  # bf16 weights
GRAD_BYTES = 4  # fp32 main gradients (Megatron-LM's default; DeepSeek-V3, sec. 3.3.3)
#: Optimizer bytes per parameter, sharded over data parallelism (ZeRO-1): fp32 master weight
#: plus two fp32 Adam moments (Megatron-LM, 12) or two bf16 moments (DeepSeek-V3 "BF16 ...
#: to track the first and second moments", sec. 3.3.3: 8).
OPTIMIZER_BYTES = {"fp32-moments": 12, "bf16-moments": 8}
SCHEDULES = ("1f1b", "zbv", "dualpipev", "dualpipe")
DISPATCHERS = ("all-to-all", "node-limited")
RECOMPUTE = ("none", "full")
#: Reserve of GPU memory the planner keeps free (allocator, NCCL, CUDA context), as chapter 4.
RESERVE_FRACTION = 0.1


# --------------------------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoESpec:
    """Architecture of a decoder-only mixture-of-experts transformer.

    Attributes:
        name: display name.
        num_layers: L, transformer layers (dense and MoE).
        hidden_size: h.
        num_heads: attention (query) heads a.
        num_kv_heads: key/value heads (grouped-query attention); ignored with MLA.
        head_dim: width of one head (Qwen3 uses 128 with h / a = 64).
        vocab_size: V.
        seq_len: training sequence length s, tokens.
        dense_layers: the first layers whose MLP is dense (DeepSeek: 3 in V3, 1 in V2).
        dense_ffn: inner width of those dense SwiGLU MLPs (0 if there are none).
        num_experts: E, routed experts per MoE layer.
        shared_experts: experts every token uses (DeepSeek: 1 in V3, 2 in V2).
        top_k: k, routed experts per token.
        expert_ffn: inner width of one (SwiGLU) expert.
        max_nodes_per_token: node-limited routing, at most this many nodes per token
            (DeepSeek-V3: 4); 0 for none.
        mla: multi-head latent attention as (q_lora_rank, kv_lora_rank, qk_nope_dim,
            qk_rope_dim, v_head_dim) (DeepSeek-V2/V3), or ``None`` for grouped-query attention.
        tied_embeddings: whether the LM head reuses the embedding.
        source: bib key(s) in ``book/references.bib``.

    Raises ``ValueError`` naming the field for a count out of range, k > E, dense layers beyond
    L, or a dense width missing; ``TypeError`` for a name or source that is not a string.
    """

    name: str
    num_layers: int
    hidden_size: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    seq_len: int
    dense_layers: int
    dense_ffn: int
    num_experts: int
    shared_experts: int
    top_k: int
    expert_ffn: int
    max_nodes_per_token: int = 0
    mla: tuple | None = None
    tied_embeddings: bool = False
    source: str = ""

    def __post_init__(self):
        check_instance("name", self.name, str, "string")
        check_instance("source", self.source, str, "string")
        for key, low, high in (
            ("num_layers", 1, MAX_LAYERS),
            ("hidden_size", 1, MAX_WIDTH),
            ("num_heads", 1, MAX_WIDTH),
            ("num_kv_heads", 1, MAX_WIDTH),
            ("head_dim", 1, MAX_WIDTH),
            ("vocab_size", 1, MAX_WIDTH),
            ("seq_len", 1, MAX_WIDTH),
            ("dense_layers", 0, MAX_LAYERS),
            ("dense_ffn", 0, MAX_WIDTH),
            ("num_experts", 1, 65_536),
            ("shared_experts", 0, 64),
            ("top_k", 1, 65_536),
            ("expert_ffn", 1, MAX_WIDTH),
            ("max_nodes_per_token", 0, MAX_GPUS),
        ):
            object.__setattr__(self, key, check_int(key, getattr(self, key), low, high))
        if self.top_k > self.num_experts:
            raise ValueError(
                f"top_k must be at most num_experts = {self.num_experts}, got {self.top_k}"
            )
        if self.dense_layers >= self.num_layers:
            raise ValueError(
                f"dense_layers must be below num_layers = {self.num_layers} (an MoE model has "
                f"MoE layers), got {self.dense_layers}"
            )
        if self.dense_layers and not self.dense_ffn:
            raise ValueError(f"dense_ffn must be >= 1 with {self.dense_layers} dense layers, got 0")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads must divide num_heads = {self.num_heads}, got {self.num_kv_heads}"
            )
        if self.mla is not None:
            if not isinstance(self.mla, tuple) or len(self.mla) != 5:
                raise ValueError(
                    "mla must be None or a tuple (q_lora_rank, kv_lora_rank, qk_nope_dim, "
                    f"qk_rope_dim, v_head_dim), got {self.mla!r}"
                )
            names = ("q_lora_rank", "kv_lora_rank", "qk_nope_dim", "qk_rope_dim", "v_head_dim")
            object.__setattr__(
                self,
                "mla",
                tuple(
                    check_int(f"mla {n}", x, 1, MAX_WIDTH)
                    for n, x in zip(names, self.mla, strict=True)
                ),
            )

    @property
    def moe_layers(self) -> int:
        """Layers with an MoE block, L minus the dense ones."""
        return self.num_layers - self.dense_layers

    @property
    def attention_params(self) -> int:
        """Parameters of one layer's attention and its two norms.

        GQA: Q and output projections h x (a d_h), K and V h x (kv d_h). MLA (deepseek2024v2,
        sec. 2.1): down-projections of queries (h x q_r) and keys/values (h x (kv_r + rope)),
        their up-projections (q_r x a (nope + rope), kv_r x a (nope + v)), the output
        (a v x h), and the two latent norms."""
        h = self.hidden_size
        if self.mla is None:
            q = self.num_heads * self.head_dim
            kv = self.num_kv_heads * self.head_dim
            return 2 * h * q + 2 * h * kv + 2 * h
        q_r, kv_r, nope, rope, v = self.mla
        a = self.num_heads
        return (
            h * q_r
            + q_r * a * (nope + rope)
            + h * (kv_r + rope)
            + kv_r * a * (nope + v)
            + a * v * h
            + q_r
            + kv_r
            + 2 * h
        )

    @property
    def expert_params(self) -> int:
        """Parameters of one SwiGLU expert: 3 h f_e."""
        return 3 * self.hidden_size * self.expert_ffn

    @property
    def router_params(self) -> int:
        """The router's h x E gate."""
        return self.hidden_size * self.num_experts

    @property
    def dense_mlp_params(self) -> int:
        """One dense layer's SwiGLU MLP: 3 h f."""
        return 3 * self.hidden_size * self.dense_ffn

    @property
    def embedding_params(self) -> int:
        """Input embedding V h (the LM head is another V h unless tied)."""
        return self.vocab_size * self.hidden_size

    @property
    def total_params(self) -> int:
        """All parameters (routed, shared, dense, attention, embeddings, head)."""
        moe = self.num_experts * self.expert_params + self.shared_experts * self.expert_params
        moe += self.router_params
        head = 0 if self.tied_embeddings else self.embedding_params
        return (
            self.num_layers * self.attention_params
            + self.dense_layers * self.dense_mlp_params
            + self.moe_layers * moe
            + self.embedding_params
            + head
            + self.hidden_size
        )

    @property
    def active_params(self) -> int:
        """Parameters one token uses: all but the E - k routed experts it skips."""
        skipped = self.moe_layers * (self.num_experts - self.top_k) * self.expert_params
        return self.total_params - skipped

    @property
    def expert_params_total(self) -> int:
        """Routed-expert parameters of the whole model (what expert parallelism shards)."""
        return self.moe_layers * self.num_experts * self.expert_params

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Forward FLOPs per token of the whole model: 2 x active parameters (less the
        embedding lookup) plus the attention core at full (non-causal) context, 2 s a (qk + v)
        per layer, as Megatron-LM counts it (megatron2024moereadme's flops formula)."""
        s = self.seq_len if seq_len is None else check_int("seq_len", seq_len, 1, MAX_WIDTH)
        qk, v = _qk_v(self)
        core = 2.0 * s * self.num_heads * (qk + v)
        return 2.0 * (self.active_params - self.embedding_params) + self.num_layers * core


def _qk_v(spec: MoESpec) -> tuple[int, int]:
    if spec.mla is None:
        return spec.head_dim, spec.head_dim
    return spec.mla[2] + spec.mla[3], spec.mla[4]


DEEPSEEK_V3 = MoESpec(
    name="DeepSeek-V3",
    num_layers=61,
    hidden_size=7168,
    num_heads=128,
    num_kv_heads=128,
    head_dim=128,
    vocab_size=129280,
    seq_len=4096,
    dense_layers=3,
    dense_ffn=18432,
    num_experts=256,
    shared_experts=1,
    top_k=8,
    expert_ffn=2048,
    max_nodes_per_token=4,
    mla=(1536, 512, 128, 64, 128),
    source="deepseek2024v3",
)
DEEPSEEK_V2 = MoESpec(
    name="DeepSeek-V2",
    num_layers=60,
    hidden_size=5120,
    num_heads=128,
    num_kv_heads=128,
    head_dim=128,
    vocab_size=102400,
    seq_len=4096,
    dense_layers=1,
    dense_ffn=12288,
    num_experts=160,
    shared_experts=2,
    top_k=6,
    expert_ffn=1536,
    mla=(1536, 512, 128, 64, 128),
    source="deepseek2024v2",
)
MIXTRAL_8X7B = MoESpec(
    name="Mixtral 8x7B",
    num_layers=32,
    hidden_size=4096,
    num_heads=32,
    num_kv_heads=8,
    head_dim=128,
    vocab_size=32000,
    seq_len=4096,
    dense_layers=0,
    dense_ffn=0,
    num_experts=8,
    shared_experts=0,
    top_k=2,
    expert_ffn=14336,
    source="jiang2024mixtral",
)
MIXTRAL_8X22B = MoESpec(
    name="Mixtral 8x22B",
    num_layers=56,
    hidden_size=6144,
    num_heads=48,
    num_kv_heads=8,
    head_dim=128,
    vocab_size=32768,
    seq_len=4096,
    dense_layers=0,
    dense_ffn=0,
    num_experts=8,
    shared_experts=0,
    top_k=2,
    expert_ffn=16384,
    source="mistral2024mixtral8x22b",
)
QWEN3_30B_A3B = MoESpec(
    name="Qwen3-30B-A3B",
    num_layers=48,
    hidden_size=2048,
    num_heads=32,
    num_kv_heads=4,
    head_dim=128,
    vocab_size=151936,
    seq_len=4096,
    dense_layers=0,
    dense_ffn=0,
    num_experts=128,
    shared_experts=0,
    top_k=8,
    expert_ffn=768,
    source="yang2025qwen3",
)
QWEN3_235B_A22B = MoESpec(
    name="Qwen3-235B-A22B",
    num_layers=94,
    hidden_size=4096,
    num_heads=64,
    num_kv_heads=4,
    head_dim=128,
    vocab_size=151936,
    seq_len=4096,
    dense_layers=0,
    dense_ffn=0,
    num_experts=128,
    shared_experts=0,
    top_k=8,
    expert_ffn=1536,
    source="yang2025qwen3",
)
MOE_MODELS: dict[str, MoESpec] = {
    m.name: m
    for m in (DEEPSEEK_V3, DEEPSEEK_V2, MIXTRAL_8X7B, MIXTRAL_8X22B, QWEN3_30B_A3B, QWEN3_235B_A22B)
}
#: Published (total, active) parameter counts, each from the model's source: DeepSeek-V3
#: 671B / 37B (deepseek2024v3, abstract; without the 14B multi-token-prediction module),
#: DeepSeek-V2 236B / 21B (deepseek2024v2), Mixtral 8x7B 46.7B / 12.9B (jiang2024mixtral),
#: Mixtral 8x22B 141B / 39B (mistral2024mixtral8x22b), Qwen3 30.5B / 3.3B and 235B / 22B
#: (yang2025qwen3, table 2 and model cards).
PUBLISHED_PARAMS = {
    "DeepSeek-V3": (671e9, 37e9),
    "DeepSeek-V2": (236e9, 21e9),
    "Mixtral 8x7B": (46.7e9, 12.9e9),
    "Mixtral 8x22B": (141e9, 39e9),
    "Qwen3-30B-A3B": (30.5e9, 3.3e9),
    "Qwen3-235B-A22B": (235e9, 22e9),
}


def get_moe_model(name: str) -> MoESpec:
    """The preset called ``name`` (one of :data:`MOE_MODELS`)."""
    return MOE_MODELS[check_choice("model", name, MOE_MODELS)]


# --------------------------------------------------------------------------------------------
# Hardware: DeepSeek's H800 cluster
# --------------------------------------------------------------------------------------------

#: The H800 SXM: the H100 SXM's GH100 compute and 80 GB of HBM3 with NVLink cut to 400 GB/s
#: (both directions). Compute, memory and kernel constants are the H100 SXM's
#: (nvidia2022h100datasheet); the NVLink figure and the cluster are DeepSeek's
#: (deepseek2024v3, sec. 3.1 and 3.2.2).
H800 = GPUSpec(
    **{
        **H100_SXM.__dict__,
        "name": "H800 SXM 80GB",
        "source": "nvidia2022h100datasheet,deepseek2024v3",
    }
)
#: H800 NVLink: 400 GB/s both ways on the data sheet; DeepSeek measured 160 GB/s per GPU in
#: practice ("NVLink offers a bandwidth of 160 GB/s, roughly 3.2 times that of IB (50 GB/s)",
#: deepseek2024v3, sec. 3.2.2).
NVLINK_H800 = LinkSpec(
    **{
        **NVLINK4.__dict__,
        "name": "NVLink (H800)",
        "vendor_bandwidth": 400 * GB,
        "achievable_bandwidth": 160 * GB,
        "source": "deepseek2024v3",
        "achievable_source": "deepseek2024v3",
        "achievable_method": "nccl-busbw",
        "notes": "H800: 400 GB/s both ways; DeepSeek report 160 GB/s in practice.",
    }
)
#: DeepSeek's InfiniBand: one 400 Gb/s CX7 card per GPU, 50 GB/s (deepseek2024v3, sec. 3.1
#: and 3.2.2); used at the IB_NDR measured 48 GB/s would be within 4 %; we take their 50.
IB_DEEPSEEK = LinkSpec(
    **{
        **IB_NDR.__dict__,
        "name": "InfiniBand 400G (DeepSeek)",
        "achievable_bandwidth": 50 * GB,
        "source": "deepseek2024v3",
        "achievable_source": "deepseek2024v3",
    }
)


@dataclass(frozen=True)
class MoECluster:
    """GPUs in nodes of ``gpus_per_node`` joined by NVLink inside and one network card per GPU.

    Attributes:
        gpu, intra_link, inter_link: the hardware (intra: NVLink per GPU, inter: per card).
        gpus_per_node: GPUs sharing NVLink (8).
        comm_sms: SMs an overlapped all-to-all keeps for itself (DeepSeek: 20 of the H800's
            132, deepseek2024v3 sec. 3.2.2); compute runs on the rest when it overlaps.
        name: display name.
    """

    gpu: GPUSpec
    intra_link: LinkSpec
    inter_link: LinkSpec
    gpus_per_node: int = 8
    comm_sms: int = 20
    name: str = ""

    def __post_init__(self):
        check_instance("gpu", self.gpu, GPUSpec, "ppnotes.hardware.GPUSpec")
        check_instance("intra_link", self.intra_link, LinkSpec, "ppnotes.hardware.LinkSpec")
        check_instance("inter_link", self.inter_link, LinkSpec, "ppnotes.hardware.LinkSpec")
        check_int("gpus_per_node", self.gpus_per_node, 1, 1024)
        check_int("comm_sms", self.comm_sms, 0, max(self.gpu.sm_count - 1, 0))
        check_instance("name", self.name, str, "string")


H800_CLUSTER = MoECluster(H800, NVLINK_H800, IB_DEEPSEEK, 8, 20, "DeepSeek H800 cluster")
H100_CLUSTER = MoECluster(H100_SXM, NVLINK4, IB_NDR, 8, 20, "DGX H100 + NDR")


def _spec(value) -> MoESpec:
    return check_instance("model", value, MoESpec, "ppnotes.moe.MoESpec")


def _cluster(value) -> MoECluster:
    return check_instance("cluster", value, MoECluster, "ppnotes.moe.MoECluster")


def check_expert_parallel(model: MoESpec, e) -> int:
    """``e`` checked: an integer >= 1 that divides the routed-expert count (every GPU of the
    expert group holds E / e whole experts, as Megatron-LM and torchtitan require)."""
    e = check_int("expert_parallel", e, 1, MAX_GPUS)
    if _spec(model).num_experts % e:
        raise ValueError(
            f"expert_parallel must divide num_experts = {model.num_experts} "
            f"(whole experts per GPU), got {e}"
        )
    return e


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------


def expert_params_per_gpu(model: MoESpec, e: int, moe_layers: int | None = None) -> int:
    """Routed-expert parameters on one GPU: (E / e) experts x 3 h f_e per MoE layer held.

    Args:
        model: an :class:`MoESpec`.
        e: expert-parallel size, divides E.
        moe_layers: MoE layers on the GPU's stage (default: all of them, p = 1).
    """
    e = check_expert_parallel(model, e)
    n = model.moe_layers if moe_layers is None else check_int("moe_layers", moe_layers, 0)
    return n * (model.num_experts // e) * model.expert_params


def stage_layers(model: MoESpec, p: int) -> list[tuple[int, int]]:
    """(dense layers, MoE layers) per stage, layers split as evenly as possible in order
    (the first stages take the extra layer and the dense layers come first)."""
    p = check_int("pipeline_parallel", p, 1, MAX_STAGES)
    if p > _spec(model).num_layers:
        raise ValueError(
            f"pipeline_parallel must be at most num_layers = {model.num_layers}, got {p}"
        )
    base, extra = divmod(model.num_layers, p)
    out, first = [], 0
    for i in range(p):
        n = base + (1 if i < extra else 0)
        dense = max(0, min(model.dense_layers, first + n) - first)
        out.append((dense, n - dense))
        first += n
    return out


def activation_bytes_per_token_layer(model: MoESpec, moe: bool = True, imbalance=1.0) -> float:
    """Bytes one token leaves stored in one layer for the backward (bf16, no recomputation,
    FlashAttention: no score matrix).

    Attention and norms: the inputs of both norms, of the query/key/value projections, their
    outputs (queries, keys, values; MLA: the two latents too), the core's output and the output
    projection's input, 2 bytes each (Korthikanti et al. 2022's accounting without the score
    matrix or dropout masks). MoE block: the router's input, then for each of the k copies the
    expert input and the SwiGLU's gate, up and product (3 f_e), scaled by ``imbalance`` on the
    busiest GPU; shared experts and dense MLPs likewise with their widths.
    """
    spec = _spec(model)
    lam = check_real("imbalance", imbalance, 1.0, 64.0)
    h, a = spec.hidden_size, spec.num_heads
    qk, v = _qk_v(spec)
    if spec.mla is None:
        kv = 2 * spec.num_kv_heads * spec.head_dim
        attn = 3 * h + a * qk + kv + 2 * a * v
    else:
        q_r, kv_r, _, rope, _ = spec.mla
        attn = 3 * h + q_r + kv_r + rope + a * qk + a * (qk + v) + 2 * a * v
    if moe:
        mlp = h + spec.top_k * lam * (h + 3 * spec.expert_ffn)
        mlp += spec.shared_experts * (h + 3 * spec.expert_ffn)
    else:
        mlp = h + 3 * spec.dense_ffn
    return 2.0 * (attn + mlp)


#: Peak activation sets held on the busiest rank, in units of one micro-batch through L / p
#: layers (chapter 4's unit), per schedule at m >= 2p: 1F1B p (narayanan2021efficient);
#: ZB-V p (qi2024zero); DualPipe p + 1 (deepseek2024v3, table 2). DualPipeV from the simulator.
def peak_activation_sets(schedule: str, p: int) -> float:
    """Peak activation sets on the busiest rank (units: one micro-batch through L / p layers):
    p for 1F1B and ZB-V, p + 1 for DualPipe (deepseek2024v3, table 2), DualPipeV measured by
    the chapter 2 simulator at m = 2p."""
    schedule = check_choice("schedule", schedule, SCHEDULES)
    p = check_int("p", p, 1, MAX_STAGES)
    return _peak_sets(schedule, p)


@lru_cache(maxsize=256)
def _peak_sets(schedule: str, p: int) -> float:
    if schedule == "dualpipe":
        return float(p + 1)
    if schedule == "dualpipev" and p > 1:
        result = schedules.simulate_named("dualpipev", p, 2 * p, t_f=1.0, t_i=1.0, t_w=1.0)
        return float(schedules.activation_sets_per_rank_layers(result).max())
    return float(p)


def stage_params(
    model: MoESpec, p: int, stage: int, t: int = 1, e: int = 1, schedule: str = "1f1b"
) -> tuple:
    """Parameters one GPU of ``stage`` (the rank, 0-based, of p) holds: ``(non_expert,
    expert)``. Non-expert (attention, dense MLPs, shared experts, router; the embedding on
    rank 0, the LM head on :func:`head_rank`, one copy each when p = 1 and they are tied) are
    split over t; the rank's routed experts over e (E / e per MoE layer, no expert tensor
    parallelism)."""
    spec = _spec(model)
    layers = stage_layers(spec, p)
    stage = check_int("stage", stage, 0, p - 1)
    t = check_int("tensor_parallel", t, 1, 64)
    e = check_expert_parallel(spec, e)
    return _stage_params(
        spec, p, stage, t, e, layers, _head_rank(check_choice("schedule", schedule, SCHEDULES), p)
    )


def head_rank(schedule: str, p: int) -> int:
    """The rank that holds the LM head: the last under 1F1B; rank 0 under ZB-V and DualPipeV
    (the V's last stage folds back onto it) and DualPipe (rank 0 runs the other direction's
    last stage)."""
    return _head_rank(
        check_choice("schedule", schedule, SCHEDULES), check_int("p", p, 1, MAX_STAGES)
    )


def _head_rank(schedule: str, p: int) -> int:
    return p - 1 if schedule == "1f1b" else 0


def _distinct_stages(layers: list[tuple[int, int]]) -> list[int]:
    """One stage of each kind: the first, the last, and the first with each (dense, MoE)
    layer count; the others hold the same as one of these (the planner's inner loop)."""
    seen, out = {}, [0, len(layers) - 1]
    for i, kind in enumerate(layers):
        seen.setdefault(kind, i)
    return sorted(set(out) | set(seen.values()))


def _stage_params(spec, p, stage, t, e, layers=None, head=None) -> tuple[float, int]:
    dense, moe = (layers or stage_layers(spec, p))[stage]
    shared = spec.shared_experts * spec.expert_params + spec.router_params
    params = (dense + moe) * spec.attention_params + dense * spec.dense_mlp_params + moe * shared
    if stage == 0:
        params += spec.embedding_params
    if stage == (p - 1 if head is None else head) and (p > 1 or not spec.tied_embeddings):
        params += spec.embedding_params  # the LM head (a copy of a tied embedding when p > 1)
    return params / t, moe * (spec.num_experts // e) * spec.expert_params


def stage_memory_moe(
    model: MoESpec,
    t: int,
    p: int,
    e: int,
    d: int,
    micro_batch: int = 1,
    schedule: str = "1f1b",
    recompute: str = "none",
    optimizer: str = "fp32-moments",
    imbalance: float = 1.0,
    seq_len: int | None = None,
) -> dict[str, float]:
    """Bytes on the fullest GPU of a layout: the largest over stages of the stage's states
    (:func:`stage_params`: the first stage holds the embedding and the dense layers, the last
    the LM head, the others the most experts) plus its layers' activations at the schedule's
    peak (:func:`peak_activation_sets`, the fullest rank's count: an upper bound for the rest).

    Non-expert weights (attention, dense MLPs, shared experts, router, embedding) are split
    over t; routed experts over e (expert tensor parallelism 1). Gradients (fp32) are whole,
    the optimizer state (``optimizer``: :data:`OPTIMIZER_BYTES`) is sharded over the d data
    replicas for non-expert weights and over the t d / e expert-data replicas for experts
    (ZeRO-1, as Megatron-Core's distributed optimizer and DeepSeek-V3). DualPipe keeps two
    copies of every stage's weights (deepseek2024v3, table 2: "2x" parameters).
    Activations: :func:`activation_bytes_per_token_layer` x tokens per micro-batch / t
    (sequence parallelism) x layers x :func:`peak_activation_sets` / p; full recomputation
    keeps each layer's input (2 h bytes per token) and one layer's working set.

    Returns a dict with ``weights``, ``gradients``, ``optimizer``, ``activations``, ``total``.
    """
    spec = _spec(model)
    t = check_int("tensor_parallel", t, 1, 64)
    d = check_int("data_parallel", d, 1, MAX_GPUS)
    e = check_expert_parallel(spec, e)
    if (t * d) % e:
        raise ValueError(
            f"expert_parallel must divide tensor_parallel x data_parallel = {t * d} "
            f"(the expert group is carved out of them), got {e}"
        )
    b = check_int("micro_batch", micro_batch, 1, 4096)
    schedule = check_choice("schedule", schedule, SCHEDULES)
    check_choice("recompute", recompute, RECOMPUTE)
    opt = OPTIMIZER_BYTES[check_choice("optimizer", optimizer, OPTIMIZER_BYTES)]
    lam = check_real("imbalance", imbalance, 1.0, 64.0)
    s = spec.seq_len if seq_len is None else check_int("seq_len", seq_len, 1, MAX_WIDTH)
    copies = 2 if schedule == "dualpipe" else 1
    edp = t * d // e
    tokens = b * s / t
    per_layer = max(
        activation_bytes_per_token_layer(spec, True, lam),
        activation_bytes_per_token_layer(spec, False) if spec.dense_layers else 0.0,
    )
    best = None
    layers = stage_layers(spec, p)
    for i in _distinct_stages(layers):
        dense, moe = layers[i]
        local_dense, expert = _stage_params(spec, p, i, t, e, layers, _head_rank(schedule, p))
        weights = copies * WEIGHT_BYTES * (local_dense + expert)
        grads = copies * GRAD_BYTES * (local_dense + expert)
        optim = copies * opt * (local_dense / d + expert / edp)
        held = (dense + moe) * _peak_sets(schedule, p)
        if recompute == "full":
            acts = tokens * (2.0 * spec.hidden_size * held + per_layer)
        else:
            acts = tokens * per_layer * held
        if best is None or weights + grads + optim + acts > sum(best):
            best = (weights, grads, optim, acts)
    weights, grads, optim, acts = best
    total = weights + grads + optim + acts
    return {
        "weights": weights,
        "gradients": grads,
        "optimizer": optim,
        "activations": acts,
        "total": total,
    }


# --------------------------------------------------------------------------------------------
# All-to-all
# --------------------------------------------------------------------------------------------


def a2a_split(
    e: int, gpus_per_node: int, top_k: int, max_nodes: int = 0, dispatcher: str = "all-to-all"
) -> dict[str, float]:
    """Where one token's k expert copies go, on average, under uniform routing.

    With e expert-parallel GPUs spread over n = ceil(e / g) nodes of g GPUs (e <= g: one node):

    - ``"all-to-all"`` (NCCL all-to-all, Megatron-LM's default dispatcher): every copy travels
      on its own; k / e copies stay on the GPU, k (min(e, g) - 1) / e cross NVLink and the rest
      cross the network.
    - ``"node-limited"`` (DeepSeek-V3's routing and its dispatch kernels, deepseek2024v3 sec.
      3.2.2): a token reaches at most ``max_nodes`` nodes; it crosses the network once per
      remote node it reaches, then NVLink forwards it to the GPUs holding its experts. Nodes
      reached: the expected distinct nodes among k uniform picks, n (1 - (1 - 1/n)^k), capped
      at ``max_nodes``; a share (n - 1) / n of them are remote.

    Returns ``network`` (network crossings per token), ``nvlink`` (NVLink transfers per token)
    and ``local`` (copies that stay on the GPU).
    """
    e = check_int("e", e, 1, MAX_GPUS)
    g = check_int("gpus_per_node", gpus_per_node, 1, 1024)
    k = check_int("top_k", top_k, 1, 65_536)
    limit = check_int("max_nodes", max_nodes, 0, MAX_GPUS)
    dispatcher = check_choice("dispatcher", dispatcher, DISPATCHERS)
    in_node = min(e, g)
    n = math.ceil(e / g)
    local = k / e
    if dispatcher == "all-to-all" or n == 1:
        nvlink = k * (in_node - 1) / e
        return {"network": k * (e - in_node) / e, "nvlink": nvlink, "local": local}
    reached = n * (1.0 - (1.0 - 1.0 / n) ** k)
    if limit:
        reached = min(reached, float(limit))
    network = reached * (n - 1) / n
    # every copy that is not on this GPU ends on an NVLink hop (forwarded inside its node)
    nvlink = k * (1.0 - 1.0 / g)
    return {"network": network, "nvlink": nvlink, "local": local}


def a2a_time_per_layer(
    model: MoESpec,
    cluster: MoECluster,
    tokens: int,
    e: int,
    dispatcher: str = "all-to-all",
    imbalance: float = 1.0,
    dispatch_bytes: float = 2.0,
) -> dict[str, float]:
    """Seconds of one MoE layer's all-to-all for ``tokens`` tokens on one GPU, forward
    (dispatch then combine); the backward moves the same bytes the other way.

    Bytes per copy: h x ``dispatch_bytes`` for the dispatch (2 for bf16; DeepSeek-V3
    dispatches FP8, 1 byte plus one fp32 scale per 128 values, 1.03) and 2 h for the combine.
    Network and NVLink traffic run at once (both transports are driven together), so each
    phase takes the longer of bytes / bandwidth on the two, times ``imbalance`` (the busiest
    GPU receives that much more than the average, >= 1), plus one call latency.

    Returns ``dispatch``, ``combine`` and ``forward`` (their sum) in seconds, and
    ``network_bytes`` and ``nvlink_bytes`` per GPU for the forward.
    """
    spec, cluster = _spec(model), _cluster(cluster)
    n_tok = check_int("tokens", tokens, 1, 2**40)
    e = check_expert_parallel(spec, e)
    lam = check_real("imbalance", imbalance, 1.0, 64.0)
    db = check_real("dispatch_bytes", dispatch_bytes, 0.5, 8.0)
    split = a2a_split(e, cluster.gpus_per_node, spec.top_k, spec.max_nodes_per_token, dispatcher)
    return _a2a(spec, cluster, n_tok, split, lam, db)


def _a2a(spec, cluster, n_tok, split, lam, db) -> dict[str, float]:
    h = spec.hidden_size
    net_bw = cluster.inter_link.bandwidth()
    nvl_bw = cluster.intra_link.bandwidth()
    call = cluster.inter_link.call_latency if split["network"] else cluster.intra_link.call_latency

    def phase(bytes_per_value):
        net = n_tok * split["network"] * h * bytes_per_value
        nvl = n_tok * split["nvlink"] * h * bytes_per_value
        if net == 0 and nvl == 0:
            return 0.0, 0.0, 0.0
        return call + lam * max(net / net_bw, nvl / nvl_bw), net, nvl

    dispatch, net, nvl = phase(db)
    combine, net2, nvl2 = phase(2.0)
    return {
        "dispatch": dispatch,
        "combine": combine,
        "forward": dispatch + combine,
        "network_bytes": net + net2,
        "nvlink_bytes": nvl + nvl2,
    }


# --------------------------------------------------------------------------------------------
# Compute of one chunk
# --------------------------------------------------------------------------------------------


def _linear(tokens: int, n_in: int, n_out: int, gpu: GPUSpec, fp8: bool = False):
    """Forward, input-gradient and weight-gradient seconds of a tokens x n_in x n_out layer
    (FP8 inputs for all three with ``fp8``, as DeepSeek-V3's fine-grained FP8, sec. 3.3)."""
    f = gemm._gemm(tokens, n_out, n_in, gpu, fp8)
    i = gemm._gemm(tokens, n_in, n_out, gpu, fp8)
    w = gemm._gemm(n_in, n_out, tokens, gpu, fp8)
    return f, i, w


def _add(total, part, times=1.0):
    return tuple(x + times * y for x, y in zip(total, part, strict=True))


@lru_cache(maxsize=8192)
def _layer_compute(spec, gpu, b, s, t, e, lam, moe, fp8=False):
    """(F, I, W) seconds of one layer on one GPU for one micro-batch (t-way tensor parallel
    attention and dense parts, e-way expert parallel routed experts)."""
    h, a = spec.hidden_size, spec.num_heads
    tokens = b * s
    out = (0.0, 0.0, 0.0)
    if spec.mla is None:
        q = a * spec.head_dim // t
        kv = max(1, spec.num_kv_heads * spec.head_dim // t)
        out = _add(out, _linear(tokens, h, q + 2 * kv, gpu, fp8))
        out = _add(out, _linear(tokens, q, h, gpu, fp8))
    else:
        q_r, kv_r, nope, rope, v = spec.mla
        out = _add(out, _linear(tokens, h, q_r + kv_r + rope, gpu, fp8))
        out = _add(out, _linear(tokens, q_r, max(1, a * (nope + rope) // t), gpu, fp8))
        out = _add(out, _linear(tokens, kv_r, max(1, a * (nope + v) // t), gpu, fp8))
        out = _add(out, _linear(tokens, max(1, a * v // t), h, gpu, fp8))
    qk, v = _qk_v(spec)
    width = max(1, a * (qk + v) // (2 * t))
    fwd = gemm._attention(b, s, width, gpu, False)
    out = _add(out, (fwd, gemm._attention(b, s, width, gpu, True), 0.0))
    local = max(1, tokens // t)  # sequence parallel: each GPU routes s / t of the tokens
    if moe:
        experts = spec.num_experts // e
        per_expert = max(1, round(lam * local * spec.top_k * e / spec.num_experts))
        one = _add(
            _linear(per_expert, h, 2 * spec.expert_ffn, gpu, fp8),
            _linear(per_expert, spec.expert_ffn, h, gpu, fp8),
        )
        out = _add(out, one, experts)
        if spec.shared_experts:
            f = spec.shared_experts * spec.expert_ffn
            out = _add(
                out, _add(_linear(local, h, 2 * f, gpu, fp8), _linear(local, f, h, gpu, fp8))
            )
        out = _add(out, _linear(local, h, spec.num_experts, gpu))  # the gate stays bf16
        moved = 2.0 * 4 * spec.top_k * lam * local * h  # permute / unpermute, read + write
    else:
        f = max(1, spec.dense_ffn // t)
        out = _add(out, _add(_linear(tokens, h, 2 * f, gpu, fp8), _linear(tokens, f, h, gpu, fp8)))
        moved = 0.0
    # element-wise work: 10 h values per token read and written (chapter 5's ELEMENTWISE_H)
    ew = gemm.OVERHEAD * (2.0 * 2 * 10 * local * h + moved) / gpu.achievable_hbm_bandwidth
    return _add(out, (ew, 2 * ew, 0.0))


def chunk_times(
    model: MoESpec,
    cluster: MoECluster,
    t: int,
    e: int,
    dense_layers: int,
    moe_layers: int,
    micro_batch: int = 1,
    imbalance: float = 1.0,
    dispatcher: str = "all-to-all",
    dispatch_bytes: float = 2.0,
    seq_len: int | None = None,
    fp8: bool = False,
) -> dict[str, float]:
    """Times of one micro-batch through a chunk of ``dense_layers`` + ``moe_layers`` layers
    on one GPU, seconds: compute ``F``, ``I`` (input gradient), ``W`` (weight gradient), the
    forward all-to-all ``xF`` and the backward's ``xB`` (same bytes), and the tensor-parallel
    all-reduces ``tp`` (forward; the backward has as many), over NVLink.

    Compute from chapter 5's kernel model (:func:`ppnotes.gemm.gemm_time` for each projection
    and expert, FlashAttention's rate for the core): each GPU runs its E / e experts as
    separate multiplies of ``imbalance`` x b s k e / (E t) tokens each (few tokens per expert
    run below the GPU's peak: that is where e changes compute).
    """
    spec, cluster = _spec(model), _cluster(cluster)
    t = check_int("tensor_parallel", t, 1, 64)
    e = check_expert_parallel(spec, e)
    nd = check_int("dense_layers", dense_layers, 0, MAX_LAYERS)
    nm = check_int("moe_layers", moe_layers, 0, MAX_LAYERS)
    b = check_int("micro_batch", micro_batch, 1, 4096)
    lam = check_real("imbalance", imbalance, 1.0, 64.0)
    check_choice("dispatcher", dispatcher, DISPATCHERS)
    db = check_real("dispatch_bytes", dispatch_bytes, 0.5, 8.0)
    s = spec.seq_len if seq_len is None else check_int("seq_len", seq_len, 1, MAX_WIDTH)
    if spec.num_heads % t:
        raise ValueError(f"tensor_parallel must divide num_heads = {spec.num_heads}, got {t}")
    return _chunk(
        spec, cluster, t, e, nd, nm, b, lam, dispatcher, db, s, gemm.check_fp8(cluster.gpu, fp8)
    )


def _chunk(spec, cluster, t, e, nd, nm, b, lam, dispatcher, db, s, fp8=False) -> dict:
    gpu = cluster.gpu
    # names F, I, W as in the schedules module
    moe = _layer_compute(spec, gpu, b, s, t, e, lam, True, fp8)
    dense = _layer_compute(spec, gpu, b, s, t, e, lam, False, fp8) if nd else (0.0, 0.0, 0.0)
    F, I, W = (nm * x + nd * y for x, y in zip(moe, dense, strict=True))  # noqa: E741
    split = a2a_split(e, cluster.gpus_per_node, spec.top_k, spec.max_nodes_per_token, dispatcher)
    x = _a2a(spec, cluster, max(1, b * s // t), split, lam, db)["forward"] if e > 1 else 0.0
    tp = 0.0
    if t > 1:
        nbytes = 2.0 * b * s * spec.hidden_size
        bw = cluster.intra_link.bandwidth()
        tp = (nd + nm) * 2 * (cluster.intra_link.call_latency + 2 * (t - 1) / t * nbytes / bw)
    return {"F": F, "I": I, "W": W, "xF": nm * x, "xB": nm * x, "tp": tp}


# --------------------------------------------------------------------------------------------
# Step time
# --------------------------------------------------------------------------------------------


#: The chunk times :func:`pipeline_step` reads (seconds per micro-batch through a rank's layers).
CHUNK_KEYS = ("F", "I", "W", "xF", "xB")


def dualpipev_rank0_pairs(p: int, m: int) -> int:
    """Overlapped forward-backward pairs on rank 0 of DualPipeV, 2m - 3p + 1 (m >= 2p): the
    fewest of any rank (rank r has r more), so rank 0 sets the step. Counted on the schedule
    by the tests (:func:`ppnotes.schedules.overlap_pairs`, chunk pairing)."""
    p = check_int("p", p, 2, MAX_STAGES)
    return _rank0_pairs(p, check_int("m", m, 2 * p, MAX_MICROBATCHES))


def _rank0_pairs(p: int, m: int) -> int:
    return 2 * m - 3 * p + 1


#: The smallest DualPipeV (two ranks, four micro-batches), simulated once per cost set by
#: :func:`_v_bubble`.
_TWO_RANKS = (2, 4)


@lru_cache(maxsize=1)
def _two_rank_schedule() -> schedules.Schedule:
    return schedules.build_schedule("dualpipev", *_TWO_RANKS)


@lru_cache(maxsize=4096)
def _v_bubble(f: float, i: float, w: float, xf: float, xb: float) -> float:
    """Idle time of rank 0 per extra rank of DualPipeV, seconds: the two-rank schedule's
    makespan less rank 0's own work (its pairs at max(f + b, x), the rest at f + b + x), per
    chunk costs f, i, w (b = i + w) and all-to-all xf, xb. Without all-to-all it equals
    deepseek2024v3 table 2's F&B + B - 3W = f + 2b - 3w (when b >= f; the tests check it)."""
    p, m = _TWO_RANKS
    sch = _two_rank_schedule()
    costs = {"F": f, "B": i + w, "I": i, "W": w}
    talk = {"F": xf, "B": xb, "I": xb, "W": 0.0}
    makespan = schedules.simulate_overlap(sch, costs, talk, "chunk").makespan
    return makespan - _v_work(p, m, f, i + w, xf + xb)


def _v_work(p: int, m: int, f: float, b: float, x: float) -> float:
    """Rank 0's busy time in DualPipeV: q pairs at max(f + b, x), 2m - q passes at f + b + x."""
    q = _rank0_pairs(p, m)
    return q * max(f + b, x) + (2 * m - q) * (f + b + x)


def pipeline_step(schedule: str, p: int, m: int, c: dict[str, float]) -> float:
    """Step time of the pipeline part, seconds, from one rank's chunk times ``c`` (a dict as
    :func:`chunk_times` returns, for one micro-batch through *all* of the rank's layers,
    L / p; V-shaped schedules split them into two chunks of half).

    With F, B = I + W and X = xF + xB (the forward and backward all-to-all of the rank's layers):

    - ``"1f1b"``: (m + p - 1)(F + B + X): the all-to-all on the critical path, exact against
      the simulator with hop latency 0 (the step of chapter 2 with stretched actions).
    - ``"zbv"``: m (F + B + X) + (p - 1)(f + b + x - 2 w) with half-chunk f, b, w, x
      (qi2024zero's ZB-V bubble with the all-to-all inside each action; no overlap). An
      approximation: within 8 % of the simulator over random costs, exact without all-to-all.
    - ``"dualpipev"`` and ``"dualpipe"`` (same time, deepseek2024v3 table 2; they differ in
      memory only): rank 0's work, q = 2m - 3p + 1 pairs (:func:`dualpipev_rank0_pairs`) at
      max(f + b, x) and 2m - q chunk passes at f + b + x, plus (p - 1) beta, beta the idle time
      per extra rank read off a two-rank DualPipeV (:func:`_v_bubble`; F&B + B - 3W without
      all-to-all). Exact against the simulator for every p >= 2 and m >= 2p (the tests check
      it with random costs). The caller slows the compute of every action by the SMs the
      communication keeps (:attr:`MoECluster.comm_sms`).

    The tests hold each against :func:`ppnotes.schedules.simulate_overlap`.
    """
    schedule = check_choice("schedule", schedule, SCHEDULES)
    p = check_int("p", p, 1, MAX_STAGES)
    m = check_int("m", m, 1, MAX_MICROBATCHES)
    if not isinstance(c, dict) or set(c) < set(CHUNK_KEYS):
        raise TypeError(f"c must be a dict with keys {CHUNK_KEYS} (seconds), got {c!r}")
    c = {k: check_real(f"c[{k!r}]", c[k], 0.0, 1e9) for k in CHUNK_KEYS}
    F, W = c["F"], c["W"]
    B, X = c["I"] + W, c["xF"] + c["xB"]
    if schedule == "1f1b" or p == 1:
        return (m + p - 1) * (F + B + X)
    f, b, w, x = F / 2, B / 2, W / 2, X / 2
    if schedule == "zbv":
        return m * (F + B + X) + (p - 1) * max(0.0, f + b + x - 2 * w)
    if m < 2 * p:
        raise ValueError(f"m must be >= 2p = {2 * p} for {schedule}, got {m}")
    beta = _v_bubble(f, c["I"] / 2, w, c["xF"] / 2, c["xB"] / 2)
    return _v_work(p, m, f, b, x) + (p - 1) * beta


#: Which actions each schedule pairs in :func:`a2a_timeline` (DualPipe's chunk pairing for the
#: V-shaped DualPipeV; none for 1F1B and ZB-V, which have no overlap).
TIMELINE_PAIRING = {"1f1b": "none", "zbv": "none", "dualpipev": "chunk"}


def a2a_timeline(
    schedule: str,
    p: int,
    m: int,
    *,
    forward: float = 1.0,
    backward: float = 2.0,
    a2a: float = 0.6,
) -> dict:
    """Simulate a toy MoE pipeline with the all-to-all drawn in: ``schedule`` (one of
    :data:`TIMELINE_PAIRING`) on p ranks and m micro-batches, where a rank's layers take
    ``forward`` and ``backward`` units of compute per micro-batch (the backward split half
    input gradient, half weight gradient for ZB-V and DualPipeV) and carry ``a2a`` units of
    all-to-all in the forward and as much in the backward (input-gradient) pass. V-shaped
    schedules split a rank's layers into two chunks of half each.

    Returns a dict: ``result`` (:class:`~ppnotes.schedules.SimResult` of
    :func:`~ppnotes.schedules.simulate_overlap`: ``duration`` is compute), ``a2a`` (all-to-all
    units per action, aligned with ``result.actions``), ``pairs`` (flat indices of paired
    actions), and per rank ``exposed`` (time the rank waits for its own all-to-all) and
    ``hidden`` (all-to-all that ran under a paired action's compute), in the same units.
    """
    schedule = check_choice("schedule", schedule, TIMELINE_PAIRING)
    p = check_int("p", p, 1, 64)
    m = check_int("m", m, 1, 1024)
    f = check_real("forward", forward, 1e-9, 1e9)
    b = check_real("backward", backward, 1e-9, 1e9)
    x = check_real("a2a", a2a, 0.0, 1e9)
    if schedule == "dualpipev" and (p < 2 or m < 2 * p):
        raise ValueError(f"m must be >= 2p = {2 * p} for dualpipev (and p >= 2), got m = {m}")
    sch = schedules.build_schedule(schedule, p, m)
    share = sch.num_stages / sch.num_ranks
    costs = {"F": f / share, "B": b / share, "I": b / 2 / share, "W": b / 2 / share}
    talk = {"F": x / share, "B": x / share, "I": x / share, "W": 0.0}
    pair = TIMELINE_PAIRING[schedule]
    result = schedules.simulate_overlap(sch, costs, talk, pair)
    per_action = [talk[a.kind] for a in result.actions]
    pairs = schedules.overlap_pairs(sch, pair)
    exposed, hidden = [0.0] * p, [0.0] * p
    second = {j for _, j in pairs}
    for i, j in pairs:
        r = int(result.rank[i])
        work = float(result.duration[i] + result.duration[j])
        comm = per_action[i] + per_action[j]
        hidden[r] += min(work, comm)
        exposed[r] += max(0.0, comm - work)
    paired = {i for i, _ in pairs} | second
    for i, comm in enumerate(per_action):
        if i not in paired:
            exposed[int(result.rank[i])] += comm
    return {
        "result": result,
        "a2a": per_action,
        "pairs": pairs,
        "exposed": exposed,
        "hidden": hidden,
    }


def timeline_closed_form(
    schedule: str, p: int, m: int, *, forward=1.0, backward=2.0, a2a=0.6
) -> float:
    """:func:`pipeline_step` on :func:`a2a_timeline`'s toy costs (per rank: F = ``forward``,
    I = W = ``backward`` / 2, xF = xB = ``a2a``): the closed form to set beside the simulator."""
    schedule = check_choice("schedule", schedule, TIMELINE_PAIRING)
    f = check_real("forward", forward, 1e-9, 1e9)
    b = check_real("backward", backward, 1e-9, 1e9)
    x = check_real("a2a", a2a, 0.0, 1e9)
    c = {"F": f, "I": b / 2, "W": b / 2, "xF": x, "xB": x}
    return pipeline_step(schedule, check_int("p", p, 1, 64), check_int("m", m, 1, 1024), c)


@dataclass(frozen=True)
class MoELayout:
    """One way to train an MoE model: t, p, e, d, micro-batch b, global batch G (sequences),
    schedule, recomputation. e must divide E and t d (the expert group is carved out of the
    tensor and data ranks, as in Megatron-Core); G must be a multiple of d b."""

    tensor_parallel: int
    pipeline_parallel: int
    expert_parallel: int
    data_parallel: int
    micro_batch: int
    global_batch: int
    schedule: str = "1f1b"
    recompute: str = "none"

    def __post_init__(self):
        t = check_int("tensor_parallel", self.tensor_parallel, 1, 64)
        check_int("pipeline_parallel", self.pipeline_parallel, 1, MAX_STAGES)
        e = check_int("expert_parallel", self.expert_parallel, 1, MAX_GPUS)
        d = check_int("data_parallel", self.data_parallel, 1, MAX_GPUS)
        b = check_int("micro_batch", self.micro_batch, 1, 4096)
        g = check_int("global_batch", self.global_batch, 1, 10**8)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("recompute", self.recompute, RECOMPUTE)
        if (t * d) % e:
            raise ValueError(
                f"expert_parallel must divide tensor_parallel x data_parallel = {t * d}, got {e}"
            )
        if g % (d * b):
            raise ValueError(
                f"global_batch must be a multiple of data_parallel x micro_batch = {d * b}, got {g}"
            )
        if g // (d * b) > MAX_MICROBATCHES:
            raise ValueError(f"global_batch / (d b) must be at most {MAX_MICROBATCHES}, got {g}")

    @property
    def num_gpus(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.data_parallel

    @property
    def num_microbatches(self) -> int:
        return self.global_batch // (self.data_parallel * self.micro_batch)

    @property
    def words(self) -> str:
        """The label in chapter 7's planner words, e.g. ``t1 e64 p16 d128 b1 dualpipe none``."""
        return (
            f"t{self.tensor_parallel} e{self.expert_parallel} p{self.pipeline_parallel} "
            f"d{self.data_parallel} b{self.micro_batch} {self.schedule} {self.recompute}"
        )

    @property
    def label(self) -> str:
        return (
            f"t={self.tensor_parallel} p={self.pipeline_parallel} e={self.expert_parallel} "
            f"d={self.data_parallel} b={self.micro_batch} {self.schedule}"
        )


@dataclass
class MoEStep:
    """What :func:`moe_step_time` returns: ``step_time`` and its ``parts`` (seconds:
    ``compute`` (busy compute of the slowest rank), ``a2a_exposed``, ``bubble``, ``tp``,
    ``dp``), ``a2a_total`` (all-to-all time of the slowest rank, hidden or not), ``memory``
    (:func:`stage_memory_moe`), ``tokens_per_second`` and ``mfu`` (model FLOPs as Megatron-LM
    counts them over the step, over the bf16 peak)."""

    layout: MoELayout
    step_time: float
    parts: dict
    a2a_total: float
    memory: dict
    tokens_per_second: float
    mfu: float
    chunk: dict = field(repr=False, default_factory=dict)
    slowest_rank: int = 0  # the rank whose chunk times set the pace


def moe_step_time(
    model: MoESpec,
    cluster: MoECluster,
    layout: MoELayout,
    *,
    imbalance: float = 1.0,
    dispatcher: str = "all-to-all",
    dispatch_bytes: float = 2.0,
    optimizer: str = "fp32-moments",
    seq_len: int | None = None,
    fp8: bool = False,
) -> MoEStep:
    """Step time of ``layout`` for ``model`` on ``cluster``, seconds, split into parts.

    The slowest stage (most layers; the last stage adds the LM head) sets the pace:
    :func:`chunk_times` gives its compute and all-to-all per micro-batch, and
    :func:`pipeline_step` the pipeline time for the schedule. DualPipe(V) overlap slows compute
    by 132 / (132 - comm SMs) on the H800/H100 (deepseek2024v3 sec. 3.2.2: 20 SMs for
    communication). Then: the tensor-parallel all-reduces (never hidden here), and the
    data-parallel reduce-scatter and all-gather of the ZeRO-1 optimizer over the network
    (non-expert weights over d, experts over t d / e), minus what hides behind the last
    backward chunk. Imbalance multiplies the busiest GPU's expert tokens and received bytes.
    """
    spec, cluster = _spec(model), _cluster(cluster)
    check_instance("layout", layout, MoELayout, "ppnotes.moe.MoELayout")
    lam = check_real("imbalance", imbalance, 1.0, 64.0)
    check_choice("dispatcher", dispatcher, DISPATCHERS)
    db = check_real("dispatch_bytes", dispatch_bytes, 0.5, 8.0)
    check_choice("optimizer", optimizer, OPTIMIZER_BYTES)
    s = spec.seq_len if seq_len is None else check_int("seq_len", seq_len, 1, MAX_WIDTH)
    check_expert_parallel(spec, layout.expert_parallel)
    t = layout.tensor_parallel
    if spec.num_heads % t:
        raise ValueError(f"tensor_parallel must divide num_heads = {spec.num_heads}, got {t}")
    if t > cluster.gpus_per_node:
        raise ValueError(
            f"tensor_parallel must fit in a node of {cluster.gpus_per_node} GPUs, got {t}"
        )
    fp8 = gemm.check_fp8(cluster.gpu, fp8)
    return _step(spec, cluster, layout, lam, dispatcher, db, optimizer, s, fp8)


def _step(spec, cluster, layout, lam, dispatcher, db, optimizer, s, fp8=False) -> MoEStep:
    t, p = layout.tensor_parallel, layout.pipeline_parallel
    e, d, b = layout.expert_parallel, layout.data_parallel, layout.micro_batch
    m = layout.num_microbatches
    layers = stage_layers(spec, p)
    head = _head_rank(layout.schedule, p)
    slowest, worst, rank = None, -1.0, 0
    for i in _distinct_stages(layers):
        nd, nm = layers[i]
        c = _chunk(spec, cluster, t, e, nd, nm, b, lam, dispatcher, db, s, fp8)
        if i == head:  # LM head: a V x h multiply on the rank of the last stage
            head = _linear(b * s, spec.hidden_size, max(1, spec.vocab_size // t), cluster.gpu)
            c = {**c, "F": c["F"] + head[0], "I": c["I"] + head[1], "W": c["W"] + head[2]}
        load = c["F"] + c["I"] + c["W"] + c["xF"] + c["xB"]
        if load > worst:
            slowest, worst, rank = c, load, i
    c = dict(slowest)
    if layout.recompute == "full":  # the backward reruns the forward, all-to-all included
        c.update(I=c["I"] + c["F"], xB=c["xB"] + c["xF"])
    overlap = layout.schedule in ("dualpipev", "dualpipe")
    if overlap and cluster.comm_sms:
        slow = cluster.gpu.sm_count / (cluster.gpu.sm_count - cluster.comm_sms)
        c.update(F=c["F"] * slow, I=c["I"] * slow, W=c["W"] * slow)
    pipe = pipeline_step(layout.schedule, p, m, c)
    compute = m * (c["F"] + c["I"] + c["W"])
    a2a_total = m * (c["xF"] + c["xB"])
    no_a2a = pipeline_step(layout.schedule, p, m, {**c, "xF": 0.0, "xB": 0.0})
    exposed = pipe - no_a2a
    tp = m * 2 * c["tp"]
    # ZeRO-1 data-parallel traffic (gradients reduced, weights gathered) of the busiest
    # stage, over the network: non-expert weights over d, experts over t d / e replicas
    edp, bw = t * d // e, cluster.inter_link.bandwidth()
    dp = max(
        (GRAD_BYTES + WEIGHT_BYTES) * (dense * (d - 1) / d + expert * (edp - 1) / edp) / bw
        for dense, expert in (
            _stage_params(spec, p, i, t, e, layers, head) for i in _distinct_stages(layers)
        )
    )
    dp_exposed = max(0.0, dp - (c["I"] + c["W"]))
    step = pipe + tp + dp_exposed
    memory = stage_memory_moe(
        spec, t, p, e, d, b, layout.schedule, layout.recompute, optimizer, lam, s
    )
    tokens = layout.global_batch * s
    flops = 3.0 * spec.flops_per_token(s) * tokens
    mfu = flops / (step * layout.num_gpus * cluster.gpu.bf16_flops)
    parts = {
        "compute": compute,
        "a2a_exposed": exposed,
        "bubble": no_a2a - compute,
        "tp": tp,
        "dp": dp_exposed,
    }
    return MoEStep(layout, step, parts, a2a_total, memory, tokens / step, mfu, c, rank)


# --------------------------------------------------------------------------------------------
# Planner
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MoEDropped:
    """A layout the planner left out, with the ``rule`` and a ``reason`` a reader can act on."""

    label: str
    rule: str
    reason: str
    #: the values every configuration this drop covers shares (keys of :data:`LAYOUT_WORDS`)
    fields: dict = field(default_factory=dict, compare=False)
    need: float = 0.0  # bytes the fullest GPU needs ("memory" drops), else 0


#: A layout's words (:attr:`MoELayout.words`, :func:`parse_moe`) and the fields they set.
LAYOUT_WORDS = {
    "t": "tensor_parallel",
    "e": "expert_parallel",
    "p": "pipeline_parallel",
    "d": "data_parallel",
    "b": "micro_batch",
}


def parse_moe(text: str) -> dict:
    """Read an MoE layout's words (all or some, any order) into a dict with keys t, e, p, d,
    b, schedule, recompute: ``"t1 e64 p16 d128 b1 dualpipe none"`` or ``"e64 p16"``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"config must be words like 'e64 p16 dualpipe', got {text!r}")
    out: dict = {}
    for word in text.replace(",", " ").replace("=", "").lower().split():
        if word in SCHEDULES:
            out["schedule"] = word
        elif word in RECOMPUTE:
            out["recompute"] = word
        elif word[:1] in LAYOUT_WORDS and word[1:].isdigit() and int(word[1:]) >= 1:
            out[word[0]] = int(word[1:])
        else:
            raise ValueError(
                f"config word {word!r} is not one of t<N>, e<N>, p<N>, d<N>, b<N>, a schedule "
                f"{SCHEDULES} or a recomputation {RECOMPUTE}"
            )
    return out


def _layout_fields(layout: MoELayout) -> dict:
    out = {k: getattr(layout, name) for k, name in LAYOUT_WORDS.items()}
    return out | {"schedule": layout.schedule, "recompute": layout.recompute}


@dataclass
class MoEPlan:
    """What :func:`plan_moe` found: ``ranked`` (fastest first), ``dropped``, the search time
    in seconds and the memory ``budget`` per GPU (bytes)."""

    ranked: list[MoEStep]
    dropped: list[MoEDropped]
    seconds: float
    budget: float = 0.0

    @property
    def best(self) -> MoEStep | None:
        return self.ranked[0] if self.ranked else None

    def find(self, text: str) -> tuple[str, object]:
        """Where a layout ended up: ``("ranked", (rank, MoEStep))`` for the best ranked one
        with the given words (:func:`parse_moe`; partial words allowed), else ``("dropped",
        [MoEDropped, ...])``, the drops that cover it (most specific first)."""
        want = parse_moe(text)
        for i, r in enumerate(self.ranked):
            got = _layout_fields(r.layout)
            if all(got[k] == v for k, v in want.items()):
                return "ranked", (i + 1, r)
        hits = [
            x
            for x in self.dropped
            if x.fields and all(want.get(k, v) == v for k, v in x.fields.items())
        ]
        hits.sort(key=lambda x: -sum(k in want for k in x.fields))
        return "dropped", hits

    def explain(self, text: str) -> str:
        """Why a layout ranks where it does or was left out (plain text)."""
        where, what = self.find(text)
        if where == "ranked":
            rank, r = what
            gib = r.memory["total"] / GiB
            lines = [
                f"{r.layout.words}: rank {rank} of {len(self.ranked)}, step {r.step_time:.3f} s, "
                f"fullest GPU {gib:.1f} GiB of {self.budget / GiB:.1f} GiB"
            ]
            if rank == 1:
                lines.append("It is the fastest layout that fits.")
                if len(self.ranked) > 1:
                    lines.append("Runner-up " + _compare_steps(self.ranked[1], r))
            else:
                lines.append(_compare_steps(r, self.best))
            return "\n".join(lines)
        if not what:
            return f"{text}: not among the layouts searched"
        rules = sorted({x.rule for x in what})
        lines = [f"{text}: no layout with these values ranks; dropped by {', '.join(rules)}"]
        lines += [f"  {x.label}: {x.rule}: {x.reason}" for x in what[:6]]
        if len(what) > 6:
            lines.append(f"  ... and {len(what) - 6} more")
        return "\n".join(lines)


def _compare_steps(slow: MoEStep, fast: MoEStep) -> str:
    """Which parts make ``slow`` slower than ``fast``, largest difference first."""
    diff = {k: slow.parts[k] - fast.parts[k] for k in slow.parts}
    order = sorted(diff, key=lambda k: -abs(diff[k]))[:3]
    text = ", ".join(f"{k} {diff[k]:+.3f} s" for k in order)
    return (
        f"{slow.layout.words} is {slow.step_time - fast.step_time:.3f} s slower than "
        f"{fast.layout.words}; the parts that differ most: {text}."
    )


#: The parts of an MoE step (:attr:`MoEStep.parts`), seconds; they sum to the step time.
STEP_PARTS = ("compute", "a2a_exposed", "bubble", "tp", "dp")


def table_moe(plan: MoEPlan, top: int = 10) -> list[dict]:
    """The first ``top`` ranked layouts as rows: config (words), t, e, p, d, b, m, schedule,
    recompute, step time and every part (seconds), fullest GPU (GiB), MFU."""
    check_instance("plan", plan, MoEPlan, "ppnotes.moe.MoEPlan")
    rows = []
    for r in plan.ranked[: check_int("top", top, 1)]:
        lay = r.layout
        row = {"config": lay.words} | _layout_fields(lay) | {"m": lay.num_microbatches}
        row |= {"step_time": r.step_time} | dict(r.parts)
        row |= {"peak_gib": r.memory["total"] / GiB, "mfu": r.mfu}
        rows.append(row)
    return rows


def verify_moe(plan: MoEPlan, top: int = 3) -> list[dict]:
    """Re-time the pipeline part of the ``top`` best layouts with the simulator
    (:func:`ppnotes.schedules.simulate_overlap`, every rank given the slowest stage's chunk
    times, DualPipe's pairs for the V-shaped schedules, DualPipe timed as DualPipeV) against
    :func:`pipeline_step`. Rows: ``config``, ``model``, ``simulated`` (seconds), ``error``."""
    check_instance("plan", plan, MoEPlan, "ppnotes.moe.MoEPlan")
    rows = []
    for r in plan.ranked[: check_int("top", top, 1)]:
        lay, c = r.layout, r.chunk
        p, m = lay.pipeline_parallel, lay.num_microbatches
        mine = pipeline_step(lay.schedule, p, m, c)
        name = "dualpipev" if lay.schedule == "dualpipe" else lay.schedule
        if p == 1:
            sim = m * sum(c[k] for k in CHUNK_KEYS)
        else:
            sch = schedules.build_schedule(name, p, m)
            share = sch.num_stages / sch.num_ranks
            costs = {k: c[k] / share for k in ("F", "I", "W")} | {"B": (c["I"] + c["W"]) / share}
            talk = {"F": c["xF"] / share, "B": c["xB"] / share, "I": c["xB"] / share}
            pair = "chunk" if name == "dualpipev" else "none"
            sim = schedules.simulate_overlap(sch, costs, talk, pair).makespan
        rows.append({"config": lay.words, "model": mine, "simulated": sim, "error": mine / sim - 1})
    return rows


#: Which framework runs which combination as timed (read at their sources): Megatron-Core
#: MoE: t, p (1F1B, interleaved), e, d, ZeRO-1 (megatron2026moereadme); DualPipe is not among
#: its schedules. torchtitan 0.3.0: e with FSDP, t, p under 1F1B and ZB-V; PyTorch's
#: ``ScheduleDualPipeV`` exists, but it runs a pair's forward and backward one after the other
#: unless a custom overlap function is registered, and torchtitan's trainer registers none
#: (only its experimental graph trainer does), so the overlap timed here would not happen
#: (:data:`ppnotes.export.EXPORT_SOURCES`, "torchtitan-moe"). DeepSpeed-MoE: e with ZeRO data
#: parallelism and t (rajbhandari2022deepspeedmoe); no pipeline with experts in its MoE papers.
#: DeepSeek's own framework HAI-LLM ran DualPipe (deepseek2024v3).
FRAMEWORK_SCHEDULES = {
    "any": SCHEDULES,
    "megatron": ("1f1b",),
    "torchtitan": ("1f1b", "zbv"),
    "deepseek": ("1f1b", "zbv", "dualpipev", "dualpipe"),
}


def plan_moe(
    model: MoESpec,
    cluster: MoECluster,
    num_gpus: int,
    global_batch: int,
    *,
    max_micro_batch: int = 2,
    framework: str = "any",
    imbalance: float = 1.0,
    dispatcher: str = "all-to-all",
    dispatch_bytes: float = 2.0,
    optimizer: str = "fp32-moments",
    recompute: str = "none",
    reserve_fraction: float = RESERVE_FRACTION,
    seq_len: int | None = None,
    fp8: bool = False,
) -> MoEPlan:
    """Search t (inside a node, dividing the heads), p (at most L), e (dividing E and t d),
    d = N / (t p), micro-batch b and schedule; time every layout that fits and rank them.

    Left out, each with its reason in ``dropped``: e that does not divide E ("whole experts")
    or t d ("expert group"), a global batch that d b does not divide ("batch"), fewer
    micro-batches than DualPipeV needs (m < 2p, "schedule"), and layouts whose fullest GPU
    exceeds (1 - ``reserve_fraction``) of its memory ("memory"). This is chapter 7's planner
    idea for MoE, as a separate function (adding e to :func:`ppnotes.optimum.plan_training`
    would change every dense chapter's search).
    """
    spec, cluster = _spec(model), _cluster(cluster)
    n = check_int("num_gpus", num_gpus, 1, 65_536)
    g = check_int("global_batch", global_batch, 1, 10**7)
    bmax = check_int("max_micro_batch", max_micro_batch, 1, 64)
    allowed = FRAMEWORK_SCHEDULES[check_choice("framework", framework, FRAMEWORK_SCHEDULES)]
    lam = check_real("imbalance", imbalance, 1.0, 64.0)
    check_choice("dispatcher", dispatcher, DISPATCHERS)
    db = check_real("dispatch_bytes", dispatch_bytes, 0.5, 8.0)
    check_choice("optimizer", optimizer, OPTIMIZER_BYTES)
    check_choice("recompute", recompute, RECOMPUTE)
    reserve = check_real("reserve_fraction", reserve_fraction, 0.0, 0.9)
    s = spec.seq_len if seq_len is None else check_int("seq_len", seq_len, 1, MAX_WIDTH)
    fp8 = gemm.check_fp8(cluster.gpu, fp8)
    began = time.perf_counter()
    budget = (1.0 - reserve) * cluster.gpu.memory_bytes
    ranked, dropped = [], []

    def drop(rule: str, reason: str, need: float = 0.0, **fields) -> None:
        words = [f"{k}{fields[k]}" for k in LAYOUT_WORDS if k in fields]
        words += [fields[k] for k in ("schedule", "recompute") if k in fields]
        dropped.append(MoEDropped(" ".join(words), rule, reason, fields, need))

    for t in _divisors(min(n, cluster.gpus_per_node)):
        if n % t or spec.num_heads % t:
            continue
        for p in _divisors(n // t):
            if p > spec.num_layers:
                continue
            d = n // (t * p)
            for e in _divisors(spec.num_experts):
                if (t * d) % e:
                    why = f"e = {e} does not divide t d = {t * d} (the expert group is carved "
                    why += "out of the tensor and data ranks)"
                    drop("expert group", why, t=t, p=p, e=e, d=d)
                    continue
                for b in range(1, bmax + 1):
                    if g % (d * b):
                        why = f"G = {g} is not a multiple of d b = {d * b}"
                        drop("batch", why, t=t, p=p, e=e, d=d, b=b)
                        continue
                    m = g // (d * b)
                    for sched in allowed:
                        if sched in ("dualpipev", "dualpipe") and (p == 1 or m < 2 * p):
                            why = f"{sched} needs p >= 2 and m >= 2p = {2 * p}, got m = {m}"
                            drop("schedule", why, t=t, p=p, e=e, d=d, b=b, schedule=sched)
                            continue
                        if sched == "zbv" and p == 1:
                            continue
                        lay = MoELayout(t, p, e, d, b, g, sched, recompute)
                        mem = stage_memory_moe(
                            spec, t, p, e, d, b, sched, recompute, optimizer, lam, s
                        )
                        if mem["total"] > budget:
                            why = (
                                f"needs {mem['total'] / GiB:.1f} GiB on its fullest GPU, over "
                                f"the {budget / GiB:.1f} GiB budget"
                            )
                            drop("memory", why, mem["total"], **_layout_fields(lay))
                            continue
                        ranked.append(
                            _step(spec, cluster, lay, lam, dispatcher, db, optimizer, s, fp8)
                        )
    for e in _divisors(n):
        if e > 1 and spec.num_experts % e:
            drop("whole experts", f"e = {e} does not divide the {spec.num_experts} experts", e=e)
    ranked.sort(key=lambda r: r.step_time)
    return MoEPlan(ranked, dropped, time.perf_counter() - began, budget)


# --------------------------------------------------------------------------------------------
# Published runs
# --------------------------------------------------------------------------------------------

#: DeepSeek-V3's training, as its report gives it (deepseek2024v3): 2,048 H800 GPUs (sec.
#: 3.1), 180K H800 GPU-hours per trillion tokens (sec. 1 and table 1), 14.8T tokens and 2.788M
#: GPU-hours in all (table 1: 2,664K pre-training + 119K context extension + 5K post-training),
#: sequences of 4K tokens, batch ramped to 15,360 sequences (sec. 4.2), 16-way pipeline, 64-way
#: expert parallelism over 8 nodes, ZeRO-1 data parallelism, no tensor parallelism (sec.
#: 3.2), DualPipe, FP8 GEMMs (sec. 3.3), BF16 Adam moments (sec. 3.3.3), FP8 dispatch and
#: BF16 combine (sec. 3.3.2). The micro-batch size is not published: b = 1 is assumed.
DEEPSEEK_V3_RUN = {
    "gpus": 2048,
    "gpu_hours_per_trillion": 180e3,
    "total_tokens": 14.8e12,
    "total_gpu_hours": 2.788e6,
    "pretraining_gpu_hours": 2.664e6,
    "seq_len": 4096,
    "global_batch": 15360,
    "pipeline_parallel": 16,
    "expert_parallel": 64,
    "micro_batch": 1,
}
#: DeepSeek-V3 dispatches in FP8 with one fp32 scale per 128 values: 1 + 4 / 128 bytes per
#: value (deepseek2024v3, sec. 3.3.2: activations before the MoE up-projections in FP8).
FP8_DISPATCH_BYTES = 1.0 + 4.0 / 128


def deepseek_v3_published_step() -> float:
    """Seconds per step implied by the report: tokens per step x GPU-seconds per token /
    GPUs = 15,360 x 4,096 x (180,000 x 3,600 / 10**12) / 2,048 (about 19.9 s)."""
    run = DEEPSEEK_V3_RUN
    per_token = run["gpu_hours_per_trillion"] * 3600 / 1e12
    return run["global_batch"] * run["seq_len"] * per_token / run["gpus"]


def deepseek_v3_layout(schedule: str = "dualpipe", p: int = 16, recompute: str = "none"):
    """DeepSeek-V3's layout (or the same with another schedule or depth p): t = 1, e = 64,
    d = 2048 / p, b = 1, G = 15,360 sequences."""
    run = DEEPSEEK_V3_RUN
    p = check_int("p", p, 1, 64)
    if run["gpus"] % p or (run["gpus"] // p) % run["expert_parallel"]:
        raise ValueError(f"p must divide 2048 and leave d a multiple of 64, got {p}")
    d = run["gpus"] // p
    return MoELayout(1, p, run["expert_parallel"], d, 1, run["global_batch"], schedule, recompute)


def deepseek_v3_step(schedule: str = "dualpipe", p: int = 16, recompute: str = "none") -> MoEStep:
    """:func:`moe_step_time` of DeepSeek-V3 on the H800 cluster in its published setting
    (node-limited FP8 dispatch, FP8 GEMMs, BF16 moments, balanced load)."""
    return moe_step_time(
        DEEPSEEK_V3,
        H800_CLUSTER,
        deepseek_v3_layout(schedule, p, recompute),
        dispatcher="node-limited",
        dispatch_bytes=FP8_DISPATCH_BYTES,
        optimizer="bf16-moments",
        fp8=True,
    )


def deepseek_v3_case() -> list[dict]:
    """The DeepSeek-V3 layout under each schedule, beside the report's implied step time:
    rows with ``schedule``, ``step`` and ``published`` (seconds), ``error`` (relative),
    ``a2a_share`` (all-to-all of the slowest rank over the step, hidden or not),
    ``a2a_exposed_share``, ``states_gib`` (weights, gradients, optimizer on the fullest GPU),
    ``activations_gib`` and ``gpu_hours_per_trillion`` (predicted)."""
    published = deepseek_v3_published_step()
    rows = []
    for sched in SCHEDULES:
        r = deepseek_v3_step(sched)
        rows.append(_case_row(r, published, sched))
    return rows


def _case_row(r: MoEStep, published: float, label) -> dict:
    tokens = r.layout.global_batch * DEEPSEEK_V3_RUN["seq_len"]
    mem = r.memory
    hours = r.step_time * r.layout.num_gpus / 3600 * 1e12 / tokens
    return {
        "schedule": label,
        "p": r.layout.pipeline_parallel,
        "step": r.step_time,
        "published": published,
        "error": r.step_time / published - 1.0,
        "a2a_share": r.a2a_total / r.step_time,
        "a2a_exposed_share": r.parts["a2a_exposed"] / r.step_time,
        "bubble_share": r.parts["bubble"] / r.step_time,
        "states_gib": (mem["weights"] + mem["gradients"] + mem["optimizer"]) / GiB,
        "activations_gib": mem["activations"] / GiB,
        "gpu_hours_per_trillion": hours,
        "slowest_rank": r.slowest_rank,
    }


def deepseek_v3_depths(depths=(4, 8, 16, 32), schedule: str = "dualpipe") -> list[dict]:
    """DeepSeek-V3 at other depths p (t = 1, e = 64, d = 2048 / p, b = 1): the same rows as
    :func:`deepseek_v3_case`, one per depth. Each depth must leave d a multiple of 64."""
    if isinstance(depths, (str, bytes)) or not isinstance(depths, (list, tuple, range)):
        raise WrongTypeError(f"depths must be a list of pipeline depths, got {depths!r}")
    if not depths:
        raise ValueError("depths must name at least one pipeline depth, got an empty list")
    published = deepseek_v3_published_step()
    return [_case_row(deepseek_v3_step(schedule, p), published, schedule) for p in depths]


#: Megatron-Core's published Mixtral 8x7B measurement: 438 TFLOP/s per GPU in bf16 "as of
#: MCore v0.8" (megatron2024moereadme, README line 3), with the README's reference mapping
#: for MCore v0.8: 64 H100 80GB (NVLink 4, InfiniBand 8 x 400 Gb/s per node), sequence 4,096,
#: TP 1, EP 8, PP 4, VP 8, micro-batch 1, global batch 256, all-to-all dispatcher, dropless.
#: That the number and the table describe the same run is our reading of the README, which
#: prints them in the same section without saying so.
MEGATRON_MIXTRAL_RUN = {
    "gpus": 64,
    "tflops": 438.0,
    "seq_len": 4096,
    "t": 1,
    "e": 8,
    "p": 4,
    "v": 8,
    "micro_batch": 1,
    "global_batch": 256,
    "vocab": 32000,
}


def megatron_flops_per_step(model: MoESpec, global_batch: int, seq_len: int) -> float:
    """FLOPs per step as Megatron-LM counts them for its TFLOP/s (``num_floating_point_
    operations`` in ``megatron/training/training.py``, megatron2024moereadme's commit):
    12 G s L h^2 ((1 + kv/a + s/h) (a d_h / h) + (f_e / h) k (3/2) + shared
    + V / (2 L h)), forward plus both backward multiplies, full (non-causal) attention."""
    spec = _spec(model)
    g = check_int("global_batch", global_batch, 1, 10**8)
    s = check_int("seq_len", seq_len, 1, MAX_WIDTH)
    h, a, L = spec.hidden_size, spec.num_heads, spec.num_layers
    q_ratio = a * spec.head_dim / h
    attn = (1 + spec.num_kv_heads / a + s / h) * q_ratio
    mlp = spec.expert_ffn / h * spec.top_k * 1.5 + spec.shared_experts * spec.expert_ffn / h * 1.5
    logit = spec.vocab_size / (2 * L * h)
    return 12.0 * g * s * L * h * h * (attn + mlp + logit)


def megatron_mixtral_comparison() -> dict:
    """The model's Mixtral 8x7B step on Megatron-Core's published layout beside the published
    438 TFLOP/s: ``measured_step`` (Megatron's FLOPs / (438e12 x 64)), ``predicted_step``,
    ``error``, ``measured_tflops`` and ``predicted_tflops`` (per GPU, Megatron's count).

    The interleaved schedule (v = 8) is timed as 1F1B with its bubble divided by v (chapter
    2's closed form, all-to-all not overlapped: Megatron v0.8 had no all-to-all overlap);
    the rest is :func:`moe_step_time` on the DGX H100 cluster, bf16, all-to-all dispatcher."""
    run = MEGATRON_MIXTRAL_RUN
    d = run["gpus"] // (run["t"] * run["p"])
    layout = MoELayout(
        run["t"], run["p"], run["e"], d, run["micro_batch"], run["global_batch"], "1f1b"
    )
    r = moe_step_time(MIXTRAL_8X7B, H100_CLUSTER, layout)
    c, m, p, v = r.chunk, layout.num_microbatches, run["p"], run["v"]
    one = c["F"] + c["I"] + c["W"] + c["xF"] + c["xB"]
    pipe = (m + (p - 1) / v) * one
    step = pipe + r.parts["tp"] + r.parts["dp"]
    flops = megatron_flops_per_step(MIXTRAL_8X7B, run["global_batch"], run["seq_len"])
    measured = flops / (run["tflops"] * 1e12 * run["gpus"])
    return {
        "measured_step": measured,
        "predicted_step": step,
        "error": step / measured - 1.0,
        "measured_tflops": run["tflops"],
        "predicted_tflops": flops / (step * run["gpus"]) / 1e12,
        "a2a_share": m * (c["xF"] + c["xB"]) / step,
    }


# --------------------------------------------------------------------------------------------
# More published runs (Megatron-Bridge's DGX-H100 performance summary)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedMoERun:
    """One published MoE training throughput with the configuration it was measured in.

    Attributes:
        label: short display name.
        source: bib key in ``book/references.bib``.
        model: name of an :data:`MOE_MODELS` preset.
        gpus: GPUs in the run (DGX H100 nodes of 8 for every run here).
        t, p, e, v: tensor, pipeline, expert parallel and virtual stages per rank (v = 1:
            plain 1F1B); expert tensor parallelism is 1 in every run here.
        micro_batch, global_batch: sequences.
        seq_len: tokens per sequence.
        fp8: FP8 GEMMs (the source's "FP8": per-tensor current scaling on H100).
        dispatcher: the model's name for the source's token dispatcher (see
            :func:`published_moe_comparisons`).
        a2a_overlap: Megatron-Core's EP all-to-all overlap (``moe_a2a_overlap``, a forward
            and a backward of different micro-batches run together, each hiding the other's
            all-to-all).
        recompute: ``"none"`` in every run here.
        tokens_per_gpu: measured tokens / s / GPU.
        tflops: measured model TFLOP/s per GPU, as the source counts FLOPs
            (:func:`megatron_causal_flops_per_step`).
        where: file, commit and line of the table row and the recipe.
    """

    label: str
    source: str
    model: str
    gpus: int
    t: int
    p: int
    e: int
    v: int
    micro_batch: int
    global_batch: int
    seq_len: int
    fp8: bool
    dispatcher: str
    a2a_overlap: bool
    recompute: str
    tokens_per_gpu: float
    tflops: float
    where: str

    @property
    def d(self) -> int:
        """Data-parallel replicas, N / (t p)."""
        return self.gpus // (self.t * self.p)


#: Megatron-Bridge's performance summary for the 26.04.01 NeMo container, DGX-H100 rows
#: (nvidia2026megatronbridgeperf: docs/performance-summary.md at commit 21d102f5, lines 95
#: and 105; "we force-balance the token distribution among experts and all benchmarks are
#: token-dropless", line 138). The rest of each configuration is the recipe in the same
#: commit (scripts/performance/configs/qwen/): ``qwen3_workload_base_configs.py`` lines 433-440
#: (Qwen3-30B-A3B: 16 GPUs, EP 16, ETP 1, GBS 1024, MBS 1 and PP 1 by default, HybridEP flex
#: dispatcher, no all-to-all overlap) and lines 175-184 with 280-283 (Qwen3-235B-A22B: TP 2,
#: PP 8, VP 4, EP 32, ETP 1, GBS 8192, ``moe_a2a_overlap=True``); ``qwen3_llm_pretrain.py``
#: lines 30-45 (no recomputation, sequence 4096, bf16 gradient reduction, forced balance),
#: 177-197 (235B: alltoall dispatcher, no TP communication overlap) and 333-355 (30B: flex
#: dispatcher); ``src/megatron/bridge/recipes/qwen/qwen3_moe.py`` (235B: sequence parallel,
#: embedding and loss counted as layers in the pipeline split).
MORE_PUBLISHED_MOE_RUNS = (
    PublishedMoERun(
        label="Qwen3-30B-A3B, 16 H100, EP16",
        source="nvidia2026megatronbridgeperf",
        model="Qwen3-30B-A3B",
        gpus=16,
        t=1,
        p=1,
        e=16,
        v=1,
        micro_batch=1,
        global_batch=1024,
        seq_len=4096,
        fp8=True,
        dispatcher="node-limited",
        a2a_overlap=False,
        recompute="none",
        tokens_per_gpu=8960.0,
        tflops=206.0,
        where="docs/performance-summary.md@21d102f5 line 95; "
        "qwen3_workload_base_configs.py lines 433-440",
    ),
    PublishedMoERun(
        label="Qwen3-235B-A22B, 256 H100, TP2 PP8 VP4 EP32",
        source="nvidia2026megatronbridgeperf",
        model="Qwen3-235B-A22B",
        gpus=256,
        t=2,
        p=8,
        e=32,
        v=4,
        micro_batch=1,
        global_batch=8192,
        seq_len=4096,
        fp8=True,
        dispatcher="all-to-all",
        a2a_overlap=True,
        recompute="none",
        tokens_per_gpu=1712.0,
        tflops=253.0,
        where="docs/performance-summary.md@21d102f5 line 105; "
        "qwen3_workload_base_configs.py lines 175-184, 280-283",
    ),
)

#: Published MoE throughputs looked at and left out, with the reason (each can be checked at
#: its source; none is timed).
NOT_COMPARABLE_MOE_RUNS = (
    {
        "label": "DeepSeek-V3, 1024 H100, TP2 PP8 VP4 EP64 (NeMo 25.09, 338 TFLOP/s)",
        "source": "nvidia2026megatronbridgeperf",
        "reason": "selective recomputation of named modules, the multi-token-prediction "
        "layer and a hand-written pipeline layout (Et|(tt|)*30mL, deepseek_v3_llm_pretrain"
        ".yaml at commit fa0315ae): the model times none of the three",
    },
    {
        "label": "GPT-OSS 120B, 64 H100, PP4 EP8 (158-163 TFLOP/s)",
        "source": "nvidia2026megatronbridgeperf",
        "reason": "sliding-window attention on half the layers and attention sinks, which "
        "the model's attention timing lacks; no GPT-OSS shape among the presets",
    },
    {
        "label": "Qwen3-30B-A3B, 16 H100, PP2 VP12 EP8 (26.02.01, 208 TFLOP/s)",
        "source": "nvidia2026megatronbridgeperf",
        "reason": "the table row (PP 2, VP 12, EP 8) and the recipe at the same commit "
        "(cfeddcd9: EP 16, PP 1) disagree; the same row read 118 TFLOP/s one container "
        "earlier (26.02) and 241 (tokendrop) in 25.09",
    },
    {
        "label": "Mixtral 8x7B, 468 TFLOP/s (MCore v0.9)",
        "source": "megatron2024moereadme",
        "reason": "the README (commit 0d389f5e) gives the number without its configuration",
    },
    {
        "label": "NeMo AutoModel DeepSeek-V3 / Qwen3 on H100",
        "source": "",
        "reason": "FSDP with expert parallelism: the model has no FSDP",
    },
)


def megatron_causal_flops_per_step(model: MoESpec, global_batch: int, seq_len: int) -> float:
    """FLOPs per step as Megatron-Bridge's performance tables count them: as
    :func:`megatron_flops_per_step` but with the attention core (the s / h term) halved for
    the causal mask. It reproduces both rows of :data:`MORE_PUBLISHED_MOE_RUNS` (tokens / s x
    FLOPs per token = the table's TFLOP/s, to 0.2 %)."""
    spec = _spec(model)
    full = megatron_flops_per_step(spec, global_batch, seq_len)
    h, a, L = spec.hidden_size, spec.num_heads, spec.num_layers
    core = 12.0 * global_batch * seq_len * L * h * h * (seq_len / h) * (a * spec.head_dim / h)
    return full - core / 2


def published_moe_layout(run: PublishedMoERun) -> MoELayout:
    """The run's layout as an :class:`MoELayout` (1F1B; virtual stages and the all-to-all
    overlap are applied by :func:`published_moe_step`)."""
    check_instance("run", run, PublishedMoERun, "ppnotes.moe.PublishedMoERun")
    return MoELayout(
        run.t, run.p, run.e, run.d, run.micro_batch, run.global_batch, "1f1b", run.recompute
    )


def published_moe_step(run: PublishedMoERun) -> dict:
    """Predicted step of a published Megatron-Core run, seconds, split as in
    :func:`published_moe_comparisons`. Returns ``step``, ``a2a`` (all-to-all of the slowest
    rank, hidden or not), ``a2a_exposed``, ``memory`` and the :class:`MoEStep` (``base``)."""
    spec = get_moe_model(run.model)
    layout = published_moe_layout(run)
    r = moe_step_time(
        spec, H100_CLUSTER, layout, dispatcher=run.dispatcher, fp8=run.fp8, seq_len=run.seq_len
    )
    c, m, p, v = dict(r.chunk), layout.num_microbatches, run.p, run.v
    X = c["xF"] + c["xB"]
    if run.a2a_overlap and H100_CLUSTER.comm_sms:
        gpu = H100_CLUSTER.gpu
        slow = gpu.sm_count / (gpu.sm_count - H100_CLUSTER.comm_sms)
        c.update(F=c["F"] * slow, I=c["I"] * slow, W=c["W"] * slow)
    work = c["F"] + c["I"] + c["W"]
    bubble = (p - 1) / v * (work + X)
    if run.a2a_overlap:
        pipe = m * max(work, X) + bubble
        exposed = m * max(0.0, X - work) + (p - 1) / v * X
    else:
        pipe = m * (work + X) + bubble
        exposed = (m + (p - 1) / v) * X
    step = pipe + r.parts["tp"] + r.parts["dp"]
    return {"step": step, "a2a": m * X, "a2a_exposed": exposed, "memory": r.memory, "base": r}


def published_moe_comparisons(runs=None) -> list[dict]:
    """Each run of :data:`MORE_PUBLISHED_MOE_RUNS` (or ``runs``) beside the model's prediction.

    The same rules for every run, chosen once and not fitted: the DGX H100 cluster
    (:data:`H100_CLUSTER`); FP8 GEMMs where the source says FP8, bf16 otherwise; the
    all-to-all dispatcher as ``"all-to-all"``, Megatron's flex dispatcher (DeepEP or HybridEP:
    one network crossing per remote node a token reaches, then NVLink) as ``"node-limited"``
    with no node cap; balanced load (the source forces it); v virtual stages timed as 1F1B
    with the bubble divided by v (as :func:`megatron_mixtral_comparison`); Megatron's EP
    all-to-all overlap timed as DualPipe's pairs in :func:`pipeline_step`: every micro-batch's
    forward and backward run as max(compute, all-to-all), compute slowed by the SMs the
    communication keeps, the bubble not overlapped; the slowest stage has the most layers
    (Qwen3-235B: 12, as the source's split with the embedding and loss counted as layers);
    tensor-parallel all-reduces exposed (no TP overlap in either recipe) and the data-parallel
    part as :func:`moe_step_time`.

    Rows: ``label``, ``source``, ``layout`` (:class:`MoELayout`), ``v``, ``measured_tflops``
    (the source's count), ``measured_step`` (seconds, from the source's tokens / s / GPU),
    ``flops_step`` (seconds, the source's TFLOP/s over :func:`megatron_causal_flops_per_step`:
    a check of how the source counts), ``predicted_step``, ``predicted_tflops`` (the source's
    count over the predicted step), ``error`` (predicted / measured step - 1), ``a2a_share``
    and ``a2a_exposed_share`` (of the predicted step), ``memory_gib`` (fullest GPU, predicted).
    """
    runs = MORE_PUBLISHED_MOE_RUNS if runs is None else runs
    if isinstance(runs, (str, bytes)) or not isinstance(runs, (list, tuple)):
        raise WrongTypeError(f"runs must be a list of PublishedMoERun, got {runs!r}")
    rows = []
    for run in runs:
        check_instance("run", run, PublishedMoERun, "ppnotes.moe.PublishedMoERun")
        spec = get_moe_model(run.model)
        pred = published_moe_step(run)
        tokens = run.global_batch * run.seq_len
        measured = tokens / (run.tokens_per_gpu * run.gpus)
        flops = megatron_causal_flops_per_step(spec, run.global_batch, run.seq_len)
        rows.append(
            {
                "label": run.label,
                "source": run.source,
                "layout": pred["base"].layout,
                "v": run.v,
                "measured_tflops": run.tflops,
                "measured_step": measured,
                "flops_step": flops / (run.tflops * 1e12 * run.gpus),
                "predicted_step": pred["step"],
                "predicted_tflops": flops / (pred["step"] * run.gpus) / 1e12,
                "error": pred["step"] / measured - 1.0,
                "a2a_share": pred["a2a"] / pred["step"],
                "a2a_exposed_share": pred["a2a_exposed"] / pred["step"],
                "memory_gib": pred["memory"]["total"] / GiB,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------
# Decode: pipeline depth when serving an MoE model
# --------------------------------------------------------------------------------------------


def decode_step_moe(
    model: MoESpec,
    cluster: MoECluster,
    p: int,
    e: int,
    batch: int,
    *,
    dispatcher: str = "node-limited",
    dispatch_bytes: float = FP8_DISPATCH_BYTES,
    weight_bytes: float = 1.0,
) -> dict[str, float]:
    """One decode step of ``batch`` sequences on p stages of e GPUs each, seconds.

    Each stage's e GPUs split the batch for attention (data-parallel attention, batch / e
    sequences each, full attention weights on every GPU) and the experts for the MoE layers
    (E / e per layer, no expert tensor parallelism), as DeepSeek-V3 serves (deepseek2024v3
    sec. 3.4.2, with TP 1). Decode is memory-bound: a layer reads its weights once per step
    (``weight_bytes`` per parameter: 1 for FP8), only the experts some token of the batch
    picks (each with probability 1 - (1 - k / E)^batch), at the GPU's achievable HBM
    bandwidth; the KV cache read is left out (short contexts). Each MoE layer adds its
    dispatch and combine (:func:`a2a_time_per_layer` for batch / e tokens); each of the p
    hops (p - 1 between stages and the sampled token back) moves batch / e x h bf16 values
    over the network.

    Returns ``tpot`` (a token's time through all L layers and p hops), ``read``, ``a2a`` and
    ``hops`` (its parts, summed over layers), ``tokens_per_s_per_gpu`` with p batches in
    flight (each stage busy with one), and ``weights_gib`` (weights on one GPU of the stage
    with the most parameters).
    """
    spec, cluster = _spec(model), _cluster(cluster)
    p = check_int("p", p, 1, spec.num_layers)
    e = check_expert_parallel(spec, e)
    b = check_int("batch", batch, e, 2**20)
    check_choice("dispatcher", dispatcher, DISPATCHERS)
    db = check_real("dispatch_bytes", dispatch_bytes, 0.5, 8.0)
    wb = check_real("weight_bytes", weight_bytes, 0.5, 4.0)
    hbm = cluster.gpu.achievable_hbm_bandwidth
    touched = 1.0 - (1.0 - spec.top_k / spec.num_experts) ** b
    shared = spec.shared_experts * spec.expert_params + spec.router_params
    moe_read = (
        spec.attention_params + shared + touched * (spec.num_experts // e) * spec.expert_params
    )
    dense_read = spec.attention_params + spec.dense_mlp_params
    read = wb * (spec.moe_layers * moe_read + spec.dense_layers * dense_read) / hbm
    per_gpu = max(1, b // e)
    a2a = (
        spec.moe_layers
        * a2a_time_per_layer(spec, cluster, per_gpu, e, dispatcher, 1.0, db)["forward"]
    )
    link = cluster.inter_link
    hops = p * (link.latency + per_gpu * spec.hidden_size * 2 / link.bandwidth())
    tpot = read + a2a + hops
    weights = max(sum(_stage_params(spec, p, i, 1, e)) for i in range(p))
    return {
        "tpot": tpot,
        "read": read,
        "a2a": a2a,
        "hops": hops,
        "tokens_per_s_per_gpu": p * b / tpot / (p * e),
        "weights_gib": wb * weights / GiB,
    }
