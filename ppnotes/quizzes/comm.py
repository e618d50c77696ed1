"""Chapter 3 quiz: communication in a pipeline (bytes per hop, critical path, TP vs PP)."""

from __future__ import annotations

from .. import comm
from ..hardware import IB_HDR, NVLINK3, MiB
from ..models import GPT3_175B
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric

HOP_MS = 0.3  # a hop time, ms, typed as an input of the questions below


def questions() -> list[dict]:
    """The chapter 3 quiz; every answer is computed with :mod:`ppnotes.comm`."""
    hop_bytes = comm.activation_bytes_per_hop(GPT3_175B, 1, 2048)
    hop_mib = hop_bytes / MiB
    nic_mib = comm.per_nic_bytes(GPT3_175B, 1, 2048, tensor_parallel=8) / MiB
    gpipe_ms = comm.critical_path_comm_time("gpipe", 8, 32, 1.0, 2.0, HOP_MS)
    note_like_ms = 7 * 32 * HOP_MS  # every forward transfer in a row, the note's picture
    hops_1f1b = comm.critical_path_hops("1f1b", 4, 8)
    hops_gpipe = comm.critical_path_hops("gpipe", 4, 8)
    tp_nv = comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, NVLINK3, 2048)
    tp_ib = comm.tp_comm_time_per_layer(GPT3_175B, 1, 8, IB_HDR, 2048)
    tp_ratio = tp_ib / tp_nv
    blocking_1f1b = comm.blocking_comm_hops("1f1b", 4, 8)
    blocking_il = comm.blocking_comm_hops("interleaved", 4, 8, 2)
    async_il = comm.critical_path_hops("interleaved", 4, 8, 2)
    emb_mib = comm.embedding_allreduce_bytes(GPT3_175B, 8) / MiB
    return [
        numeric(
            en_zh(
                "GPT-3 175B (h = 12288), micro-batch b = 1, sequence s = 2048, 16-bit "
                "activations: how many MiB cross one stage boundary per micro-batch in the "
                "forward pass?",
                "GPT-3 175B（h = 12288），微批次 b = 1，序列长度 s = 2048，16 位激活：前向时每个"
                "微批次有多少 MiB 跨过一个 stage 边界？",
            ),
            hop_mib,
            rel_tol=0.01,
            correct_feedback=en_zh(
                f"Right: $b s h \\times 2$ bytes = {hop_bytes:,.0f} bytes = {hop_mib:g} MiB.",
                f"对：$b s h \\times 2$ 字节 = {hop_bytes:.0f} 字节 = {hop_mib:g} MiB。",
            ),
            wrong_feedback=en_zh(
                "Multiply $b \\cdot s \\cdot h \\cdot 2$ bytes and divide by $2^{20}$.",
                "算出 $b \\cdot s \\cdot h \\cdot 2$ 字节，再除以 $2^{20}$。",
            ),
            traps=[
                (
                    2 * hop_mib,
                    en_zh(
                        "That is forward plus backward; the question asks forward only.",
                        "这是前向加反向；题目只问前向。",
                    ),
                ),
                (
                    nic_mib,
                    en_zh(
                        "That is one card's share with scatter/gather over $t = 8$.",
                        "这是 $t = 8$ 时用 scatter/gather 后一张网卡的份额。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "The same GPT-3 175B activation (h = 12288, b = 1, s = 2048, 16-bit), now with "
                "tensor parallelism t = 8 and Megatron-LM's scatter/gather: how many MiB does "
                "each network card send per micro-batch and boundary, forward?",
                "还是 GPT-3 175B 的这份激活（h = 12288，b = 1，s = 2048，16 位），现在用张量"
                "并行 t = 8 和 Megatron-LM 的 scatter/gather：前向时每张网卡每个微批次、"
                "每个边界发多少 MiB？",
            ),
            nic_mib,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: each rank sends a $1/t$ slice; the receiver all-gathers it over NVLink.",
                "对：每个 rank 发 $1/t$ 的一片；接收端再通过 NVLink 做 all-gather 拼回来。",
            ),
            wrong_feedback=en_zh(
                "Scatter/gather splits $b s h$ into $t$ slices, one per card.",
                "scatter/gather 把 $b s h$ 切成 $t$ 片，每张网卡发一片。",
            ),
            traps=[
                (
                    hop_mib,
                    en_zh(
                        "Without scatter/gather each card would send all of it.",
                        "不用 scatter/gather 时，每张网卡才要发整份。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "A GPipe training step with p = 8 uniform stages and m = 32 micro-batches; each "
                f"transfer over a stage boundary takes {HOP_MS} ms (forward or backward), every "
                "boundary has its own link, and sends are asynchronous (the sender goes on "
                "computing while its message travels). How many ms do the hops add to the step?",
                "GPipe 训练的一个 step，p = 8 个耗时相同的 stage，m = 32 个微批次；每次跨 stage "
                f"边界的传输（前向或反向）要 {HOP_MS} 毫秒，每个边界有自己的链路，发送是异步的"
                "（消息在路上时发送方继续计算）。这些跳一共让 step 变长多少毫秒？",
            ),
            gpipe_ms,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: only the fill and the drain wait for hops, $2 (p - 1)$ of them; every "
                "other transfer overlaps compute on another stage.",
                "对：只有填充和排空要等跳，一共 $2 (p - 1)$ 跳；其余的传输都和别的 stage "
                "上的计算重叠了。",
            ),
            wrong_feedback=en_zh(
                "Follow the critical path: down the stages once at the start and back up once "
                "at the end.",
                "沿着关键路径走：开始时从第一个 stage 往下走一遍，结束时再往回走一遍。",
            ),
            traps=[
                (
                    note_like_ms,
                    en_zh(
                        "That counts every forward transfer one after another, as the note "
                        "does; each boundary is its own link and transfers overlap compute.",
                        "这是像原笔记那样把所有前向传输一个接一个地加起来；其实每个边界有"
                        "自己的链路，传输和计算是重叠的。",
                    ),
                ),
                (
                    7 * HOP_MS,
                    en_zh(
                        "The drain pays $p - 1$ hops too, on the way back.",
                        "排空时往回走，也要付 $p - 1$ 跳。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "1F1B with p = 4 uniform stages and m = 8 micro-batches, asynchronous sends (a "
                "hop delays only its receiver), one link per boundary: how many hop latencies "
                "lie on the critical path of one step?",
                "1F1B，p = 4 个耗时相同的 stage，m = 8 个微批次，发送是异步的（一跳只耽误"
                "接收方），每个边界一条链路：一个 step 的关键路径上有几跳的延迟？",
            ),
            hops_1f1b,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: $2 \\lceil (m + p - 2)(p - 1) / p \\rceil$. The warm-up has no slack, so "
                "steady-state cycles wait for round trips too.",
                "对：$2 \\lceil (m + p - 2)(p - 1) / p \\rceil$。预热（warm-up）没有余量，"
                "所以稳态的每一轮也要等往返。",
            ),
            wrong_feedback=en_zh(
                "Count the round trips on the critical path: every step between actions "
                "crosses a boundary except the turns on one rank.",
                "数关键路径上的往返：相邻动作之间每一步都要跨一个边界，"
                "只有在同一个 rank 上折返的那一步除外。",
            ),
            traps=[
                (
                    hops_gpipe,
                    en_zh(
                        "That is GPipe's $2 (p - 1)$; 1F1B also pays in steady state.",
                        "这是 GPipe 的 $2 (p - 1)$；1F1B 在稳态也要付。",
                    ),
                ),
                (
                    blocking_1f1b,
                    en_zh(
                        "That is the blocking count; here sends are asynchronous.",
                        "这是阻塞发送的跳数；这里发送是异步的。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "The same 1F1B step (p = 4, m = 8, uniform stages), but every rank waits for "
                "its own send to finish before its next action, as Megatron-LM's "
                "non-interleaved 1F1B does (batched send/receive, then wait). How many hop "
                "times does the step gain?",
                "还是这个 1F1B step（p = 4，m = 8，各 stage 耗时相同），但每个 rank 都要等自己"
                "的发送完成才做下一个动作，就像 Megatron-LM 不交错的 1F1B 那样（批量收发，"
                "然后等待完成）。这个 step 多出几跳的时间？",
            ),
            blocking_1f1b,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: $2 m + 2 p - 5$. A middle rank pays one hop after each of its $2 m$ "
                "actions, and the fill and drain add the rest.",
                "对：$2 m + 2 p - 5$。中间的 rank 在自己 $2 m$ 个动作之后各付一跳，"
                "其余的来自填充和排空。",
            ),
            wrong_feedback=en_zh(
                "Count the sends of a middle rank (one after every forward and every "
                "backward), then add the waits of the fill and drain: $2 m + 2 p - 5$.",
                "先数中间 rank 的发送（每次前向、每次反向之后各一次），再加上填充和排空时的"
                "等待：$2 m + 2 p - 5$。",
            ),
            traps=[
                (
                    hops_1f1b,
                    en_zh(
                        "That is the asynchronous critical path.",
                        "这是异步发送时的关键路径。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Interleaved 1F1B, p = 4, v = 2 chunks per rank, m = 8, uniform stages, "
                "backward = 2 x forward, hops shorter than 1/20 of a chunk's forward. How many "
                "more hop times does a step pay with blocking sends than with asynchronous ones?",
                "交错式 1F1B，p = 4，每个 rank 放 v = 2 个模型块，m = 8，各 stage 耗时相同，"
                "反向 = 2 × 前向，一跳不到一个模型块前向时间的 1/20。阻塞发送比异步发送每个 "
                "step 多付几跳的时间？",
            ),
            blocking_il - async_il,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: blocking $(2 v - 1) m + 2 p - 3$ against asynchronous $2 (p v - 1)$. "
                "Interleaving hides the hops only if sends do not block.",
                "对：阻塞是 $(2 v - 1) m + 2 p - 3$，异步是 $2 (p v - 1)$。"
                "只有发送不阻塞，交错式 1F1B 才能把跳藏起来。",
            ),
            wrong_feedback=en_zh(
                "Blocking: $(2 v - 1) m + 2 p - 3$ hops; asynchronous: $2 (p v - 1)$, the fill "
                "and drain of the $p v$ stages. Subtract.",
                "阻塞：$(2 v - 1) m + 2 p - 3$ 跳；异步：$2 (p v - 1)$ 跳，即 $p v$ 个 stage "
                "的填充和排空。两者相减。",
            ),
        ),
        numeric(
            en_zh(
                "GPT-3 175B ties its input and output embeddings (vocabulary V = 50257, "
                "h = 12288). With p > 1 stages and tensor parallelism t = 8, how many MiB of "
                "fp32 embedding gradient does each GPU of the first stage all-reduce with its "
                "peer on the last stage after the flush?",
                "GPT-3 175B 的输入、输出词嵌入是共享的（词表 V = 50257，h = 12288）。p > 1 个 "
                "stage、张量并行 t = 8 时，流水线刷新之后，第一个 stage 的每张 GPU 要和最后一个 "
                "stage 上对应的 GPU 做多少 MiB 的 fp32 词嵌入梯度 all-reduce？",
            ),
            emb_mib,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $V h / t$ values $\\times$ 4 bytes, once per step, outside the pipeline "
                "schedule.",
                "对：$V h / t$ 个值 $\\times$ 4 字节，每个 step 一次，在流水线调度之外。",
            ),
            wrong_feedback=en_zh(
                "Each TP rank holds $V h / t$ of the embedding; its gradient is fp32 (4 bytes "
                "per value).",
                "每个 TP rank 存词嵌入的 $V h / t$ 个值；梯度是 fp32（每个值 4 字节）。",
            ),
            traps=[
                (
                    emb_mib * 8,
                    en_zh(
                        "That is the whole embedding; each TP rank holds $1/t$.",
                        "这是整个词嵌入；每个 TP rank 只存 $1/t$。",
                    ),
                )
            ],
        ),
        multiple_choice(
            en_zh(
                "Sends are asynchronous (a hop delays only its receiver) and stages uniform. Why "
                "can hop latency lengthen every steady-state cycle of 1F1B but not of GPipe?",
                "发送是异步的（一跳只耽误接收方），各 stage 耗时相同。为什么跳的延迟会拉长 1F1B "
                "稳态的每一轮，却不会拉长 GPipe 的？",
            ),
            [
                choice(
                    en_zh(
                        "1F1B's warm-up keeps just enough micro-batches in flight to cover "
                        "compute, so a backward waits for its round trip",
                        "1F1B 的预热只让刚好够覆盖计算的微批次在途，所以反向要等它的往返",
                    ),
                    True,
                    en_zh(
                        "Yes: the loop $F(k)$ down to the last stage and back to $B(k)$ has "
                        "exactly the compute rank 0 does meanwhile; any hop time is added to it.",
                        "对：从 $F(k)$ 走到最后一个 stage 再回到 $B(k)$ 这一圈，恰好等于 rank 0 "
                        "在这期间的计算量；任何跳的时间都会加上去。",
                    ),
                ),
                choice(
                    en_zh(
                        "1F1B sends more bytes per micro-batch",
                        "1F1B 每个微批次发的字节更多",
                    ),
                    False,
                    en_zh(
                        "Both send $b s h$ forward and the same backward per boundary.",
                        "两者每个边界都是前向发 $b s h$，反向发同样多。",
                    ),
                ),
                choice(
                    en_zh("GPipe's sends are faster", "GPipe 的发送更快"),
                    False,
                    en_zh(
                        "The links are the same; GPipe has all $m$ forwards queued, so the "
                        "receiver always has work while a message travels.",
                        "链路是一样的；GPipe 把 $m$ 个前向都排好了队，所以消息在路上时接收方"
                        "总有活干。",
                    ),
                ),
            ],
        ),
        many_choice(
            en_zh(
                "Sends are asynchronous (a hop delays only its receiver). Which of these keep "
                "hop latency off 1F1B's steady-state critical path? Pick all that apply.",
                "发送是异步的（一跳只耽误接收方）。下面哪些做法能让跳的延迟不落在 1F1B 稳态的"
                "关键路径上？选出所有正确项。",
            ),
            [
                choice(
                    en_zh(
                        "A deeper warm-up (one extra micro-batch in flight per hop)",
                        "更深的预热（每跳多一个在途的微批次）",
                    ),
                    True,
                    en_zh(
                        "Yes: Megatron-LM's interleaved order does this; the slack absorbs hops "
                        "up to about one chunk's compute.",
                        "对：Megatron-LM 的交错式 1F1B 就是这样排的；多出的余量能吸收最多"
                        "大约一个模型块计算时间的跳。",
                    ),
                ),
                choice(
                    en_zh(
                        "Deferring weight-gradient passes (ZB-H1)",
                        "推迟权重梯度的计算（ZB-H1）",
                    ),
                    True,
                    en_zh(
                        "Yes: the W passes fill the wait, so the count stops growing with $m$.",
                        "对：W 填上了等待的时间，所以跳数不再随 $m$ 增长。",
                    ),
                ),
                choice(
                    en_zh(
                        "Dividing the total traffic over more links",
                        "把总流量分到更多链路上",
                    ),
                    False,
                    en_zh(
                        "Each boundary already has its own link; the issue is waiting, not volume.",
                        "每个边界本来就有自己的链路；问题在于等待，不在于流量。",
                    ),
                ),
                choice(
                    en_zh("Using fp32 activations", "用 fp32 的激活"),
                    False,
                    en_zh("That doubles every hop.", "这会让每一跳都翻倍。"),
                ),
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B (h = 12288), b = 1, s = 2048, 16-bit, t = 8, two ring all-reduces "
                "of the b s h layer output per layer forward. How many times longer do they "
                "take over InfiniBand HDR (24 GB/s per direction, 2.7 µs per ring step) than "
                "over NVLink 3 (230 GB/s, 0.6 µs per ring step), with NCCL's 6.6 µs per call "
                "on both?",
                "GPT-3 175B（h = 12288），b = 1，s = 2048，16 位，t = 8，每层前向对 b s h 的层"
                "输出做两次环形 all-reduce。两种链路上 NCCL 每次调用都另有 6.6 微秒。走 "
                "InfiniBand HDR（单向 24 GB/s，环上每步 2.7 微秒）所用的时间，是走 NVLink 3"
                "（230 GB/s，环上每步 0.6 微秒）的几倍？",
            ),
            tp_ratio,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: the ring moves the same bytes; only the bandwidth (and latency) differ. "
                "That is why TP stays inside a node.",
                "对：环上搬的字节一样多，只有带宽（和延迟）不同。这就是 TP 留在节点内的原因。",
            ),
            wrong_feedback=en_zh(
                "Divide `tp_comm_time_per_layer` over IB HDR by the same over NVLink 3.",
                "用 IB HDR 上的 `tp_comm_time_per_layer` 除以 NVLink 3 上的。",
            ),
        ),
    ]
