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
    assert nums[1] == pytest.approx(100 * cs.engine_bubble(8, 4, "static").bubble)
    assert 40 < nums[1] < 46  # FasterTransformer, m = 4: about 3/7
    assert nums[3] == pytest.approx(rows["PP4 TP8"].tokens_per_s / rows["PP16 TP2"].tokens_per_s)
    assert nums[5] == cs.capacity(rows["PP1 TP8 x4"]).max_seqs
    assert nums[6] > 300


def test_traps_catch_the_notes_numbers(questions):
    q = [q for q in questions if q["type"] == "numeric"]
    assert not quiz.accepts(q[0], 10) and not quiz.accepts(q[2], 8)
    assert not quiz.accepts(q[0], 8.6) and not quiz.accepts(q[1], 8.6)
    assert not quiz.accepts(q[1], 100 * cs.bubble_by_engine(8, 4)["continuous"])


def test_the_engine_question_credits_the_notes_formula(questions):
    q = next(q for q in questions if "For which serving engine" in q["question"])
    right = [a for a in q["answers"] if a["correct"]]
    assert len(right) == 1 and "micro-batches of one" in right[0]["answer"]
    assert "8.6%" in right[0]["feedback"]
    wrong = [a for a in q["answers"] if not a["correct"]]
    assert len(wrong) == 3 and all(a["feedback"].startswith("No") for a in wrong)
    assert any("FasterTransformer" in a["answer"] for a in wrong)
    assert any("Continuous batching" in a["answer"] for a in wrong)
