"""Chapter 9 quiz: a review of the whole book (优化建议), every answer computed."""

from __future__ import annotations

from .. import bubble, comm, inference, memory, partition
from .. import case_study as cs
from .. import perf_model as pm
from .. import recommend as rc
from ..glue import count
from ..hardware import IB_HDR
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, multiple_choice, numeric
from ..runs import get_run

A100 = pm.CLUSTERS["DGX A100 80GB + HDR"]
H100 = pm.CLUSTERS["DGX H100 + NDR"]


def serving_workload() -> rc.Workload:
    """Llama 3 70B at 5,000 output tokens/s, TTFT ≤ 1 s, TPOT ≤ 50 ms, on <= 64 H100s."""
    return rc.Workload("serve", 64, load=5000, ttft=1.0, tpot=0.05)


def questions() -> list[dict]:
    """The review quiz: at least one computed question per chapter, 1 to 9."""
    hop = comm.activation_bytes_per_hop(GPT3_175B, 1, 2048)
    rec = rc.recommend(LLAMA3_70B, H100, serving_workload())
    train = rc.recommend(GPT3_175B, A100, rc.Workload("train", 1024, 1536))
    srv = inference.serve(LLAMA3_70B, H100, 8, 1, 32, 1024, 256)
    rows = {r.label: r for r in cs.all_rows()}
    return [
        numeric(
            "Chapter 1. 64 GPUs, tensor parallelism t = 8, data parallelism d = 2: what is the "
            "pipeline depth p?",
            partition.depth_from_gpus(64, 8, 2),
            correct_feedback="Right: $p = N / (t\\,d)$.",
            wrong_feedback="$N = t\\,p\\,d$.",
        ),
        numeric(
            "Chapter 2. 1F1B with p = 8 stages and m = 32 micro-batches: what is the bubble "
            "share of the step, in percent?",
            100 * bubble.bubble_fraction(8, 32),
            rel_tol=0.01,
            correct_feedback="Right: $(p-1)/(m+p-1) = 7/39$.",
            wrong_feedback="Bubble fraction $(p-1)/(m+p-1)$.",
            traps=[(100 * 7 / 32, "That is the ratio $(p-1)/m$, not the share of the step.")],
        ),
        numeric(
            "Chapter 2. The same p = 8, m = 32 with the interleaved schedule, v = 4 chunks per "
            "GPU: the bubble share, in percent?",
            100 * bubble.bubble_fraction(8, 32, 4),
            rel_tol=0.01,
            correct_feedback="Right: $(p-1)/(v\\,m+p-1) = 7/135$.",
            wrong_feedback="Interleaving divides the bubble's weight by v: $(p-1)/(v\\,m+p-1)$.",
            # No whole-percent rounding here: the ratio 7/128 rounds to the same 5 % (issue 22).
            traps=[
                (
                    100 * bubble.bubble_ratio(8, 32, 4),
                    "That is $(p-1)/(v\\,m) = 7/128$, idle over ideal time, not the share of "
                    "the step.",
                ),
                (
                    round(100 * bubble.bubble_fraction(8, 32, 4)),
                    "Give one decimal: both $7/135$ (the share of the step) and $7/128$ (idle "
                    "over ideal time) round to this whole percent.",
                ),
            ],
        ),
        numeric(
            "Chapter 3. GPT-3 175B (h = 12,288), one micro-batch of 1 sequence of 2,048 "
            "tokens in bf16: how many MB (10^6 bytes) cross one stage boundary, forward?",
            hop / 1e6,
            rel_tol=0.01,
            correct_feedback="Right: $b\\,s\\,h \\times 2$ bytes.",
            wrong_feedback="$b\\,s\\,h$ values of 2 bytes.",
        ),
        numeric(
            "Chapter 3. That hop over one InfiniBand HDR card "
            f"({IB_HDR.achievable_bandwidth / 1e9:.0f} GB/s achievable, "
            f"{IB_HDR.latency * 1e6:.0f} µs latency): how many ms?",
            1e3 * comm.transfer_time(hop, IB_HDR),
            rel_tol=0.03,
            correct_feedback="Right: latency plus bytes over the achievable bandwidth.",
            wrong_feedback="$T = \\alpha + \\text{bytes} / B$: latency plus bytes over bandwidth.",
        ),
        numeric(
            "Chapter 4. Mixed-precision Adam training (bf16 weights, fp32 gradients, fp32 "
            "master weights and two moments), no sharding: how many bytes per parameter?",
            sum(memory.training_bytes_per_param().values()),
            correct_feedback="Right: 2 + 4 + 12 = 18.",
            wrong_feedback="Add weights, gradients and optimizer state.",
            traps=[(16, "That uses bf16 gradients (the ZeRO paper's 16).")],
        ),
        numeric(
            "Chapter 4. GPT-3 175B (96 layers, 96 heads of 128, no grouped-query attention): "
            "how many MB (10^6 bytes) of bf16 KV cache per token?",
            memory.kv_cache_bytes_per_token(GPT3_175B) / 1e6,
            rel_tol=0.01,
            correct_feedback="Right: $2 \\times 96 \\times 12288 \\times 2$ bytes.",
            wrong_feedback="K and V, per layer, per KV head, per head dimension, 2 bytes.",
        ),
        numeric(
            "Chapter 5. The published GPT-3 175B run (Korthikanti et al.: 64 A100 80GB, t = 8, "
            "p = 8, interleaved with v = 3, sequence parallelism, selective recomputation, "
            "micro-batch 1, G = 64 sequences of 2,048 tokens): the model's predicted step time "
            "in seconds?",
            pm.predict_run(get_run(cs.TRAIN_RUN)).step_time,
            rel_tol=0.03,
            correct_feedback="Right: within a few percent of the measured step.",
            wrong_feedback="perf_model.predict_run on the published run.",
        ),
        numeric(
            "Chapter 6. Llama 3 70B in bf16 on one DGX H100 (t = 8, p = 1), 32 concurrent "
            "requests of 1,024 prompt + 256 output tokens: TPOT in ms?",
            1e3 * srv.tpot,
            rel_tol=0.03,
            correct_feedback="Right: one pass over the weights and the KV cache per token.",
            wrong_feedback="inference.serve(...).tpot.",
        ),
        numeric(
            "Chapter 6. The note's section 6 rule for a batch of 32: the deepest pipeline it "
            "allows?",
            inference.note_recommended_pp(32)[1],
            correct_feedback="Right: PP 2-4 for batches up to 32.",
            wrong_feedback="Batch ≤ 8: 1-2; ≤ 32: 2-4; else 4-8.",
        ),
        numeric(
            "Chapter 7. The planner on GPT-3 175B, 1,024 A100 80GB, G = 1,536 sequences of "
            "2,048 tokens, micro-batches up to 4: the pipeline depth of its fastest "
            "configuration?",
            train.p,
            correct_feedback="Right: deeper than the smallest depth that fits.",
            wrong_feedback="optimum.plan_training(...).best.candidate.p.",
        ),
        numeric(
            "Chapter 7. Same planner run: how many days would 300 billion tokens take at its "
            "fastest configuration's step time?",
            cs.days_to_train(train.plan.best.step_time, 1536, 2048),
            rel_tol=0.03,
            correct_feedback="Right: about three weeks on 1,024 A100s.",
            wrong_feedback="$3 \\times 10^{11} / (G\\,s)$ steps $\\times$ step time $/ 86400$.",
        ),
        numeric(
            "Chapter 8. GPT-3 175B on 32 A100 80GB, 32 requests of 1,024 + 256 tokens: how many "
            "times more tokens/s does PP = 4, TP = 8 give than PP = 2, TP = 16?",
            rows["PP4 TP8"].tokens_per_s / rows["PP2 TP16"].tokens_per_s,
            rel_tol=0.05,
            correct_feedback="Right: TP across nodes pays the network on every all-reduce.",
            wrong_feedback="Compare the two shapes' tokens/s.",
        ),
        numeric(
            "Chapter 9. The note's rule keeps the bubble below 20 %. With 1F1B at p = 16, how "
            "many micro-batches does it need at least?",
            bubble.microbatches_for_bubble(16, rc.NOTE_BUBBLE_TARGET),
            correct_feedback="Right: $m \\ge (p-1)(1-0.2)/0.2 = 4(p-1)$.",
            wrong_feedback="Solve $(p-1)/(m+p-1) \\le 0.2$ for m.",
        ),
        numeric(
            "Chapter 9. The same rule at p = 16 with interleaving, v = 2: at least how many "
            "micro-batches (a multiple of p)?",
            bubble.microbatches_for_bubble(16, rc.NOTE_BUBBLE_TARGET, 2),
            correct_feedback="Right: interleaving halves the need.",
            wrong_feedback="$m \\ge (p-1)(1-0.2)/(0.2\\,v)$, rounded up to a multiple of p.",
        ),
        numeric(
            "Chapter 9. recommend() for Llama 3 70B in bf16 on DGX H100s (at most 64 GPUs) at "
            "5,000 output tokens/s, TTFT ≤ 1 s, TPOT ≤ 50 ms, 1,024 + 256-token requests: "
            "how many GPUs?",
            rec.t * rec.p * rec.d,
            correct_feedback=f"Right: {count(rec.d, 'replica')} of t = {rec.t}, p = {rec.p}: with "
            "each request's prefill counted, compute sets the count, not memory, and no replica "
            "runs above 90 % utilisation.",
            wrong_feedback="The planner's fewest-GPU shape under load "
            "(serving_plan.plan_serving, prefill counted, utilisation at most 0.9).",
        ),
        multiple_choice(
            "Chapter 9. Serving with continuous batching, p batches in flight (vLLM V1, "
            "SGLang): which of the note's rules does not hold as stated?",
            [
                choice("Memory first: every stage must fit.", False, "That one always holds."),
                choice(
                    "Keep the bubble below 20 %.",
                    True,
                    "Right: in decode with p balanced batches in flight the bubble is small at "
                    "any depth (vLLM V1 does not balance them exactly); what a deep pipeline "
                    "costs is smaller batches and hops per token. A static engine that flushes "
                    "every token (FasterTransformer) does pay the bubble (chapter 8).",
                ),
                choice("Keep TP inside a node.", False, "That one holds (chapter 8)."),
            ],
        ),
    ]
