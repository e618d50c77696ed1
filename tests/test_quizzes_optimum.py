"""The chapter 7 quiz validates and its numeric answers equal the planner's values."""

from __future__ import annotations

import pytest

from ppnotes import quiz, serving_plan
from ppnotes.models import GPT3_175B, LLAMA3_70B
from ppnotes.quizzes import optimum as optimum_quiz


@pytest.fixture(scope="module")
def questions():
    return optimum_quiz.questions()


def numeric(qs):
    return [q for q in qs if q["type"] == "numeric"]


def test_quiz_validates_and_is_long_enough(questions):
    assert len(quiz.validate(questions)) >= 6


def test_numeric_answers_recomputed_by_hand(questions):
    answers = [quiz.numeric_answer(q) for q in numeric(questions)]
    assert answers[0] == 3  # ceil(175 / 80)
    per_gpu = (GPT3_175B.total_params / 32) * (6 + 12 / 32) / 2**30  # rough: all stages equal
    assert answers[1] == pytest.approx(per_gpu, rel=0.15)
    assert answers[2] == 24
    assert answers[3] > 1  # the best depth is deeper than the smallest that fits
    assert (
        answers[4]
        == serving_plan.plan_serving(LLAMA3_70B, optimum_quiz.H100, load=5000, tpot=0.05).best.gpus
    )


def test_traps_catch_the_wrong_answers(questions):
    q = numeric(questions)
    assert not quiz.accepts(q[0], 40)
    assert not quiz.accepts(q[2], 48)
    assert not quiz.accepts(q[3], 1.0)


def test_counts_are_exact_and_continuous_answers_keep_a_tolerance(questions):
    depth, gib, m, ratio, gpus = (q for q in numeric(questions))
    for q in (depth, m, gpus):
        answer = quiz.numeric_answer(q)
        assert quiz.accepts(q, answer) and not quiz.accepts(q, answer + 1)
        assert not quiz.accepts(q, answer + 0.02)
    assert quiz.accepts(gib, 1.01 * quiz.numeric_answer(gib))
