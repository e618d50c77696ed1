"""The chapter 11 quiz validates and its numeric answers equal the model's values."""

from __future__ import annotations

import pytest

from ppnotes import moe as M
from ppnotes import quiz
from ppnotes.quizzes import moe


def test_quiz_validates_and_is_long_enough():
    questions = quiz.validate(moe.questions())
    assert 6 <= len(questions) <= 8


def test_numeric_answers_recomputed():
    numeric = [q for q in moe.questions() if q["type"] == "numeric"]
    answers = [quiz.numeric_answer(q) for q in numeric]
    v3 = M.DEEPSEEK_V3
    assert answers[0] == pytest.approx(100 * 37 / 671, rel=0.03)  # the report's 37B of 671B
    assert answers[1] == 256 // 64
    assert answers[2] == pytest.approx(15360 * 4096 * 180e3 * 3600 / 1e12 / 2048)
    assert answers[3] <= v3.max_nodes_per_token * 7 / 8 + 1e-12
    assert answers[4] == pytest.approx((8 + 4 - 1) * (1 + 2 + 2 * 0.6))  # by hand
    # the toy step agrees with the simulator
    assert answers[4] == pytest.approx(M.a2a_timeline("1f1b", 4, 8)["result"].makespan)


def test_dualpipe_feedback_quotes_the_computed_states():
    rows = {r["schedule"]: r for r in M.deepseek_v3_case()}
    q = next(q for q in moe.questions() if "DualPipeV on the same ranks" in q["question"])
    right = next(a for a in q["answers"] if a["correct"])
    assert f"{rows['dualpipe']['states_gib']:.0f} GiB" in right["feedback"]
    assert f"{rows['dualpipev']['states_gib']:.0f} GiB" in right["feedback"]
