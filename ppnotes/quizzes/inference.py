"""Chapter 6 quiz: inference versus training (推理场景的特点)."""

from __future__ import annotations

from .. import hardware as hw
from .. import inference as inf
from .. import perf_model as pm
from .. import serving_queue as sq
from ..models import LLAMA3_70B, LLAMA31_70B
from ..quiz import choice, many_choice, multiple_choice, numeric

H100 = pm.CLUSTERS["DGX H100 + NDR"]


def weight_read_ms() -> float:
    """Milliseconds for one H100 to read the weights a Llama 3 70B decode step needs, once."""
    return 1e3 * inf.weight_read_time(LLAMA3_70B, hw.H100_SXM)


def crossover_h100() -> float:
    """Decode batch at which a Llama 3 70B layer becomes compute-bound on an H100 at t = 8,
    without the KV cache (context 1)."""
    return inf.crossover_batch(LLAMA3_70B, hw.H100_SXM, 1, 8)


def pp_tpot_ratio() -> float:
    """TPOT of one request at t = 8, p = 4 over t = 8, p = 1 (Llama 3 70B, DGX H100)."""
    deep = inf.single_batch_latency(LLAMA3_70B, H100, 8, 4, 1024, 256)["tpot"]
    flat = inf.single_batch_latency(LLAMA3_70B, H100, 8, 1, 1024, 256)["tpot"]
    return deep / flat


def capacity_ratio() -> float:
    """Sequences of 8,192 tokens one t = 8 replica holds at p = 4 over p = 1
    (Llama 3 70B on H100s)."""
    deep = inf.serving_memory(LLAMA3_70B, hw.H100_SXM, 8, 4, 0, 8192)["max_concurrency"]
    flat = inf.serving_memory(LLAMA3_70B, hw.H100_SXM, 8, 1, 0, 8192)["max_concurrency"]
    return deep / flat


def chunked_gain() -> float:
    """TTFT of a 32,768-token prompt at t = 8, p = 4: unchunked over 8 chunks
    (Llama 3.1 70B, DGX H100)."""
    one = inf.chunked_prefill_time(LLAMA31_70B, H100, 8, 4, 32768, 1)
    eight = inf.chunked_prefill_time(LLAMA31_70B, H100, 8, 4, 32768, 8)
    return one / eight


#: The chapter 8 case's three shapes of 32 A100s, (t, p), for the load questions.
LOAD_SHAPES = {"PP4 × TP8": (8, 4), "PP16 × TP2": (2, 16), "PP2 × TP16": (16, 2)}
#: Arrival rate of the utilisation question, requests per second.
LOAD_RATE = 4.0


def load_costs() -> dict[str, sq.Costs]:
    """Step costs of GPT-3 175B in each of :data:`LOAD_SHAPES` (chapter 8's cluster and
    lengths, continuous batching with vLLM's A100 defaults)."""
    from .. import case_study as cs

    return {
        name: sq.costs(cs.MODEL, cs.CLUSTER, t, p, cs.PROMPT, cs.OUTPUT)
        for name, (t, p) in LOAD_SHAPES.items()
    }


def load_utilisation(cost: sq.Costs, rate: float = LOAD_RATE) -> tuple[float, float]:
    """(utilisation with prefill, utilisation counting decode only) at ``rate`` requests/s:
    rate x (S + o P(b)/b) and rate x o P(b)/b at the full batch (eq. eq-utilisation)."""
    b = cost.per_batch_cap
    decode = cost.output * cost.P(b) / b
    return rate * (cost.prefill + decode), rate * decode


