"""The decode lab (ppnotes.real_decode): its analysis on synthetic timelines (the laws), its
bad-input errors, and small real runs that check structure and tokens, never timing."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from ppnotes import inference, plots
from ppnotes import real_decode as rd
from ppnotes import real_pipeline as rp
from ppnotes.schedules import simulate_decode_loop

TINY = rd.DecodeConfig(
    vocab=64, d_model=64, heads=4, layers=2, batch_size=2, prompt_len=4, prefill_len=8
)


def synthetic(p, k, steps, d, h, batch_size=4):
    """A DecodeRun whose timeline is the simulator's (every action where the simulator puts
    it; each rank waits from the end of its previous action)."""
    res = simulate_decode_loop(p, k, steps, d, comm=h)
    actions = [[] for _ in range(p)]
    free = [0.0] * p
    for i, act in enumerate(res.actions):
        r = int(res.rank[i])
        n, b = divmod(act.microbatch, k)
        s, e = float(res.start[i]), float(res.end[i])
        actions[r].append((n, b, "D", free[r], s, e, e, e - s))
        free[r] = e
    for r in range(p):
        actions[r].sort(key=lambda a: a[4])
    return rd.DecodeRun(p, k, steps, batch_size, actions)


@pytest.mark.parametrize("p", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_analysis_of_a_simulated_loop_gives_back_the_formula(p, k):
    d, h = [0.004 + 0.001 * s for s in range(p)], 0.0003
    run = synthetic(p, k, 16, d, h)
    assert rd.stage_times(run) == pytest.approx(d)
    assert rd.hop_time(run) == pytest.approx(h if p > 1 else 0.0)
    formula = inference.decode_tpot(d, k, h, h)
    assert rd.tpot(run, warmup=4) == pytest.approx(formula, rel=1e-6)
    assert rd.model_tpot(run) == pytest.approx(formula, rel=1e-9)
    assert rd.simulated_tpot(run, warmup=4) == pytest.approx(formula, rel=1e-6)
    assert rd.tokens_per_second(run, warmup=4) == pytest.approx(4 * k / formula, rel=1e-6)


@pytest.mark.parametrize("p", [2, 3, 4])
def test_the_knee_is_at_k_equals_p(p):
    d, h = [0.005] * p, 0.0002
    tps = {k: rd.tokens_per_second(synthetic(p, k, 16, d, h), 4) for k in range(1, p + 3)}
    tpot = {k: rd.tpot(synthetic(p, k, 16, d, h), 4) for k in range(1, p + 3)}
    for k in range(1, p):  # below the knee: more batches, more tokens/s, same TPOT
        assert tps[k + 1] > 1.2 * tps[k] and tpot[k + 1] == pytest.approx(tpot[k])
    # at k = p the ring is full but for the hops (C = p d + p h): within h / d of the top
    assert tps[p] == pytest.approx(tps[p + 1] * 0.005 / 0.0052, rel=1e-6)
    for k in range(p + 1, p + 2):  # above it: flat tokens/s (the slowest stage), TPOT grows
        assert tps[k + 1] == pytest.approx(tps[k], rel=1e-6)
        assert tpot[k + 1] == pytest.approx(tpot[k] * (k + 1) / k, rel=1e-6)
    assert tps[p + 1] == pytest.approx(4 / 0.005, rel=1e-6)


def test_depth_does_not_speed_up_one_request():
    total = 0.012
    one = rd.tpot(synthetic(1, 1, 12, [total], 0.0))
    for p in (2, 3, 4):
        assert rd.tpot(synthetic(p, 1, 12, [total / p] * p, 0.0002)) > one


def test_busy_time_is_conserved_and_busy_plus_idle_is_the_span():
    d = [0.003, 0.005]
    run = synthetic(2, 3, 10, d, 0.0004)
    busy, idle = rd.busy_idle(run)
    assert busy == pytest.approx([30 * x for x in d])
    assert busy[0] + idle[0] == pytest.approx(busy[1] + idle[1])
    assert min(idle) >= 0


def test_tpot_is_the_median_gap_between_tokens_of_one_batch():
    # one rank, two batches, tokens at 0,1,2,... ms alternating: each batch every 2 ms
    acts = [
        [
            (n, b, "D", t, t, t + 0.001, t + 0.001, 0.001)
            for n in range(6)
            for b, t in [(0, 0.002 * n), (1, 0.002 * n + 0.001)]
        ]
    ]
    run = rd.DecodeRun(1, 2, 6, 3, acts)
    assert rd.tpot(run) == pytest.approx(0.002)
    assert rd.period(run) == pytest.approx(0.001)
    assert rd.tokens_per_second(run) == pytest.approx(3000)


def test_run_verdict_uses_the_training_labs_rule():
    runs = [synthetic(2, 2, 8, [0.004, 0.004], 0.0002) for _ in range(3)]
    v = rd.run_verdict(runs, cores=2)
    assert v.clean and v.spread == 0 and v.cpu_share == pytest.approx(1.0)
    assert not rd.run_verdict(runs, cores=1).clean


def test_spread_helper():
    assert rp.spread([1.0, 1.0, 1.0]) == 0
    assert rp.spread([1.0, 2.0, 3.0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="at least one"):
        rp.spread([])


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: rd.DecodeConfig(d_model=100, heads=3), ValueError, "divisible by heads"),
        (lambda: rd.DecodeConfig(layers=0), ValueError, "layers must be an integer"),
        (lambda: rd.run_decode(0), ValueError, "p must be an integer"),
        (lambda: rd.run_decode(9), ValueError, "p must be an integer in \\[1, 8\\]"),
        (lambda: rd.run_decode(2, ks=[]), ValueError, "ks must be a non-empty list"),
        (lambda: rd.run_decode(2, ks=[0]), ValueError, "k must be an integer"),
        (lambda: rd.run_decode(2, steps=2), ValueError, "steps must be an integer"),
        (lambda: rd.run_decode(2, config=3), TypeError, "config must be a DecodeConfig"),
        (lambda: rd.run_decode(2, fail_rank=2), ValueError, "fail_rank"),
        (lambda: rd.tpot("run"), TypeError, "run must be a DecodeRun"),
        (lambda: rd.run_verdict([]), ValueError, "non-empty"),
        (
            lambda: rd.DecodeRun(2, 1, 4, 1, [[(0, 0, "D", 0, 0, 1, 1, 1)]]),
            ValueError,
            "one list of actions per rank",
        ),
        (
            lambda: rd.DecodeRun(1, 1, 4, 1, [[(0, 0, "D", 0, 2, 1, 1, 1)]]),
            ValueError,
            "wait <= start <= end <= done",
        ),
        (
            lambda: rd.DecodeRun(1, 1, 4, 1, [[(0, 0, "X", 0, 0, 1, 1, 1)]]),
            ValueError,
            "action kind",
        ),
        (lambda: rd.decode_claims({}), TypeError, "summary must be a dict"),
        (lambda: rd.load_reference(3), TypeError, "path must be"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_prefill_numbers_refuse_swapped_runs():
    run = synthetic(1, 1, 8, [0.01], 0.0)
    with pytest.raises(ValueError, match="prefill must be a prefill run"):
        rd.prefill_numbers(run, run)
    with pytest.raises(ValueError, match="'arrive' run"):
        rd.ttft(run)


def test_knee_figure():
    ks = [1, 2, 3, 4]
    m = {
        p: [
            (
                rd.inference.decode_tpot([0.01 / p] * p, k),
                4 * k / rd.inference.decode_tpot([0.01 / p] * p, k),
            )
            for k in ks
        ]
        for p in (1, 2)
    }
    fig = plots.decode_knee_figure(ks, m, m, m)
    left, right = fig.axes
    assert left.get_xlabel() == "batches in flight k" and "TPOT" in left.get_ylabel()
    assert [ln.get_xdata()[0] for ln in right.lines if ln.get_linestyle() == ":"] == [2]
    with pytest.raises(ValueError, match="one \\(TPOT, tokens/s\\) pair per k"):
        plots.decode_knee_figure([1, 2], m, m)
    with pytest.raises(ValueError, match="same depths"):
        plots.decode_knee_figure(ks, m, {1: m[1]})


def test_reference_run_is_committed_and_its_claims_hold():
    ref = rd.load_reference()
    assert "real_decode" in ref["command"] and ref["machine"]["cores"] >= 1
    claims = rd.decode_claims(ref["summary"])
    assert {c.key for c in claims} >= {"decode_agreement", "no_knee_p1"}
    assert all(c.holds for c in claims if c.clean)


# ---------------------------------------------------------------------------- real processes


@pytest.fixture(scope="module")
def tiny_run():
    return rd.run_decode(2, ks=(2,), config=TINY, steps=4, repeats=1, arrive_k=3, timeout=120)


def test_pipelining_does_not_change_the_tokens(tiny_run):
    run = tiny_run["decode"][2][0]
    assert run.tokens == rd.reference_tokens(TINY, k=2, steps=4)


def test_every_rank_runs_the_round_robin_order(tiny_run):
    run = tiny_run["decode"][2][0]
    for acts in run.actions:
        assert [(a[0], a[1]) for a in acts] == [(n, b) for n in range(4) for b in range(2)]
        starts = [a[4] for a in acts]
        assert starts == sorted(starts)
    # rank 1 computes (n, b) only after rank 0 did; rank 0's next step of b after rank 1's
    for a0, a1 in zip(run.actions[0], run.actions[1], strict=True):
        assert a1[4] >= a0[5]
    back = {(a[0], a[1]): a for a in run.actions[1]}
    for a in run.actions[0]:
        if a[0] > 0:
            assert a[4] >= back[a[0] - 1, a[1]][5]


def test_prefill_and_arrival_runs_have_their_shape(tiny_run):
    pre = tiny_run["prefill"][0]
    assert pre.kind == "prefill" and pre.prompt_tokens == TINY.prefill_len
    assert [len(a) for a in pre.actions] == [1, 1]
    arrive = tiny_run["arrive"]
    new = [a for a in arrive.actions[0] if a[1] == 2]
    assert new[0][2] == "P" and new[0][0] == 2 and all(a[2] == "D" for a in new[1:])
    numbers = rd.ttft(arrive)
    assert numbers["ttft_s"] >= numbers["prefill_compute_s"] > 0


def test_a_failing_rank_ends_every_rank_with_its_error():
    with pytest.raises(rp.RankError, match="rank 1 of 2 failed[\\s\\S]*injected failure"):
        rd.run_decode(2, ks=(1,), config=TINY, steps=4, repeats=1, fail_rank=1)
    assert mp.active_children() == []


def test_a_time_out_ends_every_rank():
    with pytest.raises(TimeoutError, match="did not finish within timeout=0.5 s"):
        rd.run_decode(2, ks=(1,), config=TINY, steps=4, repeats=1, timeout=0.5)
    assert mp.active_children() == []


def test_numbers_are_plain_floats_for_glue():
    ref = rd.load_reference()
    numbers = rd.headline_numbers(ref["summary"])
    assert all(type(v) is float for v in numbers.values())
    assert np.isfinite(numbers["gain"]) and numbers["p"] >= 1


def test_the_kv_cache_gives_the_tokens_of_a_full_recomputation():
    """Greedy decoding with the cache equals recomputing the whole sequence every token."""
    import torch

    k, steps = 2, 5
    cached = rd.reference_tokens(TINY, k=k, steps=steps)
    fresh = rd._Stage(TINY, 1, 0, 1, steps + TINY.prompt_len)
    for b, prompt in enumerate(rd._prompts(TINY, k, TINY.prompt_len, 1)):
        seq = prompt
        for n in range(steps + 1):
            fresh.length[0] = 0  # forget the cache: attend over the whole sequence again
            token = fresh.forward(seq, 0)
            assert token.tolist() == cached[b][n]
            seq = torch.cat([seq, token[:, None]], dim=1)


def synthetic_lab(cpu=1.0):
    plan = rd.DecodePlan((1, 2), (1, 2, 3, 4), 12, 3, rd.DecodeConfig())
    lab = {}
    for p in plan.depths:
        runs = {}
        for k in plan.ks:
            run = synthetic(p, k, 12, [0.012 / p] * p, 0.0002)
            acts = [[(*a[:7], cpu * a[7]) for a in rank] for rank in run.actions]
            runs[k] = [rd.DecodeRun(p, k, 12, 4, acts)] * 3
        lab[p] = {"decode": runs, "prefill": [], "arrive": None}
    return plan, lab


def test_claims_hold_on_an_ideal_loop_and_are_not_asserted_on_a_busy_one(monkeypatch):
    monkeypatch.setattr(rp, "available_cores", lambda: 2)
    plan, lab = synthetic_lab()
    claims = {c.key: c for c in rd.decode_claims(rd.summarize(plan, lab))}
    assert set(claims) == {
        "decode_agreement",
        "knee_p2",
        "stages_busy_p2",
        "no_knee_p1",
        "single_request_p2",
    }
    assert all(c.clean and c.holds for c in claims.values()), claims
    busy = rd.decode_claims(rd.summarize(*synthetic_lab(cpu=0.5)))
    assert not any(c.clean for c in busy)
    numbers = rd.headline_numbers(rd.summarize(plan, lab))
    # at k = p the ring is still the limit (C / p = d + h > d): exactly p times k = 1
    assert numbers["gain"] == pytest.approx(2.0, rel=1e-6)
    assert numbers["tps_kmax"] == pytest.approx(4 / 0.006, rel=1e-6)


def test_one_core_and_four_core_plans_summarize_and_claim():
    """A reader's machine with one core runs p = 1 only; one with four runs p = 1 .. 4."""
    assert rd.decode_plan(1).depths == (1,) and rd.decode_plan(1).ks == (1, 2, 3, 4)
    assert rd.decode_plan(4).depths == (1, 2, 3, 4) and rd.decode_plan(4).ks[-1] == 5
    plan = rd.DecodePlan((1,), (1, 2, 3, 4), 12, 3, rd.DecodeConfig())
    lab = {
        1: {
            "decode": {k: [synthetic(1, k, 12, [0.01], 0.0)] * 3 for k in plan.ks},
            "prefill": [],
            "arrive": None,
        }
    }
    summary = rd.summarize(plan, lab)
    assert {c.key for c in rd.decode_claims(summary)} == {"decode_agreement", "no_knee_p1"}
    numbers = rd.headline_numbers(summary)
    assert numbers["gain"] == pytest.approx(1.0) and numbers["busy_kmax_pct"] == pytest.approx(100)
