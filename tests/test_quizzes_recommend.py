"""The chapter 9 review quiz: at least 15 questions, one or more per chapter, answers computed."""

from __future__ import annotations

import re

import pytest

from ppnotes import quiz
from ppnotes.quizzes import recommend as recommend_quiz


@pytest.fixture(scope="module")
def questions():
    return recommend_quiz.questions()


def test_quiz_validates_and_is_long_enough(questions):
    assert len(quiz.validate(questions)) >= 15


def test_every_chapter_one_to_nine_is_asked(questions):
    asked = {int(m) for q in questions for m in re.findall(r"^Chapter (\d)\.", q["question"])}
    assert asked == set(range(1, 10))


def test_hand_checked_answers(questions):
    nums = [quiz.numeric_answer(q) for q in questions if q["type"] == "numeric"]
    assert nums[0] == 4  # 64 / (8 x 2)
    assert nums[1] == pytest.approx(100 * 7 / 39)
    assert nums[2] == pytest.approx(100 * 7 / 135)
    assert nums[3] == pytest.approx(2048 * 12288 * 2 / 2**20) == 48  # MiB, as in chapter 3
    assert nums[5] == 18
    assert nums[6] == pytest.approx(2 * 96 * 12288 * 2 / 2**20)  # MiB, as in chapter 4
    assert nums[13] == 60  # 4 (p - 1) at p = 16
    assert nums[14] == 32


def test_byte_questions_use_the_books_mib_and_catch_mb(questions):
    nums = [q for q in questions if q["type"] == "numeric"]
    hop, kv = nums[3], nums[6]
    assert "MiB" in hop["question"] and "MiB" in kv["question"]
    assert not quiz.accepts(hop, 2048 * 12288 * 2 / 1e6)  # the same bytes in MB
    assert not quiz.accepts(kv, 2 * 96 * 12288 * 2 / 1e6)
