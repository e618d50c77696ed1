"""The chapter 1 quiz validates and its numeric answers equal the model's values."""

from __future__ import annotations

import pytest

from ppnotes import partition, quiz
from ppnotes.models import GPT3_175B, LLAMA3_70B
from ppnotes.quizzes import definition


def test_quiz_validates_and_is_long_enough():
    questions = quiz.validate(definition.questions())
    assert len(questions) >= 6


def test_numeric_answers_recomputed():
    numeric = [q for q in definition.questions() if q["type"] == "numeric"]
    answers = [quiz.numeric_answer(q) for q in numeric]
    head = GPT3_175B.head_layer_equivalents
    split = partition.optimal_split(96, 64, 0.0, head)
    eff64 = 100 * partition.balance_efficiency(partition.stage_loads(split, 0.0, head))
    assert answers[0] == pytest.approx(64 / 8)
    assert answers[1] == pytest.approx(eff64)
    assert answers[1] == pytest.approx(100 * (96 + head) / 64 / 2)  # derived by hand
    assert answers[2] == pytest.approx(16 * 8 * 4)
    assert answers[3] == pytest.approx(LLAMA3_70B.head_layer_equivalents)


def test_many_choice_marks_exactly_the_divisors():
    q = next(q for q in definition.questions() if q["type"] == "many_choice")
    correct = {int(a["answer"]) for a in q["answers"] if a["correct"]}
    offered = {int(a["answer"]) for a in q["answers"]}
    assert correct == {d for d in offered if 96 % d == 0}
