"""Closed forms for the pipeline bubble of each schedule.

Two definitions are in use, and this module names them apart:

- ``bubble_fraction``: idle share of the step, (p-1)/(m+p-1) (huang2019gpipe, the seed note);
- ``bubble_ratio``: idle time over ideal (busy) time, (p-1)/m (narayanan2021efficient).

Notation: p ranks (pipeline depth), m micro-batches per step, v chunks per rank (interleaved).
``t_f``, ``t_b`` are the forward and full-backward times of one micro-batch through *one rank's
layers* (L/p layers); a split backward is ``t_b = t_i + t_w`` (input gradient I, weight
gradient W; qi2024zero). Times in seconds or any one unit. Hop latency is taken as zero
throughout; :func:`ppnotes.schedules.simulate` models it. Every closed form here is checked
against that simulator in ``tests/test_bubble.py``, over the conditions each docstring states.
"""

from __future__ import annotations

import math
import warnings

from ._validate import check_choice, check_int, check_real


def _check_interleaved(p: int, m: int, v: int) -> None:
    # The simulator shows the closed form is exact iff m is a multiple of p (with m < p or a
    # partial last group, Megatron-LM's order is slower than the formula or deadlocks).
    if v > 1 and m % p != 0:
        raise ValueError(
            f"with v={v} chunks the closed form needs m divisible by p (Megatron-LM's "
            f"interleaved order), got m={m}, p={p}"
        )


def bubble_fraction(p: int, m: int, v: int = 1) -> float:
    """Idle share of the step: (p-1)/(v*m + p-1); v = 1 gives GPipe/1F1B's (p-1)/(m+p-1).

    Definition: idle time summed over ranks / (ranks x step time) (huang2019gpipe); for v > 1,
    narayanan2021efficient's interleaved 1F1B. Exact for uniform stages and zero hop latency,
    any m >= 1 when v = 1; for v > 1 only when m is divisible by p (raises ``ValueError``
    otherwise). Dimensionless.
    """
    p, m, v = check_int("p", p), check_int("m", m), check_int("v", v)
    _check_interleaved(p, m, v)
    return (p - 1) / (v * m + p - 1)


def bubble_ratio(p: int, m: int, v: int = 1) -> float:
    """Idle time over ideal time: (p-1)/(v*m) (narayanan2021efficient's definition).

    Same conditions as :func:`bubble_fraction`; the two are linked by
    :func:`fraction_from_ratio` and :func:`ratio_from_fraction`. Dimensionless.
    """
    p, m, v = check_int("p", p), check_int("m", m), check_int("v", v)
    _check_interleaved(p, m, v)
    return (p - 1) / (v * m)


def fraction_from_ratio(ratio: float) -> float:
    """Idle share of the step from idle-over-ideal: r/(1+r). Exact for any schedule."""
    ratio = check_real("ratio", ratio)
    return ratio / (1 + ratio)


def ratio_from_fraction(fraction: float) -> float:
    """Idle-over-ideal from idle share of the step: f/(1-f), f in [0, 1). Exact for any schedule."""
    fraction = check_real("fraction", fraction, maximum=1.0)
    if fraction == 1.0:
        raise ValueError("fraction must be a finite number >= 0 and < 1, got 1.0")
    return fraction / (1 - fraction)


def step_time(p: int, m: int, t_f: float, t_b: float, v: int = 1) -> float:
    """Training step time of GPipe, 1F1B (v = 1) or interleaved 1F1B: (m + (p-1)/v)(t_f + t_b).

    ``t_f``, ``t_b``: forward and backward time of one micro-batch through one rank's layers
    (seconds); each of the v chunks takes 1/v of them. Returns seconds. Exact for uniform
    stages and zero hop latency; for v > 1 needs m divisible by p (narayanan2021efficient).
    """
    p, m, v = check_int("p", p), check_int("m", m), check_int("v", v)
    t_f, t_b = check_real("t_f", t_f), check_real("t_b", t_b)
    _check_interleaved(p, m, v)
    return (m + (p - 1) / v) * (t_f + t_b)


