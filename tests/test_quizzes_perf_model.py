"""The chapter 5 quiz validates and its numeric answers equal values recomputed by hand."""

from __future__ import annotations

import pytest

from ppnotes import quiz
from ppnotes.quizzes import perf_model as pm_quiz


def numeric_questions():
    return [q for q in pm_quiz.questions() if q["type"] == "numeric"]


def test_quiz_validates_and_is_long_enough():
    assert len(quiz.validate(pm_quiz.questions())) >= 6
    assert len(numeric_questions()) >= 6


def _note(p, per_microbatch):
    """The note's section 5 model by hand (GPT-3 shape, B = M = 32, 25 GB/s, 312 TFLOP/s)."""
    h, s, n_layers, batch, m = 12288, 2048, 96, 32, 32
    sequences = batch / m if per_microbatch else batch
    stage = sequences * (24 * s * h * h + 4 * s * s * h) / 312e12 * n_layers / p
    comm = m * (p - 1) * (batch / m * s * h * 2) / 25e9
    bubble, compute = (p - 1) * stage, m * stage
    total = bubble + compute + comm
    return compute / total, comm / total


def test_numeric_answers_recomputed_by_hand():
    answers = [quiz.numeric_answer(q) for q in numeric_questions()]
    assert answers[0] == pytest.approx(100 * _note(8, False)[0], rel=1e-9)
    assert answers[1] == pytest.approx(32)
    assert answers[2] == pytest.approx(100 * _note(16, True)[1], rel=1e-9)
    h = 12288
    achievable = 1727 / 1935 * 2039e9  # A800 copy test over its peak, times the A100 80GB peak
    assert answers[3] == pytest.approx(1e6 * (2 * h * h + 4 * h) / achievable + 3.0, rel=1e-9)
    assert 1.30 < answers[4] < 4 / 3  # the LM head is not recomputed
    m = 1536 // 16  # d = 1024 / (8 x 8) = 16 replicas, b = 1
    assert answers[5] == pytest.approx((4 * m + 2 + 2 * 2 * m) / (4 + 2))
    assert answers[6] == pytest.approx(100 * 7 / (2 * 32 + 7))
    assert answers[7] == pytest.approx(64 * 2048 / 13.75)


def test_the_roofline_question_is_memory_bound():
    roofline, compute_only = pm_quiz.one_token_projection_us()
    assert roofline > 10 * compute_only


def test_traps_catch_the_common_wrong_answers():
    q = numeric_questions()
    assert not quiz.accepts(q[0], 100 * _note(8, True)[0])  # the fixed model's efficiency
    assert not quiz.accepts(q[1], 1)
    assert not quiz.accepts(q[2], 100 * _note(16, False)[1])  # the literal comm share
    assert not quiz.accepts(q[3], pm_quiz.one_token_projection_us()[1])
    assert not quiz.accepts(q[4], 1.0) and not quiz.accepts(q[4], 2.0)
    assert not quiz.accepts(q[5], 1.0) and not quiz.accepts(q[5], 3.0)
    assert not quiz.accepts(q[6], 100 * 7 / (32 + 7))  # plain 1F1B


def test_gradient_volume_per_gpu_falls_with_depth():
    g = [pm_quiz.gradient_gb_per_gpu(p) for p in (2, 4, 8, 16)]
    assert g == sorted(g, reverse=True)
    assert g[3] / g[2] == pytest.approx(0.5, rel=0.08)  # about 1/p, plus the embedding


def test_choice_questions():
    mc = [q for q in pm_quiz.questions() if q["type"] == "multiple_choice"]
    assert len(mc) == 1 and sum(a["correct"] for a in mc[0]["answers"]) == 1
    many = next(q for q in pm_quiz.questions() if q["type"] == "many_choice")
    correct = {a["answer"].split(" (")[0] for a in many["answers"] if a["correct"]}
    assert correct == {"ZeRO-2", "ZeRO-3 / FSDP resharding after every forward and backward"}
    wrong = {a["answer"] for a in many["answers"] if not a["correct"]}
    assert any("PyTorch" in w for w in wrong)  # FSDP under torch pipelining: once per step


def test_the_factor_m_is_exact_and_percentages_accept_fractions():
    qs = [q for q in pm_quiz.questions() if q["type"] == "numeric"]
    factor = qs[1]
    assert quiz.accepts(factor, 32) and not quiz.accepts(factor, 31.8)
    interleaved = qs[-2]
    frac = quiz.numeric_answer(interleaved) / 100
    assert "in %" in interleaved["question"] and quiz.accepts(interleaved, frac)
