"""Chapter 10: a real PyTorch pipeline, measured, against the book's simulator.

One launch of the chapter's plan at p = 2 (six runs, four steps each) is shared by the tests
that need real processes; it takes about 10-20 s on two cores. Everything that judges or
summarises measurements is also tested on synthetic steps with hand-checked values, so those
tests do not depend on how busy the machine is.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ppnotes import real_pipeline as rp
from ppnotes.schedules import build_schedule, result_from_times, simulate
from tests.lab_workers import hang_on_rank_one, sleep_and_report

ROOT = Path(__file__).resolve().parents[1]
PLAN = rp.lab_plan(2, steps=4)


@pytest.fixture(scope="module")
def lab():
    return rp.run_pipeline(list(PLAN.runs), 2, config=PLAN.config, steps=4, timeout=120)


def synthetic(name="1f1b", p=2, m=4, *, hop=0.0, scale=1.0, share=1.0, step=1):
    """A Measured step made from the simulator: F = 1 ms, B = 2 ms per stage (I = W = 1 ms
    for ZB-V), ``hop`` seconds per hop, every time multiplied by ``scale``, and each rank's
    CPU time ``share`` of its busy time."""
    costs = {"F": 1e-3, "I": 1e-3, "W": 1e-3} if name == "zbv" else {"F": 1e-3, "B": 2e-3}
    schedule = build_schedule(name, p, m)
    sim = simulate(schedule, costs, hop)
    result = result_from_times(schedule, sim.start * scale, sim.end * scale)
    cpu = tuple(share * float(b) for b in result.busy)
    return rp.Measured(rp.RunSpec(name, m), p, step, schedule, result, [[]] * p, cpu)


# ---------------------------------------------------------------------------------------------
# Real runs
# ---------------------------------------------------------------------------------------------


def test_each_rank_runs_the_simulators_order(lab):
    for spec, steps in zip(PLAN.runs, lab, strict=True):
        assert len(steps) == 4
        for step in steps:
            expected = build_schedule(spec.name, 2, spec.m, spec.v)
            assert step.schedule.tokens() == expected.tokens(), spec
            assert rp.orders_match(step)


def test_measured_times_are_consistent(lab):
    for spec, steps in zip(PLAN.runs, lab, strict=True):
        step = rp.median_step(steps)
        result = step.result
        assert (result.end > result.start).all() and result.start.min() == 0.0
        # no rank runs two actions at once, and its busy time is the sum of its actions
        for r in range(2):
            mask = result.rank == r
            assert (result.start[mask][1:] >= result.end[mask][:-1] - 1e-9).all()
            assert result.busy[r] == pytest.approx(result.duration[mask].sum())
        # the CPU clock of a thread cannot run faster than the wall clock
        assert all(0.0 < c <= 1.02 * b for c, b in zip(step.cpu, result.busy, strict=True))
        costs = rp.measured_costs(step)
        assert set(costs) == ({"F", "I", "W"} if spec.name == "zbv" else {"F", "B"})
        assert all(len(v) == step.schedule.num_stages for v in costs.values())


def test_transfers_are_recorded_on_loopback_peers(lab):
    step = rp.median_step(lab[PLAN.runs.index(rp.RunSpec("1f1b", 4))])
    for rank, transfers in enumerate(step.transfers):
        sends = [t for t in transfers if t["op"] == "send"]
        recvs = [t for t in transfers if t["op"] == "recv"]
        # rank 0 sends 4 activations and receives 4 gradients; rank 1 the reverse
        assert len(sends) == 4 and len(recvs) == 4
        assert {t["peer"] for t in transfers} == {1 - rank}
        assert all(t["done"] is not None and t["done"] >= t["posted"] for t in transfers)
        # one micro-batch of activations: 4 sequences x 64 tokens x 128 features x 4 bytes
        assert {t["bytes"] for t in transfers} == {4 * 64 * 128 * 4}


def test_summary_and_claims_of_a_real_run(lab):
    summary = rp.summarize(PLAN, lab)
    assert set(summary["runs"]) == {f"{s.name} m={s.m}" for s in PLAN.runs}
    json.dumps(summary)  # plain values only
    claims = {c.key: c for c in rp.lab_claims(summary)}
    assert claims["orders"].clean and claims["orders"].holds
    for claim in claims.values():
        # a claim is asserted exactly when every run it rests on passed the machine check
        if claim.clean:
            assert claim.holds, claim
    gpipe = summary["runs"]["gpipe m=4"]
    assert gpipe["bubble_closed"] == pytest.approx(0.2)
    assert summary["runs"]["zbv m=4"]["bubble_closed"] is None


def test_run_verdict_is_the_rule_applied_to_the_run(lab):
    steps = lab[0]
    verdict = rp.run_verdict(steps, cores=2)
    shares = [rp.cpu_share(s) for s in steps[1:]]
    assert verdict.cpu_share == pytest.approx(float(np.median(shares)))
    assert verdict.spread == pytest.approx(rp.step_spread(steps))
    assert verdict.clean == (verdict.cpu_share >= 0.9 and verdict.spread <= 0.15)
    assert not rp.run_verdict(steps, cores=1).clean  # two ranks on one core


# ---------------------------------------------------------------------------------------------
# Synthetic steps: hand-checked values
# ---------------------------------------------------------------------------------------------


def test_simulating_a_simulated_step_gives_it_back():
    # 1F1B, p = 2, m = 4, F = 1 ms, B = 2 ms: (m+p-1)(F+B) = 15 ms; four hops of 0.5 ms on the
    # critical path make 17 ms (chapter 3)
    plain, hopped = synthetic(), synthetic(hop=0.5e-3)
    assert plain.makespan == pytest.approx(15e-3) and hopped.makespan == pytest.approx(17e-3)
    assert rp.hop_time(hopped) == pytest.approx(0.5e-3)
    assert rp.hop_time(plain) == 0.0 and rp.overhead_time(plain) == 0.0
    costs = rp.measured_costs(hopped)
    assert costs["F"] == pytest.approx([1e-3, 1e-3]) and costs["B"] == pytest.approx([2e-3] * 2)
    assert rp.simulate_measured(hopped).makespan == pytest.approx(17e-3)
    assert rp.simulate_measured(hopped, comm=0.0).makespan == pytest.approx(15e-3)
    assert rp.makespan_error(hopped) == pytest.approx(0.0, abs=1e-12)
    assert rp.bubble_error(hopped) == pytest.approx(0.0, abs=1e-12)
    assert plain.bubble_fraction == pytest.approx(rp.closed_form_bubble(2, 4))


def test_median_step_and_agreement_are_robust_to_one_disturbed_step():
    # steps scaled 5x (warm-up, skipped), 1x, 3x, 2x: the median makespan is the 2x step
    steps = [synthetic(scale=k, step=i) for i, k in enumerate([5.0, 1.0, 3.0, 2.0])]
    assert rp.median_step(steps).step == 3
    assert rp.median_step(steps, skip_first=False).step == 3  # 1, 2, 3, 5: lower middle
    # every synthetic step agrees with its own simulation exactly
    assert rp.median_agreement(steps) == pytest.approx(0.0, abs=1e-12)
    # spread: makespans 15, 45, 30 ms -> quartiles 22.5 and 37.5 over a median of 30
    assert rp.step_spread(steps) == pytest.approx(0.5)
    assert rp.step_spread([synthetic(step=i) for i in range(4)]) == 0.0


def test_cpu_share_is_the_worst_rank():
    assert rp.cpu_share(synthetic(share=1.0)) == pytest.approx(1.0)
    assert rp.cpu_share(synthetic(share=0.5)) == pytest.approx(0.5)
    step = synthetic()
    half_on_one = rp.Measured(
        step.spec, 2, 1, step.schedule, step.result, [], (step.result.busy[0], 0.25e-3)
    )
    assert rp.cpu_share(half_on_one) == pytest.approx(0.25e-3 / step.result.busy[1])
    with pytest.raises(ValueError, match="no CPU times"):
        rp.cpu_share(rp.Measured(step.spec, 2, 1, step.schedule, step.result, []))


@pytest.mark.parametrize(
    "share, spread, p, cores, clean, words",
    [
        (0.97, 0.03, 2, 2, True, ["clean", "97 %"]),
        (0.90, 0.15, 2, 2, True, ["clean"]),  # both limits are inclusive
        (0.89, 0.03, 2, 2, False, ["89 %", "needs 90 %"]),
        (0.97, 0.16, 2, 2, False, ["spread by 16 %", "at most 15 %"]),
        (0.97, 0.03, 4, 2, False, ["4 ranks on 2 cores"]),
        (0.50, 0.40, 2, 2, False, ["50 %", "40 %"]),
    ],
)
def test_judge_gives_both_verdicts(share, spread, p, cores, clean, words):
    verdict = rp.judge(share, spread, p, cores)
    assert verdict.clean is clean
    assert verdict.reason.startswith("clean" if clean else "busy")
    for word in words:
        assert word in verdict.reason


def test_judge_on_synthetic_runs():
    quiet = [synthetic(step=i, share=0.98) for i in range(5)]
    busy = [synthetic(step=i, share=0.5) for i in range(5)]
    noisy = [synthetic(step=i, scale=k) for i, k in enumerate([1, 1, 1.5, 1, 2])]
    assert rp.run_verdict(quiet, cores=2).clean
    assert not rp.run_verdict(busy, cores=2).clean
    assert not rp.run_verdict(noisy, cores=2).clean


def _summary_of(steps_per_run, plan=None):
    plan = plan or PLAN
    return rp.summarize(plan, steps_per_run)


def test_claims_are_clean_only_on_clean_runs():
    quiet = [[synthetic(s.name, 2, s.m, step=i, share=0.98) for i in range(3)] for s in PLAN.runs]
    busy = [[synthetic(s.name, 2, s.m, step=i, share=0.5) for i in range(3)] for s in PLAN.runs]
    quiet_claims = {c.key: c for c in rp.lab_claims(_summary_of(quiet))}
    busy_claims = {c.key: c for c in rp.lab_claims(_summary_of(busy))}
    assert all(c.clean for c in quiet_claims.values())
    assert [k for k, c in busy_claims.items() if c.clean] == ["orders"]
    # the synthetic runs are simulations: the simulator agrees, and the bubble falls with m
    assert quiet_claims["agreement"].holds and quiet_claims["bubble_falls"].holds
    assert "33 % at m = 2, 11 % at m = 8" in quiet_claims["bubble_falls"].evidence
    # equal synthetic stages: ZB-V's first stage is not cheaper, and nothing says otherwise
    assert not quiet_claims["zbv_first_input_gradient"].holds
    box = rp.busy_box_html(list(busy_claims.values()), list(quiet_claims.values()), {})
    assert box.startswith('<div class="admonition warning">') and "too busy" in box
    assert "bubble falls" in box and "reference run: 33 % at m = 2" in box
    # a clean claim that does not hold is shown too, never asserted (the build must not fail)
    quiet_box = rp.busy_box_html(list(quiet_claims.values()), [], {})
    assert "passed the machine check on this run but did not hold" in quiet_box
    assert quiet_claims["zbv_first_input_gradient"].statement in quiet_box
    assert quiet_claims["agreement"].statement not in quiet_box
    holding = [c for c in quiet_claims.values() if c.holds]
    assert rp.busy_box_html(holding, [], {}) == ""


# ---------------------------------------------------------------------------------------------
# The reference run shipped with the book
# ---------------------------------------------------------------------------------------------


def test_reference_run_is_committed_with_its_machine_and_command():
    data = rp.load_reference()
    assert rp.REFERENCE_PATH.parent.name == "data" and rp.REFERENCE_PATH.exists()
    assert "python -m ppnotes.real_pipeline --reference" in data["command"]
    for key in ("cpu", "cores", "torch", "date", "load_average_1_5_15_min"):
        assert key in data["machine"]
    summary = data["summary"]
    plan = rp.lab_plan(summary["p"], steps=summary["steps"])
    assert set(summary["runs"]) == {f"{s.name} m={s.m}" for s in plan.runs}
    claims = rp.lab_claims(summary)
    # the stored verdicts are the ones the code computes from the stored numbers
    assert {c.key: {"clean": c.clean, "holds": c.holds} for c in claims} == data["claims"]
    # the chapter calls it quiet: every run passed the machine check, and every claim holds
    assert all(run["verdict"]["clean"] for run in summary["runs"].values())
    assert all(claim.clean and claim.holds for claim in claims), claims


def test_reference_is_listed_as_package_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert "data/*.json" in text


def test_load_reference_refuses_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"summary": {}}))
    with pytest.raises(ValueError, match="no 'machine'"):
        rp.load_reference(path)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "runs, p, match",
    [
        ([rp.RunSpec("1f1b", 8)], 5, "model has 4 blocks"),
        ([rp.RunSpec("zbv", 4)], 3, "6 stages"),
        ([rp.RunSpec("interleaved", 4, 2)], 3, "model has 4 blocks"),
        ([rp.RunSpec("1f1b", 1)], 2, "m must be >= p"),
        ([rp.RunSpec("interleaved", 3, 2)], 2, "multiple of p"),
        ([rp.RunSpec("gpipe", 4, 2)], 2, "v applies only"),
        ([], 2, "at least one"),
    ],
)
def test_bad_input_is_refused_before_any_process_starts(runs, p, match):
    start = time.monotonic()
    with pytest.raises(ValueError, match=match):
        rp.run_pipeline(runs, p)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: rp.RunSpec("pipedream", 4), ValueError, "name must be one of 'gpipe'"),
        (lambda: rp.RunSpec("1f1b", 0), ValueError, "m must be an integer in"),
        (lambda: rp.RunSpec("1f1b", 4, 10**6), ValueError, "v must be an integer in"),
        (lambda: rp.ModelConfig(d_model=10**6), ValueError, "d_model must be an integer in"),
        (lambda: rp.run_pipeline([rp.RunSpec("1f1b", 4)], config=3), TypeError, "config must"),
        (lambda: rp.run_pipeline([4], 2), TypeError, "runs must hold RunSpec"),
        (lambda: rp.run_pipeline(rp.RunSpec("1f1b", 4), 2), TypeError, "runs must be a list"),
        (lambda: rp.run_pipeline([rp.RunSpec("1f1b", 4)], 2, steps=0), ValueError, "steps"),
        (lambda: rp.orders_match(3), TypeError, "measured must be a Measured, got int 3"),
        (lambda: rp.simulate_measured(synthetic(), overhead=1), TypeError, "overhead must be"),
        (lambda: rp.median_step(3), TypeError, "steps must be a list"),
        (lambda: rp.median_step([]), ValueError, "non-empty"),
        (lambda: rp.median_step([3]), TypeError, r"steps \(each item\) must be a Measured"),
        (lambda: rp.median_agreement([synthetic()], skip_first=1), TypeError, "skip_first"),
        (lambda: rp.judge(float("nan"), 0.1), ValueError, "cpu_share must be a finite"),
        (lambda: rp.judge(0.9, -1), ValueError, "spread must be a finite"),
        (lambda: rp.default_depth(0), ValueError, "max_depth must be an integer"),
        (lambda: rp.first_backward_position("1f1b", 2, 4, 2), ValueError, r"rank must be"),
        (lambda: rp.first_backward_position("1f1b", 10**7, 4, 0), ValueError, "p must be"),
        (lambda: rp.launch(3, 2), TypeError, "worker must be"),
        (lambda: rp.summarize(3, []), TypeError, "plan must be a LabPlan"),
        (lambda: rp.lab_claims(3), TypeError, "summary must be a dict"),
        (
            lambda: rp.Measured(rp.RunSpec("1f1b", 4), 2, 1, 3, None, []),
            TypeError,
            "schedule must be a Schedule",
        ),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mixed_runs_are_not_one_run():
    with pytest.raises(ValueError, match="one run"):
        rp.median_step([synthetic(m=4), synthetic(m=8)])


def test_stage_blocks_split_and_refuse_too_many_stages():
    assert [len(r) for r in rp.stage_blocks(5, 2)] == [3, 2]
    assert [list(r) for r in rp.stage_blocks(4, 4)] == [[0], [1], [2], [3]]
    with pytest.raises(ValueError, match="num_stages must be <= the model's 4 blocks"):
        rp.stage_blocks(4, 5)
    with pytest.raises(ValueError, match="d_model must be divisible by heads"):
        rp.ModelConfig(d_model=100, heads=3)


@pytest.mark.parametrize("cores, depth", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (64, 4)])
def test_default_depth_leaves_a_core_for_the_notebook_when_it_can(cores, depth):
    assert rp.default_depth(cores=cores) == depth
    assert rp.default_depth(max_depth=1, cores=cores) == 1


def test_available_cores_follow_the_affinity_mask():
    if hasattr(os, "sched_getaffinity"):
        assert rp.available_cores() == len(os.sched_getaffinity(0))
    assert rp.default_depth() == rp.default_depth(cores=rp.available_cores())


def test_more_ranks_than_cores_is_warned_about(monkeypatch):
    monkeypatch.setattr(rp, "available_cores", lambda: 1)

    def no_launch(*args, **kwargs):
        raise RuntimeError("stop here")

    monkeypatch.setattr(rp, "launch", no_launch)
    with (
        pytest.warns(RuntimeWarning, match="p=2 ranks on 1 available cores"),
        pytest.raises(RuntimeError, match="stop here"),
    ):
        rp.run_pipeline([rp.RunSpec("1f1b", 4)], 2)


def test_free_port_is_on_loopback():
    port = rp.free_port()
    assert 1024 <= port <= 65535
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # still free, and bindable on loopback
        assert s.getsockname() == ("127.0.0.1", port)


def test_first_backward_position_matches_pytorchs_warmup():
    # PyTorch's Schedule1F1B: rank r runs min(m, p - r) forwards before its first backward
    for p, m in [(2, 4), (4, 8), (4, 4)]:
        for r in range(p):
            assert rp.first_backward_position("1f1b", p, m, r) == min(m, p - r)


def test_closed_form_bubble():
    assert rp.closed_form_bubble(2, 4) == pytest.approx(0.2)
    assert rp.closed_form_bubble(1, 4) == 0.0
    assert rp.closed_form_bubble(4, 8) == pytest.approx(3 / 11)


def test_lab_plan():
    plan = rp.lab_plan(2)
    assert plan.steps == 7
    assert (plan.p, plan.m, plan.sweep, plan.config.blocks) == (2, 4, (2, 4, 8), 4)
    assert plan.runs[0] == rp.RunSpec("gpipe", 4) and plan.runs[-1] == rp.RunSpec("zbv", 4)
    assert rp.RunSpec("interleaved", 4, 2) in plan.runs


# ---------------------------------------------------------------------------------------------
# Processes: failures, time-outs, no orphans
# ---------------------------------------------------------------------------------------------


def test_a_failing_rank_surfaces_its_error():
    start = time.monotonic()
    with pytest.raises(rp.RankError, match="rank 1 of 2 failed[\\s\\S]*injected failure"):
        rp.run_pipeline([rp.RunSpec("1f1b", 2)], 2, fail_rank=1, timeout=60)
    assert time.monotonic() - start < 30  # the healthy rank was stopped, not waited for


def test_a_hanging_rank_is_stopped_and_reported(capfd):
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=r"rank\(s\) \[1\] did not finish"):
        rp.launch(hang_on_rank_one, 2, timeout=4)
    assert time.monotonic() - start < 15
    # the rank says why it ends: the launcher's SIGTERM, with the real cause
    err = capfd.readouterr().err
    assert "rank 1 of 2 terminated by SIGTERM from the launcher" in err
    assert "time-out of 4 s passed" in err


def _wait_for_pids(folder: Path, n: int, timeout: float = 60.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = sorted(folder.glob("rank*.pid"))
        if len(files) == n:
            return [int(f.read_text()) for f in files]
        time.sleep(0.1)
    raise AssertionError(f"ranks did not start within {timeout} s")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


LAUNCHER = (
    "import sys; from ppnotes.real_pipeline import launch; "
    "from tests.lab_workers import sleep_and_report; "
    "launch(sleep_and_report, 2, sys.argv[1], timeout=600)"
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")
def test_ranks_end_within_seconds_when_the_parent_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(tmp_path)], env=env)
    try:
        pids = _wait_for_pids(tmp_path, 2)
        assert all(_alive(pid) for pid in pids)
        parent.kill()  # kill -9: no finally, no atexit in the parent
        parent.wait()
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in pids), "orphaned ranks survived their parent"
    finally:
        parent.kill()
        for f in tmp_path.glob("rank*.pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(f.read_text()), signal.SIGKILL)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses sigtimedwait")
def test_sigterm_from_outside_names_its_sender(tmp_path):
    import threading

    senders = []

    def terminate_rank_one():
        pid = _wait_for_pids(tmp_path, 2)[1]
        kill = subprocess.Popen(["kill", "-TERM", str(pid)])
        senders.append(kill.pid)
        kill.wait()

    killer = threading.Thread(target=terminate_rank_one, daemon=True)
    killer.start()
    start = time.monotonic()
    with pytest.raises(rp.RankError, match=r"rank 1 of 2 terminated by SIGTERM from pid \d+") as e:
        rp.launch(sleep_and_report, 2, str(tmp_path), timeout=120)
    # the sender is named by its pid (and its command line while it still runs)
    assert f"from pid {senders[0]} " in str(e.value) and "not by the launcher" in str(e.value)
    assert time.monotonic() - start < 60
