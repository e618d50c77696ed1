"""Chapter 2 quiz: the bubble, its two definitions, and the schedules that shrink it."""

from __future__ import annotations

from .. import bubble
from ..quiz import choice, many_choice, multiple_choice, numeric
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
            "GPipe with p = 8 equal stages and m = 32 micro-batches: what share of the step is "
            "bubble, in percent (idle time over ranks x step time)?",
            frac_8_32,
            rel_tol=0.01,
            correct_feedback="Right: $(p-1)/(m+p-1) = 7/39$, the note's definition.",
            wrong_feedback="The step lasts $m+p-1$ slots and each rank is busy for $m$ of them.",
            traps=[
                (ratio_8_32, "That is $(p-1)/m = 7/32$: idle over *ideal* time, not over the step.")
            ],
        ),
        numeric(
            "Same pipeline (p = 8, m = 32). Megatron-LM and the Ultra-Scale Playbook report the "
            "bubble as idle time over ideal time. What number do they give, in percent?",
            ratio_8_32,
            rel_tol=0.01,
            correct_feedback="Right: $(p-1)/m = 7/32$, larger than the idle share of the step.",
            wrong_feedback="Divide the idle time $(p-1)(t_f+t_b)$ by the busy time $m(t_f+t_b)$.",
            traps=[
                (frac_8_32, "That is the idle share of the step, $(p-1)/(m+p-1)$: the other one.")
            ],
        ),
        numeric(
            "A paper reports a bubble of 25 % relative to ideal time. What share of the step is "
            "idle, in percent?",
            converted,
            rel_tol=0.01,
            correct_feedback="Right: $f = r/(1+r) = 0.25/1.25$.",
            wrong_feedback="Idle over step = idle / (ideal + idle) $= r / (1 + r)$.",
            traps=[(25.0, "25 % is idle over ideal; the step also contains the idle time.")],
        ),
        numeric(
            "GPipe or 1F1B with equal stages and m = 32: by what factor does the idle share of "
            "the step grow when the depth goes from p = 2 to p = 4? (Two decimals.)",
            doubling,
            rel_tol=0.01,
            correct_feedback="Right: $p-1$ triples from 1 to 3, and the step grows only a little, "
            "so the bubble nearly triples: 'doubling the depth doubles the bubble' fails here.",
            wrong_feedback="Compute $3/(32+3)$ divided by $1/(32+1)$.",
            traps=[(2.0, "The note's rule of thumb; $p-1$ goes from 1 to 3, not from 1 to 2.")],
        ),
        multiple_choice(
            "Same p, same m, same per-micro-batch times: how does 1F1B's bubble compare with "
            "GPipe's?",
            [
                choice(
                    "The same; 1F1B holds fewer activations",
                    True,
                    "Yes: both idle $(p-1)(t_f+t_b)$ per rank. 1F1B starts backwards early, so a "
                    "rank holds at most $\\min(p, m)$ micro-batches instead of $m$.",
                ),
                choice(
                    "1F1B's bubble is about half",
                    False,
                    "The fill and drain are as long as GPipe's; only the order in between differs.",
                ),
                choice(
                    "1F1B has no bubble",
                    False,
                    "The last stage still waits $p-1$ forwards for its first micro-batch.",
                ),
                choice(
                    "1F1B's bubble is larger, the price of its memory saving",
                    False,
                    "The simulator gives equal step times for every p and m.",
                ),
            ],
        ),
        numeric(
            "1F1B with p = 8 and m = 32: how many micro-batches' activations (each through one "
            "stage's layers) does rank 0 hold at its peak?",
            peak_1f1b,
            abs_tol=0.5,
            correct_feedback="Right: p warm-up micro-batches, whatever m is.",
            wrong_feedback="Rank 0 runs p-1 warm-up forwards, then one more before its first "
            "backward frees a set.",
            traps=[(peak_gpipe, "That is GPipe: all m forwards before any backward.")],
        ),
        numeric(
            "GPipe or 1F1B (no interleaving), depth p = 16, equal stages. What is the fewest "
            "micro-batches that keep the idle share of the step at or below 5 %?",
            m_frac,
            abs_tol=0.5,
            correct_feedback="Right: $m \\ge (p-1)(1-f)/f = 15 \\times 19$.",
            wrong_feedback="Solve $(p-1)/(m+p-1) \\le 0.05$ for $m$.",
            traps=[
                (m_ratio, "That bounds $(p-1)/m$, idle over ideal time, the stricter definition.")
            ],
        ),
        numeric(
            "Interleaved 1F1B with v = 2 chunks per rank, p = 8 equal stages, m = 32: what share "
            "of the step is bubble, in percent?",
            inter,
            rel_tol=0.01,
            whole_percent=True,
            correct_feedback="Right: $(p-1)/(vm+p-1)$; each fill slot is a chunk, $1/v$ as long.",
            wrong_feedback="The bubble is $p-1$ chunk-times of $t/v$ each, "
            "the work is $m$ full times.",
            traps=[(frac_8_32, "That is plain 1F1B ($v = 1$).")],
        ),
        numeric(
            "ZB-H1 with t_f = t_i = t_w = 1 (so 1F1B's backward is 2), p = 8, m = 32: how long "
            "does each rank idle per step, in units of t_f?",
            zb_h1,
            rel_tol=0.01,
            correct_feedback="Right: $(p-1)(t_f + t_i - t_w)$, "
            "a third of 1F1B's $(p-1)(t_f + t_b)$.",
            wrong_feedback="The deferred W's fill part of the drain: $(p-1)(t_f + t_i - t_w)$.",
            traps=[(plain_1f1b, "That is 1F1B's bubble $(p-1)(t_f + t_b)$, before splitting B.")],
        ),
        numeric(
            "Same ZB-H1 and 1F1B steps (p = 8, m = 32, t_f = t_i = t_w = 1, so each rank works "
            "32 x 3 = 96 units). ZB-H1's idle share of the step is what percentage of 1F1B's "
            "idle share of the step?",
            100 * share_vs_1f1b,
            rel_tol=0.01,
            correct_feedback="Right: $7/103$ against $21/117$. By idle time ZB-H1 leaves a third "
            "of "
            "1F1B's bubble, by idle share more, because the shorter step shrinks the "
            "denominator too. Always say which measure you compare.",
            wrong_feedback="Idle share = idle / (work + idle) for each schedule; then divide.",
            traps=[(100 * zb_h1 / plain_1f1b, "That compares idle times ($7/21$), not shares.")],
        ),
        many_choice(
            "Which statements about 'zero-bubble' schedules hold? Pick all that apply.",
            [
                choice(
                    "Within one flushed step, ZB-V still idles (simulated with t_f = t_i = t_w: "
                    f"{zbv_share:.1f} % of the step for p = 4, m = 8)",
                    True,
                    "Yes: the last rank waits for the first forward to arrive; 'zero' counts "
                    "across steps, not within a flushed one.",
                ),
                choice(
                    "ZB-H1's closed form is exact only for t_w <= min(t_f, t_i) (this book's "
                    "simulator finding)",
                    True,
                    "Yes: otherwise the deferred W's no longer fit in the gaps. The paper states "
                    "the formula; the condition comes from this book's simulator.",
                ),
                choice(
                    "ZB-V sends twice as many point-to-point messages per micro-batch as 1F1B",
                    True,
                    "Yes: its V placement makes every micro-batch cross 2(p - 1) rank boundaries "
                    "each way.",
                ),
                choice(
                    "ZB-H2 holds no more activations than 1F1B",
                    False,
                    f"It holds up to 2p - 1 micro-batches ({zb_h2_peak:g} at p = 8), about twice "
                    "1F1B's p.",
                ),
                choice(
                    "They need no weight-gradient split",
                    False,
                    "Splitting B into I and W is the whole trick: W has no consumer downstream, "
                    "so it can wait and fill bubbles.",
                ),
                choice(
                    "ZB-H1 holds more activations than 1F1B's first stage",
                    False,
                    "Every rank holds at most p sets, like 1F1B's first stage (simulated).",
                ),
            ],
        ),
        multiple_choice(
            "Two ranks, two micro-batches. Rank 0 runs 0F0 0B0 0F1 0B1; rank 1 runs 1F0 1F1 1B0 "
            "1B1. What happens?",
            [
                choice(
                    "Deadlock",
                    True,
                    f"Yes. The simulator says: {waits}.",
                ),
                choice(
                    "It runs, with a larger bubble",
                    False,
                    "Rank 0 waits at 0B0 for rank 1's gradient, and rank 1 waits at 1F1 for a "
                    "forward rank 0 never sends.",
                ),
                choice(
                    "It runs like 1F1B",
                    False,
                    "1F1B's last rank alternates F and B; here it wants two forwards first.",
                ),
            ],
        ),
    ]
