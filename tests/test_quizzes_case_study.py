"""The chapter 8 quiz validates and its answers are the case's numbers."""

from __future__ import annotations

import pytest

from ppnotes import case_study as cs
from ppnotes import quiz
from ppnotes.quizzes import case_study as case_quiz


@pytest.fixture(scope="module")
def questions():
    return case_quiz.questions()


def test_quiz_validates_and_is_long_enough(questions):
    assert len(quiz.validate(questions)) >= 6


def test_answers_recomputed(questions):
    nums = [quiz.numeric_answer(q) for q in questions if q["type"] == "numeric"]
    rows = case_quiz.rows()
    assert nums[0] == pytest.approx(100 * rows["PP4 TP8"].bubble)
    assert nums[2] == pytest.approx(rows["PP4 TP8"].tokens_per_s / rows["PP16 TP2"].tokens_per_s)
    assert nums[4] == cs.capacity(rows["PP1 TP8 x4"]).max_seqs
    assert nums[5] > 300


def test_traps_catch_the_notes_numbers(questions):
    q = [q for q in questions if q["type"] == "numeric"]
    assert not quiz.accepts(q[0], 10) and not quiz.accepts(q[1], 8)
