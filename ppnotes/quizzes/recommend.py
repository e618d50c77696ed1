"""Chapter 9 quiz: a review of the whole book (优化建议), every answer computed."""

from __future__ import annotations

from .. import bubble, comm, inference, memory, partition
from .. import case_study as cs
from .. import perf_model as pm
from .. import recommend as rc
from ..glue import count
from ..hardware import IB_HDR, MiB
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, en_zh, multiple_choice, numeric
from ..runs import get_run

A100 = pm.CLUSTERS["DGX A100 80GB + HDR"]
H100 = pm.CLUSTERS["DGX H100 + NDR"]


def serving_workload() -> rc.Workload:
    """Llama 3 70B at 5,000 output tokens/s, TTFT ≤ 1 s, TPOT ≤ 50 ms, on <= 64 H100s."""
    return rc.Workload("serve", 64, load=5000, ttft=1.0, tpot=0.05)


def questions() -> list[dict]:
    """The review quiz: at least one computed question per chapter, 1 to 9."""
    hop = comm.activation_bytes_per_hop(GPT3_175B, 1, 2048)
    kv = memory.kv_cache_bytes_per_token(GPT3_175B)
    rec = rc.recommend(LLAMA3_70B, H100, serving_workload())
    train = rc.recommend(GPT3_175B, A100, rc.Workload("train", 1024, 1536))
    srv = inference.serve(LLAMA3_70B, H100, 8, 1, 32, 1024, 256)
    rows = {r.label: r for r in cs.all_rows()}
    ib_bw, ib_us = IB_HDR.achievable_bandwidth / 1e9, IB_HDR.latency * 1e6
    return [
        numeric(
            en_zh(
                "Chapter 1. 64 GPUs, tensor parallelism t = 8, data parallelism d = 2: what is "
                "the pipeline depth p?",
                "第 1 章。64 张 GPU，张量并行 t = 8，数据并行 d = 2：流水线深度 p 是多少？",
            ),
            partition.depth_from_gpus(64, 8, 2),
            correct_feedback=en_zh("Right: $p = N / (t\\,d)$.", "对：$p = N / (t\\,d)$。"),
            wrong_feedback=en_zh("$N = t\\,p\\,d$.", "用 $N = t\\,p\\,d$。"),
        ),
        numeric(
            en_zh(
                "Chapter 2. 1F1B with p = 8 stages and m = 32 micro-batches: what is the bubble "
                "share of the step, in percent?",
                "第 2 章。1F1B，p = 8 个 stage，m = 32 个微批次：气泡占一步的多少？用百分数作答。",
            ),
            100 * bubble.bubble_fraction(8, 32),
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $(p-1)/(m+p-1) = 7/39$.", "对：$(p-1)/(m+p-1) = 7/39$。"
            ),
            wrong_feedback=en_zh(
                "Bubble fraction $(p-1)/(m+p-1)$.", "气泡占比是 $(p-1)/(m+p-1)$。"
            ),
            traps=[
                (
                    100 * 7 / 32,
                    en_zh(
                        "That is the ratio $(p-1)/m$, not the share of the step.",
                        "这是气泡比 $(p-1)/m$，不是占一步的比例。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Chapter 2. The same p = 8, m = 32 with the interleaved schedule, v = 4 chunks "
                "per GPU: the bubble share, in percent?",
                "第 2 章。同样 p = 8、m = 32，改用交错式 1F1B，每张 GPU v = 4 个模型块："
                "气泡占比是多少？用百分数作答。",
            ),
            100 * bubble.bubble_fraction(8, 32, 4),
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $(p-1)/(v\\,m+p-1) = 7/135$.", "对：$(p-1)/(v\\,m+p-1) = 7/135$。"
            ),
            wrong_feedback=en_zh(
                "Interleaving divides the bubble's weight by v: $(p-1)/(v\\,m+p-1)$.",
                "交错式 1F1B 把气泡的权重除以 v：$(p-1)/(v\\,m+p-1)$。",
            ),
            # No whole-percent rounding here: the ratio 7/128 rounds to the same 5 % (issue 22).
            traps=[
                (
                    100 * bubble.bubble_ratio(8, 32, 4),
                    en_zh(
                        "That is $(p-1)/(v\\,m) = 7/128$, idle over ideal time, not the share "
                        "of the step.",
                        "这是 $(p-1)/(v\\,m) = 7/128$，空闲时间除以理想时间，不是占一步的比例。",
                    ),
                ),
                (
                    round(100 * bubble.bubble_fraction(8, 32, 4)),
                    en_zh(
                        "Give one decimal: both $7/135$ (the share of the step) and $7/128$ "
                        "(idle over ideal time) round to this whole percent.",
                        "请保留一位小数：$7/135$（占一步的比例）和 $7/128$（空闲时间除以理想"
                        "时间）取整后都是这个整数百分比。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "Chapter 3. GPT-3 175B (h = 12,288), one micro-batch of 1 sequence of 2,048 "
                "tokens in bf16: how many MiB ($2^{20}$ bytes) cross one stage boundary, "
                "forward?",
                "第 3 章。GPT-3 175B（h = 12288），一个微批次是 1 条 2048 个 token 的序列，bf16："
                "前向时一个 stage 边界传多少 MiB（$2^{20}$ 字节）？",
            ),
            hop / MiB,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $b\\,s\\,h \\times 2$ bytes.", "对：$b\\,s\\,h \\times 2$ 字节。"
            ),
            wrong_feedback=en_zh(
                "$b\\,s\\,h$ values of 2 bytes.", "$b\\,s\\,h$ 个值，每个 2 字节。"
            ),
            traps=[
                (
                    hop / 1e6,
                    en_zh(
                        "That is in MB ($10^6$ bytes); the question asks for MiB ($2^{20}$ "
                        "bytes), as in chapter 3.",
                        "这是以 MB（$10^6$ 字节）计的；题目要的是 MiB（$2^{20}$ 字节），和第 3 章"
                        "一致。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                f"Chapter 3. That hop over one InfiniBand HDR card ({ib_bw:.0f} GB/s "
                f"achievable, {ib_us:.0f} µs latency): how many ms?",
                f"第 3 章。这一跳走一块 InfiniBand HDR 网卡（实测可达带宽 {ib_bw:.0f} GB/s，"
                f"延迟 {ib_us:.0f} 微秒）：要多少毫秒？",
            ),
            1e3 * comm.transfer_time(hop, IB_HDR),
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: latency plus bytes over the achievable bandwidth.",
                "对：延迟加上字节数除以实测可达带宽。",
            ),
            wrong_feedback=en_zh(
                "$T = \\alpha + \\text{bytes} / B$: latency plus bytes over bandwidth.",
                "$T = \\alpha + \\text{bytes} / B$：延迟加上字节数除以带宽。",
            ),
        ),
        numeric(
            en_zh(
                "Chapter 4. Mixed-precision Adam training (bf16 weights, fp32 gradients, fp32 "
                "master weights and two moments), no sharding: how many bytes per parameter?",
                "第 4 章。混合精度 Adam 训练（bf16 权重、fp32 梯度、fp32 主权重和两个矩），"
                "不做分片：每个参数占多少字节？",
            ),
            sum(memory.training_bytes_per_param().values()),
            correct_feedback=en_zh("Right: 2 + 4 + 12 = 18.", "对：2 + 4 + 12 = 18。"),
            wrong_feedback=en_zh(
                "Add weights, gradients and optimizer state.", "把权重、梯度和优化器状态加起来。"
            ),
            traps=[
                (
                    16,
                    en_zh(
                        "That uses bf16 gradients (the ZeRO paper's 16).",
                        "这是按 bf16 梯度算的（ZeRO 论文里的 16）。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Chapter 4. GPT-3 175B (96 layers, 96 heads of 128, no grouped-query "
                "attention): how many MiB ($2^{20}$ bytes) of bf16 KV cache per token?",
                "第 4 章。GPT-3 175B（96 层，96 个 128 维的头，没有分组查询注意力）：每个 token "
                "的 bf16 KV cache 是多少 MiB（$2^{20}$ 字节）？",
            ),
            kv / MiB,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $2 \\times 96 \\times 12288 \\times 2$ bytes.",
                "对：$2 \\times 96 \\times 12288 \\times 2$ 字节。",
            ),
            wrong_feedback=en_zh(
                "K and V, per layer, per KV head, per head dimension, 2 bytes.",
                "K 和 V，每层、每个 KV 头、每个头维度，各 2 字节。",
            ),
            traps=[
                (
                    kv / 1e6,
                    en_zh(
                        "That is in MB ($10^6$ bytes); the question asks for MiB ($2^{20}$ "
                        "bytes), as in chapter 4.",
                        "这是以 MB（$10^6$ 字节）计的；题目要的是 MiB（$2^{20}$ 字节），和第 4 章"
                        "一致。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Chapter 5. The published GPT-3 175B run (Korthikanti et al.: 64 A100 80GB, "
                "t = 8, p = 8, interleaved with v = 3, sequence parallelism, selective "
                "recomputation, micro-batch 1, G = 64 sequences of 2,048 tokens): the model's "
                "predicted step time in seconds?",
                "第 5 章。已发表的 GPT-3 175B 训练运行（Korthikanti 等人：64 张 A100 80GB，"
                "t = 8，p = 8，交错式 1F1B、v = 3，序列并行（SP），选择性激活重计算，微批次大小 1，"
                "G = 64 条 2048 个 token 的序列）：性能模型预测的每步时间是多少秒？",
            ),
            pm.predict_run(get_run(cs.TRAIN_RUN)).step_time,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: within a few percent of the measured step.",
                "对：和实测的每步时间只差百分之几。",
            ),
            wrong_feedback=en_zh(
                "perf_model.predict_run on the published run.",
                "对这次已发表的运行调用 perf_model.predict_run。",
            ),
        ),
        numeric(
            en_zh(
                "Chapter 6. Llama 3 70B in bf16 on one DGX H100 (t = 8, p = 1), 32 concurrent "
                "requests of 1,024 prompt + 256 output tokens: TPOT in ms?",
                "第 6 章。Llama 3 70B（bf16）跑在一台 DGX H100 上（t = 8，p = 1），32 个并发请求，"
                "每个 1024 个 prompt token、256 个输出 token："
                "每输出 token 延迟（TPOT）是多少毫秒？",
            ),
            1e3 * srv.tpot,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: one pass over the weights and the KV cache per token.",
                "对：每个 token 要把权重和 KV cache 完整读一遍。",
            ),
            wrong_feedback=en_zh("inference.serve(...).tpot.", "用 inference.serve(...).tpot。"),
        ),
        numeric(
            en_zh(
                "Chapter 6. The note's section 6 rule for a batch of 32: the deepest pipeline "
                "it allows?",
                "第 6 章。按原笔记第 6 节的规则，batch 为 32 时最深允许多深的流水线？",
            ),
            inference.note_recommended_pp(32)[1],
            correct_feedback=en_zh(
                "Right: PP 2-4 for batches up to 32.", "对：batch 不超过 32 时 PP 取 2～4。"
            ),
            wrong_feedback=en_zh(
                "Batch ≤ 8: 1-2; ≤ 32: 2-4; else 4-8.",
                "batch ≤ 8：1～2；≤ 32：2～4；更大：4～8。",
            ),
        ),
        numeric(
            en_zh(
                "Chapter 7. The planner on GPT-3 175B, 1,024 A100 80GB, G = 1,536 sequences of "
                "2,048 tokens, micro-batches up to 4: the pipeline depth of its fastest "
                "configuration?",
                "第 7 章。规划器求解 GPT-3 175B，1024 张 A100 80GB，G = 1536 条 2048 个 token 的"
                "序列，微批次大小最多 4：最快配置的流水线深度是多少？",
            ),
            train.p,
            correct_feedback=en_zh(
                "Right: deeper than the smallest depth that fits.",
                "对：比放得下的最小深度更深。",
            ),
            wrong_feedback=en_zh(
                "optimum.plan_training(...).best.candidate.p.",
                "看 optimum.plan_training(...).best.candidate.p。",
            ),
        ),
        numeric(
            en_zh(
                "Chapter 7. Same planner run: how many days would 300 billion tokens take at "
                "its fastest configuration's step time?",
                "第 7 章。同一次规划：按最快配置的每步时间，训练 3000 亿个 token 要多少天？",
            ),
            cs.days_to_train(train.plan.best.step_time, 1536, 2048),
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: about three weeks on 1,024 A100s.",
                "对：1024 张 A100 上大约三周。",
            ),
            wrong_feedback=en_zh(
                "$3 \\times 10^{11} / (G\\,s)$ steps $\\times$ step time $/ 86400$.",
                "$3 \\times 10^{11} / (G\\,s)$ 步 $\\times$ 每步时间 $/ 86400$。",
            ),
        ),
        numeric(
            en_zh(
                "Chapter 8. GPT-3 175B on 32 A100 80GB, 32 requests of 1,024 + 256 tokens: how "
                "many times more tokens/s does PP = 4, TP = 8 give than PP = 2, TP = 16?",
                "第 8 章。GPT-3 175B 跑在 32 张 A100 80GB 上，32 个请求，每个 1024 + 256 个 "
                "token：PP = 4、TP = 8 每秒的 token 数是 PP = 2、TP = 16 的多少倍？",
            ),
            rows["PP4 TP8"].tokens_per_s / rows["PP2 TP16"].tokens_per_s,
            rel_tol=0.05,
            correct_feedback=en_zh(
                "Right: TP across nodes pays the network on every all-reduce.",
                "对：TP 跨节点后，每次 all-reduce 都要走网络。",
            ),
            wrong_feedback=en_zh(
                "Compare the two shapes' tokens/s.", "比较两种配置每秒的 token 数。"
            ),
        ),
        numeric(
            en_zh(
                "Chapter 9. The note's rule keeps the bubble below 20 %. With 1F1B at p = 16, "
                "how many micro-batches does it need at least?",
                "第 9 章。原笔记的规则要求气泡低于 20 %。1F1B、p = 16 时至少需要多少个微批次？",
            ),
            bubble.microbatches_for_bubble(16, rc.NOTE_BUBBLE_TARGET),
            correct_feedback=en_zh(
                "Right: $m \\ge (p-1)(1-0.2)/0.2 = 4(p-1)$.",
                "对：$m \\ge (p-1)(1-0.2)/0.2 = 4(p-1)$。",
            ),
            wrong_feedback=en_zh(
                "Solve $(p-1)/(m+p-1) \\le 0.2$ for m.", "解 $(p-1)/(m+p-1) \\le 0.2$，求 m。"
            ),
        ),
        numeric(
            en_zh(
                "Chapter 9. The same rule at p = 16 with interleaving, v = 2: at least how many "
                "micro-batches (a multiple of p)?",
                "第 9 章。同一条规则，p = 16，改用交错式 1F1B、v = 2：至少需要多少个微批次"
                "（取 p 的倍数）？",
            ),
            bubble.microbatches_for_bubble(16, rc.NOTE_BUBBLE_TARGET, 2),
            correct_feedback=en_zh(
                "Right: interleaving halves the need.", "对：交错式 1F1B 让需要的微批次减半。"
            ),
            wrong_feedback=en_zh(
                "$m \\ge (p-1)(1-0.2)/(0.2\\,v)$, rounded up to a multiple of p.",
                "$m \\ge (p-1)(1-0.2)/(0.2\\,v)$，再向上取到 p 的倍数。",
            ),
        ),
        numeric(
            en_zh(
                "Chapter 9. recommend() for Llama 3 70B in bf16 on DGX H100s (at most 64 GPUs) "
                "at 5,000 output tokens/s, TTFT ≤ 1 s, TPOT ≤ 50 ms, 1,024 + 256-token "
                "requests: how many GPUs?",
                "第 9 章。用 recommend() 为 Llama 3 70B（bf16）在 DGX H100 上（最多 64 张 GPU）"
                "选配置：每秒 5000 个输出 token，首 token 延迟（TTFT）≤ 1 秒，每输出 token 延迟"
                "（TPOT）≤ 50 毫秒，请求是 1024 + 256 个 token：需要多少张 GPU？",
            ),
            rec.t * rec.p * rec.d,
            correct_feedback=en_zh(
                f"Right: {count(rec.d, 'replica')} of t = {rec.t}, p = {rec.p}: with each "
                "request's prefill counted, compute sets the count, not memory, and no replica "
                "runs above 90 % utilisation.",
                f"对：{rec.d} 个 t = {rec.t}、p = {rec.p} 的副本。把每个请求的预填充（prefill）"
                "计入负载后，决定卡数的是算力而不是显存，而且每个副本的利用率都不超过 90 %。",
            ),
            wrong_feedback=en_zh(
                "The planner's fewest-GPU shape under load (serving_plan.plan_serving, prefill "
                "counted, utilisation at most 0.9).",
                "规划器在该负载下用卡最少的配置（serving_plan.plan_serving，计入预填充，"
                "利用率不超过 0.9）。",
            ),
        ),
        multiple_choice(
            en_zh(
                "Chapter 9. Serving with continuous batching, p batches in flight (vLLM V1, "
                "SGLang): which of the note's rules does not hold as stated?",
                "第 9 章。推理服务用连续批处理、流水线里同时有 p 个 batch（vLLM V1、SGLang）："
                "原笔记的哪条规则按字面不成立？",
            ),
            [
                choice(
                    en_zh(
                        "Memory first: every stage must fit.", "显存优先：每个 stage 都要放得下。"
                    ),
                    False,
                    en_zh("That one always holds.", "这一条总是成立。"),
                ),
                choice(
                    en_zh("Keep the bubble below 20 %.", "气泡保持在 20 % 以下。"),
                    True,
                    en_zh(
                        "Right: in decode with p balanced batches in flight the bubble is small "
                        "at any depth (vLLM V1 does not balance them exactly); what a deep "
                        "pipeline costs is smaller batches and hops per token. A static engine "
                        "that flushes every token (FasterTransformer) does pay the bubble "
                        "(chapter 8).",
                        "对：解码（decode）时流水线里有 p 个均衡的 batch，任何深度下气泡都很小"
                        "（vLLM V1 并不会把它们分得完全均衡）；深流水线的代价是 batch 变小、每个 "
                        "token 都要多跳几次。每个 token 都刷新流水线的静态批处理引擎"
                        "（FasterTransformer）才真的要付气泡（第 8 章）。",
                    ),
                ),
                choice(
                    en_zh("Keep TP inside a node.", "TP 放在节点内。"),
                    False,
                    en_zh("That one holds (chapter 8).", "这一条成立（第 8 章）。"),
                ),
            ],
        ),
    ]
