"""Chapter 2 quiz: the bubble, its two definitions, and the schedules that shrink it."""

from __future__ import annotations

from .. import bubble
from ..quiz import choice, en_zh, many_choice, multiple_choice, numeric
from ..schedules import Schedule, activation_sets_per_rank_layers, simulate_named


def deadlock_message() -> str:
    """The error the simulator gives for the quiz's deadlocking order (p = 2, m = 2)."""
    try:
        Schedule.from_strings(["0F0 0B0 0F1 0B1", "1F0 1F1 1B0 1B1"])
    except ValueError as error:
        return str(error)
    raise AssertionError("the quiz's order was expected to deadlock")  # pragma: no cover


def questions() -> list[dict]:
    """The chapter 2 quiz; every answer comes from :mod:`ppnotes.bubble` or the simulator."""
    frac_8_32 = 100 * bubble.bubble_fraction(8, 32)
    ratio_8_32 = 100 * bubble.bubble_ratio(8, 32)
    converted = 100 * bubble.fraction_from_ratio(0.25)
    doubling = bubble.bubble_fraction(4, 32) / bubble.bubble_fraction(2, 32)
    gpipe = simulate_named("gpipe", 8, 32)
    one_f_one_b = simulate_named("1f1b", 8, 32)
    peak_1f1b = float(activation_sets_per_rank_layers(one_f_one_b)[0])
    peak_gpipe = float(activation_sets_per_rank_layers(gpipe)[0])
    m_frac = bubble.microbatches_for_bubble(16, 0.05, definition="fraction")
    m_ratio = bubble.microbatches_for_bubble(16, 0.05, definition="ratio")
    inter = 100 * bubble.bubble_fraction(8, 32, v=2)
    zb_h1 = bubble.zb_h1_bubble_time(8, 32, 1.0, 1.0, 1.0)
    plain_1f1b = bubble.bubble_time_1f1b(8, 1.0, 2.0)
    work = 32 * 3.0
    share_vs_1f1b = (zb_h1 / (work + zb_h1)) / (plain_1f1b / (work + plain_1f1b))
    zbv = simulate_named("zbv", 4, 8)
    zbv_share = 100 * zbv.bubble_fraction
    waits = deadlock_message()
    zb_h2_peak = float(simulate_named("zb-h2", 8, 32).peak_activations.max())
    return [
        numeric(
            en_zh(
                "GPipe with p = 8 equal stages and m = 32 micro-batches: what share of the step is "
                "bubble, in percent (idle time over ranks x step time)?",
                "GPipe，p = 8 个耗时相同的 stage，m = 32 个微批次：气泡占整个 step 的百分之多少"
                "（空闲时间 / (rank 数 × step 时间)）？",
            ),
            frac_8_32,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $(p-1)/(m+p-1) = 7/39$, the note's definition.",
                "对：$(p-1)/(m+p-1) = 7/39$，这是原笔记的定义。",
            ),
            wrong_feedback=en_zh(
                "The step lasts $m+p-1$ slots and each rank is busy for $m$ of them.",
                "一个 step 有 $m+p-1$ 个时隙，每个 rank 只在其中 $m$ 个里干活。",
            ),
            traps=[
                (
                    ratio_8_32,
                    en_zh(
                        "That is $(p-1)/m = 7/32$: idle over *ideal* time, not over the step.",
                        "这是 $(p-1)/m = 7/32$：空闲时间除以*理想*时间，不是除以整个 step。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Same pipeline (p = 8, m = 32). Megatron-LM and the Ultra-Scale Playbook report "
                "the bubble as idle time over ideal time. What number do they give, in percent?",
                "同一条流水线（p = 8，m = 32）。Megatron-LM 和 Ultra-Scale Playbook 把气泡算成"
                "空闲时间与理想时间之比。它们给出的是百分之多少？",
            ),
            ratio_8_32,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $(p-1)/m = 7/32$, larger than the idle share of the step.",
                "对：$(p-1)/m = 7/32$，比空闲时间占 step 的比例大。",
            ),
            wrong_feedback=en_zh(
                "Divide the idle time $(p-1)(t_f+t_b)$ by the busy time $m(t_f+t_b)$.",
                "用空闲时间 $(p-1)(t_f+t_b)$ 除以干活的时间 $m(t_f+t_b)$。",
            ),
            traps=[
                (
                    frac_8_32,
                    en_zh(
                        "That is the idle share of the step, $(p-1)/(m+p-1)$: the other one.",
                        "这是空闲时间占 step 的比例 $(p-1)/(m+p-1)$，是另一种定义。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "A paper reports a bubble of 25 % relative to ideal time. What share of the step "
                "is idle, in percent?",
                "一篇论文说气泡是理想时间的 25 %。整个 step 里空闲的时间占百分之多少？",
            ),
            converted,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $f = r/(1+r) = 0.25/1.25$.", "对：$f = r/(1+r) = 0.25/1.25$。"
            ),
            wrong_feedback=en_zh(
                "Idle over step = idle / (ideal + idle) $= r / (1 + r)$.",
                "空闲 / step = 空闲 / (理想 + 空闲) $= r / (1 + r)$。",
            ),
            traps=[
                (
                    25.0,
                    en_zh(
                        "25 % is idle over ideal; the step also contains the idle time.",
                        "25 % 是空闲比理想时间；step 本身还包含这段空闲时间。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "GPipe or 1F1B with equal stages and m = 32: by what factor does the idle share of "
                "the step grow when the depth goes from p = 2 to p = 4? (Two decimals.)",
                "GPipe 或 1F1B，各 stage 耗时相同，m = 32：深度从 p = 2 变成 p = 4 时，"
                "空闲时间占 step 的比例变成原来的几倍？（保留两位小数。）",
            ),
            doubling,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $p-1$ triples from 1 to 3, and the step grows only a little, so the "
                "bubble nearly triples: 'doubling the depth doubles the bubble' fails here.",
                "对：$p-1$ 从 1 变成 3，翻了三倍，而 step 只长了一点，所以气泡几乎变成三倍："
                "“深度翻倍，气泡翻倍”在这里不成立。",
            ),
            wrong_feedback=en_zh(
                "Compute $3/(32+3)$ divided by $1/(32+1)$.", "算 $3/(32+3)$ 除以 $1/(32+1)$。"
            ),
            traps=[
                (
                    2.0,
                    en_zh(
                        "The note's rule of thumb; $p-1$ goes from 1 to 3, not from 1 to 2.",
                        "这是原笔记的经验法则；$p-1$ 是从 1 变到 3，不是从 1 变到 2。",
                    ),
                )
            ],
        ),
        multiple_choice(
            en_zh(
                "Same p, same m, same per-micro-batch times: how does 1F1B's bubble compare with "
                "GPipe's?",
                "p 相同、m 相同、每个微批次的耗时也相同：1F1B 的气泡和 GPipe 的比起来怎样？",
            ),
            [
                choice(
                    en_zh(
                        "The same; 1F1B holds fewer activations",
                        "一样大；1F1B 存的激活更少",
                    ),
                    True,
                    en_zh(
                        "Yes: both idle $(p-1)(t_f+t_b)$ per rank. 1F1B starts backwards early, "
                        "so a rank holds at most $\\min(p, m)$ micro-batches instead of $m$.",
                        "对：两者每个 rank 都空闲 $(p-1)(t_f+t_b)$。1F1B 更早开始反向，所以一个 "
                        "rank 最多存 $\\min(p, m)$ 个微批次，而不是 $m$ 个。",
                    ),
                ),
                choice(
                    en_zh("1F1B's bubble is about half", "1F1B 的气泡大约只有一半"),
                    False,
                    en_zh(
                        "The fill and drain are as long as GPipe's; only the order in between "
                        "differs.",
                        "填充和排空和 GPipe 一样长；只有中间的执行顺序不同。",
                    ),
                ),
                choice(
                    en_zh("1F1B has no bubble", "1F1B 没有气泡"),
                    False,
                    en_zh(
                        "The last stage still waits $p-1$ forwards for its first micro-batch.",
                        "最后一个 stage 仍要等 $p-1$ 次前向，才拿到第一个微批次。",
                    ),
                ),
                choice(
                    en_zh(
                        "1F1B's bubble is larger, the price of its memory saving",
                        "1F1B 的气泡更大，这是省显存的代价",
                    ),
                    False,
                    en_zh(
                        "The simulator gives equal step times for every p and m.",
                        "模拟器算出，无论 p 和 m 取多少，两者的 step 时间都相同。",
                    ),
                ),
            ],
        ),
        numeric(
            en_zh(
                "1F1B with p = 8 and m = 32: how many micro-batches' activations (each through one "
                "stage's layers) does rank 0 hold at its peak?",
                "1F1B，p = 8，m = 32：rank 0 在峰值时存着多少个微批次的激活"
                "（每个微批次算一个 stage 的所有层）？",
            ),
            peak_1f1b,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: p warm-up micro-batches, whatever m is.",
                "对：预热（warm-up）留下的 p 个微批次，与 m 无关。",
            ),
            wrong_feedback=en_zh(
                "Rank 0 runs p-1 warm-up forwards, then one more before its first backward frees "
                "a set.",
                "rank 0 先做 p-1 次预热前向，在第一次反向释放一份激活之前还要再做一次前向。",
            ),
            traps=[
                (
                    peak_gpipe,
                    en_zh(
                        "That is GPipe: all m forwards before any backward.",
                        "这是 GPipe：先做完全部 m 次前向，再开始反向。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "GPipe or 1F1B (no interleaving), depth p = 16, equal stages. What is the fewest "
                "micro-batches that keep the idle share of the step at or below 5 %?",
                "GPipe 或 1F1B（不交错），深度 p = 16，各 stage 耗时相同。要让空闲时间占 step "
                "的比例不超过 5 %，最少需要多少个微批次？",
            ),
            m_frac,
            abs_tol=0.5,
            correct_feedback=en_zh(
                "Right: $m \\ge (p-1)(1-f)/f = 15 \\times 19$.",
                "对：$m \\ge (p-1)(1-f)/f = 15 \\times 19$。",
            ),
            wrong_feedback=en_zh(
                "Solve $(p-1)/(m+p-1) \\le 0.05$ for $m$.",
                "从 $(p-1)/(m+p-1) \\le 0.05$ 解出 $m$。",
            ),
            traps=[
                (
                    m_ratio,
                    en_zh(
                        "That bounds $(p-1)/m$, idle over ideal time, the stricter definition.",
                        "这限制的是 $(p-1)/m$，即空闲时间与理想时间之比，是更严格的那种定义。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Interleaved 1F1B with v = 2 chunks per rank, p = 8 equal stages, m = 32: what "
                "share of the step is bubble, in percent?",
                "交错式 1F1B，每个 rank 放 v = 2 个模型块，p = 8 个耗时相同的 stage，m = 32："
                "气泡占 step 的百分之多少？",
            ),
            inter,
            rel_tol=0.01,
            whole_percent=True,
            correct_feedback=en_zh(
                "Right: $(p-1)/(vm+p-1)$; each fill slot is a chunk, $1/v$ as long.",
                "对：$(p-1)/(vm+p-1)$；填充时的每个时隙只是一个模型块，长度是原来的 $1/v$。",
            ),
            wrong_feedback=en_zh(
                "The bubble is $p-1$ chunk-times of $t/v$ each, the work is $m$ full times.",
                "气泡是 $p-1$ 个模型块的时间，每个 $t/v$；干活的时间是 $m$ 个完整的 $t$。",
            ),
            traps=[
                (
                    frac_8_32,
                    en_zh("That is plain 1F1B ($v = 1$).", "这是不交错的 1F1B（$v = 1$）。"),
                )
            ],
        ),
        numeric(
            en_zh(
                "ZB-H1 with t_f = t_i = t_w = 1 (so 1F1B's backward is 2), p = 8, m = 32: how "
                "long does each rank idle per step, in units of t_f?",
                "ZB-H1，t_f = t_i = t_w = 1（所以 1F1B 的反向是 2），p = 8，m = 32：每个 rank "
                "每个 step 空闲多久？以 t_f 为单位。",
            ),
            zb_h1,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $(p-1)(t_f + t_i - t_w)$, a third of 1F1B's $(p-1)(t_f + t_b)$.",
                "对：$(p-1)(t_f + t_i - t_w)$，是 1F1B 的 $(p-1)(t_f + t_b)$ 的三分之一。",
            ),
            wrong_feedback=en_zh(
                "The deferred W's fill part of the drain: $(p-1)(t_f + t_i - t_w)$.",
                "推迟的 W 填掉了排空时的一部分空闲：$(p-1)(t_f + t_i - t_w)$。",
            ),
            traps=[
                (
                    plain_1f1b,
                    en_zh(
                        "That is 1F1B's bubble $(p-1)(t_f + t_b)$, before splitting B.",
                        "这是拆分 B 之前 1F1B 的气泡 $(p-1)(t_f + t_b)$。",
                    ),
                )
            ],
        ),
        numeric(
            en_zh(
                "Same ZB-H1 and 1F1B steps (p = 8, m = 32, t_f = t_i = t_w = 1, so each rank "
                "works 32 x 3 = 96 units). ZB-H1's idle share of the step is what percentage of "
                "1F1B's idle share of the step?",
                "还是这两个 step（ZB-H1 和 1F1B，p = 8，m = 32，t_f = t_i = t_w = 1，所以每个 "
                "rank 干活 32 × 3 = 96 个单位）。ZB-H1 的空闲时间占 step 的比例，是 1F1B "
                "的这一比例的百分之多少？",
            ),
            100 * share_vs_1f1b,
            rel_tol=0.01,
            correct_feedback=en_zh(
                "Right: $7/103$ against $21/117$. By idle time ZB-H1 leaves a third of 1F1B's "
                "bubble, by idle share more, because the shorter step shrinks the denominator "
                "too. Always say which measure you compare.",
                "对：$7/103$ 对 $21/117$。按空闲时间算，ZB-H1 只剩 1F1B 气泡的三分之一；"
                "按空闲占比算要多一些，因为 step 变短，分母也变小了。"
                "比较时一定要说清用的是哪种口径。",
            ),
            wrong_feedback=en_zh(
                "Idle share = idle / (work + idle) for each schedule; then divide.",
                "每种调度的空闲占比 = 空闲 / (干活 + 空闲)；再相除。",
            ),
            traps=[
                (
                    100 * zb_h1 / plain_1f1b,
                    en_zh(
                        "That compares idle times ($7/21$), not shares.",
                        "这比较的是空闲时间（$7/21$），不是占比。",
                    ),
                )
            ],
        ),
        many_choice(
            en_zh(
                "Which statements about 'zero-bubble' schedules hold? Pick all that apply.",
                "关于“零气泡”调度，下面哪些说法成立？选出所有正确项。",
            ),
            [
                choice(
                    en_zh(
                        "Within one flushed step, ZB-V still idles (simulated with "
                        f"t_f = t_i = t_w: {zbv_share:.1f} % of the step for p = 4, m = 8)",
                        "在一个带流水线刷新的 step 里，ZB-V 仍有空闲（按 t_f = t_i = t_w 模拟，"
                        f"p = 4、m = 8 时占 step 的 {zbv_share:.1f} %）",
                    ),
                    True,
                    en_zh(
                        "Yes: the last rank waits for the first forward to arrive; 'zero' counts "
                        "across steps, not within a flushed one.",
                        "对：最后一个 rank 要等第一个前向传过来；“零”是跨 step 算的，"
                        "不是在一个带刷新的 step 之内。",
                    ),
                ),
                choice(
                    en_zh(
                        "ZB-H1's closed form is exact only for t_w <= min(t_f, t_i) (this book's "
                        "simulator finding)",
                        "ZB-H1 的闭式公式只在 t_w <= min(t_f, t_i) 时严格成立"
                        "（这是本书用模拟器得到的结论）",
                    ),
                    True,
                    en_zh(
                        "Yes: otherwise the deferred W's no longer fit in the gaps. The paper "
                        "states the formula; the condition comes from this book's simulator.",
                        "对：否则推迟的 W 就塞不进空隙了。公式出自论文，条件来自本书的模拟器。",
                    ),
                ),
                choice(
                    en_zh(
                        "ZB-V sends twice as many point-to-point messages per micro-batch as 1F1B",
                        "ZB-V 每个微批次的点对点消息数是 1F1B 的两倍",
                    ),
                    True,
                    en_zh(
                        "Yes: its V placement makes every micro-batch cross 2(p - 1) rank "
                        "boundaries each way.",
                        "对：V 形放置让每个微批次在每个方向上都要跨过 2(p - 1) 个 rank 边界。",
                    ),
                ),
                choice(
                    en_zh(
                        "ZB-H2 holds no more activations than 1F1B",
                        "ZB-H2 存的激活不比 1F1B 多",
                    ),
                    False,
                    en_zh(
                        f"It holds up to 2p - 1 micro-batches ({zb_h2_peak:g} at p = 8), about "
                        "twice 1F1B's p.",
                        f"它最多存 2p - 1 个微批次（p = 8 时是 {zb_h2_peak:g} 个），"
                        "大约是 1F1B 的 p 个的两倍。",
                    ),
                ),
                choice(
                    en_zh(
                        "They need no weight-gradient split",
                        "它们不需要拆出权重梯度",
                    ),
                    False,
                    en_zh(
                        "Splitting B into I and W is the whole trick: W has no consumer "
                        "downstream, so it can wait and fill bubbles.",
                        "把 B 拆成 I 和 W 正是关键：W 的结果下游没人等着用，所以可以推迟，"
                        "拿来填气泡。",
                    ),
                ),
                choice(
                    en_zh(
                        "ZB-H1 holds more activations than 1F1B's first stage",
                        "ZB-H1 存的激活比 1F1B 的第一个 stage 多",
                    ),
                    False,
                    en_zh(
                        "Every rank holds at most p sets, like 1F1B's first stage (simulated).",
                        "每个 rank 最多存 p 份，和 1F1B 的第一个 stage 一样（模拟结果）。",
                    ),
                ),
            ],
        ),
        multiple_choice(
            en_zh(
                "Two ranks, two micro-batches. Rank 0 runs 0F0 0B0 0F1 0B1; rank 1 runs 1F0 1F1 "
                "1B0 1B1. What happens?",
                "两个 rank、两个微批次。rank 0 依次执行 0F0 0B0 0F1 0B1；rank 1 依次执行 "
                "1F0 1F1 1B0 1B1。会发生什么？",
            ),
            [
                choice(
                    en_zh("Deadlock", "死锁"),
                    True,
                    en_zh(
                        f"Yes. The simulator says: {waits}.",
                        f"对。模拟器的报错是：{waits}。",
                    ),
                ),
                choice(
                    en_zh("It runs, with a larger bubble", "能跑，只是气泡更大"),
                    False,
                    en_zh(
                        "Rank 0 waits at 0B0 for rank 1's gradient, and rank 1 waits at 1F1 for "
                        "a forward rank 0 never sends.",
                        "rank 0 在 0B0 等 rank 1 的梯度，而 rank 1 在 1F1 等一个 rank 0 "
                        "永远不会发出的前向。",
                    ),
                ),
                choice(
                    en_zh("It runs like 1F1B", "和 1F1B 一样能跑"),
                    False,
                    en_zh(
                        "1F1B's last rank alternates F and B; here it wants two forwards first.",
                        "1F1B 的最后一个 rank 是 F 和 B 交替；这里它却要先做两次前向。",
                    ),
                ),
            ],
        ),
    ]
