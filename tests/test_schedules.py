"""Tests of the schedule simulator (ppnotes.schedules)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppnotes.schedules import (
    Action,
    Schedule,
    activation_sets_per_rank_layers,
    build_schedule,
    format_action,
    parse_action,
    result_from_times,
    simulate,
    simulate_named,
)

GENERATORS = ["gpipe", "1f1b", "zb-h1", "zb-h2", "zbv", "forward"]


# ---- tokens ---------------------------------------------------------------------------------


def test_tokens_parse_and_format():
    assert parse_action("5F3") == Action(5, "F", 3)
    assert parse_action("12I0") == Action(12, "I", 0)
    assert format_action(Action(3, "W", 17)) == "3W17"
    assert str(parse_action("0B10")) == "0B10"


@pytest.mark.parametrize("token", ["F3", "5X3", "5F", "-1F2", "5f3", " 5F3", "5F3x", 53])
def test_malformed_token_names_token_and_format(token):
    with pytest.raises(ValueError, match=r"malformed action token .* expected '\{stage\}"):
        parse_action(token)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, "F", 0), "stage must be an integer >= 0, got -1"),
        ((0, "X", 0), "kind must be one of 'F', 'B', 'I', 'W', got 'X'"),
        ((0, "F", 1.5), "microbatch must be an integer >= 0, got 1.5"),
    ],
)
def test_action_rejects_bad_fields(args, message):
    with pytest.raises(ValueError, match=message):
        Action(*args)


# ---- hand-checked values --------------------------------------------------------------------


def test_gpipe_and_1f1b_hand_value():
    # p=4, m=8, F=1, B=2: (m + p - 1)(F + B) = 11 * 3 = 33
    for name in ("gpipe", "1f1b"):
        result = simulate(build_schedule(name, 4, 8), {"F": 1, "B": 2})
        assert result.makespan == 33.0
        assert result.bubble_fraction == pytest.approx(3 / 11)
        assert result.bubble_ratio == pytest.approx(3 / 8)


def test_1f1b_token_order_for_p2_m3():
    assert build_schedule("1f1b", 2, 3).tokens() == [
        ["0F0", "0F1", "0B0", "0F2", "0B1", "0B2"],
        ["1F0", "1B0", "1F1", "1B1", "1F2", "1B2"],
    ]


def test_unbalanced_stages_bottleneck_sets_pace():
    # flow shop of identical jobs: sum of stage times + (m-1) * slowest, once per direction
    f = [1.0, 1.0, 2.0, 1.0]
    b = [2.0, 2.0, 4.0, 2.0]
    result = simulate(build_schedule("gpipe", 4, 8), {"F": f, "B": b})
    assert result.makespan == sum(f) + sum(b) + 7 * (2.0 + 4.0)


def test_comm_on_gpipe_costs_fill_and_drain_hops_only():
    # GPipe: only the 2(p-1) hops of the fill and the drain lie on the critical path
    result = simulate(build_schedule("gpipe", 4, 8), {"F": 1, "B": 2}, comm=0.25)
    assert result.makespan == pytest.approx(33 + 2 * 3 * 0.25)
    path = result.critical_path()
    assert sum(after_hop for _, after_hop in path) == 6
    assert path[0][0] == Action(0, "F", 0)


def test_comm_is_free_inside_a_rank():
    # ZB-V on one rank: both V stages share rank 0, so the turnaround costs no latency
    schedule = build_schedule("zbv", 1, 3)
    result = simulate(schedule, comm=5.0)
    assert result.makespan == pytest.approx(result.busy[0])


def test_comm_per_boundary_list():
    result = simulate(build_schedule("forward", 3, 1), {"F": 1}, comm=[0.5, 2.0])
    assert result.makespan == 3 + 0.5 + 2.0


def test_interleaved_v1_is_1f1b():
    assert build_schedule("interleaved", 4, 6, 1).tokens() == build_schedule("1f1b", 4, 6).tokens()


def test_interleaved_places_chunks_round_robin():
    schedule = build_schedule("interleaved", 4, 8, 3)
    assert schedule.rank_stages[1] == (1, 5, 9)
    assert schedule.num_stages == 12


def test_zb_h2_token_order_for_p2_m4():
    # rank 0: 2(p-1)+1 = 3 warm-up forwards, W right after I; rank 1 defers its W's by 2r = 2
    assert build_schedule("zb-h2", 2, 4).tokens() == [
        ["0F0", "0F1", "0F2", "0I0", "0W0", "0F3", "0I1", "0W1", "0I2", "0W2", "0I3", "0W3"],
        ["1F0", "1I0", "1F1", "1I1", "1F2", "1I2", "1W0", "1F3", "1I3", "1W1", "1W2", "1W3"],
    ]


@pytest.mark.parametrize("p, m", [(2, 3), (4, 7), (4, 12), (8, 15), (8, 32)])
def test_zb_h2_is_a_parallelogram_for_equal_times(p, m):
    result = simulate(build_schedule("zb-h2", p, m), {"F": 1.0, "I": 1.0, "W": 1.0})
    for r in range(p):
        on_rank = result.rank == r
        first, last = result.start[on_rank].min(), result.end[on_rank].max()
        # rank r starts when the first forward reaches it and then never waits
        assert (first, last) == (float(r), float(r + 3 * m))
    assert result.peak_activations.tolist() == [2 * p - 1] * p  # twice ZB-H1's p, minus one


def test_zb_h2_peak_is_capped_by_m():
    result = simulate(build_schedule("zb-h2", 4, 3), {"F": 1.0, "I": 1.0, "W": 1.0})
    assert result.peak_activations.max() == 3


def test_zbv_places_stages_in_a_v():
    assert build_schedule("zbv", 4, 7).rank_stages == ((0, 7), (1, 6), (2, 5), (3, 4))


# ---- laws that hold for every generator ----------------------------------------------------


def test_dualpipev_places_stages_in_a_v_and_follows_its_steps():
    schedule = build_schedule("dualpipev", 2, 4)
    assert schedule.rank_stages == ((0, 3), (1, 2))
    # rank 0: nF0 (2), nF0F1 (1), nB1W1F1 (1), main F0 B1 F1 B0 (1), nB1F1B0 (1), nB1B0, nWB0, nW
    assert schedule.tokens()[0] == [
        *["0F0", "0F1", "0F2", "3F0"],
        *["3I0", "3W0", "3F1"],
        *["0F3", "3B1", "3F2", "0B0"],
        *["3B2", "3F3", "0B1"],
        *["3B3", "0I2"],
        *["0W2", "0I3"],
        "0W3",
    ]


@pytest.mark.parametrize("p, m", [(1, 2), (2, 4), (3, 7), (4, 8), (8, 16)])
def test_dualpipev_does_all_work_once(p, m):
    schedule = build_schedule("dualpipev", p, m)
    result = simulate_named("dualpipev", p, m, t_f=1.0, t_i=1.5, t_w=0.5)
    assert result.busy == pytest.approx([m * 3.0] * p)  # same work per rank as 1F1B
    for stage in range(2 * p):
        kinds = [a.kind for a in schedule.flat_actions if a.stage == stage]
        assert kinds.count("F") == m
        assert kinds.count("B") + kinds.count("I") == m
        assert kinds.count("I") == kinds.count("W")


def test_dualpipev_needs_two_microbatches_per_rank():
    with pytest.raises(ValueError, match=r"dualpipev needs m >= 2p = 8 micro-batches, got m=7"):
        build_schedule("dualpipev", 4, 7)


schedule_cases = st.tuples(
    st.sampled_from(GENERATORS + ["interleaved"]),
    st.integers(1, 8),
    st.integers(1, 24),
    st.integers(1, 3),
)
cost_values = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])


def _build(name, p, m, v):
    if name == "interleaved":
        return build_schedule(name, p, p * max(1, m // p), v)
    return build_schedule(name, p, m)


@settings(max_examples=60, deadline=None)
@given(schedule_cases, cost_values, cost_values, cost_values, st.sampled_from([0.0, 0.3]))
def test_every_result_respects_dependencies_rank_order_and_conservation(case, f, i, w, comm):
    schedule = _build(*case)
    result = simulate(schedule, {"F": f, "B": i + w, "I": i, "W": w}, comm=comm)
    index = {a: k for k, a in enumerate(result.actions)}
    start, end, rank = result.start, result.end, schedule.stage_to_rank
    last = schedule.num_stages - 1
    for k, a in enumerate(result.actions):
        inputs = []
        if a.kind == "F" and a.stage > 0:
            inputs.append(index[Action(a.stage - 1, "F", a.microbatch)])
        if a.kind in "BI":
            inputs.append(index[Action(a.stage, "F", a.microbatch)])
            if a.stage < last:
                below = Action(a.stage + 1, "B", a.microbatch)
                inputs.append(index.get(below, index.get(Action(a.stage + 1, "I", a.microbatch))))
        if a.kind == "W":
            inputs.append(index[Action(a.stage, "I", a.microbatch)])
        for d in inputs:
            hop = comm if rank[result.actions[d].stage] != rank[a.stage] else 0.0
            assert start[k] >= end[d] + hop - 1e-9
    for r, rank_actions in enumerate(schedule.actions):
        ks = [index[a] for a in rank_actions]
        assert np.all(start[ks][1:] >= end[ks][:-1] - 1e-9), f"overlap on rank {r}"
        assert result.busy[r] == pytest.approx(float(np.sum(end[ks] - start[ks])))
        work = sum({"F": f, "B": i + w, "I": i, "W": w}[a.kind] for a in rank_actions)
        assert result.busy[r] == pytest.approx(work)
    assert result.makespan == pytest.approx(float(end.max()))
    assert result.bubble_ratio == pytest.approx(result.idle.sum() / result.busy.sum())


@pytest.mark.parametrize("name", GENERATORS)
def test_one_rank_has_no_bubble(name):
    result = simulate(build_schedule(name, 1, 5))
    assert result.bubble_fraction == 0.0
    assert result.idle[0] == 0.0


@pytest.mark.parametrize("name", ["gpipe", "1f1b"])
@pytest.mark.parametrize("p", [2, 5, 8])
def test_more_microbatches_never_raise_the_bubble_fraction(name, p):
    fractions = [simulate(build_schedule(name, p, m)).bubble_fraction for m in range(1, 40)]
    assert all(b <= a for a, b in zip(fractions, fractions[1:], strict=False))
    assert fractions[-1] < fractions[0]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 16), st.integers(1, 40))
def test_peak_activations_1f1b_and_gpipe(p, m):
    one = simulate(build_schedule("1f1b", p, m))
    gpipe = simulate(build_schedule("gpipe", p, m))
    assert one.peak_activations_per_stage.tolist() == [min(p - i, m) for i in range(p)]
    assert gpipe.peak_activations.tolist() == [m] * p
    assert one.makespan == gpipe.makespan


def test_forward_only_frees_each_set_after_its_forward():
    result = simulate(build_schedule("forward", 3, 4))
    assert result.peak_activations.tolist() == [1, 1, 1]


# ---- custom schedules and their errors ------------------------------------------------------


def test_from_actions_accepts_tokens_and_actions():
    schedule = Schedule.from_actions([["0F0", Action(0, "B", 0)], ["1F0", "1I0", "1W0"]])
    assert schedule.num_stages == 2 and schedule.num_microbatches == 1
    assert simulate(schedule, {"F": 1, "B": 2, "I": 1, "W": 1}).makespan == 1 + 1 + 1 + 2 + 0


@pytest.mark.parametrize(
    ("per_rank", "message"),
    [
        ([["0F0", "0Q0"]], r"malformed action token '0Q0': expected '\{stage\}"),
        ([["0F0", "0B0", "1F0"], ["1B0"]], "stage 1 appears on rank 0 and rank 1"),
        ([["0F0", "0F0", "0B0"]], "duplicated action 0F0: twice on rank 0"),
        ([["0F0", "0B0"], ["2F0", "2B0"]], "missing action: stage 1 has no actions"),
        ([["0F0", "0F1", "0B0"]], r"missing action: 0B1 \(forward 0F1 has no backward"),
        ([["0F1", "0B1", "0F0", "0B0"], ["1F1", "1B1"]], r"missing action: 1F0"),
        ([["0F0", "0I0"]], r"missing action: 0W0 \(0I0 has no W\)"),
        ([["0F0", "0W0"]], r"missing action: 0I0 \(0W0 has no I\)"),
        ([["0F0", "0B0", "0I0", "0W0"]], "mixing B and I/W for stage 0, micro-batch 0"),
        ([], "per_rank must hold at least one rank"),
        ([["0F0", "0B0"], []], "rank 1 has no actions"),
        ("0F0", "per_rank must be a list"),
    ],
)
def test_custom_schedule_errors(per_rank, message):
    with pytest.raises(ValueError, match=message):
        Schedule.from_actions(per_rank)


def test_deadlock_names_each_waiting_rank():
    per_rank = [["0F0", "0B0", "0F1", "0B1"], ["1F1", "1B1", "1F0", "1B0"]]
    expected = (
        "deadlock: rank 0 waits at 0B0 for 1B0 (rank 1), rank 1 waits at 1F1 for 0F1 (rank 0)"
    )
    with pytest.raises(ValueError) as caught:
        Schedule.from_actions(per_rank)
    assert str(caught.value) == expected


def test_backward_before_own_forward_is_a_deadlock():
    with pytest.raises(ValueError, match=r"rank 0 waits at 0B0 for 0F0 \(rank 0\)"):
        Schedule.from_actions([["0B0", "0F0"]])


def test_forward_only_refuses_backward():
    with pytest.raises(ValueError, match="forward-only schedule holds a backward action 0B0"):
        Schedule.from_actions([["0F0", "0B0"]], forward_only=True)


# ---- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pipedream", 4, 8), "name must be one of 'gpipe', '1f1b'"),
        (("1f1b", 0, 8), "p must be an integer >= 1, got 0"),
        (("1f1b", 4, 0), "m must be an integer >= 1, got 0"),
        (("1f1b", 4, 2.5), "m must be an integer >= 1, got 2.5"),
        (("interleaved", 4, 8, 0), "v must be an integer >= 1, got 0"),
        (("gpipe", 4, 8, 2), "v applies only to 'interleaved'"),
        (("interleaved", 4, 6, 2), "needs m divisible by p .* got m=6, p=4"),
    ],
)
def test_build_schedule_bad_inputs(args, message):
    with pytest.raises(ValueError, match=message):
        build_schedule(*args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"costs": {"X": 1}}, "costs key must be one of 'F', 'B', 'I', 'W', got 'X'"),
        ({"costs": {"F": -1}}, r"costs\['F'\] must be a finite number >= 0, got -1"),
        ({"costs": {"F": [1, 1]}}, r"costs\['F'\] must be a number or a list of 3 per-stage"),
        ({"costs": {"B": float("nan")}}, r"costs\['B'\] must be a finite number"),
        ({"costs": [1, 2]}, "costs must be a dict"),
        ({"comm": -0.1}, "comm must be a finite number >= 0, got -0.1"),
        ({"comm": [0.1]}, "comm must be a number or a list of 2 per-boundary latencies"),
    ],
)
def test_simulate_bad_inputs(kwargs, message):
    schedule = build_schedule("1f1b", 3, 4)
    with pytest.raises(ValueError, match=message):
        simulate(schedule, **kwargs)


def test_simulate_needs_a_schedule():
    with pytest.raises(
        ValueError, match=r"schedule must be a ppnotes.schedules.Schedule, got \[\["
    ):
        simulate([["0F0", "0B0"]])


# ---- named schedules with per-rank costs ----------------------------------------------------


def test_simulate_named_gives_every_schedule_the_same_work_per_rank():
    named = [("gpipe", 1), ("1f1b", 1), ("interleaved", 2), ("zb-h1", 1), ("zb-h2", 1), ("zbv", 1)]
    for name, v in named:
        result = simulate_named(name, 4, 8, v, t_f=1.0, t_i=1.5, t_w=0.5)
        assert result.busy == pytest.approx([8 * 3.0] * 4)
    assert simulate_named("1f1b", 4, 8).makespan == 33.0  # (m + p - 1)(F + I + W)
    assert simulate_named("interleaved", 4, 8, 2).makespan == 28.5  # (m + (p-1)/v) * 3
    assert simulate_named("gpipe", 4, 8, comm=0.5).makespan == 33.0 + 2 * 3 * 0.5


def test_activation_sets_per_rank_layers():
    assert activation_sets_per_rank_layers(simulate_named("gpipe", 4, 8)).tolist() == [8] * 4
    inter = simulate_named("interleaved", 4, 8, 2)
    assert activation_sets_per_rank_layers(inter).tolist() == [5.5, 4.5, 3.5, 2.5]
    zbv = simulate_named("zbv", 4, 8)
    assert activation_sets_per_rank_layers(zbv).tolist() == (zbv.peak_activations / 2).tolist()


def test_simulate_named_bad_input():
    with pytest.raises(ValueError, match="t_w must be a finite number >= 0, got -1"):
        simulate_named("1f1b", 4, 8, t_w=-1)
    with pytest.raises(ValueError, match="name must be one of"):
        simulate_named("pipedream", 4, 8)
    with pytest.raises(ValueError, match="result must be a ppnotes.schedules.SimResult, got 3"):
        activation_sets_per_rank_layers(3)


def test_result_from_times_matches_the_simulator_on_its_own_times():
    sched = build_schedule("1f1b", 4, 8)
    sim = simulate(sched)
    again = result_from_times(sched, sim.start, sim.end)
    assert again.makespan == sim.makespan and again.bubble_fraction == sim.bubble_fraction
    assert list(again.peak_activations) == list(sim.peak_activations)
    with pytest.raises(ValueError, match="one time per action"):
        result_from_times(sched, sim.start[:-1], sim.end)
    with pytest.raises(ValueError, match="end >= start"):
        result_from_times(sched, sim.end, sim.start)


# ---- every public entry point names the bad argument -----------------------------------------

_GENERATOR_NAMES = [
    "gpipe_actions",
    "forward_actions",
    "one_f_one_b_actions",
    "zb_h1_actions",
    "zb_h2_actions",
    "zbv_actions",
    "dualpipev_actions",
]


@pytest.mark.parametrize("name", _GENERATOR_NAMES)
@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 4, 8), r"rank must be an integer in \[0, 3\], got -1"),
        ((4, 4, 8), r"rank must be an integer in \[0, 3\], got 4"),
        ((True, 4, 8), r"rank must be an integer in \[0, 3\], got True"),
        ((0, 0, 8), "p must be an integer >= 1, got 0"),
        ((0, 4, 2.5), "m must be an integer >= 1, got 2.5"),
        ((0, 4, float("inf")), "m must be an integer >= 1, got inf"),
        ((0, 4, 10**7), "m must be at most 65,536"),
        ((0, 4, "8"), "m must be an integer >= 1, got '8'"),
    ],
)
def test_rank_generators_check_their_arguments(name, args, message):
    import ppnotes.schedules as schedules

    with pytest.raises(ValueError, match=message):
        getattr(schedules, name)(*args)


def test_rank_generators_keep_working_at_the_edges():
    import ppnotes.schedules as schedules

    for name in _GENERATOR_NAMES[:-1]:
        assert getattr(schedules, name)(0, 1, 1)  # p = 1, m = 1, rank 0
    assert schedules.dualpipev_actions(1, 2, 4)
    assert schedules.interleaved_actions(3, 4, 8, 2)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda s: s.interleaved_actions(0, 0, 8, 2), ValueError, "p must be an integer >= 1"),
        (lambda s: s.interleaved_actions(-1, 4, 8, 2), ValueError, "rank must be an integer"),
        (lambda s: s.interleaved_actions(0, 4, 8, 0), ValueError, "v must be an integer >= 1"),
        (lambda s: s.build_schedule("1f1b", 10**7, 8), ValueError, "p must be at most 1,024"),
        (lambda s: s.build_schedule("1f1b", 1024, 4096), ValueError, "p=1024, m=4096"),
        (lambda s: s.build_schedule("zbv", 512, 2048), ValueError, "p=512, m=2048"),
        (lambda s: s.decode_loop_schedule(4, 10**7, 8), ValueError, "k must be at most"),
        (lambda s: s.decode_loop_schedule(1024, 64, 64), ValueError, "p=1024, k=64, steps=64"),
        (lambda s: s.simulate_decode_loop(4, 4, 8, -1), ValueError, "stage_times must be a"),
        (lambda s: s.simulate_decode_loop(4, 4, 8, [1.0]), ValueError, "stage_times must be a"),
        (lambda s: s.simulate_decode_loop(4, 4, 8, [1, 1, 1, None]), ValueError, "stage_times"),
        (lambda s: s.simulate(s.build_schedule("1f1b", 2, 2), blocking="8"), TypeError, "blocking"),
        (lambda s: s.simulate(3), TypeError, "schedule must be a ppnotes.schedules.Schedule"),
        (lambda s: s.decode_period(None), TypeError, "result must be a"),
    ],
)
def test_schedule_entry_points_name_the_bad_argument(call, error, message):
    import ppnotes.schedules as schedules

    with pytest.raises(error, match=message):
        call(schedules)


def test_result_from_times_names_non_numeric_times():
    schedule = build_schedule("1f1b", 2, 2)
    with pytest.raises(ValueError, match="start must be a list of times"):
        result_from_times(schedule, object(), [0.0] * 8)
