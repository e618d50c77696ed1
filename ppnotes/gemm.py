"""Chapter 5: the time of one matrix multiply from its shape (矩阵乘法的形状决定效率).

A GPU computes C[m, n] = A[m, k] B[k, n] in output tiles of Tm x Tn, one tile per streaming
multiprocessor (SM) at a time, so a multiply runs in waves of S tiles (S = SMs). Two losses
follow from the shape alone (NVIDIA's matrix-multiplication performance guide,
nvidia2023matmul): *tile quantization* (m and n are rounded up to whole tiles) and *wave
quantization* (the last wave may keep most SMs idle: a wave costs the same full or not). Each
tile also pays a fixed prologue and epilogue, which we write as k0 extra steps of the inner
dimension, so a thin k is expensive. Then, per tile size (Tm, Tn) with a relative speed f,

    t_math = W x 2 Tm Tn (k + k0) / (f eta_max P / S),   W = ceil(ceil(m/Tm) ceil(n/Tn) / S),

the library picks the fastest tile, and the multiply takes max(t_math, bytes / HBM bandwidth)
plus a launch cost (:func:`gemm_time`). eta_max (the per-SM rate of a full wave, as a share of
the peak P) and k0 come from published matrix-multiply measurements with random data
(:data:`PUBLISHED_GEMMS`; constants in each :class:`~ppnotes.hardware.GPUSpec`), never from the
training runs chapter 5 checks against; :func:`published_comparison` sets the model beside
each of those measurements.

The attention core runs as FlashAttention-2 (on A100, and on
H100 too, see :data:`PUBLISHED_ATTENTION`), whose measured rate grows with the sequence length as
R(s) = R_inf s / (s + s0) (:func:`attention_time`; dao2023flashattention2). Element-wise
kernels (normalisation, residual adds, the MLP's activation) are memory-bound
(:func:`elementwise_time`).

What this cannot see (kernel fusion, the gaps between kernels, framework overhead) is one
documented knob, :data:`OVERHEAD`, a factor on every compute time; chapter 5 says how it is
set. Times are seconds, sizes are elements, rates FLOP/s.
"""

from __future__ import annotations

from functools import lru_cache

from ._validate import check_bool, check_instance, check_int, check_real
from .comm import DEFAULT_UTILISATION
from .hardware import GPUS, GPUSpec

#: Output tiles a library chooses from, with each one's speed relative to the largest
#: (nvidia2023matmul: 256 x 128 and 128 x 256 are the most efficient, 64 x 64 the least).
#: 0.95 for 128 x 128 is a fit to :data:`PUBLISHED_GEMMS`; 0.75 and 0.55 only keep the guide's
#: order (no published point constrains them: a large multiply never picks them).
TILES = ((256, 128, 1.0), (128, 256, 1.0), (128, 128, 0.95), (128, 64, 0.75), (64, 64, 0.55))

#: Bytes per value of a bf16 operand or result.
BYTES = 2

#: The one factor for what the kernel model cannot see (kernels not modelled or not fused,
#: gaps between kernels, clocks held lower in a long run than in a benchmark, framework
#: overhead), on every compute time of the training model; 1.0 would mean "the kernels as
#: benchmarked, back to back". It is the only constant set from a training run: the value at
#: which the model meets the 148 TFLOP/s Megatron-LM SC'21 measured for its 145.6B row (t8 p8,
#: the configuration nearest GPT-3, narayanan2021efficient); chapter 5 reports the error on
#: every other run, and tests/test_gemm.py recomputes it. A module constant: the kernel times
#: are cached, so it is not meant to be changed while the book runs.
OVERHEAD = 1.27

