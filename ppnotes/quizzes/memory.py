"""Chapter 4 quiz: memory per stage (显存占用影响)."""

from __future__ import annotations

from .. import hardware, memory, partition
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric

# The chapter's running configuration for GPT-3 175B.
TENSOR_PARALLEL = 8
MICRO_BATCHES = 32


def smallest_fitting_depth(
    gpu=hardware.H100_SXM,
    recompute: str = "selective",
    sequence_parallel: bool = True,
    **options,
) -> int | None:
    """Smallest depth dividing 96 at which every stage of GPT-3 175B fits on ``gpu``.

    1F1B, t = 8, b = 1, s = 2048, m = 32, the book's training baseline (18 bytes per
    parameter: bf16 weights, fp32 gradients, Adam; no distributed optimizer; FlashAttention;
    no dropout) and the training reserve :data:`ppnotes.memory.TRAINING_RESERVE_FRACTION`;
    None if no depth up to 32 fits. ``options`` go to :func:`ppnotes.memory.stage_memory`
    (for example ``distributed_optimizer=True, data_parallel=8``).
    """
    for p in partition.valid_depths(GPT3_175B.num_layers):
        if p > MICRO_BATCHES:
            break
        rows = memory.stage_memory(
            GPT3_175B,
            partition.balanced_split(GPT3_175B.num_layers, p),
            tensor_parallel=TENSOR_PARALLEL,
            num_microbatches=MICRO_BATCHES,
            schedule="1f1b",
            recompute=recompute,
            sequence_parallel=sequence_parallel,
            **options,
        )
        if memory.fits(rows, gpu):
            return p
    return None


