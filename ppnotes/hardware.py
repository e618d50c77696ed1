"""GPUs and links used throughout the book, each number with its source.

Units everywhere: bytes, seconds, FLOP/s and bytes/s. Two prefixes are easy to mix up:

* ``GB`` = 10**9 bytes (decimal). Vendors quote **bandwidths** in GB/s and TB/s this way.
* ``GiB`` = 2**30 bytes (binary). HBM capacities are binary underneath: the "A100 40GB"
  reports 40960 MiB = exactly 40 GiB (42.9 GB) to ``nvidia-smi``. We store the capacity the
  driver reports (``memory_bytes``) and keep the marketing label separately.

Links carry two numbers. ``vendor_bandwidth`` is the figure on the data sheet; for NVLink
and PCIe NVIDIA adds both directions ("600 GB/s" on A100 is 300 GB/s each way), so
``vendor_is_bidirectional`` says whether it must be halved. ``peak_bandwidth`` is the result:
bytes/s **per direction per GPU (or per network card)**, which is what one pipeline send
can use. ``achievable_bandwidth`` is a published *measurement* of the same quantity
(nccl-tests, p2pBandwidthLatencyTest, nvbandwidth), or ``None`` where we found none, and
``achievable_method`` says how it was measured. The methods measure different things: an
NCCL all-reduce *bus bandwidth* is what a collective achieves per GPU through NCCL's
kernels (the right figure for tensor- and data-parallel all-reduces, and close to what an
NCCL send achieves over the same link); a *copy-engine peer-to-peer* test
(p2pBandwidthLatencyTest, nvbandwidth) times ``cudaMemcpy`` between two GPUs or between host
and GPU, with no NCCL in the way, and usually reads higher than NCCL on the same link.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._validate import check_bool, check_choice, check_instance, check_int, check_real

GB = 10**9  # bytes, decimal (bandwidths, network and marketing capacities)
GiB = 2**30  # bytes, binary (what HBM capacities really are)
MiB = 2**20  # bytes, the unit nvidia-smi prints
GBIT_PER_S = 10**9 / 8  # bytes/s in one Gb/s (network cards are quoted in bits)


@dataclass(frozen=True)
class GPUSpec:
    """One GPU model.

    Attributes:
        name: display name, also the key in :data:`GPUS`.
        memory_bytes: HBM capacity the driver reports (``nvidia-smi`` total MiB x 2**20),
            in bytes. Slightly more than what a framework can allocate (the CUDA context
            and NCCL buffers take some), see :func:`ppnotes.memory.fits`.
        marketed_memory_gb: the capacity in the product name ("40GB", "141GB").
        bf16_flops: dense (no 2:4 sparsity) BF16 Tensor Core peak, FLOP/s. Data sheets
            for H100/H200 print the sparse figure (1,979 TFLOP/s) with a footnote; the
            dense figure is half of it.
        hbm_bandwidth: peak HBM bandwidth, bytes/s (decimal GB/s on the data sheet).
        source: bib keys (comma separated) for the numbers above.
        hbm_achievable_fraction: the share of ``hbm_bandwidth`` a streaming kernel reaches,
            in (0, 1], from a published microbenchmark (a copy kernel, or a memory-bound
            kernel that reports its bandwidth). :attr:`achievable_hbm_bandwidth` is what the
            models divide bytes by. 1.0 means "no measurement: the peak".
        hbm_achievable_source: bib key(s) for that fraction, or a note saying it is borrowed.
        kernel_launch_cost: seconds every kernel costs on top of its roofline time
            (:func:`ppnotes.perf_model.matmul_time`): the launch and the ramp a short kernel
            cannot hide, >= 0. See :data:`KERNEL_LAUNCH_COST` for the source and how weak it is.
        kernel_launch_source: bib key(s) for the launch cost.
        sm_count: streaming multiprocessors, the width of one wave of matrix-multiply tiles
            (:mod:`ppnotes.gemm`); 0 means "no kernel constants": the flat roofline is used.
        gemm_peak_fraction: eta_max, the share of ``bf16_flops`` one full wave of large tiles
            sustains (random data), in (0, 1].
        gemm_k0: a tile's fixed cost (prologue and epilogue) as extra steps of the inner
            dimension k, elements, >= 0.
        attention_rate, attention_s0: FlashAttention's measured causal forward-plus-backward
            rate R(s) = attention_rate x s / (s + attention_s0), FLOP/s and tokens.
        kernel_source: bib key(s) and derivation of the four kernel constants.
        fp8_flops: dense FP8 Tensor Core peak, FLOP/s; 0 for a GPU without FP8 (A100).
        fp8_gemm_peak_fraction, fp8_gemm_k0: eta_max and k0 of FP8 matrix multiplies.

    Raises ``ValueError`` unless the capacity is an integer >= 1 and the other numbers are
    finite and > 0, ``TypeError`` for a name or source that is not a string.
    """

    name: str
    memory_bytes: int
    marketed_memory_gb: float
    bf16_flops: float
    hbm_bandwidth: float
    source: str
    hbm_achievable_fraction: float = 1.0
    hbm_achievable_source: str = "none: the data-sheet peak"
    kernel_launch_cost: float = 0.0
    kernel_launch_source: str = "none"
    sm_count: int = 0
    gemm_peak_fraction: float = 1.0
    gemm_k0: float = 0.0
    attention_rate: float = 1.0
    attention_s0: float = 0.0
    kernel_source: str = "none: the flat roofline"
    fp8_flops: float = 0.0
    fp8_gemm_peak_fraction: float = 1.0
    fp8_gemm_k0: float = 0.0

    def __post_init__(self):
        for field in (
            "name",
            "source",
            "hbm_achievable_source",
            "kernel_launch_source",
            "kernel_source",
        ):
            check_instance(field, getattr(self, field), str, "string")
        check_int("sm_count", self.sm_count, 0, 10_000)
        check_real("gemm_peak_fraction", self.gemm_peak_fraction, 0.0, 1.0, strict=True)
        check_real("gemm_k0", self.gemm_k0, 0.0, 1e5)
        check_real("attention_rate", self.attention_rate, strict=True)
        check_real("attention_s0", self.attention_s0, 0.0, 1e7)
        check_real("fp8_flops", self.fp8_flops, 0.0)
        check_real("fp8_gemm_peak_fraction", self.fp8_gemm_peak_fraction, 0.0, 1.0, strict=True)
        check_real("fp8_gemm_k0", self.fp8_gemm_k0, 0.0, 1e5)
        object.__setattr__(self, "memory_bytes", check_int("memory_bytes", self.memory_bytes))
        for field in ("marketed_memory_gb", "bf16_flops", "hbm_bandwidth"):
            check_real(field, getattr(self, field), strict=True)
        check_real("hbm_achievable_fraction", self.hbm_achievable_fraction, 0.0, 1.0, strict=True)
        check_real("kernel_launch_cost", self.kernel_launch_cost, 0.0, 1e-3)

    @property
    def achievable_hbm_bandwidth(self) -> float:
        """HBM bandwidth a streaming kernel reaches, bytes/s: peak x achievable fraction.
        The one figure the book's time models divide HBM bytes by."""
        return self.hbm_bandwidth * self.hbm_achievable_fraction

    @property
    def memory_gib(self) -> float:
        """Capacity in GiB (2**30 bytes)."""
        return self.memory_bytes / GiB

    @property
    def memory_gb(self) -> float:
        """Capacity in GB (10**9 bytes)."""
        return self.memory_bytes / GB