#: Published matrix-multiply measurements the constants rest on: (GPU, m, n, k, TFLOP/s,
#: source). Random-data inputs (the same 8192^3 call runs 15 % faster on zeros, he2024predictable).
PUBLISHED_GEMMS = (
    ("A100 80GB", 1024, 1024, 1024, 119.4, "azure2024benchmarks"),
    ("A100 80GB", 2048, 2048, 2048, 221.8, "azure2024benchmarks"),
    ("A100 80GB", 4096, 4096, 4096, 228.0, "azure2024benchmarks"),
    ("A100 80GB", 8192, 8192, 8192, 253.7, "azure2024benchmarks"),
    ("A100 80GB", 8192, 8192, 8192, 258.0, "he2024predictable"),
    ("A100 80GB", 16384, 16384, 16384, 256.5, "azure2024benchmarks"),
    ("A100 80GB", 6144, 12288, 12288, 250.8, "azure2024benchmarks"),
    ("A100 80GB", 1024, 10240, 5120, 271.2, "bekman2024mamf"),
    ("H100 SXM 80GB", 4096, 4096, 4096, 716.0, "pranjal2025fastcu"),
    ("H100 SXM 80GB", 6144, 6144, 6144, 741.1, "pranjal2025fastcu"),
    ("H100 SXM 80GB", 8192, 8192, 8192, 797.8, "pranjal2025fastcu"),
    ("H100 SXM 80GB", 2048, 2048, 13312, 794.5, "bekman2024mamf"),
    ("H100 SXM 80GB", 8192, 8192, 256, 386.0, "tilelang2025matmul"),
    ("H100 SXM 80GB", 8192, 8192, 512, 520.0, "tilelang2025matmul"),
    ("H100 SXM 80GB", 8192, 8192, 1024, 628.0, "tilelang2025matmul"),
    ("H100 SXM 80GB", 8192, 8192, 2048, 705.0, "tilelang2025matmul"),
    ("H100 SXM 80GB", 8192, 8192, 4096, 736.0, "tilelang2025matmul"),
    ("H100 SXM 80GB", 8192, 8192, 8192, 758.0, "tilelang2025matmul"),
    ("H100 SXM 80GB", 8192, 8192, 16384, 766.0, "tilelang2025matmul"),
)

#: Published FlashAttention-2 rates, forward and backward together, causal, head dimension
#: 128, on the causal FLOPs: (GPU, sequence length, TFLOP/s, source): dao2023flashattention2,
#: fig. 4 (A100) and fig. 8 (H100), bar labels. FlashAttention-3 is faster on H100 (1.5-2x
#: forward, 1.5-1.75x backward, shah2024flashattention3) but publishes no causal backward, so
#: the book times FlashAttention-2 on both GPUs.
PUBLISHED_ATTENTION = (
    ("A100 80GB", 512, 99.0, "dao2023flashattention2"),
    ("A100 80GB", 1024, 133.0, "dao2023flashattention2"),
    ("A100 80GB", 2048, 155.0, "dao2023flashattention2"),
    ("A100 80GB", 4096, 173.0, "dao2023flashattention2"),
    ("A100 80GB", 8192, 182.0, "dao2023flashattention2"),
    ("A100 80GB", 16384, 189.0, "dao2023flashattention2"),
    ("H100 SXM 80GB", 512, 163.0, "dao2023flashattention2"),
    ("H100 SXM 80GB", 1024, 221.0, "dao2023flashattention2"),
    ("H100 SXM 80GB", 2048, 265.0, "dao2023flashattention2"),
    ("H100 SXM 80GB", 4096, 294.0, "dao2023flashattention2"),
    ("H100 SXM 80GB", 8192, 308.0, "dao2023flashattention2"),
    ("H100 SXM 80GB", 16384, 328.0, "dao2023flashattention2"),
)


#: Published FP8 (e4m3) matrix multiplies on H100 SXM, random data: (GPU, m, n, k, TFLOP/s,
#: source): cuBLASLt squares (azure2024benchmarks, ND H100 v5) and the best MAMF shape
#: (bekman2024mamf). The model misses the smallest square badly (it predicts about 400
#: TFLOP/s against 274 measured): a 1,024-cube FP8 multiply is dominated by costs the wave
#: model does not have; training multiplies are far larger.
PUBLISHED_FP8_GEMMS = (
    ("H100 SXM 80GB", 1024, 1024, 1024, 274.1, "azure2024benchmarks"),
    ("H100 SXM 80GB", 2048, 2048, 2048, 1011.3, "azure2024benchmarks"),
    ("H100 SXM 80GB", 4096, 4096, 4096, 1216.9, "azure2024benchmarks"),
    ("H100 SXM 80GB", 8192, 8192, 8192, 1290.1, "azure2024benchmarks"),
    ("H100 SXM 80GB", 16384, 16384, 16384, 1377.3, "azure2024benchmarks"),
    ("H100 SXM 80GB", 1024, 9216, 14336, 1402.6, "bekman2024mamf"),
)


