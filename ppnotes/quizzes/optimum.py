"""Chapter 7 quiz: choosing the optimal depth (最优深度选择)."""

from __future__ import annotations

import math

from .. import optimum as o
from .. import perf_model as pm
from .. import serving_plan
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric

A100 = pm.CLUSTERS["DGX A100 80GB + HDR"]
H100 = pm.CLUSTERS["DGX H100 + NDR"]


def note_depth() -> int:
    """The note's depth for 175e9 parameters, 80e9 bytes per GPU and 1,024 GPUs."""
    return o.note_find_optimal_pp_depth(175e9, 80e9, 1024)[0]


def states_gib() -> float:
    """GiB per GPU of weights, fp32 gradients and sharded Adam state for GPT-3 175B at
    t = 8, p = 4, d = 32 (the planner's memory lower bound)."""
    return o.states_lower_bound(GPT3_175B, 8, 4, 32) / o.GiB


def depth_ratio() -> float:
    """Fastest depth over the smallest fitting depth, GPT-3 175B on 256 A100s, G = 512."""
    plan = o.plan_training(GPT3_175B, A100, 256, 512, max_micro_batch=2)
    return o.best_depth(plan) / o.smallest_fitting_depth(plan)


def serving_gpus() -> int:
    """Fewest H100s serving Llama 3 70B at 5,000 output tokens/s with TPOT <= 50 ms."""
    return serving_plan.plan_serving(LLAMA3_70B, H100, load=5000, tpot=0.05).best.gpus


