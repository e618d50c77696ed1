"""Chapter 11 quiz: pipeline depth in mixture-of-experts training (混合专家流水线)."""

from __future__ import annotations

from .. import moe as M
from ..quiz import choice, en_zh, multiple_choice, numeric

#: The expert-parallel size of DeepSeek-V3's run (deepseek2024v3, sec. 3.2).
EP = M.DEEPSEEK_V3_RUN["expert_parallel"]


def active_share() -> float:
    """DeepSeek-V3's active parameters over its total, in percent."""
    return 100.0 * M.DEEPSEEK_V3.active_params / M.DEEPSEEK_V3.total_params


def experts_per_gpu() -> int:
    """Routed experts of one DeepSeek-V3 layer on one GPU at the run's expert parallelism."""
    return M.DEEPSEEK_V3.num_experts // EP


def published_step() -> float:
    """Seconds per step implied by DeepSeek-V3's report."""
    return M.deepseek_v3_published_step()


def network_crossings() -> float:
    """Network crossings per token with node-limited routing, e = 64, 8 GPUs per node."""
    v3 = M.DEEPSEEK_V3
    return M.a2a_split(EP, 8, v3.top_k, v3.max_nodes_per_token, "node-limited")["network"]


def toy_1f1b_step(p: int = 4, m: int = 8, a2a: float = 0.6) -> float:
    """Closed-form 1F1B step of the chapter's toy pipeline (F = 1, B = 2, a2a each way)."""
    return M.timeline_closed_form("1f1b", p, m, a2a=a2a)


