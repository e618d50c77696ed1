"""Bad input to the quiz builders gets a clear error naming the argument (issue 18)."""

from __future__ import annotations

import math

import pytest

from ppnotes import quiz

NONSENSE = [0, -1, 2.5, math.nan, math.inf, None, True, object(), []]


def _numeric(**kw):
    args = dict(question="How many?", answer=4, correct_feedback="yes", wrong_feedback="no")
    return quiz.numeric(**(args | kw))


def _mcq():
    return quiz.multiple_choice("Pick", [quiz.choice("a", True, "r"), quiz.choice("b", False, "w")])


CALLS = {
    "text": lambda x: quiz.choice(x, True, "because"),
    "feedback": lambda x: quiz.choice("a", True, x),
    "question": lambda x: quiz.multiple_choice(x, [quiz.choice("a", True, "r")] * 2),
    "answers": lambda x: quiz.many_choice("Pick", x),
    "correct_feedback": lambda x: _numeric(correct_feedback=x),
    "wrong_feedback": lambda x: _numeric(wrong_feedback=x),
    "traps": lambda x: _numeric(traps=x),
    "markdown": lambda x: quiz.markdown_inline(x),
    "validate": lambda x: quiz.validate(x),
    "numeric_answer": lambda x: quiz.numeric_answer(x),
    "accepts": lambda x: quiz.accepts(x, 4),
    "answer_text": lambda x: quiz.answer_text(x),
    "for_display": lambda x: quiz.for_display(x),
}
# The word each error must contain (the parameter, or the name its message uses).
NAMES = {
    "markdown": "text",
    "validate": "question",
    "numeric_answer": "question",
    "accepts": "question",
    "answer_text": "question",
    "for_display": "question",
}
# Legitimate: no traps.
LEGITIMATE = {("traps", "None"), ("traps", "[]")}


@pytest.mark.parametrize("key", CALLS)
@pytest.mark.parametrize("bad", NONSENSE, ids=repr)
def test_bad_argument_is_named(key, bad):
    if (key, repr(bad)) in LEGITIMATE:
        return
    with pytest.raises(ValueError) as err:  # WrongTypeError is a ValueError and a TypeError
        CALLS[key](bad)
    assert NAMES.get(key, key) in str(err.value)


@pytest.mark.parametrize("bad", [0, 1, "yes", math.nan, None])
def test_flags_are_booleans(bad):
    with pytest.raises(TypeError, match="correct must be True or False"):
        quiz.choice("a", bad, "because")
    with pytest.raises(TypeError, match="reveal must be True or False"):
        quiz.for_display(_numeric(), reveal=bad)
    if bad is not None:  # None is the default: decide from the answer / the text
        with pytest.raises(TypeError, match="integer must be True or False"):
            _numeric(integer=bad)
        with pytest.raises(TypeError, match="percent must be True or False"):
            _numeric(percent=bad)


def test_traps_are_value_feedback_pairs():
    with pytest.raises(TypeError, match=r"traps\[0\] must be a \(value, feedback\) pair"):
        _numeric(traps=["8"])
    with pytest.raises(ValueError, match=r"traps\[1\] value"):
        _numeric(traps=[(3, "no"), ("x", "no")])
    with pytest.raises(ValueError, match=r"traps\[0\] feedback"):
        _numeric(traps=[(3, "")])
    assert not quiz.accepts(_numeric(traps=[(3, "three")]), 3)


def test_numeric_helpers_need_a_numeric_question():
    with pytest.raises(ValueError, match="numeric question"):
        quiz.numeric_answer(_mcq())
    with pytest.raises(TypeError, match="value must be a number"):
        quiz.accepts(_numeric(), "4")
    assert quiz.accepts(_numeric(), 4) and quiz.answer_text(_mcq()) == "**a**: r"
