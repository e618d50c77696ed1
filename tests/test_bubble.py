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
    for name in ("gpipe", "1f1b", "zb-h1"):
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
        (bubble.dualpipe_bubble_time, (5, 1, 2, 1), "p must be an even integer >= 2 .* got 5"),
        (bubble.dualpipe_bubble_time, (1, 1, 2, 1), "p must be an integer >= 2, got 1"),
        (bubble.dualpipe_bubble_time, (4, 1, 2, 1, -3), "t_fb must be a finite number >= 0"),
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