@dataclass(frozen=True)
class LinkSpec:
    """One kind of link between two GPUs (NVLink, PCIe) or two nodes (InfiniBand).

    Attributes:
        name: display name, also the key in :data:`LINKS`.
        vendor_bandwidth: the marketing figure as printed, bytes/s (see
            ``vendor_is_bidirectional``). Per GPU for NVLink (all links of one GPU
            together) and PCIe (one x16 slot); per network card (one port) for InfiniBand.
        vendor_is_bidirectional: ``True`` if the vendor figure adds both directions
            (NVLink, PCIe as NVIDIA quotes it); ``False`` if it is already per direction
            (InfiniBand data rates).
        achievable_bandwidth: a published measurement, bytes/s per direction, or ``None``.
        latency: alpha in T = alpha + n / BW, seconds: the fixed cost of one small
            NCCL send/receive, not the wire latency. Point-to-point only: collectives use
            ``call_latency`` and ``step_latency``.
        source: bib key(s) for the vendor figure.
        achievable_source: bib key(s) for the measurement, or ``None``.
        latency_source: bib key(s) for the latency, or a note saying it is an assumption.
        notes: anything a reader needs to use the numbers correctly.
        achievable_method: how ``achievable_bandwidth`` was measured, one of
            :data:`ACHIEVABLE_METHODS` (``None`` when there is no measurement).
        call_latency: seconds every collective call (all-reduce, all-gather, reduce-scatter)
            pays once, whatever the ranks and bytes: NCCL's base latency
            (:data:`NCCL_CALL_LATENCY`).
        step_latency: seconds each step of a ring collective adds over this link (NCCL's
            per-hop hardware latency for the link type). A small all-reduce over n ranks
            costs call_latency + 2 (n - 1) step_latency (:func:`ppnotes.comm.collective_time`).
        collective_latency_source: bib key(s) for the two collective latencies.

    Raises ``ValueError`` unless the bandwidths are finite and > 0 and the latency finite and
    >= 0, ``TypeError`` for a flag that is not ``True``/``False`` or text that is not a string.
    """

    name: str
    vendor_bandwidth: float
    vendor_is_bidirectional: bool
    achievable_bandwidth: float | None
    latency: float
    source: str
    achievable_source: str | None
    latency_source: str
    notes: str = ""
    achievable_method: str | None = None
    call_latency: float = 0.0
    step_latency: float = 0.0
    collective_latency_source: str = "none"

    def __post_init__(self):
        for field in ("name", "source", "latency_source", "notes", "collective_latency_source"):
            check_instance(field, getattr(self, field), str, "string")
        for field in ("achievable_source", "achievable_method"):
            if getattr(self, field) is not None:
                check_instance(field, getattr(self, field), str, "string or None")
        check_real("vendor_bandwidth", self.vendor_bandwidth, strict=True)
        check_bool("vendor_is_bidirectional", self.vendor_is_bidirectional)
        if self.achievable_bandwidth is not None:
            check_real("achievable_bandwidth", self.achievable_bandwidth, strict=True)
        check_real("latency", self.latency)
        check_real("call_latency", self.call_latency, 0.0, 1e-3)
        check_real("step_latency", self.step_latency, 0.0, 1e-3)

    @property
    def peak_bandwidth(self) -> float:
        """Vendor bandwidth per direction, bytes/s (halved if the vendor adds both ways)."""
        return self.vendor_bandwidth / 2 if self.vendor_is_bidirectional else self.vendor_bandwidth

    def bandwidth(self, achievable: bool = True) -> float:
        """Bandwidth per direction used by the models, bytes/s.

        ``achievable=True`` returns the published measurement; where there is none it falls
        back to :attr:`peak_bandwidth`, an optimistic bound (check
        :attr:`achievable_bandwidth` ``is None`` to know). ``achievable=False`` always
        returns the peak.
        """
        if check_bool("achievable", achievable) and self.achievable_bandwidth is not None:
            return self.achievable_bandwidth
        return self.peak_bandwidth


