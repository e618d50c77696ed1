"""The chapter 6 quiz validates and its numeric answers equal the model's values."""

from __future__ import annotations

import pytest

from ppnotes import hardware as hw
from ppnotes import inference as inf
from ppnotes import quiz
from ppnotes.models import LLAMA3_70B
from ppnotes.quizzes import inference as inference_quiz


def numeric():
    return [q for q in inference_quiz.questions() if q["type"] == "numeric"]


def test_quiz_validates_and_is_long_enough():
    assert len(quiz.validate(inference_quiz.questions())) >= 6


def test_numeric_answers_recomputed_by_hand():
    answers = [quiz.numeric_answer(q) for q in numeric()]
    layer_and_head = LLAMA3_70B.num_layers * LLAMA3_70B.params_per_layer + LLAMA3_70B.head_params
    assert answers[0] == pytest.approx(1e3 * 2 * layer_and_head / 3.0e12, rel=1e-6)
    assert answers[1] == pytest.approx(989e12 * 0.6 / 3.0e12, rel=0.05)
    assert 1.0 < answers[2] < 1.05  # PP adds hops, never shortens a token
    assert answers[3] == pytest.approx(1.5)
    assert answers[4] > 4.0
    assert 2.0 < answers[5] < 32 / 11


def test_traps_catch_the_wrong_answers():
    q = numeric()
    assert not quiz.accepts(q[0], 1e3 * 2 * 70.6e9 / 989e12)
    assert not quiz.accepts(q[2], 0.25)
    assert not quiz.accepts(q[3], 4.5 / 4)
    assert not quiz.accepts(q[4], 4.0)
    assert quiz.accepts(q[0], 1e3 * inf.weight_read_time(LLAMA3_70B, hw.H100_SXM))


def test_load_questions_count_prefill_and_name_the_first_knee():
    qs = inference_quiz.questions()
    util = qs[-2]
    costs = inference_quiz.load_costs()
    pp4 = costs["PP4 × TP8"]
    rho, decode_only = inference_quiz.load_utilisation(pp4)
    assert quiz.numeric_answer(util) == pytest.approx(rho, rel=1e-6)
    assert rho == pytest.approx(inference_quiz.LOAD_RATE / pp4.capacity, rel=1e-9)
    assert rho > decode_only
    assert not quiz.accepts(util, decode_only)  # forgetting prefill is caught
    knee = qs[-1]
    right = [a["answer"] for a in knee["answers"] if a["correct"]]
    assert right == [min(costs, key=lambda n: costs[n].capacity)] == ["PP2 × TP16"]
