"""Closed forms (ppnotes.bubble) against the simulator (ppnotes.schedules)."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppnotes import bubble
from ppnotes.schedules import build_schedule, simulate

depths = st.integers(1, 16)
microbatches = st.integers(1, 64)
times = st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])


# ---- hand-checked values --------------------------------------------------------------------


def test_hand_values():
    assert bubble.bubble_fraction(4, 8) == 3 / 11
    assert bubble.bubble_ratio(4, 8) == 3 / 8
    assert bubble.bubble_fraction(4, 8, v=2) == 3 / 19
    assert bubble.step_time(4, 8, 1, 2) == 33
    assert bubble.step_time(4, 8, 1, 2, v=2) == 28.5
    assert bubble.forward_step_time(4, 8, 0.5) == 5.5
    assert bubble.zb_h1_bubble_time(4, 8, 1, 1, 1) == 3  # (p-1)(F+I-W) = 3 * 1
    assert bubble.dualpipe_bubble_time(8, 1, 2, 1) == 6  # (8/2-1)(3 + 2 - 3)
    assert bubble.interleaved_hops(4, 2) == 7


def test_conversions_round_trip_and_values():
    assert bubble.fraction_from_ratio(3 / 8) == pytest.approx(3 / 11)
    assert bubble.ratio_from_fraction(3 / 11) == pytest.approx(3 / 8)
    for p, m in [(2, 3), (8, 32), (16, 1)]:
        r = bubble.bubble_ratio(p, m)
        assert bubble.fraction_from_ratio(r) == pytest.approx(bubble.bubble_fraction(p, m))


def test_one_rank_has_no_bubble_and_more_microbatches_shrink_it():
    assert bubble.bubble_fraction(1, 7) == 0.0 and bubble.bubble_ratio(1, 7, v=3) == 0.0
    fractions = [bubble.bubble_fraction(8, m) for m in range(1, 50)]
    assert all(b < a for a, b in zip(fractions, fractions[1:], strict=False))


# ---- closed forms equal the simulator -------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["gpipe", "1f1b"]), depths, microbatches, times, times)
def test_gpipe_and_1f1b_match_simulator(name, p, m, t_f, t_b):
    result = simulate(build_schedule(name, p, m), {"F": t_f, "B": t_b})
    assert result.makespan == pytest.approx(bubble.step_time(p, m, t_f, t_b))
    assert result.bubble_fraction == pytest.approx(bubble.bubble_fraction(p, m))
    assert result.bubble_ratio == pytest.approx(bubble.bubble_ratio(p, m))
    assert result.idle == pytest.approx(bubble.bubble_time_1f1b(p, t_f, t_b))


@settings(max_examples=40, deadline=None)
@given(depths, microbatches, times)
def test_forward_only_matches_simulator(p, m, t_f):
    result = simulate(build_schedule("forward", p, m), {"F": t_f})
    assert result.makespan == pytest.approx(bubble.forward_step_time(p, m, t_f))


@settings(max_examples=40, deadline=None)
@given(depths, st.integers(1, 4), st.integers(2, 4), times, times)
def test_interleaved_matches_simulator_when_m_divisible_by_p(p, groups, v, t_f, t_b):
    m = p * groups
    # each of the v chunks holds 1/v of a rank's layers, so it costs 1/v of t_f and t_b
    result = simulate(build_schedule("interleaved", p, m, v), {"F": t_f / v, "B": t_b / v})
    assert result.makespan == pytest.approx(bubble.step_time(p, m, t_f, t_b, v))
    assert result.bubble_fraction == pytest.approx(bubble.bubble_fraction(p, m, v))
    assert result.bubble_ratio == pytest.approx(bubble.bubble_ratio(p, m, v))
    # Megatron-LM warm-up: rank 0 holds min((v+1)p - 1, vm) chunk sets
    assert result.peak_activations[0] == min((v + 1) * p - 1, v * m)


@pytest.mark.parametrize(("p", "m", "v"), [(4, 6, 2), (4, 3, 2), (3, 7, 3)])
def test_interleaved_outside_condition_raises(p, m, v):
    for function in (bubble.bubble_fraction, bubble.bubble_ratio):
        with pytest.raises(ValueError, match="needs m divisible by p"):
            function(p, m, v)
    with pytest.raises(ValueError, match="needs m divisible by p"):
        build_schedule("interleaved", p, m, v)


@settings(max_examples=60, deadline=None)
@given(depths, microbatches, times, times, times)
def test_zb_h1_matches_simulator_when_w_fits(p, m, t_f, t_i, t_w):
    result = simulate(build_schedule("zb-h1", p, m), {"F": t_f, "I": t_i, "W": t_w})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = bubble.zb_h1_step_time(p, m, t_f, t_i, t_w)
    assert result.peak_activations.tolist() == [min(p, m)] * p  # 1F1B's first stage, everywhere
    if t_w <= min(t_f, t_i):
        assert not caught
        assert result.makespan == pytest.approx(predicted)
        assert result.idle == pytest.approx(bubble.zb_h1_bubble_time(p, m, t_f, t_i, t_w))
    else:
        # known deviation: W no longer fits the gaps; the formula is then a lower bound
        assert "lower bound" in str(caught[0].message)
        assert result.makespan >= predicted - 1e-9


def test_zb_h1_deviates_when_w_is_slow():
    result = simulate(build_schedule("zb-h1", 2, 4), {"F": 1, "I": 1, "W": 2})
    with pytest.warns(UserWarning, match="exact only for t_w <= min"):
        predicted = bubble.zb_h1_step_time(2, 4, 1, 1, 2)
    assert (result.makespan, predicted) == (17.0, 16.0)


def test_zb_h1_is_one_third_of_1f1b_bubble_for_equal_times():
    assert bubble.zb_h1_bubble_time(8, 32, 1, 1, 1) == bubble.bubble_time_1f1b(8, 1, 2) / 3


# ZB-H2: flushed step = m(F+I+W) + (p-1) max(F, F+I-2W) for m >= 2p-1 and (W <= F or I <= 2F)
zb_h2_costs = st.sampled_from([0.25, 0.5, 1.0, 1.5, 2.0, 3.0])


@settings(max_examples=80, deadline=None)
@given(depths, st.integers(0, 24), zb_h2_costs, zb_h2_costs, zb_h2_costs)
def test_zb_h2_matches_simulator_in_its_condition(p, extra, t_f, t_i, t_w):
    m = 2 * p - 1 + extra
    result = simulate(build_schedule("zb-h2", p, m), {"F": t_f, "I": t_i, "W": t_w})
    work = m * (t_f + t_i + t_w)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = bubble.zb_h2_bubble_time(p, m, t_f, t_i, t_w)
    if p == 1 or t_w <= t_f or t_i <= 2 * t_f:
        assert not caught
        assert result.makespan == pytest.approx(work + predicted)
        assert result.idle == pytest.approx([predicted] * p)
    else:
        # outside the cost condition the deferred W's no longer fit: strictly slower
        assert "lower bound" in str(caught[0].message)
        assert result.makespan > work + predicted + 1e-9
    # the paper's (across-steps) bubble is reached within a flushed step iff t_i >= 2 t_w
    steady = bubble.zb_h2_steady_bubble_time(p, t_f, t_i, t_w)
    if p > 1 and not caught:
        assert (result.makespan == pytest.approx(work + steady)) == (t_i >= 2 * t_w)
    # the last rank cannot start before (p-1) forwards: the flushed lower bound
    assert result.makespan >= work + (p - 1) * t_f - 1e-9


def test_zb_h2_hand_values_and_both_sides_of_each_condition():
    # equal times: the paper's bubble is 0, a flushed step idles (p-1) t_f, as ZB-H1
    assert bubble.zb_h2_steady_bubble_time(8, 1, 1, 1) == 0.0
    assert (
        bubble.zb_h2_bubble_time(8, 32, 1, 1, 1) == 7.0 == bubble.zb_h1_bubble_time(8, 32, 1, 1, 1)
    )
    # t_i = 2 t_w: flushed = paper = (p-1)(F + I - 2W)
    assert (
        bubble.zb_h2_bubble_time(4, 8, 1, 2, 1)
        == 3.0
        == bubble.zb_h2_steady_bubble_time(4, 1, 2, 1)
    )
    # m = 2p - 2 is too few micro-batches: the step is longer than the closed form
    short = simulate(build_schedule("zb-h2", 4, 6), {"F": 1, "I": 2, "W": 1})
    assert short.makespan > 6 * 4 + 3.0
    with pytest.raises(ValueError, match=r"needs m >= 2p - 1 = 7, got m=6"):
        bubble.zb_h2_bubble_time(4, 6, 1, 2, 1)
    # W > F and I > 2F: the order loses time, the formula is a lower bound
    slow = simulate(build_schedule("zb-h2", 8, 32), {"F": 1, "I": 3, "W": 1.5})
    with pytest.warns(UserWarning, match="exact only for t_w <= t_f or t_i <= 2 t_f"):
        predicted = bubble.zb_h2_bubble_time(8, 32, 1, 3, 1.5)
    assert slow.makespan > 32 * 5.5 + predicted
    # just inside: W > F but I = 2F still holds exactly
    edge = simulate(build_schedule("zb-h2", 8, 32), {"F": 1, "I": 2, "W": 1.5})
    assert edge.makespan == pytest.approx(32 * 4.5 + bubble.zb_h2_bubble_time(8, 32, 1, 2, 1.5))


# DualPipeV without F&B overlap: (p-1) max(F, F+I-W) / 2 for m >= 2p and I <= F <= I + W
@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10), st.integers(0, 20), zb_h2_costs, zb_h2_costs, zb_h2_costs)
def test_dualpipev_matches_simulator_in_its_condition(p, extra, t_f, t_i, t_w):
    m = 2 * p + extra
    chunk = {"F": t_f / 2, "I": t_i / 2, "W": t_w / 2, "B": (t_i + t_w) / 2}
    result = simulate(build_schedule("dualpipev", p, m), chunk)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predicted = bubble.dualpipev_bubble_time(p, m, t_f, t_i, t_w)
    if p == 1 or t_i <= t_f <= t_i + t_w:
        assert not caught
        assert result.idle == pytest.approx([predicted] * p)
    else:
        assert "exact only for t_i <= t_f <= t_i + t_w" in str(caught[0].message)


def test_dualpipev_against_table_2():
    p, m = 8, 32
    result = simulate(build_schedule("dualpipev", p, m), {"F": 0.5, "I": 0.5, "W": 0.5, "B": 1})
    # equal times: the same bubble as ZB-V, and half of Table 2's formula with F&B = F + B
    # (DualPipe on 2p ranks of chunk-sized stages: (p - 1)(F&B + B - 3W) in chunk times)
    table_2 = bubble.dualpipe_bubble_time(2 * p, 0.5, 1.0, 0.5)
    assert result.idle.max() == pytest.approx(bubble.zbv_bubble_time(p, m, 1, 1, 1))
    assert result.idle.max() == pytest.approx(table_2 / 2) == 3.5
    # both sides of the cost condition: t_i > t_f is not the closed form
    slow_i = simulate(build_schedule("dualpipev", 4, 16), {"F": 0.5, "I": 1, "W": 0.5, "B": 1.5})
    with pytest.warns(UserWarning, match="exact only for"):
        predicted = bubble.dualpipev_bubble_time(4, 16, 1, 2, 1)
    assert slow_i.idle.max() != pytest.approx(predicted)
    with pytest.raises(ValueError, match=r"DualPipeV needs m >= 2p = 8, got m=7"):
        bubble.dualpipev_bubble_time(4, 7, 1, 1, 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 20), times, st.sampled_from([1.0, 1.5, 2.0]))
def test_zbv_matches_simulator_in_its_condition(p, extra, t_f, i_over_f):
    m = 2 * p - 1 + extra
    t_i, t_w = t_f * i_over_f, t_f  # t_w = t_f <= t_i <= 2 t_f
    result = simulate(build_schedule("zbv", p, m), {"F": t_f / 2, "I": t_i / 2, "W": t_w / 2})
    assert result.idle == pytest.approx(bubble.zbv_bubble_time(p, m, t_f, t_i, t_w))
    assert result.peak_activations.tolist() == [2 * p] * p  # = p sets of L/p layers, as 1F1B


def test_zbv_outside_condition():
    with pytest.raises(ValueError, match=r"needs m >= 2p - 1 = 7, got m=6"):
        bubble.zbv_bubble_time(4, 6, 1, 1, 1)
    with pytest.warns(UserWarning, match="exact only for t_w = t_f"):
        predicted = bubble.zbv_bubble_time(2, 3, 0.5, 1.5, 0.5)
    result = simulate(build_schedule("zbv", 2, 3), {"F": 0.25, "I": 0.75, "W": 0.25})
    assert result.idle[0] != pytest.approx(predicted)  # the known deviation


def test_schedule_table_rows_agree_with_simulator():
    p, m, t_f, t_i, t_w = 4, 8, 1.0, 1.0, 1.0
    rows = {row["schedule"]: row for row in bubble.schedule_table(p, m, t_f, t_i, t_w, v=2)}
    costs = {"F": t_f, "B": t_i + t_w, "I": t_i, "W": t_w}
    for name in ("gpipe", "1f1b", "zb-h1", "zb-h2"):
        result = simulate(build_schedule(name, p, m), costs)
        assert rows[name]["bubble_time"] == pytest.approx(result.idle.max())
        assert rows[name]["bubble_fraction"] == pytest.approx(result.bubble_fraction)
        assert rows[name]["peak_activations"] == result.peak_activations.max()
    inter = simulate(build_schedule("interleaved", p, m, 2), {k: x / 2 for k, x in costs.items()})
    assert rows["interleaved (v=2)"]["bubble_time"] == pytest.approx(inter.idle.max())
    assert rows["interleaved (v=2)"]["peak_activations"] == inter.peak_activations.max() / 2
    assert rows["interleaved (v=2)"]["p2p_vs_1f1b"] == pytest.approx(7 / 3)
    assert rows["zbv"]["p2p_vs_1f1b"] == 2.0
    assert rows["dualpipe"]["parameter_copies"] == 2
    assert rows["dualpipe"]["peak_activations"] == p + 1


def test_schedule_table_marks_rows_outside_their_condition():
    rows = {row["schedule"]: row for row in bubble.schedule_table(3, 4, 1, 1, 1, v=2)}
    assert rows["interleaved (v=2)"]["bubble_time"] is None  # 4 not divisible by 3
    assert rows["dualpipe"]["bubble_time"] is None  # p odd
    assert rows["zbv"]["bubble_time"] is None  # m < 2p - 1
    assert rows["zb-h2"]["bubble_time"] is None  # m < 2p - 1


# ---- bad inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        (bubble.bubble_fraction, (0, 8), "p must be an integer >= 1, got 0"),
        (bubble.bubble_fraction, (4, 0), "m must be an integer >= 1, got 0"),
        (bubble.bubble_ratio, (4, 8, 0), "v must be an integer >= 1, got 0"),
        (bubble.bubble_ratio, (True, 8), "p must be an integer >= 1, got True"),
        (bubble.fraction_from_ratio, (-0.1,), "ratio must be a finite number >= 0, got -0.1"),
        (bubble.ratio_from_fraction, (1.5,), "fraction must be a finite number >= 0 and <= 1"),
        (bubble.ratio_from_fraction, (1.0,), "fraction must be a finite number >= 0 and < 1"),
        (bubble.step_time, (4, 8, -1, 2), "t_f must be a finite number >= 0, got -1"),
        (bubble.step_time, (4, 8, 1, "2"), "t_b must be a finite number >= 0, got '2'"),
        (bubble.forward_step_time, (4, 8, float("inf")), "t_f must be a finite number"),
        (bubble.bubble_time_1f1b, (4, 1, 2, 0), "v must be an integer >= 1, got 0"),
        (bubble.interleaved_hops, (0,), "p must be an integer >= 1, got 0"),
        (bubble.zb_h1_step_time, (4, 8, 1, 1, -1), "t_w must be a finite number >= 0"),
        (bubble.zb_h1_bubble_time, (4, 8, 1, None, 1), "t_i must be a finite number"),
        (bubble.zbv_bubble_time, (0, 8, 1, 1, 1), "p must be an integer >= 1, got 0"),
        (bubble.zb_h2_bubble_time, (4, 8, 1, 1, -2), "t_w must be a finite number >= 0"),
        (bubble.zb_h2_steady_bubble_time, (0, 1, 1, 1), "p must be an integer >= 1, got 0"),
        (bubble.dualpipe_bubble_time, (5, 1, 2, 1), "p must be an even integer >= 2 .* got 5"),
        (bubble.dualpipe_bubble_time, (1, 1, 2, 1), "p must be an integer >= 2, got 1"),
        (bubble.dualpipe_bubble_time, (4, 1, 2, 1, -3), "t_fb must be a finite number > 0"),
        (bubble.dualpipe_bubble_time, (4, 1, 2, 1, 0), "t_fb must be a finite number > 0, got 0"),
        (bubble.dualpipe_bubble_time, (4, 1, 0, 1), "must be <= t_b = 0, got t_w = 1"),
        (bubble.schedule_table, (4, 8, 1, 1, 1, 0), "v must be an integer >= 1, got 0"),
        (bubble.schedule_table, (4, 8, 1, -1, 1), "t_i must be a finite number >= 0"),
    ],
)
def test_bad_inputs(function, args, message):
    with pytest.raises(ValueError, match=message):
        function(*args)


# ---- micro-batches for a target bubble ------------------------------------------------------


def test_microbatches_for_bubble_hand_values():
    mb = bubble.microbatches_for_bubble
    assert mb(2, 0.05) == 19  # 1/(19+1) = 5 % exactly
    assert mb(8, 0.05) == 133  # 7 * 19
    assert mb(8, 0.20) == 28  # 7 * 4
    assert mb(8, 0.05, definition="ratio") == 140  # 7 / 0.05
    assert mb(16, 0.20, definition="ratio") == 75
    assert mb(1, 0.01) == 1  # one stage has no bubble
    assert mb(4, 0.05, v=2) == 32  # 3 / (2m + 3) <= 0.05 needs m >= 28.5, a multiple of 4
    assert mb(8, 0.99) == 1


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 64),
    st.floats(0.005, 0.95),
    st.sampled_from(["fraction", "ratio"]),
)
def test_microbatches_for_bubble_is_the_fewest(p, target, definition):
    measure = bubble.bubble_fraction if definition == "fraction" else bubble.bubble_ratio
    m = bubble.microbatches_for_bubble(p, target, definition=definition)
    assert measure(p, m) <= target
    assert m == 1 or measure(p, m - 1) > target


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 16), st.floats(0.01, 0.5), st.integers(2, 4))
def test_microbatches_for_bubble_interleaved_steps_by_p(p, target, v):
    m = bubble.microbatches_for_bubble(p, target, v=v)
    assert m % p == 0 and bubble.bubble_fraction(p, m, v) <= target
    assert m == p or bubble.bubble_fraction(p, m - p, v) > target


def test_microbatches_for_bubble_grows_with_depth_and_strictness():
    for definition in ("fraction", "ratio"):
        counts = [
            bubble.microbatches_for_bubble(p, 0.05, definition=definition) for p in range(1, 33)
        ]
        assert counts == sorted(counts)
    # the ratio is the stricter definition: it never needs fewer micro-batches
    for p in range(1, 33):
        assert bubble.microbatches_for_bubble(p, 0.1, definition="ratio") >= (
            bubble.microbatches_for_bubble(p, 0.1)
        )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 0.05), {}, "p must be an integer >= 1, got 0"),
        ((4, 0.0), {}, "target must be a finite number > 0 and <= 1, got 0.0"),
        ((4, 1.0), {}, "target must be a finite number > 0 and < 1 for a fraction, got 1.0"),
        ((4, -1.0), {"definition": "ratio"}, "target must be a finite number > 0, got -1.0"),
        ((4, 0.05), {"definition": "share"}, "definition must be one of 'fraction', 'ratio'"),
        ((4, 0.05), {"v": 0}, "v must be an integer >= 1, got 0"),
    ],
)
def test_microbatches_for_bubble_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bubble.microbatches_for_bubble(*args, **kwargs)