# --- GPUs -------------------------------------------------------------------------------

# Achievable HBM bandwidth, as a fraction of the data-sheet peak, each from a published
# microbenchmark (never fitted to the runs or serving tables the book checks against):
# - A100 40GB: a copy kernel on a DGX A100 reaches 1220.7 GiB/s = 1310.7 GB/s of 1555 GB/s,
#   0.843 (GPUInspector.jl, ``memory_bandwidth()`` on A100-SXM4-40GB, gpuinspector2023a100).
# - A100 80GB: a copy test on the A800 80GB (the same GA100 with HBM2e) reaches 1727 GB/s of
#   its 1935 GB/s, 0.893 ("显存带宽 1727 GB/s 低于理论上限 1935 GB/s", mli2023a800bw).
# - H100 SXM: DeepSeek's FlashMLA decoding kernel "achieves up to 3000 GB/s in memory-bound
#   configuration ... on H800 SXM5" (the H100 SXM's 3.35 TB/s HBM3), 0.896 (flashmla2025).
# - H200: no measurement found; it borrows the H100's fraction (same GH100 memory system,
#   HBM3e instead of HBM3), an assumption said in its ``hbm_achievable_source``.
_A100_40GB_HBM_FRACTION = 1310.72 / 1555
_A100_80GB_HBM_FRACTION = 1727 / 1935
_H100_HBM_FRACTION = 3000 / 3350

