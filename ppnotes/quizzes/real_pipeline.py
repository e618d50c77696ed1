"""Chapter 10 quiz: running PyTorch's pipeline schedules and reading them with the simulator.

Every answer comes from the closed forms or the simulator (never from a noisy measurement), so
the quiz is the same on every machine.
"""

from __future__ import annotations

from .. import bubble
from ..quiz import choice, en_zh, multiple_choice, numeric
from ..real_pipeline import first_backward_position, stages_per_rank
from ..schedules import build_schedule, simulate, simulate_named

# The worked example's costs, in milliseconds: one stage's forward, backward and one hop.
T_F, T_B, HOP = 5.0, 10.0, 0.5


def questions() -> list[dict]:
    """The chapter 10 quiz (>= 6 computed questions)."""
    frac_2_4 = 100 * bubble.bubble_fraction(2, 4)
    warm = first_backward_position("1f1b", 4, 8, 0)
    zbv_stages = 2 * stages_per_rank("zbv")
    step = simulate(build_schedule("1f1b", 2, 4), {"F": T_F, "B": T_B}, HOP).makespan
    no_hop = simulate(build_schedule("1f1b", 2, 4), {"F": T_F, "B": T_B}, 0.0).makespan
    m_10 = bubble.microbatches_for_bubble(2, 0.10, definition="fraction")
    inter = 100 * simulate_named("interleaved", 2, 4, 2).bubble_fraction
    plain = 100 * simulate_named("1f1b", 2, 4).bubble_fraction
    return [
        numeric(
            en_zh(
                "The lab runs 1F1B on p = 2 processes with m = 4 micro-batches. What share of "
                "the step does the closed form $(p-1)/(m+p-1)$ say is bubble, in percent?",
                "实验在 p = 2 个进程上跑 1F1B，m = 4 个微批次。按闭式公式 $(p-1)/(m+p-1)$，"
                "气泡占一步的多少？用百分数作答。",
            ),
            frac_2_4,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $1/5$. The measured share is larger: see the chapter.",
                "对：$1/5$。实测的占比更大，见本章正文。",
            ),
            wrong_feedback=en_zh(
                "Put $p = 2$ and $m = 4$ into $(p-1)/(m+p-1)$.",
                "把 $p = 2$、$m = 4$ 代入 $(p-1)/(m+p-1)$。",
            ),
            traps=[
                (
                    100 * bubble.bubble_ratio(2, 4),
                    en_zh(
                        "That is $(p-1)/m$, idle over ideal time.",
                        "这是 $(p-1)/m$，空闲时间除以理想时间。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "PyTorch's Schedule1F1B with p = 4 stages and m = 8: how many actions does "
                "rank 0 run before its first backward?",
                "PyTorch 的 Schedule1F1B，p = 4 个 stage，m = 8：rank 0 在第一次反向之前"
                "执行了多少个动作？",
            ),
            warm,
            correct_feedback=en_zh(
                "Right: $p-1$ warm-up forwards plus the forward that opens the steady state; "
                "PyTorch counts $p$ warm-up forwards, the same order.",
                "对：$p-1$ 个预热（warm-up）前向，再加上开启稳态的那个前向；PyTorch 把它算成 "
                "$p$ 个预热前向，顺序是一样的。",
            ),
            wrong_feedback=en_zh(
                "Rank 0 waits for the gradient of micro-batch 0, which needs micro-batch 0 to "
                "go through all $p$ stages first.",
                "rank 0 要等微批次 0 的梯度，而这要求微批次 0 先走完全部 $p$ 个 stage。",
            ),
            traps=[
                (
                    warm - 1,
                    en_zh(
                        "That is the book's warm-up count $p-1-\\text{rank}$; one more "
                        "forward runs.",
                        "这是本书的预热计数 $p-1-\\text{rank}$；之后还要再跑一个前向。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "ScheduleZBVZeroBubble on p = 2 ranks: how many transformer blocks must the "
                "model have at least (each stage needs one)?",
                "ScheduleZBVZeroBubble 跑在 p = 2 个 rank 上：模型至少要有多少个 transformer "
                "block（每个 stage 至少一个）？",
            ),
            zbv_stages,
            correct_feedback=en_zh(
                "Right: ZB-V holds two stages per rank, in a V: $2p$ stages.",
                "对：ZB-V 每个 rank 放两个 stage，排成 V 形：一共 $2p$ 个 stage。",
            ),
            wrong_feedback=en_zh(
                "Count the stages: each rank holds a stage on the way down and one on the way "
                "back up.",
                "数一数 stage：每个 rank 在下行路上放一个，在返回路上再放一个。",
            ),
            traps=[
                (
                    2,
                    en_zh(
                        "That is one stage per rank; ZB-V needs two per rank.",
                        "这是每个 rank 一个 stage；ZB-V 每个 rank 要两个。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                f"Simulate 1F1B with p = 2, m = 4, a stage forward of {T_F:g} ms, backward "
                f"{T_B:g} ms and a hop of {HOP:g} ms (sends overlap compute). Step time in ms?",
                f"模拟 1F1B：p = 2，m = 4，每个 stage 前向 {T_F:g} 毫秒、反向 {T_B:g} 毫秒，"
                f"一跳 {HOP:g} 毫秒（发送与计算重叠）。一步要多少毫秒？",
            ),
            step,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $(m+p-1)(t_f+t_b)$ plus four hops: 1F1B's warm-up leaves no slack, so "
                "round trips in the steady state reach the critical path too.",
                "对：$(m+p-1)(t_f+t_b)$ 再加四跳：1F1B 的预热没有留余量，所以稳态里的往返也会"
                "落在关键路径上。",
            ),
            wrong_feedback=en_zh(
                "Without hops it is $(m+p-1)(t_f+t_b)$; then count the hops on the critical "
                "path (not only the fill and the drain).",
                "不算跳时是 $(m+p-1)(t_f+t_b)$；再数关键路径上的跳（不只是填充和排空阶段的）。",
            ),
            traps=[(no_hop, en_zh("That leaves the hops out.", "这样漏掉了跳的时间。"))],
        ),
        numeric(
            en_zh(
                "At p = 2, how many micro-batches keep the 1F1B bubble at or below a 10 % share "
                "of the step?",
                "p = 2 时，至少要多少个微批次，才能让 1F1B 的气泡不超过一步的 10 %？",
            ),
            m_10,
            correct_feedback=en_zh(
                "Right: $1/(m+1) \\le 0.1$ gives $m \\ge 9$.",
                "对：由 $1/(m+1) \\le 0.1$ 得 $m \\ge 9$。",
            ),
            wrong_feedback=en_zh(
                "Solve $(p-1)/(m+p-1) \\le 0.1$ for the smallest integer $m$.",
                "解 $(p-1)/(m+p-1) \\le 0.1$，求最小的整数 $m$。",
            ),
            traps=[
                (
                    10,
                    en_zh(
                        "That bounds $(p-1)/m$, idle over ideal time, not the share of the step.",
                        "这限制的是 $(p-1)/m$（空闲时间除以理想时间），不是占一步的比例。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Interleaved 1F1B (v = 2) on p = 2, m = 4, equal chunk costs and no hop time: "
                "what share of the step is bubble in the simulator, in percent?",
                "交错式 1F1B（v = 2），p = 2，m = 4，各模型块耗时相同、跳不耗时：模拟器里"
                "气泡占一步的多少？用百分数作答。",
            ),
            inter,
            rel_tol=0.01,
            correct_feedback=en_zh(
                f"Right: the chunks halve it against 1F1B's {plain:.1f} %.",
                f"对：和普通 1F1B 的 {plain:.1f} % 相比，切成模型块后减半。",
            ),
            wrong_feedback=en_zh(
                "The bubble of interleaving is $(p-1)/(vm+p-1)$.",
                "交错式 1F1B 的气泡是 $(p-1)/(vm+p-1)$。",
            ),
            traps=[
                (
                    plain,
                    en_zh(
                        "That is plain 1F1B; interleaving with v = 2 divides the bubble.",
                        "这是普通 1F1B；v = 2 的交错式 1F1B 会把气泡除以 2。",
                    ),
                )
            ],
        ),
        multiple_choice(
            en_zh(
                "You run the lab with p = 4 processes on a 2-core machine. What happens to the "
                "measured step compared with the simulator fed the costs measured at p = 2?",
                "在一台 2 核机器上用 p = 4 个进程跑实验。和喂了 p = 2 时实测耗时的模拟器相比，"
                "实测的一步会怎样？",
            ),
            [
                choice(
                    en_zh(
                        "It is slower: two ranks share each core, so the steady state, where "
                        "every rank computes at once, runs at about half speed.",
                        "更慢：每个核由两个 rank 共用，所以在所有 rank 同时计算的稳态里，"
                        "速度大约只有一半。",
                    ),
                    True,
                    en_zh(
                        "Right: the simulator assumes each rank owns its processor.",
                        "对：模拟器假设每个 rank 独占一个处理器。",
                    ),
                ),
                choice(
                    en_zh(
                        "It matches: the simulator models any number of ranks.",
                        "一致：模拟器对任意数量的 rank 都成立。",
                    ),
                    False,
                    en_zh(
                        "The simulator assumes each rank computes without waiting for a core.",
                        "模拟器假设每个 rank 计算时不用等核。",
                    ),
                ),
                choice(
                    en_zh(
                        "It is faster: more processes means more parallelism.",
                        "更快：进程越多，并行度越高。",
                    ),
                    False,
                    en_zh(
                        "Not beyond the core count: the processes take turns.",
                        "超过核数就不是了：进程只能轮流用核。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                "Schedule1F1B with p = 4 stages and m = 2 micro-batches: what does PyTorch do?",
                "Schedule1F1B，p = 4 个 stage，m = 2 个微批次：PyTorch 会怎么做？",
            ),
            [
                choice(
                    en_zh(
                        "Raises a ValueError: 1F1B needs at least as many micro-batches as stages.",
                        "抛出 ValueError：1F1B 要求微批次数不少于 stage 数。",
                    ),
                    True,
                    en_zh(
                        "Right (torch 2.13, Schedule1F1B.__init__); this chapter checks it first.",
                        "对（torch 2.13，Schedule1F1B.__init__）；本章会先检查这一点。",
                    ),
                ),
                choice(
                    en_zh("Runs with a larger bubble.", "照常运行，只是气泡更大。"),
                    False,
                    en_zh(
                        "The book's simulator would (its 1F1B caps the warm-up), PyTorch refuses.",
                        "本书的模拟器会这样（它的 1F1B 会截短预热），PyTorch 则直接拒绝。",
                    ),
                ),
                choice(
                    en_zh("Falls back to GPipe.", "退回到 GPipe。"),
                    False,
                    en_zh("No fallback: the constructor raises.", "不会退回：构造函数直接报错。"),
                ),
            ],
        ),
    ]
