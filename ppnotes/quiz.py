"""Builders for jupyterquiz questions whose answers are computed, not typed.

A chapter computes the right answer with ``ppnotes``, builds a question here, and shows the
quiz with :func:`show`. Every question is validated before it is shown, and tests call the same
builders, so a quiz can never drift from the model. Feedback should teach: say why an answer is
wrong, not only that it is.

The dictionaries follow jupyterquiz's JSON format (types ``multiple_choice``, ``many_choice``
and ``numeric``).
"""

from __future__ import annotations

import math
import numbers

from ._validate import check_real

QUESTION_TYPES = ("multiple_choice", "many_choice", "numeric")


def choice(text: str, correct: bool, feedback: str) -> dict:
    """One answer of a multiple- or many-choice question."""
    return {"answer": str(text), "correct": bool(correct), "feedback": str(feedback)}


def multiple_choice(question: str, answers: list[dict]) -> dict:
    """A question with exactly one correct answer among ``answers`` (built by :func:`choice`)."""
    q = {"question": question, "type": "multiple_choice", "answers": list(answers)}
    validate_question(q)
    return q


def many_choice(question: str, answers: list[dict]) -> dict:
    """A question where a reader must pick every correct answer (one or more)."""
    q = {"question": question, "type": "many_choice", "answers": list(answers)}
    validate_question(q)
    return q


def numeric(
    question: str,
    answer: float,
    *,
    rel_tol: float = 0.02,
    abs_tol: float = 0.0,
    correct_feedback: str,
    wrong_feedback: str,
    traps: list[tuple[float, str]] | None = None,
) -> dict:
    """A question answered with a number, accepted within a tolerance.

    Args:
        answer: the value computed by ``ppnotes``.
        rel_tol: accepted relative error (0.02 = 2 %).
        abs_tol: accepted absolute error, for answers near zero.
        traps: common wrong answers ``(value, feedback)``: a reader who types one gets the
            feedback that explains the mistake (each trap is matched within the same tolerance).
    """
    answer = check_real("answer", answer, minimum=None)
    rel_tol = check_real("rel_tol", rel_tol)
    abs_tol = check_real("abs_tol", abs_tol)
    answers = [_range_answer(answer, rel_tol, abs_tol, True, correct_feedback)]
    for value, feedback in traps or []:
        answers.append(_range_answer(float(value), rel_tol, abs_tol, False, feedback))
    answers.append({"type": "default", "feedback": wrong_feedback})
    q = {"question": question, "type": "numeric", "answers": answers}
    validate_question(q)
    return q


def _range_answer(value: float, rel_tol: float, abs_tol: float, correct: bool, fb: str) -> dict:
    half = max(abs(value) * rel_tol, abs_tol)
    if half == 0:
        raise ValueError("rel_tol or abs_tol must give a tolerance > 0 around the answer")
    return {
        "type": "range",
        "range": [float(value - half), float(value + half)],
        "correct": correct,
        "feedback": fb,
    }


def numeric_answer(question: dict) -> float:
    """The centre of the accepted range of a numeric question (its computed answer)."""
    lo, hi = next(a["range"] for a in question["answers"] if a.get("correct"))
    return (lo + hi) / 2


def accepts(question: dict, value: float) -> bool:
    """Whether a numeric question marks ``value`` correct (the first matching range decides)."""
    for a in question["answers"]:
        if "range" in a and a["range"][0] <= value < a["range"][1]:
            return bool(a["correct"])
    return False


def validate_question(q: dict) -> None:
    """Raise ``ValueError`` if ``q`` is not a well-formed question that jupyterquiz can show."""
    text = q.get("question")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"question text must be a non-empty string, got {text!r}")
    kind = q.get("type")
    if kind not in QUESTION_TYPES:
        raise ValueError(f"question type must be one of {QUESTION_TYPES}, got {kind!r}")
    answers = q.get("answers")
    if not isinstance(answers, list) or not answers:
        raise ValueError(f"question {text[:40]!r}: answers must be a non-empty list")
    if kind == "numeric":
        _validate_numeric(text, answers)
    else:
        _validate_choices(text, kind, answers)


def _validate_choices(text: str, kind: str, answers: list) -> None:
    if len(answers) < 2:
        raise ValueError(f"question {text[:40]!r}: a choice question needs >= 2 answers")
    labels = [a.get("answer") for a in answers]
    if any(not isinstance(a, str) or not a for a in labels) or len(set(labels)) != len(labels):
        raise ValueError(f"question {text[:40]!r}: answers must be distinct non-empty strings")
    if any(not a.get("feedback") for a in answers):
        raise ValueError(f"question {text[:40]!r}: every answer needs feedback that teaches")
    n_correct = sum(bool(a.get("correct")) for a in answers)
    if kind == "multiple_choice" and n_correct != 1:
        raise ValueError(f"question {text[:40]!r}: multiple_choice needs exactly 1 correct answer")
    if kind == "many_choice" and n_correct < 1:
        raise ValueError(f"question {text[:40]!r}: many_choice needs >= 1 correct answer")


def _validate_numeric(text: str, answers: list) -> None:
    ranges = [a for a in answers if "range" in a]
    if not any(a.get("correct") for a in ranges):
        raise ValueError(f"question {text[:40]!r}: a numeric question needs a correct range")
    for a in ranges:
        lo, hi = a["range"]
        ok = all(isinstance(x, numbers.Real) and math.isfinite(x) for x in (lo, hi))
        if not ok or not lo < hi:
            raise ValueError(f"question {text[:40]!r}: bad range {a['range']!r}")
    if not any(a.get("type") == "default" and a.get("feedback") for a in answers):
        raise ValueError(f"question {text[:40]!r}: a numeric question needs default feedback")


def validate(questions: list[dict]) -> list[dict]:
    """Validate a whole quiz and return it."""
    if not questions:
        raise ValueError("a quiz needs at least one question")
    for q in questions:
        validate_question(q)
    return questions


def show(questions: list[dict]) -> None:
    """Validate and display a quiz with jupyterquiz (works in Jupyter and on the website)."""
    from jupyterquiz import display_quiz

    display_quiz(validate(questions), shuffle_answers=False, max_width=760)