#: Seconds every kernel costs on top of its roofline time (``GPUSpec.kernel_launch_cost``).
#: Source, and how weak it is: a raw ``cuLaunchKernel`` of an empty kernel costs 3.0 us of
#: host time on GB200 ("cuLaunchKernel 3.0µs (irreducible CUDA driver cost)", PyTorch's
#: tritonbench, tritonbench2026launch). It is a host-side cost measured on a newer GPU than
#: any in the book; we found no A100/H100 measurement from NVIDIA or a paper. It is what a C++
#: engine that launches kernels one by one pays (FasterTransformer's decode, which we check
#: against): when kernels are shorter than the launch, the GPU waits for the host. Adding it
#: to every kernel in series is an upper bound when kernels are long, since a launch then
#: overlaps the previous kernel; at training sizes (milliseconds per kernel) it is noise.
#: Engines that replay decode as a CUDA graph (vLLM, TensorRT-LLM) pay less per kernel.
KERNEL_LAUNCH_COST = 3.0e-6
_KERNEL_LAUNCH_SOURCE = "tritonbench2026launch"

# Matrix-multiply and attention constants (ppnotes.gemm), from published kernel measurements
# with random data, never from the training runs the book checks against:
# - SMs: 108 (A100), 132 (H100 SXM, H200) (bekman2024mamf, tile and wave section).
# - eta_max and k0: chosen (grid search) to minimise the mean error over the 19 points of
#   ppnotes.gemm.PUBLISHED_GEMMS (cuBLAS square and MAMF shapes on A100 and H100, and an H800
#   sweep of k at m = n = 8192 whose linear fit t ~ k + k0 gives k0 = 260 directly): 0.84 on
#   both; k0 = 128 (A100), 260 (H100). The H200 has the H100's compute.
# - FlashAttention-2, causal, head dimension 128, forward + backward (dao2023flashattention2,
#   figs. 4 and 8): R(s) = R_inf s / (s + s0) through its 512- and 16K-token points:
#   A100 R_inf = 195 TFLOP/s, s0 = 495; H100 R_inf = 339 TFLOP/s, s0 = 553.
_A100_KERNELS = dict(
    sm_count=108,
    gemm_peak_fraction=0.84,
    gemm_k0=128.0,
    attention_rate=195e12,
    attention_s0=495.0,
    kernel_source="bekman2024mamf,azure2024benchmarks,he2024predictable,dao2023flashattention2",
)
# - FP8 (H100, H200): dense peak 1,979 TFLOP/s (nvidia2022h100datasheet: 3,958 with sparsity);
#   eta_max = 0.74 and k0 = 520 (twice the bf16 k0: the same fixed cost per tile, half the
#   time per step of k), chosen against ppnotes.gemm.PUBLISHED_FP8_GEMMS (cuBLASLt squares and
#   the MAMF shape): large FP8 multiplies reach about 0.7 of the FP8 peak, so FP8 is about 1.6
#   to 1.8 times bf16 on them, not 2.
_H100_KERNELS = dict(
    fp8_flops=1979e12,
    fp8_gemm_peak_fraction=0.74,
    fp8_gemm_k0=520.0,
    sm_count=132,
    gemm_peak_fraction=0.84,
    gemm_k0=260.0,
    attention_rate=339e12,
    attention_s0=553.0,
    kernel_source="bekman2024mamf,pranjal2025fastcu,tilelang2025matmul,dao2023flashattention2",
)

