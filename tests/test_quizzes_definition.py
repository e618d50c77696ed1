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
    # by hand: 2 V h / (2 x params per layer + 4 s h), from the numbers the question gives
    m = LLAMA3_70B
    by_hand = 2 * 128256 * 8192 / (2 * m.params_per_layer + 4 * 8192 * 8192)
    assert answers[3] == pytest.approx(by_hand)
    assert answers[4] == 31  # (m - 1)(20 - 19) at m = 32


def test_questions_state_their_inputs():
    text = {q["question"][:30]: q["question"] for q in definition.questions()}
    head = next(t for k, t in text.items() if "the LM head 2 V h" in t)
    for given in ("128,256", "8192", f"{LLAMA3_70B.params_per_layer:,}"):
        assert given in head
    eff = next(t for t in text.values() if "p = 64 stages" in t)
    assert "96 layers" in eff and f"{GPT3_175B.head_layer_equivalents:.2f}" in eff


def test_imbalance_question_traps_one_layer_per_step():
    q = next(q for q in definition.questions() if "19-layer stage" in q["question"])
    assert quiz.accepts(q, 31) and not quiz.accepts(q, 1)


def test_many_choice_marks_exactly_the_divisors():
    q = next(q for q in definition.questions() if q["type"] == "many_choice")
    correct = {int(a["answer"]) for a in q["answers"] if a["correct"]}
    offered = {int(a["answer"]) for a in q["answers"]}
    assert correct == {d for d in offered if 96 % d == 0}