def questions() -> list[dict]:
    """The chapter 7 quiz; every answer comes from :mod:`ppnotes.optimum`."""
    depth = note_depth()
    gib = states_gib()
    ratio = depth_ratio()
    gpus = serving_gpus()
    m = pm.Config(8, 4, 32, 2, 1536).num_microbatches
    return [
        numeric(
            en_zh(
                "The note's find_optimal_pp_depth is given 175e9 parameters, 80e9 bytes of GPU "
                "memory and 1,024 GPUs. Which depth does it return?",
                "给原笔记的 find_optimal_pp_depth 输入 175e9 个参数、80e9 字节的显存和 1024 张 "
                "GPU。它返回哪个深度？",
            ),
            depth,
            correct_feedback=en_zh(
                "Right: $\\lceil 175/80 \\rceil = 3$, the first depth it tries, "
                "because its efficiency only falls with depth. It compares a parameter count "
                "with bytes.",
                "对：$\\lceil 175/80 \\rceil = 3$，也就是它尝试的第一个深度，因为它的效率只会"
                "随深度下降。它拿参数个数和字节数比较。",
            ),
            wrong_feedback=en_zh(
                "Follow the code: `min_pp = ceil(params / memory)`, and the loop "
                "keeps the highest efficiency, which is the first one.",
                "照着代码走：`min_pp = ceil(params / memory)`，循环保留效率最高的深度，"
                "也就是第一个。",
            ),
            traps=[
                (
                    math.ceil(175e9 * 18 / 80e9),
                    en_zh(
                        "That counts 18 bytes per parameter, which the note does not (it should).",
                        "这是按每个参数 18 字节算的，原笔记没有这样算（虽然它应该这样算）。",
                    ),
                ),
                (
                    1024,
                    en_zh(
                        "The loop runs to `num_gpus`, but the efficiency falls all the way.",
                        "循环一直跑到 `num_gpus`，但效率一路都在下降。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "GPT-3 175B at t = 8, p = 4, d = 32 with the distributed optimizer: how many "
                "GiB per GPU do weights (2 bytes), fp32 gradients (4) and the sharded Adam "
                "state ($12/d$) take on the fullest stage, before any activation?",
                "GPT-3 175B，t = 8，p = 4，d = 32，使用分布式优化器：在最满的 stage 上，"
                "还没算激活之前，权重（2 字节）、fp32 梯度（4 字节）和分片后的 Adam 状态"
                "（$12/d$ 字节）每张 GPU 占多少 GiB？",
            ),
            gib,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: the stage's parameters $/\\,t$ times $6 + 12/32$ bytes. "
                "It is the planner's cheap lower bound: below the budget, the configuration is "
                "worth timing.",
                "对：该 stage 的参数量 $/\\,t$，乘以 $6 + 12/32$ 字节。这是规划器廉价的下界："
                "低于显存预算的配置才值得计时。",
            ),
            wrong_feedback=en_zh(
                "Take the fullest stage's parameters (embedding included), divide "
                "by $t$, multiply by $6 + 12/d$ bytes.",
                "取最满的 stage 的参数量（含词嵌入层），除以 $t$，再乘以 $6 + 12/d$ 字节。",
            ),
            traps=[
                (
                    175e9 / 32 * 18 / 2**30,
                    en_zh(
                        "That uses 18 bytes without sharding the optimizer.",
                        "这是按 18 字节算的，没有对优化器状态分片。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Megatron-style training with G = 1536 sequences, d = 32 replicas and "
                "micro-batch b = 2. How many micro-batches m does each pipeline run per step?",
                "Megatron 式训练，G = 1536 条序列，d = 32 个副本，微批次大小 b = 2。"
                "每条流水线每步跑多少个微批次 m？",
            ),
            m,
            correct_feedback=en_zh(
                "Right: $m = G/(db) = 24$; it must be a whole number, one of the planner's rules.",
                "对：$m = G/(db) = 24$；它必须是整数，这是规划器的规则之一。",
            ),
            wrong_feedback=en_zh("$m = G/(db)$.", "用 $m = G/(db)$ 计算。"),
            traps=[(48, en_zh("That forgets the micro-batch size $b$.", "这忘了微批次大小 $b$。"))],
        ),
        numeric(
            en_zh(
                "The planner on GPT-3 175B (2,048-token sequences), 256 DGX A100 80GB GPUs "
                "(NVLink, HDR), G = 512 sequences, micro-batches up to 2. Its fastest "
                "configuration's depth is how many times the smallest depth that fits?",
                "用规划器规划 GPT-3 175B（序列长度 2048 个 token），256 张 DGX A100 80GB GPU"
                "（NVLink，HDR），G = 512 条序列，微批次大小最多为 2。最快配置的深度是能放下的"
                "最小深度的多少倍？",
            ),
            ratio,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: deeper than needed for memory. A deeper pipeline lets $t$ "
                "shrink (less tensor-parallel traffic) and, with interleaving or a zero-bubble "
                "schedule, costs little bubble.",
                "对：比显存所需的更深。更深的流水线让 $t$ 可以变小（张量并行流量更少），"
                "配合交错式 1F1B 或零气泡调度，气泡的代价也很小。",
            ),
            wrong_feedback=en_zh(
                "Run `plan_training` and compare `best_depth` with `smallest_fitting_depth`.",
                "运行 `plan_training`，比较 `best_depth` 和 `smallest_fitting_depth`。",
            ),
            traps=[
                (
                    1.0,
                    en_zh(
                        "That is the note's answer: the smallest depth is rarely the best.",
                        "这是原笔记的答案：最小深度很少是最优的。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Serving Llama 3 70B on DGX H100s (bf16) at 5,000 output tokens/s with a TPOT "
                "of at most 50 ms, requests of 1,024 prompt and 256 output tokens: how many "
                "GPUs does the cheapest (t, p, replicas) use?",
                "在 DGX H100 上用 bf16 部署 Llama 3 70B 推理服务，要求每秒输出 5000 个 token，"
                "每输出 token 延迟（TPOT）不超过 50 毫秒，请求为 1024 个提示词 token 加 256 个"
                "输出 token：最省的（t, p, 副本数）组合要用多少张 GPU？",
            ),
            gpus,
            correct_feedback=en_zh(
                "Right: one replica holding enough sequences in its KV cache to "
                "reach the load within the TPOT target.",
                "对：一个副本，它的 KV cache 能放下足够多的序列，在满足 TPOT 目标的同时扛住负载。",
            ),
            wrong_feedback=en_zh(
                "For each replica shape, find the largest concurrency whose TPOT "
                "meets the target, then the replicas needed for the load.",
                "对每种副本形状，找出 TPOT 仍满足目标的最大并发请求数，"
                "再算出扛住负载需要几个副本。",
            ),
            traps=[
                (
                    1,
                    en_zh(
                        "70 billion bf16 weights (140 GB) do not fit one 80 GB GPU.",
                        "700 亿个 bf16 权重（140 GB）放不进一张 80 GB 的 GPU。",
                    ),
                )
            ],
        ),
        multiple_choice(
            en_zh(
                "Why does the note's depth search always return its smallest depth?",
                "为什么原笔记的深度搜索总是返回它的最小深度？",
            ),
            [
                choice(
                    en_zh(
                        "Its efficiency, $m/(m+p-1)$ with traffic growing in $p$, falls "
                        "monotonically with depth, and memory only sets where the loop starts.",
                        "它的效率是 $m/(m+p-1)$，流量还随 $p$ 增长，所以随深度单调下降；"
                        "显存只决定循环从哪里开始。",
                    ),
                    True,
                    en_zh(
                        "Right: nothing in its model rewards depth, so the first $p$ wins.",
                        "对：它的模型里没有任何东西奖励更深的流水线，所以第一个 $p$ 胜出。",
                    ),
                ),
                choice(
                    en_zh("Deeper pipelines never fit memory.", "更深的流水线总是放不下。"),
                    False,
                    en_zh(
                        "They fit better: weights per GPU fall as $1/p$.",
                        "恰恰更容易放下：每张 GPU 上的权重按 $1/p$ 下降。",
                    ),
                ),
                choice(
                    en_zh(
                        "It breaks out of the loop after the first depth.",
                        "它试完第一个深度就跳出了循环。",
                    ),
                    False,
                    en_zh(
                        "It loops over every depth; the first simply stays the best.",
                        "它遍历了每个深度，只是第一个一直是最好的。",
                    ),
                ),
            ],
        ),
        many_choice(
            en_zh(
                "Which can rule a configuration out before the step model times it?",
                "下面哪些条件能在步时间模型计时之前就排除一个配置？",
            ),
            [
                choice(
                    en_zh(
                        "$t$ not dividing a node's GPUs (a tensor group across two nodes)",
                        "$t$ 不整除一个节点的 GPU 数（张量并行组跨了两个节点）",
                    ),
                    True,
                    en_zh("Right: a placement rule.", "对：这是一条放置规则。"),
                ),
                choice(
                    en_zh("$G$ not a multiple of $db$", "$G$ 不是 $db$ 的整数倍"),
                    True,
                    en_zh("Right: $m$ must be whole.", "对：$m$ 必须是整数。"),
                ),
                choice(
                    en_zh(
                        "weights, gradients and sharded optimizer state above the budget",
                        "权重、梯度和分片后的优化器状态已经超出显存预算",
                    ),
                    True,
                    en_zh(
                        "Right: a lower bound on memory needs no timing.",
                        "对：显存的下界不需要计时就能算出。",
                    ),
                ),
                choice(
                    en_zh(
                        "a larger bubble than the best configuration",
                        "气泡比当前最优配置的大",
                    ),
                    False,
                    en_zh(
                        "Bubble alone says nothing: the compute and traffic differ too. Only a "
                        "floor on the whole step (without bubble) can prune.",
                        "只看气泡说明不了什么：计算和流量也不一样。只有整步时间的下界"
                        "（不含气泡）才能用来剪枝。",
                    ),
                ),
            ],
        ),
    ]