def forward_step_time(p: int, m: int, t_f: float) -> float:
    """Forward-only pipeline (inference, one flushed batch): (m + p - 1) * t_f seconds.

    ``t_f``: forward time of one micro-batch through one rank's layers (seconds). Exact for
    uniform stages and zero hop latency (huang2019gpipe's fill-and-drain).
    """
    p, m = check_int("p", p), check_int("m", m)
    return (m + p - 1) * check_real("t_f", t_f)


def bubble_time_1f1b(p: int, t_f: float, t_b: float, v: int = 1) -> float:
    """Idle time per rank in one step of GPipe/1F1B, (p-1)(t_f + t_b), divided by v when
    interleaved (narayanan2021efficient). Seconds; same conditions as :func:`step_time`."""
    p, v = check_int("p", p), check_int("v", v)
    return (p - 1) * (check_real("t_f", t_f) + check_real("t_b", t_b)) / v


def interleaved_hops(p: int, v: int = 1) -> int:
    """Rank-to-rank sends per micro-batch in each direction: p*v - 1 (each of the p*v stages
    but the last sends to the next rank). 1F1B has p - 1, so interleaving multiplies
    point-to-point traffic by (pv-1)/(p-1), about v (narayanan2021efficient)."""
    return check_int("p", p) * check_int("v", v) - 1


def zb_h1_step_time(p: int, m: int, t_f: float, t_i: float, t_w: float) -> float:
    """Step time of ZB-H1 (qi2024zero): (m + p - 1)(t_f + t_i) + max(m - p + 1, 1) * t_w.

    For m >= p this is m(t_f + t_i + t_w) + (p-1)(t_f + t_i - t_w): the paper's bubble.
    For m < p (found with the simulator) the deferred W's all fit in the drain except the
    last one. ``t_i``, ``t_w``: input- and weight-gradient backward per micro-batch and rank
    (seconds). Exact for uniform stages, zero hop latency and t_w <= min(t_f, t_i); with a
    larger t_w the W's no longer fit the gaps and this is only a lower bound (a warning says so).
    That condition is this book's finding with the simulator, not a statement of qi2024zero.
    """
    p, m = check_int("p", p), check_int("m", m)
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    if t_w > min(t_f, t_i):
        warnings.warn(
            f"ZB-H1 closed form is exact only for t_w <= min(t_f, t_i); got t_w={t_w:g}, "
            f"t_f={t_f:g}, t_i={t_i:g}: the result is a lower bound",
            stacklevel=2,
        )
    return (m + p - 1) * (t_f + t_i) + max(m - p + 1, 1) * t_w


def zb_h1_bubble_time(p: int, m: int, t_f: float, t_i: float, t_w: float) -> float:
    """Idle time per rank in one ZB-H1 step: step time minus m(t_f + t_i + t_w).

    For m >= p it is (p-1)(t_f + t_i - t_w) (qi2024zero), which is DeepSeek-V3 Table 2's ZB1P
    (p-1)(F + B - 2W) with B = t_i + t_w (deepseek2024v3). Seconds; conditions as
    :func:`zb_h1_step_time`.
    """
    total = zb_h1_step_time(p, m, t_f, t_i, t_w)
    return total - m * (t_f + t_i + t_w)


