"""Chapter 2 quiz: valid, and every numeric answer equals the model recomputed here."""

from __future__ import annotations

import pytest

from ppnotes import quiz
from ppnotes.quizzes import bubble as bubble_quiz


@pytest.fixture(scope="module")
def questions():
    return bubble_quiz.questions()


def test_quiz_validates_and_is_long_enough(questions):
    assert quiz.validate(questions) is questions
    assert len(questions) >= 8


def test_numeric_answers_recomputed_independently(questions):
    numeric = [q for q in questions if q["type"] == "numeric"]
    # Recomputed by hand from the closed forms, not with ppnotes.
    expected = [
        100 * 7 / 39,  # (p-1)/(m+p-1), p = 8, m = 32
        100 * 7 / 32,  # (p-1)/m
        100 * 0.25 / 1.25,  # r / (1 + r)
        (3 / 35) / (1 / 33),  # p = 2 -> 4 at m = 32
        8,  # 1F1B rank 0 holds p micro-batches
        285,  # 15 * 19: smallest m with 15/(m+15) <= 0.05
        100 * 7 / 71,  # interleaved: 7 / (2*32 + 7)
        7,  # ZB-H1: (p-1)(1 + 1 - 1)
        100 * (7 / 103) / (21 / 117),  # idle shares: 7/(96+7) against 21/(96+21)
    ]
    assert [quiz.numeric_answer(q) for q in numeric] == pytest.approx(expected)


def test_traps_are_marked_wrong(questions):
    first = questions[0]
    assert quiz.accepts(first, 100 * 7 / 39)
    assert not quiz.accepts(first, 100 * 7 / 32)  # the other definition
    m_question = questions[6]
    assert quiz.accepts(m_question, 285) and not quiz.accepts(m_question, 300)


def test_deadlock_question_quotes_the_simulator(questions):
    message = bubble_quiz.deadlock_message()
    assert message.startswith("deadlock: rank 0 waits at 0B0 for 1B0 (rank 1)")
    deadlock = next(q for q in questions if "What happens?" in q["question"])
    right = next(a for a in deadlock["answers"] if a["correct"])
    assert right["answer"].startswith("Deadlock") and message in right["feedback"]
    assert quiz.chinese_part(right["answer"]) == "死锁"


def test_measure_question_traps_the_other_measure(questions):
    q = next(q for q in questions if "idle share of the step is what percentage" in q["question"])
    assert quiz.accepts(q, 100 * (7 / 103) / (21 / 117))
    assert not quiz.accepts(q, 100 / 3)  # idle time over idle time


def test_zero_bubble_costs_are_in_the_many_choice(questions):
    q = next(q for q in questions if "'zero-bubble' schedules" in q["question"])

    def mark(start):
        return next(a["correct"] for a in q["answers"] if a["answer"].startswith(start))

    assert mark("ZB-V sends twice as many") is True
    assert mark("ZB-H2 holds no more activations") is False
    assert any("this book's" in a["answer"] for a in q["answers"] if a["correct"])
