"""Chapter 6 quiz: inference versus training (推理场景的特点)."""

from __future__ import annotations

from .. import hardware as hw
from .. import inference as inf
from .. import perf_model as pm
from .. import serving_queue as sq
from ..models import LLAMA3_70B, LLAMA31_70B
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric

H100 = pm.CLUSTERS["DGX H100 + NDR"]


def weight_read_ms() -> float:
    """Milliseconds to read the weights a Llama 3 70B decode step needs, once, at one H100's
    bandwidth: a per-GPU yardstick (the weights do not fit one H100; t GPUs share the read)."""
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
    caps_zh = "，".join(f"{name} {cap:.1f}" for name, cap in caps.items())
    return [
        numeric(
            en_zh(
                "Take one H100 SXM's bandwidth as a yardstick (3.35 TB/s peak; a streaming "
                "kernel reaches 3.0 TB/s), as if one GPU read all of Llama 3 70B's weights to "
                "decode one sequence (the weights do not fit one H100; in practice the t GPUs "
                "of a replica share the read). Ignoring compute, how many milliseconds does one "
                "token take at least, to read every layer's and the LM head's bf16 weights once "
                "at the achievable bandwidth?",
                "拿一张 H100 SXM 的带宽当标尺（峰值 3.35 TB/s；流式读写的 kernel 能达到 "
                "3.0 TB/s），假设由一张卡读完 Llama 3 70B 的全部权重来解码一个序列（这些权重"
                "一张 H100 放不下，实际上由一个副本的 t 张卡分摊这次读取）。不计计算，"
                "以实测可达带宽把各层和 LM head 的 bf16 权重都读一遍，一个 token 至少要多少毫秒？",
            ),
            read_ms,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: about $2 \\times 70 \\cdot 10^9$ bytes of weights over "
                "3.0 TB/s. At batch 1 decode is a weight read, whatever the FLOP/s.",
                "对：约 $2 \\times 70 \\cdot 10^9$ 字节的权重除以 3.0 TB/s。"
                "batch 为 1 时，解码就是读一遍权重，与算力无关。",
            ),
            wrong_feedback=en_zh(
                "Divide the bytes of the weights a step reads (layers and LM head, "
                "2 bytes each) by the achievable HBM bandwidth.",
                "用一步要读的权重字节数（各层和 LM head，每个权重 2 字节）"
                "除以实测可达的 HBM 带宽。",
            ),
            traps=[
                (
                    read_ms / 2,
                    en_zh(
                        "That is 1 byte per weight; bf16 takes 2.",
                        "这是每个权重 1 字节；bf16 要 2 字节。",
                    ),
                ),
                (
                    read_ms * 3.0 / 3.35,
                    en_zh(
                        "That reads at the data-sheet peak, which no kernel reaches.",
                        "这是按规格书上的峰值读，没有哪个 kernel 能达到。",
                    ),
                ),
                (
                    1e3 * 2 * 70.6e9 / 989e12,
                    en_zh(
                        "That divides FLOPs by the peak: compute, not memory.",
                        "这是用 FLOPs 除以峰值算力：算的是计算，不是访存。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "At t = 8 on H100 SXMs (989 TFLOP/s dense BF16, 3.0 TB/s achievable HBM), from "
                "which decode batch (sequences) does a Llama 3 70B layer's bf16 compute term "
                "exceed its memory term, with a 1-token context (no KV cache) and the book's "
                "efficiency of 0.6?",
                "在 H100 SXM 上，t = 8（稠密 BF16 989 TFLOP/s，HBM 实测可达 3.0 TB/s），"
                "上下文只有 1 个 token（没有 KV cache），按本书的效率 0.6 计算：解码 batch "
                "达到多少个序列时，Llama 3 70B 一层的 bf16 计算时间开始超过访存时间？",
            ),
            cross,
            rel_tol=0.08,
            correct_feedback=en_zh(
                "Right: about $\\text{peak} \\cdot \\eta / \\text{bandwidth} = "
                "989 \\cdot 10^{12} \\times 0.6 / (3.0 \\cdot 10^{12})$. "
                "A long KV cache pushes it further out, or removes it.",
                "对：约为 $\\text{peak} \\cdot \\eta / \\text{bandwidth} = "
                "989 \\cdot 10^{12} \\times 0.6 / (3.0 \\cdot 10^{12})$。"
                "KV cache 很长时，这个拐点会往后推，甚至不存在。",
            ),
            wrong_feedback=en_zh(
                "For $w$ weights, set $2bw/(0.6\\,\\text{peak})$ equal to "
                "$2w/\\text{bandwidth}$ and solve for $b$.",
                "设有 $w$ 个权重，令 $2bw/(0.6\\,\\text{peak})$ 等于 $2w/\\text{bandwidth}$，"
                "解出 $b$。",
            ),
            traps=[
                (
                    989e12 / 3.0e12,
                    en_zh("That forgets the efficiency of 0.6.", "这忘了乘效率 0.6。"),
                )
            ],
        ),
        numeric(
            en_zh(
                "One request is served alone by Llama 3 70B on DGX H100s with t = 8. By what "
                "factor does its time per output token change from p = 1 to p = 4 (TPOT at "
                "p = 4 over TPOT at p = 1), for a 1,024-token prompt and 256 output tokens in "
                "bf16?",
                "Llama 3 70B 在 DGX H100 上只服务一个请求，t = 8，提示词 1024 个 token、"
                "输出 256 个 token，bf16。从 p = 1 到 p = 4，它的每输出 token 延迟（TPOT）"
                "变为原来的多少倍（p = 4 的 TPOT 除以 p = 1 的 TPOT）？",
            ),
            ratio,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: slightly above 1. The four stages read a quarter of the "
                "weights each, one after another; the token also crosses three hops and comes "
                "back. PP never shortens a token.",
                "对：略大于 1。4 个 stage 依次各读四分之一的权重；token 还要跨 3 跳，"
                "再传回来。PP 从不缩短单个 token 的时间。",
            ),
            wrong_feedback=en_zh(
                "The stages run one after another for one request: same weight "
                "reads in total, plus hops.",
                "对单个请求，各个 stage 是依次运行的：读的权重总量不变，还多了几跳通信。",
            ),
            traps=[
                (
                    0.25,
                    en_zh(
                        "That would be reading the four quarters in parallel: TP does that.",
                        "那相当于把四份权重并行地读：这是 TP 做的事。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Four stages take 1, 1, 1.5 and 1 ms per decode step of a batch, with no hop "
                "latency. With k = 4 batches in flight, how many ms pass between two "
                "batch-steps leaving the pipeline in steady state?",
                "4 个 stage 对一个 batch 做一个解码步分别要 1、1、1.5 和 1 毫秒，跳的延迟不计。"
                "有 k = 4 个在途批次时，稳态下相邻两个批次步离开流水线相隔多少毫秒？",
            ),
            period,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: the slowest stage, 1.5 ms, sets the period once $k \\ge p$ "
                f"(with one batch it would be the whole cycle, {period_one:g} ms).",
                "对：$k \\ge p$ 时，周期由最慢的 stage 决定，即 1.5 毫秒"
                f"（只有一个批次时是整个循环，{period_one:g} 毫秒）。",
            ),
            wrong_feedback=en_zh(
                "With $k \\ge p$ the slowest stage is always busy: period $= \\max_s d_s$.",
                "$k \\ge p$ 时最慢的 stage 一直在忙：周期 $= \\max_s d_s$。",
            ),
            traps=[
                (
                    period_one / 4,
                    en_zh(
                        "That is the mean stage: the slowest one sets the pace.",
                        "这是各 stage 的平均值：节奏由最慢的 stage 决定。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Llama 3 70B on H100s (80 GB, 10 % kept in reserve) with t = 8, bf16 weights "
                "and KV cache, sequences of 8,192 tokens. How many times more sequences does "
                "one replica hold in KV cache at p = 4 than at p = 1?",
                "Llama 3 70B 跑在 H100 上（80 GB，留 10 % 余量），t = 8，权重和 KV cache "
                "都是 bf16，每个序列 8192 个 token。p = 4 时一个副本的 KV cache 能放的序列数"
                "是 p = 1 时的多少倍？",
            ),
            cap,
            rel_tol=0.02,
            correct_feedback=en_zh(
                "Right: more than 4 times. The weights per GPU fall 4 times, so "
                "the free memory rises more than 4-fold, and the replica has 4 times the GPUs.",
                "对：超过 4 倍。每张卡上的权重降到 1/4，空出的显存增加不止 4 倍，而副本的 GPU "
                "数又是原来的 4 倍。",
            ),
            wrong_feedback=en_zh(
                "Compute $(0.9 \\times \\text{memory} - \\text{weights per GPU})$ / KV "
                "bytes per sequence per GPU at both depths.",
                "在两种深度下分别计算 $(0.9 \\times \\text{memory} - \\text{weights per GPU})$ / "
                "每个序列在每张卡上的 KV 字节数。",
            ),
            traps=[
                (
                    4.0,
                    en_zh(
                        "Close, but the weights per GPU fall too, so the gain is above $p$.",
                        "接近了，但每张卡上的权重也减少了，所以倍数大于 $p$。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "A 32,768-token prompt goes through Llama 3.1 70B (bf16) on 4 stages "
                "(t = 8, DGX H100). "
                "By what factor does splitting it into 8 chunks shorten the time to first "
                "token?",
                "一个 32768 个 token 的提示词在 4 个 stage 上流过 Llama 3.1 70B（bf16，t = 8，"
                "DGX H100）。把它切成 8 块做分块预填充后，首 token 延迟（TTFT）缩短为原来的 "
                "1/x，x 是多少？",
            ),
            gain,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: the stages work on different chunks at once, as in "
                "chapter 2's forward schedule: $(m+p-1)/(mp)$ of the time instead of 1.",
                "对：各个 stage 同时处理不同的块，就像第 2 章的前向调度：用时是原来的 "
                "$(m+p-1)/(mp)$。",
            ),
            wrong_feedback=en_zh(
                "With $m$ chunks on $p$ stages the prefill takes about $m+p-1$ chunk "
                "times instead of $mp$.",
                "$m$ 块在 $p$ 个 stage 上，预填充约需 $m+p-1$ 个块时间，而不是 $mp$ 个。",
            ),
            traps=[
                (
                    4.0,
                    en_zh(
                        "That is $p$: the fill and drain of the chunks cost some of it.",
                        "这是 $p$：块的填充和排空要吃掉一部分收益。",
                    ),
                )
            ],
        ),
        multiple_choice(
            en_zh(
                "Why do serving engines with PP have no per-step flush bubble, unlike training?",
                "为什么用 PP 的推理服务引擎不像训练那样，每步都有流水线刷新（flush）带来的气泡？",
            ),
            [
                choice(
                    en_zh(
                        "They keep p independent batches in flight and never wait for all of "
                        "them to finish (no optimizer step)",
                        "它们让 p 个独立的批次同时在途，从不等所有批次都做完（没有优化器更新）",
                    ),
                    True,
                    en_zh(
                        "Right: vLLM's `max_concurrent_batches` equals the PP size.",
                        "对：vLLM 的 `max_concurrent_batches` 等于 PP 大小。",
                    ),
                ),
                choice(
                    en_zh(
                        "Decode has no backward pass, so the bubble formula gives zero",
                        "解码没有反向传播，所以气泡公式算出来是零",
                    ),
                    False,
                    en_zh(
                        "A forward-only schedule still has a fill and drain; what removes it "
                        "is never draining.",
                        "只有前向的调度照样有填充和排空；消除气泡的是从不排空。",
                    ),
                ),
                choice(
                    en_zh(
                        "One sequence's tokens are pipelined across the stages",
                        "同一个序列的各个 token 在各 stage 之间流水执行",
                    ),
                    False,
                    en_zh(
                        "Token $j+1$ needs token $j$: one sequence cannot fill the pipeline.",
                        "第 $j+1$ 个 token 要等第 $j$ 个：一个序列填不满流水线。",
                    ),
                ),
            ],
        ),
        many_choice(
            en_zh(
                "Which statements hold for serving a model that fits in one 8-GPU node? "
                "(Select all.)",
                "对于一个 8 卡节点放得下的模型，下面哪些说法在推理服务中成立？（选出所有正确项。）",
            ),
            [
                choice(
                    en_zh(
                        "TP lowers the time per output token at batch 1",
                        "batch 为 1 时，TP 能降低每输出 token 延迟",
                    ),
                    True,
                    en_zh(
                        "Right: the $t$ GPUs read their slices of the weights in parallel.",
                        "对：$t$ 张卡并行地读各自那份权重。",
                    ),
                ),
                choice(
                    en_zh(
                        "PP lowers the time per output token at batch 1",
                        "batch 为 1 时，PP 能降低每输出 token 延迟",
                    ),
                    False,
                    en_zh(
                        "No: the stages run one after another and add hops.",
                        "不能：各个 stage 依次运行，还多了几跳通信。",
                    ),
                ),
                choice(
                    en_zh(
                        "PP can raise throughput by freeing memory for KV cache",
                        "PP 能给 KV cache 腾出显存，从而提高吞吐量",
                    ),
                    True,
                    en_zh(
                        "Right: more sequences fit, and decode is memory-bound.",
                        "对：能放下更多序列，而解码是访存受限的。",
                    ),
                ),
                choice(
                    en_zh(
                        "The note's rule (batch $\\le$ 8: PP 1-2) follows from the bubble",
                        "原笔记的规则（batch $\\le$ 8 时用 PP 1～2）是从气泡推出来的",
                    ),
                    False,
                    en_zh(
                        "Serving has no flush bubble; memory, not batch size, decides.",
                        "推理服务没有流水线刷新带来的气泡；起决定作用的是显存，不是 batch 大小。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B runs as PP4 × TP8 on 32 A100s with continuous batching. Its slowest "
                f"stage spends S = {1e3 * pp4.prefill:.1f} ms prefilling one 1,024-token prompt "
                f"and, at the full batch, {1e3 * per_token:.3f} ms per output token; each "
                f"request wants 256 output tokens. Requests arrive at {LOAD_RATE:g} per second. "
                "What is the replica's utilisation ρ (a fraction, e.g. 0.5)?",
                "GPT-3 175B 在 32 张 A100 上按 PP4 × TP8 部署，使用连续批处理。它最慢的 stage "
                f"预填充一个 1024 个 token 的提示词要 S = {1e3 * pp4.prefill:.1f} 毫秒，满 batch "
                f"时每个输出 token 要 {1e3 * per_token:.3f} 毫秒；每个请求要输出 256 个 token。"
                f"请求以每秒 {LOAD_RATE:g} 个的速率到达。这个副本的利用率 ρ 是多少"
                "（写成小数，例如 0.5）？",
            ),
            rho,
            rel_tol=0.02,
            correct_feedback=en_zh(
                "Right: ρ = λ (S + o P(b)/b). Prefill is part of the load: here "
                f"it is {pp4.prefill / (pp4.prefill + pp4.output * per_token):.0%} of each "
                "request's work on the bottleneck.",
                "对：ρ = λ (S + o P(b)/b)。预填充也是负载：这里它占每个请求在瓶颈 stage 上"
                f"工作量的 {pp4.prefill / (pp4.prefill + pp4.output * per_token):.0%}。",
            ),
            wrong_feedback=en_zh(
                "Each request costs the slowest stage its prompt's prefill S plus "
                "o output tokens at P(b)/b each; multiply by the arrival rate.",
                "每个请求在最慢的 stage 上要花掉提示词的预填充时间 S，再加上 o 个输出 token、"
                "每个 P(b)/b；再乘以到达速率。",
            ),
            traps=[
                (
                    rho_decode,
                    en_zh(
                        "That counts only the decode tokens: the prompt's prefill runs on the "
                        "same stages and is part of the load.",
                        "这只算了解码的 token：提示词的预填充跑在同样的 stage 上，"
                        "也是负载的一部分。",
                    ),
                )
            ],
        ),
        multiple_choice(
            en_zh(
                "Requests of 1,024 + 256 tokens arrive at a rising rate at one 32-GPU replica "
                "of GPT-3 175B (A100 80GB, 4 nodes). Whose TTFT climbs steeply first?",
                "1024 + 256 个 token 的请求以不断升高的速率到达 GPT-3 175B 的一个 32 卡副本"
                "（A100 80GB，4 个节点）。哪种部署方式的 TTFT 最先急剧上升？",
            ),
            [
                choice(
                    name,
                    name == first,
                    (
                        en_zh(
                            f"Right: it has the lowest capacity ({caps_text} requests/s); TTFT "
                            "knees as the utilisation nears 1.",
                            f"对：它的容量最低（每秒请求数：{caps_zh}）；利用率接近 1 时 TTFT "
                            "陡然上升。",
                        )
                        if name == first
                        else en_zh(
                            f"Capacities are {caps_text} requests/s; TTFT knees as the "
                            "utilisation nears 1, so the shape with the lowest capacity knees "
                            "first.",
                            f"各方式的容量（每秒请求数）是 {caps_zh}；利用率接近 1 时 TTFT 陡然"
                            "上升，所以容量最低的方式最先上升。",
                        )
                    ),
                )
                for name in LOAD_SHAPES
            ],
        ),
    ]
