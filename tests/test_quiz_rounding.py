"""Whole-percent rounding in percentage questions (issue 22), decided question by question."""

from __future__ import annotations

import importlib

import pytest

from ppnotes import quiz


def _percent(**kw):
    args = dict(
        question="What share is idle, in percent?",
        answer=9.859,
        rel_tol=0.01,
        correct_feedback="yes",
        wrong_feedback="no",
    )
    return quiz.numeric(**(args | kw))


def test_whole_percent_accepts_the_rounded_answer_in_both_forms():
    q = _percent(whole_percent=True)
    assert quiz.accepts(q, 10) and quiz.accepts(q, 0.10) and quiz.accepts(q, 9.86)
    assert not quiz.accepts(q, 9) and not quiz.accepts(q, 11) and not quiz.accepts(q, 10.5)
    assert quiz.numeric_answer(q) == pytest.approx(9.859)  # "Show the answer" is unchanged


def test_without_it_a_rounded_answer_outside_the_tolerance_is_wrong():
    assert not quiz.accepts(_percent(), 10)


def test_whole_percent_refused_where_it_would_be_wrong_or_ambiguous():
    with pytest.raises(ValueError, match="needs a percentage question"):
        _percent(question="How many GPUs?", whole_percent=True)
    with pytest.raises(ValueError, match="rounds to 0"):
        _percent(answer=0.3, whole_percent=True)
    with pytest.raises(ValueError, match="both round to 10"):
        _percent(whole_percent=True, traps=[(10.4, "the other definition")])
    with pytest.raises(TypeError, match="whole_percent must be True or False"):
        _percent(whole_percent=1)


def _question(module: str, fragment: str) -> dict:
    questions = importlib.import_module(f"ppnotes.quizzes.{module}").questions()
    return next(q for q in questions if fragment in q["question"])


# The four percentage questions whose whole-percent rounding was rejected (issue 22).
ROUNDED_ACCEPTED = [
    ("bubble", "Interleaved 1F1B with v = 2 chunks per rank"),
    ("perf_model", "Interleaved 1F1B with p = 8, m = 32"),
    ("perf_model", "With the note's units fixed"),
]


@pytest.mark.parametrize(("module", "fragment"), ROUNDED_ACCEPTED)
def test_rounded_percent_accepted_where_no_wrong_answer_rounds_the_same(module, fragment):
    q = _question(module, fragment)
    right = quiz.numeric_answer(q)
    assert not float(right).is_integer()
    assert quiz.accepts(q, round(right)) and quiz.accepts(q, round(right) / 100)
    assert not quiz.accepts(q, round(right) + 1) and not quiz.accepts(q, round(right) - 1)


def test_rounded_percent_refused_with_a_reason_where_two_definitions_round_alike():
    """7/135 (share of the step) and 7/128 (idle over ideal time) both round to 5 %."""
    q = _question("recommend", "v = 4 chunks per GPU")
    right = quiz.numeric_answer(q)
    ratio = 100 * 7 / 128
    assert round(right) == round(ratio)
    assert not quiz.accepts(q, round(right)) and not quiz.accepts(q, ratio)
    trap = next(
        a for a in q["answers"] if "range" in a and a["range"][0] <= round(right) < a["range"][1]
    )
    assert "one decimal" in trap["feedback"]
    assert quiz.accepts(q, round(right, 1))
