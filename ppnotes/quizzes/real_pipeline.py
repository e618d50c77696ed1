"""Chapter 10 quiz: running PyTorch's pipeline schedules and reading them with the simulator.

Every answer comes from the closed forms or the simulator (never from a noisy measurement), so
the quiz is the same on every machine.
"""

from __future__ import annotations

from .. import bubble, inference
from ..quiz import choice, multiple_choice, numeric
from ..real_pipeline import first_backward_position, stages_per_rank
from ..schedules import build_schedule, simulate, simulate_named

# The worked example's costs, in milliseconds: one stage's forward, backward and one hop.
T_F, T_B, HOP = 5.0, 10.0, 0.5
# The decode loop's: one decode step of one batch through a stage, and one hop (also the
# sampled tokens' way back to the first stage), milliseconds.
D_STAGE, D_HOP = 6.0, 0.2


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
    alone = inference.decode_tpot([D_STAGE] * 2, 1, D_HOP, D_HOP)
    four = inference.decode_tpot([D_STAGE] * 2, 4, D_HOP, D_HOP)
    return [
        numeric(
            "The lab runs 1F1B on p = 2 processes with m = 4 micro-batches. What share of the "
            "step does the closed form $(p-1)/(m+p-1)$ say is bubble, in percent?",
            frac_2_4,
            rel_tol=0.01,
            correct_feedback="Right: $1/5$. The measured share is larger: see the chapter.",
            wrong_feedback="Put $p = 2$ and $m = 4$ into $(p-1)/(m+p-1)$.",
            traps=[(100 * bubble.bubble_ratio(2, 4), "That is $(p-1)/m$, idle over ideal time.")],
        ),
        numeric(
            "PyTorch's Schedule1F1B with p = 4 stages and m = 8: how many actions does rank 0 "
            "run before its first backward?",
            warm,
            correct_feedback="Right: $p-1$ warm-up forwards plus the forward that opens the "
            "steady state; PyTorch counts $p$ warm-up forwards, the same order.",
            wrong_feedback="Rank 0 waits for the gradient of micro-batch 0, which needs "
            "micro-batch 0 to go through all $p$ stages first.",
            traps=[
                (
                    warm - 1,
                    "That is the book's warm-up count $p-1-\\text{rank}$; one more forward runs.",
                )
            ],
        ),
        numeric(
            "ScheduleZBVZeroBubble on p = 2 ranks: how many transformer blocks must the model "
            "have at least (each stage needs one)?",
            zbv_stages,
            correct_feedback="Right: ZB-V holds two stages per rank, in a V: $2p$ stages.",
            wrong_feedback="Count the stages: each rank holds a stage on the way down and one "
            "on the way back up.",
            traps=[(2, "That is one stage per rank; ZB-V needs two per rank.")],
        ),
        numeric(
            f"Simulate 1F1B with p = 2, m = 4, a stage forward of {T_F:g} ms, backward "
            f"{T_B:g} ms and a hop of {HOP:g} ms (sends overlap compute). Step time in ms?",
            step,
            rel_tol=0.01,
            correct_feedback="Right: $(m+p-1)(t_f+t_b)$ plus four hops: 1F1B's warm-up leaves "
            "no slack, so round trips in the steady state reach the critical path too.",
            wrong_feedback="Without hops it is $(m+p-1)(t_f+t_b)$; then count the hops on the "
            "critical path (not only the fill and the drain).",
            traps=[(no_hop, "That leaves the hops out.")],
        ),
        numeric(
            "At p = 2, how many micro-batches keep the 1F1B bubble at or below a 10 % share of "
            "the step?",
            m_10,
            correct_feedback="Right: $1/(m+1) \\le 0.1$ gives $m \\ge 9$.",
            wrong_feedback="Solve $(p-1)/(m+p-1) \\le 0.1$ for the smallest integer $m$.",
            traps=[(10, "That bounds $(p-1)/m$, idle over ideal time, not the share of the step.")],
        ),
        numeric(
            "Interleaved 1F1B (v = 2) on p = 2, m = 4, equal chunk costs and no hop time: what "
            "share of the step is bubble in the simulator, in percent?",
            inter,
            rel_tol=0.01,
            correct_feedback=f"Right: the chunks halve it against 1F1B's {plain:.1f} %.",
            wrong_feedback="The bubble of interleaving is $(p-1)/(vm+p-1)$.",
            traps=[(plain, "That is plain 1F1B; interleaving with v = 2 divides the bubble.")],
        ),
        numeric(
            f"The decode loop on p = 2 stages, each taking {D_STAGE:g} ms per decode step of "
            f"one batch, hops of {D_HOP:g} ms (the sampled tokens go back to the first stage "
            "too), one batch in flight: time per output token (TPOT) in ms?",
            alone,
            rel_tol=0.01,
            correct_feedback="Right: one trip round the ring, both stages and two hops; with "
            "one batch each stage idles half the time.",
            wrong_feedback="With one batch nothing overlaps: add every stage and every hop of "
            "one trip round the ring.",
            traps=[(D_STAGE, "That is one stage; the token must pass both.")],
        ),
        numeric(
            f"Same pipeline ({D_STAGE:g} ms per stage, {D_HOP:g} ms hops), now k = 4 batches in "
            "flight: TPOT of each batch in ms?",
            four,
            rel_tol=0.01,
            correct_feedback="Right: past the knee (k = p) the slowest stage is always busy, so "
            "each batch waits for the other three: $k \\cdot d$.",
            wrong_feedback="TPOT $= k \\cdot \\max(\\max_s d_s, C/k)$ with $C$ one trip "
            "round the ring.",
            traps=[(alone, "That is one trip round the ring, true only up to the knee k = p.")],
        ),
        multiple_choice(
            "You run the lab with p = 4 processes on a 2-core machine. What happens to the "
            "measured step compared with the simulator fed the costs measured at p = 2?",
            [
                choice(
                    "It is slower: two ranks share each core, so the steady state, where every "
                    "rank computes at once, runs at about half speed.",
                    True,
                    "Right: the simulator assumes each rank owns its processor.",
                ),
                choice(
                    "It matches: the simulator models any number of ranks.",
                    False,
                    "The simulator assumes each rank computes without waiting for a core.",
                ),
                choice(
                    "It is faster: more processes means more parallelism.",
                    False,
                    "Not beyond the core count: the processes take turns.",
                ),
            ],
        ),
        multiple_choice(
            "Schedule1F1B with p = 4 stages and m = 2 micro-batches: what does PyTorch do?",
            [
                choice(
                    "Raises a ValueError: 1F1B needs at least as many micro-batches as stages.",
                    True,
                    "Right (torch 2.13, Schedule1F1B.__init__); this chapter checks it first.",
                ),
                choice(
                    "Runs with a larger bubble.",
                    False,
                    "The book's simulator would (its 1F1B caps the warm-up), PyTorch refuses.",
                ),
                choice(
                    "Falls back to GPipe.",
                    False,
                    "No fallback: the constructor raises.",
                ),
            ],
        ),
    ]