A100_40GB = GPUSpec(
    name="A100 40GB",
    memory_bytes=40960 * MiB,  # nvidia-smi: 40960 MiB = 40 GiB = 42.9 GB
    marketed_memory_gb=40,
    bf16_flops=312e12,  # dense BF16 Tensor Core; 624 TFLOP/s is the 2:4-sparse figure
    hbm_bandwidth=1555e9,  # SXM4 40GB, HBM2
    source="nvidia2021a100datasheet,modal2025gpumemory",
    hbm_achievable_fraction=_A100_40GB_HBM_FRACTION,
    hbm_achievable_source="gpuinspector2023a100",
    kernel_launch_cost=KERNEL_LAUNCH_COST,
    kernel_launch_source=_KERNEL_LAUNCH_SOURCE,
    **_A100_KERNELS,
)

A100_80GB = GPUSpec(
    name="A100 80GB",
    memory_bytes=81920 * MiB,  # nvidia-smi: 81920 MiB = 80 GiB = 85.9 GB
    marketed_memory_gb=80,
    bf16_flops=312e12,
    hbm_bandwidth=2039e9,  # SXM4 80GB, HBM2e
    source="nvidia2021a100datasheet,modal2025gpumemory",
    hbm_achievable_fraction=_A100_80GB_HBM_FRACTION,
    hbm_achievable_source="mli2023a800bw",
    kernel_launch_cost=KERNEL_LAUNCH_COST,
    kernel_launch_source=_KERNEL_LAUNCH_SOURCE,
    **_A100_KERNELS,
)

H100_SXM = GPUSpec(
    name="H100 SXM 80GB",
    memory_bytes=81559 * MiB,  # nvidia-smi: 81559 MiB = 79.6 GiB = 85.5 GB
    marketed_memory_gb=80,
    bf16_flops=989e12,  # data sheet: 1,979 TFLOP/s "with sparsity"; dense is half
    hbm_bandwidth=3.35e12,
    source="nvidia2022h100datasheet,modal2025gpumemory",
    hbm_achievable_fraction=_H100_HBM_FRACTION,
    hbm_achievable_source="flashmla2025",
    kernel_launch_cost=KERNEL_LAUNCH_COST,
    kernel_launch_source=_KERNEL_LAUNCH_SOURCE,
    **_H100_KERNELS,
)

H200 = GPUSpec(
    name="H200 141GB",
    memory_bytes=143771 * MiB,  # nvidia-smi: 143771 MiB = 140.4 GiB = 150.8 GB
    marketed_memory_gb=141,
    bf16_flops=989e12,  # same GH100 compute as H100 SXM; only memory changed
    hbm_bandwidth=4.8e12,
    source="nvidia2024h200,cudasamples2024h200smi",
    hbm_achievable_fraction=_H100_HBM_FRACTION,
    hbm_achievable_source="flashmla2025",  # borrowed from the H100 SXM: no H200 measurement
    kernel_launch_cost=KERNEL_LAUNCH_COST,
    kernel_launch_source=_KERNEL_LAUNCH_SOURCE,
    **_H100_KERNELS,
)

GPUS: dict[str, GPUSpec] = {g.name: g for g in (A100_40GB, A100_80GB, H100_SXM, H200)}


def get_gpu(name: str) -> GPUSpec:
    """Return the GPU preset called ``name`` (one of :data:`GPUS`)."""
    return GPUS[check_choice("gpu", name, GPUS)]


# --- Links ------------------------------------------------------------------------------

# How a link's achievable bandwidth was measured (LinkSpec.achievable_method).
ACHIEVABLE_METHODS = {
    "nccl-busbw": "NCCL collective bus bandwidth per GPU or per card (nccl-tests)",
    "nccl-estimate": "an NVIDIA engineer's estimate of effective NCCL bandwidth per link",
    "copy-engine-p2p": "GPU-to-GPU cudaMemcpy, copy engine (p2pBandwidthLatencyTest)",
    "host-device-copy": "host-to-device or device-to-host copy through the slot (nvbandwidth)",
}

