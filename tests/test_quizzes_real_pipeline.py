"""Chapter 10 quiz: valid, and every numeric answer recomputed by hand."""

from __future__ import annotations

import pytest

from ppnotes import quiz
from ppnotes.quizzes import real_pipeline as lab_quiz


def test_quiz_validates_and_answers_by_hand():
    questions = lab_quiz.questions()
    assert quiz.validate(questions) is questions and len(questions) >= 6
    numeric = [q for q in questions if q["type"] == "numeric"]
    expected = [
        100 * 1 / 5,  # (p-1)/(m+p-1), p = 2, m = 4
        4,  # p - 1 warm-up forwards + 1 on rank 0, p = 4
        4,  # ZB-V: 2 stages per rank, p = 2
        5 * 15 + 4 * 0.5,  # (m+p-1)(t_f+t_b) + four hops (traced by hand in the chapter)
        9,  # 1/(m+1) <= 0.1
        100 * 1 / 9,  # (p-1)/(vm+p-1) = 1/(8+1)
        2 * 6 + 2 * 0.2,  # decode loop, k = 1: both stages and two hops
        4 * 6,  # k = 4 > p: k times the slowest stage
    ]
    assert [quiz.numeric_answer(q) for q in numeric] == pytest.approx(expected)
    assert not quiz.accepts(numeric[1], 3)  # the book's warm-up count is a trap


def test_counts_are_exact_and_the_step_time_keeps_a_tolerance():
    qs = [q for q in lab_quiz.questions() if q["type"] == "numeric"]
    warm, zbv, step, m_10 = qs[1], qs[2], qs[3], qs[4]
    for q in (warm, zbv, m_10):
        answer = quiz.numeric_answer(q)
        assert quiz.accepts(q, answer) and not quiz.accepts(q, answer + 0.05)
    assert quiz.accepts(step, 1.005 * quiz.numeric_answer(step))
    # percentages: the question says so, and the fraction form is accepted
    first = qs[0]
    assert "in percent" in first["question"] and quiz.accepts(first, 0.2)