def _check_gpu(gpu) -> GPUSpec:
    check_instance("gpu", gpu, GPUSpec, "ppnotes.hardware.GPUSpec")
    return gpu


def gemm_time(m: int, n: int, k: int, gpu: GPUSpec, fp8: bool = False) -> float:
    """Seconds of one bf16 (or, with ``fp8``, FP8-input) matrix multiply
    C[m, n] = A[m, k] B[k, n] on ``gpu``.

    The fastest :data:`TILES` choice of the wave model (module docstring), or the time to
    move its operands through HBM if that is longer, plus the GPU's launch cost; times
    :data:`OVERHEAD`. A GPU without kernel constants (``sm_count`` 0) falls back to the
    book's former flat roofline, FLOPs / (0.6 x peak).

    Args:
        m, n, k: rows of A and C, columns of B and C, and the inner dimension, >= 1.
        gpu: a :class:`~ppnotes.hardware.GPUSpec`.
        fp8: FP8 inputs (one byte each, bf16 output) at the GPU's FP8 constants; ``ValueError``
            on a GPU without FP8 (``fp8_flops`` 0).
    """
    m, n, k, gpu = check_int("m", m), check_int("n", n), check_int("k", k), _check_gpu(gpu)
    return _gemm(m, n, k, gpu, check_fp8(gpu, fp8))


def check_fp8(gpu: GPUSpec, fp8) -> bool:
    """``fp8`` checked: a bool, and True only on a GPU with an FP8 peak."""
    if check_bool("fp8", fp8) and gpu.fp8_flops == 0:
        raise ValueError(f"fp8=True needs a GPU with FP8 Tensor Cores, got the {gpu.name}")
    return fp8


