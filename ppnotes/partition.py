"""Chapter 1: what pipeline depth is, and how layers are split into stages.

Pipeline depth p is the number of stages one model replica is cut into. Each stage runs on
t GPUs when tensor parallelism is t, and the whole job has d data-parallel replicas, so the
GPU count is p * t * d (Narayanan et al. 2021, sec. 2). A stage's load is its layers plus, on the
first stage, the embedding and, on the last, the final norm and LM head. In a pipeline every
stage waits for the slowest one, so the step runs at the pace of the maximum stage load:
the *balance efficiency* mean / max is the share of the GPUs' time that does useful work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._validate import (
    MAX_LAYERS,
    MAX_STAGES,
    WrongTypeError,
    check_bool,
    check_choice,
    check_instance,
    check_int,
    check_real,
    check_size,
)
from .models import ModelSpec

# ------------------------------------------------------------------ depth and GPU counts


def gpus_per_replica(num_stages: int, tensor_parallel: int = 1) -> int:
    """GPUs holding one copy of the model: p stages times t GPUs per stage."""
    p = check_int("num_stages", num_stages)
    t = check_int("tensor_parallel", tensor_parallel)
    return p * t


def total_gpus(num_stages: int, tensor_parallel: int = 1, data_parallel: int = 1) -> int:
    """GPUs in the job, N = p * t * d (pipeline x tensor x data parallel)."""
    d = check_int("data_parallel", data_parallel)
    return gpus_per_replica(num_stages, tensor_parallel) * d


def depth_from_gpus(num_gpus: int, tensor_parallel: int = 1, data_parallel: int = 1) -> int:
    """Pipeline depth p = N / (t * d); raises if t * d does not divide N."""
    n = check_int("num_gpus", num_gpus)
    t = check_int("tensor_parallel", tensor_parallel)
    d = check_int("data_parallel", data_parallel)
    if n % (t * d):
        raise ValueError(
            f"num_gpus must be a multiple of tensor_parallel * data_parallel = {t * d}, got {n}"
        )
    return n // (t * d)


# ------------------------------------------------------------------ splitting layers


def valid_depths(num_layers: int) -> list[int]:
    """Depths that split ``num_layers`` into equal whole-layer stages (the divisors of L).

    Megatron-LM requires this for its uniform split: L must be divisible by p.
    """
    n = check_size("num_layers", num_layers, MAX_LAYERS)
    return [p for p in range(1, n + 1) if n % p == 0]


def balanced_split(num_layers: int, num_stages: int) -> list[int]:
    """Split L layers into p stages whose layer counts differ by at most one.

    When p does not divide L, the first ``L % p`` stages get one extra layer (the naive rule
    of ``numpy.array_split``, which ignores the embedding and the head).
    """
    n = check_size("num_layers", num_layers, MAX_LAYERS)
    p = check_int("num_stages", num_stages, maximum=n)
    base, extra = divmod(n, p)
    return [base + 1 if i < extra else base for i in range(p)]


def stage_loads(
    layers_per_stage: Sequence[int], first_extra: float = 0.0, last_extra: float = 0.0
) -> list[float]:
    """Load of each stage in layer-equivalents: its layers, plus the extras at the two ends.

    Args:
        layers_per_stage: layer count of each stage, first to last.
        first_extra: extra load of the first stage (the embedding), in layers.
        last_extra: extra load of the last stage (final norm and LM head), in layers.
    """
    counts = _check_split(layers_per_stage)
    first_extra = check_real("first_extra", first_extra)
    last_extra = check_real("last_extra", last_extra)
    loads = [float(c) for c in counts]
    loads[0] += first_extra
    loads[-1] += last_extra
    return loads


def balance_efficiency(loads: Sequence[float]) -> float:
    """Mean stage load over max stage load, in (0, 1]; 1 means perfectly balanced.

    In a pipeline each micro-batch moves at the pace of the slowest stage, so this is the
    fraction of GPU time doing useful work before any bubble or communication is counted.
    """
    loads = _check_loads(loads)
    return sum(loads) / len(loads) / max(loads)


def optimal_split(
    num_layers: int, num_stages: int, first_extra: float = 0.0, last_extra: float = 0.0
) -> list[int]:
    """Whole-layer split that minimises the slowest stage, given the extra loads at the ends.

    Every stage keeps at least one layer. The search tries each candidate bottleneck T (a
    stage's possible load, k + extra) in increasing order and stops at the first T whose
    capacity, the sum over stages of floor(T - extra_i) layers, reaches L. That T is optimal
    because any split's bottleneck is itself one of the candidates. Layers left over under T
    go to the middle stages first, which carry no extra.
    """
    n = check_size("num_layers", num_layers, MAX_LAYERS)
    p = check_int("num_stages", check_size("num_stages", num_stages, MAX_STAGES), maximum=n)
    extras = [0.0] * p
    extras[0] += check_real("first_extra", first_extra)
    extras[-1] += check_real("last_extra", last_extra)
    candidates = sorted({k + e for e in extras for k in range(1, n + 1)})
    for bottleneck in candidates:
        caps = [max(0, math.floor(bottleneck - e + 1e-9)) for e in extras]
        if min(caps) >= 1 and sum(caps) >= n:
            return _fill(n, caps, extras)
    raise AssertionError("unreachable: T = L + max(extra) always fits")  # pragma: no cover


# ------------------------------------------------------------------ what imbalance costs per step


def gpipe_step_layers(loads: Sequence[float], num_microbatches: int) -> float:
    """Flushed GPipe step over stages of unequal load: sum(loads) + (m - 1) * max(loads).

    In units of one layer's forward plus backward time (each stage's forward and backward scale
    with its load). The first micro-batch crosses every stage once (the fill and drain); each
    of the other m - 1 micro-batch slots lasts as long as the slowest stage. Exact for GPipe
    (checked against :func:`ppnotes.schedules.simulate` with per-stage costs, zero hop
    latency); 1F1B overlaps a little of the imbalance and is never slower than this.
    """
    loads = _check_loads(loads)
    m = check_int("num_microbatches", num_microbatches)
    return sum(loads) + (m - 1) * max(loads)


def imbalance_idle_layers(loads: Sequence[float], num_microbatches: int) -> list[float]:
    """Idle time of each stage per step that comes from imbalance, not from the bubble:
    (m - 1)(max(loads) - load_i), in units of one layer's forward plus backward.

    Under GPipe stage i idles sum(other loads) in the fill and drain plus this: it waits for
    the slowest stage in every micro-batch slot after the first. A stage one layer lighter than
    the slowest therefore idles m - 1 layers' worth per step, not one.
    """
    loads = _check_loads(loads)
    m = check_int("num_microbatches", num_microbatches)
    slowest = max(loads)
    return [(m - 1) * (slowest - x) for x in loads]


# ------------------------------------------------------------------ lighter end stages


def split_with_lighter_ends(
    num_layers: int, num_stages: int, embedding: bool = True, loss: bool = True
) -> list[int]:
    """Split that counts the embedding and the loss (LM head) as one layer each.

    Megatron-LM's ``--account-for-embedding-in-pipeline-split`` and
    ``--account-for-loss-in-pipeline-split`` (``megatron/core/transformer/transformer_block.py``,
    NVIDIA/Megatron-LM) require p to divide L + (embedding) + (loss), give every stage
    (L + ...)/p slots, and build one layer fewer on the first and/or last stage. With both,
    L = k p - 2 layers, the zero-bubble authors' advice (sail-sg/zero-bubble-pipeline-parallelism
    README, ``--allow-padding-num-layers``) and Llama 3.1 405B's choice: 126 = 8 x 16 - 2 layers
    at PP 16, one layer fewer on the first and last stage (dubey2024llama3, sec. 3.3.2).
    Megatron-LM's ``--decoder-first-pipeline-num-layers`` / ``--decoder-last-pipeline-num-layers``
    set the two end counts directly instead.

    Raises ``ValueError`` when p does not divide L plus the counted ends.
    """
    n = check_size("num_layers", num_layers, MAX_LAYERS)
    p = check_size("num_stages", num_stages, MAX_STAGES)
    embedding = check_bool("embedding", embedding)
    loss = check_bool("loss", loss)
    ends = int(embedding) + int(loss)
    if (n + ends) % p:
        raise ValueError(
            f"num_layers + {ends} (the counted ends) must be divisible by num_stages = {p}, got "
            f"num_layers = {n}; choose num_layers = k * {p} - {ends}"
        )
    per_stage = (n + ends) // p
    counts = [per_stage] * p
    if embedding:
        counts[0] -= 1
    if loss:
        counts[-1] -= 1
    if min(counts) < 1:
        raise ValueError(
            f"num_layers = {n} leaves a stage with no layer at num_stages = {p}; "
            f"need num_layers >= {2 * p - ends}"
        )
    return counts


RECOMPUTATION = ("none", "selective", "full")


def head_layer_equivalents(model, seq_len: int | None = None, recomputation: str = "none") -> float:
    """The LM head's compute in one training step, in units of one layer's compute.

    Per token, a layer's forward costs 2 x its parameters plus 4 s h for attention at sequence
    length s (narayanan2021efficient, eq. 3), and the head 2 V h; so the head's weight depends
    on s (``seq_len``, default the model's training context). Backward costs twice the forward
    for both (two matrix multiplies per forward one), so forward + backward leaves the ratio
    unchanged. Recomputation adds to the layers only: Megatron-LM recomputes transformer layers
    (``--recompute-granularity full``: a whole extra forward; ``selective``: the attention
    scores, 4 s h per token) but never the output layer. The loss itself (softmax and
    cross-entropy over V) is memory-bound and not counted. Dimensionless.
    """
    check_instance("model", model, ModelSpec, "ppnotes.models.ModelSpec")
    s = model.seq_len if seq_len is None else check_int("seq_len", seq_len)
    recomputation = check_choice("recomputation", recomputation, RECOMPUTATION)
    layer_forward = 2.0 * model.params_per_layer + 4.0 * s * model.hidden_size
    head_forward = 2.0 * model.vocab_size * model.hidden_size
    extra = {
        "none": 0.0,
        "selective": 4.0 * s * model.hidden_size,
        "full": layer_forward,
    }[recomputation]
    return 3.0 * head_forward / (3.0 * layer_forward + extra)


def _fill(num_layers: int, caps: list[int], extras: list[float]) -> list[int]:
    """Give each stage one layer, then fill the least-loaded stages up to their caps."""
    counts = [1] * len(caps)
    left = num_layers - len(caps)
    while left:
        # The stage with the lowest load that still has room (ties: the middle stage first).
        mid = (len(caps) - 1) / 2
        room = [i for i in range(len(caps)) if counts[i] < caps[i]]
        i = min(room, key=lambda j: (counts[j] + extras[j], abs(j - mid)))
        counts[i] += 1
        left -= 1
    return counts


def _check_sequence(name: str, value) -> None:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise WrongTypeError(f"{name} must be a list with one number per stage, got {value!r}")


def _check_loads(loads: Sequence[float]) -> list[float]:
    _check_sequence("loads", loads)
    loads = [check_real(f"loads[{i}]", x) for i, x in enumerate(loads)]
    if not loads or max(loads) <= 0:
        raise ValueError(f"loads must be a non-empty list with a positive maximum, got {loads!r}")
    return loads


def _check_split(layers_per_stage: Sequence[int]) -> list[int]:
    _check_sequence("layers_per_stage", layers_per_stage)
    counts = list(layers_per_stage)
    if not counts:
        raise ValueError("layers_per_stage must list at least one stage, got []")
    return [check_int(f"layers_per_stage[{i}]", c) for i, c in enumerate(counts)]


def _divisors(n: int) -> list[int]:
    """The divisors of ``n`` >= 1, ascending, in O(sqrt n) steps (pairs k and n // k)."""
    small, large = [], []
    k = 1
    while k * k <= n:
        if n % k == 0:
            small.append(k)
            if k * k != n:
                large.append(n // k)
        k += 1
    return small + large[::-1]