def questions() -> list[dict]:
    """The chapter 4 quiz; every answer comes from :mod:`ppnotes.memory`."""
    per_param = sum(memory.training_bytes_per_param().values())
    per_param_16 = sum(memory.training_bytes_per_param(fp32_grads=False).values())
    sharded = sum(
        memory.training_bytes_per_param(distributed_optimizer=True, data_parallel=8).values()
    )
    layer_gb = memory.activation_bytes_per_layer(GPT3_175B, 1) / 1e9
    korthikanti_gb = (
        memory.activation_bytes_per_layer(GPT3_175B, 1, flash_attention=False, dropout=True) / 1e9
    )
    note_gb = 2048 * 12288 * 2 / 1e9  # the note's one s x h tensor, at 2 bytes
    sets_p8 = memory.in_flight_sets("1f1b", 8, MICRO_BATCHES, 0)
    kv_kib = memory.kv_cache_bytes_per_token(LLAMA3_70B) / 1024
    kv_mha_kib = 2 * LLAMA3_70B.num_layers * LLAMA3_70B.num_heads * LLAMA3_70B.head_dim * 2 / 1024
    full_ratio = memory.activation_bytes_per_layer(GPT3_175B, 1) / (
        memory.activation_bytes_per_layer(GPT3_175B, 1, recompute="full")
    )
    full_ratio_korthikanti = memory.activation_bytes_per_layer(
        GPT3_175B, 1, flash_attention=False, dropout=True
    ) / memory.activation_bytes_per_layer(GPT3_175B, 1, recompute="full")
    depth = smallest_fitting_depth(recompute="none")
    reserve = memory.TRAINING_RESERVE_FRACTION
    return [
        numeric(
            en_zh(
                "Megatron-LM trains in bf16 with Adam and keeps fp32 gradients (main_grad). How "
                "many bytes does each parameter cost in weights, gradients and optimizer state "
                "together, without the distributed optimizer?",
                "Megatron-LM 用 bf16 加 Adam 训练，梯度留 fp32（main_grad）。不用分布式优化器时，"
                "每个参数的权重、梯度和优化器状态加起来占多少字节？",
            ),
            per_param,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: 2 (bf16 weights) + 4 (fp32 gradients) + 12 (fp32 master weights, "
                "momentum, variance) $= 18$ bytes.",
                "对：2（bf16 权重）+ 4（fp32 梯度）+ 12（fp32 主权重、动量、方差）$= 18$ 字节。",
            ),
            wrong_feedback=en_zh(
                "Add bf16 weights, fp32 gradients and the fp32 optimizer state: master weights, "
                "Adam's momentum and variance, 4 bytes each.",
                "把 bf16 权重、fp32 梯度和 fp32 优化器状态加起来：主权重、Adam 的动量和方差，"
                "各 4 字节。",
            ),
            traps=[
                (
                    per_param_16,
                    en_zh(
                        "16 is the ZeRO paper's count with 2-byte gradients; Megatron-LM keeps "
                        "its gradients in fp32 for bf16 training.",
                        "16 是 ZeRO 论文按 2 字节梯度算的；Megatron-LM 做 bf16 训练时梯度留 fp32。",
                    ),
                ),
                (
                    2,
                    en_zh(
                        "2 bytes is only the bf16 weights, what inference needs.",
                        "2 字节只是 bf16 权重，是推理服务需要的。",
                    ),
                ),
                (
                    12,
                    en_zh(
                        "12 bytes is the optimizer state alone; add weights and gradients.",
                        "12 字节只是优化器状态；还要加上权重和梯度。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "The same training (bf16 weights, fp32 gradients, Adam) with Megatron-LM's "
                "distributed optimizer (ZeRO stage 1) over d = 8 data-parallel ranks: how many "
                "bytes per parameter does each GPU hold?",
                "同样的训练（bf16 权重、fp32 梯度、Adam），用 Megatron-LM 的分布式优化器"
                "（ZeRO-1），切到 d = 8 个数据并行 rank 上：每张 GPU 上每个参数占多少字节？",
            ),
            sharded,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $2 + 4 + 12 / 8 = 7.5$. Only the 12 optimizer bytes are sharded; weights "
                "and gradients stay whole (Megatron-LM's $6 + 12/d$).",
                "对：$2 + 4 + 12 / 8 = 7.5$。只有优化器的 12 字节被切分；权重和梯度仍是完整的"
                "（即 Megatron-LM 的 $6 + 12/d$）。",
            ),
            wrong_feedback=en_zh(
                "The distributed optimizer shards the fp32 master weights and Adam moments (12 "
                "bytes) over $d$; it keeps the 2-byte weights and 4-byte gradients on every rank.",
                "分布式优化器把 fp32 主权重和 Adam 的两个矩（12 字节）切到 $d$ 个 rank 上；"
                "2 字节的权重和 4 字节的梯度每个 rank 都留着完整的一份。",
            ),
            traps=[
                (
                    per_param / 8,
                    en_zh(
                        "That shards everything (ZeRO stage 3); stage 1 shards only the "
                        "optimizer state.",
                        "这是把所有东西都切分（ZeRO-3）；ZeRO-1 只切优化器状态。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B (h = 12288, a = 96), one sequence of s = 2048 tokens, 16-bit "
                "activations, FlashAttention (fp32 log-sum-exp), no dropout, no tensor "
                "parallelism, no recomputation: how many GB (10^9 bytes) of activations does "
                "ONE layer keep for the backward pass?",
                "GPT-3 175B（h = 12288，a = 96），一条 s = 2048 个 token 的序列，16 位激活，"
                "FlashAttention（fp32 的 log-sum-exp），不用 dropout，不用张量并行，不做激活"
                "重计算：**一层**要为反向传播存多少 GB（10^9 字节）的激活？",
            ),
            layer_gb,
            rel_tol=0.02,
            correct_feedback=en_zh(
                "Right: $32 s b h + 4 a s b$ bytes: Korthikanti et al.'s $34 s b h$ without the "
                "two 1-byte dropout masks, and no attention scores.",
                "对：$32 s b h + 4 a s b$ 字节：即 Korthikanti 等人的 $34 s b h$ 去掉两个 "
                "1 字节的 dropout 掩码，也不存注意力分数。",
            ),
            wrong_feedback=en_zh(
                "Start from Korthikanti et al.'s $s b h (34 + 5 a s / h)$: FlashAttention "
                "removes the $5 a s / h$ term (it keeps a 4-byte log-sum-exp per row and head), "
                "and no dropout removes two 1-byte masks.",
                "从 Korthikanti 等人的 $s b h (34 + 5 a s / h)$ 出发：FlashAttention 去掉了 "
                "$5 a s / h$ 这一项（它每行、每个头只存一个 4 字节的 log-sum-exp），"
                "不用 dropout 又去掉两个 1 字节的掩码。",
            ),
            traps=[
                (
                    korthikanti_gb,
                    en_zh(
                        "That is Korthikanti et al.'s 2022 count, which stores the attention "
                        "scores' softmax and dropout tensors; FlashAttention never stores them.",
                        "这是 Korthikanti 等人 2022 年的算法，要存注意力分数的 softmax 和 "
                        "dropout 张量；FlashAttention 根本不存它们。",
                    ),
                ),
                (
                    note_gb,
                    en_zh(
                        "That is one $s \\times h$ tensor at 2 bytes, the note's model. A layer "
                        "keeps about 32 bytes per element of $s \\times h$.",
                        "这是一个 2 字节的 $s \\times h$ 张量，即原笔记的模型。一层对 "
                        "$s \\times h$ 的每个元素大约要存 32 字节。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "1F1B with p = 8 stages and m = 32 micro-batches: how many micro-batches' "
                "activations does the first stage hold at its peak?",
                "1F1B，p = 8 个 stage，m = 32 个微批次：第一个 stage 在峰值时存着多少个"
                "微批次的激活？",
            ),
            sets_p8,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: $p - i$ warm-up forwards for stage $i$, so $\\min(p, m) = 8$ on stage 0 "
                "(and 1 on the last stage).",
                "对：stage $i$ 有 $p - i$ 次预热（warm-up）前向，所以 stage 0 存 "
                "$\\min(p, m) = 8$ 个（最后一个 stage 存 1 个）。",
            ),
            wrong_feedback=en_zh(
                "Stage $i$ runs $p - 1 - i$ warm-up forwards and one more before its first "
                "backward: $\\min(p - i, m)$.",
                "stage $i$ 先做 $p - 1 - i$ 次预热前向，在第一次反向之前再做一次："
                "$\\min(p - i, m)$。",
            ),
            traps=[
                (
                    MICRO_BATCHES,
                    en_zh(
                        "That is GPipe, which runs all $m$ forwards before any backward.",
                        "这是 GPipe：先做完全部 $m$ 次前向，再开始反向。",
                    ),
                ),
                (
                    MICRO_BATCHES / 8 + 1,
                    en_zh(
                        "That is the note's $M/PP + 1$, which has no derivation.",
                        "这是原笔记的 $M/PP + 1$，它没有推导依据。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                "Under 1F1B with m >= p and p dividing L, how many layers' worth of activations "
                "(one micro-batch each) does the FIRST stage hold?",
                "1F1B，m >= p，且 p 整除 L：**第一个** stage 存着相当于多少层的激活"
                "（每层按一个微批次算）？",
            ),
            [
                choice(
                    en_zh("L, whatever p", "L 层，与 p 无关"),
                    True,
                    en_zh(
                        "Yes: $p$ micro-batches $\\times L / p$ layers. Deeper pipelines do not "
                        "shrink it.",
                        "对：$p$ 个微批次 $\\times L / p$ 层。加深流水线不会让它变小。",
                    ),
                ),
                choice(
                    "L / p",
                    False,
                    en_zh(
                        "That is one micro-batch through the stage; stage 0 holds $p$ of them.",
                        "这只是一个微批次经过这个 stage 的量；stage 0 存着 $p$ 个。",
                    ),
                ),
                choice(
                    "m L / p",
                    False,
                    en_zh(
                        "That is GPipe, which holds all $m$ micro-batches.",
                        "这是 GPipe，它存着全部 $m$ 个微批次。",
                    ),
                ),
                choice(
                    "(m / p + 1) L / p",
                    False,
                    en_zh(
                        "The note's count; 1F1B's warm-up holds $p$ on stage 0, not $m/p + 1$.",
                        "这是原笔记的算法；1F1B 的预热让 stage 0 存 $p$ 个，不是 $m/p + 1$ 个。",
                    ),
                ),
            ],
        ),
        many_choice(
            en_zh(
                "1F1B, m >= p, fixed t, b and s, no distributed optimizer. Which of these "
                "shrink as the depth p grows? Pick all that apply.",
                "1F1B，m >= p，t、b、s 固定，不用分布式优化器。深度 p 变大时，下面哪些会变小？"
                "选出所有正确项。",
            ),
            [
                choice(
                    en_zh("Weights per stage", "每个 stage 的权重"),
                    True,
                    en_zh(
                        "Yes: about $1/p$ of the layers (plus the embedding or head at the ends).",
                        "对：大约是 $1/p$ 的层（首尾再加上词嵌入层或 LM head）。",
                    ),
                ),
                choice(
                    en_zh("Optimizer state per stage", "每个 stage 的优化器状态"),
                    True,
                    en_zh(
                        "Yes: it follows the parameters, 12 bytes each.",
                        "对：它跟着参数走，每个参数 12 字节。",
                    ),
                ),
                choice(
                    en_zh("Activations on the first stage", "第一个 stage 的激活"),
                    False,
                    en_zh(
                        "No: $p$ micro-batches $\\times L / p = L$ layers' worth, whatever $p$.",
                        "不会：$p$ 个微批次 $\\times L / p = L$ 层，与 $p$ 无关。",
                    ),
                ),
                choice(
                    en_zh("Activations on the last stage", "最后一个 stage 的激活"),
                    True,
                    en_zh(
                        "Yes: it holds one micro-batch of $L / p$ layers.",
                        "对：它只存一个微批次的 $L / p$ 层。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "Llama 3 70B (80 layers, 8 KV heads of dimension 128, bf16 cache): how many KiB "
                "of KV cache does one token take?",
                "Llama 3 70B（80 层，8 个维度为 128 的 KV 头，KV cache 用 bf16）："
                "一个 token 占多少 KiB 的 KV cache？",
            ),
            kv_kib,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $2 \\times 80 \\times 8 \\times 128 \\times 2$ bytes = 320 KiB: "
                "grouped-query attention stores 8 KV heads, not 64.",
                "对：$2 \\times 80 \\times 8 \\times 128 \\times 2$ 字节 = 320 KiB："
                "分组查询注意力只存 8 个 KV 头，不是 64 个。",
            ),
            wrong_feedback=en_zh(
                "Per token: 2 (K and V) $\\times$ layers $\\times$ KV heads $\\times$ head dim "
                "$\\times$ bytes.",
                "每个 token：2（K 和 V）$\\times$ 层数 $\\times$ KV 头数 $\\times$ 头维度 "
                "$\\times$ 字节数。",
            ),
            traps=[
                (
                    kv_mha_kib,
                    en_zh(
                        "That counts all 64 query heads. With grouped-query attention only the "
                        "8 KV heads are cached.",
                        "这是按全部 64 个查询头算的。用分组查询注意力时只缓存 8 个 KV 头。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B (h = 12288, a = 96), t = 1, s = 2048, FlashAttention, no dropout: by "
                "what factor does full recomputation (keeping only each layer's 2 s b h input) "
                "cut a layer's stored activations compared with storing everything?",
                "GPT-3 175B（h = 12288，a = 96），t = 1，s = 2048，FlashAttention，不用 dropout："
                "完全激活重计算时每层只存 2 s b h 字节的输入。全部存下时一层的激活量，"
                "是完全激活重计算时的几倍？",
            ),
            full_ratio,
            rel_tol=0.02,
            correct_feedback=en_zh(
                f"Right: $(32 + 4 a / h) / 2 = {full_ratio:.1f}$; the forward pass then runs "
                "twice. Before FlashAttention the factor was "
                f"$(34 + 5 a s / h) / 2 = {full_ratio_korthikanti:.0f}$.",
                f"对：$(32 + 4 a / h) / 2 = {full_ratio:.1f}$；代价是前向要跑两遍。"
                f"FlashAttention 之前，这个倍数是 $(34 + 5 a s / h) / 2 = "
                f"{full_ratio_korthikanti:.0f}$。",
            ),
            wrong_feedback=en_zh(
                "Full recomputation keeps $2 s b h$ bytes per layer; compare with "
                "$32 s b h + 4 a s b$ under FlashAttention without dropout.",
                "完全激活重计算每层存 $2 s b h$ 字节；拿它和用 FlashAttention、不用 dropout 时的"
                " $32 s b h + 4 a s b$ 比。",
            ),
            traps=[
                (
                    full_ratio_korthikanti,
                    en_zh(
                        "That is the factor against Korthikanti et al.'s 2022 count with stored "
                        "attention scores; FlashAttention has already removed them.",
                        "这是相对 Korthikanti 等人 2022 年算法（存注意力分数）的倍数；"
                        "FlashAttention 已经把注意力分数去掉了。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B (96 layers), 1F1B, t = 8 with sequence parallelism, b = 1, "
                "s = 2048, m = 32, FlashAttention, no dropout, 18 bytes per parameter (bf16, "
                "fp32 gradients, Adam, no distributed optimizer), no recomputation, H100 80GB "
                f"with {reserve * 100:.0f} % kept free: what is the smallest depth dividing 96 "
                "at which every stage fits?",
                "GPT-3 175B（96 层），1F1B，t = 8 加序列并行，b = 1，s = 2048，m = 32，"
                "FlashAttention，不用 dropout，每个参数 18 字节（bf16、fp32 梯度、Adam，"
                "不用分布式优化器），不做激活重计算，H100 80GB，留 "
                f"{reserve * 100:.0f} % 显存余量：能整除 96、且每个 stage 都放得下的最小深度"
                "是多少？",
            ),
            depth,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: weights, gradients and optimizer state shrink as $1/p$, while stage 0's "
                "activations stay at $L$ layers' worth.",
                "对：权重、梯度和优化器状态按 $1/p$ 缩小，而 stage 0 的激活一直是 $L$ 层。",
            ),
            wrong_feedback=en_zh(
                "Compute stage 0: 18 bytes $\\times$ its parameters $/ t$, plus 96 layers "
                "$\\times (32 s b h + 4 a s b) / t$ activation bytes; try $p = 4, 6, 8, \\dots$",
                "算 stage 0：18 字节 $\\times$ 它的参数量 $/ t$，加上 96 层 "
                "$\\times (32 s b h + 4 a s b) / t$ 字节的激活；依次试 $p = 4, 6, 8, \\dots$",
            ),
        ),
    ]
