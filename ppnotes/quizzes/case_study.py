"""Chapter 8 quiz: the GPT-3 175B case (实际案例分析), recomputed."""

from __future__ import annotations

from .. import case_study as cs
from ..quiz import choice, multiple_choice, numeric

SETTING = (
    "GPT-3 175B in bf16 on 4 DGX A100 80GB nodes (32 GPUs, NVLink inside, one HDR card per "
    "GPU), 32 concurrent requests of 1,024 prompt + 256 output tokens"
)


def rows() -> dict:
    """The case's rows by label (:func:`ppnotes.case_study.all_rows`)."""
    return {r.label: r for r in cs.all_rows()}


def questions() -> list[dict]:
    """The chapter 8 quiz; every answer comes from :mod:`ppnotes.case_study`."""
    r = rows()
    p4, p16, p2 = r["PP4 TP8"], r["PP16 TP2"], r["PP2 TP16"]
    ratio = p4.tokens_per_s / p16.tokens_per_s
    train = cs.training_side()
    eng = cs.bubble_by_engine(8, 4)
    ft = cs.engine_bubble(8, 4, "static")
    return [
        numeric(
            f"{SETTING}. With PP = 4 and TP = 8 (4 batches in flight), what share of one decode "
            "period is the bubble (idle stage time), in percent?",
            100 * p4.bubble,
            abs_tol=0.5,
            correct_feedback="Right: with $k = p$ balanced batches in flight (continuous "
            "batching, an idealisation of vLLM V1) every stage is almost always busy.",
            wrong_feedback="Bubble $= 1 - \\bar d / P$: mean stage time over the period.",
            traps=[
                (
                    10,
                    "That is the note's printed number: its formula for a static engine with "
                    "32 micro-batches of one, not for $k = p$ batches in flight.",
                ),
                (
                    100 * eng["note"],
                    "That is the note's formula $(p-1)/(p-1+M)$ with $M = 32$: "
                    "a static engine that flushes every token, not continuous batching.",
                ),
            ],
        ),
        numeric(
            f"{SETTING}. FasterTransformer serves PP = 4, TP = 8 as a static batch that flushes "
            f"the pipeline every token, in micro-batches of {ft.local} sequences "
            f"($m$ = {ft.microbatches} per token step). What share of the stages' time is idle, "
            "in percent?",
            100 * ft.bubble,
            abs_tol=1.0,
            correct_feedback="Right: each token step is a GPipe forward pass with $m = 4$, "
            "about $(p-1)/(m+p-1) = 3/7$, plus the hops.",
            wrong_feedback="A flush per token: step $= \\sum_s d_s + (m-1) \\max_s d_s$ + hops, "
            "busy time $m\\,d_s$ per stage; with equal stages $(p-1)/(m+p-1)$.",
            traps=[
                (
                    100 * eng["note"],
                    "That is the note's formula with $M = 32$ micro-batches of "
                    "one; FasterTransformer uses 4 micro-batches of 8.",
                ),
                (
                    100 * eng["continuous"],
                    "That is continuous batching with 4 batches in "
                    "flight; a static engine flushes every token.",
                ),
            ],
        ),
        numeric(
            f"{SETTING}. With PP = 4 and TP = 8, what share of the decode period do the "
            "tensor-parallel all-reduces take, in percent?",
            100 * p4.tp_comm,
            abs_tol=1.0,
            correct_feedback="Right: two all-reduces per layer over 8 GPUs, each mostly "
            "NCCL's fixed cost per call for a batch of 8 tokens; the note's 8 % is close.",
            wrong_feedback="Sum the TP all-reduce time of a stage and divide by the period.",
            traps=[(8, "That is the note's printed number.")],
        ),
        numeric(
            f"{SETTING}. How many times more output tokens/s does PP = 4, TP = 8 give than "
            "PP = 16, TP = 2?",
            ratio,
            rel_tol=0.05,
            correct_feedback="Right: PP16 splits the 32 requests into 16 batches of 2, so every "
            "weight read serves 2 tokens instead of 8. The bubble is not the reason.",
            wrong_feedback="Compare $R / \\mathrm{TPOT}$ of the two shapes.",
        ),
        numeric(
            f"{SETTING}. With PP = 2 and TP = 16 (TP across two nodes), what is the TPOT in ms?",
            1e3 * p2.serving.tpot,
            rel_tol=0.05,
            correct_feedback="Right: every layer's two all-reduces pay the network's latency "
            "on every ring step.",
            wrong_feedback="Chapter 6's serve(): $\\mathrm{TPOT} = k \\times$ period, with $k = p$ "
            "batches in flight.",
        ),
        numeric(
            f"{SETTING}. One replica of PP = 1, TP = 8 (one node), 90 % of each GPU's memory "
            "usable (10 % reserve): at most how many sequences of 1,280 tokens does its KV "
            "cache hold?",
            cs.capacity(r["PP1 TP8 x4"]).max_seqs,
            correct_feedback="Right: 175 B bf16 weights take most of a node; what is left holds "
            "few sequences. Deeper pipelines across nodes hold far more.",
            wrong_feedback="Budget minus weights per GPU, over KV bytes per sequence per GPU.",
        ),
        numeric(
            "The published GPT-3 175B training run of Korthikanti et al. (64 A100 80GB, 64 "
            f"sequences of 2,048 tokens per step, a measured step of {train['measured_step']:.2f} "
            "s): how many days would 300 billion tokens take?",
            train["days_measured"],
            rel_tol=0.03,
            correct_feedback="Right: $3 \\times 10^{11} / (64 \\times 2048)$ steps times the "
            "step time: a year on 64 GPUs, which is why GPT-3 was trained on thousands.",
            wrong_feedback="days $=$ tokens $/ (G\\,s) \\times$ step time $/ 86400$.",
        ),
        multiple_choice(
            f"{SETTING}. Why is PP = 16, TP = 2 the slowest of the TP-within-a-node shapes?",
            [
                choice(
                    "Its bubble is 35 %.",
                    False,
                    "Not with the continuous batching timed here: its bubble is a few percent. "
                    "35 % is the note's formula, right only for a static engine that flushes every "
                    "token.",
                ),
                choice(
                    "Its 32 requests are split into 16 batches of 2, so each read of the weights "
                    "serves only 2 tokens.",
                    True,
                    "Right: decode is memory-bound; throughput follows tokens per weight read.",
                ),
                choice("Its weights do not fit.", False, "It fits easily."),
            ],
        ),
        multiple_choice(
            f"{SETTING}. The note prints a bubble of about 10 % for PP = 4, TP = 8. For which "
            "serving engine is that number right?",
            [
                choice(
                    "A static engine that flushes the pipeline every token and splits the batch "
                    "of 32 into 32 micro-batches of one request.",
                    True,
                    f"Right: that is the note's own formula $(p-1)/(p-1+M)$ with $M = 32$, "
                    f"{eng['note']:.1%}; timed with the hops, {eng['static, M = batch']:.1%}.",
                ),
                choice(
                    "Continuous batching with 4 batches in flight (vLLM V1, SGLang).",
                    False,
                    f"No: the loop is never flushed and 4 balanced batches keep the stages busy; "
                    f"the bubble is {eng['continuous']:.1%} (vLLM V1 does not balance them "
                    "exactly, so somewhat more in practice, but not 10 %).",
                ),
                choice(
                    "FasterTransformer as it runs (flush every token, micro-batches of 8).",
                    False,
                    f"No: 4 micro-batches of 8 per token step leave {eng['static']:.1%} idle, "
                    "about $(p-1)/(m+p-1) = 3/7$: far more than 10 %.",
                ),
                choice(
                    "None: the number comes from nowhere.",
                    False,
                    f"No: it is the note's section-2 GPipe formula with $M = 32$, "
                    f"{eng['note']:.1%}, rounded up.",
                ),
            ],
        ),
    ]