def zb_h2_bubble_time(p: int, m: int, t_f: float, t_i: float, t_w: float) -> float:
    """Idle time per rank in one flushed ZB-H2 step (qi2024zero): (p-1) max(t_f, t_f + t_i - 2 t_w).

    Found exact with the simulator (``build_schedule("zb-h2", p, m)``, uniform stages, zero hop
    latency) for m >= 2p - 1 and (t_w <= t_f or t_i <= 2 t_f); outside that cost condition the
    deferred W's no longer fit and this is a lower bound (a warning says so). Raises for
    m < 2p - 1, where the warm-up cannot fill the wait and the step is longer.

    The paper's bubble is (p-1)(t_f + t_i - 2 t_w) clipped at zero
    (:func:`zb_h2_steady_bubble_time`), counted across steps. Within one flushed step the last
    rank cannot start before the first forward reaches it, (p-1) t_f, so the two agree only when
    t_i >= 2 t_w; at t_f = t_i = t_w the flushed bubble is (p-1) t_f, the same as ZB-H1's, at
    twice the activations. ``t_f``, ``t_i``, ``t_w``: per micro-batch and rank, seconds.
    """
    p, m = check_int("p", p), check_int("m", m)
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    if m < 2 * p - 1:
        raise ValueError(f"ZB-H2's closed form needs m >= 2p - 1 = {2 * p - 1}, got m={m}")
    if p > 1 and t_w > t_f and t_i > 2 * t_f:
        warnings.warn(
            f"ZB-H2 closed form is exact only for t_w <= t_f or t_i <= 2 t_f; got t_f={t_f:g}, "
            f"t_i={t_i:g}, t_w={t_w:g}: the result is a lower bound",
            stacklevel=2,
        )
    return (p - 1) * max(t_f, t_f + t_i - 2 * t_w)


def zb_h2_steady_bubble_time(p: int, t_f: float, t_i: float, t_w: float) -> float:
    """ZB-H2's bubble as the paper counts it (qi2024zero): max(0, (p-1)(t_f + t_i - 2 t_w)).

    Counted across steps, when the next step's forwards overlap this step's tail (the paper's
    optimizer post-validation removes the synchronisation that would stop it). Zero for
    t_f = t_i = t_w. A flushed step cannot reach it unless t_i >= 2 t_w
    (see :func:`zb_h2_bubble_time`). Per-rank times in seconds; returns seconds.
    """
    p = check_int("p", p)
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    return max(0.0, (p - 1) * (t_f + t_i - 2 * t_w))


def zbv_bubble_time(p: int, m: int, t_f: float, t_i: float, t_w: float) -> float:
    """Idle time per rank in one flushed ZB-V step (qi2024zero, Section 6): (p-1)(t_f+t_i-t_w)/2.

    ``t_f``, ``t_i``, ``t_w`` are per micro-batch through one rank's layers (two V-chunks of
    half the layers each), so the bubble is half of ZB-H1's. Found exact with the simulator for
    m >= 2p - 1 and t_w = t_f <= t_i <= 2 t_f (which includes the paper's t_f = t_i = t_w);
    elsewhere the handcrafted order can be faster or slower than this. Raises for
    m < 2p - 1 and warns outside the cost condition. The paper's "zero bubble" counts across
    steps (the parallelogram), which a flushed step cannot show: its last rank idles at least
    (p-1) chunk forwards at the start.
    """
    p, m = check_int("p", p), check_int("m", m)
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    if m < 2 * p - 1:
        raise ValueError(f"ZB-V's closed form needs m >= 2p - 1 = {2 * p - 1}, got m={m}")
    if not (t_w == t_f <= t_i <= 2 * t_f):
        warnings.warn(
            f"ZB-V closed form is exact only for t_w = t_f <= t_i <= 2 t_f; got t_f={t_f:g}, "
            f"t_i={t_i:g}, t_w={t_w:g}",
            stacklevel=2,
        )
    return (p - 1) * (t_f + t_i - t_w) / 2


def dualpipe_bubble_time(
    p: int, t_f: float, t_b: float, t_w: float, t_fb: float | None = None
) -> float:
    """DualPipe's bubble from DeepSeek-V3 Table 2 (deepseek2024v3): (p/2 - 1)(t_fb + t_b - 3 t_w).

    ``t_b`` is the *full* backward, ``t_w`` its weight part, ``t_fb`` the time of one overlapped
    forward-and-backward chunk pair (default ``t_f + t_b``, no overlap gain). p must be even.
    Seconds. The simulator does not model the F&B overlap; :func:`dualpipev_bubble_time` gives
    what it finds for the V-shaped variant without it.
    """
    p = check_int("p", p, minimum=2)
    if p % 2:
        raise ValueError(f"p must be an even integer >= 2 for DualPipe, got {p}")
    t_f, t_b = check_real("t_f", t_f), check_real("t_b", t_b)
    t_w = check_real("t_w", t_w)
    if t_w > t_b:
        raise ValueError(f"t_w is part of t_b, so it must be <= t_b = {t_b:g}, got t_w = {t_w:g}")
    t_fb = t_f + t_b if t_fb is None else check_real("t_fb", t_fb, strict=True)
    return (p / 2 - 1) * (t_fb + t_b - 3 * t_w)


