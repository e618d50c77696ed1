"""Chapter 1 quiz: what pipeline depth is."""

from __future__ import annotations

from .. import partition
from ..models import GPT3_175B, LLAMA3_70B
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric


def best_efficiency(model, p: int) -> float:
    """Balance efficiency of the best whole-layer split, LM head on the last stage."""
    head = partition.head_layer_equivalents(model)
    split = partition.optimal_split(model.num_layers, p, 0.0, head)
    return partition.balance_efficiency(partition.stage_loads(split, 0.0, head))


def questions() -> list[dict]:
    """The chapter 1 quiz; numbers come from :mod:`ppnotes.partition` and :mod:`ppnotes.models`."""
    p = partition.depth_from_gpus(64, tensor_parallel=8)
    valid = set(partition.valid_depths(GPT3_175B.num_layers))
    offered = [5, 8, 12, 20, 32, 64]
    n_gpus = partition.total_gpus(16, 8, 4)
    eff64 = 100 * best_efficiency(GPT3_175B, 64)
    gpt3_head = partition.head_layer_equivalents(GPT3_175B)
    llama = LLAMA3_70B
    llama_head = partition.head_layer_equivalents(llama)
    idle5 = partition.imbalance_idle_layers(
        partition.stage_loads(partition.balanced_split(96, 5)), 32
    )[1]
    return [
        numeric(
            en_zh(
                "A 96-layer model is trained on 64 GPUs with tensor parallelism 8 and no data "
                "parallelism. What is the pipeline depth p?",
                "一个 96 层的模型在 64 张 GPU 上训练，张量并行度为 8，没有数据并行。"
                "流水线深度 p 是多少？",
            ),
            p,
            abs_tol=0.5,
            correct_feedback=en_zh(
                f"Right: $p = N / (t d) = 64 / 8 = {p}$.", f"对：$p = N / (t d) = 64 / 8 = {p}$。"
            ),
            wrong_feedback=en_zh(
                "Use $N = p t d$: each stage is $t$ GPUs, so $p = N / (t d)$.",
                "用 $N = p t d$：每个 stage 占 $t$ 张 GPU，所以 $p = N / (t d)$。",
            ),
            traps=[
                (
                    64,
                    en_zh(
                        "64 is the number of GPUs; each stage spans t = 8 of them.",
                        "64 是 GPU 数；每个 stage 横跨其中 t = 8 张。",
                    ),
                )
            ],
        ),
        many_choice(
            en_zh(
                "Which of these depths split GPT-3's 96 layers into equal whole-layer stages? "
                "Pick all that apply.",
                "下面哪些深度能把 GPT-3 的 96 层切成层数相等的整层 stage？选出所有正确项。",
            ),
            [
                choice(
                    str(d),
                    d in valid,
                    en_zh(f"{d} divides 96.", f"{d} 整除 96。")
                    if d in valid
                    else en_zh(f"96 / {d} = {96 / d:.2f} layers.", f"96 / {d} = {96 / d:.2f} 层。"),
                )
                for d in offered
            ],
        ),
        multiple_choice(
            en_zh(
                "In steady state, what sets the pace at which a pipeline finishes micro-batches?",
                "稳态下，流水线完成微批次的节奏由什么决定？",
            ),
            [
                choice(
                    en_zh("The slowest stage", "最慢的 stage"),
                    True,
                    en_zh(
                        "Yes: each stage can accept the next micro-batch only when done, so the "
                        "maximum stage time is the period.",
                        "对：每个 stage 做完手上的微批次才能接下一个，"
                        "所以最长的 stage 时间就是周期。",
                    ),
                ),
                choice(
                    en_zh("The average stage", "平均的 stage"),
                    False,
                    en_zh(
                        "The average sets the ideal; every stage still waits for the slowest one.",
                        "平均值只给出理想情况；每个 stage 仍要等最慢的那个。",
                    ),
                ),
                choice(
                    en_zh("The first stage", "第一个 stage"),
                    False,
                    en_zh(
                        "Only if it is the slowest; a slow later stage backs up the whole "
                        "pipeline.",
                        "只有它最慢时才是；后面某个 stage 慢，整条流水线都会被它堵住。",
                    ),
                ),
                choice(
                    en_zh("The number of GPUs per stage", "每个 stage 的 GPU 数"),
                    False,
                    en_zh(
                        "That changes each stage's time, but the pace is set by the slowest stage.",
                        "它会改变各 stage 的时间，但节奏仍由最慢的 stage 决定。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                f"GPT-3 has 96 layers, and its LM head weighs {gpt3_head:.2f} of a layer. With "
                "the head on the last stage and the best whole-layer split into p = 64 stages, "
                "what is the balance efficiency (mean stage load / max stage load), in percent?",
                f"GPT-3 有 96 层，LM head 的计算量相当于 {gpt3_head:.2f} 层。head 放在最后一个 "
                "stage，按最优的整层切分分成 p = 64 个 stage，均衡效率（平均 stage 负载 / "
                "最大 stage 负载）是百分之多少？",
            ),
            eff64,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: 1.5 layers per stage on average, but whole layers force a bottleneck of 2.",
                "对：平均每个 stage 1.5 层，但层不能拆开，最重的 stage 有 2 层。",
            ),
            wrong_feedback=en_zh(
                "Mean load is (96 + 0.33) / 64 layers; the slowest stage holds 2 whole layers. "
                "Divide the mean by the max.",
                "平均负载是 (96 + 0.33) / 64 层；最慢的 stage 有 2 个整层。用平均值除以最大值。",
            ),
            traps=[
                (
                    100.0,
                    en_zh(
                        "Whole layers cannot be split: 96 / 64 is not an integer.",
                        "整层不能拆开：96 / 64 不是整数。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "How many GPUs does a job with p = 16, t = 8, d = 4 use?",
                "p = 16、t = 8、d = 4 的任务用多少张 GPU？",
            ),
            n_gpus,
            abs_tol=0.5,
            correct_feedback=en_zh("Right: $N = p t d$.", "对：$N = p t d$。"),
            wrong_feedback=en_zh(
                "Multiply the three degrees of parallelism: $N = p t d$.",
                "把三个并行度相乘：$N = p t d$。",
            ),
        ),
        multiple_choice(
            en_zh(
                "The note says depth = the number of GPUs in the pipeline. When is that exactly "
                "true?",
                "原笔记说：深度 = 参与流水线的 GPU 数。什么时候这句话严格成立？",
            ),
            [
                choice(
                    en_zh("Only without tensor parallelism (t = 1)", "只在没有张量并行时（t = 1）"),
                    True,
                    en_zh(
                        "Yes: with TP each stage is t GPUs, so one replica uses $p t$ GPUs.",
                        "对：有张量并行时每个 stage 是 t 张 GPU，一个副本用 $p t$ 张。",
                    ),
                ),
                choice(
                    en_zh("Always", "总是成立"),
                    False,
                    en_zh(
                        "With t = 8, 64 GPUs form only 8 stages.",
                        "t = 8 时，64 张 GPU 只组成 8 个 stage。",
                    ),
                ),
                choice(
                    en_zh("Only with data parallelism", "只在有数据并行时"),
                    False,
                    en_zh(
                        "Data parallelism replicates the pipeline; it does not change a "
                        "replica's p.",
                        "数据并行是复制整条流水线，不改变一个副本的 p。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                f"Llama 3 70B: vocabulary V = {llama.vocab_size:,}, hidden size h = "
                f"{llama.hidden_size}, {llama.params_per_layer:,} parameters per layer, trained "
                f"at sequence length s = {llama.seq_len}. A layer's forward costs 2 x its "
                "parameters + 4 s h FLOPs per token, the LM head 2 V h. How heavy is the head, "
                "in layers? (Two decimals.)",
                f"Llama 3 70B：词表 V = {llama.vocab_size}，隐藏维度 h = {llama.hidden_size}，"
                f"每层 {llama.params_per_layer} 个参数，训练序列长度 s = {llama.seq_len}。"
                "每个 token 一层前向的计算量是 2 × 参数数 + 4 s h FLOPs，LM head 是 2 V h。"
                "head 相当于多少层？（保留两位小数。）",
            ),
            llama_head,
            rel_tol=0.03,
            correct_feedback=en_zh(
                "Right: $2 V h$ FLOPs per token for the head, more than one layer.",
                "对：head 每个 token 要 $2 V h$ FLOPs，比一层还多。",
            ),
            wrong_feedback=en_zh(
                "Compare $2 V h$ (the head) with $2 \\times$ (parameters per layer) $+ 4 s h$.",
                "比较 $2 V h$（head）和 $2 \\times$（每层参数数）$+ 4 s h$。",
            ),
            traps=[
                (
                    2 * llama.vocab_size * llama.hidden_size / (2 * llama.params_per_layer),
                    en_zh(
                        "That leaves out the attention term 4 s h, which grows with the sequence.",
                        "这漏掉了随序列变长的注意力项 4 s h。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "GPipe runs m = 32 micro-batches through 5 stages holding 20, 19, 19, 19 and 19 "
                "layers (equal layers, no embedding or head load). Beyond the fill and drain, "
                "how long does a 19-layer stage idle per step, in units of one layer's forward "
                "plus backward?",
                "GPipe 让 m = 32 个微批次流过 5 个 stage，各有 20、19、19、19、19 层（各层相同，"
                "不算 embedding 和 head）。除了填充和排空，一个 19 层的 stage 每步还要空等多久？"
                "以一层的前向加反向为单位。",
            ),
            idle5,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: (m - 1)(20 - 19). Every micro-batch slot after the first lasts as long "
                "as the 20-layer stage.",
                "对：(m - 1)(20 - 19)。第一个之后的每个微批次时隙都和 20 层的 stage 一样长。",
            ),
            wrong_feedback=en_zh(
                "Each of the m - 1 slots after the first lasts max(loads); the stage works 19 "
                "of those 20.",
                "第一个之后的 m - 1 个时隙各长 max(负载)；这个 stage 只干其中的 19。",
            ),
            traps=[
                (
                    1.0,
                    en_zh(
                        "One layer per micro-batch slot, not per step: m - 1 slots per step.",
                        "每个微批次时隙差一层，不是每步差一层：每步有 m - 1 个时隙。",
                    ),
                )
            ],
        ),
    ]