def questions() -> list[dict]:
    """The chapter 11 quiz; every answer comes from :mod:`ppnotes.moe`."""
    v3 = M.DEEPSEEK_V3
    share = active_share()
    active_b, total_b = v3.active_params / 1e9, v3.total_params / 1e9
    per_gpu = experts_per_gpu()
    step = published_step()
    run = M.DEEPSEEK_V3_RUN
    per_token_ms = run["gpu_hours_per_trillion"] * 3600 / 1e12 * 1e3
    tokens_m = run["global_batch"] * run["seq_len"] / 1e6
    crossings = network_crossings()
    plain = M.a2a_split(EP, 8, v3.top_k)["network"]
    rows = {r["schedule"]: r for r in M.deepseek_v3_case()}
    two, one = rows["dualpipe"]["states_gib"], rows["dualpipev"]["states_gib"]
    p, m, x = 4, 8, 0.6
    toy = toy_1f1b_step(p, m, x)
    no_a2a = toy_1f1b_step(p, m, 0.0)
    return [
        numeric(
            en_zh(
                "What share of DeepSeek-V3's parameters does one token use, in percent?",
                "DeepSeek-V3 的参数中，一个 token 用到的占多少？（百分数）",
            ),
            share,
            correct_feedback=en_zh(
                f"Right: {active_b:.0f}B of {total_b:.0f}B; the other experts sit idle for "
                "that token.",
                f"对：{total_b:.0f}B 中的 {active_b:.0f}B；其余专家对这个 token 不工作。",
            ),
            wrong_feedback=en_zh(
                "Divide the active parameters (all but the $E - k$ skipped experts per MoE "
                "layer) by the total.",
                "用激活参数量（每个 MoE 层去掉没选中的 $E - k$ 个专家）除以总参数量。",
            ),
            rel_tol=0.05,
        ),
        numeric(
            en_zh(
                f"DeepSeek-V3 has {v3.num_experts} routed experts per MoE layer. How many does "
                f"one GPU hold with expert parallelism $e = {EP}$?",
                f"DeepSeek-V3 每个 MoE 层有 {v3.num_experts} 个路由专家。专家并行度 "
                f"$e = {EP}$ 时，每个 GPU 放几个？",
            ),
            per_gpu,
            correct_feedback=en_zh(
                f"Right: {v3.num_experts} / {EP} = {per_gpu} experts per layer on each GPU.",
                f"对：{v3.num_experts} / {EP} = {per_gpu}，每个 GPU 每层放 {per_gpu} 个专家。",
            ),
            wrong_feedback=en_zh(
                "Expert parallelism spreads the $E$ experts evenly over $e$ GPUs.",
                "专家并行把 $E$ 个专家平均分到 $e$ 个 GPU 上。",
            ),
        ),
        numeric(
            en_zh(
                f"From the report's {run['gpu_hours_per_trillion'] / 1e3:.0f}K H800 GPU-hours "
                f"per trillion tokens, {run['gpus']} GPUs and {run['global_batch']} sequences "
                f"of {run['seq_len']} tokens per step, how many seconds is one step?",
                f"报告给出每万亿 token 用 {run['gpu_hours_per_trillion'] / 1e3:.0f}K H800 "
                f"GPU 小时、{run['gpus']} 张 GPU、每步 {run['global_batch']} 条 "
                f"{run['seq_len']} token 的序列。每步多少秒？",
            ),
            step,
            correct_feedback=en_zh(
                f"Right: {tokens_m:.1f}M tokens x {per_token_ms:.3f} GPU-ms per token / "
                f"{run['gpus']} GPUs = {step:.1f} s.",
                f"对：{tokens_m:.1f}M 个 token × 每 token {per_token_ms:.3f} GPU 毫秒 / "
                f"{run['gpus']} 张 GPU = {step:.1f} 秒。",
            ),
            wrong_feedback=en_zh(
                "GPU-seconds per token = GPU-hours x 3600 / 10^12; multiply by the tokens per "
                "step and divide by the GPUs.",
                "每 token 的 GPU 秒数 = GPU 小时 × 3600 / 10^12；"
                "乘以每步 token 数，再除以 GPU 数。",
            ),
            rel_tol=0.03,
        ),
        numeric(
            en_zh(
                f"With $e = {EP}$ over 8-GPU nodes, top-{v3.top_k} routing and at most "
                f"{v3.max_nodes_per_token} nodes per token, how many network crossings does one "
                "token's dispatch need on average?",
                f"$e = {EP}$，每节点 8 张 GPU，每个 token 选 {v3.top_k} 个专家且最多去 "
                f"{v3.max_nodes_per_token} 个节点。一个 token 的 dispatch 平均要跨网络几次？",
            ),
            crossings,
            correct_feedback=en_zh(
                f"Right: at most {v3.max_nodes_per_token} nodes, 7/8 of them remote, one "
                "crossing each; NVLink forwards inside the node.",
                f"对：最多 {v3.max_nodes_per_token} 个节点，其中 7/8 在远端，每个跨网络一次；"
                "节点内由 NVLink 转发。",
            ),
            wrong_feedback=en_zh(
                "Count remote nodes, not copies: a token crosses the network once per remote "
                "node it reaches.",
                "数远端节点，不数副本：token 每到一个远端节点只跨一次网络。",
            ),
            traps=[
                (
                    plain,
                    en_zh(
                        f"{plain:.0f} is the plain all-to-all, one crossing per remote copy; "
                        "node-limited routing crosses once per node.",
                        f"{plain:.0f} 是普通 all-to-all（每个远端副本跨一次）；"
                        "限节点路由每个节点只跨一次。",
                    ),
                )
            ],
            rel_tol=0.05,
        ),
        numeric(
            en_zh(
                f"A toy 1F1B pipeline: $p = {p}$, $m = {m}$, per rank a forward takes 1 unit, a "
                f"backward 2, and each carries an all-to-all of {x} units. How long is the "
                "step, in units?",
                f"一个玩具 1F1B 流水线：$p = {p}$，$m = {m}$，每个 rank 前向 1 个单位、反向 2 个，"
                f"且各带 {x} 个单位的 all-to-all。每步多少个单位？",
            ),
            toy,
            correct_feedback=en_zh(
                f"Right: $(m + p - 1)(F + B + X) = {m + p - 1} \\times {1 + 2 + 2 * x:g}$ = "
                f"{toy:.1f}: the all-to-all stretches every action, bubble included.",
                f"对：$(m + p - 1)(F + B + X) = {m + p - 1} \\times {1 + 2 + 2 * x:g}$ = "
                f"{toy:.1f}；all-to-all 拉长了每个动作，气泡也随之变长。",
            ),
            wrong_feedback=en_zh(
                "Under 1F1B nothing hides the all-to-all: add it to $F + B$ and use chapter 2's "
                "step $(m + p - 1)$ actions long.",
                "1F1B 下没有东西隐藏 all-to-all：把它加到 $F + B$ 上，再用第 2 章的 "
                "$(m + p - 1)$ 个周期。",
            ),
            traps=[
                (
                    no_a2a,
                    en_zh(
                        "That is the step without the all-to-all; under 1F1B it is on the "
                        "critical path.",
                        "这是不算 all-to-all 的时间；1F1B 下它在关键路径上。",
                    ),
                ),
                (
                    no_a2a + m * 2 * x,
                    en_zh(
                        "The all-to-all also stretches the fill and drain, not only the $m$ "
                        "steady-state cycles.",
                        "all-to-all 也拉长了预热（warm-up）和排空阶段，不只是 $m$ 个稳态周期。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                "Under plain 1F1B, where is an MoE layer's all-to-all?",
                "在普通 1F1B 下，MoE 层的 all-to-all 在哪里？",
            ),
            [
                choice(
                    en_zh(
                        "On the critical path: inside every forward and backward",
                        "在关键路径上：在每个前向和反向之内",
                    ),
                    True,
                    en_zh(
                        "Right: dispatch and combine sit between a layer's kernels, so each "
                        "action waits for them.",
                        "对：dispatch 和 combine 夹在一层的算子之间，每个动作都要等它们。",
                    ),
                ),
                choice(
                    en_zh("Hidden by the pipeline bubble", "被流水线气泡隐藏"),
                    False,
                    en_zh(
                        "The bubble is idle time at the ends; the all-to-all happens in every "
                        "steady-state action.",
                        "气泡是两端的空闲时间；all-to-all 发生在每个稳态动作里。",
                    ),
                ),
                choice(
                    en_zh(
                        "Overlapped with the next stage's compute automatically",
                        "自动与下一个 stage 的计算重叠",
                    ),
                    False,
                    en_zh(
                        "Only a schedule that pairs another micro-batch's compute with it hides "
                        "it (DualPipe, or Megatron-Core's all-to-all overlap).",
                        "只有把另一个微批次的计算与它配对的调度才能隐藏它（DualPipe，或 "
                        "Megatron-Core 的 all-to-all 重叠）。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                "DualPipe versus DualPipeV on the same ranks: what differs?",
                "在同样的 rank 上，DualPipe 与 DualPipeV 有什么不同？",
            ),
            [
                choice(
                    en_zh(
                        "DualPipe keeps two copies of the parameters; the step time is the same",
                        "DualPipe 保存两份参数；每步时间相同",
                    ),
                    True,
                    en_zh(
                        f"Right: weights, gradients and optimizer state take {two:.0f} GiB "
                        f"versus {one:.0f} GiB per GPU for DeepSeek-V3 at 16 stages.",
                        f"对：DeepSeek-V3 在 16 个 stage 时，权重、梯度和优化器状态每个 GPU "
                        f"分别为 {two:.0f} GiB 与 {one:.0f} GiB。",
                    ),
                ),
                choice(
                    en_zh("DualPipeV has a larger bubble", "DualPipeV 的气泡更大"),
                    False,
                    en_zh(
                        "The V-shape runs the same two-directional schedule with one copy of "
                        "the weights; the bubble is the same in this model.",
                        "V 形用一份权重跑同样的双向调度；在本章模型中气泡相同。",
                    ),
                ),
                choice(
                    en_zh(
                        "DualPipe cannot overlap the all-to-all",
                        "DualPipe 不能重叠 all-to-all",
                    ),
                    False,
                    en_zh(
                        "Both pair forward and backward chunks to hide it.",
                        "两者都把前向块与反向块配对来隐藏它。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                "DeepSeek-V3 with DualPipe at 4 instead of 16 stages (e = 64, d = 2048 / p): "
                "what happens?",
                "DeepSeek-V3 用 DualPipe，从 16 个 stage 改为 4 个（e = 64，d = 2048 / p），"
                "会怎样？",
            ),
            [
                choice(
                    en_zh(
                        "The step hardly changes, but the states no longer fit an 80 GB GPU",
                        "每步时间几乎不变，但状态放不进 80 GB 的 GPU",
                    ),
                    True,
                    en_zh(
                        "Right: the all-to-all per GPU hardly depends on p, the bubble is "
                        "small either way, and four stages hold four times the layers.",
                        "对：每个 GPU 的 all-to-all 几乎与 p 无关，气泡本来就小，"
                        "而 4 个 stage 每个要放 4 倍的层。",
                    ),
                ),
                choice(
                    en_zh(
                        "The step gets much faster: fewer stages, smaller bubble",
                        "每步快很多：stage 少，气泡小",
                    ),
                    False,
                    en_zh(
                        "DualPipe's bubble is already a few percent; fewer stages remove "
                        "little of it.",
                        "DualPipe 的气泡本来只有百分之几，减少 stage 省不了多少。",
                    ),
                ),
                choice(
                    en_zh(
                        "The all-to-all shrinks with fewer stages",
                        "stage 少了，all-to-all 也变少",
                    ),
                    False,
                    en_zh(
                        "Each GPU still routes its tokens through the same number of MoE "
                        "layers per step: L / p layers for p times more micro-batches.",
                        "每个 GPU 每步经过的 MoE 层数不变：L / p 层，乘以 p 倍的微批次。",
                    ),
                ),
            ],
        ),
    ]