# Point-to-point (``LinkSpec.latency``): a small NCCL send/receive within an NVLink/NVSwitch
# node takes about 3 microseconds (nccl-tests on H100 and B200, quoted by NVIDIA engineers;
# "~3us" for send/receive between two H100, nccl2024issue1487). For PCIe and InfiniBand we
# found no clean published send/receive figure, so we assume 10 microseconds. For a full
# GPT-3 activation (48 MiB) latency is under 1% of a hop over InfiniBand or PCIe, but up to
# about 5% over the fastest NVLink (chapter 3 computes it).
_NVLINK_LATENCY = 3e-6
_NVLINK_LATENCY_SOURCE = "nccltests2025latency,nccl2024issue1487"
_ASSUMED_LATENCY = 10e-6
_ASSUMED_LATENCY_SOURCE = "assumption (order of magnitude; no clean published figure)"

# Collectives: NCCL's own cost model (``src/graph/tuning.cc``, nccl2026tuning), which NCCL
# uses to choose an algorithm and protocol. A ring collective of ``steps`` steps costs a base
# latency once per call plus a hardware latency per step: ``baseLat + nsteps * intraLat``,
# with nsteps = 2 (n - 1) for an all-reduce. For the low-latency (LL) protocol NCCL picks for
# small messages, Ring: base 6.6 us; per step 0.6 us over NVLink, 1.0 us over PCIe and 2.7 us
# over the network (NCCL adds a topology-dependent ``latencyInter`` to the network figure,
# which we leave out). So one small all-reduce over 4 NVLink GPUs costs 6.6 + 6 x 0.6 =
# 10.2 us, the figure NCCL's tuner prints for Ring/LL on 4 x H100 (ncclbench2026h100), and
# 15.0 us over 8. The same per-call cost applies to every link (it is NCCL's, not the wire's).
# Measured for comparison: 46-48 us for a 4 B - 512 B all-reduce over 16 GPUs in 2 nodes
# (NDR InfiniBand, nccl2024issue1244).
NCCL_CALL_LATENCY = 6.6e-6
_NVLINK_STEP_LATENCY = 0.6e-6
_PCIE_STEP_LATENCY = 1.0e-6
_NET_STEP_LATENCY = 2.7e-6
_COLLECTIVE_SOURCE = "nccl2026tuning"

