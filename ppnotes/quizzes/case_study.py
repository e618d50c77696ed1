"""Chapter 8 quiz: the GPT-3 175B case (实际案例分析), recomputed."""

from __future__ import annotations

from .. import case_study as cs
from ..quiz import choice, en_zh, multiple_choice, numeric

SETTING = (
    "GPT-3 175B in bf16 on 4 DGX A100 80GB nodes (32 GPUs, NVLink inside, one HDR card per "
    "GPU), 32 concurrent requests of 1,024 prompt + 256 output tokens"
)
SETTING_ZH = (
    "GPT-3 175B（bf16）部署在 4 台 DGX A100 80GB 上（32 张 GPU，节点内 NVLink，每张 GPU "
    "一块 HDR 网卡），32 个并发请求，每个请求 1024 个 prompt token、256 个输出 token"
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
            en_zh(
                f"{SETTING}. With PP = 4 and TP = 8 (4 batches in flight), what share of one "
                "decode period is the bubble (idle stage time), in percent?",
                f"{SETTING_ZH}。PP = 4、TP = 8（流水线里同时有 4 个 batch）时，一个 decode 周期里"
                "气泡（stage 空闲的时间）占多少？用百分数作答。",
            ),
            100 * p4.bubble,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: with $k = p$ balanced batches in flight (continuous batching, an "
                "idealisation of vLLM V1) every stage is almost always busy.",
                "对：流水线里同时有 $k = p$ 个均衡的 batch（连续批处理，是对 vLLM V1 的理想化），"
                "每个 stage 几乎一直在忙。",
            ),
            wrong_feedback=en_zh(
                "Bubble $= 1 - \\bar d / P$: mean stage time over the period.",
                "气泡 $= 1 - \\bar d / P$：stage 的平均耗时除以周期。",
            ),
            traps=[
                (
                    10,
                    en_zh(
                        "That is the note's printed number: its formula for a static engine "
                        "with 32 micro-batches of one, not for $k = p$ batches in flight.",
                        "这是原笔记印出来的数：它的公式算的是静态批处理引擎、32 个大小为 1 的"
                        "微批次，不是流水线里同时有 $k = p$ 个 batch 的情况。",
                    ),
                ),
                (
                    100 * eng["note"],
                    en_zh(
                        "That is the note's formula $(p-1)/(p-1+M)$ with $M = 32$: a static "
                        "engine that flushes every token, not continuous batching.",
                        "这是原笔记的公式 $(p-1)/(p-1+M)$ 取 $M = 32$：对应每个 token 都做一次"
                        "流水线刷新（flush）的静态批处理引擎，不是连续批处理。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                f"{SETTING}. FasterTransformer serves PP = 4, TP = 8 as a static batch that "
                f"flushes the pipeline every token, in micro-batches of {ft.local} sequences "
                f"($m$ = {ft.microbatches} per token step). What share of the stages' time is "
                "idle, in percent?",
                f"{SETTING_ZH}。FasterTransformer 用静态批处理跑 PP = 4、TP = 8，每个 token 都"
                f"刷新一次流水线，每个微批次 {ft.local} 条序列（每个 token 步 $m$ = "
                f"{ft.microbatches}）。stage 的时间里空闲占多少？用百分数作答。",
            ),
            100 * ft.bubble,
            abs_tol=1.0,
            correct_feedback=en_zh(
                "Right: each token step is a GPipe forward pass with $m = 4$, about "
                "$(p-1)/(m+p-1) = 3/7$, plus the hops.",
                "对：每个 token 步就是一次 $m = 4$ 的 GPipe 前向，约 $(p-1)/(m+p-1) = 3/7$，"
                "再加上跨 stage 的跳。",
            ),
            wrong_feedback=en_zh(
                "A flush per token: step $= \\sum_s d_s + (m-1) \\max_s d_s$ + hops, busy time "
                "$m\\,d_s$ per stage; with equal stages $(p-1)/(m+p-1)$.",
                "每个 token 刷新一次：一步 $= \\sum_s d_s + (m-1) \\max_s d_s$ 加上跳的时间，"
                "每个 stage 的忙碌时间是 $m\\,d_s$；stage 均等时就是 $(p-1)/(m+p-1)$。",
            ),
            traps=[
                (
                    100 * eng["note"],
                    en_zh(
                        "That is the note's formula with $M = 32$ micro-batches of one; "
                        "FasterTransformer uses 4 micro-batches of 8.",
                        "这是原笔记的公式，取 $M = 32$ 个大小为 1 的微批次；FasterTransformer "
                        "用的是 4 个大小为 8 的微批次。",
                    ),
                ),
                (
                    100 * eng["continuous"],
                    en_zh(
                        "That is continuous batching with 4 batches in flight; a static engine "
                        "flushes every token.",
                        "这是连续批处理、流水线里同时有 4 个 batch 的情况；静态批处理引擎每个 "
                        "token 都要刷新流水线。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                f"{SETTING}. With PP = 4 and TP = 8, what share of the decode period do the "
                "tensor-parallel all-reduces take, in percent?",
                f"{SETTING_ZH}。PP = 4、TP = 8 时，张量并行的 all-reduce 占 decode 周期的多少？"
                "用百分数作答。",
            ),
            100 * p4.tp_comm,
            abs_tol=1.0,
            correct_feedback=en_zh(
                "Right: two all-reduces per layer over 8 GPUs, each mostly NCCL's fixed cost "
                "per call for a batch of 8 tokens; the note's 8 % is close.",
                "对：每层两次 8 卡 all-reduce，batch 只有 8 个 token，每次的耗时主要是 NCCL "
                "每次调用的固定开销；原笔记的 8 % 很接近。",
            ),
            wrong_feedback=en_zh(
                "Sum the TP all-reduce time of a stage and divide by the period.",
                "把一个 stage 的 TP all-reduce 时间加起来，再除以周期。",
            ),
            traps=[(8, en_zh("That is the note's printed number.", "这是原笔记印出来的数。"))],
        ),
        numeric(
            en_zh(
                f"{SETTING}. How many times more output tokens/s does PP = 4, TP = 8 give than "
                "PP = 16, TP = 2?",
                f"{SETTING_ZH}。PP = 4、TP = 8 每秒输出的 token 数是 PP = 16、TP = 2 的多少倍？",
            ),
            ratio,
            rel_tol=0.05,
            correct_feedback=en_zh(
                "Right: PP16 splits the 32 requests into 16 batches of 2, so every weight read "
                "serves 2 tokens instead of 8. The bubble is not the reason.",
                "对：PP16 把 32 个请求拆成 16 个大小为 2 的 batch，每读一遍权重只产出 2 个 "
                "token，而不是 8 个。原因不在气泡。",
            ),
            wrong_feedback=en_zh(
                "Compare $R / \\mathrm{TPOT}$ of the two shapes.",
                "比较两种配置的 $R / \\mathrm{TPOT}$。",
            ),
        ),
        numeric(
            en_zh(
                f"{SETTING}. With PP = 2 and TP = 16 (TP across two nodes), what is the TPOT "
                "in ms?",
                f"{SETTING_ZH}。PP = 2、TP = 16（TP 跨两个节点）时，每输出 token 延迟（TPOT）"
                "是多少毫秒？",
            ),
            1e3 * p2.serving.tpot,
            rel_tol=0.05,
            correct_feedback=en_zh(
                "Right: every layer's two all-reduces pay the network's latency on every ring "
                "step.",
                "对：每层两次 all-reduce，环上的每一步都要付网络的延迟。",
            ),
            wrong_feedback=en_zh(
                "Chapter 6's serve(): $\\mathrm{TPOT} = k \\times$ period, with $k = p$ batches "
                "in flight.",
                "第 6 章的 serve()：$\\mathrm{TPOT} = k \\times$ 周期，流水线里同时有 $k = p$ "
                "个 batch。",
            ),
        ),
        numeric(
            en_zh(
                f"{SETTING}. One replica of PP = 1, TP = 8 (one node), 90 % of each GPU's "
                "memory usable (10 % reserve): at most how many sequences of 1,280 tokens does "
                "its KV cache hold?",
                f"{SETTING_ZH}。一个 PP = 1、TP = 8 的副本（一个节点），每张 GPU 的显存可用 "
                "90 %（留 10 % 余量）：它的 KV cache 最多能放多少条 1280 个 token 的序列？",
            ),
            cs.capacity(r["PP1 TP8 x4"]).max_seqs,
            correct_feedback=en_zh(
                "Right: 175 B bf16 weights take most of a node; what is left holds few "
                "sequences. Deeper pipelines across nodes hold far more.",
                "对：1750 亿个 bf16 参数占掉一个节点的大部分显存，剩下的放不了几条序列。"
                "跨节点的更深流水线能放得多得多。",
            ),
            wrong_feedback=en_zh(
                "Budget minus weights per GPU, over KV bytes per sequence per GPU.",
                "每张 GPU 的显存预算减去权重，再除以每条序列在每张 GPU 上的 KV 字节数。",
            ),
        ),
        numeric(
            en_zh(
                "The published GPT-3 175B training run of Korthikanti et al. (64 A100 80GB, 64 "
                "sequences of 2,048 tokens per step, a measured step of "
                f"{train['measured_step']:.2f} s): how many days would 300 billion tokens take?",
                "Korthikanti 等人发表的 GPT-3 175B 训练运行（64 张 A100 80GB，每步 64 条 2048 "
                f"个 token 的序列，实测每步 {train['measured_step']:.2f} 秒）：训练 3000 亿个 "
                "token 要多少天？",
            ),
            train["days_measured"],
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: $3 \\times 10^{11} / (64 \\times 2048)$ steps times the step time: a "
                "year on 64 GPUs, which is why GPT-3 was trained on thousands.",
                "对：$3 \\times 10^{11} / (64 \\times 2048)$ 步乘以每步时间：64 张卡要一年，"
                "所以 GPT-3 是在几千张卡上训练的。",
            ),
            wrong_feedback=en_zh(
                "days $=$ tokens $/ (G\\,s) \\times$ step time $/ 86400$.",
                "天数 $=$ token 数 $/ (G\\,s) \\times$ 每步时间 $/ 86400$。",
            ),
        ),
        multiple_choice(
            en_zh(
                f"{SETTING}. Why is PP = 16, TP = 2 the slowest of the TP-within-a-node shapes?",
                f"{SETTING_ZH}。在 TP 不出节点的几种配置里，为什么 PP = 16、TP = 2 最慢？",
            ),
            [
                choice(
                    en_zh("Its bubble is 35 %.", "它的气泡有 35 %。"),
                    False,
                    en_zh(
                        "Not with the continuous batching timed here: its bubble is a few "
                        "percent. 35 % is the note's formula, right only for a static engine "
                        "that flushes every token.",
                        "这里计时的是连续批处理，它的气泡只有百分之几。35 % 是原笔记的公式，"
                        "只对每个 token 都刷新流水线的静态批处理引擎成立。",
                    ),
                ),
                choice(
                    en_zh(
                        "Its 32 requests are split into 16 batches of 2, so each read of the "
                        "weights serves only 2 tokens.",
                        "32 个请求被拆成 16 个大小为 2 的 batch，每读一遍权重只产出 2 个 token。",
                    ),
                    True,
                    en_zh(
                        "Right: decode is memory-bound; throughput follows tokens per weight read.",
                        "对：解码（decode）是访存受限的，吞吐量取决于每读一遍权重产出几个 token。",
                    ),
                ),
                choice(
                    en_zh("Its weights do not fit.", "它的权重放不下。"),
                    False,
                    en_zh("It fits easily.", "完全放得下。"),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                f"{SETTING}. The note prints a bubble of about 10 % for PP = 4, TP = 8. For "
                "which serving engine is that number right?",
                f"{SETTING_ZH}。原笔记给 PP = 4、TP = 8 印的气泡约 10 %。这个数对哪种推理引擎"
                "成立？",
            ),
            [
                choice(
                    en_zh(
                        "A static engine that flushes the pipeline every token and splits the "
                        "batch of 32 into 32 micro-batches of one request.",
                        "每个 token 都刷新流水线、并把 32 个请求拆成 32 个单请求微批次的静态"
                        "批处理引擎。",
                    ),
                    True,
                    en_zh(
                        "Right: that is the note's own formula $(p-1)/(p-1+M)$ with $M = 32$, "
                        f"{eng['note']:.1%}; timed with the hops, "
                        f"{eng['static, M = batch']:.1%}.",
                        "对：这正是原笔记自己的公式 $(p-1)/(p-1+M)$ 取 $M = 32$，"
                        f"{eng['note']:.1%}；把跳也计进去是 {eng['static, M = batch']:.1%}。",
                    ),
                ),
                choice(
                    en_zh(
                        "Continuous batching with 4 batches in flight (vLLM V1, SGLang).",
                        "连续批处理，流水线里同时有 4 个 batch（vLLM V1、SGLang）。",
                    ),
                    False,
                    en_zh(
                        "No: the loop is never flushed and 4 balanced batches keep the stages "
                        f"busy; the bubble is {eng['continuous']:.1%} (vLLM V1 does not balance "
                        "them exactly, so somewhat more in practice, but not 10 %).",
                        "不对：循环从不刷新，4 个均衡的 batch 让各 stage 一直有活，气泡是 "
                        f"{eng['continuous']:.1%}（vLLM V1 并不会把它们分得完全均衡，实际会多"
                        "一些，但到不了 10 %）。",
                    ),
                ),
                choice(
                    en_zh(
                        "FasterTransformer as it runs (flush every token, micro-batches of 8).",
                        "FasterTransformer 的实际做法（每个 token 刷新一次，微批次大小为 8）。",
                    ),
                    False,
                    en_zh(
                        f"No: 4 micro-batches of 8 per token step leave {eng['static']:.1%} "
                        "idle, about $(p-1)/(m+p-1) = 3/7$: far more than 10 %.",
                        "不对：每个 token 步 4 个大小为 8 的微批次，空闲 "
                        f"{eng['static']:.1%}，约 $(p-1)/(m+p-1) = 3/7$，远多于 10 %。",
                    ),
                ),
                choice(
                    en_zh(
                        "None: the number comes from nowhere.",
                        "哪种都不对：这个数没有来由。",
                    ),
                    False,
                    en_zh(
                        "No: it is the note's section-2 GPipe formula with $M = 32$, "
                        f"{eng['note']:.1%}, rounded up.",
                        "不对：它就是原笔记第 2 节的 GPipe 公式取 $M = 32$ 得到的 "
                        f"{eng['note']:.1%}，向上取整。",
                    ),
                ),
            ],
        ),
    ]