@lru_cache(maxsize=4096)
def _gemm(m: int, n: int, k: int, gpu: GPUSpec, fp8: bool = False) -> float:
    """:func:`gemm_time` on checked arguments (cached: the planner asks for few shapes)."""
    flops = 2.0 * m * n * k
    nbytes = (1 if fp8 else BYTES) * (m * k + k * n) + BYTES * m * n
    peak, eta, k0 = gpu.bf16_flops, gpu.gemm_peak_fraction, gpu.gemm_k0
    if fp8:
        peak, eta, k0 = gpu.fp8_flops, gpu.fp8_gemm_peak_fraction, gpu.fp8_gemm_k0
    if gpu.sm_count == 0:
        math = flops / (peak * FLAT_EFFICIENCY)
    else:
        per_sm = eta * peak / gpu.sm_count
        math = min(
            -(-(-(-m // tm) * -(-n // tn)) // gpu.sm_count)
            * 2.0
            * tm
            * tn
            * (k + k0)
            / (f * per_sm)
            for tm, tn, f in TILES
        )
    return OVERHEAD * max(math, nbytes / gpu.achievable_hbm_bandwidth) + gpu.kernel_launch_cost


#: FlashAttention-3 on H100 SXM, bf16, head dimension 128, forward plus backward, non-causal:
#: (R_inf in FLOP/s, s0 in tokens) of R(s) = R_inf s / (s + s0), through the 512- and 16K-token
#: points of shah2024flashattention3, figs. 5 and 6 (no causal backward is published). Not the
#: book's default (FlashAttention-2, GPUSpec.attention_rate); chapter 5 uses it to show how much
#: the attention kernel moves a long-context prediction.
FLASH_ATTENTION_3_H100 = (596e12, 365.0)

#: The efficiency the book used for every multiply before the kernel model (kept for GPUs
#: without kernel constants and for chapter 5's comparison).
FLAT_EFFICIENCY = DEFAULT_UTILISATION


def gemm_efficiency(m: int, n: int, k: int, gpu: GPUSpec, fp8: bool = False) -> float:
    """Achieved share of the dense peak (bf16, or FP8 with ``fp8``) for one m x n x k
    multiply: 2 m n k / (time x peak), with :func:`gemm_time`."""
    t = gemm_time(m, n, k, gpu, fp8)
    return 2.0 * m * n * k / (t * (gpu.fp8_flops if fp8 else gpu.bf16_flops))


def attention_time(
    micro_batch: int, seq_len: int, width: int, gpu: GPUSpec, backward: bool = False
) -> float:
    """Seconds of the causal attention core (scores, softmax, values) of one micro-batch on
    one GPU, forward or backward, as FlashAttention runs it.

    The causal kernel does half of the 4 b s^2 width FLOPs of the full score matrix; the
    backward does 2.5 times the forward's (it recomputes the scores), so forward plus backward
    is 3.5 times the forward's FLOPs at the published rate R(s) = R_inf s / (s + s0) (the
    GPU's ``attention_rate`` and ``attention_s0``), times :data:`OVERHEAD`. A GPU without
    them falls back to the flat roofline (FLOPs / 0.6 peak, backward twice the forward).

    Args:
        micro_batch: sequences, >= 1.
        seq_len: tokens per sequence, >= 1.
        width: query width on this GPU (heads x head dimension / t), >= 1.
        gpu: a :class:`~ppnotes.hardware.GPUSpec`.
        backward: the backward pass instead of the forward.
    """
    b, s = check_int("micro_batch", micro_batch), check_int("seq_len", seq_len)
    w, gpu = check_int("width", width), _check_gpu(gpu)
    return _attention(b, s, w, gpu, check_bool("backward", backward))


def _attention(b: int, s: int, width: int, gpu: GPUSpec, backward: bool) -> float:
    full = 4.0 * b * s * s * width  # the score matrix's FLOPs, the book's count (eq. 5.1)
    if gpu.sm_count == 0:
        return OVERHEAD * (2 if backward else 1) * full / (gpu.bf16_flops * FLAT_EFFICIENCY)
    rate = gpu.attention_rate * s / (s + gpu.attention_s0)
    share = 2.5 if backward else 1.0
    return OVERHEAD * share * (full / 2) / rate + gpu.kernel_launch_cost


def elementwise_time(nbytes: float, gpu: GPUSpec) -> float:
    """Seconds of a memory-bound kernel that reads and writes ``nbytes`` bytes in total:
    nbytes / achievable HBM bandwidth + the launch cost, times :data:`OVERHEAD`."""
    nbytes = check_real("nbytes", nbytes)
    gpu = _check_gpu(gpu)
    return OVERHEAD * nbytes / gpu.achievable_hbm_bandwidth + gpu.kernel_launch_cost


def published_comparison() -> list[dict]:
    """The kernel model beside each published measurement it rests on: rows with ``gpu``,
    ``shape`` (m, n, k or the sequence length), ``measured`` and ``model`` (TFLOP/s),
    ``error`` (model / measured - 1) and ``source``."""
    rows = []
    for name, m, n, k, tflops, source in PUBLISHED_GEMMS:
        gpu = GPUS[name]
        model = 2.0 * m * n * k / _gemm(m, n, k, gpu) / 1e12 * OVERHEAD
        rows.append(_row(name, (m, n, k), tflops, model, source))
    for name, m, n, k, tflops, source in PUBLISHED_FP8_GEMMS:
        gpu = GPUS[name]
        model = 2.0 * m * n * k / _gemm(m, n, k, gpu, True) / 1e12 * OVERHEAD
        rows.append(_row(name + " FP8", (m, n, k), tflops, model, source))
    for name, s, tflops, source in PUBLISHED_ATTENTION:
        gpu = GPUS[name]
        causal = 2.0 * 3.5 * s * s * 128  # b = 1, one head of 128, fwd + bwd
        seconds = _attention(1, s, 128, gpu, False) + _attention(1, s, 128, gpu, True)
        seconds -= 2 * gpu.kernel_launch_cost
        rows.append(_row(name, (s,), tflops, causal / seconds / 1e12 * OVERHEAD, source))
    return rows


def _row(gpu, shape, measured, model, source) -> dict:
    return {
        "gpu": gpu,
        "shape": shape,
        "measured": measured,
        "model": model,
        "error": model / measured - 1,
        "source": source,
    }