NVLINK3 = LinkSpec(
    name="NVLink 3",
    vendor_bandwidth=600 * GB,  # A100: 12 links x 25 GB/s x 2 directions
    vendor_is_bidirectional=True,
    achievable_bandwidth=230 * GB,  # NVIDIA: ~20 GB/s effective per link, ~230 GB/s per GPU
    latency=_NVLINK_LATENCY,
    source="nvidia2020a100whitepaper",
    achievable_source="nccltests2023a100nvlink",
    achievable_method="nccl-estimate",
    latency_source=_NVLINK_LATENCY_SOURCE,
    notes="A100 SXM. 600 GB/s adds both directions: 300 GB/s per direction.",
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_NVLINK_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

NVLINK4 = LinkSpec(
    name="NVLink 4",
    vendor_bandwidth=900 * GB,  # H100/H200: 18 links x 25 GB/s x 2 directions
    vendor_is_bidirectional=True,
    achievable_bandwidth=376 * GB,  # p2pBandwidthLatencyTest, unidirectional, HGX H100
    latency=_NVLINK_LATENCY,
    source="nvidia2022h100whitepaper",
    achievable_source="nccl2024h100p2p",
    achievable_method="copy-engine-p2p",
    latency_source=_NVLINK_LATENCY_SOURCE,
    notes=(
        "H100/H200 SXM. 900 GB/s adds both directions: 450 GB/s per direction; "
        "measured ~376-380 GB/s one way (copy engine)."
    ),
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_NVLINK_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

NVLINK5 = LinkSpec(
    name="NVLink 5",
    vendor_bandwidth=1800 * GB,  # B200: 18 links x 50 GB/s x 2 directions
    vendor_is_bidirectional=True,
    achievable_bandwidth=None,
    latency=_NVLINK_LATENCY,
    source="nvidia2024blackwell",
    achievable_source=None,
    latency_source=_NVLINK_LATENCY_SOURCE,
    notes="B200. 1.8 TB/s adds both directions: 900 GB/s per direction. No measurement used.",
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_NVLINK_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

PCIE4_X16 = LinkSpec(
    name="PCIe Gen4 x16",
    vendor_bandwidth=64 * GB,  # NVIDIA's A100 data sheet: "PCIe Gen4: 64 GB/s"
    vendor_is_bidirectional=True,
    achievable_bandwidth=25.13 * GB,  # nvbandwidth host->device on A100-SXM4-40GB
    latency=_ASSUMED_LATENCY,
    source="pcisig2017pcie4,nvidia2021a100datasheet",
    achievable_source="nvbandwidth2025a100h2d",
    achievable_method="host-device-copy",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes=(
        "16 GT/s x 16 lanes with 128b/130b coding = 31.5 GB/s per direction; NVIDIA rounds "
        "to 64 GB/s for both directions. Measured ~25 GB/s one way."
    ),
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_PCIE_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

PCIE5_X16 = LinkSpec(
    name="PCIe Gen5 x16",
    vendor_bandwidth=128 * GB,  # NVIDIA's H100 data sheet: "PCIe Gen5: 128 GB/s"
    vendor_is_bidirectional=True,
    achievable_bandwidth=52.8 * GB,  # nvbandwidth device->host on H100
    latency=_ASSUMED_LATENCY,
    source="pcisig2019pcie5,nvidia2022h100datasheet",
    achievable_source="nvbandwidth2024h100",
    achievable_method="host-device-copy",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes=(
        "32 GT/s x 16 lanes = 63 GB/s per direction raw. Measured 52.8 GB/s device->host; "
        "host->device was lower (35 GB/s) in the same report."
    ),
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_PCIE_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

IB_HDR = LinkSpec(
    name="InfiniBand HDR",
    vendor_bandwidth=200 * GBIT_PER_S,  # 200 Gb/s per port, per direction = 25 GB/s
    vendor_is_bidirectional=False,
    achievable_bandwidth=24 * GB,  # NVIDIA: ~24 GB/s NCCL bus bandwidth per HDR NIC
    latency=_ASSUMED_LATENCY,
    source="nvidia2020connectx6",
    achievable_source="nccl2023hdr",
    achievable_method="nccl-busbw",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes="Per network card. InfiniBand rates are per direction; DGX A100 has one per GPU.",
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_NET_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

IB_NDR = LinkSpec(
    name="InfiniBand NDR",
    vendor_bandwidth=400 * GBIT_PER_S,  # 400 Gb/s per port, per direction = 50 GB/s
    vendor_is_bidirectional=False,
    achievable_bandwidth=48 * GB,  # NVIDIA: 46-49 GB/s per NDR NIC in nccl-tests
    latency=_ASSUMED_LATENCY,
    source="nvidia2022connectx7",
    achievable_source="nccltests2024ndr",
    achievable_method="nccl-busbw",
    latency_source=_ASSUMED_LATENCY_SOURCE,
    notes="Per network card. InfiniBand rates are per direction; DGX H100 has one per GPU.",
    call_latency=NCCL_CALL_LATENCY,
    step_latency=_NET_STEP_LATENCY,
    collective_latency_source=_COLLECTIVE_SOURCE,
)

LINKS: dict[str, LinkSpec] = {
    link.name: link for link in (NVLINK3, NVLINK4, NVLINK5, PCIE4_X16, PCIE5_X16, IB_HDR, IB_NDR)
}


def get_link(name: str) -> LinkSpec:
    """Return the link preset called ``name`` (one of :data:`LINKS`)."""
    return LINKS[check_choice("link", name, LINKS)]