def dualpipev_bubble_time(p: int, m: int, t_f: float, t_i: float, t_w: float) -> float:
    """Idle time per rank in one flushed DualPipeV step without F&B overlap:
    (p-1) max(t_f, t_f + t_i - t_w) / 2.

    Found exact with the simulator (``build_schedule("dualpipev", p, m)``, each overlapped pair
    run as forward then backward, uniform stages, zero hop latency) for m >= 2p and
    t_i <= t_f <= t_i + t_w; outside that this is not exact (a warning says so). ``t_f``,
    ``t_i``, ``t_w`` are per micro-batch through one rank's layers (two V-chunks). Within that
    condition it equals ZB-V's bubble. Comparable with DeepSeek-V3's Table 2
    (:func:`dualpipe_bubble_time` with 2p ranks of chunk-sized stages and F&B = F + B,
    deepseek2024v3) only as a bound: the table's (p-1)(F&B + B - 3W) assumes the overlap.
    Seconds.
    """
    p, m = check_int("p", p), check_int("m", m)
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    if m < 2 * p:
        raise ValueError(f"DualPipeV needs m >= 2p = {2 * p}, got m={m}")
    if p > 1 and not (t_i <= t_f <= t_i + t_w):
        warnings.warn(
            f"DualPipeV closed form is exact only for t_i <= t_f <= t_i + t_w; got t_f={t_f:g}, "
            f"t_i={t_i:g}, t_w={t_w:g}",
            stacklevel=2,
        )
    return (p - 1) * max(t_f, t_f + t_i - t_w) / 2


