"""The chapter 4 quiz validates and its numeric answers equal the model's values."""

from __future__ import annotations

import pytest

from ppnotes import hardware as hw
from ppnotes import memory, quiz
from ppnotes.models import GPT3_175B, LLAMA3_70B
from ppnotes.quizzes import memory as memory_quiz


def test_quiz_validates_and_is_long_enough():
    assert len(quiz.validate(memory_quiz.questions())) >= 6


def test_numeric_answers_recomputed_by_hand():
    numeric = [q for q in memory_quiz.questions() if q["type"] == "numeric"]
    answers = [quiz.numeric_answer(q) for q in numeric]
    assert answers[0] == pytest.approx(2 + 4 + 12)
    assert answers[1] == pytest.approx(2 + 4 + 12 / 8)
    assert answers[2] == pytest.approx((2048 * 12288 * 32 + 4 * 96 * 2048) / 1e9)
    assert answers[3] == pytest.approx(min(8, 32))
    assert answers[4] == pytest.approx(2 * 80 * 8 * 128 * 2 / 1024)
    assert answers[5] == pytest.approx((32 + 4 * 96 / 12288) / 2)
    assert answers[6] == _smallest_depth_by_hand()


def _smallest_depth_by_hand() -> int:
    """The last question by hand: stage 0 of GPT-3 175B under 1F1B is the fullest stage (its
    p micro-batches of L/p layers are L layers' worth, plus the embedding), with t = 8 and
    sequence parallelism dividing everything by 8; no recomputation."""
    h, a, s, L, V = 12288, 96, 2048, 96, 50257
    layer_params = 12 * h * h + 13 * h  # Narayanan et al. eq. (2): QKV, projection, MLP, biases
    embedding = V * h + s * h  # tokens and learned positions
    activations = L * (32 * s * h + 4 * a * s)  # bytes, FlashAttention, no dropout, b = 1
    budget = 0.9 * hw.H100_SXM.memory_bytes  # "10 % kept free"
    for p in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32):
        stage0 = (18 * (L // p * layer_params + embedding) + activations) / 8
        if stage0 <= budget:
            return p
    raise AssertionError("no depth fits")


def test_traps_catch_the_notes_answers():
    numeric = [q for q in memory_quiz.questions() if q["type"] == "numeric"]
    # 16 bytes (bf16 gradients) and ZeRO-3's 18 / d are not the configuration asked about
    assert not quiz.accepts(numeric[0], 16)
    assert not quiz.accepts(numeric[1], 18 / 8)
    # Korthikanti et al.'s stored scores, the note's S x H x 2 bytes, and M/PP + 1 are wrong
    assert not quiz.accepts(numeric[2], 2048 * 12288 * (34 + 80) / 1e9)
    assert not quiz.accepts(numeric[2], 2048 * 12288 * 2 / 1e9)
    assert not quiz.accepts(numeric[3], 32 / 8 + 1)
    assert not quiz.accepts(numeric[4], 2 * 80 * 64 * 128 * 2 / 1024)  # MHA, not GQA
    assert not quiz.accepts(numeric[5], (34 + 80) / 2)


def test_questions_state_their_inputs():
    text = " ".join(q["question"] for q in memory_quiz.questions())
    for phrase in ("FlashAttention", "no dropout", "fp32 gradients", "d = 8", "10 % kept free"):
        assert phrase in text


def test_smallest_fitting_depth_is_the_first_that_fits():
    p = memory_quiz.smallest_fitting_depth()
    assert p is not None

    def first_stage(q):
        return memory.stage_memory(
            GPT3_175B,
            [96 // q] * q,
            tensor_parallel=8,
            num_microbatches=32,
            recompute="selective",
            sequence_parallel=True,
        )

    assert memory.fits(first_stage(p), hw.H100_SXM)
    smaller = [q for q in (1, 2, 3, 4, 6, 8) if q < p]
    assert smaller and not any(memory.fits(first_stage(q), hw.H100_SXM) for q in smaller)
    # without recomputation the depth must be larger; on an H200 smaller or equal
    assert memory_quiz.smallest_fitting_depth(recompute="none", sequence_parallel=False) > p
    assert memory_quiz.smallest_fitting_depth(hw.H200) <= p


def test_many_choice_marks_what_shrinks_with_depth():
    q = next(q for q in memory_quiz.questions() if q["type"] == "many_choice")
    # the English part of each answer (the Chinese follows it, see quiz.en_zh)
    correct = {a["answer"].split("<span")[0] for a in q["answers"] if a["correct"]}
    assert "Activations on the first stage" not in correct
    assert {"Weights per stage", "Activations on the last stage"} <= correct
    # recomputed: stage 0's activations equal at p = 4 and p = 8, the last stage's shrink
    rows4 = memory.stage_memory(LLAMA3_70B, [20] * 4, num_microbatches=32)
    rows8 = memory.stage_memory(LLAMA3_70B, [10] * 8, num_microbatches=32)
    assert rows4[0]["activations"] == pytest.approx(rows8[0]["activations"])
    assert rows8[-1]["activations"] < rows4[-1]["activations"]