def questions() -> list[dict]:
    """The chapter 6 quiz; every answer comes from :mod:`ppnotes.inference`."""
    read_ms = weight_read_ms()
    cross = crossover_h100()
    ratio = pp_tpot_ratio()
    cap = capacity_ratio()
    gain = chunked_gain()
    period = inf.decode_period([1.0, 1.0, 1.5, 1.0], 4)
    period_one = inf.decode_period([1.0, 1.0, 1.5, 1.0], 1)
    shapes = load_costs()
    pp4 = shapes["PP4 × TP8"]
    rho, rho_decode = load_utilisation(pp4)
    per_token = pp4.P(pp4.per_batch_cap) / pp4.per_batch_cap
    caps = {name: c.capacity for name, c in shapes.items()}
    first = min(caps, key=caps.get)
    caps_text = ", ".join(f"{name} {cap:.1f}" for name, cap in caps.items())
    return [
        numeric(
            "Llama 3 70B decodes one sequence on one H100 SXM (3.35 TB/s peak; a streaming "
            "kernel reaches 3.0 TB/s). Ignoring compute, how many milliseconds does one token "
            "take at least, to read every layer's and the LM head's bf16 weights once at the "
            "achievable bandwidth?",
            read_ms,
            rel_tol=0.03,
            correct_feedback="Right: about $2 \\times 70 \\cdot 10^9$ bytes of weights over "
            "3.0 TB/s. At batch 1 decode is a weight read, whatever the FLOP/s.",
            wrong_feedback="Divide the bytes of the weights a step reads (layers and LM head, "
            "2 bytes each) by the achievable HBM bandwidth.",
            traps=[
                (read_ms / 2, "That is 1 byte per weight; bf16 takes 2."),
                (
                    read_ms * 3.0 / 3.35,
                    "That reads at the data-sheet peak, which no kernel reaches.",
                ),
                (1e3 * 2 * 70.6e9 / 989e12, "That divides FLOPs by the peak: compute, not memory."),
            ],
        ),
        numeric(
            "At t = 8 on H100 SXMs (989 TFLOP/s dense BF16, 3.0 TB/s achievable HBM), from "
            "which decode batch (sequences) does a Llama 3 70B layer's bf16 compute term "
            "exceed its memory term, with a 1-token context (no KV cache) and the book's "
            "efficiency of 0.6?",
            cross,
            rel_tol=0.08,
            correct_feedback="Right: about $\\text{peak} \\cdot \\eta / \\text{bandwidth} = "
            "989 \\cdot 10^{12} \\times 0.6 / (3.0 \\cdot 10^{12})$. "
            "A long KV cache pushes it further out, or removes it.",
            wrong_feedback="For $w$ weights, set $2bw/(0.6\\,\\text{peak})$ equal to "
            "$2w/\\text{bandwidth}$ and solve for $b$.",
            traps=[(989e12 / 3.0e12, "That forgets the efficiency of 0.6.")],
        ),
        numeric(
            "One request is served alone by Llama 3 70B on DGX H100s with t = 8. By what "
            "factor does its time per output token change from p = 1 to p = 4 (TPOT at p = 4 "
            "over TPOT at p = 1), for a 1,024-token prompt and 256 output tokens in bf16?",
            ratio,
            rel_tol=0.01,
            correct_feedback="Right: slightly above 1. The four stages read a quarter of the "
            "weights each, one after another; the token also crosses three hops and comes "
            "back. PP never shortens a token.",
            wrong_feedback="The stages run one after another for one request: same weight "
            "reads in total, plus hops.",
            traps=[(0.25, "That would be reading the four quarters in parallel: TP does that.")],
        ),
        numeric(
            "Four stages take 1, 1, 1.5 and 1 ms per decode step of a batch, with no hop "
            "latency. With k = 4 batches in flight, how many ms pass between two batch-steps "
            "leaving the pipeline in steady state?",
            period,
            rel_tol=0.01,
            correct_feedback="Right: the slowest stage, 1.5 ms, sets the period once $k \\ge p$ "
            f"(with one batch it would be the whole cycle, {period_one:g} ms).",
            wrong_feedback="With $k \\ge p$ the slowest stage is always busy: "
            "period $= \\max_s d_s$.",
            traps=[(period_one / 4, "That is the mean stage: the slowest one sets the pace.")],
        ),
        numeric(
            "Llama 3 70B on H100s (80 GB, 10 % kept in reserve) with t = 8, bf16 weights and KV "
            "cache, sequences of 8,192 tokens. How many times more sequences does one replica "
            "hold in KV cache at p = 4 than at p = 1?",
            cap,
            rel_tol=0.02,
            correct_feedback="Right: more than 4 times. The weights per GPU fall 4 times, so "
            "the free memory rises more than 4-fold, and the replica has 4 times the GPUs.",
            wrong_feedback="Compute $(0.9 \\times \\text{memory} - \\text{weights per GPU})$ / KV "
            "bytes per sequence per GPU at both depths.",
            traps=[(4.0, "Close, but the weights per GPU fall too, so the gain is above $p$.")],
        ),
        numeric(
            "A 32,768-token prompt goes through Llama 3.1 70B (bf16) on 4 stages "
            "(t = 8, DGX H100). "
            "By what factor does splitting it into 8 chunks shorten the time to first token?",
            gain,
            rel_tol=0.03,
            correct_feedback="Right: the stages work on different chunks at once, as in "
            "chapter 2's forward schedule: $(m+p-1)/(mp)$ of the time instead of 1.",
            wrong_feedback="With $m$ chunks on $p$ stages the prefill takes about $m+p-1$ chunk "
            "times instead of $mp$.",
            traps=[(4.0, "That is $p$: the fill and drain of the chunks cost some of it.")],
        ),
        multiple_choice(
            "Why do serving engines with PP have no per-step flush bubble, unlike training?",
            [
                choice(
                    "They keep p independent batches in flight and never wait for all of them "
                    "to finish (no optimizer step)",
                    True,
                    "Right: vLLM's `max_concurrent_batches` equals the PP size.",
                ),
                choice(
                    "Decode has no backward pass, so the bubble formula gives zero",
                    False,
                    "A forward-only schedule still has a fill and drain; what removes it is "
                    "never draining.",
                ),
                choice(
                    "One sequence's tokens are pipelined across the stages",
                    False,
                    "Token $j+1$ needs token $j$: one sequence cannot fill the pipeline.",
                ),
            ],
        ),
        many_choice(
            "Which statements hold for serving a model that fits in one 8-GPU node? (Select all.)",
            [
                choice(
                    "TP lowers the time per output token at batch 1",
                    True,
                    "Right: the $t$ GPUs read their slices of the weights in parallel.",
                ),
                choice(
                    "PP lowers the time per output token at batch 1",
                    False,
                    "No: the stages run one after another and add hops.",
                ),
                choice(
                    "PP can raise throughput by freeing memory for KV cache",
                    True,
                    "Right: more sequences fit, and decode is memory-bound.",
                ),
                choice(
                    "The note's rule (batch $\\le$ 8: PP 1-2) follows from the bubble",
                    False,
                    "Serving has no flush bubble; memory, not batch size, decides.",
                ),
            ],
        ),
        numeric(
            "GPT-3 175B runs as PP4 × TP8 on 32 A100s with continuous batching. Its slowest "
            f"stage spends S = {1e3 * pp4.prefill:.1f} ms prefilling one 1,024-token prompt and, "
            f"at the full batch, {1e3 * per_token:.3f} ms per output token; each request wants "
            f"256 output tokens. Requests arrive at {LOAD_RATE:g} per second. What is the "
            "replica's utilisation ρ (a fraction, e.g. 0.5)?",
            rho,
            rel_tol=0.02,
            correct_feedback="Right: ρ = λ (S + o P(b)/b). Prefill is part of the load: here "
            f"it is {pp4.prefill / (pp4.prefill + pp4.output * per_token):.0%} of each "
            "request's work on the bottleneck.",
            wrong_feedback="Each request costs the slowest stage its prompt's prefill S plus "
            "o output tokens at P(b)/b each; multiply by the arrival rate.",
            traps=[
                (
                    rho_decode,
                    "That counts only the decode tokens: the prompt's prefill runs on the same "
                    "stages and is part of the load.",
                )
            ],
        ),
        multiple_choice(
            "Requests of 1,024 + 256 tokens arrive at a rising rate at one 32-GPU replica of "
            "GPT-3 175B (A100 80GB, 4 nodes). Whose TTFT climbs steeply first?",
            [
                choice(
                    name,
                    name == first,
                    (
                        f"Right: it has the lowest capacity ({caps_text} requests/s); TTFT "
                        "knees as the utilisation nears 1."
                        if name == first
                        else f"Capacities are {caps_text} requests/s; TTFT knees as the "
                        "utilisation nears 1, so the shape with the lowest capacity knees "
                        "first."
                    ),
                )
                for name in LOAD_SHAPES
            ],
        ),
    ]
