"""Chapter 10: a real PyTorch pipeline, measured, against the book's simulator.

One launch (two processes, four schedules, a few steps each) is shared by the tests; it takes
about 5-10 s with process start-up on two cores.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from ppnotes import real_pipeline as rp
from ppnotes.schedules import build_schedule

RUNS = [
    rp.RunSpec("gpipe", 4),
    rp.RunSpec("1f1b", 4),
    rp.RunSpec("interleaved", 4, 2),
    rp.RunSpec("zbv", 4),
]


@pytest.fixture(scope="module")
def measured():
    return rp.run_pipeline(RUNS, 2, steps=4, timeout=90)


def test_each_rank_runs_the_simulators_order(measured):
    for steps in measured:
        for step in steps:
            expected = build_schedule(step.spec.name, 2, step.spec.m, step.spec.v)
            assert step.schedule.tokens() == expected.tokens(), step.spec
            assert rp.orders_match(step)


def test_measured_times_are_consistent(measured):
    for steps in measured:
        step = rp.fastest_step(steps)
        result = step.result
        assert (result.end > result.start).all() and result.start.min() == 0.0
        assert result.makespan == pytest.approx(result.end.max())
        # no rank runs two actions at once
        for r in range(2):
            mask = result.rank == r
            assert (result.start[mask][1:] >= result.end[mask][:-1] - 1e-9).all()
        assert 0.0 < step.bubble_fraction < 1.0
        costs = rp.measured_costs(step)
        assert set(costs) == ({"F", "I", "W"} if step.spec.name == "zbv" else {"F", "B"})
        assert all(len(v) == step.schedule.num_stages for v in costs.values())


def test_transfers_are_recorded_on_loopback_peers(measured):
    step = rp.fastest_step(measured[1])  # 1F1B, p = 2, m = 4
    for rank, transfers in enumerate(step.transfers):
        sends = [t for t in transfers if t["op"] == "send"]
        recvs = [t for t in transfers if t["op"] == "recv"]
        # rank 0 sends 4 activations and receives 4 gradients; rank 1 the reverse
        assert len(sends) == 4 and len(recvs) == 4
        assert {t["peer"] for t in transfers} == {1 - rank}
        assert all(t["done"] is not None and t["done"] >= t["posted"] for t in transfers)
        # one micro-batch of activations: 4 sequences x 64 tokens x 128 features x 4 bytes
        assert {t["bytes"] for t in transfers} == {4 * 64 * 128 * 4}


def test_makespan_within_the_stated_tolerance_of_the_simulator(measured):
    for steps in measured:
        error = rp.closest_agreement(steps)
        assert abs(error) <= rp.MAKESPAN_TOLERANCE, (steps[0].spec, error)
        step = rp.fastest_step(steps)
        # the simulator without the Python work between actions can only be faster
        with_gap = rp.simulate_measured(step, overhead=True).makespan
        assert rp.simulate_measured(step).makespan <= with_gap + 1e-12


def test_closest_agreement_picks_the_step_nearest_the_simulator(measured):
    steps = measured[1]
    errors = [s.makespan / rp.simulate_measured(s, overhead=True).makespan - 1 for s in steps[1:]]
    assert rp.closest_agreement(steps) == min(errors, key=abs)
    with pytest.raises(ValueError, match="non-empty"):
        rp.closest_agreement([])


def test_hop_and_overhead_are_small_and_positive(measured):
    step = rp.fastest_step(measured[1])
    assert 0.0 <= rp.hop_time(step) < step.makespan / 4
    assert 0.0 <= rp.overhead_time(step) < step.makespan / 4


def test_simulator_agrees_with_itself_on_hand_costs():
    # the lab's simulation is the book's: 1F1B, p = 2, m = 4, F = 1, B = 2, no hop: (m+p-1)*3
    from ppnotes.schedules import simulate

    assert simulate(build_schedule("1f1b", 2, 4), {"F": 1, "B": 2}).makespan == 15.0


@pytest.mark.parametrize(
    "runs, p, match",
    [
        ([rp.RunSpec("1f1b", 8)], 5, "model has 4 blocks"),
        ([rp.RunSpec("zbv", 4)], 3, "6 stages"),
        ([rp.RunSpec("interleaved", 4, 2)], 3, "model has 4 blocks"),
        ([rp.RunSpec("1f1b", 1)], 2, "m must be >= p"),
        ([rp.RunSpec("interleaved", 3, 2)], 2, "multiple of p"),
        ([rp.RunSpec("pipedream", 4)], 2, "name must be"),
        ([rp.RunSpec("gpipe", 4, 2)], 2, "v applies only"),
        ([], 2, "at least one"),
    ],
)
def test_bad_input_is_refused_before_any_process_starts(runs, p, match):
    start = time.monotonic()
    with pytest.raises(ValueError, match=match):
        rp.run_pipeline(runs, p)
    assert time.monotonic() - start < 1.0


def test_stage_blocks_split_and_refuse_too_many_stages():
    assert [len(r) for r in rp.stage_blocks(5, 2)] == [3, 2]
    assert [list(r) for r in rp.stage_blocks(4, 4)] == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="num_stages must be <= the model's 4 blocks"):
        rp.stage_blocks(4, 5)
    with pytest.raises(ValueError, match="d_model must be divisible by heads"):
        rp.ModelConfig(d_model=100, heads=3)


def test_default_depth_is_within_the_core_count():
    import os

    assert 1 <= rp.default_depth() <= max(1, os.cpu_count() or 1)
    assert rp.default_depth(max_depth=1) == 1


def test_free_port_is_on_loopback():
    import socket

    port = rp.free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # still free, and bindable on loopback


def test_a_failing_rank_surfaces_its_error():
    start = time.monotonic()
    with pytest.raises(rp.RankError, match="rank 1 of 2 failed[\\s\\S]*injected failure"):
        rp.run_pipeline([rp.RunSpec("1f1b", 2)], 2, fail_rank=1, timeout=60)
    assert time.monotonic() - start < 30  # the healthy rank was killed, not waited for


def hang_on_rank_one(rank, p, port):
    """A worker whose rank 1 never returns (for the time-out test)."""
    if rank == 1:
        time.sleep(600)
    return rank


def test_a_hanging_rank_is_killed_and_reported():
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"rank\(s\) \[1\] did not finish"):
        rp.launch(hang_on_rank_one, 2, timeout=4)
    assert time.monotonic() - start < 15


def test_first_backward_position_matches_pytorchs_warmup():
    # PyTorch's Schedule1F1B: rank r runs min(m, p - r) forwards before its first backward
    for p, m in [(2, 4), (4, 8), (4, 4)]:
        for r in range(p):
            assert rp.first_backward_position("1f1b", p, m, r) == min(m, p - r)


def test_closed_form_bubble():
    assert rp.closed_form_bubble(2, 4) == pytest.approx(0.2)
    assert rp.closed_form_bubble(1, 4) == 0.0
    assert np.isclose(rp.closed_form_bubble(4, 8), 3 / 11)
