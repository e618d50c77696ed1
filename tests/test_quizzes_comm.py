"""The chapter 3 quiz validates and its numeric answers equal the model's, recomputed here."""

from __future__ import annotations

import math

import pytest

from ppnotes import quiz
from ppnotes.quizzes import comm as comm_quiz


def test_quiz_validates():
    questions = quiz.validate(comm_quiz.questions())
    assert len(questions) >= 5


def test_numeric_answers_recomputed_independently():
    numeric = [q for q in comm_quiz.questions() if q["type"] == "numeric"]
    answers = [quiz.numeric_answer(q) for q in numeric]
    h, s = 12288, 2048
    hop = 1 * s * h * 2
    assert answers[0] == pytest.approx(hop / 2**20)  # 48 MiB
    assert answers[1] == pytest.approx(hop / 8 / 2**20)  # 6 MiB per card
    assert answers[2] == pytest.approx(2 * 7 * comm_quiz.HOP_MS)  # GPipe: fill + drain
    assert answers[3] == 2 * math.ceil((8 + 4 - 2) * 3 / 4)  # 1F1B p=4 m=8: 16
    # ring all-reduce over 8 GPUs, 2 per layer: 2 * (14/8 * hop / bw + 14 * latency)
    nv = 2 * (14 / 8 * hop / 230e9 + 6.6e-6 + 14 * 0.6e-6)
    ib = 2 * (14 / 8 * hop / 24e9 + 6.6e-6 + 14 * 2.7e-6)
    assert answers[4] == 2 * 8 + 2 * 4 - 5  # blocking 1F1B: 19
    assert answers[5] == (3 * 8 + 2 * 4 - 3) - 2 * (4 * 2 - 1)  # 29 - 14
    assert answers[6] == pytest.approx(50257 * 12288 / 8 * 4 / 2**20)
    assert answers[7] == pytest.approx(ib / nv)


def test_traps_catch_the_notes_model():
    gpipe_q = [q for q in comm_quiz.questions() if q["type"] == "numeric"][2]
    serial = 7 * 32 * comm_quiz.HOP_MS
    assert not quiz.accepts(gpipe_q, serial)
    trap = [a for a in gpipe_q["answers"] if "range" in a and not a["correct"]]
    assert any(a["range"][0] <= serial < a["range"][1] for a in trap)