def schedule_table(
    p: int, m: int, t_f: float, t_i: float, t_w: float, v: int = 2
) -> list[dict[str, object]]:
    """Schedules side by side for p ranks and m micro-batches (one row per schedule).

    Columns: ``schedule``; ``bubble_time`` (idle seconds per rank in one flushed step, or None
    where the formula does not apply); ``bubble_fraction`` (bubble_time / step time);
    ``peak_activations`` (most activation sets a rank holds at once, in units of one
    micro-batch through L/p layers, i.e. one 1F1B stage's worth; worst rank; the "gpipe" row is
    the all-forward-all-backward order without recomputation, whereas GPipe as published,
    huang2019gpipe, keeps only each stage's inputs and re-materialises the rest);
    ``parameter_copies``; ``p2p_vs_1f1b`` (rank-to-rank sends per micro-batch relative to 1F1B's
    p-1; 1 when p = 1); ``source``. Per-rank times ``t_f``, ``t_i``, ``t_w`` in seconds;
    ``t_b = t_i + t_w``. ``v`` is the interleaved row's chunks per rank (needs m % p == 0,
    else that row's numbers are None).
    """
    p, m, v = check_int("p", p), check_int("m", m), check_int("v", v)
    t_f, t_i, t_w = check_real("t_f", t_f), check_real("t_i", t_i), check_real("t_w", t_w)
    t_b = t_i + t_w
    work = m * (t_f + t_b)
    hops_1f1b = max(p - 1, 1)

    def row(name, bubble, peak, copies, hops, source):
        fraction = None if bubble is None else bubble / (work + bubble) if work + bubble else 0.0
        return {
            "schedule": name,
            "bubble_time": bubble,
            "bubble_fraction": fraction,
            "peak_activations": peak,
            "parameter_copies": copies,
            "p2p_vs_1f1b": hops / hops_1f1b if p > 1 else 1.0,
            "source": source,
        }

    rows = [
        row("gpipe", bubble_time_1f1b(p, t_f, t_b), float(m), 1, p - 1, "huang2019gpipe"),
        row(
            "1f1b",
            bubble_time_1f1b(p, t_f, t_b),
            float(min(p, m)),
            1,
            p - 1,
            "narayanan2021efficient",
        ),
    ]
    if m % p == 0 or v == 1:
        # Megatron-LM warm-up: rank 0 holds (v-1)p + 2(p-1) + 1 chunk sets, capped at v*m.
        peak = min((v + 1) * p - 1, v * m) / v if v > 1 else float(min(p, m))
        rows.append(
            row(
                f"interleaved (v={v})",
                bubble_time_1f1b(p, t_f, t_b, v),
                peak,
                1,
                p * v - 1,
                "narayanan2021efficient",
            )
        )
    else:
        rows.append(
            row(
                f"interleaved (v={v})",
                None,
                None,
                1,
                p * v - 1,
                "narayanan2021efficient (needs m divisible by p)",
            )
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the table reports the formula as published
        zb1 = zb_h1_bubble_time(p, m, t_f, t_i, t_w)
        zbv = zbv_bubble_time(p, m, t_f, t_i, t_w) if m >= 2 * p - 1 else None
        zb2 = zb_h2_bubble_time(p, m, t_f, t_i, t_w) if m >= 2 * p - 1 else None
    rows.append(row("zb-h1", zb1, float(min(p, m)), 1, p - 1, "qi2024zero"))
    rows.append(row("zb-h2", zb2, float(min(2 * p - 1, m)), 1, p - 1, "qi2024zero"))
    rows.append(row("zbv", zbv, float(min(p, m)), 1, 2 * (p - 1), "qi2024zero"))
    dual = dualpipe_bubble_time(p, t_f, t_b, t_w) if p % 2 == 0 else None
    rows.append(
        row(
            "dualpipe",
            dual,
            float(p + 1),
            2,
            p - 1,
            "deepseek2024v3 Table 2 (even p; not simulated)",
        )
    )
    return rows


BUBBLE_DEFINITIONS = ("fraction", "ratio")


def microbatches_for_bubble(p: int, target: float, v: int = 1, definition: str = "fraction") -> int:
    """Fewest micro-batches m that keep the GPipe/1F1B (v = 1) or interleaved bubble <= target.

    ``definition="fraction"`` bounds the idle share of the step, (p-1)/(v*m + p-1)
    (huang2019gpipe, the seed note): m >= (p-1)(1-target)/(v*target), target in (0, 1).
    ``definition="ratio"`` bounds idle over ideal time, (p-1)/(v*m) (narayanan2021efficient):
    m >= (p-1)/(v*target), target > 0. ``target`` is dimensionless (0.05 = 5 %).

    For v > 1 the closed form holds only when m is divisible by p (Megatron-LM's order), so the
    result is the smallest *multiple of p* that meets the target. Returns 1 when p = 1 (no
    bubble). The answer is checked with :func:`bubble_fraction` / :func:`bubble_ratio`, so it
    meets the target exactly as those functions compute it, and the next smaller allowed m
    (m - 1, or m - p when v > 1) does not.
    """
    p, v = check_int("p", p), check_int("v", v)
    definition = check_choice("definition", definition, BUBBLE_DEFINITIONS)
    if definition == "fraction":
        target = check_real("target", target, minimum=0.0, maximum=1.0, strict=True)
        if target == 1.0:
            raise ValueError("target must be a finite number > 0 and < 1 for a fraction, got 1.0")
        bound = (p - 1) * (1 - target) / (v * target)
        measure = bubble_fraction
    else:
        target = check_real("target", target, minimum=0.0, strict=True)
        bound = (p - 1) / (v * target)
        measure = bubble_ratio
    step = p if v > 1 else 1
    m = max(step, step * math.ceil(bound / step - 1e-9))
    # The float bound can be off by one near exact targets; settle it with the closed form.
    while m > step and measure(p, m - step, v) <= target:
        m -= step
    while measure(p, m, v) > target:
        m += step
    return m
